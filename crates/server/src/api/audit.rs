use crate::{
    api::{ApiResult, Paged},
    error::{ApiError, ErrorBody},
    state::AppState,
};
use axum::{
    Json,
    extract::{Query, State},
};
use hdos_store::{AuditEntry, AuditFilter, Page};
use serde::{Deserialize, Serialize};

/// Filters of the audit log. Times are RFC 3339 or `YYYY-MM-DD` (UTC).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct AuditQuery {
    /// Username of the actor.
    pub actor: Option<String>,
    /// An action such as `auth.login`, or a prefix ending in `.` such as `auth.`.
    pub action: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

fn parse_time(field: &str, v: &str) -> Result<i64, ApiError> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(v) {
        return Ok(t.timestamp_millis());
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        return Ok(d
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().timestamp_millis())
            .unwrap_or(0));
    }
    if let Ok(t) = chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M") {
        return Ok(t.and_utc().timestamp_millis());
    }
    Err(ApiError::invalid(format!(
        "{field}: `{v}` is not a date (YYYY-MM-DD) or RFC 3339 time"
    )))
}

impl AuditQuery {
    pub fn filter(&self) -> Result<AuditFilter, ApiError> {
        let non_empty = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        Ok(AuditFilter {
            actor_name: non_empty(&self.actor),
            action: non_empty(&self.action),
            from_ts: non_empty(&self.from)
                .map(|v| parse_time("from", &v))
                .transpose()?,
            to_ts: non_empty(&self.to)
                .map(|v| parse_time("to", &v))
                .transpose()?,
        })
    }

    pub fn page(&self) -> Page {
        Page::new(self.limit.unwrap_or(50), self.offset.unwrap_or(0))
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditEntryView {
    pub seq: i64,
    pub ts: i64,
    pub actor_id: Option<i64>,
    pub actor_name: String,
    pub action: String,
    pub target: String,
    pub outcome: String,
    pub ip: String,
    pub detail: String,
    pub hash: String,
}

impl From<AuditEntry> for AuditEntryView {
    fn from(e: AuditEntry) -> Self {
        Self {
            seq: e.seq,
            ts: e.ts,
            actor_id: e.actor_id,
            actor_name: e.actor_name,
            action: e.action,
            target: e.target,
            outcome: e.outcome,
            ip: e.ip,
            detail: e.detail,
            hash: e.hash,
        }
    }
}

/// The audit log, newest first.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = Paged<AuditEntryView>), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody)))]
pub async fn list(
    State(app): State<AppState>,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Paged<AuditEntryView>> {
    let filter = q.filter()?;
    let page = q.page();
    let items = app.store.list_audit(&filter, page).await?;
    Ok(Json(Paged {
        items: items.into_iter().map(Into::into).collect(),
        total: app.store.count_audit(&filter).await?,
        limit: page.limit,
        offset: page.offset,
    }))
}

/// The result of walking the hash chain.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ChainReport {
    pub intact: bool,
    pub entries_checked: i64,
    /// The first problem, such as "entry 7 was changed".
    pub problem: Option<String>,
    /// The sequence number of the first bad entry.
    pub first_bad_seq: Option<i64>,
}

/// Verify the audit chain.
#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "audit",
    responses((status = 200, body = ChainReport), (status = 403, body = ErrorBody)))]
pub async fn verify(State(app): State<AppState>) -> ApiResult<ChainReport> {
    let status = app.store.verify_audit_chain().await?;
    Ok(Json(ChainReport {
        intact: status.is_intact(),
        entries_checked: status.entries_checked,
        problem: status.problem.as_ref().map(ToString::to_string),
        first_bad_seq: status.problem.as_ref().map(|p| p.seq()),
    }))
}
