//! 链路监控: unresolved alerts (managers acknowledge and resolve them), each institution's
//! channels, alerts and charts — daily collected volume and alerts raised over two weeks, hourly
//! backlog and source answer time over a day — reconciliation gaps, and the workers. A provider
//! sees only its own institution's.

mod history;

use crate::{
    actions::{self, AlertAction},
    auth::Principal,
    error::{ApiError, PageError, render},
    state::AppState,
    ui::{PageCtx, fmt_ms},
};
use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use hdos_core::Role;
use hdos_store::{
    Alert, AlertFilter, AlertStatus, Page, ReconciliationDay, ReconciliationFilter, WorkerStatus,
    now_millis,
};
use std::collections::BTreeMap;

pub const PATH: &str = "/integration/monitoring";
/// Days of volume each institution's chart shows.
const DAYS: i64 = 14;

pub struct AlertRow {
    id: i64,
    kind_key: &'static str,
    channel: String,
    institution: String,
    subject: String,
    message: String,
    acknowledged: bool,
    acknowledged_by: String,
    raised: String,
}

fn kind_key(kind: &str) -> &'static str {
    match kind {
        "reconciliation" => "monitoring.kind.reconciliation",
        "volume_drop" => "monitoring.kind.volume_drop",
        "volume_spike" => "monitoring.kind.volume_spike",
        "zero_rows" => "monitoring.kind.zero_rows",
        "run_failed" => "monitoring.kind.run_failed",
        "slot_lag" => "monitoring.kind.slot_lag",
        "schema_drift" => "monitoring.kind.schema_drift",
        "source_unreachable" => "monitoring.kind.source_unreachable",
        "journal_backlog" => "monitoring.kind.journal_backlog",
        _ => "monitoring.kind.other",
    }
}

impl From<Alert> for AlertRow {
    fn from(a: Alert) -> Self {
        Self {
            id: a.id,
            kind_key: kind_key(&a.kind),
            channel: a.channel,
            institution: a.institution,
            subject: a.subject,
            message: a.message,
            acknowledged: a.status == AlertStatus::Acknowledged,
            acknowledged_by: a.acknowledged_by.unwrap_or_default(),
            raised: fmt_ms(a.raised_at),
        }
    }
}

/// One institution's line: its channels, alerts and two weeks of collected rows.
pub struct InstitutionRow {
    code: String,
    channels: usize,
    running: usize,
    alerts: usize,
    last_day_rows: i64,
    total_rows: i64,
    /// Inline SVG bar charts (numbers only, built here): rows per day, alerts raised per day,
    /// and per hour the backlog not yet in the lake and the slowest source answer.
    chart: String,
    alerts_chart: String,
    backlog_chart: String,
    latency_chart: String,
}

/// Bars for `values` (oldest first), scaled to the largest.
fn bar_chart(values: &[i64]) -> String {
    let max = values.iter().copied().max().unwrap_or(0).max(1) as f64;
    let (w, h, bar) = (values.len() * 10, 28, 8);
    let mut svg = format!(
        "<svg class=\"spark\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\">"
    );
    for (i, v) in values.iter().enumerate() {
        let height = ((*v as f64 / max) * f64::from(h - 2)).round() as i64;
        let height = if *v > 0 { height.max(1) } else { 0 };
        svg.push_str(&format!(
            "<rect x=\"{}\" y=\"{}\" width=\"{bar}\" height=\"{height}\"><title>{v}</title></rect>",
            i * 10,
            i64::from(h) - height
        ));
    }
    svg.push_str("</svg>");
    svg
}

pub struct GapRow {
    channel: String,
    dataset: String,
    institution: String,
    day: String,
    source: i64,
    lake: i64,
    unmapped: i64,
    checked: String,
}

impl From<ReconciliationDay> for GapRow {
    fn from(d: ReconciliationDay) -> Self {
        Self {
            checked: fmt_ms(d.checked_at),
            channel: d.channel,
            dataset: d.dataset,
            institution: d.institution,
            day: d.day,
            source: d.source_rows,
            lake: d.lake_rows,
            unmapped: d.unmapped_rows,
        }
    }
}

pub struct WorkerRow {
    id: String,
    host: String,
    seen: String,
    running: String,
}

impl From<WorkerStatus> for WorkerRow {
    fn from(w: WorkerStatus) -> Self {
        Self {
            seen: fmt_ms(w.seen_at),
            running: w.running.join(", "),
            id: w.id,
            host: w.host,
        }
    }
}

/// A link node's latest probe.
pub struct NodeRow {
    channel: String,
    node: String,
    ok: bool,
    latency_ms: i64,
    detail: String,
    checked: String,
}

#[derive(askama::Template)]
#[template(path = "monitoring.html")]
struct MonitoringPage {
    ctx: PageCtx,
    scoped_to: Option<String>,
    manages: bool,
    alerts: Vec<AlertRow>,
    institutions: Vec<InstitutionRow>,
    gaps: Vec<GapRow>,
    reconciled: i64,
    nodes: Vec<NodeRow>,
    workers: Vec<WorkerRow>,
}

async fn institutions(
    app: &AppState,
    scoped_to: Option<&str>,
    alerts: &[Alert],
) -> Result<Vec<InstitutionRow>, ApiError> {
    let now = now_millis();
    let channels = app
        .store
        .list_channels(scoped_to, Page::new(10_000, 0))
        .await?;
    let leases = app.store.live_channel_leases(now).await?;
    let day_ms = 86_400_000;
    let today = (now + 8 * 3_600_000) / day_ms;
    let since = (today - DAYS + 1) * day_ms - 8 * 3_600_000;
    let volume = app.store.daily_run_volume(since, scoped_to).await?;
    let mut rows: BTreeMap<String, InstitutionRow> = BTreeMap::new();
    let mut per_day: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    let row = |code: &str| InstitutionRow {
        code: code.to_owned(),
        channels: 0,
        running: 0,
        alerts: 0,
        last_day_rows: 0,
        total_rows: 0,
        chart: String::new(),
        alerts_chart: String::new(),
        backlog_chart: String::new(),
        latency_chart: String::new(),
    };
    for c in &channels {
        let r = rows
            .entry(c.institution.clone())
            .or_insert_with(|| row(&c.institution));
        r.channels += 1;
        r.running += usize::from(leases.iter().any(|l| l.channel == c.name));
    }
    for a in alerts {
        rows.entry(a.institution.clone())
            .or_insert_with(|| row(&a.institution))
            .alerts += 1;
    }
    let mut history = history::load(app, scoped_to, now, DAYS as usize).await?;
    for code in history.keys() {
        rows.entry(code.clone()).or_insert_with(|| row(code));
    }
    for v in volume {
        rows.entry(v.institution.clone())
            .or_insert_with(|| row(&v.institution));
        *per_day
            .entry(v.institution)
            .or_default()
            .entry(v.day)
            .or_default() += v.rows;
    }
    let days: Vec<String> = (0..DAYS)
        .map(|i| {
            chrono::DateTime::from_timestamp((today - DAYS + 1 + i) * 86_400, 0)
                .map(|d| d.format("%Y-%m-%d").to_string())
                .unwrap_or_default()
        })
        .collect();
    for (code, r) in &mut rows {
        let values: Vec<i64> = days
            .iter()
            .map(|d| {
                per_day
                    .get(code)
                    .and_then(|m| m.get(d))
                    .copied()
                    .unwrap_or(0)
            })
            .collect();
        r.total_rows = values.iter().sum();
        r.last_day_rows = values.last().copied().unwrap_or(0);
        r.chart = bar_chart(&values);
        let h = history
            .remove(code)
            .unwrap_or_else(|| history::History::new(DAYS as usize));
        r.alerts_chart = bar_chart(&h.alerts_per_day);
        r.backlog_chart = bar_chart(&h.backlog_kib);
        r.latency_chart = bar_chart(&h.latency_ms);
    }
    Ok(rows.into_values().collect())
}

pub async fn page(State(app): State<AppState>, ctx: PageCtx, p: Principal) -> Response {
    let t = ctx.t;
    let manages = p.roles().contains(&Role::Manager);
    let result: Result<_, ApiError> = async {
        let scoped_to = super::institution_scope(&app, &p, PATH).await?;
        let alerts = app
            .store
            .list_alerts(
                &AlertFilter {
                    institution: scoped_to.clone(),
                    include_resolved: false,
                },
                Page::new(500, 0),
            )
            .await?;
        let institutions = institutions(&app, scoped_to.as_deref(), &alerts).await?;
        let all = ReconciliationFilter {
            institution: scoped_to.clone(),
            ..ReconciliationFilter::default()
        };
        let reconciled = app.store.count_reconciliations(&all).await?;
        let gaps = app
            .store
            .list_reconciliations(
                &ReconciliationFilter {
                    mismatched_only: true,
                    ..all
                },
                Page::new(200, 0),
            )
            .await?;
        // The lake's node for managers; each channel's source for whoever sees the channel.
        let visible: Vec<String> = app
            .store
            .list_channels(scoped_to.as_deref(), Page::new(10_000, 0))
            .await?
            .into_iter()
            .map(|c| c.name)
            .collect();
        let nodes: Vec<NodeRow> = app
            .store
            .link_statuses()
            .await?
            .into_iter()
            .filter(|n| visible.contains(&n.channel) || (n.channel.is_empty() && manages))
            .map(|n| NodeRow {
                checked: fmt_ms(n.checked_at),
                channel: n.channel,
                node: n.node,
                ok: n.ok,
                latency_ms: n.latency_ms,
                detail: n.detail,
            })
            .collect();
        let workers = match manages {
            true => app.store.list_workers(now_millis() - 60_000).await?,
            false => Vec::new(),
        };
        Ok((
            scoped_to,
            alerts,
            institutions,
            gaps,
            reconciled,
            nodes,
            workers,
        ))
    }
    .await;
    match result {
        Ok((scoped_to, alerts, institutions, gaps, reconciled, nodes, workers)) => render(
            StatusCode::OK,
            &MonitoringPage {
                ctx,
                scoped_to,
                manages,
                alerts: alerts.into_iter().map(Into::into).collect(),
                institutions,
                gaps: gaps.into_iter().map(Into::into).collect(),
                reconciled,
                nodes,
                workers: workers.into_iter().map(Into::into).collect(),
            },
        ),
        Err(e) => PageError::new(t, e).into_response(),
    }
}

/// `POST /integration/monitoring/alerts/{id}/{action}`: acknowledge or resolve.
pub async fn alert_action(
    State(app): State<AppState>,
    p: Principal,
    ctx: PageCtx,
    Path((id, action)): Path<(i64, AlertAction)>,
) -> Response {
    match actions::alert_action(&app, &p, id, action).await {
        Ok(()) => super::admin::see_other(PATH),
        Err(e) => PageError::new(ctx.t, e).into_response(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_chart_scales_bars_to_the_largest_day() {
        let svg = super::bar_chart(&[0, 5, 10]);
        assert!(svg.contains("height=\"0\""));
        assert!(svg.contains("y=\"2\" width=\"8\" height=\"26\""), "{svg}");
        assert!(svg.contains("<title>5</title>"));
    }
}
