//! Date and time spellings written millions of times per region; formatted directly rather than
//! through chrono's format-string parser.

use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};

/// `yyyyMMdd`.
pub fn compact_date(d: NaiveDate) -> String {
    format!("{:04}{:02}{:02}", d.year(), d.month(), d.day())
}

/// `yyyy-MM-dd`.
pub fn iso_date(d: NaiveDate) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day())
}

/// `yyyyMMddHHmmss`.
pub fn compact_ts(t: NaiveDateTime) -> String {
    format!(
        "{}{:02}{:02}{:02}",
        compact_date(t.date()),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// `yyyy-MM-dd HH:mm:ss`, or with `T` between date and time.
pub fn iso_ts(t: NaiveDateTime, separator: char) -> String {
    format!(
        "{}{separator}{:02}:{:02}:{:02}",
        iso_date(t.date()),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_match_chrono() {
        let t = NaiveDate::from_ymd_opt(987, 3, 4)
            .unwrap()
            .and_hms_opt(5, 6, 7)
            .unwrap();
        assert_eq!(compact_ts(t), t.format("%Y%m%d%H%M%S").to_string());
        assert_eq!(iso_ts(t, ' '), t.format("%Y-%m-%d %H:%M:%S").to_string());
        assert_eq!(iso_ts(t, 'T'), t.format("%Y-%m-%dT%H:%M:%S").to_string());
        assert_eq!(compact_date(t.date()), "09870304");
    }
}
