use crate::{
    auth::{self, LoginRefused, Principal, SESSION_COOKIE},
    error::{PageError, render},
    guard::client_ip,
    i18n::{LANG_COOKIE, Lang},
    state::AppState,
    ui::PageCtx,
};
use axum::{
    Form,
    extract::{FromRequest, FromRequestParts, Path, Query, Request, State},
    http::{StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};
use hdos_store::Secret;
use serde::Deserialize;

#[derive(askama::Template)]
#[template(path = "login.html")]
struct LoginPage {
    ctx: PageCtx,
    next: String,
    message: Option<&'static str>,
    error: bool,
    username: String,
}

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
    expired: Option<String>,
    msg: Option<String>,
}

/// Only local paths are followed after login, never another site.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_owned(),
        _ => "/".to_owned(),
    }
}

fn page(
    ctx: PageCtx,
    status: StatusCode,
    next: String,
    message: Option<&'static str>,
    error: bool,
    username: String,
    secure: bool,
) -> Response {
    let cookie = ctx.csrf_cookie(secure);
    let mut resp = render(
        status,
        &LoginPage {
            ctx,
            next,
            message,
            error,
            username,
        },
    );
    if let Some(c) = cookie {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp
}

pub async fn show(
    State(app): State<AppState>,
    ctx: PageCtx,
    Query(q): Query<LoginQuery>,
) -> Response {
    if ctx.principal.is_some() {
        return Redirect::to(&safe_next(q.next.as_deref())).into_response();
    }
    let t = ctx.t;
    let message = if q.expired.is_some() {
        Some(t.get("login.expired"))
    } else {
        crate::ui::flash(
            t,
            q.msg.as_deref(),
            &["login.logged_out", "password.changed"],
        )
    };
    page(
        ctx,
        StatusCode::OK,
        safe_next(q.next.as_deref()),
        message,
        false,
        String::new(),
        app.config.secure_cookies,
    )
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    username: String,
    password: Secret,
    next: Option<String>,
}

pub async fn submit(State(app): State<AppState>, req: Request) -> Response {
    let ip = client_ip(&req);
    let (mut parts, body) = req.into_parts();
    let Ok(ctx) = PageCtx::from_request_parts(&mut parts, &app).await;
    let t = ctx.t;
    let req = Request::from_parts(parts, body);
    let form = match Form::<LoginForm>::from_request(req, &app).await {
        Ok(Form(f)) => f,
        Err(e) => {
            return PageError::new(t, crate::error::ApiError::invalid(e.body_text()))
                .into_response();
        }
    };
    let next = safe_next(form.next.as_deref());
    let username = form.username.trim().to_owned();
    let secure = app.config.secure_cookies;
    match auth::login(&app, &username, form.password, &ip).await {
        Ok(Ok(s)) => {
            let target = if s.user.must_change_password {
                "/account/password".to_owned()
            } else {
                next
            };
            let cookie = auth::set_cookie(
                SESSION_COOKIE,
                &s.cookie_token,
                s.max_age_secs,
                true,
                secure,
            );
            (
                StatusCode::SEE_OTHER,
                [(header::LOCATION, target)],
                [(header::SET_COOKIE, cookie)],
            )
                .into_response()
        }
        Ok(Err(refused)) => {
            let (status, key) = match refused {
                LoginRefused::WrongCredentials => (StatusCode::UNAUTHORIZED, "login.failed"),
                LoginRefused::Locked { .. } => (StatusCode::TOO_MANY_REQUESTS, "login.locked"),
                LoginRefused::Disabled => (StatusCode::FORBIDDEN, "users.disabled"),
            };
            page(ctx, status, next, Some(t.get(key)), true, username, secure)
        }
        Err(e) => PageError::new(t, e).into_response(),
    }
}

pub async fn logout(State(app): State<AppState>, p: Principal, ctx: PageCtx) -> Response {
    if let Err(e) = auth::logout(&app, &p).await {
        return PageError::new(ctx.t, e).into_response();
    }
    let clear = auth::set_cookie(SESSION_COOKIE, "", 0, true, app.config.secure_cookies);
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, "/login?msg=login.logged_out")],
        [(header::SET_COOKIE, clear)],
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
pub struct LangQuery {
    next: Option<String>,
}

/// Switches the language (a preference cookie only) and returns to the page.
pub async fn switch_lang(Path(code): Path<String>, Query(q): Query<LangQuery>) -> Response {
    let lang = Lang::parse(&code).unwrap_or_default();
    let cookie = auth::set_cookie(LANG_COOKIE, lang.code(), 365 * 86_400, false, false);
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, safe_next(q.next.as_deref()))],
        [(header::SET_COOKIE, cookie)],
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(safe_next(Some("/admin/users")), "/admin/users");
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/\\evil",
            "javascript:x",
        ] {
            assert_eq!(safe_next(Some(bad)), "/");
        }
    }
}
