//! Who is asking: session cookies, API tokens, login with throttling, and the actor written to
//! the audit log.

use crate::{error::ApiError, state::AppState};
use axum::http::{HeaderMap, HeaderValue, header};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hdos_core::{ErrorKind, Role, TokenId, UserId};
use hdos_store::{
    Millis, NewAuditEntry, Outcome, Secret, Session, User, now_millis, password::verify_password,
};
use rand::RngCore;
use sha2::{Digest, Sha256};

pub const SESSION_COOKIE: &str = "hdos_session";
/// Double-submit token for forms shown before login.
pub const CSRF_COOKIE: &str = "hdos_csrf";
/// Prefix of API tokens, so a leaked token is recognisable in logs and scanners.
pub const TOKEN_PREFIX: &str = "hdos_";

/// The value of cookie `name`, if the request carries it.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// A random URL-safe token of `bytes` random bytes.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// What the store keeps instead of a session or API token.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A `Set-Cookie` value; `max_age_secs = 0` deletes the cookie.
pub fn set_cookie(
    name: &str,
    value: &str,
    max_age_secs: i64,
    http_only: bool,
    secure: bool,
) -> HeaderValue {
    let mut c = format!("{name}={value}; Path=/; SameSite=Strict; Max-Age={max_age_secs}");
    if http_only {
        c.push_str("; HttpOnly");
    }
    if secure {
        c.push_str("; Secure");
    }
    HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static("invalid=1; Max-Age=0"))
}

#[derive(Debug, Clone)]
pub enum Via {
    Session { token_hash: String, csrf: String },
    Token { id: TokenId },
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: User,
    pub via: Via,
    pub ip: String,
}

impl Principal {
    pub fn roles(&self) -> &[Role] {
        &self.user.roles
    }

    pub fn csrf(&self) -> Option<&str> {
        match &self.via {
            Via::Session { csrf, .. } => Some(csrf),
            Via::Token { .. } => None,
        }
    }

    pub fn actor(&self) -> Actor {
        Actor {
            id: Some(self.user.id),
            name: self.user.username.clone(),
            ip: self.ip.clone(),
        }
    }
}

/// Who an audit entry names.
#[derive(Debug, Clone)]
pub struct Actor {
    pub id: Option<UserId>,
    pub name: String,
    pub ip: String,
}

impl Actor {
    pub fn anonymous(name: impl Into<String>, ip: impl Into<String>) -> Self {
        Self {
            id: None,
            name: name.into(),
            ip: ip.into(),
        }
    }

    pub fn entry(
        &self,
        action: &str,
        target: impl Into<String>,
        outcome: Outcome,
        detail: serde_json::Value,
    ) -> NewAuditEntry {
        NewAuditEntry {
            actor_id: self.id,
            actor_name: self.name.clone(),
            action: action.to_owned(),
            target: target.into(),
            outcome,
            ip: self.ip.clone(),
            detail,
        }
    }
}

/// The outcome of looking at a request's credentials.
#[derive(Debug)]
pub enum Credentials {
    None,
    Valid(Box<Principal>),
    /// A bearer token that is unknown, revoked, expired, or whose owner is disabled.
    RejectedToken,
    /// A session cookie that no longer names a live session.
    ExpiredSession,
}

pub async fn resolve(
    app: &AppState,
    headers: &HeaderMap,
    ip: &str,
) -> Result<Credentials, ApiError> {
    let now = now_millis();
    if let Some(token) = bearer(headers) {
        let Some(t) = app.store.api_token_by_hash(&hash_token(token), now).await? else {
            return Ok(Credentials::RejectedToken);
        };
        let user = app.store.user(t.user_id).await?;
        if user.disabled {
            return Ok(Credentials::RejectedToken);
        }
        return Ok(Credentials::Valid(Box::new(Principal {
            user,
            via: Via::Token { id: t.id },
            ip: ip.to_owned(),
        })));
    }
    let Some(token) = cookie(headers, SESSION_COOKIE).filter(|t| !t.is_empty()) else {
        return Ok(Credentials::None);
    };
    let token_hash = hash_token(&token);
    let Some(session) = app.store.session(&token_hash, now).await? else {
        return Ok(Credentials::ExpiredSession);
    };
    let user = app.store.user(session.user_id).await?;
    if user.disabled {
        app.store.delete_session(&token_hash).await?;
        return Ok(Credentials::ExpiredSession);
    }
    // Sliding idle expiry, never past the session's maximum age.
    let expires_at = (now + app.config.idle_ms()).min(session.created_at + app.config.max_ms());
    app.store
        .touch_session(&token_hash, now, expires_at)
        .await?;
    Ok(Credentials::Valid(Box::new(Principal {
        user,
        via: Via::Session {
            token_hash,
            csrf: session.csrf_token,
        },
        ip: ip.to_owned(),
    })))
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

/// Why a login was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum LoginRefused {
    WrongCredentials,
    Locked { until: Millis },
    Disabled,
}

/// A new session: the cookie token (shown once, to the browser) and its CSRF token.
#[derive(Debug)]
pub struct NewSession {
    pub user: User,
    pub cookie_token: String,
    pub csrf: String,
    pub max_age_secs: i64,
}

/// Checks the password (with throttling) and opens a session. Every attempt is audited.
pub async fn login(
    app: &AppState,
    username: &str,
    password: Secret,
    ip: &str,
) -> Result<Result<NewSession, LoginRefused>, ApiError> {
    let username = username.trim();
    let actor = Actor::anonymous(username, ip);
    let now = now_millis();
    if let Some(until) = app.store.login_locked_until(username).await? {
        app.audit(actor.entry(
            "auth.login",
            username,
            Outcome::Failure,
            serde_json::json!({"reason": "locked"}),
        ))
        .await;
        return Ok(Err(LoginRefused::Locked { until }));
    }
    let user = app.store.user_by_name(username).await?;
    // Verify against a fixed hash when the user does not exist, so timing does not tell.
    let stored = user
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(|| DUMMY_HASH.to_owned());
    let ok = tokio::task::spawn_blocking(move || verify_password(password.expose(), &stored))
        .await
        .map_err(|e| ApiError::new(ErrorKind::Internal, e.to_string()))?;
    let user = match user {
        Some(u) if ok => u,
        _ => {
            app.metrics.login_failures.inc();
            let cfg = &app.config;
            let failures = app
                .store
                .record_login_failure(username, now, cfg.login_window_minutes * 60_000)
                .await?;
            let mut detail =
                serde_json::json!({"reason": "wrong_credentials", "failures": failures});
            let locked = failures >= cfg.login_max_failures;
            if locked {
                let until = now + cfg.login_lockout_minutes * 60_000;
                app.store.lock_login(username, until).await?;
                detail["locked_until"] = until.into();
            }
            app.audit(actor.entry("auth.login", username, Outcome::Failure, detail))
                .await;
            return Ok(Err(if locked {
                LoginRefused::Locked {
                    until: now + cfg.login_lockout_minutes * 60_000,
                }
            } else {
                LoginRefused::WrongCredentials
            }));
        }
    };
    if user.disabled {
        app.audit(actor.entry(
            "auth.login",
            username,
            Outcome::Failure,
            serde_json::json!({"reason": "disabled"}),
        ))
        .await;
        return Ok(Err(LoginRefused::Disabled));
    }
    app.store.clear_login_failures(username).await?;
    let cookie_token = random_token(32);
    let csrf = random_token(24);
    let session = Session {
        user_id: user.id,
        csrf_token: csrf.clone(),
        created_at: now,
        expires_at: now + app.config.idle_ms(),
        last_seen_at: now,
    };
    app.store
        .create_session(&hash_token(&cookie_token), &session)
        .await?;
    let actor = Actor {
        id: Some(user.id),
        ..actor
    };
    app.audit(actor.entry(
        "auth.login",
        username,
        Outcome::Success,
        serde_json::json!({}),
    ))
    .await;
    Ok(Ok(NewSession {
        user,
        cookie_token,
        csrf,
        max_age_secs: app.config.max_ms() / 1000,
    }))
}

/// An argon2id hash of a random string nobody knows, used only to spend the same time.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0bHKAqfmrR4q8A2gm0k/RVEwbfqlpr3hgwcgvW+F4x8";

/// Ends the caller's session (sessions only; tokens are revoked instead).
pub async fn logout(app: &AppState, principal: &Principal) -> Result<(), ApiError> {
    if let Via::Session { token_hash, .. } = &principal.via {
        app.store.delete_session(token_hash).await?;
    }
    app.audit_simple(
        &principal.actor(),
        "auth.logout",
        principal.user.username.clone(),
        Outcome::Success,
    )
    .await;
    Ok(())
}
