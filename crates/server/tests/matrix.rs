//! The route × role matrix: every registered route, called by every role and by nobody, is
//! allowed exactly when its declared policy says so.

use crate::common::{Login, TestApp, get, json};
use anyhow::{Result, ensure};
use axum::{
    body::Body,
    http::{Method, Request, StatusCode, header},
};
use hdos_core::Role;
use hdos_server::policy::{Access, Surface};

/// Fills path parameters with harmless values: a dummy user and token, the provider's
/// institution, a language.
async fn concrete_path(app: &TestApp, path: &str) -> Result<String> {
    let victim = app
        .state
        .store
        .create_user(hdos_store::NewUser {
            username: format!("victim-{}", uuid::Uuid::new_v4().simple()),
            display_name: "victim".into(),
            password: hdos_store::Secret::new("victim password"),
            roles: vec![Role::User],
            institution_id: None,
            must_change_password: false,
        })
        .await?;
    let token = app
        .state
        .store
        .create_api_token(
            victim.id,
            "victim",
            &uuid::Uuid::new_v4().to_string(),
            "hdos_v",
            None,
        )
        .await?;
    let id = if path.starts_with("/api/v1/institutions") {
        app.hospital.0
    } else if path.contains("/tokens/") {
        token.id.0
    } else {
        victim.id.0
    };
    Ok(path
        .replace("{id}", &id.to_string())
        .replace("{code}", "en")
        .replace("{resource}", "Patient")
        .replace("{name}", "his_none")
        .replace(
            "{action}",
            if path.contains("/alerts/") {
                "resolve"
            } else {
                "run"
            },
        ))
}

fn request(method: &Method, path: &str, surface: Surface, login: Option<&Login>) -> Request<Body> {
    if *method == Method::GET {
        return get(path, login);
    }
    match surface {
        Surface::Api => json(method.clone(), path, login, serde_json::json!({})),
        Surface::Page => {
            let mut b = Request::builder()
                .method(method.clone())
                .uri(path)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
            let mut body = String::new();
            if let Some(l) = login {
                b = b.header(header::COOKIE, &l.cookie);
                body = format!("_csrf={}", l.csrf);
            }
            b.body(Body::from(body)).unwrap_or_default()
        }
    }
}

#[tokio::test]
async fn every_route_allows_exactly_the_roles_its_policy_names() -> Result<()> {
    let app = TestApp::new().await?;
    let routes = hdos_server::routes();
    let mut checked = 0;
    let mut failures = Vec::new();
    for entry in routes.entries() {
        let path = concrete_path(&app, entry.path).await?;
        // Nobody logged in.
        let resp = app
            .send(request(&entry.method, &path, entry.surface, None))
            .await?;
        let status = resp.status();
        let public = entry.policy.access == Access::Public;
        let refused_anon = match entry.surface {
            Surface::Api => status == StatusCode::UNAUTHORIZED,
            Surface::Page => {
                status == StatusCode::SEE_OTHER
                    && resp
                        .headers()
                        .get(header::LOCATION)
                        .and_then(|v| v.to_str().ok())
                        .is_some_and(|l| l.starts_with("/login"))
            }
        };
        if public == refused_anon || status == StatusCode::FORBIDDEN && !public {
            failures.push(format!(
                "{} {} anonymous: {status}",
                entry.method, entry.path
            ));
        }
        checked += 1;
        for role in Role::ALL {
            // A fresh session per call: some routes (logout, password) end the session.
            let login = app.session(role).await?;
            let resp = app
                .send(request(&entry.method, &path, entry.surface, Some(&login)))
                .await?;
            let status = resp.status();
            let allowed = entry.policy.allows(&[role]);
            let refused = status == StatusCode::FORBIDDEN || status == StatusCode::UNAUTHORIZED;
            if allowed == refused {
                failures.push(format!(
                    "{} {} as {role}: {status} (policy {:?})",
                    entry.method, entry.path, entry.policy.access
                ));
            }
            checked += 1;
        }
    }
    ensure!(
        failures.is_empty(),
        "matrix failures:\n{}",
        failures.join("\n")
    );
    ensure!(
        checked >= 6 * 40,
        "only {checked} checks: were routes lost?"
    );
    let denied = crate::common::audited(&app, "access.denied").await?;
    ensure!(!denied.is_empty(), "denials are audited");
    Ok(())
}

#[tokio::test]
async fn a_provider_sees_only_its_own_institution() -> Result<()> {
    let app = TestApp::new().await?;
    let login = app.session(Role::Provider).await?;
    let own = app
        .send(get(
            &format!("/api/v1/institutions/{}", app.hospital.0),
            Some(&login),
        ))
        .await?;
    ensure!(own.status() == StatusCode::OK, "{}", own.status());
    let other = app
        .send(get(
            &format!("/api/v1/institutions/{}", app.other_hospital.0),
            Some(&login),
        ))
        .await?;
    ensure!(
        other.status() == StatusCode::FORBIDDEN,
        "{}",
        other.status()
    );
    let manager = app.session(Role::Manager).await?;
    let any = app
        .send(get(
            &format!("/api/v1/institutions/{}", app.other_hospital.0),
            Some(&manager),
        ))
        .await?;
    ensure!(any.status() == StatusCode::OK);
    Ok(())
}

#[tokio::test]
async fn a_route_without_a_policy_is_refused() -> Result<()> {
    let app = TestApp::new().await?;
    let (router, table) = hdos_server::routes().into_parts();
    // A route added behind the registry's back: the guard finds no policy and refuses it.
    let router = router.route("/sneaky", axum::routing::get(|| async { "secret" }));
    let app_router = hdos_server::guarded(router, table, app.state.clone());
    let resp = tower::ServiceExt::oneshot(app_router, get("/sneaky", None)).await?;
    ensure!(resp.status() == StatusCode::FORBIDDEN, "{}", resp.status());
    Ok(())
}

#[tokio::test]
async fn every_documented_api_route_is_registered_with_a_policy() -> Result<()> {
    let doc: serde_json::Value = serde_json::from_str(&hdos_server::api::openapi::document_json())?;
    let routes = hdos_server::routes();
    let paths = doc["paths"].as_object().cloned().unwrap_or_default();
    ensure!(!paths.is_empty());
    for (path, ops) in paths {
        for method in ops
            .as_object()
            .map(|o| o.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
        {
            let found = routes
                .entries()
                .iter()
                .any(|e| e.path == path && e.method.as_str().eq_ignore_ascii_case(&method));
            ensure!(found, "{method} {path} is documented but not registered");
        }
    }
    Ok(())
}
