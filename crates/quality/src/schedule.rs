//! Quality runs without anyone asking: after collection finishes a batch run, and at least every
//! `every` while records stream in. One worker of a cluster schedules at a time, under the lease
//! `hdos:quality`.

use crate::{
    notify::{self, NotifyConfig},
    run::{RunOptions, run},
};
use hdos_core::standard::Standard;
use hdos_lake::Lake;
use hdos_store::{MetaStore, Page, RunFilter, now_millis};
use std::{sync::Arc, time::Duration};
use tokio::sync::watch;

/// The lease under which one worker schedules quality runs.
pub const QUALITY_LEASE: &str = "hdos:quality";

#[derive(Debug, Clone)]
pub struct Scheduler {
    pub store: Arc<dyn MetaStore>,
    pub lake: Lake,
    pub standard: &'static Standard,
    /// How often to look for new collection.
    pub poll: Duration,
    /// A run at least this often, for channels that stream rather than run.
    pub every: Duration,
    /// Where the ticket changes of each run are told besides the app; pending deliveries are
    /// tried at each poll.
    pub notify: NotifyConfig,
}

impl Scheduler {
    /// Whether a run is due: a batch collection run ended after the last quality run's window
    /// closed (an incremental run stops short of its start by the settling time) and its rows
    /// have settled since, or the last run is older than `every`, or there was none.
    async fn due(&self) -> Result<bool, crate::QualityError> {
        let last = self
            .store
            .quality_runs(Page::new(1, 0))
            .await?
            .into_iter()
            .next();
        let Some(last) = last else {
            return Ok(true);
        };
        if last.state == "running" {
            // A run whose process died is failed after a while; then runs go on.
            return Ok(crate::run::fail_stale(self.store.as_ref()).await? > 0);
        }
        let every = i64::try_from(self.every.as_millis()).unwrap_or(i64::MAX);
        if now_millis() - last.started_at >= every {
            return Ok(true);
        }
        // While a collection run that began before the last window closed is still going,
        // the window cannot move on: another run would check nothing.
        let marks: std::collections::BTreeMap<String, i64> =
            serde_json::from_str(&last.watermarks).unwrap_or_default();
        if let (Some(started), Some(mark)) = (
            crate::run::collection_running_since(self.store.as_ref()).await?,
            marks.values().max(),
        ) && started * 1_000 <= *mark
        {
            return Ok(false);
        }
        let recent = self
            .store
            .list_ingest_runs(&RunFilter::default(), Page::new(20, 0))
            .await?;
        // Due once a run's rows have settled (collection stamps them before it commits them).
        let settle = RunOptions::default().settle_seconds * 1000;
        let settled = now_millis() - settle;
        Ok(recent
            .iter()
            .filter_map(|r| r.finished_at)
            .any(|f| f > last.started_at - settle && f <= settled))
    }

    /// Schedules while this worker holds the lease, until `shutdown` turns true.
    pub async fn run(
        self,
        worker: String,
        lease_ttl: Duration,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let ttl = i64::try_from(lease_ttl.as_millis()).unwrap_or(i64::MAX);
        let mut lease = None;
        loop {
            let now = now_millis();
            lease = match lease.take() {
                Some(l) => match self.store.renew_channel_lease(&l, now, ttl).await {
                    Ok(true) => Some(l),
                    _ => None,
                },
                None => self
                    .store
                    .claim_channel_lease(QUALITY_LEASE, &worker, now, ttl)
                    .await
                    .ok()
                    .flatten(),
            };
            if let Some(l) = lease.clone() {
                let store = self.store.clone();
                // A run or a slow mail server may outlast the lease: it is kept renewed.
                let renewing = tokio::spawn(async move {
                    loop {
                        tokio::time::sleep(lease_ttl / 3).await;
                        let _ = store.renew_channel_lease(&l, now_millis(), ttl).await;
                    }
                });
                match self.due().await {
                    Ok(true) => self.run_once().await,
                    Ok(false) => {}
                    Err(e) => tracing::warn!(error = %e, "quality schedule check failed"),
                }
                if let Err(e) = notify::deliver_due(self.store.as_ref(), &self.notify).await {
                    tracing::warn!(error = %e, "notification delivery failed");
                }
                renewing.abort();
            }
            tokio::select! {
                _ = tokio::time::sleep(self.poll.min(lease_ttl / 3)) => {}
                _ = shutdown.wait_for(|s| *s) => break,
            }
        }
        if let Some(l) = lease {
            let _ = self.store.release_channel_lease(&l).await;
        }
    }

    async fn run_once(&self) {
        let options = RunOptions {
            notify: self.notify.clone(),
            ..RunOptions::default()
        };
        match run(self.store.as_ref(), &self.lake, self.standard, &options).await {
            Ok(summary) => {
                tracing::info!(
                    run = summary.run.id,
                    rows = summary.rows.values().sum::<i64>(),
                    failures = summary.failures,
                    tickets = summary.tickets.len(),
                    "quality run"
                );
            }
            Err(e) => tracing::warn!(error = %e, "quality run failed"),
        }
    }
}
