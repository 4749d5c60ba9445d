//! The test application and small HTTP helpers.

use anyhow::{Context, Result};
use axum::{
    Router,
    body::Body,
    http::{Method, Request, Response, header},
};
use hdos_core::{InstitutionId, Role};
use hdos_lake::Lake;
use hdos_server::{AppState, ServerConfig, auth};
use hdos_store::{
    ConnectOptions, MetaStore, NewInstitution, NewUser, Secret, Session, SqlStore, User, now_millis,
};
use http_body_util::BodyExt;
use std::sync::Arc;
use tower::ServiceExt;

pub const PASSWORD: &str = "correct horse battery";

pub struct TestApp {
    pub state: AppState,
    pub router: Router,
    pub hospital: InstitutionId,
    pub other_hospital: InstitutionId,
    _dir: tempfile::TempDir,
}

/// A logged-in browser: the session cookie and its CSRF token.
#[derive(Debug, Clone)]
pub struct Login {
    pub cookie: String,
    pub csrf: String,
}

pub fn username(role: Role) -> String {
    format!("test-{}", role.as_str())
}

impl TestApp {
    pub async fn new() -> Result<Self> {
        Self::with_config(ServerConfig::default()).await
    }

    pub async fn with_config(config: ServerConfig) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite://{}", dir.path().join("hdos.db").display());
        let store: Arc<dyn MetaStore> =
            Arc::new(SqlStore::connect(&url, &ConnectOptions::default()).await?);
        let lake = Arc::new(Lake::open(&dir.path().join("lake").display().to_string())?);
        let hospital = store
            .create_institution(inst("12330000TEST00001A"))
            .await?
            .id;
        let other_hospital = store
            .create_institution(inst("12330000TEST00002B"))
            .await?
            .id;
        for role in Role::ALL {
            store
                .create_user(NewUser {
                    username: username(role),
                    display_name: format!("{} 测试", role.as_str()),
                    password: Secret::new(PASSWORD),
                    roles: vec![role],
                    institution_id: role.is_institution_scoped().then_some(hospital),
                    must_change_password: false,
                })
                .await?;
        }
        let hub = hdos_ingest::fhir::FhirHub::new(
            store.clone(),
            (*lake).clone(),
            hdos_core::standard::Standard::builtin()?,
            &hdos_ingest::fhir::ResourceMappings::builtin()?,
            dir.path().join("journal"),
        )?;
        let state = AppState::new(store, lake, config).with_fhir(Arc::new(hub));
        Ok(Self {
            router: hdos_server::router(state.clone()),
            state,
            hospital,
            other_hospital,
            _dir: dir,
        })
    }

    pub async fn user(&self, role: Role) -> Result<User> {
        self.state
            .store
            .user_by_name(&username(role))
            .await?
            .context("test user")
    }

    /// A fresh session made directly in the store (no password round trip).
    pub async fn session(&self, role: Role) -> Result<Login> {
        let user = self.user(role).await?;
        self.session_for(&user).await
    }

    /// A fresh session for any account.
    pub async fn session_for(&self, user: &User) -> Result<Login> {
        let token = auth::random_token(32);
        let csrf = auth::random_token(24);
        let now = now_millis();
        self.state
            .store
            .create_session(
                &auth::hash_token(&token),
                &Session {
                    user_id: user.id,
                    csrf_token: csrf.clone(),
                    created_at: now,
                    expires_at: now + 600_000,
                    last_seen_at: now,
                },
            )
            .await?;
        Ok(Login {
            cookie: format!("{}={token}", auth::SESSION_COOKIE),
            csrf,
        })
    }

    pub async fn send(&self, req: Request<Body>) -> Result<Response<Body>> {
        Ok(self.router.clone().oneshot(req).await?)
    }
}

fn inst(code: &str) -> NewInstitution {
    NewInstitution {
        code: code.into(),
        name: format!("测试医院 {code}"),
        grade: "三级".into(),
        kind: "综合医院".into(),
        region_code: "330106".into(),
    }
}

pub fn get(path: &str, login: Option<&Login>) -> Request<Body> {
    let mut b = Request::builder().method(Method::GET).uri(path);
    if let Some(l) = login {
        b = b.header(header::COOKIE, &l.cookie);
    }
    b.body(Body::empty()).unwrap_or_default()
}

pub fn json(
    method: Method,
    path: &str,
    login: Option<&Login>,
    body: serde_json::Value,
) -> Request<Body> {
    let mut b = Request::builder()
        .method(method)
        .uri(path)
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(l) = login {
        b = b
            .header(header::COOKIE, &l.cookie)
            .header("x-csrf-token", &l.csrf);
    }
    b.body(Body::from(body.to_string())).unwrap_or_default()
}

/// A URL-encoded form post; `csrf` is the `_csrf` field to send (None: leave it out).
pub fn form(
    path: &str,
    login: Option<&Login>,
    csrf: Option<&str>,
    fields: &[(&str, &str)],
) -> Request<Body> {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    if let Some(c) = csrf {
        s.append_pair("_csrf", c);
    }
    for (k, v) in fields {
        s.append_pair(k, v);
    }
    let mut b = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(l) = login {
        b = b.header(header::COOKIE, &l.cookie);
    }
    b.body(Body::from(s.finish())).unwrap_or_default()
}

pub fn bearer(method: Method, path: &str, token: &str) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap_or_default()
}

pub async fn body_text(resp: Response<Body>) -> Result<String> {
    let bytes = resp.into_body().collect().await?.to_bytes();
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

pub async fn body_json(resp: Response<Body>) -> Result<serde_json::Value> {
    Ok(serde_json::from_str(&body_text(resp).await?)?)
}

/// The `name=value` part of a Set-Cookie header for `name`.
pub fn set_cookie(resp: &Response<Body>, name: &str) -> Option<String> {
    resp.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap_or_default().to_owned())
}

/// Audit entries with this action.
pub async fn audited(app: &TestApp, action: &str) -> Result<Vec<hdos_store::AuditEntry>> {
    let f = hdos_store::AuditFilter {
        action: Some(action.into()),
        ..Default::default()
    };
    Ok(app
        .state
        .store
        .list_audit(&f, hdos_store::Page::new(500, 0))
        .await?)
}

/// Saves `spec` as the SQL channel `his_own` of the provider's institution.
pub async fn own_sql_channel(
    app: &TestApp,
    spec: &hdos_ingest::channel::ChannelSpec,
) -> Result<()> {
    app.state
        .store
        .save_channel(hdos_store::NewChannel {
            name: "his_own".into(),
            institution: "12330000TEST00001A".into(),
            kind: "sql".into(),
            spec: spec.to_json(),
            schedule: None,
            enabled: true,
            next_run_at: None,
        })
        .await?;
    Ok(())
}
