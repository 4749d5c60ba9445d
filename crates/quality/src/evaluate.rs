//! Runs a dataset's scan and tallies it: rows per institution, checked and failed per rule and
//! institution, and every failing record handed to the failure writer.

use crate::{
    QualityError,
    compile::ScanPlan,
    failures::{Failure, FailureWriter, Found},
    rule::Rule,
};
use futures::StreamExt;
use hdos_lake::{
    Lake,
    arrow::{
        array::{Array, ArrayRef, AsArray, BooleanArray, StringArray},
        compute::cast,
        datatypes::DataType,
        record_batch::RecordBatch,
        util::display::{ArrayFormatter, FormatOptions},
    },
};
use std::collections::{HashMap, HashSet};

/// Checked and failed counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub checked: i64,
    pub failed: i64,
}

/// What a dataset's checks found, per institution.
#[derive(Debug, Default)]
pub struct Tallies {
    /// Rows scanned per institution.
    pub rows: HashMap<String, i64>,
    /// Per (rule id, institution).
    pub rules: HashMap<(String, String), Tally>,
    /// Rules that failed a record of the std zone (not only ones in quarantine).
    pub failed_in_std: HashSet<String>,
}

impl Tallies {
    pub fn add(&mut self, rule: &str, institution: &str, checked: i64, failed: i64) {
        let t = self
            .rules
            .entry((rule.to_owned(), institution.to_owned()))
            .or_default();
        t.checked += checked;
        t.failed += failed;
    }
}

struct RuleMeta<'a> {
    id: &'a str,
    version: i64,
    fields: String,
    positions: &'a [usize],
}

/// A column as UTF-8 text, whatever string type it arrived as.
pub(crate) fn text(array: &ArrayRef) -> Result<StringArray, QualityError> {
    let cast = cast(array, &DataType::Utf8)?;
    Ok(cast.as_string::<i32>().clone())
}

/// Scans `plan` (built from `rules` in this order) and tallies it into `tallies`.
pub async fn scan(
    lake: &Lake,
    plan: &ScanPlan,
    rules: &[(&Rule, i64)],
    dataset: &str,
    tallies: &mut Tallies,
    writer: &mut FailureWriter<'_>,
) -> Result<(), QualityError> {
    let mut stream = lake.query_stream(&plan.tables, &plan.sql).await?;
    // Per rule: its id, version and the fields it reads.
    let meta: Vec<RuleMeta<'_>> = plan
        .rules
        .iter()
        .map(|(i, positions)| {
            let (rule, version) = rules[*i];
            let fields: Vec<&str> = positions.iter().map(|p| plan.values[*p].as_str()).collect();
            RuleMeta {
                id: rule.id.as_str(),
                version,
                fields: fields.join(", "),
                positions,
            }
        })
        .collect();
    while let Some(batch) = stream.next().await {
        tally_batch(&batch?, plan, &meta, dataset, tallies, writer)?;
        if writer.is_full() {
            writer.flush().await?;
        }
    }
    Ok(())
}

/// Tallies one batch of the scan's output.
fn tally_batch(
    batch: &RecordBatch,
    plan: &ScanPlan,
    meta: &[RuleMeta<'_>],
    dataset: &str,
    tallies: &mut Tallies,
    writer: &mut FailureWriter<'_>,
) -> Result<(), QualityError> {
    let keys = plan.keys.len();
    let values = plan.values.len();
    let options = FormatOptions::default().with_null("");
    let institutions = text(batch.column(0))?;
    let key_columns: Vec<StringArray> = (1..=keys)
        .map(|i| text(batch.column(i)))
        .collect::<Result<_, _>>()?;
    let formatters: Vec<ArrayFormatter<'_>> = (0..values)
        .map(|i| ArrayFormatter::try_new(batch.column(1 + keys + i).as_ref(), &options))
        .collect::<Result<_, _>>()?;
    let rule_columns: Vec<&BooleanArray> = (0..meta.len())
        .map(|r| batch.column(1 + keys + values + r).as_boolean())
        .collect();
    // Counts per institution in this batch, folded in at the end: the shared map is touched
    // once per institution and batch rather than once per row.
    let mut counts: HashMap<&str, (i64, Vec<Tally>)> = HashMap::new();
    for row in 0..batch.num_rows() {
        let institution = institutions.value(row);
        let entry = counts
            .entry(institution)
            .or_insert_with(|| (0, vec![Tally::default(); meta.len()]));
        entry.0 += 1;
        for (r, column) in rule_columns.iter().enumerate() {
            if column.is_null(row) {
                continue;
            }
            entry.1[r].checked += 1;
            if !column.value(row) {
                continue;
            }
            entry.1[r].failed += 1;
            let m = &meta[r];
            let value = m
                .positions
                .iter()
                .map(|p| formatters[*p].value(row).to_string())
                .collect::<Vec<_>>()
                .join(", ");
            let key = key_columns
                .iter()
                .map(|k| k.value(row))
                .collect::<Vec<_>>()
                .join(" / ");
            writer.buffer(Failure {
                rule_id: m.id.to_owned(),
                rule_version: m.version,
                dataset: dataset.to_owned(),
                institution: institution.to_owned(),
                record_key: Some(key),
                field: m.fields.clone(),
                value: (!m.positions.is_empty()).then_some(value),
                found: Found::Std,
            });
        }
    }
    for (institution, (rows, per_rule)) in counts {
        *tallies.rows.entry(institution.to_owned()).or_default() += rows;
        for (r, t) in per_rule.into_iter().enumerate() {
            if t.failed > 0 && !tallies.failed_in_std.contains(meta[r].id) {
                tallies.failed_in_std.insert(meta[r].id.to_owned());
            }
            tallies.add(meta[r].id, institution, t.checked, t.failed);
        }
    }
    Ok(())
}
