//! 数据质控: the quality report of a period (day, week, month) — scores per dimension and overall
//! for each institution (the ranking), trends of score and failure rate, the rules with failures
//! and the open tickets — filtered by institution, dataset and dimension; managers start runs. A
//! provider sees only its own institution's.

pub mod failures;
pub mod report;
pub mod rules;
pub mod tickets;
pub mod xlsx;

use crate::{
    auth::Principal,
    error::{ApiError, PageError, render},
    state::AppState,
    ui::{PageCtx, fmt_ms},
};
use axum::{
    extract::{Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use hdos_core::Role;
use hdos_quality::{Dimension, score::Score};
use hdos_store::{Page, QualityResult, QualityRun};
use report::{Filters, Report};

pub const PATH: &str = "/integration/quality";
/// Rules with failures listed on the page; the CSV and XLSX exports hold them all.
const ANOMALIES_SHOWN: usize = 200;

/// A dimension's score as shown: one decimal, or a dash when nothing was checked.
fn shown(score: Option<f64>) -> String {
    score.map_or_else(|| "—".to_owned(), |s| format!("{s:.1}"))
}

/// A score card as shown: an institution's, or one of its datasets' (`dataset` set).
pub struct ScoreRow {
    institution: String,
    dataset: String,
    overall: String,
    dimensions: Vec<String>,
    checked: i64,
    failed: i64,
    /// Below 90: shown as a problem.
    poor: bool,
}

impl From<&Score> for ScoreRow {
    fn from(s: &Score) -> Self {
        Self {
            institution: s.institution.clone(),
            dataset: s.dataset.clone().unwrap_or_default(),
            overall: shown(Some(s.overall)),
            dimensions: Dimension::ALL
                .iter()
                .map(|d| shown(s.dimensions.get(d).copied()))
                .collect(),
            checked: s.checked,
            failed: s.failed,
            poor: s.overall < 90.0,
        }
    }
}

pub struct RuleRow {
    rule_id: String,
    dataset: String,
    institution: String,
    dimension_key: &'static str,
    checked: i64,
    failed: i64,
    rate: String,
    over: bool,
}

impl From<QualityResult> for RuleRow {
    fn from(r: QualityResult) -> Self {
        Self {
            dimension_key: dimension_key(&r.dimension),
            rate: format!("{:.3}%", r.rate() * 100.0),
            over: r.rate() > r.threshold,
            rule_id: r.rule_id,
            dataset: r.dataset,
            institution: r.institution,
            checked: r.checked,
            failed: r.failed,
        }
    }
}

/// The rules with failures in a report, each institution apart.
fn anomalies(report: &Report) -> Vec<RuleRow> {
    report
        .per_rule()
        .into_iter()
        .filter(|r| r.failed > 0)
        .map(RuleRow::from)
        .collect()
}

pub struct RunRow {
    id: i64,
    mode: String,
    state: String,
    started: String,
    rows: i64,
    failures: i64,
    error: String,
}

impl From<QualityRun> for RunRow {
    fn from(r: QualityRun) -> Self {
        Self {
            id: r.id,
            mode: r.mode,
            state: r.state,
            started: fmt_ms(r.started_at),
            rows: r.rows_checked,
            failures: r.failures,
            error: r.error.unwrap_or_default(),
        }
    }
}

pub fn dimension_key(d: &str) -> &'static str {
    match Dimension::parse(d) {
        Some(Dimension::Completeness) => "quality.dim.completeness",
        Some(Dimension::Validity) => "quality.dim.validity",
        Some(Dimension::Consistency) => "quality.dim.consistency",
        Some(Dimension::Uniqueness) => "quality.dim.uniqueness",
        Some(Dimension::Timeliness) => "quality.dim.timeliness",
        None => "quality.dim.other",
    }
}

#[derive(askama::Template)]
#[template(path = "quality.html")]
struct QualityPage {
    ctx: PageCtx,
    scoped_to: Option<String>,
    manages: bool,
    filters: Filters,
    query: String,
    institutions: Vec<String>,
    datasets: Vec<String>,
    dimension_keys: Vec<&'static str>,
    dimensions: Vec<&'static str>,
    ranking: Vec<ScoreRow>,
    rules: Vec<RuleRow>,
    /// How many rules with failures there are in all.
    anomalies: usize,
    score_chart: String,
    rate_chart: String,
    open_tickets: i64,
    overdue_tickets: i64,
    runs: Vec<RunRow>,
    msg: Option<&'static str>,
}

async fn build(
    app: &AppState,
    ctx: PageCtx,
    p: &Principal,
    filters: Filters,
    msg: Option<&'static str>,
) -> Result<QualityPage, ApiError> {
    let scoped_to = super::institution_scope(app, p, PATH).await?;
    let report = Report::load(app, &filters, scoped_to.as_deref()).await?;
    let mut rules = anomalies(&report);
    // Over the threshold first, then by failures; the page shows the worst, the export all.
    rules.sort_by_key(|r| (std::cmp::Reverse(r.over), std::cmp::Reverse(r.failed)));
    let anomalies = rules.len();
    rules.truncate(ANOMALIES_SHOWN);
    let (open_tickets, overdue_tickets) = tickets::counts(app, scoped_to.as_deref()).await?;
    let runs = app
        .store
        .quality_runs(Page::new(5, 0))
        .await?
        .into_iter()
        .map(RunRow::from)
        .collect();
    let standard = hdos_core::standard::Standard::builtin()?;
    let institutions = match &scoped_to {
        Some(code) => vec![code.clone()],
        None => app
            .store
            .list_institutions(Page::new(Page::MAX_LIMIT, 0))
            .await?
            .into_iter()
            .map(|i| i.code)
            .collect(),
    };
    Ok(QualityPage {
        manages: p.roles().contains(&Role::Manager),
        query: filters.query(),
        institutions,
        datasets: standard.datasets().iter().map(|d| d.name.clone()).collect(),
        dimension_keys: Dimension::ALL
            .iter()
            .map(|d| dimension_key(d.name()))
            .collect(),
        dimensions: Dimension::ALL.iter().map(|d| d.name()).collect(),
        ranking: report.ranking().iter().map(ScoreRow::from).collect(),
        score_chart: report::line_chart(&report.score_trend(), 100.0),
        rate_chart: report::line_chart(&report.rate_trend(), 0.0),
        rules,
        anomalies,
        open_tickets,
        overdue_tickets,
        runs,
        filters,
        scoped_to,
        ctx,
        msg,
    })
}

#[derive(Debug, serde::Deserialize)]
pub struct PageQuery {
    #[serde(flatten)]
    filters: Filters,
    msg: Option<String>,
}

pub async fn page(
    State(app): State<AppState>,
    p: Principal,
    ctx: PageCtx,
    Query(q): Query<PageQuery>,
) -> Response {
    let t = ctx.t;
    let msg = super::flash(t, q.msg.as_deref(), &["quality.run_done"]);
    match build(&app, ctx, &p, q.filters, msg).await {
        Ok(page) => render(StatusCode::OK, &page),
        Err(e) => PageError::new(t, e).into_response(),
    }
}

#[derive(Debug, serde::Deserialize)]
pub struct RunForm {
    #[serde(default)]
    full: Option<String>,
}

/// Starts a run now (managers), audited; the page returns when it is done.
pub async fn run_now(
    State(app): State<AppState>,
    p: Principal,
    ctx: PageCtx,
    axum::Form(form): axum::Form<RunForm>,
) -> Response {
    let full = form.full.is_some();
    let options = hdos_quality::run::RunOptions {
        full,
        requested_by: p.user.username.clone(),
        notify: app.notify.clone(),
        ..Default::default()
    };
    let standard = match hdos_core::standard::Standard::builtin() {
        Ok(s) => s,
        Err(e) => return PageError::new(ctx.t, e).into_response(),
    };
    let result = hdos_quality::run::run(app.store.as_ref(), &app.lake, standard, &options).await;
    let outcome = if result.is_ok() {
        hdos_store::Outcome::Success
    } else {
        hdos_store::Outcome::Failure
    };
    let detail = match &result {
        Ok(s) => {
            serde_json::json!({"run": s.run.id, "full": full, "rows": s.rows.values().sum::<i64>(), "failures": s.failures, "moved": s.moved})
        }
        Err(e) => serde_json::json!({"full": full, "error": e.to_string()}),
    };
    app.audit(p.actor().entry("quality.run", "quality", outcome, detail))
        .await;
    match result {
        Ok(_) => super::admin::see_other(&format!("{PATH}?msg=quality.run_done")),
        Err(e) => PageError::new(ctx.t, report::api_error(e)).into_response(),
    }
}
