//! 数据对账: a SQL or CDC channel's source tables against the std rows it landed, per dataset and
//! per day (China Standard Time, of each row's event time). The source side is read whole and
//! mapped as collection maps it; rows the mapping refuses are counted apart (they are in
//! quarantine). Each side is a count of distinct keys and an order-independent checksum of them,
//! so equal counts with different rows still differ. A message channel's source side is the
//! messages it acknowledged (`messages.rs`).

mod messages;

use crate::{
    IngestError,
    channel::{ChannelEnv, ChannelSpec},
    land::MOVED_BY_RULE,
    mapping::{CompiledMapping, StdValue, TableMapping},
    source::BatchSource,
};
use chrono::{DateTime, FixedOffset};
use hdos_lake::{
    TableName,
    arrow::{
        array::{Array, AsArray, PrimitiveArray},
        compute::cast,
        datatypes::{DataType, Int64Type},
    },
};
use hdos_store::{Channel, ReconciliationDay, now_millis};
use std::{
    collections::{BTreeMap, HashMap},
    hash::{DefaultHasher, Hash, Hasher},
};

/// Rows per read of the source.
const CHUNK_ROWS: usize = 50_000;

/// One side's distinct keys per day: count and the wrapping sum of the keys' hashes.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    rows: i64,
    checksum: u64,
}

/// Keys seen on one side, each with the day its (last) row belongs to.
#[derive(Debug, Default)]
struct Side {
    keys: HashMap<u64, String>,
}

impl Side {
    fn add(&mut self, key: u64, day: String) {
        self.keys.insert(key, day);
    }

    fn remove(&mut self, key: u64) {
        self.keys.remove(&key);
    }

    fn by_day(&self) -> BTreeMap<String, Tally> {
        let mut out: BTreeMap<String, Tally> = BTreeMap::new();
        for (key, day) in &self.keys {
            let t = out.entry(day.clone()).or_default();
            t.rows += 1;
            t.checksum = t.checksum.wrapping_add(*key);
        }
        out
    }
}

fn key_hash(parts: &[String]) -> u64 {
    let mut h = DefaultHasher::new();
    parts.hash(&mut h);
    h.finish()
}

/// The day in China Standard Time of a UTC time in microseconds.
fn cst_day(micros: i64) -> String {
    let Some(cst) = FixedOffset::east_opt(8 * 3600) else {
        return String::new();
    };
    DateTime::from_timestamp_micros(micros)
        .map(|t| t.with_timezone(&cst).format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// The day of row `r`'s event time (µs), or the undated day when it has none.
fn day_at(times: &PrimitiveArray<Int64Type>, r: usize) -> String {
    match times.is_null(r) {
        true => String::new(),
        false => cst_day(times.value(r)),
    }
}

/// A key value as the lake's `CAST(… AS VARCHAR)` spells it.
fn key_text(v: &StdValue) -> String {
    match v {
        StdValue::Null => String::new(),
        StdValue::Text(s) => s.clone(),
        StdValue::Int(i) => i.to_string(),
        StdValue::Date(d) => chrono::NaiveDate::from_num_days_from_ce_opt(d + 719_163)
            .map(|d| d.format("%Y-%m-%d").to_string())
            .unwrap_or_default(),
        other => format!("{other:?}"),
    }
}

/// The source side of one table: its mapped keys by day, and how many rows the mapping refused.
/// Mapped columns gone from the source since the `recorded` schema read as empty, as collection
/// reads them.
fn read_source(
    source: &BatchSource,
    (mapping, recorded): (&TableMapping, Option<Vec<crate::source::Column>>),
    env: &ChannelEnv,
    institution: &str,
    side: &mut Side,
) -> Result<i64, IngestError> {
    let dataset = env
        .standard
        .dataset(&mapping.dataset)
        .ok_or_else(|| IngestError::UnknownDataset(mapping.dataset.clone()))?;
    let mut reader = source.open(&mapping.source_table, mapping.cursor.as_deref())?;
    let columns = reader.columns()?;
    let absent = match recorded {
        Some(old) => crate::drift::absent_from(&old, &columns, &mapping.columns_read(None)?.0),
        None => Vec::new(),
    };
    let columns: Vec<String> = columns.into_iter().map(|c| c.name).collect();
    let compiled = CompiledMapping::with_absent(mapping, dataset, &columns, &absent)?;
    let keys: Vec<usize> = dataset
        .key
        .iter()
        .filter_map(|k| compiled.fields().position(|(name, _)| name == k))
        .collect();
    let mut unmapped = 0;
    let mut after = None;
    loop {
        let chunk = reader.read_chunk(after.as_ref(), CHUNK_ROWS)?;
        if chunk.is_empty() {
            return Ok(unmapped);
        }
        unmapped += chunk.rejected.len() as i64;
        for row in &chunk.rows {
            match compiled.apply(row, institution) {
                Ok(values) => {
                    let parts: Vec<String> = keys.iter().map(|k| key_text(&values[*k])).collect();
                    let day = compiled
                        .event_time(&values)
                        .map(cst_day)
                        .unwrap_or_default();
                    side.add(key_hash(&parts), day);
                }
                Err(_) => unmapped += 1,
            }
        }
        after = chunk.last_position().cloned();
    }
}

/// The lake side of one dataset: the channel's std rows for the institution.
async fn read_lake(
    env: &ChannelEnv,
    channel: &Channel,
    dataset: &str,
    side: &mut Side,
) -> Result<(), IngestError> {
    let table = TableName::new(&format!("std/{dataset}"))?;
    if !env.lake.exists(&table).await? {
        return Ok(());
    }
    let key = &env
        .standard
        .dataset(dataset)
        .ok_or_else(|| IngestError::UnknownDataset(dataset.to_owned()))?
        .key;
    let keys: Vec<String> = key
        .iter()
        .map(|k| format!("CAST(\"{k}\" AS VARCHAR)"))
        .collect();
    let sql = format!(
        "SELECT {}, CAST(_hdos_event_time AS BIGINT) FROM {} \
         WHERE _hdos_institution = '{}' AND _hdos_source = '{}'",
        keys.join(", "),
        table.sql_name(),
        channel.institution.replace('\'', "''"),
        channel.name.replace('\'', "''"),
    );
    for b in env.lake.query(std::slice::from_ref(&table), &sql).await? {
        let n = keys.len();
        let texts = (0..n)
            .map(|i| cast(b.column(i), &DataType::Utf8))
            .collect::<Result<Vec<_>, _>>()
            .map_err(hdos_lake::LakeError::from)?;
        let times = cast(b.column(n), &DataType::Int64).map_err(hdos_lake::LakeError::from)?;
        let times = times.as_primitive::<Int64Type>();
        for r in 0..b.num_rows() {
            let parts: Vec<String> = texts
                .iter()
                .map(|c| {
                    let c = c.as_string::<i32>();
                    if c.is_null(r) {
                        String::new()
                    } else {
                        c.value(r).to_owned()
                    }
                })
                .collect();
            let day = day_at(times, r);
            side.add(key_hash(&parts), day);
        }
    }
    read_moved(env, channel, dataset, key.len(), side).await
}

/// Records quality control moved from the channel's std rows to quarantine for failing a hard
/// rule: they were collected, so they count on the lake side.
async fn read_moved(
    env: &ChannelEnv,
    channel: &Channel,
    dataset: &str,
    key_len: usize,
    side: &mut Side,
) -> Result<(), IngestError> {
    let table = TableName::new(&format!("quarantine/{dataset}"))?;
    if !env.lake.exists(&table).await?
        || env
            .lake
            .schema(&table)
            .await?
            .field_with_name(MOVED_BY_RULE)
            .is_err()
    {
        return Ok(());
    }
    let sql = format!(
        "SELECT record_key, CAST(_hdos_event_time AS BIGINT) FROM {} \
         WHERE \"{MOVED_BY_RULE}\" IS NOT NULL AND _hdos_institution = '{}' AND _hdos_source = '{}'",
        table.sql_name(),
        channel.institution.replace('\'', "''"),
        channel.name.replace('\'', "''"),
    );
    for b in env.lake.query(std::slice::from_ref(&table), &sql).await? {
        let keys = cast(b.column(0), &DataType::Utf8).map_err(hdos_lake::LakeError::from)?;
        let keys = keys.as_string::<i32>();
        let times = cast(b.column(1), &DataType::Int64).map_err(hdos_lake::LakeError::from)?;
        let times = times.as_primitive::<Int64Type>();
        for r in (0..b.num_rows()).filter(|r| keys.is_valid(*r)) {
            let parts: Vec<String> = keys
                .value(r)
                .splitn(key_len, " / ")
                .map(str::to_owned)
                .collect();
            let day = day_at(times, r);
            side.add(key_hash(&parts), day);
        }
    }
    Ok(())
}

/// One dataset's days, each side's keys compared; refused rows are counted on an undated day.
fn compare(
    channel: &Channel,
    dataset: &str,
    (source_side, lake_side): (&Side, &Side),
    unmapped: i64,
    checked_at: i64,
) -> Vec<ReconciliationDay> {
    let (source_days, lake_days) = (source_side.by_day(), lake_side.by_day());
    let undated = String::new();
    let mut days: Vec<&String> = source_days.keys().chain(lake_days.keys()).collect();
    // Refused rows have no event time to date them by; an empty source table still has a
    // result, with nothing on either side.
    if unmapped > 0 || days.is_empty() {
        days.push(&undated);
    }
    days.sort();
    days.dedup();
    days.into_iter()
        .map(|day| {
            let s = source_days.get(day).copied().unwrap_or_default();
            let l = lake_days.get(day).copied().unwrap_or_default();
            ReconciliationDay {
                channel: channel.name.clone(),
                dataset: dataset.to_owned(),
                institution: channel.institution.clone(),
                day: day.clone(),
                source_rows: s.rows,
                lake_rows: l.rows,
                unmapped_rows: if day.is_empty() { unmapped } else { 0 },
                source_checksum: format!("{:016x}", s.checksum),
                lake_checksum: format!("{:016x}", l.checksum),
                checked_at,
            }
        })
        .collect()
}

/// Reconciles a SQL, CDC or MLLP channel; folder channels have no standing source to count
/// (files come and go).
pub async fn reconcile(
    env: &ChannelEnv,
    channel: &Channel,
) -> Result<Vec<ReconciliationDay>, IngestError> {
    let spec = ChannelSpec::of(channel)?;
    if let ChannelSpec::Mllp { mappings, .. } = &spec {
        return messages::reconcile(env, channel, mappings.as_deref()).await;
    }
    let Some(source) = spec.database(env).await? else {
        return Ok(Vec::new());
    };
    let mut by_dataset: BTreeMap<String, Vec<TableMapping>> = BTreeMap::new();
    for t in spec.tables().iter().cloned() {
        by_dataset.entry(t.dataset.clone()).or_default().push(t);
    }
    let checked_at = now_millis();
    let mut out = Vec::new();
    for (dataset, mappings) in by_dataset {
        let mut recorded = Vec::with_capacity(mappings.len());
        for m in &mappings {
            recorded.push(
                crate::drift::recorded(env.store.as_ref(), &channel.name, &m.source_table).await?,
            );
        }
        // Sources drive their own connections: read on a blocking thread.
        let (env2, institution, src) = (env.clone(), channel.institution.clone(), source.clone());
        let (source_side, unmapped) = tokio::task::spawn_blocking(move || {
            let mut side = Side::default();
            let mut unmapped = 0;
            for (m, old) in mappings.iter().zip(recorded) {
                unmapped += read_source(&src, (m, old), &env2, &institution, &mut side)?;
            }
            Ok::<_, IngestError>((side, unmapped))
        })
        .await
        .map_err(|e| IngestError::Channel {
            channel: channel.name.clone(),
            reason: format!("reconciliation stopped: {e}"),
        })??;
        let mut lake_side = Side::default();
        read_lake(env, channel, &dataset, &mut lake_side).await?;
        out.extend(compare(
            channel,
            &dataset,
            (&source_side, &lake_side),
            unmapped,
            checked_at,
        ));
    }
    Ok(out)
}
