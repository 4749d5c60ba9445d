//! Failures found where records arrive: collection refuses a record lacking a required value, one
//! whose value does not fit its standard type or encoding, and the earlier of two rows with one
//! key. Those records are in quarantine, not in the std zone; they are counted here against the
//! rules they break, so completeness, validity and uniqueness include them. Records a run moved
//! there for failing hard rules count against those rules, in the window they arrived in (the
//! run that moved them counted them in std, and its window ends before they are moved).

use crate::{
    QualityError,
    compile::{Window, utc_micros},
    evaluate::{self, Tallies},
    failures::{Failure, FailureWriter, Found},
    hard::MOVED_BY,
    rule::{Check, Rule},
};
use futures::StreamExt;
use hdos_ingest::{land::DUPLICATE_KEY, mapping::REQUIRED_MISSING};
use hdos_lake::{
    Lake, TableName,
    arrow::array::{Array, StringArray},
};

/// The rules of `institution` a quarantine row counts against: those that moved it there, or
/// those its collection reason breaks.
fn rules_for<'a>(
    rules: &'a [(&'a Rule, i64)],
    institution: &'a str,
    field: &'a str,
    reason: &'a str,
    moved_by: Option<&'a str>,
) -> impl Iterator<Item = (&'a Rule, i64)> + 'a {
    rules.iter().copied().filter(move |(r, _)| {
        let applies = r.institutions.is_empty() || r.institutions.iter().any(|i| i == institution);
        if let Some(ids) = moved_by {
            return applies && ids.split(',').any(|id| id == r.id);
        }
        applies
            && match &r.check {
                Check::Required { field: f } => reason == REQUIRED_MISSING && f == field,
                Check::Unique { .. } => reason == DUPLICATE_KEY,
                Check::Conformance => reason != REQUIRED_MISSING && reason != DUPLICATE_KEY,
                _ => false,
            }
    })
}

/// Counts `dataset`'s quarantined records in `window` against `rules` (with their versions).
pub async fn quarantined(
    lake: &Lake,
    dataset: &str,
    rules: &[(&Rule, i64)],
    window: Window,
    tallies: &mut Tallies,
    writer: &mut FailureWriter<'_>,
) -> Result<(), QualityError> {
    let table = TableName::new(&format!("quarantine/{dataset}"))?;
    if !lake.exists(&table).await? {
        return Ok(());
    }
    let mut filter = vec![format!(
        "\"_hdos_received_at\" <= {}",
        utc_micros(window.until)
    )];
    if let Some(after) = window.after {
        filter.push(format!("\"_hdos_received_at\" > {}", utc_micros(after)));
    }
    // `*`: tables from before keys were kept lack `record_key`.
    let sql = format!(
        "SELECT * FROM {} WHERE {}",
        table.sql_name(),
        filter.join(" AND ")
    );
    let mut stream = lake
        .query_stream(std::slice::from_ref(&table), &sql)
        .await?;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        let column = |name: &str| -> Result<Option<StringArray>, QualityError> {
            match batch.column_by_name(name) {
                Some(c) => evaluate::text(c).map(Some),
                None => Ok(None),
            }
        };
        let (Some(institution), Some(field), Some(value), Some(reason)) = (
            column("_hdos_institution")?,
            column("field")?,
            column("value")?,
            column("reason")?,
        ) else {
            return Err(QualityError::Run(format!(
                "{table} lacks the quarantine columns"
            )));
        };
        let keys = column("record_key")?;
        let moved = column(MOVED_BY)?;
        for row in 0..batch.num_rows() {
            let inst = institution.value(row);
            let moved_by = moved
                .as_ref()
                .filter(|m| m.is_valid(row))
                .map(|m| m.value(row));
            let reason = reason.value(row);
            for (rule, version) in rules_for(rules, inst, field.value(row), reason, moved_by) {
                tallies.add(&rule.id, inst, 1, 1);
                writer.buffer(Failure {
                    rule_id: rule.id.clone(),
                    rule_version: version,
                    dataset: dataset.to_owned(),
                    institution: inst.to_owned(),
                    record_key: keys
                        .as_ref()
                        .filter(|k| k.is_valid(row))
                        .map(|k| k.value(row).to_owned()),
                    field: field.value(row).to_owned(),
                    value: value.is_valid(row).then(|| value.value(row).to_owned()),
                    found: Found::Quarantine,
                });
            }
        }
        if writer.is_full() {
            writer.flush().await?;
        }
    }
    Ok(())
}
