//! Each institution's recent history for the dashboard's charts: the link samples of the last
//! 24 hours (backlog not yet in the lake, source answer time), hour by hour, and the alerts
//! raised on each of the last 14 days.

use crate::{error::ApiError, state::AppState};
use hdos_store::{LinkSample, Millis};
use std::collections::BTreeMap;

pub const HOURS: usize = 24;
const HOUR_MS: Millis = 3_600_000;
const DAY_MS: Millis = 24 * HOUR_MS;
const CST_MS: Millis = 8 * HOUR_MS;

/// One institution's hourly maxima (oldest first) and daily alert counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    /// KiB received but not yet in the lake, the most seen in each hour.
    pub backlog_kib: Vec<i64>,
    /// The slowest source answer in each hour, in ms.
    pub latency_ms: Vec<i64>,
    pub alerts_per_day: Vec<i64>,
}

impl History {
    /// Nothing seen: every hour and day zero.
    pub fn new(days: usize) -> Self {
        Self {
            backlog_kib: vec![0; HOURS],
            latency_ms: vec![0; HOURS],
            alerts_per_day: vec![0; days],
        }
    }
}

/// Folds samples taken since `since` into hourly maxima per institution.
fn fold_samples(samples: &[LinkSample], since: Millis, days: usize) -> BTreeMap<String, History> {
    let mut out: BTreeMap<String, History> = BTreeMap::new();
    for s in samples {
        if s.at < since {
            continue;
        }
        let hour = usize::try_from((s.at - since) / HOUR_MS).unwrap_or(usize::MAX);
        if hour >= HOURS {
            continue;
        }
        let h = out
            .entry(s.institution.clone())
            .or_insert_with(|| History::new(days));
        if let Some(b) = s.backlog_bytes {
            h.backlog_kib[hour] = h.backlog_kib[hour].max((b + 1023) / 1024);
        }
        if let Some(l) = s.latency_ms {
            h.latency_ms[hour] = h.latency_ms[hour].max(l);
        }
    }
    out
}

/// The history of every institution `scoped_to` allows, as of `now`.
pub async fn load(
    app: &AppState,
    scoped_to: Option<&str>,
    now: Millis,
    days: usize,
) -> Result<BTreeMap<String, History>, ApiError> {
    let since = now - HOURS as Millis * HOUR_MS;
    let samples = app.store.link_samples(since, scoped_to).await?;
    let mut out = fold_samples(&samples, since, days);
    let today = (now + CST_MS) / DAY_MS;
    let first_day = today - days as Millis + 1;
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    for d in app
        .store
        .daily_alerts(first_day * DAY_MS - CST_MS, scoped_to)
        .await?
    {
        let Ok(date) = chrono::NaiveDate::parse_from_str(&d.day, "%Y-%m-%d") else {
            continue;
        };
        let Ok(day) = usize::try_from((date - epoch).num_days() - first_day) else {
            continue;
        };
        if day < days {
            out.entry(d.institution)
                .or_insert_with(|| History::new(days))
                .alerts_per_day[day] = d.rows;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(
        institution: &str,
        at: Millis,
        latency: Option<i64>,
        backlog: Option<i64>,
    ) -> LinkSample {
        LinkSample {
            channel: "c".into(),
            institution: institution.into(),
            at,
            latency_ms: latency,
            backlog_bytes: backlog,
        }
    }

    #[test]
    fn samples_fold_into_hourly_maxima_per_institution() {
        let since = 1_000_000;
        let folded = fold_samples(
            &[
                sample("H1", since + 10, Some(5), Some(2048)),
                sample("H1", since + 20, Some(9), Some(1)),
                sample("H1", since + 3 * HOUR_MS, None, None),
                sample("H2", since + 23 * HOUR_MS + 5, Some(7), None),
                sample("H2", since - 1, Some(99), None),
                sample("H2", since + 24 * HOUR_MS, Some(99), None),
            ],
            since,
            14,
        );
        let h1 = &folded["H1"];
        assert_eq!(h1.backlog_kib[0], 2);
        assert_eq!(h1.latency_ms[0], 9);
        assert_eq!(h1.latency_ms[3], 0, "an unreached source draws nothing");
        let h2 = &folded["H2"];
        assert_eq!(h2.latency_ms[23], 7);
        assert_eq!(
            h2.latency_ms.iter().sum::<i64>(),
            7,
            "outside the window: left out"
        );
        assert_eq!(h2.alerts_per_day.len(), 14);
    }
}
