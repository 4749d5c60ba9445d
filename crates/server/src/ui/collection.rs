//! 数据采集: the collection runs of every channel, newest first; a provider sees only its own
//! institution's.

use crate::{
    auth::Principal,
    error::{ApiError, PageError, render},
    nav,
    state::AppState,
    ui::{PageCtx, admin::Pager, fmt_ms},
};
use axum::{
    extract::{Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use hdos_store::{IngestRun, Page, RunFilter, RunStatus};
use serde::Deserialize;

pub const PATH: &str = "/integration/collection";
const PAGE_SIZE: i64 = 50;

#[derive(Debug, Deserialize)]
pub struct RunsQuery {
    offset: Option<i64>,
}

pub struct RunRow {
    started: String,
    channel: String,
    table: String,
    institution: String,
    mode_key: &'static str,
    status_key: &'static str,
    status: &'static str,
    read: i64,
    written: i64,
    quarantined: i64,
    bytes: String,
    seconds: String,
    error: String,
}

impl From<IngestRun> for RunRow {
    fn from(r: IngestRun) -> Self {
        let (status, status_key) = match r.status {
            RunStatus::Running => ("running", "collection.running"),
            RunStatus::Succeeded => ("succeeded", "collection.succeeded"),
            RunStatus::Failed => ("failed", "collection.failed"),
        };
        Self {
            started: fmt_ms(r.started_at),
            seconds: r
                .finished_at
                .map(|f| format!("{:.1}", (f - r.started_at) as f64 / 1000.0))
                .unwrap_or_default(),
            channel: r.channel,
            table: r.source_table,
            institution: r.institution,
            mode_key: match r.mode.as_str() {
                "full" => "collection.full",
                "initial" => "collection.initial",
                "stream" => "collection.stream",
                _ => "collection.incremental",
            },
            status_key,
            status,
            read: r.counts.rows_read,
            written: r.counts.rows_written,
            quarantined: r.counts.rows_quarantined,
            bytes: format!("{:.1}", r.counts.bytes as f64 / 1_048_576.0),
            error: r.error.unwrap_or_default(),
        }
    }
}

#[derive(askama::Template)]
#[template(path = "collection.html")]
struct CollectionPage {
    ctx: PageCtx,
    rows: Vec<RunRow>,
    scoped_to: Option<String>,
    pager: Pager,
}

/// The institution a provider-only reader is limited to, or `None` for a manager.
async fn scope(app: &AppState, p: &Principal) -> Result<Option<String>, ApiError> {
    if !nav::policy_of(PATH).own_institution().scoped_for(p.roles()) {
        return Ok(None);
    }
    Ok(Some(match p.user.institution_id {
        Some(id) => app.store.institution(id).await?.code,
        // A provider without an institution sees nothing rather than everything.
        None => String::new(),
    }))
}

pub async fn page(
    State(app): State<AppState>,
    ctx: PageCtx,
    p: Principal,
    Query(q): Query<RunsQuery>,
) -> Response {
    let t = ctx.t;
    let offset = q.offset.unwrap_or(0).max(0);
    let result: Result<_, ApiError> = async {
        let scoped_to = scope(&app, &p).await?;
        let filter = RunFilter {
            channel: None,
            institution: scoped_to.clone(),
        };
        let rows = app
            .store
            .list_ingest_runs(&filter, Page::new(PAGE_SIZE, offset))
            .await?;
        let total = app.store.count_ingest_runs(&filter).await?;
        Ok((scoped_to, rows, total))
    }
    .await;
    match result {
        Ok((scoped_to, rows, total)) => render(
            StatusCode::OK,
            &CollectionPage {
                ctx,
                rows: rows.into_iter().map(Into::into).collect(),
                scoped_to,
                pager: Pager::new(t, total, offset, PAGE_SIZE),
            },
        ),
        Err(e) => PageError::new(t, e).into_response(),
    }
}
