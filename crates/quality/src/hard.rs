//! Hard rules refuse records: a std row failing one moves to its dataset's quarantine, as a record
//! collection refuses does, with the rules it failed. The move is two commits, a copy into
//! quarantine and then a delete from std of the rows with the copied key and arrival stamp, and
//! a crash may come between them. A copy is never made twice (rows already copied are left out
//! of the next copy), and every run first finishes the deletes of every dataset's copies still
//! in std.

use crate::{
    QualityError,
    compile::{KEY_COLUMN, ScanPlan, key_text},
    evaluate,
    rule::Rule,
};
use futures::StreamExt;
use hdos_core::standard::Dataset;
use hdos_lake::{
    Lake, TableName,
    arrow::{
        array::{Array, ArrayRef, AsArray, Int64Array, StringArray, TimestampMicrosecondArray},
        compute::cast,
        datatypes::{DataType, Field, Schema, SchemaRef},
        record_batch::RecordBatch,
        util::display::{ArrayFormatter, FormatOptions},
    },
    standard::utc,
};
use std::sync::Arc;

pub use hdos_ingest::land::MOVED_BY_RULE as MOVED_BY;

/// Rows gathered before a quarantine commit.
const COPY_ROWS: usize = 50_000;

fn quarantine(dataset: &str) -> Result<TableName, QualityError> {
    Ok(TableName::new(&format!("quarantine/{dataset}"))?)
}

fn std_table(dataset: &str) -> Result<TableName, QualityError> {
    Ok(TableName::new(&format!("std/{dataset}"))?)
}

/// Collection's quarantine columns, then the rules and the record's event time.
fn moved_schema() -> SchemaRef {
    let mut fields: Vec<Field> = hdos_ingest::land::quarantine_schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new(MOVED_BY, DataType::Utf8, true));
    fields.push(Field::new("_hdos_event_time", utc(), true));
    Arc::new(Schema::new(fields))
}

/// Whether `table` has the column quality control's moves add.
async fn has_moves(lake: &Lake, table: &TableName) -> Result<bool, QualityError> {
    Ok(lake.exists(table).await? && lake.schema(table).await?.field_with_name(MOVED_BY).is_ok())
}

/// Copies the std rows failing `rules` (the hard ones `plan` was built from, in its order) into
/// quarantine, leaving out those already there. Returns how many were copied.
pub async fn copy(
    lake: &Lake,
    dataset: &Dataset,
    plan: &ScanPlan,
    rules: &[&Rule],
    run_id: i64,
) -> Result<u64, QualityError> {
    let target = quarantine(&dataset.name)?;
    lake.create_table(&target, &hdos_ingest::land::quarantine_schema())
        .await?;
    let mut tables = plan.tables.clone();
    let moved = has_moves(lake, &target).await?;
    if moved {
        tables.push(target.clone());
    }
    let sql = plan.failing_rows_sql(moved.then_some(&target));
    let mut stream = lake.query_stream(&tables, &sql).await?;
    let mut pending: Vec<RecordBatch> = Vec::new();
    let (mut rows, mut copied) = (0, 0);
    while let Some(batch) = stream.next().await {
        let batch = as_quarantine(&batch?, dataset, rules, run_id)?;
        rows += batch.num_rows();
        pending.push(batch);
        if rows >= COPY_ROWS {
            copied += rows as u64;
            lake.append_widening(&target, std::mem::take(&mut pending), None)
                .await?;
            rows = 0;
        }
    }
    if rows > 0 {
        copied += rows as u64;
        lake.append_widening(&target, pending, None).await?;
    }
    Ok(copied)
}

/// Deletes from std the rows copied to quarantine that are still there: the same key and the
/// same arrival stamp (a version collected since has another stamp and stays). A crash between
/// a copy and its delete leaves such rows; the delete can be repeated safely, since a stamp never
/// comes back. Returns how many were deleted.
pub async fn finish(lake: &Lake, dataset: &Dataset) -> Result<u64, QualityError> {
    let (source, target) = (quarantine(&dataset.name)?, std_table(&dataset.name)?);
    if !has_moves(lake, &source).await? || !lake.exists(&target).await? {
        return Ok(0);
    }
    let mut columns: Vec<&str> = dataset.key.iter().map(String::as_str).collect();
    columns.push("_hdos_ingested_at");
    let select: Vec<String> = columns.iter().map(|c| format!("t.\"{c}\"")).collect();
    let sql = format!(
        "SELECT {} FROM {} t JOIN (SELECT DISTINCT record_key, \"_hdos_received_at\" FROM {} \
         WHERE \"{MOVED_BY}\" IS NOT NULL) m ON m.record_key = {} \
         AND m.\"_hdos_received_at\" = t.\"_hdos_ingested_at\"",
        select.join(", "),
        target.sql_name(),
        source.sql_name(),
        key_text(&dataset.key)
    );
    // A delete refused by a concurrent collection commit is run again by the lake; if it still
    // fails, the run fails and the next one finishes it.
    let found = lake.query(&[target.clone(), source.clone()], &sql).await?;
    Ok(lake.delete_matching(&target, found, &columns).await?)
}

/// Quarantine rows for a batch of failing std rows.
fn as_quarantine(
    batch: &RecordBatch,
    dataset: &Dataset,
    rules: &[&Rule],
    run_id: i64,
) -> Result<RecordBatch, QualityError> {
    let n = batch.num_rows();
    let std_columns = batch.num_columns() - 1 - rules.len();
    let schema = batch.schema();
    let options = FormatOptions::default().with_null("");
    let formatters: Vec<ArrayFormatter<'_>> = (0..std_columns)
        .map(|i| ArrayFormatter::try_new(batch.column(i).as_ref(), &options))
        .collect::<Result<_, _>>()?;
    let column = |name: &str| -> Result<&ArrayRef, QualityError> {
        batch
            .column_by_name(name)
            .ok_or_else(|| QualityError::Run(format!("the failing rows lack `{name}`")))
    };
    let position = |name: &str| schema.index_of(name).ok().filter(|i| *i < std_columns);
    let institution = evaluate::text(column("_hdos_institution")?)?;
    let channel = evaluate::text(column("_hdos_source")?)?;
    let key = evaluate::text(column(KEY_COLUMN)?)?;
    let arrived = cast(column("_hdos_ingested_at")?, &utc())?;
    let event = match batch.column_by_name("_hdos_event_time") {
        Some(c) => cast(c, &utc())?,
        None => Arc::new(TimestampMicrosecondArray::new_null(n).with_timezone("UTC")),
    };
    let failed: Vec<_> = (0..rules.len())
        .map(|r| batch.column(std_columns + 1 + r).as_boolean())
        .collect();
    let (mut fields, mut values, mut reasons, mut records, mut ids) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for row in 0..n {
        let broken: Vec<&Rule> = rules
            .iter()
            .zip(&failed)
            .filter(|(_, c)| c.is_valid(row) && c.value(row))
            .map(|(r, _)| *r)
            .collect();
        // The scan's filter keeps only rows failing at least one rule.
        let read: Vec<&str> = broken.first().map(|r| r.check.fields()).unwrap_or_default();
        fields.push(Some(read.join(", ")));
        values.push((!read.is_empty()).then(|| {
            read.iter()
                .map(|f| position(f).map(|i| formatters[i].value(row).to_string()))
                .map(Option::unwrap_or_default)
                .collect::<Vec<_>>()
                .join(", ")
        }));
        reasons.push(Some(
            broken
                .iter()
                .map(|r| format!("failed hard quality rule `{}`: {}", r.id, r.name))
                .collect::<Vec<_>>()
                .join("; "),
        ));
        let mut record = serde_json::Map::new();
        for (i, f) in formatters.iter().enumerate() {
            if batch.column(i).is_valid(row) {
                let value = f.value(row).to_string();
                record.insert(schema.field(i).name().clone(), value.into());
            }
        }
        records.push(Some(serde_json::Value::Object(record).to_string()));
        ids.push(Some(
            broken
                .iter()
                .map(|r| r.id.as_str())
                .collect::<Vec<_>>()
                .join(","),
        ));
    }
    let same = |v: &str| -> ArrayRef { Arc::new(StringArray::from(vec![v; n])) };
    let columns: Vec<ArrayRef> = vec![
        Arc::new(institution),
        Arc::new(channel),
        same(&format!("std/{}", dataset.name)),
        Arc::new(Int64Array::from(vec![run_id; n])),
        Arc::new(key.clone()),
        Arc::new(StringArray::from(fields)),
        Arc::new(StringArray::from(values)),
        Arc::new(StringArray::from(reasons)),
        Arc::new(StringArray::from(records)),
        arrived,
        Arc::new(key),
        Arc::new(StringArray::from(ids)),
        event,
    ];
    Ok(RecordBatch::try_new(moved_schema(), columns)?)
}
