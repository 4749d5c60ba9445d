//! Channels, their leases and the workers that hold them. A lease is claimed with one upsert
//! that succeeds only when no one holds it or the holder let it expire, so two workers never
//! both hold a channel; renewing needs the token of the claim, so a holder that lost the lease
//! learns it at its next renewal.

use super::{Db, on_pool};
use crate::{
    StoreError,
    model::{
        Channel, ChannelLease, ChannelOutcome, Millis, NewChannel, Page, WorkerStatus, now_millis,
    },
};

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    name: String,
    institution: String,
    kind: String,
    spec: String,
    schedule: Option<String>,
    enabled: i64,
    next_run_at: Option<i64>,
    run_requested_at: Option<i64>,
    cancel_requested_at: Option<i64>,
    failures: i64,
    last_error: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl From<Row> for Channel {
    fn from(r: Row) -> Self {
        Self {
            id: r.id,
            name: r.name,
            institution: r.institution,
            kind: r.kind,
            spec: r.spec,
            schedule: r.schedule,
            enabled: r.enabled != 0,
            next_run_at: r.next_run_at,
            run_requested_at: r.run_requested_at,
            cancel_requested_at: r.cancel_requested_at,
            failures: r.failures,
            last_error: r.last_error,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

const COLUMNS: &str = "id, name, institution, kind, spec, schedule, enabled, next_run_at, \
                       run_requested_at, cancel_requested_at, failures, last_error, created_at, \
                       updated_at";

pub(super) async fn save(db: &Db, new: NewChannel) -> Result<Channel, StoreError> {
    let now = now_millis();
    let sql = format!(
        "INSERT INTO channels (name, institution, kind, spec, schedule, enabled, next_run_at, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) \
         ON CONFLICT (name) DO UPDATE SET institution = excluded.institution, \
         kind = excluded.kind, spec = excluded.spec, schedule = excluded.schedule, \
         enabled = excluded.enabled, next_run_at = excluded.next_run_at, \
         updated_at = excluded.updated_at \
         RETURNING {COLUMNS}"
    );
    let row: Row = on_pool!(db, p => sqlx::query_as(&sql)
        .bind(&new.name).bind(&new.institution).bind(&new.kind).bind(&new.spec)
        .bind(&new.schedule).bind(i64::from(new.enabled)).bind(new.next_run_at).bind(now)
        .fetch_one(p).await)
    .map_err(|e| StoreError::from_sqlx("channel", &new.name, e))?;
    Ok(row.into())
}

pub(super) async fn by_name(db: &Db, name: &str) -> Result<Option<Channel>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM channels WHERE name = $1");
    let row: Option<Row> =
        on_pool!(db, p => sqlx::query_as(&sql).bind(name).fetch_optional(p).await)?;
    Ok(row.map(Into::into))
}

pub(super) async fn list(
    db: &Db,
    institution: Option<&str>,
    page: Page,
) -> Result<Vec<Channel>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM channels WHERE ($1 IS NULL OR institution = $1) \
         ORDER BY name LIMIT $2 OFFSET $3"
    );
    let rows: Vec<Row> = on_pool!(db, p => sqlx::query_as(&sql)
        .bind(institution).bind(page.limit).bind(page.offset)
        .fetch_all(p).await)?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// Fails when an update by name touched no channel.
fn found(rows_affected: u64, name: &str) -> Result<(), StoreError> {
    if rows_affected == 0 {
        return Err(StoreError::NotFound {
            what: "channel",
            key: name.to_owned(),
        });
    }
    Ok(())
}

pub(super) async fn delete(db: &Db, name: &str) -> Result<(), StoreError> {
    let done = on_pool!(db, p => sqlx::query("DELETE FROM channels WHERE name = $1")
        .bind(name).execute(p).await.map(|r| r.rows_affected()))?;
    found(done, name)?;
    on_pool!(db, p => sqlx::query("DELETE FROM channel_leases WHERE channel = $1")
        .bind(name).execute(p).await.map(|r| r.rows_affected()))?;
    Ok(())
}

pub(super) async fn set_enabled(db: &Db, name: &str, enabled: bool) -> Result<(), StoreError> {
    let sql = "UPDATE channels SET enabled = $2, updated_at = $3 WHERE name = $1";
    let done = on_pool!(db, p => sqlx::query(sql)
        .bind(name).bind(i64::from(enabled)).bind(now_millis()).execute(p).await.map(|r| r.rows_affected()))?;
    found(done, name)
}

/// Asks for a run (of a batch channel); a pending request is kept as it was.
pub(super) async fn request_run(db: &Db, name: &str, at: Millis) -> Result<(), StoreError> {
    let sql = "UPDATE channels SET run_requested_at = COALESCE(run_requested_at, $2), \
               updated_at = $2 WHERE name = $1";
    let done = on_pool!(db, p => sqlx::query(sql).bind(name).bind(at).execute(p).await.map(|r| r.rows_affected()))?;
    found(done, name)
}

/// Asks the worker running the channel to stop the current run.
pub(super) async fn request_cancel(db: &Db, name: &str, at: Millis) -> Result<(), StoreError> {
    let sql = "UPDATE channels SET cancel_requested_at = COALESCE(cancel_requested_at, $2), \
               updated_at = $2 WHERE name = $1";
    let done = on_pool!(db, p => sqlx::query(sql).bind(name).bind(at).execute(p).await.map(|r| r.rows_affected()))?;
    found(done, name)
}

/// Drops a cancel request that no run is left to answer.
pub(super) async fn clear_cancel(db: &Db, name: &str) -> Result<(), StoreError> {
    let sql = "UPDATE channels SET cancel_requested_at = NULL WHERE name = $1";
    on_pool!(db, p => sqlx::query(sql).bind(name).execute(p).await.map(|_| ()))?;
    Ok(())
}

/// Records how a run ended and clears the requests it answered (those made before it started).
pub(super) async fn finish_run(
    db: &Db,
    name: &str,
    outcome: &ChannelOutcome,
) -> Result<(), StoreError> {
    let sql = "UPDATE channels SET next_run_at = $2, failures = $3, last_error = $4, \
               run_requested_at = CASE WHEN run_requested_at <= $5 THEN NULL \
                                       ELSE run_requested_at END, \
               cancel_requested_at = NULL, updated_at = $6 \
               WHERE name = $1";
    on_pool!(db, p => sqlx::query(sql)
        .bind(name).bind(outcome.next_run_at).bind(outcome.failures).bind(&outcome.last_error)
        .bind(outcome.started_at).bind(now_millis())
        .execute(p).await.map(|r| r.rows_affected()))?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct LeaseRow {
    channel: String,
    worker: String,
    token: i64,
    acquired_at: i64,
    expires_at: i64,
}

impl From<LeaseRow> for ChannelLease {
    fn from(r: LeaseRow) -> Self {
        Self {
            channel: r.channel,
            worker: r.worker,
            token: r.token,
            acquired_at: r.acquired_at,
            expires_at: r.expires_at,
        }
    }
}

/// The lease, if no one holds the channel or its holder let the lease expire by `now`.
pub(super) async fn claim_lease(
    db: &Db,
    channel: &str,
    worker: &str,
    now: Millis,
    ttl_ms: i64,
) -> Result<Option<ChannelLease>, StoreError> {
    // Both databases evaluate the SET and WHERE of the conflict branch against the stored row, and
    // PostgreSQL re-checks the WHERE after waiting for a concurrent claim: one claimant wins.
    let sql = "INSERT INTO channel_leases (channel, worker, token, acquired_at, renewed_at, \
               expires_at) VALUES ($1, $2, 1, $3, $3, $4) \
               ON CONFLICT (channel) DO UPDATE SET worker = excluded.worker, \
               token = channel_leases.token + 1, acquired_at = excluded.acquired_at, \
               renewed_at = excluded.renewed_at, expires_at = excluded.expires_at \
               WHERE channel_leases.expires_at <= excluded.acquired_at \
               RETURNING channel, worker, token, acquired_at, expires_at";
    let row: Option<LeaseRow> = on_pool!(db, p => sqlx::query_as(sql)
        .bind(channel).bind(worker).bind(now).bind(now + ttl_ms)
        .fetch_optional(p).await)?;
    Ok(row.map(Into::into))
}

/// Extends a lease still held under this token; false when it was lost (expired or taken).
pub(super) async fn renew_lease(
    db: &Db,
    lease: &ChannelLease,
    now: Millis,
    ttl_ms: i64,
) -> Result<bool, StoreError> {
    let sql = "UPDATE channel_leases SET renewed_at = $4, expires_at = $5 \
               WHERE channel = $1 AND worker = $2 AND token = $3 AND expires_at > $4";
    let done = on_pool!(db, p => sqlx::query(sql)
        .bind(&lease.channel).bind(&lease.worker).bind(lease.token).bind(now).bind(now + ttl_ms)
        .execute(p).await.map(|r| r.rows_affected()))?;
    Ok(done == 1)
}

/// Lets the lease go at once, if it is still held under this token.
pub(super) async fn release_lease(db: &Db, lease: &ChannelLease) -> Result<(), StoreError> {
    let sql = "UPDATE channel_leases SET expires_at = 0 \
               WHERE channel = $1 AND worker = $2 AND token = $3";
    on_pool!(db, p => sqlx::query(sql)
        .bind(&lease.channel).bind(&lease.worker).bind(lease.token)
        .execute(p).await.map(|r| r.rows_affected()))?;
    Ok(())
}

/// Leases that have not expired by `now`, by channel.
pub(super) async fn live_leases(db: &Db, now: Millis) -> Result<Vec<ChannelLease>, StoreError> {
    let sql = "SELECT channel, worker, token, acquired_at, expires_at FROM channel_leases \
               WHERE expires_at > $1 ORDER BY channel";
    let rows: Vec<LeaseRow> = on_pool!(db, p => sqlx::query_as(sql).bind(now).fetch_all(p).await)?;
    Ok(rows.into_iter().map(Into::into).collect())
}

#[derive(sqlx::FromRow)]
struct WorkerRow {
    id: String,
    host: String,
    pid: i64,
    started_at: i64,
    seen_at: i64,
    running: String,
    stopped_at: Option<i64>,
}

/// Records that the worker is alive (or, with `stopped`, that it stopped) and what it runs.
pub(super) async fn report_worker(db: &Db, status: &WorkerStatus) -> Result<(), StoreError> {
    let sql = "INSERT INTO workers (id, host, pid, started_at, seen_at, running, stopped_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $7) \
               ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at, \
               running = excluded.running, stopped_at = excluded.stopped_at";
    on_pool!(db, p => sqlx::query(sql)
        .bind(&status.id).bind(&status.host).bind(status.pid).bind(status.started_at)
        .bind(status.seen_at).bind(status.running.join(",")).bind(status.stopped_at)
        .execute(p).await.map(|r| r.rows_affected()))?;
    Ok(())
}

/// The workers seen since `since`, most recently seen first.
pub(super) async fn workers(db: &Db, since: Millis) -> Result<Vec<WorkerStatus>, StoreError> {
    let sql = "SELECT id, host, pid, started_at, seen_at, running, stopped_at FROM workers \
               WHERE seen_at >= $1 ORDER BY seen_at DESC, id LIMIT 500";
    let rows: Vec<WorkerRow> =
        on_pool!(db, p => sqlx::query_as(sql).bind(since).fetch_all(p).await)?;
    Ok(rows
        .into_iter()
        .map(|r| WorkerStatus {
            id: r.id,
            host: r.host,
            pid: r.pid,
            started_at: r.started_at,
            seen_at: r.seen_at,
            running: r
                .running
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            stopped_at: r.stopped_at,
        })
        .collect())
}
