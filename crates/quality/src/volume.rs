//! Expected row volume: each institution's records a day against a rule's bounds. The days judged
//! are those from the first to the last day with records that arrived in the run's window (so a
//! day with none in between counts as 0), before today; each is counted over the whole table,
//! since a day's records may arrive over several runs. A failing day is kept like a failing
//! record, keyed by its date.

use crate::{
    QualityError,
    compile::{Window, local_day, window_filter},
    evaluate::{self, Tallies},
    failures::{Failure, FailureWriter, Found},
    rule::{Check, Rule},
};
use chrono::{Days, NaiveDate};
use hdos_core::standard::Dataset;
use hdos_lake::{
    Lake, TableName,
    arrow::{array::AsArray, datatypes::Int64Type},
};
use std::collections::{BTreeMap, HashMap};

/// Per institution, the first and last day with records in the window.
type Spans = BTreeMap<String, (NaiveDate, NaiveDate)>;

/// Judges the dataset's volume rules over the days `window` touched.
pub async fn check(
    lake: &Lake,
    dataset: &Dataset,
    rules: &[(&Rule, i64)],
    window: Window,
    tallies: &mut Tallies,
    writer: &mut FailureWriter<'_>,
) -> Result<(), QualityError> {
    let std = TableName::new(&format!("std/{}", dataset.name))?;
    let today = (chrono::Utc::now() + chrono::Duration::hours(8)).date_naive();
    for (rule, version) in rules {
        let Check::Volume { field, min, max } = &rule.check else {
            continue;
        };
        let day = local_day(dataset, field);
        let spans = spans(lake, &std, &day, field, window, today).await?;
        let Some(first) = spans.values().map(|s| s.0).min() else {
            continue;
        };
        let last = spans.values().map(|s| s.1).max().unwrap_or(first);
        let counts = counts(lake, &std, &day, field, (first, last)).await?;
        for (institution, (from, to)) in &spans {
            if !rule.institutions.is_empty() && !rule.institutions.contains(institution) {
                continue;
            }
            let mut d = *from;
            while d <= *to {
                let n = counts.get(&(institution.clone(), d)).copied().unwrap_or(0);
                let outside = min.is_some_and(|m| n < m) || max.is_some_and(|m| n > m);
                tallies.add(&rule.id, institution, 1, i64::from(outside));
                if outside {
                    writer.buffer(Failure {
                        rule_id: rule.id.clone(),
                        rule_version: *version,
                        dataset: dataset.name.clone(),
                        institution: institution.clone(),
                        record_key: Some(d.to_string()),
                        field: field.clone(),
                        value: Some(n.to_string()),
                        found: Found::Std,
                    });
                }
                d = d + Days::new(1);
            }
        }
    }
    Ok(())
}

/// Per institution, the first and last day before `today` of the records in `window`.
async fn spans(
    lake: &Lake,
    std: &TableName,
    day: &str,
    field: &str,
    window: Window,
    today: NaiveDate,
) -> Result<Spans, QualityError> {
    let mut filter = window_filter(window);
    filter.push(format!("t.\"{field}\" IS NOT NULL"));
    filter.push(format!("{day} < DATE '{today}'"));
    let sql = format!(
        "SELECT t.\"_hdos_institution\", CAST(min({day}) AS VARCHAR), CAST(max({day}) AS VARCHAR) \
         FROM {} t WHERE {} GROUP BY 1",
        std.sql_name(),
        filter.join(" AND ")
    );
    let mut out = Spans::new();
    for b in lake.query(std::slice::from_ref(std), &sql).await? {
        let institutions = evaluate::text(b.column(0))?;
        let (lo, hi) = (evaluate::text(b.column(1))?, evaluate::text(b.column(2))?);
        for r in 0..b.num_rows() {
            if let (Some(lo), Some(hi)) = (parse(lo.value(r)), parse(hi.value(r))) {
                out.insert(institutions.value(r).to_owned(), (lo, hi));
            }
        }
    }
    Ok(out)
}

/// Records per institution and day, over the whole table, for days in `span`.
async fn counts(
    lake: &Lake,
    std: &TableName,
    day: &str,
    field: &str,
    (first, last): (NaiveDate, NaiveDate),
) -> Result<HashMap<(String, NaiveDate), u64>, QualityError> {
    let sql = format!(
        "SELECT \"_hdos_institution\", CAST(d AS VARCHAR), count(*) FROM \
         (SELECT t.\"_hdos_institution\", {day} AS d FROM {} t WHERE t.\"{field}\" IS NOT NULL) \
         WHERE d BETWEEN DATE '{first}' AND DATE '{last}' GROUP BY 1, 2",
        std.sql_name()
    );
    let mut out = HashMap::new();
    for b in lake.query(std::slice::from_ref(std), &sql).await? {
        let institutions = evaluate::text(b.column(0))?;
        let days = evaluate::text(b.column(1))?;
        let n = b.column(2).as_primitive::<Int64Type>();
        for r in 0..b.num_rows() {
            if let Some(d) = parse(days.value(r)) {
                let key = (institutions.value(r).to_owned(), d);
                out.insert(key, u64::try_from(n.value(r)).unwrap_or(0));
            }
        }
    }
    Ok(out)
}

fn parse(day: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()
}
