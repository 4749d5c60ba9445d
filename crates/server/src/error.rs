//! The one mapping from error kinds to HTTP, for JSON routes and for pages.

use crate::i18n::T;
use axum::{
    Json,
    http::StatusCode,
    response::{Html, IntoResponse, Response},
};
use hdos_core::ErrorKind;
use serde::Serialize;

pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::InvalidInput => StatusCode::BAD_REQUEST,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::AlreadyExists | ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::FailedPrecondition => StatusCode::PRECONDITION_FAILED,
        ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// An error as JSON routes return it. `localized` is the same message as a translation key and
/// its arguments, for pages to show in the reader's language.
#[derive(Debug)]
pub struct ApiError {
    pub kind: ErrorKind,
    pub message: String,
    pub localized: Option<(&'static str, Vec<(&'static str, String)>)>,
}

/// The JSON error body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code, such as `forbidden`.
    pub code: String,
    pub message: String,
    /// Quote this id to the administrator; the server log has the full cause under it.
    pub error_id: String,
}

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            localized: None,
        }
    }

    /// Adds the translation key (and `{name}` arguments) pages use instead of `message`.
    pub fn localized(mut self, key: &'static str, args: Vec<(&'static str, String)>) -> Self {
        self.localized = Some((key, args));
        self
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidInput, message)
    }
    pub fn forbidden() -> Self {
        Self::new(ErrorKind::Forbidden, "your role may not use this route")
    }
    pub fn unauthenticated() -> Self {
        Self::new(
            ErrorKind::Unauthenticated,
            "log in or present a valid API token",
        )
    }
}

macro_rules! from_crate_error {
    ($($t:ty),*) => {$(
        impl From<$t> for ApiError {
            fn from(e: $t) -> Self {
                let kind = e.kind();
                // For internal errors the full cause goes to the log under the error id, never
                // to the client (see `into_response`).
                Self::new(kind, if kind == ErrorKind::Internal { format!("{e:#}") } else { e.to_string() })
            }
        }
    )*};
}
from_crate_error!(
    hdos_store::StoreError,
    hdos_lake::LakeError,
    hdos_core::CoreError,
    hdos_ingest::IngestError
);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let error_id = uuid::Uuid::new_v4().to_string();
        let status = status_of(self.kind);
        let message = if status.is_server_error() {
            tracing::error!(%error_id, kind = %self.kind, cause = %self.message, "request failed");
            "internal error; quote the error id to the administrator".to_owned()
        } else {
            self.message
        };
        let body = ErrorBody {
            code: self.kind.code().to_owned(),
            message,
            error_id,
        };
        (status, Json(body)).into_response()
    }
}

/// An error as pages show it: in the reader's language, with the error id for 5xx.
#[derive(Debug)]
pub struct PageError {
    pub t: T,
    pub error: ApiError,
}

impl PageError {
    pub fn new(t: T, error: impl Into<ApiError>) -> Self {
        Self {
            t,
            error: error.into(),
        }
    }
}

#[derive(askama::Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    t: T,
    heading: &'a str,
    detail: String,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let t = self.t;
        let status = status_of(self.error.kind);
        let message = match &self.error.localized {
            Some((key, args)) => {
                let args: Vec<(&str, &str)> = args.iter().map(|(k, v)| (*k, v.as_str())).collect();
                t.fmt(key, &args)
            }
            None => self.error.message.clone(),
        };
        let error_id = uuid::Uuid::new_v4().to_string();
        let (heading, detail) = match self.error.kind {
            ErrorKind::Forbidden => (t.get("error.forbidden"), String::new()),
            ErrorKind::NotFound => (t.get("error.not_found"), message),
            ErrorKind::InvalidInput => (t.get("error.invalid_input"), message),
            ErrorKind::AlreadyExists | ErrorKind::Conflict => {
                (t.get("error.already_exists"), message)
            }
            ErrorKind::Unavailable | ErrorKind::Timeout => {
                (t.get("error.unavailable"), String::new())
            }
            _ if status.is_server_error() => {
                tracing::error!(%error_id, cause = %self.error.message, "page failed");
                (t.get("error.internal"), error_id)
            }
            _ => (t.get("error.title"), message),
        };
        render(status, &ErrorPage { t, heading, detail })
    }
}

/// Renders a template, turning a (programming) render failure into a logged 500.
pub fn render(status: StatusCode, page: &impl askama::Template) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            let error_id = uuid::Uuid::new_v4().to_string();
            tracing::error!(%error_id, error = %e, "template rendering failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("internal error {error_id}"),
            )
                .into_response()
        }
    }
}
