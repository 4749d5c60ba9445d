use crate::{
    api::audit::AuditQuery,
    error::{ApiError, PageError, render},
    state::AppState,
    ui::{PageCtx, admin::Pager, fmt_ms},
};
use axum::{
    extract::{Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use hdos_store::{AuditEntry, Page};

pub struct Row {
    seq: i64,
    time: String,
    actor: String,
    action: String,
    target: String,
    outcome: String,
    ip: String,
    detail: String,
}

impl From<AuditEntry> for Row {
    fn from(e: AuditEntry) -> Self {
        Self {
            seq: e.seq,
            time: fmt_ms(e.ts),
            actor: e.actor_name,
            action: e.action,
            target: e.target,
            outcome: e.outcome,
            ip: e.ip,
            detail: e.detail,
        }
    }
}

#[derive(askama::Template)]
#[template(path = "audit.html")]
struct AuditPage {
    ctx: PageCtx,
    rows: Vec<Row>,
    actor: String,
    action: String,
    from: String,
    to: String,
    chain_ok: bool,
    chain_text: String,
    pager: Pager,
}

const PAGE_SIZE: i64 = 50;

pub async fn page(
    State(app): State<AppState>,
    ctx: PageCtx,
    Query(q): Query<AuditQuery>,
) -> Response {
    let t = ctx.t;
    let offset = q.offset.unwrap_or(0).max(0);
    let result: Result<_, ApiError> = async {
        let filter = q.filter()?;
        let rows = app
            .store
            .list_audit(&filter, Page::new(PAGE_SIZE, offset))
            .await?;
        let total = app.store.count_audit(&filter).await?;
        let chain = app.store.verify_audit_chain().await?;
        Ok((rows, total, chain))
    }
    .await;
    let (rows, total, chain) = match result {
        Ok(v) => v,
        Err(e) => return PageError::new(t, e).into_response(),
    };
    let chain_text = match &chain.problem {
        None => t.fmt(
            "audit.chain_ok",
            &[("n", &chain.entries_checked.to_string())],
        ),
        Some(p) => format!("{} {p}", t.get("audit.chain_broken")),
    };
    let s = |v: &Option<String>| v.clone().unwrap_or_default();
    let filter_qs = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("actor", &s(&q.actor))
        .append_pair("action", &s(&q.action))
        .append_pair("from", &s(&q.from))
        .append_pair("to", &s(&q.to))
        .finish();
    render(
        StatusCode::OK,
        &AuditPage {
            ctx,
            rows: rows.into_iter().map(Into::into).collect(),
            actor: s(&q.actor),
            action: s(&q.action),
            from: s(&q.from),
            to: s(&q.to),
            chain_ok: chain.is_intact(),
            chain_text,
            pager: Pager::new(t, total, offset, PAGE_SIZE).keeping(&filter_qs),
        },
    )
}
