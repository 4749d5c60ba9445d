use crate::{config::Config, wiring};
use anyhow::{Context, Result};
use hdos_core::standard::Standard;
use hdos_ingest::fhir::{FhirHub, ResourceMappings};
use hdos_server::AppState;
use std::{process::ExitCode, sync::Arc};

/// Builds the application state from the configuration.
pub async fn state(cfg: &Config) -> Result<AppState> {
    let store = wiring::open_store(cfg).await?;
    let lake = wiring::open_lake(cfg)?;
    // Created on first start; the mapping page unseals stored connections' passwords with it.
    let master_key = wiring::master_key(cfg)?;
    let hub = FhirHub::new(
        store.clone(),
        (*lake).clone(),
        Standard::builtin()?,
        &ResourceMappings::builtin()?,
        cfg.data_dir.join("journal"),
    )?;
    Ok(AppState::new(store, lake, cfg.server.clone())
        .with_fhir(Arc::new(hub))
        .with_master_key(master_key)
        .with_notify(wiring::notify_config(cfg)))
}

/// Serves until Ctrl-C or SIGTERM.
pub async fn run_server(state: AppState, listen: &str) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    tracing::info!(%listen, "serving");
    let fhir = state.fhir.clone();
    let served = hdos_server::serve(state, listener, shutdown()).await;
    // Resources already answered are landed before the process ends.
    if let Some(hub) = fhir {
        hub.stop().await;
    }
    served.context("server failed")
}

pub async fn shutdown() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down");
}

pub async fn serve(cfg: &Config) -> Result<ExitCode> {
    let state = state(cfg).await?;
    let worker = embedded_worker(cfg).await?;
    let served = run_server(state, &cfg.server.listen).await;
    if let Some(w) = worker {
        w.stop().await;
    }
    served?;
    Ok(ExitCode::SUCCESS)
}

/// The worker `hdos serve` runs beside the server, unless `worker.embedded` is off.
pub async fn embedded_worker(cfg: &Config) -> Result<Option<super::worker::Running>> {
    Ok(match cfg.worker.embedded {
        true => Some(super::worker::start(cfg, None).await?),
        false => None,
    })
}
