//! The audit log: appends extend the hash chain inside one transaction with the chain's head.

use super::{Db, on_pool};
use crate::{
    ChainStatus, StoreError,
    audit_chain::{ChainVerifier, GENESIS_HASH, Hashed},
    model::{AuditEntry, AuditFilter, NewAuditEntry, Page, now_millis},
};

#[derive(sqlx::FromRow)]
struct Row {
    seq: i64,
    ts: i64,
    actor_id: Option<i64>,
    actor_name: String,
    action: String,
    target: String,
    outcome: String,
    ip: String,
    detail: String,
    prev_hash: String,
    hash: String,
}

impl From<Row> for AuditEntry {
    fn from(r: Row) -> Self {
        Self {
            seq: r.seq,
            ts: r.ts,
            actor_id: r.actor_id,
            actor_name: r.actor_name,
            action: r.action,
            target: r.target,
            outcome: r.outcome,
            ip: r.ip,
            detail: r.detail,
            prev_hash: r.prev_hash,
            hash: r.hash,
        }
    }
}

const COLUMNS: &str =
    "seq, ts, actor_id, actor_name, action, target, outcome, ip, detail, prev_hash, hash";

/// Key of the PostgreSQL advisory lock that orders appends across processes.
const AUDIT_LOCK_KEY: i64 = 0x6864_6f73_6175_6474; // "hdosaudt"

pub(super) async fn append(db: &Db, new: NewAuditEntry) -> Result<AuditEntry, StoreError> {
    let detail = new.detail.to_string();
    let ts = now_millis();
    on_pool!(db, p => {
        let mut tx = p.begin_with(db.begin_write()).await?;
        if matches!(db, Db::Postgres(_)) {
            sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(AUDIT_LOCK_KEY)
                .execute(&mut *tx).await?;
        }
        let head: Option<(i64, String)> = sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_optional(&mut *tx).await?;
        let (prev_seq, prev_hash) = head.unwrap_or((0, GENESIS_HASH.to_owned()));
        let entry = AuditEntry {
            seq: prev_seq + 1,
            ts,
            actor_id: new.actor_id.map(|u| u.0),
            actor_name: new.actor_name,
            action: new.action,
            target: new.target,
            outcome: new.outcome.as_str().to_owned(),
            ip: new.ip,
            detail,
            prev_hash,
            hash: String::new(),
        };
        let hash = Hashed {
            seq: entry.seq,
            ts: entry.ts,
            actor_id: entry.actor_id,
            actor_name: &entry.actor_name,
            action: &entry.action,
            target: &entry.target,
            outcome: &entry.outcome,
            ip: &entry.ip,
            detail: &entry.detail,
            prev_hash: &entry.prev_hash,
        }
        .hash();
        let entry = AuditEntry { hash, ..entry };
        sqlx::query(&format!("INSERT INTO audit_log ({COLUMNS}) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"))
            .bind(entry.seq).bind(entry.ts).bind(entry.actor_id).bind(&entry.actor_name)
            .bind(&entry.action).bind(&entry.target).bind(&entry.outcome).bind(&entry.ip)
            .bind(&entry.detail).bind(&entry.prev_hash).bind(&entry.hash)
            .execute(&mut *tx).await?;
        sqlx::query("INSERT INTO audit_head (id, seq, hash) VALUES (1, $1, $2) \
                     ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash")
            .bind(entry.seq).bind(&entry.hash).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(entry)
    })
}

/// `WHERE` clause shared by listing and counting; every value is a bound parameter.
const FILTER: &str = "WHERE ($1 IS NULL OR actor_name = $1) \
                      AND ($2 IS NULL OR action LIKE $2 ESCAPE '\\') \
                      AND ($3 IS NULL OR ts >= $3) \
                      AND ($4 IS NULL OR ts < $4)";

/// An action filter matches the action or, ending in `.`, every action under that prefix.
fn action_pattern(f: &AuditFilter) -> Option<String> {
    f.action.as_deref().map(|a| {
        let escaped = a
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        if escaped.ends_with('.') {
            format!("{escaped}%")
        } else {
            escaped
        }
    })
}

pub(super) async fn list(
    db: &Db,
    f: &AuditFilter,
    page: Page,
) -> Result<Vec<AuditEntry>, StoreError> {
    let sql =
        format!("SELECT {COLUMNS} FROM audit_log {FILTER} ORDER BY seq DESC LIMIT $5 OFFSET $6");
    let action = action_pattern(f);
    let rows: Vec<Row> = on_pool!(db, p => sqlx::query_as(&sql)
        .bind(f.actor_name.as_deref()).bind(action.as_deref()).bind(f.from_ts).bind(f.to_ts)
        .bind(page.limit).bind(page.offset).fetch_all(p).await)?;
    Ok(rows.into_iter().map(Into::into).collect())
}

pub(super) async fn count(db: &Db, f: &AuditFilter) -> Result<i64, StoreError> {
    let sql = format!("SELECT COUNT(*) FROM audit_log {FILTER}");
    let action = action_pattern(f);
    Ok(on_pool!(db, p => sqlx::query_scalar(&sql)
        .bind(f.actor_name.as_deref()).bind(action.as_deref()).bind(f.from_ts).bind(f.to_ts)
        .fetch_one(p).await)?)
}

/// Entries read per round trip while verifying.
const VERIFY_BATCH: i64 = 1_000;

pub(super) async fn verify(db: &Db) -> Result<ChainStatus, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2");
    let mut verifier = ChainVerifier::default();
    let mut after = 0i64;
    loop {
        let rows: Vec<Row> = on_pool!(db, p => sqlx::query_as(&sql).bind(after).bind(VERIFY_BATCH)
            .fetch_all(p).await)?;
        let Some(last) = rows.last() else { break };
        after = last.seq;
        let batch: Vec<AuditEntry> = rows.into_iter().map(Into::into).collect();
        if !verifier.feed(&batch) {
            break;
        }
    }
    let head: Option<(i64, String)> = on_pool!(db, p =>
        sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1").fetch_optional(p).await)?;
    Ok(verifier.finish(head))
}
