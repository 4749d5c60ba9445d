//! 质控规则 (managers): the rules in force, by dataset, with their version; enabling and
//! disabling; and a form for a manager's own rule, validated when saved (unknown field, type
//! mismatch, a bad regular expression, a condition that is not boolean SQL or calls a forbidden
//! function — each refused with the reason, the form kept as typed).

use crate::{
    auth::Principal,
    error::{ApiError, PageError, render},
    state::AppState,
    ui::{PageCtx, admin::see_other},
};
use axum::{
    Form,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use hdos_core::standard::Standard;
use hdos_quality::{Check, Dimension, Rule, Severity, rules};
use hdos_store::Outcome;
use serde::Deserialize;

pub const PATH: &str = "/integration/quality/rules";

pub struct RuleRow {
    id: String,
    dataset: String,
    name: String,
    kind: String,
    dimension_key: &'static str,
    severity: String,
    threshold: String,
    version: i64,
    enabled: bool,
    builtin: bool,
}

/// The custom-rule form, as typed.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RuleForm {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub dataset: String,
    #[serde(default)]
    pub name: String,
    /// `sql`, `format`, `range`, `domain`, `required`, `compare` or `volume`.
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub field: String,
    /// The pattern, condition, minimum, codes or comparison operator.
    #[serde(default)]
    pub arg1: String,
    /// The maximum, or the field compared with.
    #[serde(default)]
    pub arg2: String,
    #[serde(default)]
    pub dimension: String,
    #[serde(default)]
    pub severity: String,
    /// Acceptable failure rate in percent.
    #[serde(default)]
    pub threshold: String,
    #[serde(default)]
    pub institutions: String,
}

#[derive(askama::Template)]
#[template(path = "quality_rules.html")]
struct RulesPage {
    ctx: PageCtx,
    rules: Vec<RuleRow>,
    datasets: Vec<String>,
    dimensions: Vec<&'static str>,
    form: RuleForm,
    error: Option<String>,
    msg: Option<&'static str>,
}

fn opt(s: &str) -> Option<String> {
    Some(s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// A number of rows, when given.
fn count(s: &str) -> Result<Option<u64>, String> {
    opt(s)
        .map(|v| {
            v.parse::<u64>()
                .map_err(|_| format!("`{v}` is not a number of rows (0, 1, 2 …)"))
        })
        .transpose()
}

impl RuleForm {
    /// The rule the form describes, or why it describes none.
    pub fn rule(&self) -> Result<Rule, String> {
        let field = self.field.trim().to_owned();
        let check = match self.kind.as_str() {
            "sql" => Check::Sql {
                predicate: self.arg1.trim().to_owned(),
            },
            "format" => Check::Format {
                field,
                pattern: self.arg1.trim().to_owned(),
            },
            "range" => Check::Range {
                field,
                min: opt(&self.arg1),
                max: opt(&self.arg2),
            },
            "domain" => Check::Domain {
                field,
                codes: self
                    .arg1
                    .split([',', '，'])
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(str::to_owned)
                    .collect(),
            },
            "required" => Check::Required { field },
            "compare" => Check::Compare {
                left: field,
                op: serde_json::from_value(serde_json::Value::String(self.arg1.trim().into()))
                    .map_err(|_| format!("`{}` is not one of <=, <, >=, >, =", self.arg1.trim()))?,
                right: self.arg2.trim().to_owned(),
            },
            "volume" => Check::Volume {
                field,
                min: count(&self.arg1)?,
                max: count(&self.arg2)?,
            },
            other => return Err(format!("`{other}` is not a kind of rule this form makes")),
        };
        let threshold = self
            .threshold
            .trim()
            .parse::<f64>()
            .map_err(|_| format!("`{}` is not a percentage", self.threshold.trim()))?
            / 100.0;
        let dimension = Dimension::parse(self.dimension.trim())
            .ok_or_else(|| format!("`{}` is not a dimension", self.dimension))?;
        let severity = match self.severity.as_str() {
            "hard" => Severity::Hard,
            _ => Severity::Soft,
        };
        Ok(Rule {
            id: self.id.trim().to_owned(),
            dataset: self.dataset.trim().to_owned(),
            name: opt(&self.name).unwrap_or_else(|| self.id.trim().to_owned()),
            check,
            dimension,
            severity,
            threshold,
            institutions: self
                .institutions
                .split([',', '，', ' '])
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            when: None,
        })
    }
}

async fn build(
    app: &AppState,
    ctx: PageCtx,
    form: RuleForm,
    error: Option<String>,
    msg: Option<&'static str>,
) -> Result<RulesPage, ApiError> {
    let standard = Standard::builtin()?;
    rules::install_defaults(app.store.as_ref(), standard)
        .await
        .map_err(super::report::api_error)?;
    let rows = app
        .store
        .quality_rules()
        .await?
        .into_iter()
        .filter_map(|r| {
            let rule = Rule::from_json(&r.definition).ok()?;
            Some(RuleRow {
                kind: rule.check.kind().to_owned(),
                dimension_key: super::dimension_key(rule.dimension.name()),
                severity: rule.severity.name().to_owned(),
                threshold: format!("{:.2}%", rule.threshold * 100.0),
                name: rule.name,
                id: r.id,
                dataset: r.dataset,
                version: r.version,
                enabled: r.enabled,
                builtin: r.builtin,
            })
        })
        .collect();
    Ok(RulesPage {
        rules: rows,
        datasets: standard.datasets().iter().map(|d| d.name.clone()).collect(),
        dimensions: Dimension::ALL.iter().map(|d| d.name()).collect(),
        form,
        error,
        msg,
        ctx,
    })
}

#[derive(Debug, Deserialize)]
pub struct RulesQuery {
    msg: Option<String>,
}

pub async fn page(
    State(app): State<AppState>,
    ctx: PageCtx,
    Query(q): Query<RulesQuery>,
) -> Response {
    let t = ctx.t;
    let msg = crate::ui::flash(
        t,
        q.msg.as_deref(),
        &["quality.rule_saved", "quality.rule_toggled"],
    );
    let form = RuleForm {
        kind: "sql".into(),
        dimension: "validity".into(),
        severity: "soft".into(),
        threshold: "0.1".into(),
        ..Default::default()
    };
    match build(&app, ctx, form, None, msg).await {
        Ok(page) => render(StatusCode::OK, &page),
        Err(e) => PageError::new(t, e).into_response(),
    }
}

/// Saves a manager's rule; a refused one comes back with the reason and the form as typed.
pub async fn save(
    State(app): State<AppState>,
    ctx: PageCtx,
    p: Principal,
    Form(form): Form<RuleForm>,
) -> Response {
    let t = ctx.t;
    let saved = async {
        let standard = Standard::builtin().map_err(|e| e.to_string())?;
        let rule = form.rule()?;
        rules::save_rule(app.store.as_ref(), standard, &rule, true, &p.user.username)
            .await
            .map_err(|e| e.to_string())
    }
    .await;
    let outcome = if saved.is_ok() {
        Outcome::Success
    } else {
        Outcome::Failure
    };
    let detail = match &saved {
        Ok(r) => serde_json::json!({"version": r.version}),
        Err(e) => serde_json::json!({"error": e}),
    };
    app.audit(
        p.actor()
            .entry("quality.rule.save", form.id.trim(), outcome, detail),
    )
    .await;
    match saved {
        Ok(_) => see_other(&format!("{PATH}?msg=quality.rule_saved")),
        Err(reason) => match build(&app, ctx, form, Some(reason), None).await {
            Ok(page) => render(StatusCode::BAD_REQUEST, &page),
            Err(e) => PageError::new(t, e).into_response(),
        },
    }
}

/// Enables or disables a rule (`enable` / `disable`).
pub async fn toggle(
    State(app): State<AppState>,
    ctx: PageCtx,
    p: Principal,
    Path((id, action)): Path<(String, String)>,
) -> Response {
    let t = ctx.t;
    let enabled = match action.as_str() {
        "enable" => true,
        "disable" => false,
        _ => {
            return PageError::new(t, ApiError::invalid("the action is enable or disable"))
                .into_response();
        }
    };
    let done = async {
        let standard = Standard::builtin()?;
        let record = app.store.quality_rule(&id).await?.ok_or_else(|| {
            ApiError::new(hdos_core::ErrorKind::NotFound, format!("no rule `{id}`"))
        })?;
        if enabled {
            let rule = Rule::from_json(&record.definition).map_err(super::report::api_error)?;
            rules::save_rule(app.store.as_ref(), standard, &rule, true, &p.user.username)
                .await
                .map_err(super::report::api_error)?;
        } else {
            // A rule the standard no longer supports can still be switched off.
            app.store
                .save_quality_rule(&hdos_store::SaveQualityRule {
                    id: record.id,
                    dataset: record.dataset,
                    definition: record.definition,
                    enabled: false,
                    builtin: record.builtin,
                    actor: p.user.username.clone(),
                })
                .await?;
        }
        Ok::<_, ApiError>(())
    }
    .await;
    let outcome = if done.is_ok() {
        Outcome::Success
    } else {
        Outcome::Failure
    };
    app.audit_simple(&p.actor(), &format!("quality.rule.{action}"), &id, outcome)
        .await;
    match done {
        Ok(()) => see_other(&format!("{PATH}?msg=quality.rule_toggled")),
        Err(e) => PageError::new(t, e).into_response(),
    }
}
