//! Prometheus metrics, served at `/metrics`.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry, TextEncoder,
};

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

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
