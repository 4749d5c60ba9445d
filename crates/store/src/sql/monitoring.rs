//! Reconciliation results, alerts, and link nodes' probes and samples. An alert is keyed by (kind, channel, subject) while it is
//! unresolved, so raising the same problem again updates it instead of adding another.

use super::{Db, on_pool};
use crate::{
    StoreError,
    model::{
        Alert, AlertFilter, AlertStatus, DailyVolume, LinkSample, LinkStatus, Millis, NewAlert,
        Page, ReconciliationDay, ReconciliationFilter, now_millis,
    },
};

#[derive(sqlx::FromRow)]
struct DayRow {
    channel: String,
    dataset: String,
    institution: String,
    day: String,
    source_rows: i64,
    lake_rows: i64,
    unmapped_rows: i64,
    source_checksum: String,
    lake_checksum: String,
    checked_at: i64,
}

impl From<DayRow> for ReconciliationDay {
    fn from(r: DayRow) -> Self {
        Self {
            channel: r.channel,
            dataset: r.dataset,
            institution: r.institution,
            day: r.day,
            source_rows: r.source_rows,
            lake_rows: r.lake_rows,
            unmapped_rows: r.unmapped_rows,
            source_checksum: r.source_checksum,
            lake_checksum: r.lake_checksum,
            checked_at: r.checked_at,
        }
    }
}

/// Replaces a channel's results with `days` (days no longer present at either side go away).
pub(super) async fn save_reconciliation(
    db: &Db,
    channel: &str,
    days: &[ReconciliationDay],
) -> Result<(), StoreError> {
    let insert = "INSERT INTO reconciliations (channel, dataset, institution, day, source_rows, \
                  lake_rows, unmapped_rows, source_checksum, lake_checksum, checked_at) \
                  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
    on_pool!(db, p => {
        let mut tx = p.begin_with(db.begin_write()).await?;
        sqlx::query("DELETE FROM reconciliations WHERE channel = $1")
            .bind(channel).execute(&mut *tx).await?;
        for d in days {
            sqlx::query(insert)
                .bind(&d.channel).bind(&d.dataset).bind(&d.institution).bind(&d.day)
                .bind(d.source_rows).bind(d.lake_rows).bind(d.unmapped_rows)
                .bind(&d.source_checksum).bind(&d.lake_checksum).bind(d.checked_at)
                .execute(&mut *tx).await?;
        }
        tx.commit().await
    })?;
    Ok(())
}

const RECONCILIATION_FILTER: &str = "($1 IS NULL OR channel = $1) AND ($2 IS NULL OR institution = $2) \
     AND ($3 = 0 OR source_rows <> lake_rows OR source_checksum <> lake_checksum)";

pub(super) async fn count_reconciliations(
    db: &Db,
    filter: &ReconciliationFilter,
) -> Result<i64, StoreError> {
    let sql = format!("SELECT COUNT(*) FROM reconciliations WHERE {RECONCILIATION_FILTER}");
    let n: i64 = on_pool!(db, p => sqlx::query_scalar(&sql)
        .bind(&filter.channel).bind(&filter.institution).bind(i64::from(filter.mismatched_only))
        .fetch_one(p).await)?;
    Ok(n)
}

/// Newest days first.
pub(super) async fn list_reconciliations(
    db: &Db,
    filter: &ReconciliationFilter,
    page: Page,
) -> Result<Vec<ReconciliationDay>, StoreError> {
    let sql = format!(
        "SELECT channel, dataset, institution, day, source_rows, lake_rows, unmapped_rows, \
         source_checksum, lake_checksum, checked_at FROM reconciliations \
         WHERE {RECONCILIATION_FILTER} ORDER BY day DESC, channel, dataset LIMIT $4 OFFSET $5"
    );
    let rows: Vec<DayRow> = on_pool!(db, p => sqlx::query_as(&sql)
        .bind(&filter.channel).bind(&filter.institution).bind(i64::from(filter.mismatched_only))
        .bind(page.limit).bind(page.offset)
        .fetch_all(p).await)?;
    Ok(rows.into_iter().map(Into::into).collect())
}

#[derive(sqlx::FromRow)]
struct AlertRow {
    id: i64,
    kind: String,
    channel: String,
    institution: String,
    subject: String,
    message: String,
    status: String,
    raised_at: i64,
    updated_at: i64,
    acknowledged_by: Option<String>,
    resolved_at: Option<i64>,
}

impl From<AlertRow> for Alert {
    fn from(r: AlertRow) -> Self {
        Self {
            id: r.id,
            kind: r.kind,
            channel: r.channel,
            institution: r.institution,
            subject: r.subject,
            message: r.message,
            status: AlertStatus::parse(&r.status).unwrap_or(AlertStatus::Open),
            raised_at: r.raised_at,
            updated_at: r.updated_at,
            acknowledged_by: r.acknowledged_by,
            resolved_at: r.resolved_at,
        }
    }
}

const ALERT_COLUMNS: &str = "id, kind, channel, institution, subject, message, status, raised_at, \
                             updated_at, acknowledged_by, resolved_at";

/// Raises the alert, or updates the message of the unresolved one for the same problem; the
/// flag says whether it is new.
pub(super) async fn raise_alert(db: &Db, new: &NewAlert) -> Result<(Alert, bool), StoreError> {
    let now = now_millis();
    let update = format!(
        "UPDATE alerts SET message = $4, updated_at = $5 \
         WHERE kind = $1 AND channel = $2 AND subject = $3 AND status <> 'resolved' \
         RETURNING {ALERT_COLUMNS}"
    );
    let existing: Option<AlertRow> = on_pool!(db, p => sqlx::query_as(&update)
        .bind(&new.kind).bind(&new.channel).bind(&new.subject).bind(&new.message).bind(now)
        .fetch_optional(p).await)?;
    if let Some(row) = existing {
        return Ok((row.into(), false));
    }
    let insert = format!(
        "INSERT INTO alerts (kind, channel, institution, subject, message, status, raised_at, \
         updated_at) VALUES ($1, $2, $3, $4, $5, 'open', $6, $6) RETURNING {ALERT_COLUMNS}"
    );
    let row: AlertRow = on_pool!(db, p => sqlx::query_as(&insert)
        .bind(&new.kind).bind(&new.channel).bind(&new.institution).bind(&new.subject)
        .bind(&new.message).bind(now)
        .fetch_one(p).await)?;
    Ok((row.into(), true))
}

/// Resolves the unresolved alerts of this kind and channel whose subject is not in `still`:
/// the problems monitoring no longer sees.
pub(super) async fn resolve_cleared(
    db: &Db,
    kind: &str,
    channel: &str,
    still: &[String],
) -> Result<u64, StoreError> {
    let sql = format!(
        "SELECT {ALERT_COLUMNS} FROM alerts WHERE kind = $1 AND channel = $2 AND status <> 'resolved'"
    );
    let open: Vec<AlertRow> =
        on_pool!(db, p => sqlx::query_as(&sql).bind(kind).bind(channel).fetch_all(p).await)?;
    let mut resolved = 0;
    for a in open.into_iter().filter(|a| !still.contains(&a.subject)) {
        set_status(db, a.id, AlertStatus::Resolved, None).await?;
        resolved += 1;
    }
    Ok(resolved)
}

pub(super) async fn set_status(
    db: &Db,
    id: i64,
    status: AlertStatus,
    by: Option<&str>,
) -> Result<Alert, StoreError> {
    let now = now_millis();
    let sql = format!(
        "UPDATE alerts SET status = $2, updated_at = $3, \
         acknowledged_by = CASE WHEN $2 = 'acknowledged' THEN $4 ELSE acknowledged_by END, \
         resolved_at = CASE WHEN $2 = 'resolved' THEN $3 ELSE resolved_at END \
         WHERE id = $1 RETURNING {ALERT_COLUMNS}"
    );
    let row: Option<AlertRow> = on_pool!(db, p => sqlx::query_as(&sql)
        .bind(id).bind(status.as_str()).bind(now).bind(by)
        .fetch_optional(p).await)?;
    row.map(Into::into).ok_or(StoreError::NotFound {
        what: "alert",
        key: id.to_string(),
    })
}

pub(super) async fn alert(db: &Db, id: i64) -> Result<Option<Alert>, StoreError> {
    let sql = format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE id = $1");
    let row: Option<AlertRow> =
        on_pool!(db, p => sqlx::query_as(&sql).bind(id).fetch_optional(p).await)?;
    Ok(row.map(Into::into))
}

/// Newest first.
pub(super) async fn list_alerts(
    db: &Db,
    filter: &AlertFilter,
    page: Page,
) -> Result<Vec<Alert>, StoreError> {
    let sql = format!(
        "SELECT {ALERT_COLUMNS} FROM alerts WHERE ($1 IS NULL OR institution = $1) \
         AND ($2 = 1 OR status <> 'resolved') ORDER BY raised_at DESC, id DESC LIMIT $3 OFFSET $4"
    );
    let rows: Vec<AlertRow> = on_pool!(db, p => sqlx::query_as(&sql)
        .bind(&filter.institution).bind(i64::from(filter.include_resolved))
        .bind(page.limit).bind(page.offset)
        .fetch_all(p).await)?;
    Ok(rows.into_iter().map(Into::into).collect())
}

pub(super) async fn count_alerts(db: &Db, filter: &AlertFilter) -> Result<i64, StoreError> {
    let sql = "SELECT COUNT(*) FROM alerts WHERE ($1 IS NULL OR institution = $1) \
               AND ($2 = 1 OR status <> 'resolved')";
    let n: i64 = on_pool!(db, p => sqlx::query_scalar(sql)
        .bind(&filter.institution).bind(i64::from(filter.include_resolved))
        .fetch_one(p).await)?;
    Ok(n)
}

#[derive(sqlx::FromRow)]
struct LinkRow {
    channel: String,
    node: String,
    ok: i64,
    latency_ms: i64,
    detail: String,
    checked_at: i64,
}

pub(super) async fn save_link_status(db: &Db, status: &LinkStatus) -> Result<(), StoreError> {
    let sql = "INSERT INTO link_status (channel, node, ok, latency_ms, detail, checked_at) \
               VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (channel, node) DO UPDATE SET \
               ok = excluded.ok, latency_ms = excluded.latency_ms, detail = excluded.detail, \
               checked_at = excluded.checked_at";
    on_pool!(db, p => sqlx::query(sql)
        .bind(&status.channel).bind(&status.node).bind(i64::from(status.ok))
        .bind(status.latency_ms).bind(&status.detail).bind(status.checked_at)
        .execute(p).await.map(|_| ()))?;
    Ok(())
}

/// Every node's last probe, by channel and node.
pub(super) async fn link_statuses(db: &Db) -> Result<Vec<LinkStatus>, StoreError> {
    let sql = "SELECT channel, node, ok, latency_ms, detail, checked_at FROM link_status \
               ORDER BY channel, node";
    let rows: Vec<LinkRow> = on_pool!(db, p => sqlx::query_as(sql).fetch_all(p).await)?;
    Ok(rows
        .into_iter()
        .map(|r| LinkStatus {
            channel: r.channel,
            node: r.node,
            ok: r.ok != 0,
            latency_ms: r.latency_ms,
            detail: r.detail,
            checked_at: r.checked_at,
        })
        .collect())
}

#[derive(sqlx::FromRow)]
struct SampleRow {
    channel: String,
    institution: String,
    at: i64,
    latency_ms: Option<i64>,
    backlog_bytes: Option<i64>,
}

pub(super) async fn save_link_sample(db: &Db, s: &LinkSample) -> Result<(), StoreError> {
    let sql = "INSERT INTO link_samples (channel, institution, at, latency_ms, backlog_bytes) \
               VALUES ($1, $2, $3, $4, $5)";
    on_pool!(db, p => sqlx::query(sql)
        .bind(&s.channel).bind(&s.institution).bind(s.at).bind(s.latency_ms)
        .bind(s.backlog_bytes)
        .execute(p).await.map(|_| ()))?;
    Ok(())
}

pub(super) async fn link_samples(
    db: &Db,
    since: Millis,
    institution: Option<&str>,
) -> Result<Vec<LinkSample>, StoreError> {
    let sql = "SELECT channel, institution, at, latency_ms, backlog_bytes FROM link_samples \
               WHERE at >= $1 AND ($2 IS NULL OR institution = $2) ORDER BY at, channel";
    let rows: Vec<SampleRow> = on_pool!(db, p => sqlx::query_as(sql)
        .bind(since).bind(institution).fetch_all(p).await)?;
    Ok(rows
        .into_iter()
        .map(|r| LinkSample {
            channel: r.channel,
            institution: r.institution,
            at: r.at,
            latency_ms: r.latency_ms,
            backlog_bytes: r.backlog_bytes,
        })
        .collect())
}

pub(super) async fn prune_link_samples(db: &Db, before: Millis) -> Result<u64, StoreError> {
    let sql = "DELETE FROM link_samples WHERE at < $1";
    let n = on_pool!(db, p => sqlx::query(sql).bind(before)
        .execute(p).await.map(|r| r.rows_affected()))?;
    Ok(n)
}

/// Alerts raised per institution and day (China Standard Time) since `since`.
pub(super) async fn daily_alerts(
    db: &Db,
    since: Millis,
    institution: Option<&str>,
) -> Result<Vec<DailyVolume>, StoreError> {
    let sql = "SELECT institution, (raised_at + 28800000) / 86400000 AS day, \
               CAST(COUNT(*) AS BIGINT) AS n FROM alerts \
               WHERE raised_at >= $1 AND ($2 IS NULL OR institution = $2) \
               GROUP BY institution, (raised_at + 28800000) / 86400000 ORDER BY institution, day";
    let rows: Vec<(String, i64, i64)> = on_pool!(db, p => sqlx::query_as(sql)
        .bind(since).bind(institution).fetch_all(p).await)?;
    Ok(super::ingest::by_day(rows))
}
