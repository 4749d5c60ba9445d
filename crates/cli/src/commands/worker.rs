//! `hdos worker`: runs the channels it can lease until Ctrl-C or SIGTERM.

use crate::{config::Config, wiring};
use anyhow::Result;
use hdos_core::standard::Standard;
use hdos_ingest::{
    channel::ChannelEnv,
    worker::{Worker, WorkerOptions},
};
use std::{process::ExitCode, time::Duration};
use tokio::sync::watch;

/// The channel environment and worker options the configuration gives.
pub async fn worker(cfg: &Config, id: Option<String>) -> Result<Worker> {
    let env = ChannelEnv {
        store: wiring::open_store(cfg).await?,
        lake: (*wiring::open_lake(cfg)?).clone(),
        standard: Standard::builtin()?,
        master_key: wiring::master_key(cfg)?,
        journal_root: cfg.data_dir.join("journal"),
    };
    let mut options = WorkerOptions::new();
    if let Some(id) = id {
        options.id = id;
    }
    options.lease_ttl = Duration::from_secs(cfg.worker.lease_seconds.max(1));
    options.max_jobs = cfg.worker.max_jobs.max(1);
    Ok(Worker::new(env, options))
}

pub async fn run(cfg: &Config, id: Option<String>) -> Result<ExitCode> {
    let worker = worker(cfg, id).await?;
    let (stop, stopped) = watch::channel(false);
    let running = tokio::spawn(worker.run(stopped));
    super::serve::shutdown().await;
    let _ = stop.send(true);
    running.await?;
    Ok(ExitCode::SUCCESS)
}
