use crate::state::AppState;
use axum::{
    Json,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, body = String)))]
pub async fn healthz() -> &'static str {
    "ok"
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Readiness {
    pub ready: bool,
    pub store: String,
    pub lake: String,
}

/// Readiness: the metadata store answers and the lake is writable.
#[utoipa::path(get, path = "/readyz", tag = "ops",
    responses((status = 200, body = Readiness), (status = 503, body = Readiness)))]
pub async fn readyz(State(app): State<AppState>) -> Response {
    let store = app.store.ping().await;
    let lake = app.lake.check_writable().await;
    let body = Readiness {
        ready: store.is_ok() && lake.is_ok(),
        store: store
            .map(|()| "ok".to_owned())
            .unwrap_or_else(|e| e.to_string()),
        lake: lake
            .map(|()| "ok".to_owned())
            .unwrap_or_else(|e| e.to_string()),
    };
    let status = if body.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "ops", responses((status = 200, body = String)))]
pub async fn metrics(State(app): State<AppState>) -> Response {
    let mut text = app.metrics.render();
    match app
        .store
        .list_ingest_runs(&Default::default(), hdos_store::Page::new(500, 0))
        .await
    {
        Ok(runs) => text.push_str(&crate::metrics::collection(&runs)),
        Err(e) => tracing::warn!(error = %e, "collection metrics unavailable"),
    }
    let gaps = hdos_store::ReconciliationFilter {
        mismatched_only: true,
        ..Default::default()
    };
    let page = hdos_store::Page::new(10_000, 0);
    match (
        app.store.list_alerts(&Default::default(), page).await,
        app.store.list_reconciliations(&gaps, page).await,
        app.store.link_statuses().await,
    ) {
        (Ok(alerts), Ok(gaps), Ok(nodes)) => {
            text.push_str(&crate::metrics::monitoring(&alerts, &gaps, &nodes))
        }
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
            tracing::warn!(error = %e, "monitoring metrics unavailable")
        }
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}
