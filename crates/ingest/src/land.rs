//! Landing a chunk in the lake (DESIGN.md §3): every row as received in `raw/<channel>/<table>`,
//! mapped rows MERGEd by key into `std/<dataset>`, rejected rows in `quarantine/<dataset>` with
//! the reason. Each commit carries the chunk's sequence number as a Delta application
//! transaction, so a chunk retried after a crash is never written twice.

use crate::{
    IngestError,
    mapping::{CompiledMapping, Rejection, StdValue},
    source::Position,
};
use hdos_core::standard::FieldType;
use hdos_lake::{
    AppTransaction, Lake, TableName,
    arrow::{
        array::{
            ArrayRef, BooleanBuilder, Date32Builder, Decimal128Builder, Int64Builder,
            StringBuilder, TimestampMicrosecondBuilder,
        },
        datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit},
        record_batch::RecordBatch,
    },
};
use pinyin::ToPinyin;
use std::{collections::HashMap, sync::Arc};

/// A table-name segment from any source name: ASCII letters and digits lowercased, Chinese
/// characters as pinyin, anything else `_`.
pub fn slug(name: &str) -> String {
    let mut out = String::new();
    for (c, p) in name.chars().zip(name.to_pinyin()) {
        match p {
            Some(p) => out.push_str(p.plain()),
            None if c.is_ascii_alphanumeric() => out.push(c.to_ascii_lowercase()),
            None if !out.ends_with('_') => out.push('_'),
            None => {}
        }
    }
    let trimmed = out.trim_matches('_');
    if trimmed.is_empty() {
        "t".to_owned()
    } else {
        trimmed.to_owned()
    }
}

fn utc() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn arrow_type(t: FieldType) -> DataType {
    match t {
        FieldType::Str { .. } | FieldType::Code => DataType::Utf8,
        FieldType::Int => DataType::Int64,
        FieldType::Dec { precision, scale } => DataType::Decimal128(precision, scale as i8),
        FieldType::Date => DataType::Date32,
        FieldType::Timestamp => utc(),
        FieldType::Bool => DataType::Boolean,
    }
}

/// Where one channel's table lands, and the transaction id its commits carry.
#[derive(Debug, Clone)]
pub struct Landing {
    pub raw: TableName,
    pub std: TableName,
    pub quarantine: TableName,
    pub app_id: String,
    pub channel: String,
    pub source_table: String,
    pub institution: String,
    raw_schema: SchemaRef,
    std_schema: SchemaRef,
    keys: Vec<usize>,
}

/// What landing one chunk did.
#[derive(Debug, Clone, Copy, Default)]
pub struct Landed {
    pub written: u64,
    pub quarantined: u64,
}

fn quarantine_schema() -> SchemaRef {
    let text = |n: &str, null: bool| Field::new(n, DataType::Utf8, null);
    Arc::new(Schema::new(vec![
        text("_hdos_institution", false),
        text("_hdos_source", false),
        text("source_table", false),
        Field::new("_hdos_batch", DataType::Int64, false),
        text("_hdos_position", false),
        text("field", false),
        text("value", true),
        text("reason", false),
        text("record", false),
        Field::new("_hdos_received_at", utc(), false),
    ]))
}

impl Landing {
    pub fn new(
        channel: &str,
        source_table: &str,
        institution: &str,
        columns: &[String],
        mapping: &CompiledMapping,
    ) -> Result<Self, IngestError> {
        let dataset = mapping.dataset();
        let mut raw_fields = vec![
            Field::new("_hdos_batch", DataType::Int64, false),
            Field::new("_hdos_row", DataType::Int64, false),
            Field::new("_hdos_op", DataType::Utf8, false),
            Field::new("_hdos_position", DataType::Utf8, false),
            Field::new("_hdos_received_at", utc(), false),
        ];
        raw_fields.extend(columns.iter().map(|c| Field::new(c, DataType::Utf8, true)));
        let mut std_fields: Vec<Field> = mapping
            .fields()
            .map(|(name, t)| Field::new(name, arrow_type(t), true))
            .collect();
        std_fields.extend([
            Field::new("_hdos_institution", DataType::Utf8, false),
            Field::new("_hdos_source", DataType::Utf8, false),
            Field::new("_hdos_event_time", utc(), true),
            Field::new("_hdos_ingested_at", utc(), false),
        ]);
        let keys = dataset
            .key
            .iter()
            .filter_map(|k| mapping.fields().position(|(name, _)| name == k))
            .collect();
        Ok(Self {
            raw: TableName::new(&format!("raw/{}/{}", slug(channel), slug(source_table)))?,
            std: TableName::new(&format!("std/{}", dataset.name))?,
            quarantine: TableName::new(&format!("quarantine/{}", dataset.name))?,
            app_id: format!("hdos-ingest:{channel}:{source_table}"),
            channel: channel.to_owned(),
            source_table: source_table.to_owned(),
            institution: institution.to_owned(),
            raw_schema: Arc::new(Schema::new(raw_fields)),
            std_schema: Arc::new(Schema::new(std_fields)),
            keys,
        })
    }

    /// Creates the three tables if they do not exist yet.
    pub async fn prepare(&self, lake: &Lake) -> Result<(), IngestError> {
        lake.create_table(&self.raw, &self.raw_schema).await?;
        lake.create_table(&self.std, &self.std_schema).await?;
        lake.create_table(&self.quarantine, &quarantine_schema())
            .await?;
        Ok(())
    }

    /// The last chunk committed to the raw zone, if any.
    pub async fn raw_committed(&self, lake: &Lake) -> Result<Option<i64>, IngestError> {
        Ok(lake.committed_version(&self.raw, &self.app_id).await?)
    }

    fn txn(&self, seq: i64) -> Option<AppTransaction> {
        Some(AppTransaction {
            app_id: self.app_id.clone(),
            version: seq,
        })
    }

    /// Appends the chunk as received to the raw zone (skipped if `seq` is already there).
    pub async fn append_raw(
        &self,
        lake: &Lake,
        seq: i64,
        rows: &[Vec<Option<String>>],
        positions: &[Position],
        received_at: i64,
    ) -> Result<(), IngestError> {
        let n = rows.len();
        let mut cols: Vec<ArrayRef> = vec![
            int64s((0..n).map(|_| seq)),
            int64s(0..n as i64),
            texts((0..n).map(|_| Some("r"))),
            texts(positions.iter().map(|p| Some(p.encode()))),
            Arc::new(timestamps((0..n).map(|_| Some(received_at)))),
        ];
        let width = self.raw_schema.fields().len() - cols.len();
        for c in 0..width {
            cols.push(texts(
                rows.iter().map(|r| r.get(c).and_then(Option::as_deref)),
            ));
        }
        let batch = RecordBatch::try_new(self.raw_schema.clone(), cols)
            .map_err(hdos_lake::LakeError::from)?;
        lake.append(&self.raw, vec![batch], self.txn(seq)).await?;
        Ok(())
    }

    /// Maps the chunk, MERGEs the mapped rows into the std zone and appends the rejected ones to
    /// quarantine; both commits are skipped if `seq` is already there.
    pub async fn land_mapped(
        &self,
        lake: &Lake,
        mapping: &CompiledMapping,
        seq: i64,
        rows: &[Vec<Option<String>>],
        positions: &[Position],
        received_at: i64,
    ) -> Result<Landed, IngestError> {
        let mut mapped: Vec<(Vec<StdValue>, Option<i64>)> = Vec::with_capacity(rows.len());
        let mut rejected: Vec<(usize, Rejection)> = Vec::new();
        for (i, row) in rows.iter().enumerate() {
            match mapping.apply(row, &self.institution) {
                Ok(values) => {
                    let event = mapping.event_time(&values);
                    mapped.push((values, event));
                }
                Err(r) => rejected.push((i, r)),
            }
        }
        // A key seen twice in one chunk keeps its last row (rows come in cursor order), since
        // a MERGE may not match one target row twice.
        let mut last: HashMap<Vec<&StdValue>, usize> = HashMap::new();
        for (i, (values, _)) in mapped.iter().enumerate() {
            last.insert(self.keys.iter().map(|k| &values[*k]).collect(), i);
        }
        let mut keep: Vec<usize> = last.into_values().collect();
        keep.sort_unstable();
        let landed = Landed {
            written: keep.len() as u64,
            quarantined: rejected.len() as u64,
        };
        if !keep.is_empty() {
            let batch = self.std_batch(
                &keep.iter().map(|i| &mapped[*i]).collect::<Vec<_>>(),
                received_at,
            )?;
            let keys: Vec<&str> = self
                .keys
                .iter()
                .map(|k| self.std_schema.field(*k).name().as_str())
                .collect();
            lake.merge(&self.std, vec![batch], &keys, self.txn(seq))
                .await?;
        }
        if !rejected.is_empty() {
            let batch = self.quarantine_batch(seq, rows, positions, &rejected, received_at)?;
            lake.append(&self.quarantine, vec![batch], self.txn(seq))
                .await?;
        }
        Ok(landed)
    }

    fn std_batch(
        &self,
        rows: &[&(Vec<StdValue>, Option<i64>)],
        ingested_at: i64,
    ) -> Result<RecordBatch, IngestError> {
        let schema = &self.std_schema;
        let width = schema.fields().len() - 4;
        let mut cols: Vec<ArrayRef> = Vec::with_capacity(width + 4);
        for c in 0..width {
            cols.push(column(
                schema.field(c).data_type(),
                rows.iter().map(|r| &r.0[c]),
            )?);
        }
        let n = rows.len();
        cols.push(texts((0..n).map(|_| Some(self.institution.as_str()))));
        cols.push(texts((0..n).map(|_| Some(self.channel.as_str()))));
        cols.push(Arc::new(timestamps(rows.iter().map(|r| r.1))));
        cols.push(Arc::new(timestamps((0..n).map(|_| Some(ingested_at)))));
        Ok(RecordBatch::try_new(schema.clone(), cols).map_err(hdos_lake::LakeError::from)?)
    }

    fn quarantine_batch(
        &self,
        seq: i64,
        rows: &[Vec<Option<String>>],
        positions: &[Position],
        rejected: &[(usize, Rejection)],
        received_at: i64,
    ) -> Result<RecordBatch, IngestError> {
        let columns: Vec<&str> = self.raw_schema.fields()[5..]
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        let n = rejected.len();
        let each =
            |f: &dyn Fn(&(usize, Rejection)) -> Option<String>| texts(rejected.iter().map(f));
        let record = |i: usize| -> String {
            let fields: serde_json::Map<String, serde_json::Value> = columns
                .iter()
                .zip(&rows[i])
                .map(|(c, v)| {
                    let v = v
                        .clone()
                        .map_or(serde_json::Value::Null, serde_json::Value::String);
                    ((*c).to_owned(), v)
                })
                .collect();
            serde_json::Value::Object(fields).to_string()
        };
        let cols: Vec<ArrayRef> = vec![
            texts((0..n).map(|_| Some(self.institution.as_str()))),
            texts((0..n).map(|_| Some(self.channel.as_str()))),
            texts((0..n).map(|_| Some(self.source_table.as_str()))),
            int64s((0..n).map(|_| seq)),
            each(&|(i, _)| positions.get(*i).map(Position::encode)),
            each(&|(_, r)| Some(r.field.clone())),
            each(&|(_, r)| r.value.clone()),
            each(&|(_, r)| Some(r.reason.clone())),
            each(&|(i, _)| Some(record(*i))),
            Arc::new(timestamps((0..n).map(|_| Some(received_at)))),
        ];
        Ok(RecordBatch::try_new(quarantine_schema(), cols).map_err(hdos_lake::LakeError::from)?)
    }
}

fn int64s(values: impl Iterator<Item = i64>) -> ArrayRef {
    let mut b = Int64Builder::new();
    values.for_each(|v| b.append_value(v));
    Arc::new(b.finish())
}

fn texts<S: AsRef<str>>(values: impl Iterator<Item = Option<S>>) -> ArrayRef {
    let mut b = StringBuilder::new();
    values.for_each(|v| b.append_option(v));
    Arc::new(b.finish())
}

fn timestamps(
    values: impl Iterator<Item = Option<i64>>,
) -> hdos_lake::arrow::array::TimestampMicrosecondArray {
    let mut b = TimestampMicrosecondBuilder::new().with_timezone("UTC");
    for v in values {
        b.append_option(v);
    }
    b.finish()
}

/// One std column from mapped values of its type.
fn column<'a>(
    t: &DataType,
    values: impl Iterator<Item = &'a StdValue>,
) -> Result<ArrayRef, IngestError> {
    Ok(match t {
        DataType::Utf8 => {
            let mut b = StringBuilder::new();
            values.for_each(|v| match v {
                StdValue::Text(s) => b.append_value(s),
                _ => b.append_null(),
            });
            Arc::new(b.finish())
        }
        DataType::Int64 => {
            let mut b = Int64Builder::new();
            values.for_each(|v| {
                b.append_option(if let StdValue::Int(i) = v {
                    Some(*i)
                } else {
                    None
                })
            });
            Arc::new(b.finish())
        }
        DataType::Decimal128(p, s) => {
            let mut b = Decimal128Builder::new();
            values.for_each(|v| {
                b.append_option(if let StdValue::Decimal(d) = v {
                    Some(*d)
                } else {
                    None
                })
            });
            Arc::new(
                b.finish()
                    .with_precision_and_scale(*p, *s)
                    .map_err(hdos_lake::LakeError::from)?,
            )
        }
        DataType::Date32 => {
            let mut b = Date32Builder::new();
            values.for_each(|v| {
                b.append_option(if let StdValue::Date(d) = v {
                    Some(*d)
                } else {
                    None
                })
            });
            Arc::new(b.finish())
        }
        DataType::Boolean => {
            let mut b = BooleanBuilder::new();
            values.for_each(|v| {
                b.append_option(if let StdValue::Bool(x) = v {
                    Some(*x)
                } else {
                    None
                })
            });
            Arc::new(b.finish())
        }
        _ => Arc::new(timestamps(values.map(|v| {
            if let StdValue::Timestamp(t) = v {
                Some(*t)
            } else {
                None
            }
        }))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_source_name_becomes_a_table_segment() {
        assert_eq!(slug("BRXX"), "brxx");
        assert_eq!(slug("患者信息"), "huanzhexinxi");
        assert_eq!(slug("pat master-index"), "pat_master_index");
        assert_eq!(slug("--"), "t");
    }
}
