//! Layers every request passes: request ids, tracing, timeout, body limit, compression, panic
//! catching, security headers and metrics. Upload routes get their own body limit and no
//! timeout.

use crate::{
    config::ServerConfig,
    error::{ApiError, PageError},
    i18n::{Lang, T},
    state::AppState,
};
use axum::{
    Router,
    body::Body,
    extract::{DefaultBodyLimit, MatchedPath, Request, State},
    http::{HeaderName, HeaderValue, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
};
use hdos_core::ErrorKind;
use std::time::{Duration, Instant};
use tower_http::{
    LatencyUnit,
    catch_panic::CatchPanicLayer,
    compression::CompressionLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    set_header::SetResponseHeaderLayer,
    trace::{DefaultOnResponse, TraceLayer},
};
use tracing::Level;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// No inline script, nothing from elsewhere: every asset is served by hdos itself.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

pub fn common(router: Router, cfg: &ServerConfig) -> Router {
    let headers = [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (
            HeaderName::from_static("permissions-policy"),
            "camera=(), microphone=(), geolocation=()",
        ),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
    ];
    let limits = Limits {
        body: cfg.body_limit_bytes,
        upload: cfg.upload_limit_bytes,
        timeout: Duration::from_secs(cfg.request_timeout_secs),
    };
    let mut router = router
        .layer(CompressionLayer::new())
        .layer(middleware::from_fn(move |req, next| {
            limit(limits, req, next)
        }))
        // `limit` bounds every body; extractors add no limit of their own.
        .layer(DefaultBodyLimit::disable())
        .layer(CatchPanicLayer::new());
    for (name, value) in headers {
        router = router.layer(SetResponseHeaderLayer::if_not_present(
            name,
            HeaderValue::from_static(value),
        ));
    }
    router
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request| {
            let request_id = req
                .headers()
                .get(&REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-");
                    tracing::info_span!("http", method = %req.method(), uri = %req.uri().path(), request_id)
                })
                .on_response(
                    DefaultOnResponse::new()
                        .level(Level::INFO)
                        .latency_unit(LatencyUnit::Millis),
                ),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

/// Routes that take data files: a body up to `upload_limit_bytes`, for as long as it takes.
const UPLOAD_ROUTES: &[&str] = &[crate::ui::upload::PATH];

#[derive(Debug, Clone, Copy)]
struct Limits {
    body: usize,
    upload: usize,
    timeout: Duration,
}

/// The body limit (413 beyond it, announced or not) and the timeout (408) of the matched route.
async fn limit(limits: Limits, req: Request, next: Next) -> Response {
    let upload = req
        .extensions()
        .get::<MatchedPath>()
        .is_some_and(|m| UPLOAD_ROUTES.contains(&m.as_str()));
    let max = if upload { limits.upload } else { limits.body };
    let announced = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > max as u64) {
        return too_large(&req, max);
    }
    let (parts, body) = req.into_parts();
    let req = Request::from_parts(parts, Body::new(http_body_util::Limited::new(body, max)));
    if upload {
        return next.run(req).await;
    }
    match tokio::time::timeout(limits.timeout, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => StatusCode::REQUEST_TIMEOUT.into_response(),
    }
}

/// Whether a body error, however wrapped, is the body limit's.
pub(crate) fn over_limit(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(e);
    while let Some(s) = source {
        if s.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = s.source();
    }
    false
}

/// 413 as the route's surface answers: JSON for the API, a page in the reader's language.
pub(crate) fn too_large(req: &Request, max: usize) -> Response {
    let err = ApiError::new(
        ErrorKind::TooLarge,
        format!("the request body is larger than {max} bytes"),
    )
    .localized(
        "error.too_large",
        vec![("mib", format!("{:.1}", max as f64 / 1_048_576.0))],
    );
    if req.uri().path().starts_with("/api/") {
        err.into_response()
    } else {
        PageError::new(T::new(Lang::from_headers(req.headers())), err).into_response()
    }
}

/// Counts and times requests by matched route (never by raw path, which would explode labels).
pub async fn track(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().to_string();
    let start = Instant::now();
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    app.metrics
        .http_requests
        .with_label_values(&[method.as_str(), route.as_str(), status.as_str()])
        .inc();
    app.metrics
        .http_duration
        .with_label_values(&[method.as_str(), route.as_str()])
        .observe(start.elapsed().as_secs_f64());
    resp
}

pub async fn not_found(req: Request) -> Response {
    let err = ApiError::new(
        ErrorKind::NotFound,
        format!("no route for {}", req.uri().path()),
    );
    if req.uri().path().starts_with("/api/") {
        err.into_response()
    } else {
        let t = T::new(Lang::from_headers(req.headers()));
        PageError::new(t, err).into_response()
    }
}
