//! GB/T 2261.1-2003 sex codes 0, 1, 2, 9 (standards.md §3.4) and the sex implied by a resident ID.

use crate::ErrorKind;
use std::{fmt, str::FromStr};

/// A GB/T 2261.1 sex code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Sex {
    /// 0 未知的性别.
    Unknown,
    /// 1 男性.
    Male,
    /// 2 女性.
    Female,
    /// 9 未说明的性别.
    Unstated,
}

/// A sex code outside GB/T 2261.1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{code}` is not a GB/T 2261.1 sex code (expected 0, 1, 2 or 9)")]
pub struct SexError {
    /// The rejected code.
    pub code: String,
}

impl SexError {
    /// The platform-wide error kind (always invalid input).
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidInput
    }
}

impl Sex {
    /// All four codes in code order.
    pub const ALL: [Sex; 4] = [Sex::Unknown, Sex::Male, Sex::Female, Sex::Unstated];

    /// The one-digit code: `0`, `1`, `2` or `9`.
    pub fn code(self) -> &'static str {
        match self {
            Self::Unknown => "0",
            Self::Male => "1",
            Self::Female => "2",
            Self::Unstated => "9",
        }
    }

    /// The standard's Chinese label, e.g. `男性`.
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Unknown => "未知的性别",
            Self::Male => "男性",
            Self::Female => "女性",
            Self::Unstated => "未说明的性别",
        }
    }

    /// Parses a code exactly (`"1"` → male); surrounding whitespace is not accepted.
    pub fn from_code(code: &str) -> Result<Self, SexError> {
        Self::ALL
            .into_iter()
            .find(|s| s.code() == code)
            .ok_or_else(|| SexError {
                code: code.to_owned(),
            })
    }

    /// The sex encoded by a resident ID's sequence digit: odd is male, even is female.
    pub fn from_id_digit(digit: u8) -> Self {
        if digit % 2 == 1 {
            Self::Male
        } else {
            Self::Female
        }
    }
}

impl fmt::Display for Sex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Sex {
    type Err = SexError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_code(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn codes_round_trip() {
        for s in Sex::ALL {
            assert_eq!(Sex::from_code(s.code()).unwrap(), s);
            assert_eq!(s.to_string().parse::<Sex>().unwrap(), s);
        }
        assert_eq!(Sex::Female.label_zh(), "女性");
    }

    #[test]
    fn bad_codes_are_rejected() {
        for bad in ["", "3", "5", "M", "10", " 1"] {
            let err = Sex::from_code(bad).unwrap_err();
            assert_eq!(err.code, bad);
            assert_eq!(err.kind(), ErrorKind::InvalidInput);
        }
    }

    proptest! {
        #[test]
        fn id_digit_parity(d in 0u8..=9) {
            let expected = if d % 2 == 1 { Sex::Male } else { Sex::Female };
            prop_assert_eq!(Sex::from_id_digit(d), expected);
        }

        #[test]
        fn only_four_codes_parse(s in "\\PC{0,3}") {
            prop_assert_eq!(Sex::from_code(&s).is_ok(), ["0", "1", "2", "9"].contains(&s.as_str()));
        }
    }
}
