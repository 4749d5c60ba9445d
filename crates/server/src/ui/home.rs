use crate::{
    auth::Principal,
    error::render,
    nav,
    ui::{PageCtx, role_key},
};
use axum::{extract::MatchedPath, http::StatusCode, response::Response};

#[derive(askama::Template)]
#[template(path = "home.html")]
struct HomePage {
    ctx: PageCtx,
    roles: Vec<&'static str>,
    institution: Option<String>,
}

pub async fn home(
    axum::extract::State(app): axum::extract::State<crate::state::AppState>,
    p: Principal,
    ctx: PageCtx,
) -> Response {
    let t = ctx.t;
    let institution = match p.user.institution_id {
        Some(id) => app.store.institution(id).await.ok().map(|i| i.name),
        None => None,
    };
    let roles = p.user.roles.iter().map(|r| t.get(role_key(*r))).collect();
    render(
        StatusCode::OK,
        &HomePage {
            ctx,
            roles,
            institution,
        },
    )
}

#[derive(askama::Template)]
#[template(path = "not_built.html")]
struct NotBuiltPage {
    ctx: PageCtx,
    title: &'static str,
}

/// The page of a section this version does not provide yet: it says so, and shows nothing else.
pub async fn not_built(path: MatchedPath, ctx: PageCtx) -> Response {
    let title = nav::section_at(path.as_str())
        .map(|s| ctx.t.get(s.label))
        .unwrap_or_default();
    render(StatusCode::OK, &NotBuiltPage { ctx, title })
}
