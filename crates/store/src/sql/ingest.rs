use super::{Db, on_pool};
use crate::{
    StoreError,
    model::{
        DailyVolume, IngestCheckpoint, IngestRun, Page, RunCounts, RunFilter, RunStatus, now_millis,
    },
};

#[derive(sqlx::FromRow)]
struct CheckpointRow {
    channel: String,
    source_table: String,
    seq: i64,
    position: Option<String>,
    updated_at: i64,
}

pub(super) async fn checkpoint(
    db: &Db,
    channel: &str,
    table: &str,
) -> Result<Option<IngestCheckpoint>, StoreError> {
    let sql = "SELECT channel, source_table, seq, position, updated_at FROM ingest_checkpoints \
               WHERE channel = $1 AND source_table = $2";
    let row: Option<CheckpointRow> = on_pool!(db, p => sqlx::query_as(sql)
        .bind(channel).bind(table).fetch_optional(p).await)?;
    Ok(row.map(|r| IngestCheckpoint {
        channel: r.channel,
        source_table: r.source_table,
        seq: r.seq,
        position: r.position,
        updated_at: r.updated_at,
    }))
}

/// Stores the checkpoint unless a later chunk is already recorded (a stale writer never moves
/// a channel back). Returns whether it was stored.
pub(super) async fn save_checkpoint(
    db: &Db,
    channel: &str,
    table: &str,
    seq: i64,
    position: Option<&str>,
) -> Result<bool, StoreError> {
    let sql = "INSERT INTO ingest_checkpoints (channel, source_table, seq, position, updated_at) \
               VALUES ($1, $2, $3, $4, $5) ON CONFLICT (channel, source_table) DO UPDATE SET \
               seq = excluded.seq, position = excluded.position, updated_at = excluded.updated_at \
               WHERE ingest_checkpoints.seq <= excluded.seq";
    let n = on_pool!(db, p => sqlx::query(sql).bind(channel).bind(table).bind(seq)
        .bind(position).bind(now_millis()).execute(p).await.map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

#[derive(sqlx::FromRow)]
struct RunRow {
    id: i64,
    channel: String,
    source_table: String,
    institution: String,
    mode: String,
    status: String,
    started_at: i64,
    finished_at: Option<i64>,
    rows_read: i64,
    rows_written: i64,
    rows_quarantined: i64,
    bytes: i64,
    error: Option<String>,
}

impl TryFrom<RunRow> for IngestRun {
    type Error = StoreError;

    fn try_from(r: RunRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: r.id,
            status: RunStatus::parse(&r.status).ok_or_else(|| StoreError::InvalidInput {
                what: "run status",
                reason: r.status.clone(),
            })?,
            channel: r.channel,
            source_table: r.source_table,
            institution: r.institution,
            mode: r.mode,
            started_at: r.started_at,
            finished_at: r.finished_at,
            counts: RunCounts {
                rows_read: r.rows_read,
                rows_written: r.rows_written,
                rows_quarantined: r.rows_quarantined,
                bytes: r.bytes,
            },
            error: r.error,
        })
    }
}

const RUN_COLUMNS: &str = "id, channel, source_table, institution, mode, status, started_at, finished_at, \
                           rows_read, rows_written, rows_quarantined, bytes, error";

pub(super) async fn start_run(
    db: &Db,
    channel: &str,
    table: &str,
    institution: &str,
    mode: &str,
) -> Result<IngestRun, StoreError> {
    let sql = format!(
        "INSERT INTO ingest_runs (channel, source_table, institution, mode, status, started_at) \
         VALUES ($1, $2, $3, $4, 'running', $5) RETURNING {RUN_COLUMNS}"
    );
    let row: RunRow = on_pool!(db, p => sqlx::query_as(&sql).bind(channel).bind(table)
        .bind(institution).bind(mode).bind(now_millis()).fetch_one(p).await)?;
    row.try_into()
}

/// Records progress, or the end of the run when `status` is not `Running`.
pub(super) async fn update_run(
    db: &Db,
    id: i64,
    status: RunStatus,
    counts: RunCounts,
    error: Option<&str>,
) -> Result<(), StoreError> {
    let finished = (status != RunStatus::Running).then(now_millis);
    let sql = "UPDATE ingest_runs SET status = $1, finished_at = $2, rows_read = $3, \
               rows_written = $4, rows_quarantined = $5, bytes = $6, error = $7 WHERE id = $8";
    let n = on_pool!(db, p => sqlx::query(sql).bind(status.as_str()).bind(finished)
        .bind(counts.rows_read).bind(counts.rows_written).bind(counts.rows_quarantined)
        .bind(counts.bytes).bind(error).bind(id).execute(p).await.map(|r| r.rows_affected()))?;
    if n == 0 {
        return Err(StoreError::NotFound {
            what: "ingest run",
            key: id.to_string(),
        });
    }
    Ok(())
}

/// Newest first.
pub(super) async fn list_runs(
    db: &Db,
    filter: &RunFilter,
    page: Page,
) -> Result<Vec<IngestRun>, StoreError> {
    let sql = format!(
        "SELECT {RUN_COLUMNS} FROM ingest_runs WHERE {FILTER} ORDER BY id DESC LIMIT $3 OFFSET $4"
    );
    let rows: Vec<RunRow> = on_pool!(db, p => sqlx::query_as(&sql).bind(filter.channel.as_deref())
        .bind(filter.institution.as_deref()).bind(page.limit).bind(page.offset).fetch_all(p).await)?;
    rows.into_iter().map(TryInto::try_into).collect()
}

pub(super) async fn count_runs(db: &Db, filter: &RunFilter) -> Result<i64, StoreError> {
    let sql = format!("SELECT count(*) FROM ingest_runs WHERE {FILTER}");
    Ok(
        on_pool!(db, p => sqlx::query_scalar(&sql).bind(filter.channel.as_deref())
        .bind(filter.institution.as_deref()).fetch_one(p).await)?,
    )
}

const FILTER: &str = "($1 IS NULL OR channel = $1) AND ($2 IS NULL OR institution = $2)";

/// Rows written per institution and day (China Standard Time) by runs started since `since`.
pub(super) async fn daily_volume(
    db: &Db,
    since: i64,
    institution: Option<&str>,
) -> Result<Vec<DailyVolume>, StoreError> {
    let sql = "SELECT institution, (started_at + 28800000) / 86400000 AS day, \
               CAST(SUM(rows_written) AS BIGINT) AS rows_written FROM ingest_runs \
               WHERE started_at >= $1 AND ($2 IS NULL OR institution = $2) \
               GROUP BY institution, (started_at + 28800000) / 86400000 ORDER BY institution, day";
    let rows: Vec<(String, i64, i64)> = on_pool!(db, p => sqlx::query_as(sql)
        .bind(since).bind(institution).fetch_all(p).await)?;
    Ok(by_day(rows))
}

/// (institution, day number since the epoch, count) as dated daily counts.
pub(super) fn by_day(rows: Vec<(String, i64, i64)>) -> Vec<DailyVolume> {
    rows.into_iter()
        .map(|(institution, day, rows)| DailyVolume {
            institution,
            day: chrono::DateTime::from_timestamp(day * 86_400, 0)
                .map(|d| d.format("%Y-%m-%d").to_string())
                .unwrap_or_default(),
            rows,
        })
        .collect()
}

pub(super) async fn source_schema(
    db: &Db,
    channel: &str,
    table: &str,
) -> Result<Option<String>, StoreError> {
    let sql = "SELECT columns FROM source_schemas WHERE channel = $1 AND source_table = $2";
    Ok(
        on_pool!(db, p => sqlx::query_scalar(sql).bind(channel).bind(table)
        .fetch_optional(p).await)?,
    )
}

pub(super) async fn save_source_schema(
    db: &Db,
    channel: &str,
    table: &str,
    columns: &str,
) -> Result<(), StoreError> {
    let sql = "INSERT INTO source_schemas (channel, source_table, columns, seen_at) \
               VALUES ($1, $2, $3, $4) ON CONFLICT (channel, source_table) \
               DO UPDATE SET columns = excluded.columns, seen_at = excluded.seen_at";
    on_pool!(db, p => sqlx::query(sql).bind(channel).bind(table).bind(columns)
        .bind(now_millis()).execute(p).await.map(|_| ()))?;
    Ok(())
}

/// When the oldest batch collection run still running started, if one is (a streaming
/// channel's run lasts as long as the channel and commits as it goes: it is not counted).
pub(super) async fn oldest_running_ingest(db: &Db) -> Result<Option<i64>, StoreError> {
    let sql =
        "SELECT MIN(started_at) FROM ingest_runs WHERE status = 'running' AND mode <> 'stream'";
    let min: Option<i64> = on_pool!(db, p => sqlx::query_scalar(sql).fetch_one(p).await)?;
    Ok(min)
}
