//! Field types of the standard, written `str(n)`, `code`, `int`, `dec(p,s)`, `date`, `ts`, `bool`.

use crate::CoreError;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::{fmt, str::FromStr};

/// The largest decimal precision accepted (that of a 128-bit decimal).
const MAX_PRECISION: u8 = 38;

/// The value type of a standard field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldType {
    /// Text of at most `max_len` characters: `str(n)`.
    Str {
        /// Maximum length in characters.
        max_len: u32,
    },
    /// A code from a value domain or a national code table: `code`.
    Code,
    /// A 64-bit integer: `int`.
    Int,
    /// A fixed-point decimal: `dec(p,s)`.
    Dec {
        /// Total number of digits.
        precision: u8,
        /// Digits after the decimal point.
        scale: u8,
    },
    /// A calendar date: `date`.
    Date,
    /// A timestamp with zone, stored as UTC: `ts`.
    Timestamp,
    /// A boolean: `bool`.
    Bool,
}

impl FieldType {
    /// Whether values are dates or timestamps (what an incremental cursor needs).
    pub fn is_temporal(self) -> bool {
        matches!(self, Self::Date | Self::Timestamp)
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Str { max_len } => write!(f, "str({max_len})"),
            Self::Code => f.write_str("code"),
            Self::Int => f.write_str("int"),
            Self::Dec { precision, scale } => write!(f, "dec({precision},{scale})"),
            Self::Date => f.write_str("date"),
            Self::Timestamp => f.write_str("ts"),
            Self::Bool => f.write_str("bool"),
        }
    }
}

impl FromStr for FieldType {
    type Err = CoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = |reason: &str| CoreError::InvalidValue {
            what: "field type",
            value: s.to_owned(),
            reason: reason.to_owned(),
        };
        let t = s.trim();
        let simple = match t {
            "code" => Some(Self::Code),
            "int" => Some(Self::Int),
            "date" => Some(Self::Date),
            "ts" => Some(Self::Timestamp),
            "bool" => Some(Self::Bool),
            _ => None,
        };
        if let Some(simple) = simple {
            return Ok(simple);
        }
        if let Some(arg) = t.strip_prefix("str(").and_then(|r| r.strip_suffix(')')) {
            return match arg.trim().parse::<u32>() {
                Ok(max_len) if max_len > 0 => Ok(Self::Str { max_len }),
                _ => Err(invalid("str(n) needs a length n ≥ 1")),
            };
        }
        if let Some(args) = t.strip_prefix("dec(").and_then(|r| r.strip_suffix(')')) {
            let parsed = args.split_once(',').and_then(|(p, s)| {
                Some((p.trim().parse::<u8>().ok()?, s.trim().parse::<u8>().ok()?))
            });
            return match parsed {
                Some((precision, scale))
                    if (1..=MAX_PRECISION).contains(&precision) && scale <= precision =>
                {
                    Ok(Self::Dec { precision, scale })
                }
                _ => Err(invalid("dec(p,s) needs 1 ≤ p ≤ 38 and 0 ≤ s ≤ p")),
            };
        }
        Err(invalid(
            "expected str(n), code, int, dec(p,s), date, ts or bool",
        ))
    }
}

impl Serialize for FieldType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for FieldType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn all_spellings_parse() {
        assert_eq!(
            "str(32)".parse::<FieldType>().unwrap(),
            FieldType::Str { max_len: 32 }
        );
        assert_eq!(
            "dec(12,2)".parse::<FieldType>().unwrap(),
            FieldType::Dec {
                precision: 12,
                scale: 2
            }
        );
        assert_eq!(
            "dec(14, 4)".parse::<FieldType>().unwrap(),
            FieldType::Dec {
                precision: 14,
                scale: 4
            }
        );
        for (s, t) in [
            ("code", FieldType::Code),
            ("int", FieldType::Int),
            ("date", FieldType::Date),
            ("ts", FieldType::Timestamp),
            ("bool", FieldType::Bool),
        ] {
            assert_eq!(s.parse::<FieldType>().unwrap(), t);
            assert_eq!(t.to_string(), s);
        }
        assert!(FieldType::Timestamp.is_temporal() && !FieldType::Int.is_temporal());
    }

    #[test]
    fn bad_types_say_what_is_expected() {
        for bad in [
            "varchar(10)",
            "str()",
            "str(0)",
            "str(-1)",
            "dec(2,3)",
            "dec(40,2)",
            "dec(12)",
            "timestamp",
            "",
        ] {
            let msg = bad.parse::<FieldType>().unwrap_err().to_string();
            assert!(msg.contains("field type"), "{bad}: {msg}");
        }
    }

    proptest! {
        #[test]
        fn display_round_trips(n in 1u32..100_000, p in 1u8..=38, s in 0u8..=38) {
            let t = FieldType::Str { max_len: n };
            prop_assert_eq!(t.to_string().parse::<FieldType>().unwrap(), t);
            let d = FieldType::Dec { precision: p, scale: s.min(p) };
            prop_assert_eq!(d.to_string().parse::<FieldType>().unwrap(), d);
        }
    }
}
