//! 隔离区: the records collection refused, per quarantine table, newest first, with the field, the
//! value and the reason — for the institution's staff to fix at the source. Names, ID numbers,
//! phones and addresses are masked on screen (the lake keeps the record as received); a provider
//! sees only its own institution's records.

use crate::{
    auth::Principal,
    error::{ApiError, PageError, render},
    state::AppState,
    ui::{PageCtx, admin::Pager, fmt_ms},
};
use axum::{
    extract::{Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use hdos_core::{
    mask::{MaskKind, mask_numbers},
    standard::{Dataset, Standard},
};
use hdos_ingest::channel::ChannelSpec;
use hdos_lake::TableName;
use hdos_store::Page;
use serde::Deserialize;
use std::collections::HashMap;

pub const PATH: &str = "/integration/quarantine";
const PAGE_SIZE: i64 = 50;
/// Quarantine tables of the message channels, besides one per standard dataset.
const MESSAGE_TABLES: &[&str] = &["messages", "resources"];

#[derive(Debug, Deserialize)]
pub struct QuarantineQuery {
    table: Option<String>,
    offset: Option<i64>,
}

pub struct TableTab {
    name: String,
    count: i64,
    current: bool,
}

pub struct QuarantinedRow {
    received: String,
    channel: String,
    source_table: String,
    field: String,
    value: String,
    reason: String,
    record: String,
}

#[derive(askama::Template)]
#[template(path = "quarantine.html")]
struct QuarantinePage {
    ctx: PageCtx,
    scoped_to: Option<String>,
    tables: Vec<TableTab>,
    rows: Vec<QuarantinedRow>,
    pager: Pager,
}

/// Source columns whose values are masked, per (channel, source table): those the channel's
/// mapping reads into a maskable standard field.
type ColumnMasks = HashMap<(String, String), HashMap<String, MaskKind>>;

async fn column_masks(app: &AppState, standard: &Standard) -> Result<ColumnMasks, ApiError> {
    let mut out = ColumnMasks::new();
    for c in app.store.list_channels(None, Page::new(10_000, 0)).await? {
        let Ok(spec) = ChannelSpec::of(&c) else {
            continue;
        };
        let tables = spec.tables().to_vec();
        for t in tables {
            let Some(dataset) = standard.dataset(&t.dataset) else {
                continue;
            };
            let masks = t
                .fields
                .iter()
                .filter_map(|f| {
                    let kind = MaskKind::of(dataset.field(&f.target)?)?;
                    Some((f.source.clone()?, kind))
                })
                .collect();
            out.insert((c.name.clone(), t.source_table.clone()), masks);
        }
    }
    Ok(out)
}

/// A JSON record with each value masked: by its column's kind where the mapping says, as a
/// FHIR name part under `family`/`given`, and otherwise where it looks like an ID or phone.
fn mask_json(
    v: &mut serde_json::Value,
    key: Option<&str>,
    columns: Option<&HashMap<String, MaskKind>>,
) {
    match v {
        serde_json::Value::String(s) => {
            let kind = key.and_then(|k| match k {
                "family" | "given" => Some(MaskKind::Name),
                _ => columns.and_then(|c| c.get(k)).copied(),
            });
            *s = match kind {
                Some(kind) => kind.apply(s),
                None => mask_numbers(s),
            };
        }
        serde_json::Value::Array(items) => {
            for i in items {
                mask_json(i, key, columns);
            }
        }
        serde_json::Value::Object(map) => {
            for (k, item) in map.iter_mut() {
                mask_json(item, Some(k), columns);
            }
        }
        _ => {}
    }
}

/// An HL7 v2 message with the patient's name (PID-5) and address (PID-11) masked, and numbers
/// that look like IDs or phones.
fn mask_hl7(text: &str) -> String {
    text.split(['\r', '\n'])
        .filter(|l| !l.is_empty())
        .map(|line| {
            if !line.starts_with("PID|") {
                return mask_numbers(line);
            }
            let fields: Vec<String> = line
                .split('|')
                .enumerate()
                .map(|(i, f)| {
                    let kind = match i {
                        5 => Some(MaskKind::Name),
                        11 => Some(MaskKind::Address),
                        _ => None,
                    };
                    match kind {
                        Some(k) => f
                            .split('^')
                            .map(|part| {
                                if part.is_empty() {
                                    String::new()
                                } else {
                                    k.apply(part)
                                }
                            })
                            .collect::<Vec<_>>()
                            .join("^"),
                        None => mask_numbers(f),
                    }
                })
                .collect();
            fields.join("|")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn mask_record(record: &str, columns: Option<&HashMap<String, MaskKind>>) -> String {
    match serde_json::from_str::<serde_json::Value>(record) {
        Ok(mut v) => {
            mask_json(&mut v, None, columns);
            v.to_string()
        }
        Err(_) => mask_hl7(record),
    }
}

/// The value of a refused field, masked by the field's kind when it has one.
fn mask_value(dataset: Option<&Dataset>, field: &str, value: &str) -> String {
    match dataset.and_then(|d| d.field(field)).and_then(MaskKind::of) {
        Some(kind) => kind.apply(value),
        None => mask_numbers(value),
    }
}

pub(crate) fn sql_text(s: &str) -> String {
    s.replace('\'', "''")
}

async fn count(app: &AppState, table: &TableName, scope: &str) -> Result<i64, ApiError> {
    let sql = format!("SELECT count(*) FROM {} {scope}", table.sql_name());
    super::lake_count(app, table, &sql).await
}

async fn rows(
    app: &AppState,
    table: &TableName,
    scope: &str,
    offset: i64,
) -> Result<Vec<[String; 7]>, ApiError> {
    let sql = format!(
        "SELECT CAST(_hdos_received_at AS BIGINT) AS received_us, _hdos_source, source_table, field, value, reason, record \
         FROM {} {scope} ORDER BY _hdos_received_at DESC, _hdos_batch DESC LIMIT {PAGE_SIZE} OFFSET {offset}",
        table.sql_name()
    );
    super::lake_rows(app, table, &sql).await
}

pub async fn page(
    State(app): State<AppState>,
    ctx: PageCtx,
    p: Principal,
    Query(q): Query<QuarantineQuery>,
) -> Response {
    let t = ctx.t;
    let offset = q.offset.unwrap_or(0).max(0);
    let result: Result<_, ApiError> = async {
        let standard = Standard::builtin()?;
        let scoped_to = super::institution_scope(&app, &p, PATH).await?;
        let scope = match &scoped_to {
            Some(code) => format!("WHERE _hdos_institution = '{}'", sql_text(code)),
            None => String::new(),
        };
        let names: Vec<String> = standard
            .datasets()
            .iter()
            .map(|d| d.name.clone())
            .chain(MESSAGE_TABLES.iter().map(|s| (*s).to_owned()))
            .collect();
        let mut tables = Vec::new();
        for name in names {
            let n = count(
                &app,
                &TableName::new(&format!("quarantine/{name}"))?,
                &scope,
            )
            .await?;
            tables.push(TableTab {
                name,
                count: n,
                current: false,
            });
        }
        // The asked-for table, else the first that holds records.
        let chosen = q
            .table
            .filter(|t| tables.iter().any(|x| &x.name == t))
            .or_else(|| tables.iter().find(|x| x.count > 0).map(|x| x.name.clone()))
            .unwrap_or_else(|| tables[0].name.clone());
        let total = tables
            .iter()
            .find(|x| x.name == chosen)
            .map_or(0, |x| x.count);
        for x in &mut tables {
            x.current = x.name == chosen;
        }
        let masks = column_masks(&app, standard).await?;
        let dataset = standard.dataset(&chosen);
        // Records quality control moved out of std carry the standard's field names.
        let std_masks: HashMap<String, MaskKind> = dataset
            .map(|d| {
                d.fields
                    .iter()
                    .filter_map(|f| Some((f.name.clone(), MaskKind::of(f)?)))
                    .collect()
            })
            .unwrap_or_default();
        let table = TableName::new(&format!("quarantine/{chosen}"))?;
        let shown = rows(&app, &table, &scope, offset)
            .await?
            .into_iter()
            .map(
                |[
                    received,
                    channel,
                    source_table,
                    field,
                    value,
                    reason,
                    record,
                ]| {
                    let columns = match source_table.starts_with("std/") {
                        true => Some(&std_masks),
                        false => masks.get(&(channel.clone(), source_table.clone())),
                    };
                    QuarantinedRow {
                        received: received
                            .parse::<i64>()
                            .map(|us| fmt_ms(us / 1000))
                            .unwrap_or_default(),
                        value: mask_value(dataset, &field, &value),
                        record: mask_record(&record, columns),
                        channel,
                        source_table,
                        field,
                        reason,
                    }
                },
            )
            .collect();
        Ok((scoped_to, tables, chosen, shown, total))
    }
    .await;
    match result {
        Ok((scoped_to, tables, table, rows, total)) => render(
            StatusCode::OK,
            &QuarantinePage {
                ctx,
                scoped_to,
                tables,
                rows,
                // Table names are the standard's dataset names: safe in a query string.
                pager: Pager::new(t, total, offset, PAGE_SIZE).keeping(&format!("table={table}")),
            },
        ),
        Err(e) => PageError::new(t, e).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_masked_by_column_by_fhir_name_and_by_pattern() {
        let columns: HashMap<String, MaskKind> = [
            ("hzxm".to_owned(), MaskKind::Name),
            ("sfzh".to_owned(), MaskKind::IdNumber),
        ]
        .into();
        let masked = mask_record(
            r#"{"hzxm":"王小明","sfzh":"330106199003071234","bz":"电话13812345678","brid":"P001"}"#,
            Some(&columns),
        );
        assert!(masked.contains("\"hzxm\":\"王**\""), "{masked}");
        assert!(masked.contains("\"sfzh\":\"330"), "{masked}");
        assert!(
            !masked.contains("199003071234") && !masked.contains("12345678\""),
            "{masked}"
        );
        assert!(
            masked.contains("\"brid\":\"P001\""),
            "record numbers stay: {masked}"
        );
        let fhir = mask_record(
            r#"{"resourceType":"Patient","name":[{"family":"王","given":["小明"]}]}"#,
            None,
        );
        assert!(
            fhir.contains("\"given\":[\"*\"]") || fhir.contains("\"given\":[\"小*\"]"),
            "{fhir}"
        );
        let hl7 = mask_record(
            "MSH|^~\\&|HIS\rPID|1||P001^^^H1||王^小明||19900307|M|||浙江省杭州市西湖区文三路90号",
            None,
        );
        assert!(
            hl7.contains("|*^小*|")
                && hl7.contains("|浙江省杭州市*********")
                && hl7.contains("P001"),
            "{hl7}"
        );
    }
}
