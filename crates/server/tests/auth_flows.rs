//! Login, sessions, CSRF, tokens and their bad inputs.

use crate::common::{
    Login, PASSWORD, TestApp, audited, bearer, body_json, body_text, form, get, json, set_cookie,
    username,
};
use anyhow::{Context, Result, ensure};
use axum::http::{Method, StatusCode, header};
use hdos_core::Role;
use hdos_server::ServerConfig;

async fn api_login(
    app: &TestApp,
    user: &str,
    password: &str,
) -> Result<axum::http::Response<axum::body::Body>> {
    app.send(json(
        Method::POST,
        "/api/v1/auth/login",
        None,
        serde_json::json!({"username": user, "password": password}),
    ))
    .await
}

#[tokio::test]
async fn json_login_sets_a_strict_http_only_cookie_and_returns_the_csrf_token() -> Result<()> {
    let app = TestApp::new().await?;
    let resp = api_login(&app, &username(Role::Manager), PASSWORD).await?;
    ensure!(resp.status() == StatusCode::OK, "{}", resp.status());
    let raw = resp
        .headers()
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .context("set-cookie")?
        .to_owned();
    ensure!(
        raw.contains("HttpOnly") && raw.contains("SameSite=Strict"),
        "{raw}"
    );
    let cookie = set_cookie(&resp, "hdos_session").context("session cookie")?;
    let body = body_json(resp).await?;
    ensure!(body["user"]["roles"] == serde_json::json!(["manager"]));
    let login = Login {
        cookie,
        csrf: body["csrf_token"].as_str().unwrap_or_default().to_owned(),
    };
    let me = app.send(get("/api/v1/me", Some(&login))).await?;
    ensure!(me.status() == StatusCode::OK);
    let out = app
        .send(json(
            Method::POST,
            "/api/v1/auth/logout",
            Some(&login),
            serde_json::json!({}),
        ))
        .await?;
    ensure!(out.status() == StatusCode::NO_CONTENT, "{}", out.status());
    let after = app.send(get("/api/v1/me", Some(&login))).await?;
    ensure!(
        after.status() == StatusCode::UNAUTHORIZED,
        "the session ended"
    );
    Ok(())
}

#[tokio::test]
async fn wrong_passwords_are_refused_then_throttled_and_audited() -> Result<()> {
    let app = TestApp::with_config(ServerConfig {
        login_max_failures: 3,
        ..ServerConfig::default()
    })
    .await?;
    let name = username(Role::User);
    for _ in 0..2 {
        let r = api_login(&app, &name, "wrong password").await?;
        ensure!(r.status() == StatusCode::UNAUTHORIZED, "{}", r.status());
    }
    let third = api_login(&app, &name, "wrong password").await?;
    ensure!(
        third.status() == StatusCode::TOO_MANY_REQUESTS,
        "{}",
        third.status()
    );
    let right = api_login(&app, &name, PASSWORD).await?;
    ensure!(
        right.status() == StatusCode::TOO_MANY_REQUESTS,
        "locked even with the right password"
    );
    let body = body_json(right).await?;
    ensure!(body["code"] == "too_many_requests" && body["error_id"].is_string());
    let failures = audited(&app, "auth.login").await?;
    ensure!(failures.iter().filter(|e| e.outcome == "failure").count() == 4);
    // An unknown user gets the same answer as a wrong password.
    let unknown = api_login(&app, "nobody-here", "whatever pw").await?;
    ensure!(unknown.status() == StatusCode::UNAUTHORIZED);
    Ok(())
}

#[tokio::test]
async fn a_disabled_user_cannot_log_in_and_their_sessions_end() -> Result<()> {
    let app = TestApp::new().await?;
    let user_login = app.session(Role::User).await?;
    ensure!(
        app.send(get("/api/v1/me", Some(&user_login)))
            .await?
            .status()
            == StatusCode::OK
    );
    let admin = app.session(Role::Admin).await?;
    let target = app.user(Role::User).await?;
    let r = app
        .send(json(
            Method::POST,
            &format!("/api/v1/users/{}/disable", target.id),
            Some(&admin),
            serde_json::json!({}),
        ))
        .await?;
    ensure!(r.status() == StatusCode::OK, "{}", r.status());
    ensure!(
        app.send(get("/api/v1/me", Some(&user_login)))
            .await?
            .status()
            == StatusCode::UNAUTHORIZED
    );
    let login = api_login(&app, &username(Role::User), PASSWORD).await?;
    ensure!(
        login.status() == StatusCode::FORBIDDEN,
        "{}",
        login.status()
    );
    ensure!(
        body_json(login).await?["message"]
            .as_str()
            .unwrap_or_default()
            .contains("disabled")
    );
    // The admin cannot lock themselves out.
    let me = app.user(Role::Admin).await?;
    let own = app
        .send(json(
            Method::POST,
            &format!("/api/v1/users/{}/disable", me.id),
            Some(&admin),
            serde_json::json!({}),
        ))
        .await?;
    ensure!(
        own.status() == StatusCode::PRECONDITION_FAILED,
        "{}",
        own.status()
    );
    Ok(())
}

#[tokio::test]
async fn an_expired_session_is_sent_to_log_in_again() -> Result<()> {
    let app = TestApp::new().await?;
    let user = app.user(Role::Manager).await?;
    let token = hdos_server::auth::random_token(32);
    let now = hdos_store::now_millis();
    app.state
        .store
        .create_session(
            &hdos_server::auth::hash_token(&token),
            &hdos_store::Session {
                user_id: user.id,
                csrf_token: "c".into(),
                created_at: now - 7_200_000,
                expires_at: now - 1,
                last_seen_at: now - 3_600_000,
            },
        )
        .await?;
    let login = Login {
        cookie: format!("hdos_session={token}"),
        csrf: "c".into(),
    };
    let api = app.send(get("/api/v1/me", Some(&login))).await?;
    ensure!(api.status() == StatusCode::UNAUTHORIZED);
    ensure!(
        body_json(api).await?["message"]
            .as_str()
            .unwrap_or_default()
            .contains("expired")
    );
    let page = app.send(get("/assets/catalog", Some(&login))).await?;
    ensure!(page.status() == StatusCode::SEE_OTHER);
    let to = page
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    ensure!(
        to.starts_with("/login?next=%2Fassets%2Fcatalog") && to.ends_with("expired=1"),
        "{to}"
    );
    Ok(())
}

#[tokio::test]
async fn state_changing_forms_need_the_csrf_token() -> Result<()> {
    let app = TestApp::new().await?;
    let admin = app.session(Role::Admin).await?;
    let fields = [
        ("code", "12330000CSRF00001A"),
        ("name", "CSRF 医院"),
        ("grade", "二级"),
        ("kind", "综合医院"),
        ("region_code", "330102"),
    ];
    let missing = app
        .send(form("/admin/institutions", Some(&admin), None, &fields))
        .await?;
    ensure!(
        missing.status() == StatusCode::FORBIDDEN,
        "{}",
        missing.status()
    );
    let wrong = app
        .send(form(
            "/admin/institutions",
            Some(&admin),
            Some("forged"),
            &fields,
        ))
        .await?;
    ensure!(wrong.status() == StatusCode::FORBIDDEN);
    ensure!(
        app.state
            .store
            .institution_by_code("12330000CSRF00001A")
            .await?
            .is_none(),
        "nothing was written"
    );
    let right = app
        .send(form(
            "/admin/institutions",
            Some(&admin),
            Some(&admin.csrf),
            &fields,
        ))
        .await?;
    ensure!(
        right.status() == StatusCode::SEE_OTHER,
        "{}",
        right.status()
    );
    ensure!(
        app.state
            .store
            .institution_by_code("12330000CSRF00001A")
            .await?
            .is_some()
    );
    // JSON calls on a cookie session need the header too.
    let mut no_header = json(
        Method::POST,
        "/api/v1/auth/logout",
        None,
        serde_json::json!({}),
    );
    no_header
        .headers_mut()
        .insert(header::COOKIE, admin.cookie.parse()?);
    ensure!(app.send(no_header).await?.status() == StatusCode::FORBIDDEN);
    ensure!(!audited(&app, "csrf.rejected").await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn the_login_form_uses_a_double_submit_token() -> Result<()> {
    let app = TestApp::new().await?;
    let page = app.send(get("/login", None)).await?;
    let cookie = set_cookie(&page, "hdos_csrf").context("csrf cookie")?;
    let token = cookie.trim_start_matches("hdos_csrf=").to_owned();
    let html = body_text(page).await?;
    ensure!(html.contains(&token), "the form carries the cookie's token");
    let fields = [
        ("username", username(Role::Auditor)),
        ("password", PASSWORD.to_owned()),
    ];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let as_anon = Login {
        cookie: cookie.clone(),
        csrf: token.clone(),
    };
    let forged = app
        .send(form("/login", Some(&as_anon), Some("other"), &fields))
        .await?;
    ensure!(
        forged.status() == StatusCode::FORBIDDEN,
        "{}",
        forged.status()
    );
    let ok = app
        .send(form("/login", Some(&as_anon), Some(&token), &fields))
        .await?;
    ensure!(ok.status() == StatusCode::SEE_OTHER, "{}", ok.status());
    ensure!(set_cookie(&ok, "hdos_session").is_some());
    Ok(())
}

#[tokio::test]
async fn api_tokens_work_without_cookies_until_revoked() -> Result<()> {
    let app = TestApp::new().await?;
    let admin = app.session(Role::Admin).await?;
    let manager = app.user(Role::Manager).await?;
    let created = app
        .send(json(
            Method::POST,
            "/api/v1/tokens",
            Some(&admin),
            serde_json::json!({"user_id": manager.id.0, "name": "etl", "expires_in_days": 30}),
        ))
        .await?;
    ensure!(created.status() == StatusCode::OK, "{}", created.status());
    let body = body_json(created).await?;
    let token = body["token"].as_str().context("token")?.to_owned();
    ensure!(token.starts_with("hdos_"));
    let stored = app.state.store.list_api_tokens(None).await?;
    ensure!(
        stored.iter().all(|t| t.prefix.len() < token.len()),
        "only a prefix is kept"
    );
    ensure!(
        app.send(bearer(Method::GET, "/api/v1/me", &token))
            .await?
            .status()
            == StatusCode::OK
    );
    // A token call may change state without a CSRF token: it carries no cookie.
    ensure!(
        app.send(bearer(Method::GET, "/api/v1/institutions", &token))
            .await?
            .status()
            == StatusCode::OK
    );
    ensure!(
        app.send(bearer(Method::GET, "/api/v1/users", &token))
            .await?
            .status()
            == StatusCode::FORBIDDEN,
        "a manager token is not an admin"
    );
    let forged = app
        .send(bearer(Method::GET, "/api/v1/me", "hdos_forgedforgedforged"))
        .await?;
    ensure!(forged.status() == StatusCode::UNAUTHORIZED);
    let id = body["info"]["id"].as_i64().context("id")?;
    let revoke = app
        .send(json(
            Method::DELETE,
            &format!("/api/v1/tokens/{id}"),
            Some(&admin),
            serde_json::json!({}),
        ))
        .await?;
    ensure!(revoke.status() == StatusCode::OK, "{}", revoke.status());
    ensure!(
        app.send(bearer(Method::GET, "/api/v1/me", &token))
            .await?
            .status()
            == StatusCode::UNAUTHORIZED
    );
    ensure!(
        !audited(&app, "auth.token").await?.is_empty(),
        "rejected tokens are audited"
    );
    ensure!(audited(&app, "token.revoke").await?.len() == 1);
    Ok(())
}

#[tokio::test]
async fn changing_the_password_ends_every_session() -> Result<()> {
    let app = TestApp::new().await?;
    let first = app.session(Role::Manager).await?;
    let second = app.session(Role::Manager).await?;
    let wrong = app
        .send(json(Method::POST, "/api/v1/me/password", Some(&first), serde_json::json!({"current_password": "nope nope", "new_password": "a brand new secret"})))
        .await?;
    ensure!(wrong.status() == StatusCode::UNAUTHORIZED);
    let short = app
        .send(json(
            Method::POST,
            "/api/v1/me/password",
            Some(&first),
            serde_json::json!({"current_password": PASSWORD, "new_password": "short"}),
        ))
        .await?;
    ensure!(
        short.status() == StatusCode::BAD_REQUEST,
        "{}",
        short.status()
    );
    let ok = app
        .send(json(
            Method::POST,
            "/api/v1/me/password",
            Some(&first),
            serde_json::json!({"current_password": PASSWORD, "new_password": "a brand new secret"}),
        ))
        .await?;
    ensure!(ok.status() == StatusCode::NO_CONTENT, "{}", ok.status());
    ensure!(app.send(get("/api/v1/me", Some(&second))).await?.status() == StatusCode::UNAUTHORIZED);
    let relogin = api_login(&app, &username(Role::Manager), "a brand new secret").await?;
    ensure!(relogin.status() == StatusCode::OK);
    Ok(())
}

#[tokio::test]
async fn a_role_calling_a_route_it_may_not_is_refused_and_audited() -> Result<()> {
    let app = TestApp::new().await?;
    let user = app.session(Role::User).await?;
    let r = app.send(get("/api/v1/audit", Some(&user))).await?;
    ensure!(r.status() == StatusCode::FORBIDDEN);
    ensure!(body_json(r).await?["code"] == "forbidden");
    let page = app.send(get("/admin/users", Some(&user))).await?;
    ensure!(page.status() == StatusCode::FORBIDDEN);
    let denied = audited(&app, "access.denied").await?;
    ensure!(denied.len() == 2 && denied.iter().all(|e| e.actor_name == username(Role::User)));
    ensure!(denied.iter().any(|e| e.target == "GET /admin/users"));
    Ok(())
}
