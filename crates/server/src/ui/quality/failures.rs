//! The failing records behind a rule's figures, for a period, newest run first: the record's
//! key, the fields the rule read and their values (direct identifiers masked), and where it was
//! found (the std zone, or refused at collection). A provider sees only its own institution's.

use super::report::Filters;
use crate::{
    auth::Principal,
    error::{ApiError, PageError, render},
    state::AppState,
    ui::{PageCtx, admin::Pager, quarantine::sql_text},
};
use axum::{
    extract::{Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use hdos_core::{mask::MaskKind, standard::Standard};
use hdos_lake::TableName;
use hdos_store::{Page, now_millis};
use serde::Deserialize;

pub const PATH: &str = "/integration/quality/failures";
const PAGE_SIZE: i64 = 50;

#[derive(Debug, Deserialize)]
pub struct FailuresQuery {
    #[serde(flatten)]
    filters: Filters,
    offset: Option<i64>,
}

pub struct FailureRow {
    run: String,
    institution: String,
    rule: String,
    key: String,
    field: String,
    value: String,
    found_key: &'static str,
}

#[derive(askama::Template)]
#[template(path = "quality_failures.html")]
struct FailuresPage {
    ctx: PageCtx,
    scoped_to: Option<String>,
    rule: String,
    back: String,
    rows: Vec<FailureRow>,
    pager: Pager,
}

/// The values of `fields` (both `, `-joined) masked per field where the standard says so.
fn masked(standard: &Standard, dataset: &str, fields: &str, value: &str) -> String {
    let names: Vec<&str> = fields.split(", ").collect();
    let values: Vec<&str> = value.split(", ").collect();
    if names.len() != values.len() {
        return hdos_core::mask::mask_numbers(value);
    }
    names
        .iter()
        .zip(values)
        .map(|(f, v)| {
            let kind = standard
                .dataset(dataset)
                .and_then(|d| d.field(f))
                .and_then(MaskKind::of);
            match kind {
                Some(k) => k.apply(v),
                None => hdos_core::mask::mask_numbers(v),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Succeeded runs since the period began: failed runs' rows are never shown.
async fn runs_since(app: &AppState, since: i64) -> Result<Vec<i64>, ApiError> {
    let mut ids = Vec::new();
    let mut offset = 0;
    loop {
        let runs = app
            .store
            .quality_runs(Page::new(Page::MAX_LIMIT, offset))
            .await?;
        let n = runs.len() as i64;
        let mut older = false;
        for r in runs {
            if r.started_at < since {
                older = true;
                break;
            }
            if r.state == "succeeded" {
                ids.push(r.id);
            }
        }
        if older || n < Page::MAX_LIMIT {
            return Ok(ids);
        }
        offset += n;
    }
}

pub async fn page(
    State(app): State<AppState>,
    ctx: PageCtx,
    p: Principal,
    Query(q): Query<FailuresQuery>,
) -> Response {
    let t = ctx.t;
    let offset = q.offset.unwrap_or(0).max(0);
    let built: Result<_, ApiError> = async {
        let standard = Standard::builtin()?;
        let scoped_to = crate::ui::institution_scope(&app, &p, super::PATH).await?;
        let days = match q.filters.period() {
            "day" => 1,
            "week" => 7,
            _ => 30,
        };
        let runs = runs_since(&app, now_millis() - days * 86_400_000).await?;
        let mut conditions = vec![if runs.is_empty() {
            "false".to_owned()
        } else {
            format!(
                "run_id IN ({})",
                runs.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")
            )
        }];
        let institution = scoped_to.clone().or_else(|| q.filters.institution());
        for (column, value) in [
            ("institution", institution),
            ("dataset", q.filters.dataset()),
            ("rule_id", q.filters.rule()),
        ] {
            if let Some(v) = value {
                conditions.push(format!("{column} = '{}'", sql_text(&v)));
            }
        }
        let table = TableName::new(hdos_quality::failures::FAILURES_TABLE)?;
        let filter = conditions.join(" AND ");
        let total = crate::ui::lake_count(
            &app,
            &table,
            &format!("SELECT count(*) FROM {} WHERE {filter}", table.sql_name()),
        )
        .await?;
        let sql = format!(
            "SELECT run_id, institution, rule_id, dataset, record_key, field, value, found FROM {} \
             WHERE {filter} ORDER BY run_id DESC, rule_id, record_key LIMIT {PAGE_SIZE} OFFSET {offset}",
            table.sql_name()
        );
        let rows = crate::ui::lake_rows::<8>(&app, &table, &sql)
            .await?
            .into_iter()
            .map(|[run, institution, rule, dataset, key, field, value, found]| FailureRow {
                value: masked(standard, &dataset, &field, &value),
                found_key: if found == "quarantine" {
                    "quality.found.quarantine"
                } else {
                    "quality.found.std"
                },
                run,
                institution,
                rule,
                key,
                field,
            })
            .collect();
        let query = q.filters.query();
        Ok(FailuresPage {
            pager: Pager::new(t, total, offset, PAGE_SIZE).keeping(&query),
            back: format!("{}?{}", super::PATH, q.filters.query()),
            rule: q.filters.rule().unwrap_or_default(),
            scoped_to,
            rows,
            ctx,
        })
    }
    .await;
    match built {
        Ok(page) => render(StatusCode::OK, &page),
        Err(e) => PageError::new(t, e).into_response(),
    }
}
