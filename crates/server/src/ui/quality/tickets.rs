//! 质量闭环管理: rectification tickets. Providers acknowledge, start and resolve their
//! institution's tickets (a reason from the configured list, a comment); the next run verifies or
//! reopens them; managers reopen resolved ones and close verified ones. With each ticket, its
//! history; above the list, analytics: open and overdue counts, time to resolve, reasons, by
//! institution and rule.

use crate::{
    auth::Principal,
    error::{ApiError, PageError, render},
    state::AppState,
    ui::{PageCtx, admin::see_other, fmt_ms},
};
use axum::{
    Form,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use hdos_core::{ErrorKind, Role};
use hdos_quality::tickets::{self as flow, Action, DEFAULT_REASONS, State as TicketState};
use hdos_store::{Outcome, Page, Ticket, TicketFilter, now_millis};
use serde::Deserialize;
use std::collections::BTreeMap;

pub const PATH: &str = "/integration/quality/tickets";
/// The setting holding the resolution reasons, one per line.
pub const REASONS_SETTING: &str = "quality.resolve_reasons";

const OPEN: [TicketState; 3] = [
    TicketState::New,
    TicketState::Acknowledged,
    TicketState::InProgress,
];

/// The reasons a provider may choose from.
pub async fn reasons(app: &AppState) -> Result<Vec<String>, ApiError> {
    let configured = app
        .store
        .setting(REASONS_SETTING)
        .await?
        .unwrap_or_default();
    let list: Vec<String> = configured
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    Ok(if list.is_empty() {
        DEFAULT_REASONS.iter().map(|r| (*r).to_owned()).collect()
    } else {
        list
    })
}

/// Every ticket `filter` selects, page by page.
async fn all(app: &AppState, filter: &TicketFilter) -> Result<Vec<Ticket>, ApiError> {
    let mut out = Vec::new();
    loop {
        let page = app
            .store
            .tickets(filter, Page::new(Page::MAX_LIMIT, out.len() as i64))
            .await?;
        let n = page.len() as i64;
        out.extend(page);
        if n < Page::MAX_LIMIT {
            return Ok(out);
        }
    }
}

/// Open tickets and how many of them are overdue.
pub async fn counts(app: &AppState, institution: Option<&str>) -> Result<(i64, i64), ApiError> {
    let filter = TicketFilter {
        institution: institution.map(str::to_owned),
        states: OPEN.map(|s| s.name().to_owned()).to_vec(),
        ..Default::default()
    };
    let open = all(app, &filter).await?;
    let now = now_millis();
    let overdue = open.iter().filter(|t| t.due_at < now).count() as i64;
    Ok((open.len() as i64, overdue))
}

pub struct TicketRow {
    id: i64,
    institution: String,
    rule_id: String,
    dataset: String,
    severity: String,
    state: String,
    state_key: &'static str,
    opened: String,
    due: String,
    overdue: bool,
    figures: String,
    reason: String,
    comment: String,
    reopened: i64,
    history: Vec<String>,
    can_work: bool,
    can_resolve: bool,
    can_acknowledge: bool,
    can_start: bool,
    can_reopen: bool,
    can_close: bool,
}

pub fn state_key(state: &str) -> &'static str {
    match TicketState::parse(state) {
        Some(TicketState::New) => "quality.state.new",
        Some(TicketState::Acknowledged) => "quality.state.acknowledged",
        Some(TicketState::InProgress) => "quality.state.in_progress",
        Some(TicketState::Resolved) => "quality.state.resolved",
        Some(TicketState::Verified) => "quality.state.verified",
        Some(TicketState::Closed) | None => "quality.state.closed",
    }
}

/// One line of the analytics: a group's open, overdue, resolved counts and mean hours to
/// resolve.
pub struct Analytics {
    group: String,
    open: i64,
    overdue: i64,
    resolved: i64,
    mean_hours: String,
}

fn analytics(tickets: &[Ticket], key: impl Fn(&Ticket) -> String) -> Vec<Analytics> {
    let now = now_millis();
    let mut groups: BTreeMap<String, (i64, i64, i64, i64)> = BTreeMap::new();
    for t in tickets {
        let g = groups.entry(key(t)).or_default();
        let state = TicketState::parse(&t.state);
        if state.is_some_and(TicketState::is_open) {
            g.0 += 1;
            if t.due_at < now {
                g.1 += 1;
            }
        }
        if let Some(at) = t.resolved_at {
            g.2 += 1;
            g.3 += at - t.opened_at;
        }
    }
    groups
        .into_iter()
        .map(|(group, (open, overdue, resolved, ms))| Analytics {
            group,
            open,
            overdue,
            resolved,
            mean_hours: if resolved > 0 {
                format!("{:.1}", ms as f64 / resolved as f64 / 3_600_000.0)
            } else {
                "—".into()
            },
        })
        .collect()
}

#[derive(askama::Template)]
#[template(path = "quality_tickets.html")]
struct TicketsPage {
    ctx: PageCtx,
    scoped_to: Option<String>,
    show: String,
    tickets: Vec<TicketRow>,
    reasons: Vec<String>,
    by_institution: Vec<Analytics>,
    by_rule: Vec<Analytics>,
    by_reason: Vec<(String, i64)>,
    msg: Option<&'static str>,
}

#[derive(Debug, Deserialize)]
pub struct TicketsQuery {
    /// `open` (default), `resolved` or `all`.
    show: Option<String>,
    msg: Option<String>,
}

pub async fn page(
    State(app): State<AppState>,
    ctx: PageCtx,
    p: Principal,
    Query(q): Query<TicketsQuery>,
) -> Response {
    let t = ctx.t;
    let msg = crate::ui::flash(t, q.msg.as_deref(), &["quality.ticket_done"]);
    let built = async {
        let scoped_to = crate::ui::institution_scope(&app, &p, super::PATH).await?;
        let show = match q.show.as_deref() {
            Some("all") => "all",
            Some("resolved") => "resolved",
            _ => "open",
        };
        let every = all(
            &app,
            &TicketFilter {
                institution: scoped_to.clone(),
                ..Default::default()
            },
        )
        .await?;
        let wanted = |t: &Ticket| {
            let s = TicketState::parse(&t.state);
            match show {
                "all" => true,
                "resolved" => matches!(s, Some(TicketState::Resolved | TicketState::Verified)),
                _ => s.is_some_and(TicketState::is_open),
            }
        };
        let provider = p.roles().contains(&Role::Provider);
        let manager = p.roles().contains(&Role::Manager);
        let now = now_millis();
        let mut rows = Vec::new();
        for tk in every.iter().filter(|t| wanted(t)) {
            let state = TicketState::parse(&tk.state).unwrap_or(TicketState::Closed);
            let may = |a: &Action| {
                a.next(state).is_some() && if a.by_provider() { provider } else { manager }
            };
            let history = app
                .store
                .ticket_events(tk.id)
                .await?
                .into_iter()
                .map(|e| {
                    format!(
                        "{} {} → {}{}",
                        fmt_ms(e.at),
                        e.actor,
                        t.get(state_key(&e.to_state)),
                        e.note.map(|n| format!("：{n}")).unwrap_or_default()
                    )
                })
                .collect();
            let resolve = Action::Resolve {
                reason: String::new(),
                comment: String::new(),
            };
            rows.push(TicketRow {
                id: tk.id,
                institution: tk.institution.clone(),
                rule_id: tk.rule_id.clone(),
                dataset: tk.dataset.clone(),
                severity: tk.severity.clone(),
                state: tk.state.clone(),
                state_key: state_key(&tk.state),
                opened: fmt_ms(tk.opened_at),
                due: fmt_ms(tk.due_at),
                overdue: state.is_open() && tk.due_at < now,
                figures: format!(
                    "{} / {}（{:.3}%，{} {:.2}%）",
                    tk.failed,
                    tk.checked,
                    if tk.checked > 0 {
                        100.0 * tk.failed as f64 / tk.checked as f64
                    } else {
                        0.0
                    },
                    t.get("quality.threshold"),
                    tk.threshold * 100.0
                ),
                reason: tk.reason.clone().unwrap_or_default(),
                comment: tk.comment.clone().unwrap_or_default(),
                reopened: tk.reopened,
                history,
                can_acknowledge: may(&Action::Acknowledge),
                can_start: may(&Action::Start),
                can_resolve: may(&resolve),
                can_reopen: may(&Action::Reopen {
                    comment: String::new(),
                }),
                can_close: may(&Action::Close),
                can_work: false,
            });
        }
        for r in &mut rows {
            r.can_work =
                r.can_acknowledge || r.can_start || r.can_resolve || r.can_reopen || r.can_close;
        }
        let mut by_reason: BTreeMap<String, i64> = BTreeMap::new();
        for tk in every.iter().filter(|t| t.reason.is_some()) {
            *by_reason
                .entry(tk.reason.clone().unwrap_or_default())
                .or_default() += 1;
        }
        Ok::<_, ApiError>(TicketsPage {
            by_institution: analytics(&every, |t| t.institution.clone()),
            by_rule: analytics(&every, |t| t.rule_id.clone()),
            by_reason: by_reason.into_iter().collect(),
            reasons: reasons(&app).await?,
            show: show.to_owned(),
            tickets: rows,
            scoped_to,
            msg,
            ctx,
        })
    }
    .await;
    match built {
        Ok(page) => render(StatusCode::OK, &page),
        Err(e) => PageError::new(t, e).into_response(),
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    reason: String,
    #[serde(default)]
    comment: String,
}

/// A person's action on a ticket: providers of the ticket's institution acknowledge, start and
/// resolve; managers reopen and close. Audited, refused ones too.
pub async fn act(
    State(app): State<AppState>,
    ctx: PageCtx,
    p: Principal,
    Path((id, action)): Path<(i64, String)>,
    Form(form): Form<ActionForm>,
) -> Response {
    let t = ctx.t;
    let done = async {
        let action = match action.as_str() {
            "acknowledge" => Action::Acknowledge,
            "start" => Action::Start,
            "resolve" => Action::Resolve {
                reason: form.reason.trim().to_owned(),
                comment: form.comment.trim().to_owned(),
            },
            "reopen" => Action::Reopen {
                comment: form.comment.trim().to_owned(),
            },
            "close" => Action::Close,
            other => {
                return Err(ApiError::invalid(format!(
                    "`{other}` is not a ticket action"
                )));
            }
        };
        let ticket = app
            .store
            .ticket(id)
            .await?
            .ok_or_else(|| ApiError::new(ErrorKind::NotFound, format!("no ticket {id}")))?;
        if action.by_provider() {
            let own = crate::ui::institution_scope(&app, &p, super::PATH).await?;
            let is_provider = p.roles().contains(&Role::Provider);
            if !is_provider || own.as_deref().is_some_and(|c| c != ticket.institution) {
                return Err(ApiError::new(
                    ErrorKind::Forbidden,
                    "only the institution's own data staff work on its tickets",
                ));
            }
        } else if !p.roles().contains(&Role::Manager) {
            return Err(ApiError::new(
                ErrorKind::Forbidden,
                "only managers reopen and close tickets",
            ));
        }
        let reasons = reasons(&app).await?;
        let ticket = flow::act(app.store.as_ref(), id, &action, &p.user.username, &reasons)
            .await
            .map_err(super::report::api_error)?;
        if let Some(kind) = action.change() {
            let change = flow::TicketChange {
                ticket: ticket.clone(),
                kind,
            };
            // The action stands even if telling others fails; the failure is logged.
            if let Err(e) =
                hdos_quality::notify::enqueue(app.store.as_ref(), &app.notify, &[change]).await
            {
                tracing::warn!(ticket = id, error = %e, "ticket notification not saved");
            }
        }
        Ok(ticket)
    }
    .await;
    let outcome = if done.is_ok() {
        Outcome::Success
    } else {
        Outcome::Failure
    };
    let detail = match &done {
        Ok(tk) => {
            serde_json::json!({"state": tk.state, "institution": tk.institution, "rule": tk.rule_id})
        }
        Err(e) => serde_json::json!({"error": e.message}),
    };
    app.audit(p.actor().entry(
        &format!("quality.ticket.{action}"),
        id.to_string(),
        outcome,
        detail,
    ))
    .await;
    match done {
        Ok(_) => see_other(&format!("{PATH}?msg=quality.ticket_done")),
        Err(e) => PageError::new(t, e).into_response(),
    }
}
