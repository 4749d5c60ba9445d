//! The batch channel (SQL tables and data files): reads a source table in chunks (full, or incrementally after the
//! stored position), lands each chunk, then records the position. A run that stopped anywhere
//! resumes exactly: chunks already in the raw zone but not yet mapped are replayed from it, so
//! nothing is lost or written twice.

use crate::{
    IngestError,
    land::{Landed, Landing, Mapped, StdWrite},
    mapping::{CompiledMapping, TableMapping},
    source::{BatchSource, Chunk, Position},
};
use hdos_core::standard::Standard;
use hdos_lake::{
    Lake,
    arrow::{
        array::{Array, ArrayRef, AsArray},
        compute::cast,
        datatypes::DataType,
    },
};
use hdos_store::{IngestCheckpoint, MetaStore, RunCounts, RunStatus};
use std::sync::Arc;
use tokio::sync::{mpsc, watch};

/// Rows per chunk when the job does not say.
/// (100,000 measured faster than 50,000 and lighter than 200,000: each MERGE reads the target.)
pub const DEFAULT_CHUNK_ROWS: usize = 100_000;

/// The suffix of the checkpoint that marks a first load whose std keys are not yet made unique
/// (`<table>#first-load`: `pending` until [`Landing`]'s duplicates are superseded, then `done`).
const FIRST_LOAD: &str = "#first-load";
const PENDING: &str = "pending";

/// One source table of a SQL batch channel.
#[derive(Debug, Clone)]
pub struct BatchJob {
    pub channel: String,
    /// The collecting institution's code, stamped on every standard row.
    pub institution: String,
    pub source: BatchSource,
    pub mapping: TableMapping,
    pub chunk_rows: usize,
    /// Read the whole table again instead of continuing after the stored position.
    pub full: bool,
}

/// What a run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunReport {
    pub counts: RunCounts,
    pub chunks: u64,
    /// Chunks found in the raw zone but not yet mapped, replayed before reading on.
    pub replayed: u64,
}

fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// Runs the job and records it in the run history.
pub async fn run(
    store: &dyn MetaStore,
    lake: &Lake,
    standard: &Standard,
    job: &BatchJob,
) -> Result<RunReport, IngestError> {
    run_until(store, lake, standard, job, &watch::channel(false).1).await
}

/// Runs the job like [`run`], stopping between chunks with [`IngestError::Cancelled`] once
/// `stop` is true; what was committed stays, and the next run goes on from there.
pub async fn run_until(
    store: &dyn MetaStore,
    lake: &Lake,
    standard: &Standard,
    job: &BatchJob,
    stop: &watch::Receiver<bool>,
) -> Result<RunReport, IngestError> {
    let table = job.mapping.source_table.clone();
    let checkpoint = store.ingest_checkpoint(&job.channel, &table).await?;
    // A channel's first run reads everything, like a full one, but is named for what it is.
    // A stored checkpoint without a position reads from the start too (a new file of a folder).
    let from_start = checkpoint.as_ref().is_none_or(|c| c.position.is_none());
    let mode = match (job.full, from_start) {
        (true, _) => "full",
        (false, true) => "initial",
        (false, false) => "incremental",
    };
    let run = store
        .start_ingest_run(&job.channel, &table, &job.institution, mode)
        .await?;
    let mut counts = RunCounts::default();
    let result = run_chunks(
        store,
        lake,
        standard,
        job,
        checkpoint,
        InProgress { id: run.id, stop },
        &mut counts,
    )
    .await;
    let (status, error) = match &result {
        Ok(_) => (RunStatus::Succeeded, None),
        Err(IngestError::Cancelled) => (RunStatus::Cancelled, None),
        Err(e) => (RunStatus::Failed, Some(e.to_string())),
    };
    store
        .update_ingest_run(run.id, status, counts, error.as_deref())
        .await?;
    let (chunks, replayed) = result?;
    Ok(RunReport {
        counts,
        chunks,
        replayed,
    })
}

/// The run in progress: its id in the run history and the signal that stops it.
struct InProgress<'a> {
    id: i64,
    stop: &'a watch::Receiver<bool>,
}

async fn run_chunks(
    store: &dyn MetaStore,
    lake: &Lake,
    standard: &Standard,
    job: &BatchJob,
    checkpoint: Option<IngestCheckpoint>,
    run: InProgress<'_>,
    counts: &mut RunCounts,
) -> Result<(u64, u64), IngestError> {
    let table = job.mapping.source_table.clone();
    // A table's first load from a database appends to std: its keys are made unique once at the
    // end instead of MERGEd chunk by chunk. A load that stopped goes on appending, since a MERGE
    // into a key held twice would make both rows alike and beyond telling apart. Files keep
    // MERGEs: each new file of a folder is a first read, and usually small.
    let marker = format!("{table}{FIRST_LOAD}");
    let unfinished = store
        .ingest_checkpoint(&job.channel, &marker)
        .await?
        .is_some_and(|m| m.position.as_deref() == Some(PENDING));
    let first_load = (checkpoint.is_none() || unfinished)
        && !job.full
        && !matches!(job.source, BatchSource::File(_));
    let write = if first_load {
        StdWrite::Append
    } else {
        StdWrite::Merge
    };
    let dataset = standard
        .dataset(&job.mapping.dataset)
        .ok_or_else(|| IngestError::UnknownDataset(job.mapping.dataset.clone()))?;
    let source = job.source.clone();
    let t = table.clone();
    let columns = tokio::task::spawn_blocking(move || source.open(&t, None)?.columns())
        .await
        .map_err(|e| internal(&table, e))??;
    let absent = crate::drift::check(
        store,
        (&job.channel, &job.institution),
        &table,
        &columns,
        &job.mapping.columns_read(None)?.0,
    )
    .await?;
    let columns: Vec<String> = columns.into_iter().map(|c| c.name).collect();
    let mapping = CompiledMapping::with_absent(&job.mapping, dataset, &columns, &absent)?;
    let landing = Arc::new(Landing::new(
        &job.channel,
        &table,
        &job.institution,
        &columns,
        &mapping,
    )?);
    let mapping = Arc::new(mapping);
    landing.prepare(lake).await?;
    if unfinished && !first_load {
        // A full read asked for while a first load had not finished: its keys first.
        supersede(store, lake, job, &landing, &marker).await?;
    } else if first_load && !unfinished {
        store
            .save_ingest_checkpoint(&job.channel, &marker, 0, Some(PENDING))
            .await?;
    }

    let mut seq = checkpoint.as_ref().map_or(0, |c| c.seq);
    let mut position = match checkpoint.as_ref().and_then(|c| c.position.as_deref()) {
        Some(p) => Some(
            Position::decode(p).map_err(|reason| IngestError::Checkpoint {
                channel: job.channel.clone(),
                table: table.clone(),
                reason,
            })?,
        ),
        None => None,
    };
    // Chunks in the raw zone past the checkpoint: the previous run stopped after landing them.
    let mut replayed = 0;
    let committed = landing.raw_committed(lake).await?.unwrap_or(0);
    while seq < committed {
        seq += 1;
        let chunk = raw_chunk(lake, &landing, seq).await?;
        let landed = landing
            .land_mapped(
                lake,
                &mapping,
                seq,
                &chunk.rows,
                &chunk.positions,
                now_micros(),
                write,
            )
            .await?;
        position = chunk.last_position().cloned().or(position);
        save(store, job, &table, seq, position.as_ref()).await?;
        add(counts, &chunk, landed);
        progress(store, run.id, *counts).await;
        replayed += 1;
    }
    if job.full {
        position = None;
        save(store, job, &table, seq, None).await?;
    }

    let mut chunks = 0;
    let mut reader = spawn_reader(job, position.clone(), landing.clone(), mapping.clone());
    while let Some(read) = reader.recv().await {
        if *run.stop.borrow() {
            return Err(IngestError::Cancelled);
        }
        let (chunk, mapped) = read?;
        seq += 1;
        let received = now_micros();
        let started = std::time::Instant::now();
        // Unreadable records go to quarantine first: the raw zone cannot hold them, so a replay
        // from it would not see them.
        landing
            .quarantine_unreadable(lake, seq, &chunk.rejected, received)
            .await?;
        landing
            .append_raw(lake, seq, &chunk.rows, &chunk.positions, received)
            .await?;
        let raw_ms = started.elapsed().as_millis();
        let landed = landing
            .mapped
            .land_changes(lake, &mapping, seq, mapped, received, write)
            .await?;
        save(store, job, &table, seq, chunk.last_position()).await?;
        tracing::debug!(
            channel = %job.channel,
            table = %table,
            seq,
            rows = chunk.len(),
            raw_ms,
            std_ms = started.elapsed().as_millis() - raw_ms,
            "chunk landed"
        );
        add(counts, &chunk, landed);
        progress(store, run.id, *counts).await;
        chunks += 1;
    }
    if first_load {
        supersede(store, lake, job, &landing, &marker).await?;
    }
    Ok((chunks, replayed))
}

/// Makes a first load's keys unique in std, then marks the load done.
async fn supersede(
    store: &dyn MetaStore,
    lake: &Lake,
    job: &BatchJob,
    landing: &Landing,
    marker: &str,
) -> Result<(), IngestError> {
    let superseded = landing.mapped.supersede_duplicates(lake).await?;
    tracing::info!(channel = %job.channel, table = %job.mapping.source_table, superseded, "first load's keys made unique");
    store
        .save_ingest_checkpoint(&job.channel, marker, 0, Some("done"))
        .await?;
    Ok(())
}

/// Shows the run's counts so far in the run history. Best effort: a run does not fail because
/// its progress could not be shown.
async fn progress(store: &dyn MetaStore, run_id: i64, counts: RunCounts) {
    if let Err(e) = store
        .update_ingest_run(run_id, RunStatus::Running, counts, None)
        .await
    {
        tracing::warn!(run_id, error = %e, "could not record a run's progress");
    }
}

fn internal(table: &str, e: impl std::fmt::Display) -> IngestError {
    IngestError::Source {
        source_name: table.to_owned(),
        reason: e.to_string(),
    }
}

fn add(counts: &mut RunCounts, chunk: &Chunk, landed: Landed) {
    counts.rows_read += (chunk.len() + chunk.rejected.len()) as i64;
    counts.rows_written += landed.written as i64;
    counts.rows_quarantined += (landed.quarantined as usize + chunk.rejected.len()) as i64;
    counts.bytes += chunk.bytes as i64;
}

async fn save(
    store: &dyn MetaStore,
    job: &BatchJob,
    table: &str,
    seq: i64,
    position: Option<&Position>,
) -> Result<(), IngestError> {
    let encoded = position.map(Position::encode);
    store
        .save_ingest_checkpoint(&job.channel, table, seq, encoded.as_deref())
        .await?;
    Ok(())
}

/// Reads and maps chunks on a thread of its own, ahead of the lake commits.
fn spawn_reader(
    job: &BatchJob,
    start: Option<Position>,
    landing: Arc<Landing>,
    mapping: Arc<CompiledMapping>,
) -> mpsc::Receiver<Result<(Chunk, Mapped), IngestError>> {
    let (tx, rx) = mpsc::channel(1);
    let source = job.source.clone();
    let table = job.mapping.source_table.clone();
    // The compiled mapping has checked that the cursor column exists.
    let cursor = job.mapping.cursor.clone();
    let limit = job.chunk_rows.max(1);
    std::thread::spawn(move || {
        let mut reader = match source.open(&table, cursor.as_deref()) {
            Ok(r) => r,
            Err(e) => {
                let _ = tx.blocking_send(Err(e));
                return;
            }
        };
        let mut after = start;
        loop {
            match reader.read_chunk(after.as_ref(), limit) {
                Ok(c) if c.is_empty() => return,
                Ok(c) => {
                    after = c.last_position().cloned();
                    let mapped = landing.map_chunk(&mapping, &c.rows, &c.positions);
                    if tx.blocking_send(Ok((c, mapped))).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            }
        }
    });
    rx
}

/// A chunk as the raw zone holds it, in the order it was read.
async fn raw_chunk(lake: &Lake, landing: &Landing, seq: i64) -> Result<Chunk, IngestError> {
    let sql = format!(
        "SELECT * FROM {} WHERE _hdos_batch = {seq} ORDER BY _hdos_row",
        landing.raw.sql_name()
    );
    let batches = lake.query(std::slice::from_ref(&landing.raw), &sql).await?;
    let mut chunk = Chunk::default();
    for b in batches {
        // DataFusion may hand strings back as views; read every column as plain UTF-8.
        let text: Vec<ArrayRef> = b
            .columns()
            .iter()
            .map(|c| cast(c, &DataType::Utf8))
            .collect::<Result<_, _>>()
            .map_err(hdos_lake::LakeError::from)?;
        let position = text[3].as_string::<i32>();
        let width = b.num_columns();
        for r in 0..b.num_rows() {
            let p =
                Position::decode(position.value(r)).map_err(|reason| IngestError::Checkpoint {
                    channel: landing.mapped.channel.clone(),
                    table: landing.mapped.source_table.clone(),
                    reason,
                })?;
            chunk.positions.push(p);
            let row: Vec<Option<String>> = (5..width)
                .map(|c| {
                    let col = text[c].as_string::<i32>();
                    (!col.is_null(r)).then(|| col.value(r).to_owned())
                })
                .collect();
            chunk.bytes += row.iter().flatten().map(|s| s.len() as u64).sum::<u64>();
            chunk.rows.push(row);
        }
    }
    Ok(chunk)
}
