//! The transforms a field mapping can apply, in order, before the value is cast to the field's
//! standard type.

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Transform {
    /// Removes leading and trailing white space.
    Trim,
    /// An empty value means no value (some HIS write `''` for a missing one).
    NullIfEmpty,
    /// Replaces the source's code with the standard's; a code outside the table is `other` when
    /// given, else the row is rejected.
    Codes {
        map: BTreeMap<String, String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        other: Option<String>,
    },
    /// Parses a date in `format` (see [`TimeFormat`]).
    Date { format: String },
    /// Parses a local time in `format`; epoch formats are already UTC.
    Timestamp { format: String },
    /// Divides a decimal by a power of ten, exactly (money kept in fen becomes yuan).
    Divide { by: u64 },
    /// A fixed value, whatever the source holds.
    Constant { value: String },
    /// A FHIR reference (`Patient/123`, or an absolute URL ending so) to a resource of the
    /// given type: its id. A reference to another type, or one never resolved, rejects the row.
    Reference { resource: String },
}

/// A value between transforms.
#[derive(Debug, Clone, PartialEq)]
pub enum Staged {
    Null,
    Text(String),
    Date(NaiveDate),
    /// A time in the source's local zone.
    Local(NaiveDateTime),
    /// Microseconds since the Unix epoch, UTC.
    Utc(i64),
}

/// The date and time spellings a HIS uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeFormat {
    /// A chrono pattern, and whether it carries a time of day.
    Pattern(String, bool),
    EpochSeconds,
    EpochMillis,
    /// HL7 v2 DTM: `YYYY[MM[DD[HH[MM[SS[.S…]]]]]][+/-ZZZZ]`; with an offset it is read as UTC.
    Hl7,
    /// FHIR date, dateTime and instant: `YYYY-MM-DD`, or a time with seconds and a zone
    /// (`2026-03-01T08:30:05+08:00`), read as UTC. Partial dates are refused as too imprecise.
    Fhir,
}

impl TimeFormat {
    /// Reads a format name: `yyyyMMdd`, `yyyy-MM-dd`, `yyyyMMddHHmmss`, `yyyy-MM-dd HH:mm:ss`,
    /// `yyyy-MM-ddTHH:mm:ss`, `yyyy/MM/dd`, `epoch_s`, `epoch_ms`, `hl7` (DTM), or a chrono
    /// pattern with `%`.
    pub fn parse(name: &str) -> Result<Self, String> {
        let pattern = |p: &str, time: bool| Ok(Self::Pattern(p.to_owned(), time));
        match name {
            "yyyyMMdd" => pattern("%Y%m%d", false),
            "yyyy-MM-dd" => pattern("%Y-%m-%d", false),
            "yyyy/MM/dd" => pattern("%Y/%m/%d", false),
            "yyyyMMddHHmmss" => pattern("%Y%m%d%H%M%S", true),
            "yyyy-MM-dd HH:mm:ss" => pattern("%Y-%m-%d %H:%M:%S", true),
            "yyyy-MM-ddTHH:mm:ss" => pattern("%Y-%m-%dT%H:%M:%S", true),
            "yyyy/MM/dd HH:mm:ss" => pattern("%Y/%m/%d %H:%M:%S", true),
            "epoch_s" => Ok(Self::EpochSeconds),
            "epoch_ms" => Ok(Self::EpochMillis),
            "hl7" => Ok(Self::Hl7),
            "fhir" => Ok(Self::Fhir),
            p if p.contains('%') => {
                let time = ["%H", "%M", "%S", "%T", "%R"].iter().any(|t| p.contains(t));
                pattern(p, time)
            }
            _ => Err(format!("unknown date format `{name}`")),
        }
    }

    fn read(&self, text: &str) -> Result<Staged, String> {
        let bad = || format!("`{text}` does not match the date format");
        match self {
            Self::Pattern(p, true) => NaiveDateTime::parse_from_str(text, p)
                .map(Staged::Local)
                .map_err(|_| bad()),
            Self::Pattern(p, false) => NaiveDate::parse_from_str(text, p)
                .map(Staged::Date)
                .map_err(|_| bad()),
            Self::EpochSeconds | Self::EpochMillis => {
                let n: i64 = text.parse().map_err(|_| bad())?;
                let micros = if *self == Self::EpochSeconds {
                    n.checked_mul(1_000_000)
                } else {
                    n.checked_mul(1_000)
                };
                micros
                    .filter(|us| DateTime::from_timestamp_micros(*us).is_some())
                    .map(Staged::Utc)
                    .ok_or_else(bad)
            }
            Self::Hl7 => read_dtm(text).ok_or_else(bad),
            Self::Fhir => read_fhir(text),
        }
    }
}

/// Reads a FHIR date or dateTime.
fn read_fhir(text: &str) -> Result<Staged, String> {
    if text.contains('T') {
        return DateTime::parse_from_rfc3339(text)
            .map(|t| Staged::Utc(t.timestamp_micros()))
            .map_err(|_| format!("`{text}` is not a FHIR dateTime with seconds and a time zone"));
    }
    if text.len() < 10 && (text.len() == 4 || text.len() == 7) {
        return Err(format!(
            "`{text}` is a partial date; the standard needs the day"
        ));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map(Staged::Date)
        .map_err(|_| format!("`{text}` is not a FHIR date (YYYY-MM-DD)"))
}

/// The id a FHIR reference names, when it names a resource of type `resource`.
fn reference_id(text: &str, resource: &str) -> Result<String, String> {
    if text.starts_with("urn:") {
        return Err(format!(
            "`{text}` does not name a {resource} this request holds"
        ));
    }
    let mut parts = text.trim_end_matches('/').rsplit('/');
    // `Type/id`, possibly after a base URL or before `_history/n`.
    let (id, kind) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(_), Some("_history"), Some(id), Some(kind)) => (id, kind),
        (Some(id), Some(kind), _, _) => (id, kind),
        _ => {
            return Err(format!(
                "`{text}` is not a reference of the form {resource}/id"
            ));
        }
    };
    if kind != resource {
        return Err(format!("`{text}` refers to a {kind}, not a {resource}"));
    }
    if id.is_empty() {
        return Err(format!("`{text}` names no {resource} id"));
    }
    Ok(id.to_owned())
}

/// Reads an HL7 DTM. Precision below a day gives a date; an offset gives UTC.
fn read_dtm(text: &str) -> Option<Staged> {
    let split = text.find(['+', '-']).unwrap_or(text.len());
    let (stamp, zone) = text.split_at(split);
    let (digits, fraction) = stamp.split_once('.').unwrap_or((stamp, ""));
    if !digits.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
        || fraction.len() > 4
        || ![4, 6, 8, 10, 12, 14].contains(&digits.len())
    {
        return None;
    }
    let part = |from: usize, default: u32| -> Option<u32> {
        digits
            .get(from..from + 2)
            .map_or(Some(default), |d| d.parse().ok())
    };
    let date = NaiveDate::from_ymd_opt(digits[..4].parse().ok()?, part(4, 1)?, part(6, 1)?)?;
    if digits.len() <= 8 && zone.is_empty() {
        return Some(Staged::Date(date));
    }
    let micros = format!("{fraction:0<6}").parse::<u32>().ok()?;
    let local = date.and_hms_micro_opt(part(8, 0)?, part(10, 0)?, part(12, 0)?, micros)?;
    if zone.is_empty() {
        return Some(Staged::Local(local));
    }
    let sign = if zone.starts_with('-') { -1 } else { 1 };
    let hhmm = &zone[1..];
    if hhmm.len() != 4 || !hhmm.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let offset: i64 = hhmm[..2].parse::<i64>().ok()? * 3600 + hhmm[2..].parse::<i64>().ok()? * 60;
    Some(Staged::Utc(
        local.and_utc().timestamp_micros() - sign * offset * 1_000_000,
    ))
}

impl Transform {
    pub(crate) fn is_constant(&self) -> bool {
        matches!(self, Self::Constant { .. })
    }

    /// Checks the transform's own parameters (a mapping is checked once, not per row).
    pub fn check(&self) -> Result<(), String> {
        match self {
            Self::Date { format } | Self::Timestamp { format } => {
                TimeFormat::parse(format).map(|_| ())
            }
            Self::Divide { by } if !is_power_of_ten(*by) => {
                Err(format!("can divide only by a power of ten, not {by}"))
            }
            _ => Ok(()),
        }
    }

    fn apply(&self, v: Staged) -> Result<Staged, String> {
        let text = match (&v, self) {
            (_, Self::Constant { value }) => return Ok(Staged::Text(value.clone())),
            (Staged::Null, _) => return Ok(Staged::Null),
            (Staged::Text(t), _) => t.as_str(),
            // Typed values pass the text transforms unchanged.
            _ => return Ok(v),
        };
        Ok(match self {
            Self::Trim => Staged::Text(text.trim().to_owned()),
            Self::NullIfEmpty if text.is_empty() => Staged::Null,
            Self::NullIfEmpty => v,
            Self::Codes { map, other } => match (map.get(text), other) {
                (Some(code), _) | (None, Some(code)) => Staged::Text(code.clone()),
                (None, None) => return Err(format!("`{text}` is not in the code table")),
            },
            Self::Date { format } | Self::Timestamp { format } => {
                let staged = TimeFormat::parse(format)?.read(text)?;
                match (self, staged) {
                    (Self::Date { .. }, Staged::Local(t)) => Staged::Date(t.date()),
                    (Self::Timestamp { .. }, Staged::Date(d)) => {
                        Staged::Local(d.and_time(chrono::NaiveTime::MIN))
                    }
                    (_, s) => s,
                }
            }
            Self::Divide { by } => Staged::Text(divide(text, *by)?),
            Self::Reference { resource } => Staged::Text(reference_id(text, resource)?),
            Self::Constant { .. } => v,
        })
    }
}

/// Runs the transforms in order on a value as received.
pub(crate) fn run(transforms: &[Transform], raw: Option<String>) -> Result<Staged, String> {
    let mut v = raw.map_or(Staged::Null, Staged::Text);
    for t in transforms {
        v = t.apply(v)?;
    }
    Ok(v)
}

fn is_power_of_ten(mut n: u64) -> bool {
    if n == 0 {
        return false;
    }
    while n.is_multiple_of(10) {
        n /= 10;
    }
    n == 1
}

/// Moves the decimal point of `text` left by log10(`by`) places, without rounding.
fn divide(text: &str, by: u64) -> Result<String, String> {
    let places = by.ilog10() as usize;
    let (sign, digits) = match text.trim().strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", text.trim()),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if int.is_empty() && frac.is_empty()
        || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    {
        return Err(format!("`{text}` is not a number"));
    }
    let all = format!("{}{int}{frac}", "0".repeat(places + 1));
    let point = all.len() - frac.len() - places;
    let (i, f) = all.split_at(point);
    let i = i.trim_start_matches('0');
    Ok(format!("{sign}{}.{f}", if i.is_empty() { "0" } else { i }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Timelike;

    #[test]
    fn formats_parse_what_hospitals_write() {
        let ts =
            |f: &str, t: &str| run(&[Transform::Timestamp { format: f.into() }], Some(t.into()));
        let local = NaiveDate::from_ymd_opt(2026, 3, 1)
            .unwrap()
            .and_hms_opt(8, 30, 5)
            .unwrap();
        assert_eq!(
            ts("yyyyMMddHHmmss", "20260301083005"),
            Ok(Staged::Local(local))
        );
        assert_eq!(
            ts("yyyy-MM-dd HH:mm:ss", "2026-03-01 08:30:05"),
            Ok(Staged::Local(local))
        );
        assert_eq!(
            ts("epoch_s", "1772325005"),
            Ok(Staged::Utc(1_772_325_005_000_000))
        );
        assert!(ts("yyyyMMddHHmmss", "2026-03-01").is_err());
        assert!(ts("epoch_s", "99999999999999999").is_err());
        let d = run(
            &[Transform::Date {
                format: "yyyyMMdd".into(),
            }],
            Some("19800230".into()),
        );
        assert!(d.is_err(), "30 February is refused");
        assert!(TimeFormat::parse("dd.MM.yy").is_err());
    }

    #[test]
    fn hl7_times_keep_their_precision_and_offset() {
        let hl7 = |t: &str| TimeFormat::Hl7.read(t);
        let local = NaiveDate::from_ymd_opt(2026, 3, 1)
            .unwrap()
            .and_hms_opt(8, 30, 5)
            .unwrap();
        assert_eq!(hl7("20260301083005"), Ok(Staged::Local(local)));
        assert_eq!(
            hl7("20260301083005+0800"),
            Ok(Staged::Utc(1_772_325_005_000_000))
        );
        assert_eq!(
            hl7("20260301"),
            Ok(Staged::Date(NaiveDate::from_ymd_opt(2026, 3, 1).unwrap()))
        );
        assert_eq!(
            hl7("202603010830"),
            Ok(Staged::Local(local.with_second(0).unwrap()))
        );
        for bad in [
            "2026030",
            "20260230",
            "20260301083005+08",
            "x",
            "20260301083005.12345",
        ] {
            assert!(hl7(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn codes_map_and_unknown_codes_are_named() {
        let codes = Transform::Codes {
            map: [("M", "1"), ("F", "2")]
                .into_iter()
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
                .collect(),
            other: None,
        };
        assert_eq!(
            run(std::slice::from_ref(&codes), Some("F".into())),
            Ok(Staged::Text("2".into()))
        );
        assert!(
            run(std::slice::from_ref(&codes), Some("X".into()))
                .unwrap_err()
                .contains("`X`")
        );
        assert_eq!(run(&[codes], None), Ok(Staged::Null));
    }

    #[test]
    fn fhir_times_need_a_day_and_a_zone() {
        let fhir = |t: &str| TimeFormat::Fhir.read(t);
        assert_eq!(
            fhir("2026-03-01T08:30:05+08:00"),
            Ok(Staged::Utc(1_772_325_005_000_000))
        );
        assert_eq!(
            fhir("2026-03-01T00:30:05.000Z"),
            Ok(Staged::Utc(1_772_325_005_000_000))
        );
        assert_eq!(
            fhir("2026-03-01"),
            Ok(Staged::Date(NaiveDate::from_ymd_opt(2026, 3, 1).unwrap()))
        );
        assert!(fhir("1980").unwrap_err().contains("partial"));
        assert!(
            fhir("2026-03-01T08:30:05")
                .unwrap_err()
                .contains("time zone")
        );
        assert!(fhir("2026-02-30").is_err());
    }

    #[test]
    fn references_give_the_id_of_the_named_type() {
        assert_eq!(reference_id("Patient/p-1", "Patient"), Ok("p-1".into()));
        assert_eq!(
            reference_id("https://his.example/fhir/Patient/7/_history/2", "Patient"),
            Ok("7".into())
        );
        assert!(
            reference_id("Encounter/1", "Patient")
                .unwrap_err()
                .contains("Encounter")
        );
        assert!(reference_id("urn:uuid:1f0e/Patient", "Patient").is_err());
        assert!(reference_id("p1", "Patient").is_err());
    }

    #[test]
    fn division_by_powers_of_ten_is_exact() {
        assert_eq!(divide("12345", 100).unwrap(), "123.45");
        assert_eq!(divide("-5", 100).unwrap(), "-0.05");
        assert_eq!(divide("7.5", 10).unwrap(), "0.75");
        assert!(divide("1e3", 100).is_err());
        assert!(Transform::Divide { by: 30 }.check().is_err());
        assert!(Transform::Divide { by: 1000 }.check().is_ok());
    }

    #[test]
    fn empty_text_can_mean_missing_and_constants_override() {
        let t = [Transform::Trim, Transform::NullIfEmpty];
        assert_eq!(run(&t, Some("  ".into())), Ok(Staged::Null));
        let c = [Transform::Constant { value: "01".into() }];
        assert_eq!(run(&c, None), Ok(Staged::Text("01".into())));
    }
}
