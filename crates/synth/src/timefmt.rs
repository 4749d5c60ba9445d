//! Date and time spellings written millions of times per region; formatted directly rather than
//! through chrono's format-string parser.

use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};

/// Appends `n` as exactly `width` decimal digits (the lowest ones, zero-padded).
pub fn push_digits(buf: &mut Vec<u8>, mut n: u64, width: usize) {
    let start = buf.len();
    buf.resize(start + width, b'0');
    for slot in buf[start..].iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// Appends `n` in decimal without padding.
pub fn push_uint(buf: &mut Vec<u8>, n: u64) {
    let width = n.checked_ilog10().map_or(1, |l| l as usize + 1);
    push_digits(buf, n, width);
}

fn push_date(buf: &mut Vec<u8>, d: NaiveDate, separator: Option<u8>) {
    // Years before 1 never occur in a HIS; they would need a sign.
    push_digits(buf, d.year().max(0) as u64, 4);
    for part in [d.month(), d.day()] {
        buf.extend(separator);
        push_digits(buf, u64::from(part), 2);
    }
}

fn push_time(buf: &mut Vec<u8>, t: NaiveDateTime, separator: Option<u8>) {
    push_digits(buf, u64::from(t.hour()), 2);
    for part in [t.minute(), t.second()] {
        buf.extend(separator);
        push_digits(buf, u64::from(part), 2);
    }
}

/// `yyyyMMdd`.
pub fn push_compact_date(buf: &mut Vec<u8>, d: NaiveDate) {
    push_date(buf, d, None);
}

/// `yyyy-MM-dd`.
pub fn push_iso_date(buf: &mut Vec<u8>, d: NaiveDate) {
    push_date(buf, d, Some(b'-'));
}

/// `yyyyMMddHHmmss`.
pub fn push_compact_ts(buf: &mut Vec<u8>, t: NaiveDateTime) {
    push_date(buf, t.date(), None);
    push_time(buf, t, None);
}

/// `yyyy-MM-dd HH:mm:ss`, or with `T` between date and time.
pub fn push_iso_ts(buf: &mut Vec<u8>, t: NaiveDateTime, separator: char) {
    push_date(buf, t.date(), Some(b'-'));
    let mut sep = [0; 4];
    buf.extend_from_slice(separator.encode_utf8(&mut sep).as_bytes());
    push_time(buf, t, Some(b':'));
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
        assert_eq!(iso_date(t.date()), "0987-03-04");
    }

    #[test]
    fn integers_are_spelled_in_decimal() {
        for n in [0, 7, 10, 99, 100, 123_456_789, u64::MAX] {
            let mut buf = Vec::new();
            push_uint(&mut buf, n);
            assert_eq!(buf, n.to_string().as_bytes());
        }
        let mut buf = Vec::new();
        push_digits(&mut buf, 5, 3);
        assert_eq!(buf, b"005");
    }
}
