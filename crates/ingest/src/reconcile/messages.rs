//! 数据对账 of a message channel: the messages it acknowledged (AA), as its raw zone keeps them,
//! mapped again as the lander maps them, against the std rows it landed. Messages are replayed in
//! the order they were received: a record that upserts adds its key (dated by its event time), one
//! that deletes removes it, so the source side is the keys the messages leave behind. Messages
//! the current mapping refuses are counted apart, as are refused rows of a SQL source.

use super::{Side, compare, cst_day, key_hash, key_text, read_lake};
use crate::{
    IngestError,
    channel::ChannelEnv,
    hl7::{AckCode, Intake, MappedRecords, MessageMappings, compile},
    land::slug,
    mllp::MESSAGES,
};
use futures::StreamExt;
use hdos_lake::{
    TableName,
    arrow::{
        array::{Array, AsArray},
        compute::cast,
        datatypes::DataType,
    },
};
use hdos_store::{Channel, ReconciliationDay, now_millis};
use std::{collections::BTreeMap, sync::Arc};

/// Each dataset's side, and the messages the mapping now refuses.
#[derive(Default)]
struct Sides {
    by_dataset: BTreeMap<String, Side>,
    unmapped: i64,
}

impl Sides {
    /// Replays one acknowledged message's records.
    fn replay(&mut self, intake: &Intake, records: MappedRecords) {
        for (i, rows) in records {
            let Some(record) = intake.records.get(i) else {
                continue;
            };
            let dataset = record.mapping.dataset();
            let keys: Vec<usize> = dataset
                .key
                .iter()
                .filter_map(|k| record.mapping.fields().position(|(name, _)| name == k))
                .collect();
            let side = self.by_dataset.entry(dataset.name.clone()).or_default();
            for values in rows {
                let parts: Vec<String> = keys.iter().map(|k| key_text(&values[*k])).collect();
                let key = key_hash(&parts);
                if record.delete {
                    side.remove(key);
                } else {
                    let day = record
                        .mapping
                        .event_time(&values)
                        .map(cst_day)
                        .unwrap_or_default();
                    side.add(key, day);
                }
            }
        }
    }
}

/// Replays one batch of raw messages (message text, bytes kept as received).
fn replay_batch(
    intake: &Intake,
    sides: &mut Sides,
    batch: &hdos_lake::arrow::record_batch::RecordBatch,
) -> Result<(), IngestError> {
    let texts = cast(batch.column(0), &DataType::Utf8).map_err(hdos_lake::LakeError::from)?;
    let texts = texts.as_string::<i32>();
    let bytes = cast(batch.column(1), &DataType::Binary).map_err(hdos_lake::LakeError::from)?;
    let bytes = bytes.as_binary::<i32>();
    for r in 0..batch.num_rows() {
        // Text that was not UTF-8 is kept as received, bytes and all; the rest as decoded.
        let assessment = if bytes.is_null(r) {
            intake.assess_text(texts.value(r).to_owned())
        } else {
            intake.assess(bytes.value(r))
        };
        if assessment.code == AckCode::AA {
            sides.replay(intake, assessment.records);
        } else {
            sides.unmapped += 1;
        }
    }
    Ok(())
}

/// Reads the channel's acknowledged messages in order of receipt, batch by batch, and replays
/// them on a blocking thread (parsing is the work): the messages are never all in memory.
async fn read_messages(
    env: &ChannelEnv,
    channel: &Channel,
    intake: Arc<Intake>,
) -> Result<Sides, IngestError> {
    let mut sides = Sides::default();
    let raw = TableName::new(&format!("raw/{}/{MESSAGES}", slug(&channel.name)))?;
    if !env.lake.exists(&raw).await? {
        return Ok(sides);
    }
    let sql = format!(
        "SELECT message, message_bytes FROM {} WHERE ack_code = '{}' \
         ORDER BY _hdos_batch, _hdos_row",
        raw.sql_name(),
        AckCode::AA.as_str()
    );
    let mut batches = env
        .lake
        .query_stream(std::slice::from_ref(&raw), &sql)
        .await?;
    while let Some(batch) = batches.next().await {
        let batch = batch.map_err(hdos_lake::LakeError::from)?;
        let intake = intake.clone();
        sides = tokio::task::spawn_blocking(move || {
            replay_batch(&intake, &mut sides, &batch).map(|()| sides)
        })
        .await
        .map_err(|e| IngestError::Channel {
            channel: channel.name.clone(),
            reason: format!("reconciliation stopped: {e}"),
        })??;
    }
    Ok(sides)
}

/// Reconciles an MLLP channel with `mappings` (the built-in ones when `None`).
pub async fn reconcile(
    env: &ChannelEnv,
    channel: &Channel,
    mappings: Option<&str>,
) -> Result<Vec<ReconciliationDay>, IngestError> {
    let mappings = match mappings {
        Some(text) => MessageMappings::from_toml(text)?,
        None => MessageMappings::builtin()?,
    };
    let intake = Arc::new(Intake::new(
        &channel.institution,
        compile(&mappings, env.standard)?,
    ));
    let checked_at = now_millis();
    let mut sides = read_messages(env, channel, intake.clone()).await?;
    // Every dataset the channel maps is reconciled, whether or not a message carried it.
    for r in &intake.records {
        sides
            .by_dataset
            .entry(r.mapping.dataset().name.clone())
            .or_default();
    }
    let mut out = Vec::new();
    let unmapped = sides.unmapped;
    for (i, (dataset, source_side)) in sides.by_dataset.iter().enumerate() {
        let mut lake_side = Side::default();
        read_lake(env, channel, dataset, &mut lake_side).await?;
        // Refused messages are not one dataset's: they are reported once, on the first.
        let refused = if i == 0 { unmapped } else { 0 };
        out.extend(compare(
            channel,
            dataset,
            (source_side, &lake_side),
            refused,
            checked_at,
        ));
    }
    Ok(out)
}
