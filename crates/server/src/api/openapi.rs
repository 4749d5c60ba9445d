//! The OpenAPI document, served at `/api/openapi.json` and committed as `docs/openapi.json`.

use crate::api::{audit, auth, health, institutions, tokens, users};
use axum::Json;
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(title = "hdos API", description = "Regional health-data open-sharing platform"),
    paths(
        health::healthz, health::readyz, health::metrics,
        auth::login, auth::logout, auth::me, auth::change_password,
        users::list, users::create, users::disable, users::enable,
        institutions::list, institutions::get, institutions::create,
        tokens::list, tokens::create, tokens::revoke,
        audit::list, audit::verify,
    ),
    tags(
        (name = "auth", description = "Login, logout and the caller's account"),
        (name = "admin", description = "Users, institutions and API tokens"),
        (name = "audit", description = "The hash-chained audit log"),
        (name = "ops", description = "Health, readiness and metrics"),
    )
)]
pub struct ApiDoc;

/// The document as pretty JSON, as committed.
pub fn document_json() -> String {
    ApiDoc::openapi().to_pretty_json().unwrap_or_default()
}

/// Serve the OpenAPI document.
pub async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
