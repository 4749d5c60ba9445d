//! Moving a channel's journal into the lake, batch by batch: every message as received into
//! `raw/<channel>/<table>`, the records of accepted messages MERGEd into the std zone, refused
//! messages into `quarantine/<table>` with each reason. A batch's commits carry the journal
//! offset it ends at, so a batch repeated after a crash is never written twice; the checkpoint
//! follows the commits, and journal segments before it are released.

use super::{Reader, stored::Received};
use crate::{
    IngestError,
    hl7::{AckCode, MappedRecords},
    journal,
    land::{
        Landed, Quarantined, StdChange, StdLanding, StdWrite, int64s, quarantine_batch,
        quarantine_schema, texts, timestamps, txn, utc,
    },
    mapping::{Rejection, StdValue},
};
use hdos_lake::{
    Lake, TableName,
    arrow::{
        array::{Array, ArrayRef, BinaryBuilder, StringArray, TimestampMicrosecondArray},
        datatypes::{DataType, Field, Schema, SchemaRef},
        record_batch::RecordBatch,
    },
};
use hdos_store::{MetaStore, RunCounts};
use std::{collections::HashMap, path::PathBuf, sync::Arc};

pub(crate) struct Lander<R> {
    pub lake: Lake,
    pub store: Arc<dyn MetaStore>,
    pub intake: Arc<R>,
    pub channel: String,
    /// The `source_table` of the channel's messages in checkpoints, runs and quarantine.
    pub table: &'static str,
    pub journal_dir: PathBuf,
    pub raw: TableName,
    pub quarantine: TableName,
    pub app_id: String,
    pub landings: Vec<StdLanding>,
    pub counts: RunCounts,
    pub max_batch: usize,
    pub mapped: Arc<MappedAtReceipt>,
}

/// Records mapped when an accepted message was received, by sending facility and control id
/// (unique among accepted messages), so the lander need not map them again. Bounded: past the
/// limit the lander maps from the journal instead.
#[derive(Debug, Default)]
pub struct MappedAtReceipt {
    records: std::sync::Mutex<HashMap<(String, String), MappedRecords>>,
}

impl MappedAtReceipt {
    const LIMIT: usize = 100_000;

    pub fn keep(&self, facility: &str, control_id: &str, records: MappedRecords) {
        if let Ok(mut m) = self.records.lock()
            && m.len() < Self::LIMIT
        {
            m.insert((facility.to_owned(), control_id.to_owned()), records);
        }
    }

    pub fn take(&self, facility: &str, control_id: &str) -> Option<MappedRecords> {
        self.records
            .lock()
            .ok()?
            .remove(&(facility.to_owned(), control_id.to_owned()))
    }
}

fn raw_schema() -> SchemaRef {
    let text = |n: &str, null: bool| Field::new(n, DataType::Utf8, null);
    Arc::new(Schema::new(vec![
        Field::new("_hdos_batch", DataType::Int64, false),
        Field::new("_hdos_row", DataType::Int64, false),
        Field::new("_hdos_received_at", utc(), false),
        text("peer", false),
        text("message_type", false),
        text("control_id", false),
        text("sending_facility", false),
        text("ack_code", true),
        text("errors", true),
        text("message", false),
        Field::new("message_bytes", DataType::Binary, true),
    ]))
}

impl<R: Reader> Lander<R> {
    pub fn new(
        lake: Lake,
        store: Arc<dyn MetaStore>,
        intake: Arc<R>,
        channel: &str,
        table: &'static str,
        journal_dir: PathBuf,
    ) -> Result<Self, IngestError> {
        let landings = intake
            .targets()
            .iter()
            .map(|t| StdLanding::new(channel, t.name, intake.institution(), t.columns, t.mapping))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            raw: TableName::new(&format!("raw/{}/{table}", crate::land::slug(channel)))?,
            quarantine: TableName::new(&format!("quarantine/{table}"))?,
            app_id: format!("hdos-ingest:{channel}:{table}"),
            channel: channel.to_owned(),
            table,
            journal_dir,
            lake,
            store,
            intake,
            landings,
            counts: RunCounts::default(),
            max_batch: 20_000,
            mapped: Arc::default(),
        })
    }

    pub async fn prepare(&self) -> Result<(), IngestError> {
        self.lake.create_table(&self.raw, &raw_schema()).await?;
        self.lake
            .create_table(&self.quarantine, &quarantine_schema())
            .await?;
        for l in &self.landings {
            l.prepare(&self.lake).await?;
        }
        Ok(())
    }

    /// Where landing resumes: the checkpoint, and the end of a batch that reached the raw
    /// zone after it (a crash between the raw commit and the checkpoint), to be landed again
    /// with the same bounds.
    pub async fn resume_points(&self) -> Result<(u64, Option<u64>), IngestError> {
        let checkpoint = self
            .store
            .ingest_checkpoint(&self.channel, self.table)
            .await?
            .map_or(0, |c| c.seq.max(0) as u64);
        let raw = self
            .lake
            .committed_version(&self.raw, &self.app_id)
            .await?
            .map(|v| v.max(0) as u64)
            .filter(|v| *v > checkpoint);
        Ok((checkpoint, raw))
    }

    /// The accepted `(facility, control id, received at)` of the last `days` in the raw zone.
    pub async fn recent_accepted(
        &self,
        days: i64,
    ) -> Result<Vec<(String, String, i64)>, IngestError> {
        let since = chrono::Utc::now().timestamp_micros() - days * 86_400_000_000;
        let sql = format!(
            "SELECT sending_facility, control_id, _hdos_received_at FROM {} \
             WHERE ack_code = 'AA' AND _hdos_received_at >= to_timestamp_micros({since}) \
             ORDER BY _hdos_received_at",
            self.raw.sql_name()
        );
        let batches = self
            .lake
            .query(std::slice::from_ref(&self.raw), &sql)
            .await?;
        let mut out = Vec::new();
        for b in batches {
            let text = |i: usize| b.column(i).as_any().downcast_ref::<StringArray>().cloned();
            let at = b
                .column(2)
                .as_any()
                .downcast_ref::<TimestampMicrosecondArray>()
                .cloned();
            if let (Some(f), Some(c), Some(at)) = (text(0), text(1), at) {
                for i in 0..b.num_rows() {
                    out.push((f.value(i).to_owned(), c.value(i).to_owned(), at.value(i)));
                }
            }
        }
        Ok(out)
    }

    /// Lands the journal's records from `from` up to `until`, at most `max_batch` of them;
    /// returns the offset landing continues from.
    pub async fn land_batch(&mut self, from: u64, until: u64) -> Result<u64, IngestError> {
        let dir = self.journal_dir.clone();
        let max = self.max_batch;
        let (records, end) =
            tokio::task::spawn_blocking(move || journal::read(&dir, from, until, max))
                .await
                .map_err(|e| IngestError::Journal {
                    path: self.journal_dir.display().to_string(),
                    reason: e.to_string(),
                })??;
        if records.is_empty() {
            // Below the durable end every record is whole; none readable means damage.
            return Err(IngestError::Journal {
                path: self.journal_dir.display().to_string(),
                reason: format!("no readable record at offset {from} (durable up to {until})"),
            });
        }
        let seq = end as i64;
        let now = chrono::Utc::now().timestamp_micros();
        let mut decoded = Vec::with_capacity(records.len());
        for (offset, payload) in &records {
            let (header, bytes) = Received::decode(payload)?;
            decoded.push((*offset, header, bytes));
        }
        let batch = self.raw_batch(seq, &decoded)?;
        self.lake
            .append(&self.raw, vec![batch], txn(&self.app_id, seq))
            .await?;

        let mut per_record: Vec<(Vec<Vec<StdValue>>, Vec<Quarantined>)> =
            self.landings.iter().map(|_| Default::default()).collect();
        let mut refused = Vec::new();
        for (offset, header, bytes) in &decoded {
            // Why the message is refused, per problem: (location, reason).
            let problems: Vec<(String, String)> = if header.ack != Some(AckCode::AA) {
                header
                    .errors
                    .iter()
                    .map(|e| (e.location.clone(), e.text.clone()))
                    .collect()
            } else {
                // The records mapped at receipt; after a restart, mapped again from the bytes
                // (the same mapping gives the same records).
                let records = match self.mapped.take(&header.facility, &header.control_id) {
                    Some(records) => Ok(records),
                    None => self.intake.remap(bytes),
                };
                match records {
                    Ok(records) => {
                        for (i, rows) in records {
                            per_record[i].0.extend(rows);
                        }
                        continue;
                    }
                    Err(errors) => errors
                        .into_iter()
                        .map(|e| {
                            let why =
                                format!("{} (the channel's mapping changed after the ACK)", e.text);
                            (e.location, why)
                        })
                        .collect(),
                }
            };
            let text = String::from_utf8_lossy(bytes);
            refused.extend(problems.into_iter().map(|(field, reason)| Quarantined {
                position: offset.to_string(),
                rejection: Rejection {
                    field,
                    value: None,
                    reason,
                },
                record: text.clone().into_owned(),
                key: None,
            }));
        }
        let mut landed = Landed::default();
        // One landing per record, built in the same order.
        let targets = self.intake.targets();
        let records = self.landings.iter().zip(&targets);
        for ((landing, target), (mapped, rejected)) in records.zip(per_record) {
            let changes = mapped
                .into_iter()
                .map(|values| {
                    if target.delete {
                        StdChange::Delete(values)
                    } else {
                        StdChange::Upsert(values)
                    }
                })
                .collect();
            let l = landing
                .land_changes(
                    &self.lake,
                    target.mapping,
                    seq,
                    (changes, rejected),
                    now,
                    StdWrite::Merge,
                )
                .await?;
            landed.written += l.written + l.deleted;
            landed.quarantined += l.quarantined;
        }
        if !refused.is_empty() {
            landed.quarantined += refused.len() as u64;
            let batch = quarantine_batch(
                self.intake.institution(),
                &self.channel,
                self.table,
                seq,
                &refused,
                now,
            )?;
            self.lake
                .append_widening(&self.quarantine, vec![batch], txn(&self.app_id, seq))
                .await?;
        }
        self.store
            .save_ingest_checkpoint(&self.channel, self.table, seq, None)
            .await?;
        self.counts.rows_read += decoded.len() as i64;
        self.counts.rows_written += landed.written as i64;
        self.counts.rows_quarantined += landed.quarantined as i64;
        self.counts.bytes += decoded.iter().map(|d| d.2.len() as i64).sum::<i64>();
        let dir = self.journal_dir.clone();
        if let Err(e) = tokio::task::spawn_blocking(move || journal::release(&dir, end)).await {
            tracing::warn!(error = %e, "could not release landed journal segments");
        }
        tracing::debug!(channel = %self.channel, messages = decoded.len(), end, "messages landed");
        Ok(end)
    }

    fn raw_batch(
        &self,
        seq: i64,
        decoded: &[(u64, Received, &[u8])],
    ) -> Result<RecordBatch, IngestError> {
        let n = decoded.len();
        let text_of = |bytes: &[u8]| std::str::from_utf8(bytes).ok().map(str::to_owned);
        let mut raw_bytes = BinaryBuilder::new();
        let mut messages = Vec::with_capacity(n);
        for (_, h, bytes) in decoded {
            // The assessment decoded by MSH-18; text that is not UTF-8 is kept as bytes too.
            let decoded_text = match h.ack {
                Some(_) => self.intake.text(bytes),
                None => None,
            };
            match decoded_text.or_else(|| text_of(bytes)) {
                Some(t) => {
                    messages.push(t);
                    raw_bytes.append_null();
                }
                None => {
                    messages.push(String::from_utf8_lossy(bytes).into_owned());
                    raw_bytes.append_value(bytes);
                }
            }
        }
        let errors = |h: &Received| {
            (!h.errors.is_empty()).then(|| serde_json::to_string(&h.errors).unwrap_or_default())
        };
        let cols: Vec<ArrayRef> = vec![
            int64s((0..n).map(|_| seq)),
            int64s(decoded.iter().map(|d| d.0 as i64)),
            Arc::new(timestamps(decoded.iter().map(|d| Some(d.1.at)))),
            texts(decoded.iter().map(|d| Some(d.1.peer.as_str()))),
            texts(decoded.iter().map(|d| Some(d.1.kind.as_str()))),
            texts(decoded.iter().map(|d| Some(d.1.control_id.as_str()))),
            texts(decoded.iter().map(|d| Some(d.1.facility.as_str()))),
            texts(decoded.iter().map(|d| d.1.ack.map(AckCode::as_str))),
            texts(decoded.iter().map(|d| errors(&d.1))),
            texts(messages.iter().map(|m| Some(m.as_str()))),
            Arc::new(raw_bytes.finish()),
        ];
        Ok(RecordBatch::try_new(raw_schema(), cols).map_err(hdos_lake::LakeError::from)?)
    }
}
