//! Link monitoring (链路监控): one pass over every channel raises, updates and resolves alerts —
//! failed runs, a run that read nothing on a normally busy channel, hourly and daily volume
//! against the channel's own baseline, and reconciliation of SQL, CDC and MLLP channels against
//! their sources — and keeps each pass's link samples for the charts. In a cluster one worker at
//! a time monitors, under the lease `hdos:monitor`.

pub mod probe;
pub mod volume;

use crate::{
    IngestError,
    channel::{ChannelEnv, ChannelSpec},
    land::slug,
    mllp::MESSAGES,
    reconcile,
    source::BatchSource,
};
use hdos_lake::{
    TableName,
    arrow::{
        array::AsArray,
        compute::cast,
        datatypes::{DataType, Int64Type},
    },
};
use hdos_store::{
    Alert, Channel, LinkSample, Millis, NewAlert, Page, ReconciliationDay, RunFilter, RunStatus,
    now_millis,
};
use std::{
    collections::{BTreeMap, HashMap},
    time::{Duration, Instant},
};
use tokio::sync::{mpsc, watch};
use volume::{Deviation, deviation};

/// The lease name under which one worker of a cluster monitors.
pub const MONITOR_LEASE: &str = "hdos:monitor";

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;
/// China Standard Time: days and hours in alerts are the region's.
const CST_MS: i64 = 8 * HOUR_MS;
/// How long each pass's link samples are kept, for the dashboard's charts.
const SAMPLES_KEPT_MS: i64 = 14 * DAY_MS;

#[derive(Debug, Clone)]
pub struct MonitorOptions {
    /// How often a pass runs.
    pub interval: Duration,
    /// How often each SQL, CDC and MLLP channel is reconciled.
    pub reconcile_every: Duration,
    /// A mismatch is checked again after this long before it alerts, so rows in flight (a CDC
    /// batch landing) do not.
    pub recheck_after: Duration,
    /// A CDC slot holding more WAL than this beyond what reached the lake alerts: the source
    /// keeps that WAL on disk until hdos confirms it.
    pub slot_lag_alert_bytes: i64,
    /// An MLLP journal holding more than this not yet landed alerts.
    pub journal_backlog_alert_bytes: u64,
}

impl Default for MonitorOptions {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(60),
            reconcile_every: Duration::from_secs(3600),
            recheck_after: Duration::from_secs(5),
            slot_lag_alert_bytes: 256 * 1024 * 1024,
            journal_backlog_alert_bytes: 64 * 1024 * 1024,
        }
    }
}

pub struct Monitor {
    env: ChannelEnv,
    options: MonitorOptions,
    /// New alerts go here (to the webhook), when someone listens.
    notify: Option<mpsc::UnboundedSender<Alert>>,
    reconciled: HashMap<String, Instant>,
}

/// The CST label of an hour or a day starting at `ms` (UTC).
fn cst_label(ms: Millis, format: &str) -> String {
    chrono::DateTime::from_timestamp_millis(ms + CST_MS)
        .map(|t| t.naive_utc().format(format).to_string())
        .unwrap_or_default()
}

impl Monitor {
    pub fn new(
        env: ChannelEnv,
        options: MonitorOptions,
        notify: Option<mpsc::UnboundedSender<Alert>>,
    ) -> Self {
        Self {
            env,
            options,
            notify,
            reconciled: HashMap::new(),
        }
    }

    /// Monitors while this worker holds the monitor lease, until `shutdown` turns true.
    pub async fn run(
        mut self,
        worker: String,
        lease_ttl: Duration,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let ttl = i64::try_from(lease_ttl.as_millis()).unwrap_or(i64::MAX);
        let mut lease = None;
        let mut last_pass: Option<Instant> = None;
        loop {
            let now = now_millis();
            let store = self.env.store.clone();
            lease = match lease.take() {
                Some(l) => match store.renew_channel_lease(&l, now, ttl).await {
                    Ok(true) => Some(l),
                    _ => None,
                },
                None => store
                    .claim_channel_lease(MONITOR_LEASE, &worker, now, ttl)
                    .await
                    .ok()
                    .flatten(),
            };
            let due = last_pass.is_none_or(|t| t.elapsed() >= self.options.interval);
            if let Some(l) = lease.clone().filter(|_| due) {
                // A pass may outlast the lease (reconciliation reads whole sources): it is kept
                // renewed meanwhile.
                let renewing = tokio::spawn(async move {
                    loop {
                        tokio::time::sleep(lease_ttl / 3).await;
                        let _ = store.renew_channel_lease(&l, now_millis(), ttl).await;
                    }
                });
                if let Err(e) = self.check_all().await {
                    tracing::warn!(error = %e, "monitoring pass failed");
                }
                renewing.abort();
                last_pass = Some(Instant::now());
            }
            tokio::select! {
                _ = tokio::time::sleep(self.options.interval.min(lease_ttl / 3)) => {}
                _ = shutdown.wait_for(|s| *s) => break,
            }
        }
        if let Some(l) = lease {
            let _ = self.env.store.release_channel_lease(&l).await;
        }
    }

    /// One pass over every channel.
    pub async fn check_all(&mut self) -> Result<(), IngestError> {
        let started = Instant::now();
        let now = now_millis();
        let channels = self
            .env
            .store
            .list_channels(None, Page::new(10_000, 0))
            .await?;
        self.env
            .store
            .save_link_status(&probe::lake(&self.env).await)
            .await?;
        self.env
            .store
            .prune_link_samples(now - SAMPLES_KEPT_MS)
            .await?;
        let running: Vec<String> = self
            .env
            .store
            .live_channel_leases(now)
            .await?
            .into_iter()
            .map(|l| l.channel)
            .collect();
        for c in &channels {
            let checked = async {
                let spec = ChannelSpec::of(c)?;
                let mut sample = LinkSample {
                    channel: c.name.clone(),
                    institution: c.institution.clone(),
                    at: now,
                    latency_ms: None,
                    backlog_bytes: None,
                };
                // The sample is kept whatever the later checks find: most of all when the source
                // is down.
                let probed = match c.enabled {
                    true => self.check_source(c, &spec, &mut sample).await,
                    false => Ok(()),
                };
                // A disabled CDC channel's slot still holds WAL at the source.
                let slot = match spec {
                    ChannelSpec::Cdc { .. } => self.check_slot(c, &spec, &mut sample).await,
                    _ => Ok(()),
                };
                if c.enabled {
                    self.env.store.save_link_sample(&sample).await?;
                }
                probed?;
                slot?;
                self.check_runs(c).await?;
                self.check_volume(c, &spec, now).await?;
                // A batch run in progress would show as a gap; a stream is always in progress.
                let busy = !spec.is_streaming() && running.contains(&c.name);
                let due = self
                    .reconciled
                    .get(&c.name)
                    .is_none_or(|at| at.elapsed() >= self.options.reconcile_every);
                if c.enabled && due && !busy && spec.reconciles() {
                    self.reconcile_channel(c).await?;
                    self.reconciled.insert(c.name.clone(), Instant::now());
                }
                Ok::<_, IngestError>(())
            }
            .await;
            if let Err(e) = checked {
                tracing::warn!(channel = %c.name, error = %e, "monitoring the channel failed");
            }
        }
        tracing::info!(
            channels = channels.len(),
            seconds = started.elapsed().as_secs_f64(),
            "monitoring pass finished"
        );
        Ok(())
    }

    async fn raise(&self, alert: NewAlert) -> Result<(), IngestError> {
        let (alert, new) = self.env.store.raise_alert(&alert).await?;
        if new {
            tracing::warn!(kind = %alert.kind, channel = %alert.channel, subject = %alert.subject, message = %alert.message, "alert raised");
            if let Some(n) = &self.notify {
                let _ = n.send(alert);
            }
        }
        Ok(())
    }

    /// Raises `alerts` of `kind` for the channel and resolves its others of that kind.
    async fn settle(
        &self,
        c: &Channel,
        kind: &str,
        alerts: Vec<(String, String)>,
    ) -> Result<(), IngestError> {
        let subjects: Vec<String> = alerts.iter().map(|(s, _)| s.clone()).collect();
        for (subject, message) in alerts {
            self.raise(NewAlert {
                kind: kind.into(),
                channel: c.name.clone(),
                institution: c.institution.clone(),
                subject,
                message,
            })
            .await?;
        }
        self.env
            .store
            .resolve_cleared_alerts(kind, &c.name, &subjects)
            .await?;
        Ok(())
    }

    /// Failed runs in a row, and a run that read nothing where the channel's recent incremental
    /// runs normally read rows.
    async fn check_runs(&self, c: &Channel) -> Result<(), IngestError> {
        let failed = match (c.failures, &c.last_error) {
            (0, _) => Vec::new(),
            (n, e) => vec![(
                "runs".to_owned(),
                format!("{n} failed run(s) in a row: {}", e.as_deref().unwrap_or("")),
            )],
        };
        self.settle(c, "run_failed", failed).await?;

        let filter = RunFilter {
            channel: Some(c.name.clone()),
            institution: None,
        };
        let runs = self
            .env
            .store
            .list_ingest_runs(&filter, Page::new(200, 0))
            .await?;
        // Per source table: its latest finished incremental run against the ones before it.
        let mut by_table: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
        for r in runs
            .iter()
            .filter(|r| r.status == RunStatus::Succeeded && r.mode == "incremental")
        {
            by_table
                .entry(&r.source_table)
                .or_default()
                .push(r.counts.rows_read);
        }
        let mut zero = Vec::new();
        for (table, reads) in by_table {
            let (latest, before) = (reads[0], &reads[1..reads.len().min(21)]);
            let baseline: Vec<f64> = before.iter().map(|n| *n as f64).collect();
            if latest == 0
                && let Some(Deviation::Drop { median, .. }) = deviation(0.0, &baseline)
            {
                zero.push((
                    format!("table {table}"),
                    format!(
                        "the latest run read no rows; its recent runs read {median:.0} (median)"
                    ),
                ));
            }
        }
        self.settle(c, "zero_rows", zero).await
    }

    /// The channel's raw tables, where everything it received lands with its time of receipt.
    fn raw_tables(c: &Channel, spec: &ChannelSpec) -> Result<Vec<TableName>, IngestError> {
        let tables: Vec<String> = match spec {
            ChannelSpec::Sql { tables, .. }
            | ChannelSpec::Cdc { tables, .. }
            | ChannelSpec::Folder { tables, .. } => {
                tables.iter().map(|t| slug(&t.source_table)).collect()
            }
            ChannelSpec::Mllp { .. } => vec![MESSAGES.to_owned()],
        };
        tables
            .iter()
            .map(|t| Ok(TableName::new(&format!("raw/{}/{t}", slug(&c.name)))?))
            .collect()
    }

    /// Rows received per UTC hour (keyed by the hour's start, Unix ms) over the last 15 days.
    async fn hourly_volume(
        &self,
        c: &Channel,
        spec: &ChannelSpec,
        now: Millis,
    ) -> Result<BTreeMap<i64, f64>, IngestError> {
        let since_us = (now - 15 * DAY_MS) * 1000;
        let mut hours: BTreeMap<i64, f64> = BTreeMap::new();
        for t in Self::raw_tables(c, spec)? {
            if !self.env.lake.exists(&t).await? {
                continue;
            }
            let sql = format!(
                "SELECT CAST(_hdos_received_at AS BIGINT) / 3600000000 AS h, count(*) AS n FROM {} \
                 WHERE CAST(_hdos_received_at AS BIGINT) >= {since_us} GROUP BY 1",
                t.sql_name()
            );
            for b in self.env.lake.query(std::slice::from_ref(&t), &sql).await? {
                let h = cast(b.column(0), &DataType::Int64).map_err(hdos_lake::LakeError::from)?;
                let n = cast(b.column(1), &DataType::Int64).map_err(hdos_lake::LakeError::from)?;
                let (h, n) = (h.as_primitive::<Int64Type>(), n.as_primitive::<Int64Type>());
                for i in 0..b.num_rows() {
                    *hours.entry(h.value(i) * HOUR_MS).or_default() += n.value(i) as f64;
                }
            }
        }
        Ok(hours)
    }

    /// The last complete hour against the same hour of the previous seven days, and yesterday
    /// (CST) against the fourteen days before, from the day the channel first received rows.
    async fn check_volume(
        &self,
        c: &Channel,
        spec: &ChannelSpec,
        now: Millis,
    ) -> Result<(), IngestError> {
        let hours = self.hourly_volume(c, spec, now).await?;
        let mut found = Vec::new();
        if let Some(first) = hours.keys().next().copied() {
            let at = |h: i64| hours.get(&h).copied().unwrap_or(0.0);
            let hour = (now / HOUR_MS - 1) * HOUR_MS;
            let baseline: Vec<f64> = (1..=7)
                .map(|d| hour - d * DAY_MS)
                .filter(|h| *h >= first)
                .map(at)
                .collect();
            if let Some(d) = deviation(at(hour), &baseline) {
                found.push(finding(
                    d,
                    "hour",
                    &cst_label(hour, "%Y-%m-%d %H:00"),
                    at(hour),
                ));
            }
            let day_of = |ms: i64| (ms + CST_MS).div_euclid(DAY_MS) * DAY_MS - CST_MS;
            let mut days: BTreeMap<i64, f64> = BTreeMap::new();
            for (h, n) in &hours {
                *days.entry(day_of(*h)).or_default() += n;
            }
            let yesterday = day_of(now) - DAY_MS;
            let baseline: Vec<f64> = (1..=14)
                .map(|d| yesterday - d * DAY_MS)
                .filter(|d| *d >= day_of(first))
                .map(|d| days.get(&d).copied().unwrap_or(0.0))
                .collect();
            let value = days.get(&yesterday).copied().unwrap_or(0.0);
            if let Some(d) = deviation(value, &baseline) {
                found.push(finding(d, "day", &cst_label(yesterday, "%Y-%m-%d"), value));
            }
        }
        let (drops, spikes): (Vec<_>, Vec<_>) =
            found.into_iter().partition(|(k, _, _)| *k == "volume_drop");
        let strip =
            |v: Vec<(&str, String, String)>| v.into_iter().map(|(_, s, m)| (s, m)).collect();
        self.settle(c, "volume_drop", strip(drops)).await?;
        self.settle(c, "volume_spike", strip(spikes)).await
    }

    /// The channel's source reached and timed (unreachable, it alerts), and a message
    /// channel's journal backlog against its limit.
    /// Probes the channel's source and (MLLP) journal, alerting on either; returns the sample:
    /// the source's answer time and the journal's backlog.
    async fn check_source(
        &self,
        c: &Channel,
        spec: &ChannelSpec,
        sample: &mut LinkSample,
    ) -> Result<(), IngestError> {
        let source = probe::source(&self.env, c, spec).await;
        sample.latency_ms = source.as_ref().filter(|s| s.ok).map(|s| s.latency_ms);
        let journal = match spec {
            ChannelSpec::Mllp { .. } => {
                let limit = self.options.journal_backlog_alert_bytes;
                probe::journal(&self.env, c, limit).await?
            }
            _ => None,
        };
        let journal = journal.map(|(status, backlog)| {
            sample.backlog_bytes = Some(i64::try_from(backlog).unwrap_or(i64::MAX));
            status
        });
        let probes = [
            (source, "source_unreachable", "source"),
            (journal, "journal_backlog", "journal"),
        ];
        for (status, kind, subject) in probes {
            let Some(status) = status else { continue };
            self.env.store.save_link_status(&status).await?;
            let found = match status.ok {
                true => Vec::new(),
                false => vec![(subject.to_owned(), status.detail.clone())],
            };
            self.settle(c, kind, found).await?;
        }
        Ok(())
    }

    /// The CDC slot's WAL beyond what reached the lake, against the limit; kept in the sample.
    async fn check_slot(
        &self,
        c: &Channel,
        spec: &ChannelSpec,
        sample: &mut LinkSample,
    ) -> Result<(), IngestError> {
        let Some(BatchSource::Postgres { url, .. }) = spec.database(&self.env).await? else {
            return Ok(());
        };
        let lag = crate::cdc::slot_lag(&url, &c.name).await?;
        sample.backlog_bytes = lag;
        let mib = |b: i64| b as f64 / 1_048_576.0;
        let found = match lag {
            Some(bytes) if bytes > self.options.slot_lag_alert_bytes => vec![(
                format!("slot hdos_{}", slug(&c.name)),
                format!(
                    "the slot holds {:.1} MiB of WAL not yet in the lake (limit {:.1} MiB)",
                    mib(bytes),
                    mib(self.options.slot_lag_alert_bytes)
                ),
            )],
            _ => Vec::new(),
        };
        self.settle(c, "slot_lag", found).await
    }

    /// Reconciles the channel, a second time after a short wait when the first finds a gap (rows
    /// in flight), saves the result and alerts on each day that still differs.
    pub async fn reconcile_channel(
        &self,
        c: &Channel,
    ) -> Result<Vec<ReconciliationDay>, IngestError> {
        let mut days = reconcile::reconcile(&self.env, c).await?;
        if days.iter().any(|d| !d.matches()) {
            tokio::time::sleep(self.options.recheck_after).await;
            days = reconcile::reconcile(&self.env, c).await?;
        }
        self.env.store.save_reconciliation(&c.name, &days).await?;
        let gaps = days
            .iter()
            .filter(|d| !d.matches())
            .map(|d| {
                let day = if d.day.is_empty() { "undated" } else { &d.day };
                let message = if d.source_rows == d.lake_rows {
                    format!("{} rows on both sides, but different keys", d.source_rows)
                } else {
                    format!(
                        "source {} rows, lake {} rows: {} {}",
                        d.source_rows,
                        d.lake_rows,
                        (d.source_rows - d.lake_rows).abs(),
                        if d.source_rows > d.lake_rows {
                            "missing from the lake"
                        } else {
                            "more in the lake"
                        }
                    )
                };
                (format!("{} {day}", d.dataset), message)
            })
            .collect();
        self.settle(c, "reconciliation", gaps).await?;
        Ok(days)
    }
}

/// An alert kind, subject and message for a volume deviation.
fn finding(d: Deviation, unit: &str, label: &str, value: f64) -> (&'static str, String, String) {
    let subject = format!("{unit} {label}");
    match d {
        Deviation::Drop { median, bound } => (
            "volume_drop",
            subject,
            format!(
                "{value:.0} rows received; the usual is {median:.0}, below {bound:.0} is a drop"
            ),
        ),
        Deviation::Spike { median, bound } => (
            "volume_spike",
            subject,
            format!(
                "{value:.0} rows received; the usual is {median:.0}, above {bound:.0} is a spike"
            ),
        ),
    }
}
