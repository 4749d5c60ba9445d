//! Standard values: what a mapped field holds once cast to its standard type.

use super::transform::Staged;
use chrono::{NaiveDate, NaiveDateTime};
use hdos_core::standard::FieldType;

/// A value of a standard field.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StdValue {
    Null,
    Text(String),
    Int(i64),
    /// A decimal scaled by 10^scale of its field (`dec(12,2)` holds fen for yuan).
    Decimal(i128),
    /// Days since 1970-01-01.
    Date(i32),
    /// Microseconds since the Unix epoch, UTC.
    Timestamp(i64),
    Bool(bool),
}

impl StdValue {
    pub fn is_null(&self) -> bool {
        matches!(self, Self::Null)
    }
}

/// As text, for keys shown to people: dates `YYYY-MM-DD`, times in UTC, decimals unscaled.
impl std::fmt::Display for StdValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Null => Ok(()),
            Self::Text(t) => f.write_str(t),
            Self::Int(n) => write!(f, "{n}"),
            Self::Decimal(n) => write!(f, "{n}"),
            Self::Date(d) => {
                match epoch_day().checked_add_signed(chrono::Duration::days((*d).into())) {
                    Some(day) => write!(f, "{day}"),
                    None => write!(f, "{d}"),
                }
            }
            Self::Timestamp(us) => match chrono::DateTime::from_timestamp_micros(*us) {
                Some(t) => write!(f, "{}", t.format("%Y-%m-%dT%H:%M:%S%.fZ")),
                None => write!(f, "{us}"),
            },
            Self::Bool(b) => write!(f, "{b}"),
        }
    }
}

fn epoch_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default()
}

fn days(d: NaiveDate) -> Result<i32, String> {
    i32::try_from((d - epoch_day()).num_days()).map_err(|_| format!("date {d} is out of range"))
}

fn utc_micros(t: NaiveDateTime, offset_seconds: i32) -> i64 {
    t.and_utc().timestamp_micros() - i64::from(offset_seconds) * 1_000_000
}

/// The accepted spellings of a date or time when the mapping names no format.
const DEFAULT_TIMES: [&str; 3] = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y%m%d%H%M%S"];
const DEFAULT_DATES: [&str; 2] = ["%Y-%m-%d", "%Y%m%d"];

fn parse_time(text: &str) -> Option<NaiveDateTime> {
    DEFAULT_TIMES
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        .or_else(|| parse_date(text).map(|d| d.and_time(chrono::NaiveTime::MIN)))
}

fn parse_date(text: &str) -> Option<NaiveDate> {
    DEFAULT_DATES
        .iter()
        .find_map(|f| NaiveDate::parse_from_str(text, f).ok())
}

/// Casts a transformed value to the field's standard type.
pub(crate) fn to_standard(
    v: Staged,
    ty: FieldType,
    offset_seconds: i32,
) -> Result<StdValue, String> {
    let text = match v {
        Staged::Null => return Ok(StdValue::Null),
        Staged::Text(t) => t,
        Staged::Date(d) => {
            return match ty {
                FieldType::Date => Ok(StdValue::Date(days(d)?)),
                FieldType::Timestamp => Ok(StdValue::Timestamp(utc_micros(
                    d.and_time(chrono::NaiveTime::MIN),
                    offset_seconds,
                ))),
                _ => Ok(StdValue::Text(d.format("%Y-%m-%d").to_string())),
            };
        }
        Staged::Local(t) => {
            return match ty {
                FieldType::Timestamp => Ok(StdValue::Timestamp(utc_micros(t, offset_seconds))),
                FieldType::Date => Ok(StdValue::Date(days(t.date())?)),
                _ => Ok(StdValue::Text(t.format("%Y-%m-%d %H:%M:%S").to_string())),
            };
        }
        Staged::Utc(us) => {
            return match ty {
                FieldType::Timestamp => Ok(StdValue::Timestamp(us)),
                // A date kept as the epoch time of its local midnight.
                FieldType::Date => {
                    let local = us + i64::from(offset_seconds) * 1_000_000;
                    chrono::DateTime::from_timestamp_micros(local)
                        .ok_or_else(|| format!("epoch time {us} is out of range"))
                        .and_then(|t| days(t.date_naive()))
                        .map(StdValue::Date)
                }
                _ => Err("an epoch time can only fill a date or timestamp field".into()),
            };
        }
    };
    if text.contains('\u{FFFD}') {
        return Err("the text is not valid UTF-8 at the source (a legacy encoding?)".into());
    }
    match ty {
        FieldType::Str { max_len } => {
            let n = text.chars().count();
            if n > max_len as usize {
                return Err(format!("{n} characters, more than the {max_len} allowed"));
            }
            Ok(StdValue::Text(text))
        }
        FieldType::Code => Ok(StdValue::Text(text)),
        FieldType::Int => text
            .trim()
            .parse()
            .map(StdValue::Int)
            .map_err(|_| format!("`{text}` is not an integer")),
        FieldType::Dec { precision, scale } => {
            parse_decimal(&text, precision, scale).map(StdValue::Decimal)
        }
        FieldType::Date => parse_date(text.trim())
            .ok_or_else(|| format!("`{text}` is not a date"))
            .and_then(days)
            .map(StdValue::Date),
        FieldType::Timestamp => parse_time(text.trim())
            .map(|t| StdValue::Timestamp(utc_micros(t, offset_seconds)))
            .ok_or_else(|| format!("`{text}` is not a date and time")),
        FieldType::Bool => match text.trim() {
            "1" | "Y" | "y" | "T" | "true" | "TRUE" | "是" => Ok(StdValue::Bool(true)),
            "0" | "N" | "n" | "F" | "false" | "FALSE" | "否" => Ok(StdValue::Bool(false)),
            t => Err(format!("`{t}` is not a yes/no value")),
        },
    }
}

/// Reads a decimal into an integer scaled by 10^`scale`. Plain decimals with at most `scale`
/// places are exact; longer ones (a REAL column's binary noise such as `12.300000000000001`)
/// are rounded half away from zero. More than `precision` digits is an error.
pub fn parse_decimal(text: &str, precision: u8, scale: u8) -> Result<i128, String> {
    let bad = || format!("`{text}` is not a number");
    let t = text.trim();
    let (negative, body) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    let digits_ok = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !digits_ok(int) || !digits_ok(frac) {
        // Scientific notation from a REAL column.
        let x: f64 = t.parse().map_err(|_| bad())?;
        if !x.is_finite() {
            return Err(bad());
        }
        return parse_decimal(&format!("{x:.*}", usize::from(scale)), precision, scale);
    }
    let scale = usize::from(scale);
    let mut value: i128 = 0;
    for b in int
        .bytes()
        .chain(frac.bytes().chain(std::iter::repeat(b'0')).take(scale))
    {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(i128::from(b - b'0')))
            .ok_or_else(bad)?;
    }
    if frac.len() > scale && frac.as_bytes()[scale] >= b'5' {
        value += 1;
    }
    let significant = value.checked_ilog10().map_or(1, |l| l + 1);
    if significant > u32::from(precision) {
        return Err(format!("`{text}` has more than {precision} digits"));
    }
    Ok(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decimals_are_exact_and_float_noise_is_rounded() {
        assert_eq!(parse_decimal("12.5", 12, 2), Ok(1250));
        assert_eq!(parse_decimal("-0.05", 12, 2), Ok(-5));
        assert_eq!(parse_decimal("12.300000000000001", 12, 2), Ok(1230));
        assert_eq!(parse_decimal("0.125", 12, 2), Ok(13));
        assert_eq!(parse_decimal("1e2", 12, 2), Ok(10000));
        assert!(parse_decimal("12,5", 12, 2).is_err());
        assert!(parse_decimal("", 12, 2).is_err());
        assert!(parse_decimal("123456789012", 12, 2).is_err());
    }

    #[test]
    fn casts_follow_the_standard_type() {
        let text = |s: &str| Staged::Text(s.into());
        let str5 = FieldType::Str { max_len: 5 };
        assert!(to_standard(text("患者编号过长"), str5, 0).is_err());
        assert_eq!(
            to_standard(text("患者"), str5, 0),
            Ok(StdValue::Text("患者".into()))
        );
        assert_eq!(
            to_standard(text("1970-01-02"), FieldType::Date, 0),
            Ok(StdValue::Date(1))
        );
        assert_eq!(
            to_standard(text("1970-01-01 08:00:00"), FieldType::Timestamp, 8 * 3600),
            Ok(StdValue::Timestamp(0))
        );
        assert_eq!(
            to_standard(text("否"), FieldType::Bool, 0),
            Ok(StdValue::Bool(false))
        );
        let gbk = to_standard(text("\u{FFFD}\u{FFFD}"), str5, 0).unwrap_err();
        assert!(gbk.contains("UTF-8"), "{gbk}");
    }

    proptest! {
        #[test]
        fn decimals_round_trip(fen in -10_000_000_000i64..10_000_000_000) {
            let text = format!("{}{}.{:02}", if fen < 0 { "-" } else { "" }, fen.abs() / 100, fen.abs() % 100);
            prop_assert_eq!(parse_decimal(&text, 12, 2), Ok(i128::from(fen)));
        }

        #[test]
        fn yuan_as_floats_round_to_the_fen(fen in 0i64..1_000_000_000) {
            let x = fen as f64 / 100.0;
            prop_assert_eq!(parse_decimal(&x.to_string(), 12, 2), Ok(i128::from(fen)));
        }
    }
}
