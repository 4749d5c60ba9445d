//! 通知: what the platform told the reader — ticket opened, reopened, verified, overdue — newest
//! first; managers see all of theirs, a provider its institution's.

use crate::{
    auth::Principal,
    error::{ApiError, PageError, render},
    state::AppState,
    ui::{PageCtx, admin::Pager, fmt_ms},
};
use axum::{
    extract::{Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use hdos_core::Role;
use hdos_store::Page;
use serde::Deserialize;

pub const PATH: &str = "/notifications";
const PAGE_SIZE: i64 = 50;

#[derive(Debug, Deserialize)]
pub struct NotificationsQuery {
    offset: Option<i64>,
}

pub struct NotificationRow {
    at: String,
    subject: String,
    body: String,
    link: String,
}

#[derive(askama::Template)]
#[template(path = "notifications.html")]
struct NotificationsPage {
    ctx: PageCtx,
    rows: Vec<NotificationRow>,
    pager: Pager,
}

pub async fn page(
    State(app): State<AppState>,
    ctx: PageCtx,
    p: Principal,
    Query(q): Query<NotificationsQuery>,
) -> Response {
    let t = ctx.t;
    let offset = q.offset.unwrap_or(0).max(0);
    let built = async {
        let manager = p.roles().contains(&Role::Manager);
        let institution = match (p.roles().contains(&Role::Provider), p.user.institution_id) {
            (true, Some(id)) => Some(app.store.institution(id).await?.code),
            _ => None,
        };
        // One more than a page tells whether there is a next one.
        let mut rows: Vec<NotificationRow> = app
            .store
            .notifications_for(
                manager,
                institution.as_deref(),
                Page::new(PAGE_SIZE + 1, offset),
            )
            .await?
            .into_iter()
            .map(|n| NotificationRow {
                at: fmt_ms(n.created_at),
                subject: n.subject,
                body: n.body,
                link: n.link,
            })
            .collect();
        let more = rows.len() as i64 > PAGE_SIZE;
        rows.truncate(PAGE_SIZE as usize);
        let total = offset + rows.len() as i64 + i64::from(more);
        Ok::<_, ApiError>(NotificationsPage {
            pager: Pager::new(t, total, offset, PAGE_SIZE),
            rows,
            ctx,
        })
    }
    .await;
    match built {
        Ok(page) => render(StatusCode::OK, &page),
        Err(e) => PageError::new(t, e).into_response(),
    }
}
