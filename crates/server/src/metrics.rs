//! Prometheus metrics, served at `/metrics`.

use hdos_store::{Alert, IngestRun, LinkStatus, ReconciliationDay, RunStatus};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};
use std::collections::HashSet;

#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    pub login_failures: IntCounter,
    pub access_denied: IntCounter,
    pub audit_entries: IntCounter,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new_custom(Some("hdos".into()), None).unwrap_or_default();
        let http_requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests by route and status"),
            &["method", "route", "status"],
        );
        let http_duration = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "HTTP request duration"),
            &["method", "route"],
        );
        let login_failures = IntCounter::new("login_failures_total", "Failed logins");
        let access_denied = IntCounter::new("access_denied_total", "Requests denied by policy");
        let audit_entries = IntCounter::new("audit_entries_total", "Audit entries written");
        // The names and labels above are constants; constructing them cannot fail.
        let (
            Ok(http_requests),
            Ok(http_duration),
            Ok(login_failures),
            Ok(access_denied),
            Ok(audit_entries),
        ) = (
            http_requests,
            http_duration,
            login_failures,
            access_denied,
            audit_entries,
        )
        else {
            unreachable!("metric definitions are constant and valid")
        };
        for c in [
            Box::new(http_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(http_duration.clone()),
            Box::new(login_failures.clone()),
            Box::new(access_denied.clone()),
            Box::new(audit_entries.clone()),
        ] {
            if let Err(e) = registry.register(c) {
                tracing::error!(error = %e, "metric registration failed");
            }
        }
        Self {
            registry,
            http_requests,
            http_duration,
            login_failures,
            access_denied,
            audit_entries,
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buf) {
            tracing::error!(error = %e, "metrics encoding failed");
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}

/// Gauges of each channel's source tables from their latest runs (newest first in `runs`):
/// rows read, written and quarantined, whether the run is going or failed, and when it last
/// moved. Built at scrape time from the run history, which every collector process writes.
pub fn collection(runs: &[IngestRun]) -> String {
    let registry = Registry::new_custom(Some("hdos".into()), None).unwrap_or_default();
    let labels = ["channel", "table"];
    let gauges = (
        IntGaugeVec::new(
            Opts::new("ingest_rows", "Rows of the latest run by kind"),
            &["channel", "table", "kind"],
        ),
        IntGaugeVec::new(
            Opts::new("ingest_running", "1 while the latest run goes on"),
            &labels,
        ),
        IntGaugeVec::new(
            Opts::new("ingest_failed", "1 when the latest run failed"),
            &labels,
        ),
        IntGaugeVec::new(
            Opts::new(
                "ingest_last_update_seconds",
                "When the latest run last moved (Unix time)",
            ),
            &labels,
        ),
    );
    let (Ok(rows), Ok(running), Ok(failed), Ok(updated)) = gauges else {
        return String::new();
    };
    for g in [&rows, &running, &failed, &updated] {
        if let Err(e) = registry.register(Box::new(g.clone())) {
            tracing::error!(error = %e, "metric registration failed");
        }
    }
    let mut seen = HashSet::new();
    for r in runs {
        if !seen.insert((r.channel.as_str(), r.source_table.as_str())) {
            continue;
        }
        let (c, t) = (r.channel.as_str(), r.source_table.as_str());
        for (kind, n) in [
            ("read", r.counts.rows_read),
            ("written", r.counts.rows_written),
            ("quarantined", r.counts.rows_quarantined),
        ] {
            rows.with_label_values(&[c, t, kind]).set(n);
        }
        running
            .with_label_values(&[c, t])
            .set(i64::from(r.status == RunStatus::Running));
        failed
            .with_label_values(&[c, t])
            .set(i64::from(r.status == RunStatus::Failed));
        updated
            .with_label_values(&[c, t])
            .set(r.finished_at.unwrap_or(r.started_at) / 1000);
    }
    encode(&registry)
}

fn encode(registry: &Registry) -> String {
    let mut buf = Vec::new();
    if let Err(e) = TextEncoder::new().encode(&registry.gather(), &mut buf) {
        tracing::error!(error = %e, "metrics encoding failed");
    }
    String::from_utf8(buf).unwrap_or_default()
}

/// Gauges of link monitoring: unresolved alerts by kind and institution, the rows by which each
/// channel's datasets differ from their sources (summed over the days that differ), and each
/// link node's latest probe (up, latency).
pub fn monitoring(alerts: &[Alert], gaps: &[ReconciliationDay], nodes: &[LinkStatus]) -> String {
    let registry = Registry::new_custom(Some("hdos".into()), None).unwrap_or_default();
    let gauges = (
        IntGaugeVec::new(
            Opts::new("alerts_open", "Unresolved alerts"),
            &["kind", "institution"],
        ),
        IntGaugeVec::new(
            Opts::new(
                "reconciliation_gap_rows",
                "Rows by which the lake differs from the source, over the days that differ",
            ),
            &["channel", "dataset"],
        ),
    );
    let node_labels = ["channel", "node"];
    let (Ok(open), Ok(gap), Ok(up), Ok(latency)) = (
        gauges.0,
        gauges.1,
        IntGaugeVec::new(
            Opts::new("link_up", "1 when the link node answered its latest probe"),
            &node_labels,
        ),
        IntGaugeVec::new(
            Opts::new(
                "link_latency_ms",
                "How long the link node's latest probe took",
            ),
            &node_labels,
        ),
    ) else {
        return String::new();
    };
    for g in [&open, &gap, &up, &latency] {
        if let Err(e) = registry.register(Box::new(g.clone())) {
            tracing::error!(error = %e, "metric registration failed");
        }
    }
    for a in alerts {
        open.with_label_values(&[a.kind.as_str(), a.institution.as_str()])
            .inc();
    }
    for d in gaps {
        gap.with_label_values(&[d.channel.as_str(), d.dataset.as_str()])
            .add((d.source_rows - d.lake_rows).abs());
    }
    for n in nodes {
        let labels = [n.channel.as_str(), n.node.as_str()];
        up.with_label_values(&labels).set(i64::from(n.ok));
        latency.with_label_values(&labels).set(n.latency_ms);
    }
    encode(&registry)
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
