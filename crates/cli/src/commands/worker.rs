//! `hdos worker`: runs the channels it can lease, monitors the links while it holds the monitor
//! lease and schedules quality runs while it holds the quality lease, until Ctrl-C or SIGTERM.
//! `hdos serve` and `hdos demo` run the same parts.

use crate::{config::Config, wiring};
use anyhow::Result;
use hdos_core::standard::Standard;
use hdos_ingest::{
    channel::ChannelEnv,
    monitor::{Monitor, MonitorOptions},
    worker::{Worker, WorkerOptions},
};
use std::{process::ExitCode, time::Duration};
use tokio::{sync::watch, task::JoinHandle};

/// A running worker: its channels, its monitor and the webhook that monitor feeds.
pub struct Running {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// Stops the channels (recording them and letting their leases go) and the monitor.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

pub async fn start(cfg: &Config, id: Option<String>) -> Result<Running> {
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
    let (stop, stopped) = watch::channel(false);
    let mut tasks = Vec::new();
    let notify = if cfg.monitor.webhook_url.is_empty() {
        None
    } else {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        // Ends when the monitor, its only sender, does.
        tokio::spawn(crate::webhook::deliver(cfg.monitor.webhook_url.clone(), rx));
        Some(tx)
    };
    let monitor = Monitor::new(
        env.clone(),
        MonitorOptions {
            interval: Duration::from_secs(cfg.monitor.interval_seconds.max(1)),
            reconcile_every: Duration::from_secs(cfg.monitor.reconcile_minutes.max(1) * 60),
            ..MonitorOptions::default()
        },
        notify,
    );
    tasks.push(tokio::spawn(monitor.run(
        options.id.clone(),
        options.lease_ttl,
        stopped.clone(),
    )));
    let quality = hdos_quality::schedule::Scheduler {
        store: env.store.clone(),
        lake: env.lake.clone(),
        standard: env.standard,
        poll: Duration::from_secs(cfg.quality.poll_seconds.max(1)),
        every: Duration::from_secs(cfg.quality.every_minutes.max(1) * 60),
        notify: wiring::notify_config(cfg),
    };
    tasks.push(tokio::spawn(quality.run(
        options.id.clone(),
        options.lease_ttl,
        stopped.clone(),
    )));
    tasks.push(tokio::spawn(Worker::new(env, options).run(stopped)));
    Ok(Running { stop, tasks })
}

pub async fn run(cfg: &Config, id: Option<String>) -> Result<ExitCode> {
    let running = start(cfg, id).await?;
    super::serve::shutdown().await;
    running.stop().await;
    Ok(ExitCode::SUCCESS)
}
