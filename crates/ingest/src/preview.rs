//! A mapping's preview: sample rows of each source table mapped as collection would map them,
//! with the rows the mapping refuses and why — for a manager confirming or editing a mapping
//! before it runs.

use crate::{
    channel::ChannelEnv,
    mapping::{CompiledMapping, StdValue, TableMapping},
    source::BatchSource,
};
use hdos_core::standard::FieldType;

/// One table's preview.
#[derive(Debug, Clone, Default)]
pub struct TablePreview {
    pub source_table: String,
    pub dataset: String,
    /// The standard fields, in the mapping's output order.
    pub fields: Vec<String>,
    /// Mapped sample rows, one text per field.
    pub rows: Vec<Vec<String>>,
    /// Refused sample rows: their number in the sample (from 1), the field, value and reason.
    pub refused: Vec<(usize, String, String, String)>,
    /// Why the table cannot be previewed (source unreachable, a mapping that does not compile).
    pub error: Option<String>,
}

/// A value as the preview shows it.
fn text(v: &StdValue, t: FieldType) -> String {
    match v {
        StdValue::Null => String::new(),
        StdValue::Text(s) => s.clone(),
        StdValue::Int(i) => i.to_string(),
        StdValue::Decimal(d) => {
            let scale = match t {
                FieldType::Dec { scale, .. } => u32::from(scale),
                _ => 0,
            };
            let unit = 10i128.pow(scale);
            let (sign, d) = if *d < 0 { ("-", -d) } else { ("", *d) };
            match scale {
                0 => format!("{sign}{d}"),
                _ => format!(
                    "{sign}{}.{:0width$}",
                    d / unit,
                    d % unit,
                    width = scale as usize
                ),
            }
        }
        StdValue::Date(days) => chrono::DateTime::from_timestamp(i64::from(*days) * 86_400, 0)
            .map(|d| d.format("%Y-%m-%d").to_string())
            .unwrap_or_default(),
        // Shown in the region's time (UTC+8).
        StdValue::Timestamp(us) => chrono::DateTime::from_timestamp_micros(us + 8 * 3_600_000_000)
            .map(|d| d.format("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_default(),
        StdValue::Bool(b) => b.to_string(),
    }
}

/// Maps `rows` sample rows of each table of `tables` read from `source`, for `institution`.
pub async fn preview(
    env: &ChannelEnv,
    source: BatchSource,
    institution: &str,
    tables: Vec<TableMapping>,
    rows: usize,
) -> Vec<TablePreview> {
    let (standard, institution) = (env.standard, institution.to_owned());
    let done = tokio::task::spawn_blocking(move || {
        let catalog = source.catalog();
        tables
            .into_iter()
            .map(|m| {
                let mut p = TablePreview {
                    source_table: m.source_table.clone(),
                    dataset: m.dataset.clone(),
                    ..TablePreview::default()
                };
                let result = (|| {
                    let catalog = catalog.as_ref().map_err(|e| e.to_string())?;
                    let dataset = standard
                        .dataset(&m.dataset)
                        .ok_or_else(|| format!("`{}` is not a standard dataset", m.dataset))?;
                    let columns: Vec<String> = catalog
                        .columns(&m.source_table)
                        .map_err(|e| e.to_string())?
                        .into_iter()
                        .map(|c| c.name)
                        .collect();
                    let compiled =
                        CompiledMapping::new(&m, dataset, &columns).map_err(|e| e.to_string())?;
                    let types: Vec<FieldType> = compiled.fields().map(|(_, t)| t).collect();
                    p.fields = compiled.fields().map(|(n, _)| n.to_owned()).collect();
                    let sample = catalog
                        .sample(&m.source_table, rows)
                        .map_err(|e| e.to_string())?;
                    for (i, row) in sample.iter().enumerate() {
                        match compiled.apply(row, &institution) {
                            Ok(values) => p.rows.push(
                                values
                                    .iter()
                                    .zip(&types)
                                    .map(|(v, t)| text(v, *t))
                                    .collect(),
                            ),
                            Err(r) => p.refused.push((
                                i + 1,
                                r.field,
                                r.value.unwrap_or_default(),
                                r.reason,
                            )),
                        }
                    }
                    Ok::<_, String>(())
                })();
                p.error = result.err();
                p
            })
            .collect::<Vec<_>>()
    })
    .await;
    done.unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_as_the_standard_writes_them() {
        assert_eq!(
            text(
                &StdValue::Decimal(12345),
                FieldType::Dec {
                    precision: 12,
                    scale: 2
                }
            ),
            "123.45"
        );
        assert_eq!(
            text(
                &StdValue::Decimal(-5),
                FieldType::Dec {
                    precision: 12,
                    scale: 2
                }
            ),
            "-0.05"
        );
        assert_eq!(text(&StdValue::Date(20_513), FieldType::Date), "2026-03-01");
        // 2026-03-01 00:00 UTC is 08:00 in the region.
        assert_eq!(
            text(
                &StdValue::Timestamp(1_772_323_200_000_000),
                FieldType::Timestamp
            ),
            "2026-03-01 08:00:00"
        );
    }
}
