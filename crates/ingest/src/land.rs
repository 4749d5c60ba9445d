//! Landing a chunk in the lake (DESIGN.md §3): every row as received in `raw/<channel>/<table>`,
//! mapped rows MERGEd by key into `std/<dataset>`, rejected rows in `quarantine/<dataset>` with
//! the reason. Each commit carries the chunk's sequence number as a Delta application
//! transaction, so a chunk retried after a crash is never written twice.

use crate::{
    IngestError,
    mapping::{CompiledMapping, Rejection, StdValue},
    source::{Position, Rejected},
};
use hdos_lake::{
    AppTransaction, Lake, TableName,
    arrow::{
        array::{
            ArrayRef, BooleanBuilder, Date32Builder, Decimal128Builder, Int64Builder,
            StringBuilder, TimestampMicrosecondBuilder,
        },
        datatypes::{DataType, Field, Schema, SchemaRef},
        record_batch::RecordBatch,
    },
    standard::{column_type, provenance_columns},
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

pub(crate) use hdos_lake::standard::utc;

/// Where mapped records land: the std table MERGEd by the dataset's key and its quarantine,
/// with the transaction id their commits carry.
#[derive(Debug, Clone)]
pub struct StdLanding {
    pub table: TableName,
    pub quarantine: TableName,
    pub app_id: String,
    pub channel: String,
    pub source_table: String,
    pub institution: String,
    /// The source's column names, for the record kept with each quarantined row.
    columns: Vec<String>,
    std_schema: SchemaRef,
    keys: Vec<usize>,
}

/// Where one channel's table lands: the raw zone as received, then [`StdLanding`].
#[derive(Debug, Clone)]
pub struct Landing {
    pub raw: TableName,
    raw_schema: SchemaRef,
    pub mapped: StdLanding,
}

/// What landing one chunk did.
#[derive(Debug, Clone, Copy, Default)]
pub struct Landed {
    pub written: u64,
    pub deleted: u64,
    pub quarantined: u64,
}

/// How mapped rows reach the std table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StdWrite {
    /// MERGEd by key: a row replaces the std row of its key.
    Merge,
    /// Appended without reading the table: for a source table's first load, whose keys are
    /// made unique once at its end ([`StdLanding::supersede_duplicates`]). A MERGE reads the
    /// std table's files for every chunk, which made it most of a first load's time.
    Append,
}

/// A chunk's rows as mapped: the changes to land and the rows refused with their reason.
pub type Mapped = (Vec<StdChange>, Vec<Quarantined>);

/// One change to the std zone: a mapped row to write, or a row (key fields set) to delete.
#[derive(Debug, Clone, PartialEq)]
pub enum StdChange {
    Upsert(Vec<StdValue>),
    Delete(Vec<StdValue>),
}

impl StdChange {
    fn values(&self) -> &Vec<StdValue> {
        match self {
            Self::Upsert(v) | Self::Delete(v) => v,
        }
    }
}

/// The column of a std MERGE's source rows that marks deletions; it is not stored.
const DELETED: &str = "_hdos_deleted";

/// `batch` with a boolean column `name` added.
fn with_flag(
    batch: RecordBatch,
    name: &str,
    values: impl Iterator<Item = bool>,
) -> Result<RecordBatch, IngestError> {
    let mut fields: Vec<Field> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new(name, DataType::Boolean, false));
    let mut flags = BooleanBuilder::new();
    values.for_each(|v| flags.append_value(v));
    let mut columns = batch.columns().to_vec();
    columns.push(Arc::new(flags.finish()));
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        .map_err(hdos_lake::LakeError::from)?)
}

/// The quarantine column naming the hard quality rules a record failed when quality control
/// moved it there from the std zone (null for collection's own refusals).
pub const MOVED_BY_RULE: &str = "moved_by_rule";

/// The columns collection writes to a quarantine table (quality control adds its own when it
/// moves a record there).
pub fn quarantine_schema() -> SchemaRef {
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
        // The record's standard key (values joined by ` / `), when it could be mapped.
        text("record_key", true),
    ]))
}

/// The transaction a commit of `seq` by `app_id` carries.
pub fn txn(app_id: &str, seq: i64) -> Option<AppTransaction> {
    Some(AppTransaction {
        app_id: app_id.to_owned(),
        version: seq,
    })
}

impl StdLanding {
    pub fn new(
        channel: &str,
        source_table: &str,
        institution: &str,
        columns: &[String],
        mapping: &CompiledMapping,
    ) -> Result<Self, IngestError> {
        let dataset = mapping.dataset();
        let mut std_fields: Vec<Field> = mapping
            .fields()
            .map(|(name, t)| Field::new(name, column_type(t), true))
            .collect();
        std_fields.extend(provenance_columns());
        let keys = dataset
            .key
            .iter()
            .filter_map(|k| mapping.fields().position(|(name, _)| name == k))
            .collect();
        Ok(Self {
            table: TableName::new(&format!("std/{}", dataset.name))?,
            quarantine: TableName::new(&format!("quarantine/{}", dataset.name))?,
            app_id: format!("hdos-ingest:{channel}:{source_table}"),
            channel: channel.to_owned(),
            source_table: source_table.to_owned(),
            institution: institution.to_owned(),
            columns: columns.to_vec(),
            std_schema: Arc::new(Schema::new(std_fields)),
            keys,
        })
    }

    /// Creates the std and quarantine tables if they do not exist yet.
    pub async fn prepare(&self, lake: &Lake) -> Result<(), IngestError> {
        lake.create_table(&self.table, &self.std_schema).await?;
        lake.create_table(&self.quarantine, &quarantine_schema())
            .await?;
        Ok(())
    }

    /// The last batch this landing committed to the std table, if any.
    pub async fn committed(&self, lake: &Lake) -> Result<Option<i64>, IngestError> {
        Ok(lake.committed_version(&self.table, &self.app_id).await?)
    }

    /// Maps rows read from a source's current state; a rejected row is quarantined with its
    /// columns as the record, and of two rows with one key the earlier. `position` names where
    /// row `i` came from.
    pub fn map_read(
        &self,
        mapping: &CompiledMapping,
        rows: &[Vec<Option<String>>],
        position: &(dyn Fn(usize) -> String + Sync),
    ) -> Mapped {
        self.map_rows(mapping, rows, &[], position, true)
    }

    /// Maps a change stream's rows, deletions (`deleted[i]`, false when absent) by their key
    /// alone, then lands them (see [`Self::land_changes`]).
    #[allow(clippy::too_many_arguments)]
    pub async fn land_mapped_changes(
        &self,
        lake: &Lake,
        mapping: &CompiledMapping,
        seq: i64,
        rows: &[Vec<Option<String>>],
        deleted: &[bool],
        position: &(dyn Fn(usize) -> String + Sync),
        received_at: i64,
    ) -> Result<Landed, IngestError> {
        let (changes, rejected) = self.map_rows(mapping, rows, deleted, position, false);
        self.land_changes(
            lake,
            mapping,
            seq,
            (changes, rejected),
            received_at,
            StdWrite::Merge,
        )
        .await
    }

    /// Maps rows to changes and refusals. With `refuse_duplicates` (a read of the source's
    /// current rows, where one key must appear once), an earlier row whose key appears again is
    /// quarantined as a duplicate and the later one kept.
    fn map_rows(
        &self,
        mapping: &CompiledMapping,
        rows: &[Vec<Option<String>>],
        deleted: &[bool],
        position: &(dyn Fn(usize) -> String + Sync),
        refuse_duplicates: bool,
    ) -> (Vec<StdChange>, Vec<Quarantined>) {
        let mut changes: Vec<Option<StdChange>> = Vec::with_capacity(rows.len());
        let mut rejected = Vec::new();
        let mut seen: HashMap<Vec<StdValue>, (usize, usize)> = HashMap::new();
        for (i, row) in rows.iter().enumerate() {
            let gone = deleted.get(i).copied().unwrap_or(false);
            let mapped = if gone {
                mapping
                    .apply_key(row, &self.institution)
                    .map(StdChange::Delete)
            } else {
                mapping.apply(row, &self.institution).map(StdChange::Upsert)
            };
            match mapped {
                Ok(change) => {
                    if refuse_duplicates {
                        let key = self.key_of(change.values());
                        if let Some((earlier, row_at)) = seen.insert(key, (changes.len(), i)) {
                            changes[earlier] = None;
                            rejected.push(self.duplicate(&rows[row_at], position(row_at), &change));
                        }
                    }
                    changes.push(Some(change));
                }
                Err(rejection) => rejected.push(Quarantined {
                    position: position(i),
                    key: mapping
                        .apply_key(row, &self.institution)
                        .ok()
                        .map(|v| self.key_text(&v)),
                    rejection,
                    record: self.record_json(row),
                }),
            }
        }
        (changes.into_iter().flatten().collect(), rejected)
    }

    fn key_of(&self, values: &[StdValue]) -> Vec<StdValue> {
        self.keys.iter().map(|k| values[*k].clone()).collect()
    }

    /// The key of a mapped row as text: its values in key order, joined by ` / `.
    fn key_text(&self, values: &[StdValue]) -> String {
        self.keys
            .iter()
            .map(|k| values[*k].to_string())
            .collect::<Vec<_>>()
            .join(" / ")
    }

    /// The quarantine record of a row superseded by a later row with the same key.
    fn duplicate(
        &self,
        row: &[Option<String>],
        position: String,
        later: &StdChange,
    ) -> Quarantined {
        let names: Vec<&str> = self
            .keys
            .iter()
            .map(|k| self.std_schema.field(*k).name().as_str())
            .collect();
        let key = self.key_text(later.values());
        Quarantined {
            position,
            rejection: Rejection {
                field: names.join(", "),
                value: Some(key.clone()),
                reason: DUPLICATE_KEY.to_owned(),
            },
            key: Some(key),
            record: self.record_json(row),
        }
    }

    fn record_json(&self, row: &[Option<String>]) -> String {
        let fields: serde_json::Map<String, serde_json::Value> = self
            .columns
            .iter()
            .zip(row)
            .map(|(c, v)| {
                let v = v
                    .clone()
                    .map_or(serde_json::Value::Null, serde_json::Value::String);
                (c.clone(), v)
            })
            .collect();
        serde_json::Value::Object(fields).to_string()
    }

    /// Writes mapped rows to the std zone as `write` says and appends rejected ones to
    /// quarantine; both commits are skipped if `seq` is already there. With deletions among the
    /// rows, in source order, the last change of each key decides whether its row is written or
    /// deleted (deletions need [`StdWrite::Merge`]).
    pub async fn land_changes(
        &self,
        lake: &Lake,
        mapping: &CompiledMapping,
        seq: i64,
        (changes, rejected): Mapped,
        received_at: i64,
        write: StdWrite,
    ) -> Result<Landed, IngestError> {
        // A key seen twice in one batch keeps its last change, since a MERGE may not match one
        // target row twice.
        let mut last: HashMap<Vec<&StdValue>, usize> = HashMap::new();
        for (i, change) in changes.iter().enumerate() {
            let values = change.values();
            last.insert(self.keys.iter().map(|k| &values[*k]).collect(), i);
        }
        let mut keep: Vec<usize> = last.into_values().collect();
        keep.sort_unstable();
        let deletes = keep
            .iter()
            .filter(|i| matches!(changes[**i], StdChange::Delete(_)))
            .count() as u64;
        let landed = Landed {
            written: keep.len() as u64 - deletes,
            deleted: deletes,
            quarantined: rejected.len() as u64,
        };
        if !keep.is_empty() {
            let rows: Vec<(&Vec<StdValue>, Option<i64>)> = keep
                .iter()
                .map(|i| {
                    let values = changes[*i].values();
                    (values, mapping.event_time(values))
                })
                .collect();
            let mut batch = self.std_batch(&rows, received_at)?;
            let keys: Vec<&str> = self
                .keys
                .iter()
                .map(|k| self.std_schema.field(*k).name().as_str())
                .collect();
            if write == StdWrite::Append && deletes == 0 {
                lake.append(&self.table, vec![batch], txn(&self.app_id, seq))
                    .await?;
                tracing::debug!(table = %self.table, seq, rows = keep.len(), "std append");
                return self
                    .quarantine_rejected(lake, &self.app_id, seq, &rejected, received_at)
                    .await
                    .map(|()| landed);
            }
            let flag = if deletes > 0 {
                let deleted = keep
                    .iter()
                    .map(|i| matches!(changes[*i], StdChange::Delete(_)));
                batch = with_flag(batch, DELETED, deleted)?;
                Some(DELETED)
            } else {
                None
            };
            let stats = lake
                .merge_changes(
                    &self.table,
                    vec![batch],
                    &keys,
                    flag,
                    txn(&self.app_id, seq),
                )
                .await?;
            tracing::debug!(table = %self.table, seq, ?stats, "std MERGE");
        }
        self.quarantine_rejected(lake, &self.app_id, seq, &rejected, received_at)
            .await?;
        Ok(landed)
    }

    /// Appends rejected rows to quarantine under the transaction `app_id`'s `seq` (skipped if
    /// already there).
    async fn quarantine_rejected(
        &self,
        lake: &Lake,
        app_id: &str,
        seq: i64,
        rejected: &[Quarantined],
        received_at: i64,
    ) -> Result<(), IngestError> {
        if rejected.is_empty() {
            return Ok(());
        }
        let batch = quarantine_batch(
            &self.institution,
            &self.channel,
            &self.source_table,
            seq,
            rejected,
            received_at,
        )?;
        lake.append_widening(&self.quarantine, vec![batch], txn(app_id, seq))
            .await?;
        Ok(())
    }

    /// After a load appended with [`StdWrite::Append`]: of the std rows this institution holds
    /// more than once under one key (a key repeated across chunks, or a row collected before),
    /// all but the newest are deleted, as MERGEs would have replaced them. Returns how many.
    pub async fn supersede_duplicates(&self, lake: &Lake) -> Result<u64, IngestError> {
        let keys: Vec<String> = self
            .keys
            .iter()
            .map(|k| format!("\"{}\"", self.std_schema.field(*k).name()))
            .collect();
        let of = |alias: &str| {
            keys.iter()
                .map(|k| format!("{alias}.{k}"))
                .collect::<Vec<_>>()
        };
        let same: Vec<String> = of("s")
            .iter()
            .zip(of("d"))
            .map(|(s, d)| format!("{s} = {d}"))
            .collect();
        let table = self.table.sql_name();
        let institution = self.institution.replace('\'', "''");
        let sql = format!(
            "WITH d AS (SELECT {k}, max(\"_hdos_ingested_at\") AS newest FROM {table} \
             WHERE \"_hdos_institution\" = '{institution}' GROUP BY {k} HAVING count(*) > 1) \
             SELECT {sk}, s.\"_hdos_ingested_at\" FROM {table} s JOIN d ON {same} \
             WHERE s.\"_hdos_ingested_at\" < d.newest",
            k = keys.join(", "),
            sk = of("s").join(", "),
            same = same.join(" AND "),
        );
        let mut columns: Vec<&str> = self
            .keys
            .iter()
            .map(|k| self.std_schema.field(*k).name().as_str())
            .collect();
        columns.push("_hdos_ingested_at");
        let older = lake.query(std::slice::from_ref(&self.table), &sql).await?;
        Ok(lake.delete_matching(&self.table, older, &columns).await?)
    }

    fn std_batch(
        &self,
        rows: &[(&Vec<StdValue>, Option<i64>)],
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
}

/// Why a row superseded by a later row with the same key in one read was quarantined.
pub const DUPLICATE_KEY: &str =
    "duplicate key: the source holds another row with this key; the later row was kept";

/// A record that could not be mapped: where it came from, why, the record itself, and its
/// standard key when that much could be mapped.
#[derive(Debug, Clone)]
pub struct Quarantined {
    pub position: String,
    pub rejection: Rejection,
    pub record: String,
    pub key: Option<String>,
}

/// Quarantine rows for `rejected`, as the quarantine tables hold them.
pub(crate) fn quarantine_batch(
    institution: &str,
    channel: &str,
    source_table: &str,
    seq: i64,
    rejected: &[Quarantined],
    received_at: i64,
) -> Result<RecordBatch, IngestError> {
    let n = rejected.len();
    let each = |f: &dyn Fn(&Quarantined) -> Option<String>| texts(rejected.iter().map(f));
    let cols: Vec<ArrayRef> = vec![
        texts((0..n).map(|_| Some(institution))),
        texts((0..n).map(|_| Some(channel))),
        texts((0..n).map(|_| Some(source_table))),
        int64s((0..n).map(|_| seq)),
        each(&|q| Some(q.position.clone())),
        each(&|q| Some(q.rejection.field.clone())),
        each(&|q| q.rejection.value.clone()),
        each(&|q| Some(q.rejection.reason.clone())),
        each(&|q| Some(q.record.clone())),
        Arc::new(timestamps((0..n).map(|_| Some(received_at)))),
        each(&|q| q.key.clone()),
    ];
    Ok(RecordBatch::try_new(quarantine_schema(), cols).map_err(hdos_lake::LakeError::from)?)
}

impl Landing {
    pub fn new(
        channel: &str,
        source_table: &str,
        institution: &str,
        columns: &[String],
        mapping: &CompiledMapping,
    ) -> Result<Self, IngestError> {
        let mut raw_fields = vec![
            Field::new("_hdos_batch", DataType::Int64, false),
            Field::new("_hdos_row", DataType::Int64, false),
            Field::new("_hdos_op", DataType::Utf8, false),
            Field::new("_hdos_position", DataType::Utf8, false),
            Field::new("_hdos_received_at", utc(), false),
        ];
        raw_fields.extend(columns.iter().map(|c| Field::new(c, DataType::Utf8, true)));
        Ok(Self {
            raw: TableName::new(&format!("raw/{}/{}", slug(channel), slug(source_table)))?,
            raw_schema: Arc::new(Schema::new(raw_fields)),
            mapped: StdLanding::new(channel, source_table, institution, columns, mapping)?,
        })
    }

    /// Creates the raw, std and quarantine tables if they do not exist yet.
    pub async fn prepare(&self, lake: &Lake) -> Result<(), IngestError> {
        lake.create_table(&self.raw, &self.raw_schema).await?;
        self.mapped.prepare(lake).await
    }

    /// The last chunk committed to the raw zone, if any.
    pub async fn raw_committed(&self, lake: &Lake) -> Result<Option<i64>, IngestError> {
        Ok(lake
            .committed_version(&self.raw, &self.mapped.app_id)
            .await?)
    }

    /// The same tables, committed under a transaction id of their own (`…:<suffix>`): a
    /// change stream numbers its commits differently from the snapshot read before it.
    pub fn with_app_suffix(mut self, suffix: &str) -> Self {
        self.mapped.app_id = format!("{}:{suffix}", self.mapped.app_id);
        self
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
        let ops = vec!["r"; rows.len()];
        self.append_changes(lake, seq, rows, positions, &ops, received_at)
            .await
    }

    /// Appends rows with their operation (`r` read, `i` insert, `u` update, `d` delete) to the
    /// raw zone (skipped if `seq` is already there).
    pub async fn append_changes(
        &self,
        lake: &Lake,
        seq: i64,
        rows: &[Vec<Option<String>>],
        positions: &[Position],
        ops: &[&str],
        received_at: i64,
    ) -> Result<(), IngestError> {
        let n = rows.len();
        let mut cols: Vec<ArrayRef> = vec![
            int64s((0..n).map(|_| seq)),
            int64s(0..n as i64),
            texts(ops.iter().map(|o| Some(*o))),
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
        lake.append_widening(&self.raw, vec![batch], txn(&self.mapped.app_id, seq))
            .await?;
        Ok(())
    }

    /// Appends records the source could not read as rows to quarantine, under a transaction of
    /// their own (skipped if `seq` is already there).
    pub async fn quarantine_unreadable(
        &self,
        lake: &Lake,
        seq: i64,
        rejected: &[Rejected],
        received_at: i64,
    ) -> Result<(), IngestError> {
        let records: Vec<Quarantined> = rejected
            .iter()
            .map(|r| Quarantined {
                position: r.position.encode(),
                rejection: Rejection {
                    field: "(record)".into(),
                    value: None,
                    reason: r.reason.clone(),
                },
                record: r.record.clone(),
                key: None,
            })
            .collect();
        let app_id = format!("{}:unreadable", self.mapped.app_id);
        self.mapped
            .quarantine_rejected(lake, &app_id, seq, &records, received_at)
            .await
    }

    /// Maps a chunk read from the source (see [`StdLanding::map_read`]).
    pub fn map_chunk(
        &self,
        mapping: &CompiledMapping,
        rows: &[Vec<Option<String>>],
        positions: &[Position],
    ) -> Mapped {
        let position = |i: usize| positions.get(i).map(Position::encode).unwrap_or_default();
        self.mapped.map_read(mapping, rows, &position)
    }

    /// Maps the chunk and lands it (see [`StdLanding::land_changes`]).
    #[allow(clippy::too_many_arguments)]
    pub async fn land_mapped(
        &self,
        lake: &Lake,
        mapping: &CompiledMapping,
        seq: i64,
        rows: &[Vec<Option<String>>],
        positions: &[Position],
        received_at: i64,
        write: StdWrite,
    ) -> Result<Landed, IngestError> {
        let mapped = self.map_chunk(mapping, rows, positions);
        self.mapped
            .land_changes(lake, mapping, seq, mapped, received_at, write)
            .await
    }
}

pub(crate) fn int64s(values: impl Iterator<Item = i64>) -> ArrayRef {
    let mut b = Int64Builder::new();
    values.for_each(|v| b.append_value(v));
    Arc::new(b.finish())
}

pub(crate) fn texts<S: AsRef<str>>(values: impl Iterator<Item = Option<S>>) -> ArrayRef {
    let mut b = StringBuilder::new();
    values.for_each(|v| b.append_option(v));
    Arc::new(b.finish())
}

pub(crate) fn timestamps(
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
