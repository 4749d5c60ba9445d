//! A worker: runs the channels it can lease. Every poll it renews the leases of what it runs,
//! stops what it lost, was asked to cancel or was disabled, records how runs ended, and claims
//! channels that are due (streaming ones always; batch ones on their schedule, on request, or to
//! retry a failure with backoff). Several workers share one metadata store; a worker that dies
//! stops renewing, and another takes its channels over once their leases expire, resuming from
//! the last committed position.

use crate::{
    IngestError,
    channel::{self, ChannelEnv, ChannelSpec, schedule::Schedule},
};
use hdos_store::{
    Channel, ChannelLease, ChannelOutcome, Millis, Page, RunCounts, WorkerStatus, now_millis,
};
use std::{collections::BTreeMap, time::Duration};
use tokio::{sync::watch, task::JoinHandle, time::Instant};

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Unique among the workers sharing a store.
    pub id: String,
    /// How long a lease lasts without renewal: the longest a dead worker's channels wait.
    pub lease_ttl: Duration,
    /// How often it renews, stops and claims.
    pub poll: Duration,
    /// Batch runs at once at most; streaming channels are always taken, since they never end.
    pub max_jobs: usize,
}

impl WorkerOptions {
    /// A worker named after the machine and the process.
    pub fn new() -> Self {
        let host = hostname();
        Self {
            id: format!("{host}-{}", std::process::id()),
            lease_ttl: Duration::from_secs(10),
            poll: Duration::from_secs(1),
            max_jobs: 4,
        }
    }
}

impl Default for WorkerOptions {
    fn default() -> Self {
        Self::new()
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// First retry of a failed channel; it doubles with each failure in a row, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(15);
const MAX_BACKOFF: Duration = Duration::from_secs(30 * 60);

/// When a channel that failed `failures` times in a row is tried again.
fn retry_delay(failures: i64) -> Duration {
    let doublings = u32::try_from(failures.saturating_sub(1).clamp(0, 16)).unwrap_or(16);
    FIRST_BACKOFF
        .saturating_mul(1 << doublings)
        .min(MAX_BACKOFF)
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A channel this worker runs.
struct Job {
    lease: ChannelLease,
    renewed: Instant,
    started_at: Millis,
    streaming: bool,
    schedule: Option<String>,
    failures: i64,
    stop: watch::Sender<bool>,
    handle: JoinHandle<Result<RunCounts, IngestError>>,
    /// The lease was lost: another worker may run the channel, so this one records nothing.
    lost: bool,
}

pub struct Worker {
    env: ChannelEnv,
    /// The machine's name, as reported with each heartbeat.
    host: String,
    options: WorkerOptions,
    started_at: Millis,
    jobs: BTreeMap<String, Job>,
}

impl Worker {
    pub fn new(env: ChannelEnv, options: WorkerOptions) -> Self {
        Self {
            env,
            host: hostname(),
            options,
            started_at: now_millis(),
            jobs: BTreeMap::new(),
        }
    }

    /// Runs until `shutdown` turns true, then stops its channels, records them and lets their
    /// leases go so that another worker can take them at once.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        tracing::info!(worker = %self.options.id, "worker started");
        loop {
            if let Err(e) = self.poll().await {
                tracing::warn!(worker = %self.options.id, error = %e, "worker poll failed");
            }
            tokio::select! {
                _ = tokio::time::sleep(self.options.poll) => {}
                _ = shutdown.wait_for(|s| *s) => break,
            }
        }
        for job in self.jobs.values() {
            let _ = job.stop.send(true);
        }
        let names: Vec<String> = self.jobs.keys().cloned().collect();
        for name in names {
            if let Some(job) = self.jobs.remove(&name) {
                self.finish(&name, job).await;
            }
        }
        self.report(Some(now_millis())).await;
        tracing::info!(worker = %self.options.id, "worker stopped");
    }

    async fn poll(&mut self) -> Result<(), IngestError> {
        self.tend_jobs().await;
        let channels = self
            .env
            .store
            .list_channels(None, Page::new(10_000, 0))
            .await?;
        self.stop_unwanted(&channels);
        self.claim_due(channels).await?;
        self.report(None).await;
        Ok(())
    }

    /// Records jobs that ended and renews the leases of the others.
    async fn tend_jobs(&mut self) {
        let ended: Vec<String> = self
            .jobs
            .iter()
            .filter(|(_, j)| j.handle.is_finished())
            .map(|(n, _)| n.clone())
            .collect();
        for name in ended {
            if let Some(job) = self.jobs.remove(&name) {
                self.finish(&name, job).await;
            }
        }
        let ttl = millis(self.options.lease_ttl);
        let every = self.options.lease_ttl / 3;
        for (name, job) in &mut self.jobs {
            if job.lost || job.renewed.elapsed() < every {
                continue;
            }
            let now = now_millis();
            match self
                .env
                .store
                .renew_channel_lease(&job.lease, now, ttl)
                .await
            {
                Ok(true) => {
                    job.renewed = Instant::now();
                    job.lease.expires_at = now + ttl;
                }
                Ok(false) => {
                    tracing::warn!(channel = %name, "lease lost; stopping the channel here");
                    job.lost = true;
                    let _ = job.stop.send(true);
                }
                // The store may be back before the lease runs out; past it, stop.
                Err(e) if now >= job.lease.expires_at => {
                    tracing::warn!(channel = %name, error = %e, "lease could not be renewed before it expired; stopping the channel here");
                    job.lost = true;
                    let _ = job.stop.send(true);
                }
                Err(e) => {
                    tracing::warn!(channel = %name, error = %e, "lease renewal failed; retrying")
                }
            }
        }
    }

    /// Stops jobs whose channel was removed, disabled or asked to cancel.
    fn stop_unwanted(&self, channels: &[Channel]) {
        for (name, job) in &self.jobs {
            let wanted = channels
                .iter()
                .find(|c| &c.name == name)
                .is_some_and(|c| c.enabled && c.cancel_requested_at.is_none());
            if !wanted && !*job.stop.borrow() {
                tracing::info!(channel = %name, "stopping the channel: removed, disabled or cancelled");
                let _ = job.stop.send(true);
            }
        }
    }

    async fn claim_due(&mut self, channels: Vec<Channel>) -> Result<(), IngestError> {
        let now = now_millis();
        let mut batch_runs = self.jobs.values().filter(|j| !j.streaming).count();
        for c in channels {
            if self.jobs.contains_key(&c.name) || !c.enabled {
                continue;
            }
            if c.cancel_requested_at.is_some() {
                self.drop_stale_cancel(&c.name, now).await?;
                continue;
            }
            let spec = match ChannelSpec::of(&c) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(channel = %c.name, error = %e, "channel skipped");
                    continue;
                }
            };
            let streaming = spec.is_streaming();
            if !is_due(&c, streaming, now) || (!streaming && batch_runs >= self.options.max_jobs) {
                continue;
            }
            let ttl = millis(self.options.lease_ttl);
            let Some(lease) = self
                .env
                .store
                .claim_channel_lease(&c.name, &self.options.id, now, ttl)
                .await?
            else {
                continue;
            };
            tracing::info!(channel = %c.name, worker = %self.options.id, token = lease.token, "channel leased; running it");
            let (stop, stopped) = watch::channel(false);
            let name = c.name.clone();
            let (schedule, failures) = (c.schedule.clone(), c.failures);
            batch_runs += usize::from(!streaming);
            let handle = tokio::spawn(channel::run(self.env.clone(), c, spec, stopped));
            self.jobs.insert(
                name,
                Job {
                    lease,
                    renewed: Instant::now(),
                    started_at: now,
                    streaming,
                    schedule,
                    failures,
                    stop,
                    handle,
                    lost: false,
                },
            );
        }
        Ok(())
    }

    /// A cancel request for a channel that no worker runs (the lease is free) has nothing left to
    /// stop: it is dropped, so that the channel runs again when due.
    async fn drop_stale_cancel(&self, name: &str, now: Millis) -> Result<(), IngestError> {
        let ttl = millis(self.options.lease_ttl);
        let store = &self.env.store;
        if let Some(lease) = store
            .claim_channel_lease(name, &self.options.id, now, ttl)
            .await?
        {
            store.clear_channel_cancel(name).await?;
            store.release_channel_lease(&lease).await?;
        }
        Ok(())
    }

    /// Records how a job ended and lets its lease go, unless the lease was lost.
    async fn finish(&self, name: &str, job: Job) {
        let result = match job.handle.await {
            Ok(r) => r,
            Err(e) => Err(IngestError::Channel {
                channel: name.to_owned(),
                reason: format!("the run panicked: {e}"),
            }),
        };
        if job.lost {
            return;
        }
        let now = now_millis();
        let next_scheduled = job
            .schedule
            .as_deref()
            .and_then(|s| Schedule::parse(s).ok())
            .and_then(|s| s.next_after(now));
        let outcome = match &result {
            Ok(counts) => {
                tracing::info!(channel = %name, rows_read = counts.rows_read, rows_written = counts.rows_written, "run ended");
                ChannelOutcome {
                    started_at: job.started_at,
                    next_run_at: next_scheduled,
                    failures: 0,
                    last_error: None,
                }
            }
            Err(IngestError::Cancelled) => ChannelOutcome {
                started_at: job.started_at,
                next_run_at: next_scheduled,
                failures: job.failures,
                last_error: None,
            },
            Err(e) => {
                let failures = job.failures + 1;
                let retry = now + millis(retry_delay(failures));
                tracing::warn!(channel = %name, failures, error = %e, "run failed; retrying with backoff");
                ChannelOutcome {
                    started_at: job.started_at,
                    // A batch channel retries before its next scheduled run, not after it.
                    next_run_at: Some(next_scheduled.map_or(retry, |n| n.min(retry))),
                    failures,
                    last_error: Some(e.to_string()),
                }
            }
        };
        if let Err(e) = self.env.store.finish_channel_run(name, &outcome).await {
            tracing::warn!(channel = %name, error = %e, "could not record how the run ended");
        }
        if let Err(e) = self.env.store.release_channel_lease(&job.lease).await {
            tracing::warn!(channel = %name, error = %e, "could not release the lease; it expires by itself");
        }
    }

    async fn report(&self, stopped_at: Option<Millis>) {
        let status = WorkerStatus {
            id: self.options.id.clone(),
            host: self.host.clone(),
            pid: i64::from(std::process::id()),
            started_at: self.started_at,
            seen_at: now_millis(),
            running: self.jobs.keys().cloned().collect(),
            stopped_at,
        };
        if let Err(e) = self.env.store.report_worker(&status).await {
            tracing::warn!(worker = %self.options.id, error = %e, "could not report the worker's status");
        }
    }
}

/// Whether a channel not running anywhere should run now: a streaming channel unless it waits
/// to retry; a batch channel when asked, or when its schedule or retry time has come.
fn is_due(c: &Channel, streaming: bool, now: Millis) -> bool {
    let time_has_come = c.next_run_at.is_some_and(|t| t <= now);
    if streaming {
        c.failures == 0 || time_has_come
    } else {
        c.run_requested_at.is_some() || time_has_come
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_half_an_hour() {
        assert_eq!(retry_delay(1), Duration::from_secs(15));
        assert_eq!(retry_delay(2), Duration::from_secs(30));
        assert_eq!(retry_delay(5), Duration::from_secs(240));
        assert_eq!(retry_delay(12), MAX_BACKOFF);
        assert_eq!(retry_delay(i64::MAX), MAX_BACKOFF);
    }

    fn channel(next: Option<Millis>, requested: Option<Millis>, failures: i64) -> Channel {
        Channel {
            id: 1,
            name: "c".into(),
            institution: "H1".into(),
            kind: "sql".into(),
            spec: String::new(),
            schedule: None,
            enabled: true,
            next_run_at: next,
            run_requested_at: requested,
            cancel_requested_at: None,
            failures,
            last_error: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn what_is_due() {
        let now = 10_000;
        assert!(
            !is_due(&channel(None, None, 0), false, now),
            "a batch channel without schedule waits for a request"
        );
        assert!(is_due(&channel(None, Some(5), 0), false, now));
        assert!(is_due(&channel(Some(now), None, 0), false, now));
        assert!(!is_due(&channel(Some(now + 1), None, 0), false, now));
        assert!(
            is_due(&channel(None, None, 0), true, now),
            "a streaming channel always runs"
        );
        assert!(
            !is_due(&channel(Some(now + 1), None, 2), true, now),
            "…but waits to retry after a failure"
        );
        assert!(is_due(&channel(Some(now), None, 2), true, now));
    }
}
