//! The quality report of a period: its filters, the results they select, scores, trends, and the
//! export of the summary and the anomaly details as CSV.

use super::xlsx::{self, Cell, Sheet};
use crate::{
    auth::Principal,
    error::{ApiError, PageError},
    state::AppState,
    ui::PageCtx,
};
use axum::{
    extract::{Query, State},
    http::header,
    response::{IntoResponse, Response},
};
use hdos_quality::score::{self, Score};
use hdos_store::{Millis, QualityResult, QualityResultFilter, now_millis};
use serde::Deserialize;
use std::collections::BTreeMap;

const HOUR_MS: Millis = 3_600_000;
const DAY_MS: Millis = 24 * HOUR_MS;

/// What the report covers.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Filters {
    /// `day`, `week` or `month` (the default).
    pub period: Option<String>,
    pub institution: Option<String>,
    pub dataset: Option<String>,
    pub dimension: Option<String>,
    pub rule: Option<String>,
}

fn nonempty(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

impl Filters {
    pub fn period(&self) -> &str {
        match self.period.as_deref() {
            Some("day") => "day",
            Some("week") => "week",
            _ => "month",
        }
    }

    /// The period's length and the width of its trend buckets.
    fn span(&self) -> (Millis, Millis) {
        match self.period() {
            "day" => (DAY_MS, HOUR_MS),
            "week" => (7 * DAY_MS, DAY_MS),
            _ => (30 * DAY_MS, DAY_MS),
        }
    }

    pub fn institution(&self) -> Option<String> {
        nonempty(&self.institution)
    }

    pub fn dataset(&self) -> Option<String> {
        nonempty(&self.dataset)
    }

    pub fn dimension(&self) -> Option<String> {
        nonempty(&self.dimension)
    }

    pub fn rule(&self) -> Option<String> {
        nonempty(&self.rule)
    }

    /// The filters as a query string, for links that keep them.
    pub fn query(&self) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        q.append_pair("period", self.period());
        for (k, v) in [
            ("institution", self.institution()),
            ("dataset", self.dataset()),
            ("dimension", self.dimension()),
            ("rule", self.rule()),
        ] {
            if let Some(v) = v {
                q.append_pair(k, &v);
            }
        }
        q.finish()
    }
}

/// The results a report reads, with the period's bounds.
pub struct Report {
    /// Every result of the period, for the trends.
    pub results: Vec<QualityResult>,
    /// Those the period's totals add (see [`score::standing`]).
    pub standing: Vec<QualityResult>,
    since: Millis,
    bucket: Millis,
    buckets: usize,
}

impl Report {
    /// Results of succeeded runs in the period; a scoped reader's institution only.
    pub async fn load(
        app: &AppState,
        filters: &Filters,
        scoped_to: Option<&str>,
    ) -> Result<Self, ApiError> {
        let (span, bucket) = filters.span();
        let now = now_millis();
        let since = now - span;
        let filter = QualityResultFilter {
            since: Some(since),
            institution: scoped_to
                .map(str::to_owned)
                .or_else(|| filters.institution()),
            dataset: filters.dataset(),
            rule_id: filters.rule(),
            ..Default::default()
        };
        let dimension = filters.dimension();
        let results: Vec<QualityResult> = app
            .store
            .quality_results(&filter)
            .await?
            .into_iter()
            .filter(|r| dimension.as_ref().is_none_or(|d| &r.dimension == d))
            .collect();
        let full = score::full_runs_since(app.store.as_ref(), since)
            .await
            .map_err(api_error)?;
        Ok(Self {
            standing: score::standing(&results, &full),
            results,
            since,
            bucket,
            buckets: usize::try_from(span / bucket).unwrap_or(1),
        })
    }

    /// Institutions best first.
    pub fn ranking(&self) -> Vec<Score> {
        score::by_institution(&self.standing)
    }

    /// Checked and failed per rule and institution over the period.
    pub fn per_rule(&self) -> Vec<QualityResult> {
        let mut sums: BTreeMap<(String, String), QualityResult> = BTreeMap::new();
        for r in &self.standing {
            let e = sums
                .entry((r.rule_id.clone(), r.institution.clone()))
                .or_insert_with(|| QualityResult {
                    checked: 0,
                    failed: 0,
                    ..r.clone()
                });
            e.checked += r.checked;
            e.failed += r.failed;
        }
        sums.into_values().collect()
    }

    fn bucketed(&self) -> Vec<Vec<QualityResult>> {
        let mut out = vec![Vec::new(); self.buckets];
        for r in &self.results {
            let i = usize::try_from((r.checked_at - self.since) / self.bucket).unwrap_or(0);
            if let Some(b) = out.get_mut(i) {
                b.push(r.clone());
            }
        }
        out
    }

    /// The mean overall score of the institutions per bucket (`None` where nothing ran).
    pub fn score_trend(&self) -> Vec<Option<f64>> {
        self.bucketed()
            .iter()
            .map(|b| {
                let cards = score::by_institution(b);
                (!cards.is_empty())
                    .then(|| cards.iter().map(|c| c.overall).sum::<f64>() / cards.len() as f64)
            })
            .collect()
    }

    /// The failure rate (failed over checked, in %) per bucket.
    pub fn rate_trend(&self) -> Vec<Option<f64>> {
        self.bucketed()
            .iter()
            .map(|b| {
                let checked: i64 = b.iter().map(|r| r.checked).sum();
                let failed: i64 = b.iter().map(|r| r.failed).sum();
                (checked > 0).then(|| 100.0 * failed as f64 / checked as f64)
            })
            .collect()
    }
}

/// A small line chart of `values` (gaps where `None`), scaled to `max` or, when `max` is 0, to
/// the largest value.
pub fn line_chart(values: &[Option<f64>], max: f64) -> String {
    let top = if max > 0.0 {
        max
    } else {
        values
            .iter()
            .flatten()
            .copied()
            .fold(0.0, f64::max)
            .max(0.001)
    };
    let (w, h) = (values.len().max(1) * 12, 60);
    let mut svg = format!(
        "<svg class=\"trend\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\">"
    );
    let mut points = Vec::new();
    for (i, v) in values.iter().enumerate() {
        let Some(v) = v else {
            if points.len() > 1 {
                svg.push_str(&format!("<polyline points=\"{}\"/>", points.join(" ")));
            }
            points.clear();
            continue;
        };
        let x = i * 12 + 6;
        let y = f64::from(h - 4) - (v / top) * f64::from(h - 8);
        points.push(format!("{x},{y:.1}"));
        svg.push_str(&format!(
            "<circle cx=\"{x}\" cy=\"{y:.1}\" r=\"2\"><title>{v:.2}</title></circle>"
        ));
    }
    if points.len() > 1 {
        svg.push_str(&format!("<polyline points=\"{}\"/>", points.join(" ")));
    }
    svg.push_str("</svg>");
    svg
}

/// A quality error as the pages and the API report it.
pub fn api_error(e: hdos_quality::QualityError) -> ApiError {
    match e {
        hdos_quality::QualityError::Store(e) => e.into(),
        hdos_quality::QualityError::Lake(e) => (*e).into(),
        hdos_quality::QualityError::Core(e) => e.into(),
        other => ApiError::new(other.kind(), other.to_string()),
    }
}

/// A CSV field, quoted when it needs to be.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// The report as two tables: the summary (a line per institution's scores) and the anomaly
/// details (a line per rule and institution with failures), each with its header.
fn tables(report: &Report) -> [Sheet; 2] {
    let text = |s: &str| Cell::Text(s.to_owned());
    let number = |n: f64| Cell::Number((n * 10_000.0).round() / 10_000.0);
    let mut summary = vec![
        [
            "institution",
            "checked",
            "failed",
            "rate_percent",
            "overall",
            "completeness",
            "validity",
            "consistency",
            "uniqueness",
            "timeliness",
        ]
        .map(text)
        .to_vec(),
    ];
    for s in report.ranking() {
        let mut row = vec![
            text(&s.institution),
            number(s.checked as f64),
            number(s.failed as f64),
            number(if s.checked > 0 {
                100.0 * s.failed as f64 / s.checked as f64
            } else {
                0.0
            }),
            number(s.overall),
        ];
        row.extend(
            hdos_quality::Dimension::ALL
                .iter()
                .map(|d| s.dimensions.get(d).map_or(Cell::Empty, |v| number(*v))),
        );
        summary.push(row);
    }
    let mut anomalies = vec![
        [
            "institution",
            "dataset",
            "rule",
            "dimension",
            "checked",
            "failed",
            "rate_percent",
            "threshold_percent",
        ]
        .map(text)
        .to_vec(),
    ];
    for r in report.per_rule().into_iter().filter(|r| r.failed > 0) {
        anomalies.push(vec![
            text(&r.institution),
            text(&r.dataset),
            text(&r.rule_id),
            text(&r.dimension),
            number(r.checked as f64),
            number(r.failed as f64),
            number(r.rate() * 100.0),
            number(r.threshold * 100.0),
        ]);
    }
    [
        Sheet {
            name: "summary".into(),
            rows: summary,
        },
        Sheet {
            name: "anomalies".into(),
            rows: anomalies,
        },
    ]
}

fn csv_text(sheets: &[Sheet; 2]) -> String {
    // A byte-order mark, so spreadsheet programs read the Chinese correctly.
    let mut out = String::from("\u{feff}");
    for (section, sheet) in ["summary", "anomaly"].iter().zip(sheets) {
        for (i, row) in sheet.rows.iter().enumerate() {
            let cells: Vec<String> = row
                .iter()
                .map(|c| match c {
                    Cell::Text(t) => csv_field(t),
                    Cell::Number(n) => n.to_string(),
                    Cell::Empty => String::new(),
                })
                .collect();
            let label = if i == 0 { "section" } else { section };
            out.push_str(&format!("{label},{}\n", cells.join(",")));
        }
    }
    out
}

/// The export formats of the report.
#[derive(Debug, Clone, Copy)]
enum Format {
    Csv,
    Xlsx,
}

async fn export(
    app: AppState,
    p: Principal,
    ctx: PageCtx,
    filters: Filters,
    format: Format,
) -> Response {
    let built = async {
        let scoped_to = crate::ui::institution_scope(&app, &p, super::PATH).await?;
        let report = Report::load(&app, &filters, scoped_to.as_deref()).await?;
        Ok::<_, ApiError>(tables(&report))
    }
    .await;
    let sheets = match built {
        Ok(s) => s,
        Err(e) => return PageError::new(ctx.t, e).into_response(),
    };
    app.audit_simple(
        &p.actor(),
        "quality.report.export",
        filters.query(),
        hdos_store::Outcome::Success,
    )
    .await;
    let (body, content_type, extension) = match format {
        Format::Csv => (
            csv_text(&sheets).into_bytes(),
            "text/csv; charset=utf-8",
            "csv",
        ),
        Format::Xlsx => (
            xlsx::workbook(&sheets),
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "xlsx",
        ),
    };
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"quality-report-{}.{extension}\"",
                    filters.period()
                ),
            ),
        ],
        body,
    )
        .into_response()
}

/// `report.csv`: the summary and the anomaly details, one section after the other.
pub async fn csv(
    State(app): State<AppState>,
    p: Principal,
    ctx: PageCtx,
    Query(filters): Query<Filters>,
) -> Response {
    export(app, p, ctx, filters, Format::Csv).await
}

/// `report.xlsx`: the summary and the anomaly details as two worksheets.
pub async fn xlsx(
    State(app): State<AppState>,
    p: Principal,
    ctx: PageCtx,
    Query(filters): Query<Filters>,
) -> Response {
    export(app, p, ctx, filters, Format::Xlsx).await
}

#[derive(askama::Template)]
#[template(path = "quality_print.html")]
struct PrintPage {
    ctx: PageCtx,
    period_key: &'static str,
    institution: String,
    generated: String,
    dimension_keys: Vec<&'static str>,
    ranking: Vec<super::ScoreRow>,
    datasets: Vec<super::ScoreRow>,
    anomalies: Vec<super::RuleRow>,
}

/// A printable report for a period and institution: scores, scores per dataset, anomalies.
pub async fn print(
    State(app): State<AppState>,
    p: Principal,
    ctx: PageCtx,
    Query(filters): Query<Filters>,
) -> Response {
    let t = ctx.t;
    let built = async {
        let scoped_to = crate::ui::institution_scope(&app, &p, super::PATH).await?;
        let report = Report::load(&app, &filters, scoped_to.as_deref()).await?;
        let datasets = score::by_dataset(&report.standing)
            .iter()
            .map(super::ScoreRow::from)
            .collect();
        let anomalies = super::anomalies(&report);
        Ok::<_, ApiError>(PrintPage {
            period_key: match filters.period() {
                "day" => "quality.period.day",
                "week" => "quality.period.week",
                _ => "quality.period.month",
            },
            institution: scoped_to
                .or_else(|| filters.institution())
                .unwrap_or_else(|| t.get("quality.all").to_owned()),
            generated: crate::ui::fmt_ms(now_millis()),
            dimension_keys: hdos_quality::Dimension::ALL
                .iter()
                .map(|d| super::dimension_key(d.name()))
                .collect(),
            ranking: report.ranking().iter().map(super::ScoreRow::from).collect(),
            datasets,
            anomalies,
            ctx,
        })
    }
    .await;
    match built {
        Ok(page) => crate::error::render(axum::http::StatusCode::OK, &page),
        Err(e) => PageError::new(t, e).into_response(),
    }
}
