//! A channel's mapping page (映射配置): the mappings of a SQL or CDC channel as TOML, editable,
//! with a preview of sample source rows mapped by them — the rows each table yields, and the
//! rows the mapping refuses with the field and the reason. Preview maps without saving (the
//! page's script previews as the manager types); save checks that every table's mapping
//! compiles against the source before it replaces the channel's, and is audited. Identifiers in
//! the preview are masked as on the quarantine page.

use crate::{
    auth::Principal,
    error::{ApiError, PageError, render},
    state::AppState,
    ui::PageCtx,
};
use axum::{
    Form,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use hdos_core::{ErrorKind, mask::MaskKind, standard::Standard};
use hdos_ingest::{
    channel::{ChannelEnv, ChannelSpec},
    mapping::{MappingFile, TableMapping},
    preview::{TablePreview, preview},
};
use hdos_store::{Channel, MasterKey, NewChannel, Outcome};
use serde::Deserialize;

/// Sample rows each table's preview maps.
const SAMPLE_ROWS: usize = 20;

pub struct PreviewTable {
    source_table: String,
    dataset: String,
    fields: Vec<String>,
    rows: Vec<Vec<String>>,
    refused: Vec<(usize, String, String, String)>,
    error: String,
}

#[derive(askama::Template)]
#[template(path = "mapping.html")]
struct MappingPage {
    ctx: PageCtx,
    channel: Channel,
    /// Whether the channel's kind has table mappings (SQL, CDC).
    editable: bool,
    text: String,
    problem: String,
    saved: bool,
    tables: Vec<PreviewTable>,
}

#[derive(Debug, Deserialize)]
pub struct MappingQuery {
    msg: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct MappingForm {
    mapping: String,
    /// `preview` or `save`.
    intent: String,
}

fn path(name: &str) -> String {
    format!("/integration/collection/channels/{name}/mapping")
}

async fn channel(app: &AppState, name: &str) -> Result<Channel, ApiError> {
    app.store
        .channel(name)
        .await?
        .ok_or_else(|| ApiError::new(ErrorKind::NotFound, format!("channel `{name}` not found")))
}

/// What collection would do with the channel's source and `tables`, masked for display.
async fn previewed(
    app: &AppState,
    c: &Channel,
    spec: &ChannelSpec,
    tables: Vec<TableMapping>,
) -> Result<Vec<PreviewTable>, ApiError> {
    let standard = Standard::builtin()?;
    let env = ChannelEnv {
        store: app.store.clone(),
        lake: (*app.lake).clone(),
        standard,
        // Without the platform's key only sources without a password can be read.
        master_key: app.master_key.clone().unwrap_or_else(MasterKey::generate),
        journal_root: std::env::temp_dir(),
    };
    let found = match spec.database(&env).await {
        Ok(None) => return Ok(Vec::new()),
        Ok(Some(source)) => preview(&env, source, &c.institution, tables, SAMPLE_ROWS).await,
        Err(e) => tables
            .into_iter()
            .map(|t| TablePreview {
                source_table: t.source_table,
                dataset: t.dataset,
                error: Some(e.to_string()),
                ..TablePreview::default()
            })
            .collect(),
    };
    Ok(found
        .into_iter()
        .map(|p| {
            let masks: Vec<Option<MaskKind>> = p
                .fields
                .iter()
                .map(|f| {
                    standard
                        .dataset(&p.dataset)
                        .and_then(|d| d.field(f))
                        .and_then(MaskKind::of)
                })
                .collect();
            PreviewTable {
                rows: p
                    .rows
                    .into_iter()
                    .map(|row| {
                        row.into_iter()
                            .zip(&masks)
                            .map(|(v, m)| {
                                m.map_or(v.clone(), |m| if v.is_empty() { v } else { m.apply(&v) })
                            })
                            .collect()
                    })
                    .collect(),
                refused: p
                    .refused
                    .into_iter()
                    .map(|(n, field, value, reason)| {
                        (n, field, hdos_core::mask::mask_numbers(&value), reason)
                    })
                    .collect(),
                error: p.error.unwrap_or_default(),
                source_table: p.source_table,
                dataset: p.dataset,
                fields: p.fields,
            }
        })
        .collect())
}

fn with_tables(spec: ChannelSpec, tables: Vec<TableMapping>) -> ChannelSpec {
    match spec {
        ChannelSpec::Sql {
            source, chunk_rows, ..
        } => ChannelSpec::Sql {
            source,
            tables,
            chunk_rows,
        },
        ChannelSpec::Cdc { connection, .. } => ChannelSpec::Cdc { connection, tables },
        other => other,
    }
}

pub async fn show(
    State(app): State<AppState>,
    ctx: PageCtx,
    Path(name): Path<String>,
    Query(q): Query<MappingQuery>,
) -> Response {
    let t = ctx.t;
    let result: Result<_, ApiError> = async {
        let c = channel(&app, &name).await?;
        let spec = ChannelSpec::of(&c)?;
        let tables = spec.tables().to_vec();
        let text = toml::to_string(&MappingFile {
            tables: tables.clone(),
        })
        .map_err(|e| ApiError::new(ErrorKind::Internal, e.to_string()))?;
        let previews = previewed(&app, &c, &spec, tables).await?;
        Ok((c, spec, text, previews))
    }
    .await;
    match result {
        Ok((channel, spec, text, tables)) => render(
            StatusCode::OK,
            &MappingPage {
                ctx,
                editable: spec.reads_database(),
                channel,
                text,
                problem: String::new(),
                saved: q.msg.as_deref() == Some("saved"),
                tables,
            },
        ),
        Err(e) => PageError::new(t, e).into_response(),
    }
}

/// Previews or saves an edited mapping. A mapping that does not parse, names an unknown dataset
/// or does not compile against the source is shown back with the problem, never saved.
pub async fn submit(
    State(app): State<AppState>,
    ctx: PageCtx,
    p: Principal,
    Path(name): Path<String>,
    Form(form): Form<MappingForm>,
) -> Response {
    let t = ctx.t;
    let result: Result<_, ApiError> = async {
        let c = channel(&app, &name).await?;
        let spec = ChannelSpec::of(&c)?;
        let parsed: Result<MappingFile, String> =
            toml::from_str(&form.mapping).map_err(|e| e.to_string());
        let (tables, mut problem) = match parsed {
            Ok(f) => {
                let edited = with_tables(spec.clone(), f.tables.clone());
                let problem = edited
                    .validate(Standard::builtin()?)
                    .err()
                    .unwrap_or_default();
                (f.tables, problem)
            }
            Err(e) => (Vec::new(), e),
        };
        let previews = match problem.is_empty() {
            true => previewed(&app, &c, &spec, tables.clone()).await?,
            false => Vec::new(),
        };
        if problem.is_empty()
            && let Some(bad) = previews.iter().find(|t| !t.error.is_empty())
        {
            problem = format!("{}: {}", bad.source_table, bad.error);
        }
        let save = form.intent == "save" && problem.is_empty();
        if save {
            let edited = with_tables(spec.clone(), tables);
            app.store
                .save_channel(NewChannel {
                    name: c.name.clone(),
                    institution: c.institution.clone(),
                    kind: c.kind.clone(),
                    spec: edited.to_json(),
                    schedule: c.schedule.clone(),
                    enabled: c.enabled,
                    next_run_at: c.next_run_at,
                })
                .await?;
        }
        if form.intent == "save" {
            let outcome = if save {
                Outcome::Success
            } else {
                Outcome::Failure
            };
            app.audit(p.actor().entry(
                "channel.mapping.save",
                &c.name,
                outcome,
                serde_json::json!({ "problem": problem }),
            ))
            .await;
        }
        Ok((c, spec, problem, previews, save))
    }
    .await;
    match result {
        Ok((_, _, _, _, true)) => super::admin::see_other(&format!("{}?msg=saved", path(&name))),
        Ok((channel, spec, problem, tables, false)) => render(
            if problem.is_empty() {
                StatusCode::OK
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            },
            &MappingPage {
                ctx,
                editable: spec.reads_database(),
                channel,
                text: form.mapping,
                problem,
                saved: false,
                tables,
            },
        ),
        Err(e) => PageError::new(t, e).into_response(),
    }
}
