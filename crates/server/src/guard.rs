//! The one authorisation check: it runs after routing for every route, looks the route up in the
//! policy table, resolves the caller, and enforces role, institution scope and CSRF before the
//! handler runs. A route missing from the table is refused (fail closed).

use crate::{
    auth::{self, CSRF_COOKIE, Credentials, Principal, Via},
    error::{ApiError, PageError},
    i18n::{Lang, T},
    policy::{Access, PolicyTable, RouteEntry, Surface},
    state::AppState,
};
use axum::{
    body::Body,
    extract::{ConnectInfo, FromRequestParts, MatchedPath, RawPathParams, Request, State},
    http::{Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Redirect, Response},
};
use hdos_core::ErrorKind;
use hdos_store::Outcome;
use std::{net::SocketAddr, sync::Arc};

#[derive(Debug, Clone)]
pub struct Guard {
    pub app: AppState,
    pub table: Arc<PolicyTable>,
}

/// The caller's address as the audit log records it.
pub fn client_ip(req: &Request) -> String {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "-".to_owned())
}

/// Form field and header that carry the CSRF token.
pub const CSRF_FIELD: &str = "_csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";

pub async fn guard(State(g): State<Guard>, req: Request, next: Next) -> Response {
    let t = T::new(Lang::from_headers(req.headers()));
    let path = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let entry = path.and_then(|p| g.table.get(&(req.method().clone(), p)).cloned());
    let Some(entry) = entry else {
        tracing::error!(method = %req.method(), uri = %req.uri(), "route has no declared policy; refused");
        return ApiError::forbidden().into_response();
    };
    match authorize(&g.app, &entry, t, req).await {
        Ok(req) => next.run(req).await,
        Err(refusal) => refusal,
    }
}

/// Returns the request (with the principal attached) or the refusal to send.
async fn authorize(
    app: &AppState,
    entry: &RouteEntry,
    t: T,
    req: Request,
) -> Result<Request, Response> {
    let ip = client_ip(&req);
    let refuse = |kind: ErrorKind, msg: &str| -> Response {
        match entry.surface {
            Surface::Api => ApiError::new(kind, msg).into_response(),
            Surface::Page => PageError::new(t, ApiError::new(kind, msg)).into_response(),
        }
    };
    let creds = auth::resolve(app, req.headers(), &ip)
        .await
        .map_err(|e| refuse(e.kind, &e.message))?;
    let principal = match creds {
        Credentials::Valid(p) => Some(*p),
        Credentials::RejectedToken => {
            app.audit(auth::Actor::anonymous("-", &ip).entry(
                "auth.token",
                req.uri().path(),
                Outcome::Failure,
                serde_json::json!({"reason": "unknown, revoked or expired token"}),
            ))
            .await;
            return Err(ApiError::new(
                ErrorKind::Unauthenticated,
                "the API token is unknown, revoked or expired",
            )
            .into_response());
        }
        Credentials::ExpiredSession if entry.policy.access != Access::Public => {
            return Err(unauthenticated(entry, &req, true));
        }
        Credentials::None | Credentials::ExpiredSession => None,
    };

    if entry.policy.access != Access::Public {
        let Some(p) = &principal else {
            return Err(unauthenticated(entry, &req, false));
        };
        if !entry.policy.allows(p.roles()) {
            return Err(deny(app, p, target_of(&req), entry, t, "role").await);
        }
        // An account created with a one-time password must change it before anything else.
        if p.user.must_change_password
            && entry.surface == Surface::Page
            && !matches!(entry.path, "/account/password" | "/logout")
        {
            return Err(Redirect::to("/account/password").into_response());
        }
        if entry.policy.scoped_for(p.roles()) {
            let own = p.user.institution_id.map(|i| i.0.to_string());
            let (mut parts, body) = req.into_parts();
            let named = RawPathParams::from_request_parts(&mut parts, &())
                .await
                .ok()
                .and_then(|params| {
                    params
                        .iter()
                        .find(|(k, _)| *k == "id")
                        .map(|(_, v)| v.to_owned())
                });
            let req = Request::from_parts(parts, body);
            if own.is_none() || named != own {
                return Err(deny(app, p, target_of(&req), entry, t, "institution scope").await);
            }
            return finish(app, entry, t, req, principal).await;
        }
    }
    finish(app, entry, t, req, principal).await
}

async fn finish(
    app: &AppState,
    entry: &RouteEntry,
    t: T,
    req: Request,
    principal: Option<Principal>,
) -> Result<Request, Response> {
    let mut req = check_csrf(app, entry, t, req, principal.as_ref()).await?;
    if let Some(p) = principal {
        req.extensions_mut().insert(p);
    }
    Ok(req)
}

fn unauthenticated(entry: &RouteEntry, req: &Request, expired: bool) -> Response {
    match entry.surface {
        Surface::Api => ApiError::new(
            ErrorKind::Unauthenticated,
            if expired {
                "the session has expired; log in again"
            } else {
                "log in or present a valid API token"
            },
        )
        .into_response(),
        Surface::Page => {
            let next = req
                .uri()
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/");
            let next: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
            let flag = if expired { "&expired=1" } else { "" };
            Redirect::to(&format!("/login?next={next}{flag}")).into_response()
        }
    }
}

async fn deny(
    app: &AppState,
    p: &Principal,
    target: String,
    entry: &RouteEntry,
    t: T,
    reason: &str,
) -> Response {
    app.metrics.access_denied.inc();
    app.audit(p.actor().entry(
        "access.denied",
        target,
        Outcome::Denied,
        serde_json::json!({"reason": reason, "route": entry.path}),
    ))
    .await;
    match entry.surface {
        Surface::Api => ApiError::forbidden().into_response(),
        Surface::Page => PageError::new(t, ApiError::forbidden()).into_response(),
    }
}

/// How the audit log names a request: method and path, without the query.
fn target_of(req: &Request) -> String {
    format!("{} {}", req.method(), req.uri().path())
}

fn is_state_changing(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// State-changing requests made with cookies must carry the CSRF token: the session's token when
/// logged in, the double-submit cookie before login. Bearer-token calls carry no cookies and
/// need none; a JSON login needs none either, since browsers cannot send JSON cross-site
/// without a preflight this server never grants.
async fn check_csrf(
    app: &AppState,
    entry: &RouteEntry,
    t: T,
    req: Request,
    principal: Option<&Principal>,
) -> Result<Request, Response> {
    if !is_state_changing(req.method()) {
        return Ok(req);
    }
    let expected = match principal.map(|p| &p.via) {
        Some(Via::Token { .. }) => return Ok(req),
        Some(Via::Session { csrf, .. }) => Some(csrf.clone()),
        None if is_json(&req) => return Ok(req),
        None => auth::cookie(req.headers(), CSRF_COOKIE),
    };
    let (presented, req) = presented_csrf(req, &app.config).await?;
    let ok =
        matches!((&expected, &presented), (Some(e), Some(p)) if !e.is_empty() && constant_eq(e, p));
    if ok {
        return Ok(req);
    }
    let actor = principal
        .map(Principal::actor)
        .unwrap_or_else(|| auth::Actor::anonymous("-", client_ip(&req)));
    app.audit(actor.entry(
        "csrf.rejected",
        format!("{} {}", req.method(), req.uri().path()),
        Outcome::Denied,
        serde_json::json!({"token": if presented.is_some() { "wrong" } else { "missing" }}),
    ))
    .await;
    let message = t.get("error.csrf");
    Err(match entry.surface {
        Surface::Api => {
            ApiError::new(ErrorKind::Forbidden, "missing or wrong CSRF token").into_response()
        }
        Surface::Page => (
            StatusCode::FORBIDDEN,
            PageError::new(t, ApiError::new(ErrorKind::Forbidden, message)),
        )
            .into_response(),
    })
}

fn is_json(req: &Request) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// The token from the header, from the `_csrf` field of a URL-encoded form (the body is read
/// and put back for the handler), or from the first part of a multipart form.
async fn presented_csrf(
    req: Request,
    config: &crate::ServerConfig,
) -> Result<(Option<String>, Request), Response> {
    if let Some(v) = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok()) {
        return Ok((Some(v.to_owned()), req));
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if let Some(boundary) = multipart_boundary(&content_type) {
        let timeout = std::time::Duration::from_secs(config.request_timeout_secs);
        return csrf_in_first_part(req, &boundary, (config.upload_limit_bytes, timeout)).await;
    }
    if !content_type.starts_with("application/x-www-form-urlencoded") {
        return Ok((None, req));
    }
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, config.body_limit_bytes)
        .await
        .map_err(|_| StatusCode::PAYLOAD_TOO_LARGE.into_response())?;
    let token = url::form_urlencoded::parse(&bytes)
        .find(|(k, _)| k == CSRF_FIELD)
        .map(|(_, v)| v.into_owned());
    Ok((token, Request::from_parts(parts, Body::from(bytes))))
}

/// Most bytes read looking for the first part of a multipart body.
const FIRST_PART_MAX: usize = 4096;

fn multipart_boundary(content_type: &str) -> Option<String> {
    let rest = content_type.strip_prefix("multipart/form-data")?;
    rest.split(';')
        .filter_map(|p| p.trim().strip_prefix("boundary="))
        .map(|b| b.trim_matches('"').to_owned())
        .find(|b| !b.is_empty())
}

/// A multipart form carries its token as its first field (the page puts `_csrf` first), so only
/// the first few bytes are read, not the file after it; they are put back in front of the rest.
/// A body already beyond the upload limit is refused here (413).
async fn csrf_in_first_part(
    req: Request,
    boundary: &str,
    (limit, timeout): (usize, std::time::Duration),
) -> Result<(Option<String>, Request), Response> {
    use futures::StreamExt;
    let (parts, body) = req.into_parts();
    let mut stream = body.into_data_stream();
    let mut prefix: Vec<u8> = Vec::new();
    let mut token = None;
    let mut failed = None;
    while prefix.len() < FIRST_PART_MAX {
        // A sender that trickles its first bytes is not waited for beyond the usual timeout.
        let Ok(piece) = tokio::time::timeout(timeout, stream.next()).await else {
            break;
        };
        match piece {
            Some(Ok(chunk)) => prefix.extend_from_slice(&chunk),
            Some(Err(e)) => {
                failed = Some(e);
                break;
            }
            None => break,
        }
        if let Some(found) = first_field(&prefix, boundary) {
            token = found;
            break;
        }
    }
    if token.is_none()
        && failed
            .as_ref()
            .is_some_and(|e| crate::layers::over_limit(e))
    {
        return Err(crate::layers::too_large(
            &Request::from_parts(parts, Body::empty()),
            limit,
        ));
    }
    let head = futures::stream::once(async move { Ok::<_, axum::Error>(prefix.into()) });
    let tail = futures::stream::iter(failed.map(Err));
    let body = Body::from_stream(head.chain(tail).chain(stream));
    Ok((token, Request::from_parts(parts, body)))
}

/// `Some(token)` once the first part is whole and is `_csrf`; `Some(None)` once it is whole and
/// is another field; `None` while it is not yet whole.
fn first_field(bytes: &[u8], boundary: &str) -> Option<Option<String>> {
    let text = String::from_utf8_lossy(bytes);
    let opening = format!("--{boundary}\r\n");
    let start = text.find(&opening)? + opening.len();
    let headers_end = start + text[start..].find("\r\n\r\n")?;
    let value_start = headers_end + 4;
    let value_end = value_start + text[value_start..].find(&format!("\r\n--{boundary}"))?;
    let named_csrf = text[start..headers_end].split("\r\n").any(|line| {
        let Some((header, value)) = line.split_once(':') else {
            return false;
        };
        if !header.trim().eq_ignore_ascii_case("content-disposition") {
            return false;
        }
        // `form-data; name="_csrf"`, exactly: a file part is never the token.
        let params: Vec<&str> = value.split(';').map(str::trim).collect();
        params.first() == Some(&"form-data")
            && params.contains(&format!("name=\"{CSRF_FIELD}\"").as_str())
            && !params.iter().any(|p| p.starts_with("filename"))
    });
    Some(named_csrf.then(|| text[value_start..value_end].to_owned()))
}

fn constant_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_read_from_the_first_part_of_a_multipart_form() {
        let boundary = multipart_boundary("multipart/form-data; boundary=\"xyZ\"").unwrap();
        assert_eq!(boundary, "xyZ");
        assert!(multipart_boundary("application/x-www-form-urlencoded").is_none());
        let body = b"--xyZ\r\nContent-Disposition: form-data; name=\"_csrf\"\r\n\r\ntok3n\r\n--xyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\n\r\na,b\r\n--xyZ--\r\n";
        assert_eq!(first_field(body, "xyZ"), Some(Some("tok3n".to_owned())));
        // Not yet whole: read on.
        assert_eq!(first_field(&body[..30], "xyZ"), None);
        // Another field first, or a file named like the token, or another spelling: no token.
        let other =
            b"--xyZ\r\nContent-Disposition: form-data; name=\"channel\"\r\n\r\nc\r\n--xyZ--\r\n";
        assert_eq!(first_field(other, "xyZ"), Some(None));
        let file = b"--xyZ\r\nContent-Disposition: form-data; name=\"_csrf\"; filename=\"t\"\r\n\r\ntok3n\r\n--xyZ--\r\n";
        assert_eq!(first_field(file, "xyZ"), Some(None));
        let upper =
            b"--xyZ\r\nContent-Disposition: form-data; name=\"_CSRF\"\r\n\r\ntok3n\r\n--xyZ--\r\n";
        assert_eq!(first_field(upper, "xyZ"), Some(None));
    }
}
