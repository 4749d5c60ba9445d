//! Date and time spellings written millions of times per region; formatted directly rather than
//! through chrono's format-string parser.

use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};
use std::io::Write;

/// Appends formatted text to a byte buffer (writing to a `Vec` cannot fail).
pub fn push(buf: &mut Vec<u8>, args: std::fmt::Arguments<'_>) {
    let _ = buf.write_fmt(args);
}

/// `yyyyMMdd`.
pub fn push_compact_date(buf: &mut Vec<u8>, d: NaiveDate) {
    push(
        buf,
        format_args!("{:04}{:02}{:02}", d.year(), d.month(), d.day()),
    );
}

/// `yyyy-MM-dd`.
pub fn push_iso_date(buf: &mut Vec<u8>, d: NaiveDate) {
    push(
        buf,
        format_args!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day()),
    );
}

/// `yyyyMMddHHmmss`.
pub fn push_compact_ts(buf: &mut Vec<u8>, t: NaiveDateTime) {
    push_compact_date(buf, t.date());
    push(
        buf,
        format_args!("{:02}{:02}{:02}", t.hour(), t.minute(), t.second()),
    );
}

/// `yyyy-MM-dd HH:mm:ss`, or with `T` between date and time.
pub fn push_iso_ts(buf: &mut Vec<u8>, t: NaiveDateTime, separator: char) {
    push_iso_date(buf, t.date());
    push(
        buf,
        format_args!(
            "{separator}{:02}:{:02}:{:02}",
            t.hour(),
            t.minute(),
            t.second()
        ),
    );
}

fn string(f: impl FnOnce(&mut Vec<u8>)) -> String {
    let mut buf = Vec::with_capacity(19);
    f(&mut buf);
    // Only ASCII digits and separators were written.
    String::from_utf8(buf).unwrap_or_default()
}

pub fn compact_date(d: NaiveDate) -> String {
    string(|b| push_compact_date(b, d))
}

pub fn iso_date(d: NaiveDate) -> String {
    string(|b| push_iso_date(b, d))
}

pub fn compact_ts(t: NaiveDateTime) -> String {
    string(|b| push_compact_ts(b, t))
}

pub fn iso_ts(t: NaiveDateTime, separator: char) -> String {
    string(|b| push_iso_ts(b, t, separator))
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
