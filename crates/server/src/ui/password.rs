use crate::{
    actions,
    auth::Principal,
    error::{PageError, render},
    state::AppState,
    ui::PageCtx,
};
use axum::{
    Form,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use hdos_core::ErrorKind;
use hdos_store::Secret;
use serde::Deserialize;

#[derive(askama::Template)]
#[template(path = "password.html")]
struct PasswordPage {
    ctx: PageCtx,
    error: Option<String>,
    must_change: bool,
}

pub async fn show(p: Principal, ctx: PageCtx) -> Response {
    let must_change = p.user.must_change_password;
    render(
        StatusCode::OK,
        &PasswordPage {
            ctx,
            error: None,
            must_change,
        },
    )
}

#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    current: Secret,
    new: Secret,
    confirm: Secret,
}

pub async fn submit(
    State(app): State<AppState>,
    p: Principal,
    ctx: PageCtx,
    Form(f): Form<PasswordForm>,
) -> Response {
    let t = ctx.t;
    let must_change = p.user.must_change_password;
    let fail = |ctx: PageCtx, status: StatusCode, error: String| {
        render(
            status,
            &PasswordPage {
                ctx,
                error: Some(error),
                must_change,
            },
        )
    };
    if f.new != f.confirm {
        return fail(
            ctx,
            StatusCode::BAD_REQUEST,
            t.get("password.mismatch").to_owned(),
        );
    }
    match actions::change_password(&app, &p, f.current, f.new).await {
        Ok(()) => (
            StatusCode::SEE_OTHER,
            [(header::LOCATION, "/login?msg=password.changed")],
        )
            .into_response(),
        Err(e) if e.kind == ErrorKind::Unauthenticated => fail(
            ctx,
            StatusCode::BAD_REQUEST,
            t.get("password.wrong_current").to_owned(),
        ),
        Err(e) if e.kind == ErrorKind::InvalidInput => {
            fail(ctx, StatusCode::BAD_REQUEST, e.message)
        }
        Err(e) => PageError::new(t, e).into_response(),
    }
}
