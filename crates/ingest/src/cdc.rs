//! Log-based collection from PostgreSQL (CDC): hdos publishes the channel's tables, creates a
//! logical replication slot with the built-in `pgoutput` plugin, reads the tables whole once
//! (the snapshot, through the batch channel), then streams every insert, update and delete into
//! the raw change log and MERGEs them into the std zone — deletes included. The slot's position
//! is confirmed only after the lake commit, so after any crash the source sends again what the
//! lake may lack; commits carry the batch's end LSN as their Delta transaction, so nothing is
//! written twice. A heartbeat keeps the slot advancing when the tables are quiet.

mod pgoutput;
mod source;

pub use source::{format_lsn, parse_lsn};

use crate::{
    IngestError,
    batch::{self, BatchJob},
    land::{Landing, slug},
    mapping::{CompiledMapping, TableMapping},
    source::{BatchSource, Column, CursorValue, Position},
};
use hdos_core::standard::Standard;
use hdos_lake::Lake;
use hdos_store::{MetaStore, RunCounts, RunStatus, Secret};
use pgoutput::{Message, Relation, Tuple, Value};
use pgwire_replication::{Lsn, ReplicationClient, ReplicationConfig, ReplicationEvent, TlsConfig};
use source::SourceDb;
use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};
use tokio::{sync::watch, task::JoinHandle};

/// The `source_table` of a channel's stream in checkpoints and runs.
pub const CHANGES: &str = "changes";
/// The checkpoint that records whether the snapshot is complete, per slot generation.
const SNAPSHOT: &str = "snapshot";

/// How a CDC channel runs.
#[derive(Debug, Clone)]
pub struct CdcConfig {
    pub channel: String,
    pub institution: String,
    /// postgres://user:password@host:port/database; the user needs the REPLICATION attribute.
    pub url: Secret,
    pub schema: String,
    /// One mapping per source table.
    pub mappings: Vec<TableMapping>,
    /// Rows per chunk of the snapshot.
    pub chunk_rows: usize,
    /// How long changes wait for more to join their batch.
    pub linger: Duration,
    /// Changes per batch at most.
    pub max_batch: usize,
    pub heartbeat: Duration,
}

impl CdcConfig {
    pub fn new(
        channel: &str,
        institution: &str,
        url: Secret,
        schema: &str,
        mappings: Vec<TableMapping>,
    ) -> Self {
        Self {
            channel: channel.to_owned(),
            institution: institution.to_owned(),
            url,
            schema: schema.to_owned(),
            mappings,
            chunk_rows: batch::DEFAULT_CHUNK_ROWS,
            linger: Duration::from_millis(100),
            max_batch: 50_000,
            heartbeat: Duration::from_secs(10),
        }
    }

    /// The slot's and the publication's name on the source.
    pub fn slot(&self) -> String {
        format!("hdos_{}", slug(&self.channel))
    }
}

/// Bytes of WAL the channel's slot holds beyond what was confirmed into the lake; `None` when
/// the slot does not exist.
pub async fn slot_lag(url: &Secret, channel: &str) -> Result<Option<i64>, IngestError> {
    let name = crate::source::postgres::display_name(url.expose(), "");
    let mut db = source::SourceDb::connect(url.expose(), &name).await?;
    let slot = format!("hdos_{}", slug(channel));
    let lag = db.lag_bytes(&slot).await;
    db.close().await;
    lag
}

/// What a running channel has done, for progress and monitoring.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CdcProgress {
    pub snapshot_done: bool,
    /// Every change committed at the source before this position is in the lake.
    pub applied_lsn: u64,
    /// WAL the slot holds beyond what was confirmed, as last measured.
    pub lag_bytes: Option<i64>,
    pub counts: RunCounts,
    pub deleted: u64,
    pub last_error: Option<String>,
}

/// A running channel.
#[derive(Debug)]
pub struct CdcChannel {
    stop: watch::Sender<bool>,
    task: JoinHandle<Result<RunCounts, IngestError>>,
    progress: watch::Receiver<CdcProgress>,
}

/// One source table as the stream lands it.
struct Table {
    name: String,
    columns: Vec<String>,
    mapping: CompiledMapping,
    landing: Landing,
}

struct Shared {
    store: Arc<dyn MetaStore>,
    lake: Lake,
    config: CdcConfig,
    tables: Vec<Table>,
    source_name: String,
    progress: watch::Sender<CdcProgress>,
}

fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// The columns of each mapped table, read on a blocking thread (the reader drives its own
/// connection).
async fn source_columns(config: &CdcConfig) -> Result<Vec<Vec<Column>>, IngestError> {
    let (url, schema) = (config.url.clone(), config.schema.clone());
    let tables: Vec<String> = config
        .mappings
        .iter()
        .map(|m| m.source_table.clone())
        .collect();
    tokio::task::spawn_blocking(move || {
        let catalog = BatchSource::Postgres { url, schema }.catalog()?;
        tables.iter().map(|t| catalog.columns(t)).collect()
    })
    .await
    .map_err(|e| IngestError::Source {
        source_name: config.schema.clone(),
        reason: e.to_string(),
    })?
}

impl CdcChannel {
    /// Sets up the source (publication, replica identity, slot) and starts the channel: the
    /// snapshot when the slot is new or the last one did not finish, then the stream.
    pub async fn start(
        store: Arc<dyn MetaStore>,
        lake: Lake,
        standard: &Standard,
        config: CdcConfig,
    ) -> Result<Self, IngestError> {
        let source_name =
            crate::source::postgres::display_name(config.url.expose(), &config.schema);
        let mut tables = Vec::new();
        for (m, columns) in config.mappings.iter().zip(source_columns(&config).await?) {
            let dataset = standard
                .dataset(&m.dataset)
                .ok_or_else(|| IngestError::UnknownDataset(m.dataset.clone()))?;
            let read = m.columns_read(None)?.0;
            let absent = crate::drift::check(
                store.as_ref(),
                (&config.channel, &config.institution),
                &m.source_table,
                &columns,
                &read,
            )
            .await?;
            let names: Vec<String> = columns.into_iter().map(|c| c.name).collect();
            let mapping = CompiledMapping::with_absent(m, dataset, &names, &absent)?;
            let landing = Landing::new(
                &config.channel,
                &m.source_table,
                &config.institution,
                &names,
                &mapping,
            )?
            .with_app_suffix("wal");
            landing.prepare(&lake).await?;
            tables.push(Table {
                name: m.source_table.clone(),
                columns: names,
                mapping,
                landing,
            });
        }
        let mut db = SourceDb::connect(config.url.expose(), &source_name).await?;
        let names: Vec<String> = tables.iter().map(|t| t.name.clone()).collect();
        for t in db.prepare(&config.slot(), &config.schema, &names).await? {
            tracing::warn!(
                channel = %config.channel, table = %t,
                "the table has no primary key: set REPLICA IDENTITY FULL so updates and deletes carry the old row"
            );
        }
        let slot = db.ensure_slot(&config.slot()).await?;
        let marker = store.ingest_checkpoint(&config.channel, SNAPSHOT).await?;
        let generation = marker.as_ref().map_or(0, |m| m.seq);
        let snapshot = if slot.created {
            // A new slot holds nothing from before now: read the tables whole, again.
            store
                .save_ingest_checkpoint(&config.channel, SNAPSHOT, generation + 1, Some("pending"))
                .await?;
            Some(generation > 0)
        } else if marker.as_ref().and_then(|m| m.position.as_deref()) != Some("done") {
            Some(false)
        } else {
            None
        };
        let (progress_tx, progress) = watch::channel(CdcProgress {
            snapshot_done: snapshot.is_none(),
            ..CdcProgress::default()
        });
        let (stop, stopped) = watch::channel(false);
        let shared = Arc::new(Shared {
            store,
            lake,
            config,
            tables,
            source_name,
            progress: progress_tx,
        });
        let task = tokio::spawn(run(shared, db, snapshot, stopped));
        Ok(Self {
            stop,
            task,
            progress,
        })
    }

    pub fn progress(&self) -> watch::Receiver<CdcProgress> {
        self.progress.clone()
    }

    /// Waits until every change committed at the source before `lsn` is in the lake.
    pub async fn caught_up_to(&self, lsn: u64) {
        let mut p = self.progress.clone();
        let _ = p.wait_for(|p| p.applied_lsn >= lsn).await;
    }

    /// Lands what has arrived, then stops.
    pub async fn stop(self) -> Result<RunCounts, IngestError> {
        self.stop.send_replace(true);
        self.task.await.map_err(|e| IngestError::Source {
            source_name: "CDC channel".into(),
            reason: e.to_string(),
        })?
    }
}

/// The snapshot, then the stream until stopped, reconnecting with backoff after failures.
async fn run(
    shared: Arc<Shared>,
    mut db: SourceDb,
    snapshot: Option<bool>,
    mut stop: watch::Receiver<bool>,
) -> Result<RunCounts, IngestError> {
    let c = &shared.config;
    if let Some(full) = snapshot {
        // Tables read whole so far; a failure is retried with backoff from the failed table.
        let mut done = vec![false; c.mappings.len()];
        let mut backoff = Duration::from_millis(500);
        loop {
            let mut failure = None;
            for (i, m) in c.mappings.iter().enumerate() {
                if done[i] {
                    continue;
                }
                let job = BatchJob {
                    channel: c.channel.clone(),
                    institution: c.institution.clone(),
                    source: BatchSource::Postgres {
                        url: c.url.clone(),
                        schema: c.schema.clone(),
                    },
                    mapping: m.clone(),
                    chunk_rows: c.chunk_rows,
                    full,
                };
                let standard = Standard::builtin()?;
                match batch::run(shared.store.as_ref(), &shared.lake, standard, &job).await {
                    Ok(_) => done[i] = true,
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                }
            }
            let Some(e) = failure else { break };
            let text = e.to_string();
            tracing::warn!(channel = %c.channel, error = %text, retry_in = ?backoff, "CDC snapshot failed; retrying");
            shared.progress.send_modify(|p| p.last_error = Some(text));
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = stop.changed() => return Ok(RunCounts::default()),
            }
            backoff = (backoff * 2).min(Duration::from_secs(30));
        }
        let generation = shared
            .store
            .ingest_checkpoint(&c.channel, SNAPSHOT)
            .await?
            .map_or(1, |m| m.seq);
        shared
            .store
            .save_ingest_checkpoint(&c.channel, SNAPSHOT, generation, Some("done"))
            .await?;
        shared.progress.send_modify(|p| p.snapshot_done = true);
    }
    let run = shared
        .store
        .start_ingest_run(&c.channel, CHANGES, &c.institution, "stream")
        .await?;
    let mut counts = RunCounts::default();
    let mut backoff = Duration::from_millis(500);
    let last_error = loop {
        let streamed = stream(&shared, &mut db, &mut stop, &mut counts, run.id).await;
        match streamed {
            Ok(()) => break None,
            Err(e) => {
                let text = e.to_string();
                tracing::warn!(channel = %c.channel, error = %text, retry_in = ?backoff, "CDC stream failed; reconnecting");
                shared
                    .progress
                    .send_modify(|p| p.last_error = Some(text.clone()));
                let _ = shared
                    .store
                    .update_ingest_run(run.id, RunStatus::Running, counts, Some(&text))
                    .await;
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stop.changed() => break Some(text),
                }
                backoff = (backoff * 2).min(Duration::from_secs(30));
                if let Ok(fresh) = SourceDb::connect(c.url.expose(), &shared.source_name).await {
                    db = fresh;
                }
            }
        }
    };
    let status = if last_error.is_some() {
        RunStatus::Failed
    } else {
        RunStatus::Succeeded
    };
    shared
        .store
        .update_ingest_run(run.id, status, counts, last_error.as_deref())
        .await?;
    db.close().await;
    Ok(counts)
}

/// `%XX` escapes of a URL part, decoded.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn replication_config(c: &CdcConfig, source_name: &str) -> Result<ReplicationConfig, IngestError> {
    let bad = |reason: &str| IngestError::SourceUnavailable {
        source_name: source_name.to_owned(),
        reason: reason.to_owned(),
    };
    let url = url::Url::parse(c.url.expose()).map_err(|e| bad(&e.to_string()))?;
    let mut config = ReplicationConfig::default();
    config.host = url
        .host_str()
        .ok_or_else(|| bad("the URL names no host"))?
        .to_owned();
    config.port = url.port().unwrap_or(5432);
    config.user = percent_decode(url.username());
    config.password = percent_decode(url.password().unwrap_or(""));
    config.database = percent_decode(url.path().trim_start_matches('/'));
    config.tls = TlsConfig::disabled();
    config.slot = c.slot();
    config.publication = c.slot().into();
    config.start_lsn = Lsn::from_u64(0);
    config.status_interval = Duration::from_secs(1);
    config.idle_wakeup_interval = Duration::from_secs(1);
    config.application_name = Some(format!("hdos {}", c.channel));
    Ok(config)
}

/// Changes of one table waiting to land.
#[derive(Default)]
struct TableChanges {
    rows: Vec<Vec<Option<String>>>,
    ops: Vec<&'static str>,
    positions: Vec<Position>,
}

/// Committed transactions waiting to land as one batch.
#[derive(Default)]
struct Pending {
    tables: Vec<TableChanges>,
    /// The end LSN of the last transaction in the batch.
    end: u64,
    changes: usize,
    since: Option<Instant>,
}

/// Where landing resumes, per table: the last batch in its std table; and the end of a batch
/// that reached some table's raw zone but not its std table (a crash between the two), to be
/// landed again with the same end so its raw commits are recognised and skipped.
async fn floors(shared: &Shared, confirmed: u64) -> Result<(Vec<u64>, Option<u64>), IngestError> {
    let mut std = Vec::new();
    let mut replay = None;
    for t in &shared.tables {
        let landed = t
            .landing
            .mapped
            .committed(&shared.lake)
            .await?
            .unwrap_or(0)
            .max(0) as u64;
        let raw = t
            .landing
            .raw_committed(&shared.lake)
            .await?
            .unwrap_or(0)
            .max(0) as u64;
        // Only a batch past the slot's confirmed position is sent again.
        if raw > landed && raw > confirmed {
            replay = replay.max(Some(raw));
        }
        std.push(landed);
    }
    Ok((std, replay))
}

/// A decoded row in the table's column order.
fn row_of(
    table: &Table,
    relation: &Relation,
    tuple: &Tuple,
    old: Option<&Tuple>,
) -> Vec<Option<String>> {
    let mut row = vec![None; table.columns.len()];
    for (i, col) in relation.columns.iter().enumerate() {
        let Some(at) = table.columns.iter().position(|c| *c == col.name) else {
            continue;
        };
        row[at] = match tuple.get(i) {
            Some(Value::Text(t)) => Some(t.clone()),
            // An unchanged TOASTed value: the old row has it when the identity is FULL.
            Some(Value::Unchanged) => match old.and_then(|o| o.get(i)) {
                Some(Value::Text(t)) => Some(t.clone()),
                _ => None,
            },
            _ => None,
        };
    }
    row
}

async fn stream(
    shared: &Shared,
    db: &mut SourceDb,
    stop: &mut watch::Receiver<bool>,
    counts: &mut RunCounts,
    run_id: i64,
) -> Result<(), IngestError> {
    let c = &shared.config;
    let unavailable = |e: pgwire_replication::PgWireError| IngestError::SourceUnavailable {
        source_name: shared.source_name.clone(),
        reason: e.to_string(),
    };
    // A slot dropped at the source lost changes: only a new snapshot can recover them.
    let confirmed = db
        .slot(&c.slot())
        .await?
        .ok_or_else(|| IngestError::Source {
            source_name: shared.source_name.clone(),
            reason: format!(
                "the replication slot {} was dropped at the source; restart the channel to read the tables whole again",
                c.slot()
            ),
        })?
        .as_deref()
        .and_then(parse_lsn)
        .unwrap_or(0);
    let (std_floor, replay_until) = floors(shared, confirmed).await?;
    let mut client = ReplicationClient::connect(replication_config(c, &shared.source_name)?)
        .await
        .map_err(unavailable)?;
    let mut relations: HashMap<u32, (usize, Relation)> = HashMap::new();
    let mut txn: Vec<(usize, &'static str, Vec<Option<String>>)> = Vec::new();
    let mut in_txn = false;
    let mut pending = Pending {
        tables: shared
            .tables
            .iter()
            .map(|_| TableChanges::default())
            .collect(),
        ..Pending::default()
    };
    let mut heartbeat = tokio::time::interval(c.heartbeat);
    let mut stopping = false;
    loop {
        let replaying = replay_until.is_some_and(|r| pending.end < r);
        let due = pending
            .since
            .map(|s| tokio::time::Instant::from_std(s + c.linger));
        let land_now = !replaying
            && pending.changes > 0
            && (stopping
                || pending.changes >= c.max_batch
                || due.is_some_and(|d| d <= tokio::time::Instant::now()));
        if land_now || (replay_until == Some(pending.end) && pending.changes > 0) {
            land(shared, &mut pending, counts, run_id).await?;
            client.update_applied_lsn(Lsn::from_u64(pending.end));
            continue;
        }
        if stopping {
            break;
        }
        tokio::select! {
            event = client.recv() => {
                let Some(event) = event.map_err(unavailable)? else {
                    return Err(IngestError::SourceUnavailable {
                        source_name: shared.source_name.clone(),
                        reason: "the replication stream ended".into(),
                    });
                };
                match event {
                    ReplicationEvent::Begin { .. } => {
                        in_txn = true;
                        txn.clear();
                    }
                    ReplicationEvent::XLogData { data, .. } => {
                        let message = pgoutput::decode(&data).map_err(|reason| IngestError::Source {
                            source_name: shared.source_name.clone(),
                            reason: format!("undecodable change: {reason}"),
                        })?;
                        collect(shared, &mut relations, &mut txn, message);
                    }
                    ReplicationEvent::Commit { end_lsn, .. } => {
                        in_txn = false;
                        let end = end_lsn.as_u64();
                        let mut kept = 0;
                        for (i, (t, op, row)) in txn.drain(..).enumerate() {
                            if end <= std_floor[t] {
                                continue;
                            }
                            let tc = &mut pending.tables[t];
                            tc.positions.push(Position {
                                cursor: Some(CursorValue::Text(format_lsn(end))),
                                tiebreak: i as i64,
                                scan_from: None,
                            });
                            tc.ops.push(op);
                            tc.rows.push(row);
                            kept += 1;
                        }
                        if kept > 0 || pending.changes > 0 {
                            pending.changes += kept;
                            pending.end = end;
                            pending.since.get_or_insert_with(Instant::now);
                        } else if replay_until.is_none_or(|r| end >= r) {
                            // Nothing of ours: the position can move on at once.
                            client.update_applied_lsn(end_lsn);
                            pending.end = end;
                            applied(shared, end);
                        }
                    }
                    ReplicationEvent::Message { lsn, .. }
                        if !in_txn
                            && pending.changes == 0
                            && replay_until.is_none_or(|r| lsn.as_u64() >= r) =>
                    {
                        client.update_applied_lsn(lsn);
                        applied(shared, lsn.as_u64());
                    }
                    ReplicationEvent::StoppedAt { .. } => stopping = true,
                    _ => {}
                }
            }
            _ = async { if let Some(d) = due { tokio::time::sleep_until(d).await } else { std::future::pending::<()>().await } } => {}
            _ = heartbeat.tick() => {
                db.heartbeat().await?;
                let lag = db.lag_bytes(&c.slot()).await?;
                shared.progress.send_modify(|p| p.lag_bytes = lag);
            }
            _ = stop.changed() => stopping = true,
        }
    }
    // A clean end: the worker sends the last confirmed position and closes the stream.
    client.stop();
    if let Err(e) = client.join().await {
        tracing::debug!(error = %e, "the replication stream ended uncleanly");
    }
    Ok(())
}

fn applied(shared: &Shared, lsn: u64) {
    shared.progress.send_modify(|p| {
        p.applied_lsn = p.applied_lsn.max(lsn);
        p.last_error = None;
    });
}

/// Adds a decoded message to the open transaction.
fn collect(
    shared: &Shared,
    relations: &mut HashMap<u32, (usize, Relation)>,
    txn: &mut Vec<(usize, &'static str, Vec<Option<String>>)>,
    message: Message,
) {
    let table_of = |relations: &HashMap<u32, (usize, Relation)>, id: u32| {
        relations.get(&id).map(|(t, r)| (*t, r.clone()))
    };
    match message {
        Message::Relation(r) => {
            if r.schema == shared.config.schema
                && let Some(t) = shared.tables.iter().position(|t| t.name == r.name)
            {
                let known = &shared.tables[t].columns;
                let drift: Vec<&str> = r
                    .columns
                    .iter()
                    .map(|c| c.name.as_str())
                    .filter(|c| !known.iter().any(|k| k == c))
                    .collect();
                if !drift.is_empty() {
                    tracing::warn!(channel = %shared.config.channel, table = %r.name, columns = ?drift, "source columns not in the mapping's table; mapped fields keep flowing");
                }
                relations.insert(r.id, (t, r));
            }
        }
        Message::Insert { relation, new } => {
            if let Some((t, r)) = table_of(relations, relation) {
                txn.push((t, "i", row_of(&shared.tables[t], &r, &new, None)));
            }
        }
        Message::Update { relation, old, new } => {
            if let Some((t, r)) = table_of(relations, relation) {
                txn.push((t, "u", row_of(&shared.tables[t], &r, &new, old.as_ref())));
            }
        }
        Message::Delete { relation, old } => {
            if let Some((t, r)) = table_of(relations, relation) {
                txn.push((t, "d", row_of(&shared.tables[t], &r, &old, None)));
            }
        }
        Message::Truncate { relations: ids } => {
            for id in ids {
                if let Some((t, _)) = relations.get(&id) {
                    tracing::error!(channel = %shared.config.channel, table = %shared.tables[*t].name, "the source table was truncated; its std rows are kept until a full collection");
                }
            }
        }
        Message::Begin | Message::Commit | Message::Other => {}
    }
}

/// Lands a batch: every table's changes into the raw change log, then into std and quarantine,
/// all under the batch's end LSN.
async fn land(
    shared: &Shared,
    pending: &mut Pending,
    counts: &mut RunCounts,
    run_id: i64,
) -> Result<(), IngestError> {
    let seq = pending.end as i64;
    let now = now_micros();
    let started = std::time::Instant::now();
    for (t, tc) in shared.tables.iter().zip(&pending.tables) {
        if !tc.rows.is_empty() {
            t.landing
                .append_changes(&shared.lake, seq, &tc.rows, &tc.positions, &tc.ops, now)
                .await?;
        }
    }
    let raw_ms = started.elapsed().as_millis();
    let changes = pending.changes;
    let mut deleted_total = 0;
    for (t, tc) in shared.tables.iter().zip(&mut pending.tables) {
        if tc.rows.is_empty() {
            continue;
        }
        let deleted: Vec<bool> = tc.ops.iter().map(|o| *o == "d").collect();
        let positions = &tc.positions;
        let position = |i: usize| positions.get(i).map(Position::encode).unwrap_or_default();
        let landed = t
            .landing
            .mapped
            .land_mapped_changes(
                &shared.lake,
                &t.mapping,
                seq,
                &tc.rows,
                &deleted,
                &position,
                now,
            )
            .await?;
        counts.rows_read += tc.rows.len() as i64;
        counts.rows_written += (landed.written + landed.deleted) as i64;
        counts.rows_quarantined += landed.quarantined as i64;
        counts.bytes += tc
            .rows
            .iter()
            .flatten()
            .flatten()
            .map(|v| v.len() as i64)
            .sum::<i64>();
        deleted_total += landed.deleted;
        *tc = TableChanges::default();
    }
    shared
        .store
        .save_ingest_checkpoint(
            &shared.config.channel,
            CHANGES,
            seq,
            Some(&format_lsn(pending.end)),
        )
        .await?;
    if let Err(e) = shared
        .store
        .update_ingest_run(run_id, RunStatus::Running, *counts, None)
        .await
    {
        tracing::warn!(error = %e, "could not record the stream's progress");
    }
    tracing::debug!(
        channel = %shared.config.channel,
        changes,
        raw_ms,
        std_ms = started.elapsed().as_millis() - raw_ms,
        "changes landed"
    );
    pending.changes = 0;
    pending.since = None;
    let counts = *counts;
    shared.progress.send_modify(|p| {
        p.counts = counts;
        p.deleted += deleted_total;
    });
    applied(shared, pending.end);
    Ok(())
}
