//! FHIR R4 collection over HTTP: an institution's interface account posts transaction and batch
//! Bundles to `/fhir/r4`, creates to `/fhir/r4/{resource}` and updates to
//! `/fhir/r4/{resource}/{id}`; the resources go to its own institution's channel. Every answer is
//! `application/fhir+json`, problems as an OperationOutcome.

use crate::{auth::Principal, state::AppState};
use axum::{
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use hdos_ingest::fhir::{FhirResponse, Interaction, failure};
use hdos_store::Outcome;
use serde_json::json;

const FHIR_JSON: &str = "application/fhir+json; charset=utf-8";

fn reply(r: FhirResponse) -> Response {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = (status, r.body.to_string()).into_response();
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
    if let Some(location) = r.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        headers.insert(header::LOCATION, location);
    }
    resp
}

/// Bodies must be FHIR JSON (`application/fhir+json`, or `application/json`).
fn json_body(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .is_some_and(|v| v == "application/fhir+json" || v == "application/json")
}

async fn receive(
    app: &AppState,
    p: &Principal,
    headers: &HeaderMap,
    interaction: Interaction,
    body: &[u8],
) -> Response {
    let Some(hub) = app.fhir.as_ref() else {
        return reply(failure(
            503,
            "transient",
            "FHIR collection is not enabled on this server",
        ));
    };
    if !json_body(headers) {
        return reply(failure(
            415,
            "not-supported",
            "send FHIR JSON with Content-Type: application/fhir+json",
        ));
    }
    let institution = match p.user.institution_id {
        Some(id) => match app.store.institution(id).await {
            Ok(i) => i.code,
            Err(e) => {
                tracing::error!(error = %e, "FHIR: the caller's institution could not be read");
                return reply(failure(
                    500,
                    "exception",
                    "the account's institution could not be read",
                ));
            }
        },
        None => {
            return reply(failure(
                403,
                "security",
                "this account belongs to no institution, so it has no FHIR channel",
            ));
        }
    };
    let channel = match hub.channel(&institution).await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(%institution, error = %e, "FHIR channel could not start");
            return reply(failure(
                503,
                "transient",
                "the institution's FHIR channel could not start; try again later",
            ));
        }
    };
    let target = match &interaction {
        Interaction::Bundle => "Bundle".to_owned(),
        Interaction::Create { resource_type } => resource_type.clone(),
        Interaction::Update { resource_type, id } => format!("{resource_type}/{id}"),
    };
    let answer = channel.receive(&interaction, body, &p.ip).await;
    let outcome = if answer.status < 300 {
        Outcome::Success
    } else {
        Outcome::Failure
    };
    let detail = json!({"institution": institution, "status": answer.status, "bytes": body.len()});
    app.audit(p.actor().entry("fhir.receive", target, outcome, detail))
        .await;
    reply(answer)
}

/// POST a transaction or batch Bundle.
pub async fn bundle(
    State(app): State<AppState>,
    p: Principal,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    receive(&app, &p, &headers, Interaction::Bundle, &body).await
}

/// POST one resource.
pub async fn create(
    State(app): State<AppState>,
    p: Principal,
    Path(resource_type): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    receive(
        &app,
        &p,
        &headers,
        Interaction::Create { resource_type },
        &body,
    )
    .await
}

/// PUT one resource under its id.
pub async fn update(
    State(app): State<AppState>,
    p: Principal,
    Path((resource_type, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    receive(
        &app,
        &p,
        &headers,
        Interaction::Update { resource_type, id },
        &body,
    )
    .await
}

/// The CapabilityStatement: what this server takes.
pub async fn metadata(State(app): State<AppState>) -> Response {
    let types = app
        .fhir
        .as_ref()
        .map(|h| h.resource_types())
        .unwrap_or_default();
    let resources: Vec<_> = types
        .iter()
        .map(|t| json!({"type": t, "interaction": [{"code": "create"}, {"code": "update"}]}))
        .collect();
    reply(FhirResponse {
        status: 200,
        body: json!({
            "resourceType": "CapabilityStatement",
            "status": "active",
            "kind": "instance",
            "fhirVersion": "4.0.1",
            "format": ["application/fhir+json"],
            "software": {"name": "hdos", "version": env!("CARGO_PKG_VERSION")},
            "rest": [{
                "mode": "server",
                "resource": resources,
                "interaction": [{"code": "transaction"}, {"code": "batch"}],
            }],
        }),
        location: None,
    })
}
