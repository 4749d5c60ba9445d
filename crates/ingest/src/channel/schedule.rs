//! Batch schedules: five-field cron expressions (minute hour day-of-month month day-of-week) read
//! in China Standard Time, the region's clock, whatever time zone the worker's machine is set to.

use chrono::{DateTime, FixedOffset, TimeZone, Utc};
use croner::Cron;
use hdos_store::Millis;
use std::str::FromStr;

/// UTC+8 has no daylight saving: a fixed offset is exact.
const CST_SECONDS: i32 = 8 * 3600;

/// A parsed schedule.
#[derive(Debug, Clone)]
pub struct Schedule(Cron);

impl Schedule {
    /// Reads an expression such as `*/15 * * * *` or `30 2 * * *` (02:30 every day).
    pub fn parse(expr: &str) -> Result<Self, String> {
        let fields = expr.split_whitespace().count();
        if fields != 5 {
            return Err(format!(
                "`{expr}` has {fields} fields; a schedule has five: minute hour day-of-month month day-of-week"
            ));
        }
        Cron::from_str(expr)
            .map(Self)
            .map_err(|e| format!("`{expr}` is not a cron schedule: {e}"))
    }

    /// The first time after `after` that the schedule fires.
    pub fn next_after(&self, after: Millis) -> Option<Millis> {
        let cst = FixedOffset::east_opt(CST_SECONDS)?;
        let at: DateTime<FixedOffset> = Utc
            .timestamp_millis_opt(after)
            .single()?
            .with_timezone(&cst);
        self.0
            .find_next_occurrence(&at, false)
            .ok()
            .map(|t| t.timestamp_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Millis {
        DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis()
    }

    #[test]
    fn fires_in_china_standard_time() {
        let s = Schedule::parse("30 2 * * *").unwrap();
        // 02:30 CST is 18:30 UTC the day before.
        assert_eq!(
            s.next_after(at("2026-11-29T12:00:00Z")),
            Some(at("2026-11-29T18:30:00Z"))
        );
        assert_eq!(
            s.next_after(at("2026-11-29T18:30:00Z")),
            Some(at("2026-11-30T18:30:00Z")),
            "a firing time is not its own next"
        );
    }

    #[test]
    fn steps_and_lists() {
        let s = Schedule::parse("*/15 8-17 * * 1-5").unwrap();
        // Sunday 2026-11-29 10:00 CST → Monday 08:00 CST.
        assert_eq!(
            s.next_after(at("2026-11-29T02:00:00Z")),
            Some(at("2026-11-30T00:00:00Z"))
        );
        assert_eq!(
            s.next_after(at("2026-11-30T00:00:00Z")),
            Some(at("2026-11-30T00:15:00Z"))
        );
    }

    #[test]
    fn bad_expressions_are_refused_with_the_reason() {
        for bad in ["", "* * * *", "0 0 * * * *", "61 * * * *", "a b c d e"] {
            assert!(Schedule::parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(Schedule::parse("0 0 * * *").is_ok());
    }
}
