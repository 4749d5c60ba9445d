//! Every failing record of a run, kept in the lake table `quality/failures` with its key, rule,
//! rule version and offending value: no cap. A failed run's rows stay but are never read, since
//! readers join on succeeded runs.

use crate::QualityError;
use hdos_lake::{
    Lake, TableName,
    arrow::{
        array::{ArrayRef, Int64Array, StringArray, TimestampMicrosecondArray},
        datatypes::{DataType, Field, Schema, SchemaRef},
        record_batch::RecordBatch,
    },
    standard::utc,
};
use std::sync::Arc;

/// The lake table of failing records.
pub const FAILURES_TABLE: &str = "quality/failures";

/// Rows buffered before an append: bounded memory however many records fail.
const FLUSH_ROWS: usize = 100_000;

/// Where a failing record was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// In the std zone, by the run's scan.
    Std,
    /// Refused at collection (in quarantine).
    Quarantine,
}

impl Found {
    pub fn name(self) -> &'static str {
        match self {
            Self::Std => "std",
            Self::Quarantine => "quarantine",
        }
    }
}

/// One failing record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub rule_id: String,
    pub rule_version: i64,
    pub dataset: String,
    pub institution: String,
    /// The record's key values joined by ` / `, when known.
    pub record_key: Option<String>,
    /// The fields the rule read, joined by `, `.
    pub field: String,
    pub value: Option<String>,
    pub found: Found,
}

pub fn schema() -> SchemaRef {
    let text = |n: &str, null: bool| Field::new(n, DataType::Utf8, null);
    Arc::new(Schema::new(vec![
        Field::new("run_id", DataType::Int64, false),
        text("rule_id", false),
        Field::new("rule_version", DataType::Int64, false),
        text("dataset", false),
        text("institution", false),
        text("record_key", true),
        text("field", false),
        text("value", true),
        text("found", false),
        Field::new("checked_at", utc(), false),
    ]))
}

pub fn table() -> TableName {
    TableName::new(FAILURES_TABLE).unwrap_or_else(|_| unreachable!("a valid table name"))
}

/// Buffers a run's failures and appends them in large batches.
pub struct FailureWriter<'a> {
    lake: &'a Lake,
    run_id: i64,
    checked_at: i64,
    buffer: Vec<Failure>,
    written: u64,
}

impl<'a> FailureWriter<'a> {
    pub async fn new(lake: &'a Lake, run_id: i64, checked_at: i64) -> Result<Self, QualityError> {
        lake.create_table(&table(), &schema()).await?;
        Ok(Self {
            lake,
            run_id,
            checked_at,
            buffer: Vec::new(),
            written: 0,
        })
    }

    /// Whether the buffer is full: the caller should `flush` at its next await point.
    pub fn is_full(&self) -> bool {
        self.buffer.len() >= FLUSH_ROWS
    }

    /// Buffers a failure; the caller flushes when [`Self::is_full`].
    pub fn buffer(&mut self, failure: Failure) {
        self.buffer.push(failure);
    }

    pub async fn flush(&mut self) -> Result<(), QualityError> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(&mut self.buffer);
        let n = rows.len();
        let text = |f: &dyn Fn(&Failure) -> Option<&str>| -> ArrayRef {
            Arc::new(rows.iter().map(f).collect::<StringArray>())
        };
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(vec![self.run_id; n])),
            text(&|r| Some(&r.rule_id)),
            Arc::new(
                rows.iter()
                    .map(|r| Some(r.rule_version))
                    .collect::<Int64Array>(),
            ),
            text(&|r| Some(&r.dataset)),
            text(&|r| Some(&r.institution)),
            text(&|r| r.record_key.as_deref()),
            text(&|r| Some(&r.field)),
            text(&|r| r.value.as_deref()),
            text(&|r| Some(r.found.name())),
            Arc::new(
                TimestampMicrosecondArray::from(vec![self.checked_at; n]).with_timezone("UTC"),
            ),
        ];
        let batch = RecordBatch::try_new(schema(), columns)?;
        self.lake.append(&table(), vec![batch], None).await?;
        self.written += n as u64;
        Ok(())
    }

    /// Failures written so far (after the last flush).
    pub fn written(&self) -> u64 {
        self.written
    }
}
