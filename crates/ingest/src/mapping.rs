//! Mapping a source table onto a standard dataset: which source column feeds each standard field,
//! through which transforms, and the typed value that results, or the reason a row is rejected.
//!
//! A mapping is data (TOML or JSON), written by [`crate::suggest`] and confirmed or edited by a
//! manager; [`CompiledMapping`] checks it against the standard and the source's columns once, then
//! maps rows without looking anything up by name.

mod expression;
mod transform;
mod value;

pub use expression::{Condition, Expression};
pub use transform::{TimeFormat, Transform};
pub use value::{StdValue, parse_decimal};

use crate::IngestError;
use hdos_core::standard::{Dataset, FieldType};
use serde::{Deserialize, Serialize};

/// China Standard Time, the local time of every HIS in the region.
pub const DEFAULT_UTC_OFFSET_MINUTES: i32 = 8 * 60;

/// How one source table becomes one standard dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableMapping {
    pub source_table: String,
    pub dataset: String,
    /// The column incremental reads follow (an update time); without one every run reads the
    /// whole table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// The offset from UTC of the source's local times.
    #[serde(default = "default_offset")]
    pub utc_offset_minutes: i32,
    pub fields: Vec<FieldMapping>,
}

/// A file of confirmed mappings, one `[[tables]]` entry per source table: what `hdos ingest
/// suggest` prints, `--mapping` reads and the mapping page edits.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MappingFile {
    pub tables: Vec<TableMapping>,
}

impl TableMapping {
    /// The source columns the fields and an optional row condition read, each once in the order
    /// first used, with the condition compiled against them: for sources whose "columns" are
    /// paths into a message or a resource.
    pub fn columns_read(
        &self,
        when: Option<&str>,
    ) -> Result<(Vec<String>, Option<Condition>), IngestError> {
        let invalid = |reason: String| IngestError::InvalidMapping {
            table: self.source_table.clone(),
            reason,
        };
        let mut columns: Vec<String> = Vec::new();
        let mut add = |names: Vec<String>| {
            for n in names {
                if !columns.contains(&n) {
                    columns.push(n);
                }
            }
        };
        for f in &self.fields {
            add(f.source.iter().cloned().collect());
            if let Some(e) = &f.expression {
                add(Expression::columns(e).map_err(|e| invalid(format!("`{}`: {e}", f.target)))?);
            }
        }
        if let Some(w) = when {
            add(Condition::columns(w).map_err(|e| invalid(format!("condition: {e}")))?);
        }
        let condition = when
            .map(|w| {
                Condition::parse(w, |name| {
                    columns
                        .iter()
                        .position(|c| c == name)
                        .ok_or_else(|| format!("no column `{name}`"))
                })
                .map_err(|e| invalid(format!("condition: {e}")))
            })
            .transpose()?;
        Ok((columns, condition))
    }
}

/// Refuses two mappings with the same `source_table`: it names a record in checkpoints, runs
/// and quarantine.
pub(crate) fn distinct_names<'a>(
    mappings: impl IntoIterator<Item = &'a TableMapping>,
) -> Result<(), IngestError> {
    let mut seen = std::collections::HashSet::new();
    for m in mappings {
        if !seen.insert(m.source_table.as_str()) {
            return Err(IngestError::InvalidMapping {
                table: m.source_table.clone(),
                reason: "two records have this name".into(),
            });
        }
    }
    Ok(())
}

fn default_offset() -> i32 {
    DEFAULT_UTC_OFFSET_MINUTES
}

/// One standard field: its source column or an [`Expression`] over several (neither for a
/// constant), and the transforms applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldMapping {
    pub target: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transforms: Vec<Transform>,
}

/// Why a row lacking a required value was refused.
pub const REQUIRED_MISSING: &str = "a required value is missing";

/// Why a row could not be mapped: the field, the value as received and the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    pub field: String,
    pub value: Option<String>,
    pub reason: String,
}

/// A mapping checked against the standard and the source columns, ready to map rows.
#[derive(Debug, Clone)]
pub struct CompiledMapping {
    dataset: Dataset,
    /// Per standard field, in the dataset's order: where its value comes from.
    plan: Vec<FieldPlan>,
    offset_seconds: i32,
}

#[derive(Debug, Clone)]
struct FieldPlan {
    name: String,
    field_type: FieldType,
    required: bool,
    input: Input,
    transforms: Vec<Transform>,
}

#[derive(Debug, Clone)]
enum Input {
    Column(usize),
    Expression(Expression),
    /// The collecting institution's code, filled in by the channel.
    Institution,
    Absent,
}

impl CompiledMapping {
    /// Checks `mapping` against `dataset` and the source's `columns`.
    pub fn new(
        mapping: &TableMapping,
        dataset: &Dataset,
        columns: &[String],
    ) -> Result<Self, IngestError> {
        Self::with_absent(mapping, dataset, columns, &[])
    }

    /// As [`CompiledMapping::new`], with the source columns in `absent` (gone from the source
    /// since the mapping was made) read as empty rather than refused.
    pub fn with_absent(
        mapping: &TableMapping,
        dataset: &Dataset,
        columns: &[String],
        absent: &[String],
    ) -> Result<Self, IngestError> {
        let invalid = |reason: String| IngestError::InvalidMapping {
            table: mapping.source_table.clone(),
            reason,
        };
        // An absent column reads past the row's end: empty, in expressions too.
        let find = |name: &str| match columns.iter().position(|c| c == name) {
            Some(i) => Ok(i),
            None if absent.iter().any(|a| a == name) => Ok(usize::MAX),
            None => Err(format!("source column `{name}` does not exist")),
        };
        let column = |name: &str| find(name).map_err(invalid);
        for (i, f) in mapping.fields.iter().enumerate() {
            if dataset.field(&f.target).is_none() {
                return Err(invalid(format!(
                    "`{}` is not a field of the standard dataset `{}`",
                    f.target, dataset.name
                )));
            }
            if mapping.fields[..i].iter().any(|g| g.target == f.target) {
                return Err(invalid(format!("`{}` is mapped twice", f.target)));
            }
            if f.source.is_some() && f.expression.is_some() {
                return Err(invalid(format!(
                    "`{}` has both a source column and an expression",
                    f.target
                )));
            }
            if f.source.is_none()
                && f.expression.is_none()
                && !f.transforms.iter().any(Transform::is_constant)
            {
                return Err(invalid(format!(
                    "`{}` needs a source column, an expression or a constant",
                    f.target
                )));
            }
            for t in &f.transforms {
                t.check()
                    .map_err(|e| invalid(format!("`{}`: {e}", f.target)))?;
            }
        }
        let mut plan = Vec::with_capacity(dataset.fields.len());
        for field in &dataset.fields {
            let mapped = mapping.fields.iter().find(|f| f.target == field.name);
            let expression = mapped.and_then(|m| m.expression.as_deref());
            let input = match (mapped.and_then(|m| m.source.as_deref()), expression) {
                (Some(src), _) if absent.iter().any(|a| a == src) => Input::Absent,
                (Some(src), _) => Input::Column(column(src)?),
                (None, Some(text)) => Input::Expression(
                    Expression::parse(text, find)
                        .map_err(|e| invalid(format!("`{}`: {e}", field.name)))?,
                ),
                (None, None) if field.name == "institution_code" && mapped.is_none() => {
                    Input::Institution
                }
                (None, None) => Input::Absent,
            };
            let is_key = dataset.key.contains(&field.name);
            if is_key && matches!(input, Input::Absent) && mapped.is_none() {
                return Err(invalid(format!(
                    "the key field `{}` is not mapped",
                    field.name
                )));
            }
            plan.push(FieldPlan {
                name: field.name.clone(),
                field_type: field.field_type,
                required: field.required || is_key,
                input,
                transforms: mapped.map(|m| m.transforms.clone()).unwrap_or_default(),
            });
        }
        if let Some(cursor) = mapping.cursor.as_deref() {
            column(cursor)?;
        }
        Ok(Self {
            dataset: dataset.clone(),
            plan,
            offset_seconds: mapping.utc_offset_minutes * 60,
        })
    }

    pub fn dataset(&self) -> &Dataset {
        &self.dataset
    }

    /// The standard fields in output order, with their types.
    pub fn fields(&self) -> impl Iterator<Item = (&str, FieldType)> {
        self.plan.iter().map(|p| (p.name.as_str(), p.field_type))
    }

    /// Maps one source row (values as text, in source column order). The first field that cannot
    /// be mapped rejects the whole row.
    pub fn apply(
        &self,
        row: &[Option<String>],
        institution: &str,
    ) -> Result<Vec<StdValue>, Rejection> {
        self.map_fields(row, institution, |_| true)
    }

    /// Maps only the dataset's key fields (the others are null): enough to delete a row, from a
    /// deleted source row that may carry its key columns only.
    pub fn apply_key(
        &self,
        row: &[Option<String>],
        institution: &str,
    ) -> Result<Vec<StdValue>, Rejection> {
        self.map_fields(row, institution, |name| {
            self.dataset.key.iter().any(|k| k == name)
        })
    }

    fn map_fields(
        &self,
        row: &[Option<String>],
        institution: &str,
        wanted: impl Fn(&str) -> bool,
    ) -> Result<Vec<StdValue>, Rejection> {
        self.plan
            .iter()
            .map(|p| {
                if !wanted(&p.name) {
                    return Ok(StdValue::Null);
                }
                let raw = match &p.input {
                    Input::Column(i) => row.get(*i).cloned().flatten(),
                    Input::Expression(e) => e.eval(row),
                    Input::Institution => Some(institution.to_owned()),
                    Input::Absent => None,
                };
                let reject = |reason: String| Rejection {
                    field: p.name.clone(),
                    value: raw.clone(),
                    reason,
                };
                let staged = transform::run(&p.transforms, raw.clone()).map_err(reject)?;
                let value = value::to_standard(staged, p.field_type, self.offset_seconds)
                    .map_err(reject)?;
                if p.required && value.is_null() {
                    return Err(reject(REQUIRED_MISSING.into()));
                }
                Ok(value)
            })
            .collect()
    }

    /// The source column a standard field is read from directly, when it is.
    pub fn column_of(&self, field: &str) -> Option<usize> {
        match self.plan.iter().find(|p| p.name == field)?.input {
            Input::Column(i) => Some(i),
            _ => None,
        }
    }

    /// The event time of a mapped row: its update time when the dataset has one.
    pub fn event_time(&self, values: &[StdValue]) -> Option<i64> {
        let cursor = self.dataset.cursor.as_deref()?;
        let i = self.plan.iter().position(|p| p.name == cursor)?;
        match values.get(i)? {
            StdValue::Timestamp(us) => Some(*us),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdos_core::standard::Standard;
    use std::collections::BTreeMap;

    fn visit_mapping() -> TableMapping {
        let field = |target: &str, source: &str, transforms: Vec<Transform>| FieldMapping {
            target: target.into(),
            source: Some(source.into()),
            expression: None,
            transforms,
        };
        TableMapping {
            source_table: "MZJZ".into(),
            dataset: "outpatient_visit".into(),
            cursor: Some("GXSJ".into()),
            utc_offset_minutes: DEFAULT_UTC_OFFSET_MINUTES,
            fields: vec![
                field("visit_id", "JZID", vec![Transform::Trim]),
                field("patient_id", "BRID", vec![]),
                field(
                    "visit_time",
                    "JZSJ",
                    vec![Transform::Timestamp {
                        format: "yyyyMMddHHmmss".into(),
                    }],
                ),
                field("fee_total", "FY", vec![]),
                field("dept_name", "KSMC", vec![]),
                FieldMapping {
                    target: "diagnosis_code".into(),
                    source: None,
                    expression: None,
                    transforms: vec![Transform::Constant {
                        value: "J06.9".into(),
                    }],
                },
                FieldMapping {
                    target: "diagnosis_name".into(),
                    source: None,
                    expression: None,
                    transforms: vec![Transform::Constant {
                        value: "急性上呼吸道感染".into(),
                    }],
                },
                field(
                    "updated_at",
                    "GXSJ",
                    vec![Transform::Timestamp {
                        format: "yyyyMMddHHmmss".into(),
                    }],
                ),
            ],
        }
    }

    fn columns() -> Vec<String> {
        ["JZID", "BRID", "JZSJ", "FY", "GXSJ", "KSMC"]
            .map(String::from)
            .to_vec()
    }

    fn compiled() -> CompiledMapping {
        let std = Standard::builtin().unwrap();
        CompiledMapping::new(
            &visit_mapping(),
            std.dataset("outpatient_visit").unwrap(),
            &columns(),
        )
        .unwrap()
    }

    fn row(values: [&str; 5]) -> Vec<Option<String>> {
        values
            .iter()
            .chain(&["内科"])
            .map(|v| (!v.is_empty()).then(|| v.to_string()))
            .collect()
    }

    #[test]
    fn a_row_is_mapped_to_typed_standard_values() {
        let m = compiled();
        let out = m
            .apply(
                &row([" MZ1 ", "P1", "20260301083000", "12.5", "20260301090000"]),
                "12330100MB0000001X",
            )
            .unwrap();
        let by_name: BTreeMap<&str, &StdValue> =
            m.fields().map(|(n, _)| n).zip(out.iter()).collect();
        assert_eq!(by_name["visit_id"], &StdValue::Text("MZ1".into()));
        assert_eq!(
            by_name["institution_code"],
            &StdValue::Text("12330100MB0000001X".into())
        );
        // 08:30 in UTC+8 is 00:30 UTC.
        let expected = chrono::NaiveDate::from_ymd_opt(2026, 3, 1)
            .unwrap()
            .and_hms_opt(0, 30, 0)
            .unwrap()
            .and_utc()
            .timestamp_micros();
        assert_eq!(by_name["visit_time"], &StdValue::Timestamp(expected));
        assert_eq!(by_name["fee_total"], &StdValue::Decimal(1250));
        assert_eq!(by_name["doctor_id"], &StdValue::Null);
        assert!(m.event_time(&out).is_some());
    }

    #[test]
    fn bad_values_reject_the_row_with_field_value_and_reason() {
        let m = compiled();
        let r = m
            .apply(
                &row(["", "P1", "20260301083000", "1", "20260301090000"]),
                "X",
            )
            .unwrap_err();
        assert_eq!(r.field, "visit_id");
        assert!(r.reason.contains("required"), "{r:?}");
        let r = m
            .apply(&row(["V", "P1", "2026-03-01", "1", "20260301090000"]), "X")
            .unwrap_err();
        assert_eq!(r.field, "visit_time");
        assert_eq!(r.value.as_deref(), Some("2026-03-01"));
        let r = m
            .apply(
                &row(["V", "P1", "20260301083000", "abc", "20260301090000"]),
                "X",
            )
            .unwrap_err();
        assert_eq!(r.field, "fee_total");
    }

    #[test]
    fn mistakes_in_a_mapping_are_named() {
        let std = Standard::builtin().unwrap();
        let ds = std.dataset("outpatient_visit").unwrap();
        let mut m = visit_mapping();
        m.fields[1].source = Some("NOPE".into());
        let e = CompiledMapping::new(&m, ds, &columns()).unwrap_err();
        assert!(e.to_string().contains("NOPE"), "{e}");
        let mut m = visit_mapping();
        m.fields[0].target = "visit_no".into();
        let e = CompiledMapping::new(&m, ds, &columns()).unwrap_err();
        assert!(e.to_string().contains("visit_no"), "{e}");
        let mut m = visit_mapping();
        m.fields.remove(0);
        let e = CompiledMapping::new(&m, ds, &columns()).unwrap_err();
        assert!(e.to_string().contains("visit_id"), "{e}");
        let mut m = visit_mapping();
        m.fields.push(m.fields[1].clone());
        let e = CompiledMapping::new(&m, ds, &columns()).unwrap_err();
        assert!(e.to_string().contains("twice"), "{e}");
    }

    #[test]
    fn a_mapping_survives_toml() {
        let m = visit_mapping();
        let text = toml::to_string(&m).unwrap();
        let back: TableMapping = toml::from_str(&text).unwrap();
        assert_eq!(back, m);
    }
}
