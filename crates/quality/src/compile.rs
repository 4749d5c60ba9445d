//! Compiles a dataset's record rules into one SQL query: each rule becomes a column that is NULL
//! where it does not apply, true where the record fails and false where it passes. Validators are
//! hdos SQL functions and references are joins, so a run is one vectorised scan per dataset.

use crate::rule::{Check, Rule};
use chrono::{NaiveDate, NaiveDateTime};
use hdos_core::standard::{Dataset, FieldType};
use hdos_lake::TableName;

/// The time zone of the region's local dates and times (UTC+8).
const LOCAL_OFFSET_SECONDS: i64 = 8 * 3600;

/// The name under which the ICD-10 code table is stored in the lake, when loaded.
pub const ICD10_TABLE: &str = "ref/icd10";

/// One dataset's scan.
#[derive(Debug, Clone)]
pub struct ScanPlan {
    pub sql: String,
    /// Tables the query reads.
    pub tables: Vec<TableName>,
    /// The dataset's key fields, selected after the institution column.
    pub keys: Vec<String>,
    /// Fields whose values are shown for failures, selected after the keys.
    pub values: Vec<String>,
    /// Per rule column (selected last), the rule's index in the input and its fields' positions
    /// in `values`.
    pub rules: Vec<(usize, Vec<usize>)>,
    /// `FROM … WHERE …`: the window's std rows (alias `t`) with their lookups joined.
    from: String,
    /// Each rule's column, `CASE … END AS "_r{i}"`.
    rule_columns: Vec<String>,
}

/// The column of [`ScanPlan::failing_rows_sql`] holding each record's key as failures show it.
pub const KEY_COLUMN: &str = "_hdos_key";

impl ScanPlan {
    /// Every column of the std rows that fail at least one rule, then [`KEY_COLUMN`], then the
    /// rule columns (`_r{i}`). With `moved` (a quarantine table holding records moved there by
    /// quality control, by key and arrival stamp), records already moved are left out.
    pub fn failing_rows_sql(&self, moved: Option<&TableName>) -> String {
        let any: Vec<String> = (0..self.rule_columns.len())
            .map(|i| format!("coalesce(s.\"_r{i}\", false)"))
            .collect();
        let mut sql = format!(
            "SELECT s.* FROM (SELECT t.*, {} AS \"{KEY_COLUMN}\", {} {}) s",
            key_text(&self.keys),
            self.rule_columns.join(", "),
            self.from
        );
        let mut filter = vec![format!("({})", any.join(" OR "))];
        if let Some(q) = moved {
            sql.push_str(&format!(
                " LEFT JOIN (SELECT DISTINCT record_key, \"_hdos_received_at\" FROM {} \
                 WHERE \"{}\" IS NOT NULL) m ON m.record_key = s.\"{KEY_COLUMN}\" \
                 AND m.\"_hdos_received_at\" = s.\"_hdos_ingested_at\"",
                q.sql_name(),
                crate::hard::MOVED_BY
            ));
            filter.push("m.record_key IS NULL".into());
        }
        format!("{sql} WHERE {}", filter.join(" AND "))
    }
}

/// What the lake offers references and code checks.
#[derive(Debug, Clone, Default)]
pub struct Lookups {
    /// The ICD-10 code table is loaded.
    pub icd10_table: bool,
    /// Datasets whose quarantine keeps the keys of refused records.
    pub quarantined_keys: Vec<String>,
    /// Datasets with a std table: a reference to another is not judged.
    pub collected: Vec<String>,
    /// Each dataset's key.
    pub keys: std::collections::HashMap<String, Vec<String>>,
}

/// Which rows a scan reads: those that arrived in `(after, until]` (µs), or all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub after: Option<i64>,
    pub until: i64,
}

/// Whether a rule is evaluated in the scan (the others come from collection or aggregates).
pub fn is_record_rule(check: &Check) -> bool {
    !matches!(
        check,
        Check::Unique { .. } | Check::Conformance | Check::Freshness { .. } | Check::Volume { .. }
    )
}

/// A record's key as failures and quarantine show it (values joined by ` / `), from the std
/// row aliased `t`.
pub(crate) fn key_text(keys: &[String]) -> String {
    let parts: Vec<String> = keys
        .iter()
        .map(|k| format!("CAST({} AS VARCHAR)", col(k)))
        .collect();
    format!("concat_ws(' / ', {})", parts.join(", "))
}

/// The conditions selecting the std rows (alias `t`) of `window`.
pub(crate) fn window_filter(window: Window) -> Vec<String> {
    let mut filter = vec![format!(
        "t.\"_hdos_ingested_at\" <= {}",
        utc_micros(window.until)
    )];
    if let Some(after) = window.after {
        filter.push(format!("t.\"_hdos_ingested_at\" > {}", utc_micros(after)));
    }
    filter
}

/// The day (in the region's time zone) of a date or time field of `t`.
pub(crate) fn local_day(dataset: &Dataset, f: &str) -> String {
    match dataset.field(f).map(|x| x.field_type) {
        Some(FieldType::Date) => col(f),
        _ => format!(
            "CAST({} + INTERVAL '{} hours' AS DATE)",
            col(f),
            LOCAL_OFFSET_SECONDS / 3600
        ),
    }
}

fn col(f: &str) -> String {
    format!("t.\"{f}\"")
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A UTC timestamp literal from microseconds since the epoch.
pub(crate) fn utc_micros(micros: i64) -> String {
    format!("arrow_cast({micros}, 'Timestamp(Microsecond, Some(\"UTC\"))')")
}

/// A bound of a range rule as a SQL literal of the field's type.
pub fn literal(t: FieldType, text: &str) -> Result<String, String> {
    let s = text.trim();
    let bad = |what: &str| format!("`{text}` is not {what}");
    match t {
        FieldType::Int => s
            .parse::<i64>()
            .map(|v| v.to_string())
            .map_err(|_| bad("an integer")),
        FieldType::Dec { .. } => s
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .map(|_| s.to_owned())
            .ok_or_else(|| bad("a number")),
        FieldType::Date => NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map(|d| format!("DATE '{d}'"))
            .map_err(|_| bad("a date (YYYY-MM-DD)")),
        FieldType::Timestamp => NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
            .or_else(|_| {
                NaiveDate::parse_from_str(s, "%Y-%m-%d").map(|d| d.and_time(chrono::NaiveTime::MIN))
            })
            .map(|t| utc_micros(t.and_utc().timestamp_micros() - LOCAL_OFFSET_SECONDS * 1_000_000))
            .map_err(|_| bad("a time (YYYY-MM-DD or YYYY-MM-DD HH:MM:SS, UTC+8)")),
        FieldType::Str { .. } | FieldType::Code => Ok(quote(s)),
        FieldType::Bool => match s {
            "true" | "false" => Ok(s.to_owned()),
            _ => Err(bad("true or false")),
        },
    }
}

/// A date or time field as a UTC timestamp, for arithmetic with times: a date is the instant
/// its day starts in the region.
fn as_time(dataset: &Dataset, f: &str) -> String {
    match dataset.field(f).map(|x| x.field_type) {
        Some(FieldType::Date) => format!(
            "(arrow_cast(arrow_cast({}, 'Timestamp(Second, None)'), 'Timestamp(Microsecond, Some(\"UTC\"))') - INTERVAL '{} hours')",
            col(f),
            LOCAL_OFFSET_SECONDS / 3600
        ),
        _ => col(f),
    }
}

struct Builder<'a> {
    dataset: &'a Dataset,
    /// Datasets whose quarantine records their keys (text keys only).
    quarantined_keys: &'a [String],
    /// Each dataset's key, the order quarantine's `record_key` lists values in.
    target_keys: &'a std::collections::HashMap<String, Vec<String>>,
    joins: Vec<String>,
    tables: Vec<TableName>,
}

impl Builder<'_> {
    /// `(applies, fails)` SQL of a record rule.
    fn condition(&mut self, rule: &Rule, icd10_table: bool) -> Result<(String, String), String> {
        let not_null = |fields: &[&str]| {
            fields
                .iter()
                .map(|f| format!("{} IS NOT NULL", col(f)))
                .collect::<Vec<_>>()
                .join(" AND ")
        };
        let d = self.dataset;
        Ok(match &rule.check {
            Check::Required { field } => {
                let blank = match d.field(field).map(|f| f.field_type) {
                    Some(FieldType::Str { .. } | FieldType::Code) => {
                        format!(" OR trim({}) = ''", col(field))
                    }
                    _ => String::new(),
                };
                ("true".into(), format!("{} IS NULL{blank}", col(field)))
            }
            Check::Domain { field, codes } => {
                let list: Vec<String> = codes.iter().map(|c| quote(c)).collect();
                (
                    not_null(&[field]),
                    format!("{} NOT IN ({})", col(field), list.join(", ")),
                )
            }
            Check::Format { field, pattern } => (
                not_null(&[field]),
                format!("NOT regexp_like({}, {})", col(field), quote(pattern)),
            ),
            Check::Range { field, min, max } => {
                let t = d.field(field).map(|f| f.field_type).ok_or("no field")?;
                let mut out = Vec::new();
                if let Some(m) = min {
                    out.push(format!("{} < {}", col(field), literal(t, m)?));
                }
                if let Some(m) = max {
                    out.push(format!("{} > {}", col(field), literal(t, m)?));
                }
                (not_null(&[field]), out.join(" OR "))
            }
            Check::NotFuture { field } => {
                // A minute's grace for clocks that disagree.
                let written = "t.\"updated_at\"";
                (
                    not_null(&[field]),
                    format!(
                        "{v} > coalesce({written}, t.\"_hdos_ingested_at\") + INTERVAL '1 minute' \
                         OR {v} > t.\"_hdos_ingested_at\" + INTERVAL '1 minute'",
                        v = as_time(d, field)
                    ),
                )
            }
            Check::IdNumber { field } => (
                not_null(&[field]),
                format!("NOT hdos_id_valid({})", col(field)),
            ),
            Check::IdBirthDate {
                id_field,
                birth_field,
            } => (
                format!(
                    "{} AND hdos_id_valid({})",
                    not_null(&[id_field, birth_field]),
                    col(id_field)
                ),
                format!(
                    "hdos_id_birth_date({}) <> {}",
                    col(id_field),
                    col(birth_field)
                ),
            ),
            Check::IdSex {
                id_field,
                sex_field,
            } => (
                format!(
                    "{} IN ('1', '2') AND hdos_id_valid({})",
                    col(sex_field),
                    col(id_field)
                ),
                format!("hdos_id_sex({}) <> {}", col(id_field), col(sex_field)),
            ),
            Check::Icd10 { field } => {
                let mut fails = format!("NOT hdos_icd10_valid({})", col(field));
                if icd10_table {
                    let alias = self.join_codes(field)?;
                    fails.push_str(&format!(" OR {alias}.code IS NULL"));
                }
                (not_null(&[field]), fails)
            }
            Check::Loinc { field } => (
                not_null(&[field]),
                format!("NOT hdos_loinc_valid({})", col(field)),
            ),
            Check::Region { field } => (
                not_null(&[field]),
                format!("NOT hdos_region_valid({})", col(field)),
            ),
            Check::Compare { left, op, right } => {
                let ty = |f: &str| d.field(f).map(|x| x.field_type);
                // A date against a time compares the instant the day starts.
                let (l, r) =
                    if ty(left) != ty(right) && ty(left).is_some_and(FieldType::is_temporal) {
                        (as_time(d, left), as_time(d, right))
                    } else {
                        (col(left), col(right))
                    };
                (
                    not_null(&[left, right]),
                    format!("NOT ({l} {} {r})", op.sql()),
                )
            }
            Check::Sum {
                total,
                parts,
                tolerance,
            } => {
                let mut all: Vec<&str> = vec![total];
                all.extend(parts.iter().map(String::as_str));
                let sum: Vec<String> = parts.iter().map(|p| col(p)).collect();
                (
                    not_null(&all),
                    format!(
                        "abs({} - ({})) > {}",
                        col(total),
                        sum.join(" + "),
                        tolerance.trim().parse::<f64>().map_err(|e| e.to_string())?
                    ),
                )
            }
            Check::Reference {
                fields,
                dataset,
                target_fields,
            } => {
                let alias = format!("ref_{}", self.joins.len());
                let target =
                    TableName::new(&format!("std/{dataset}")).map_err(|e| e.to_string())?;
                let select: Vec<String> = target_fields
                    .iter()
                    .enumerate()
                    .map(|(i, f)| format!("\"{f}\" AS k{i}"))
                    .collect();
                let on: Vec<String> = fields
                    .iter()
                    .enumerate()
                    .map(|(i, f)| format!("{} = {alias}.k{i}", col(f)))
                    .collect();
                let mut from = format!("SELECT {} FROM {}", select.join(", "), target.sql_name());
                // A record refused at collection was still sent: what refers to it is no orphan.
                let whole_key = self.target_keys.get(dataset) == Some(target_fields);
                if whole_key && self.quarantined_keys.iter().any(|q| q == dataset) {
                    let refused = TableName::new(&format!("quarantine/{dataset}"))
                        .map_err(|e| e.to_string())?;
                    let parts: Vec<String> = (0..target_fields.len())
                        .map(|i| format!("split_part(record_key, ' / ', {}) AS k{i}", i + 1))
                        .collect();
                    from.push_str(&format!(
                        " UNION SELECT {} FROM {} WHERE record_key IS NOT NULL",
                        parts.join(", "),
                        refused.sql_name()
                    ));
                    if !self.tables.contains(&refused) {
                        self.tables.push(refused);
                    }
                }
                self.joins.push(format!(
                    "LEFT JOIN (SELECT DISTINCT * FROM ({from})) {alias} ON {}",
                    on.join(" AND ")
                ));
                if !self.tables.contains(&target) {
                    self.tables.push(target);
                }
                let f: Vec<&str> = fields.iter().map(String::as_str).collect();
                (not_null(&f), format!("{alias}.k0 IS NULL"))
            }
            Check::Timeliness {
                event,
                reported,
                max_hours,
            } => {
                let events: Vec<String> = event.iter().map(|e| as_time(d, e)).collect();
                let at = format!("coalesce({})", events.join(", "));
                let micros = (max_hours * 3_600_000_000.0) as i64;
                (
                    format!("{at} IS NOT NULL AND {} IS NOT NULL", col(reported)),
                    format!(
                        "{} > {at} + arrow_cast({micros}, 'Duration(Microsecond)')",
                        as_time(d, reported)
                    ),
                )
            }
            Check::Sql { predicate } => (
                format!("({predicate}) IS NOT NULL"),
                format!("NOT ({predicate})"),
            ),
            Check::Unique { .. }
            | Check::Conformance
            | Check::Freshness { .. }
            | Check::Volume { .. } => {
                return Err(format!("rule `{}` is not a record rule", rule.id));
            }
        })
    }

    /// Joins the ICD-10 code table on `field`; returns its alias.
    fn join_codes(&mut self, field: &str) -> Result<String, String> {
        let alias = format!("ref_{}", self.joins.len());
        let table = TableName::new(ICD10_TABLE).map_err(|e| e.to_string())?;
        self.joins.push(format!(
            "LEFT JOIN (SELECT DISTINCT code FROM {}) {alias} ON {} = {alias}.code",
            table.sql_name(),
            col(field)
        ));
        if !self.tables.contains(&table) {
            self.tables.push(table);
        }
        Ok(alias)
    }
}

/// The scan of `dataset` evaluating `rules` (record rules only) over the rows in `window`.
pub fn plan(
    dataset: &Dataset,
    rules: &[&Rule],
    window: Window,
    lookups: &Lookups,
) -> Result<ScanPlan, String> {
    let std = TableName::new(&format!("std/{}", dataset.name)).map_err(|e| e.to_string())?;
    let mut b = Builder {
        dataset,
        quarantined_keys: &lookups.quarantined_keys,
        target_keys: &lookups.keys,
        joins: Vec::new(),
        tables: vec![std.clone()],
    };
    let keys = dataset.key.clone();
    let mut values: Vec<String> = Vec::new();
    let mut rule_columns = Vec::new();
    let mut selected = Vec::new();
    for (i, rule) in rules.iter().enumerate() {
        let (applies, fails) = b.condition(rule, lookups.icd10_table)?;
        let mut scope = vec![format!("({applies})")];
        if !rule.institutions.is_empty() {
            let list: Vec<String> = rule.institutions.iter().map(|c| quote(c)).collect();
            scope.push(format!("t.\"_hdos_institution\" IN ({})", list.join(", ")));
        }
        if let Some(when) = &rule.when {
            scope.push(format!("coalesce(({when}), false)"));
        }
        selected.push(format!(
            "CASE WHEN {} THEN coalesce(({fails}), false) END AS \"_r{i}\"",
            scope.join(" AND ")
        ));
        let positions = rule
            .check
            .fields()
            .into_iter()
            .map(|f| match values.iter().position(|v| v == f) {
                Some(p) => p,
                None => {
                    values.push(f.to_owned());
                    values.len() - 1
                }
            })
            .collect();
        rule_columns.push((i, positions));
    }
    let mut columns = vec!["t.\"_hdos_institution\"".to_owned()];
    columns.extend(
        keys.iter()
            .enumerate()
            .map(|(i, k)| format!("{} AS \"_k{i}\"", col(k))),
    );
    columns.extend(
        values
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{} AS \"_v{i}\"", col(v))),
    );
    columns.extend(selected.iter().cloned());
    let filter = window_filter(window);
    let from = format!(
        "FROM {} t {} WHERE {}",
        std.sql_name(),
        b.joins.join(" "),
        filter.join(" AND ")
    );
    Ok(ScanPlan {
        sql: format!("SELECT {} {from}", columns.join(", ")),
        tables: b.tables,
        keys,
        values,
        rules: rule_columns,
        from,
        rule_columns: selected,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::{Dimension, Severity};
    use hdos_core::standard::Standard;

    fn rule(check: Check) -> Rule {
        Rule {
            id: "r".into(),
            dataset: "settlement".into(),
            name: "r".into(),
            check,
            dimension: Dimension::Consistency,
            severity: Severity::Soft,
            threshold: 0.0,
            institutions: vec!["A".into()],
            when: Some("insurance_type = '1'".into()),
        }
    }

    #[test]
    fn a_rule_is_a_column_scoped_by_institution_and_condition() {
        let std = Standard::builtin().expect("standard");
        let ds = std.dataset("settlement").expect("settlement");
        let r = rule(Check::Sum {
            total: "total_amount".into(),
            parts: vec!["insurance_paid".into(), "self_paid".into()],
            tolerance: "0.01".into(),
        });
        let p = plan(
            ds,
            &[&r],
            Window {
                after: Some(5),
                until: 9,
            },
            &Lookups::default(),
        )
        .expect("plans");
        assert_eq!(p.values, ["total_amount", "insurance_paid", "self_paid"]);
        assert_eq!(p.rules, [(0, vec![0, 1, 2])]);
        assert!(
            p.sql.contains(
                "abs(t.\"total_amount\" - (t.\"insurance_paid\" + t.\"self_paid\")) > 0.01"
            ),
            "{}",
            p.sql
        );
        assert!(
            p.sql.contains("t.\"_hdos_institution\" IN ('A')"),
            "{}",
            p.sql
        );
        assert!(
            p.sql.contains("coalesce((insurance_type = '1'), false)"),
            "{}",
            p.sql
        );
        assert!(p.sql.contains("> arrow_cast(5,"), "{}", p.sql);
    }

    #[test]
    fn literals_follow_the_field_type() {
        assert_eq!(literal(FieldType::Int, "3"), Ok("3".into()));
        assert_eq!(
            literal(FieldType::Date, "2024-01-31"),
            Ok("DATE '2024-01-31'".into())
        );
        assert!(literal(FieldType::Date, "31/01/2024").is_err());
        assert!(literal(FieldType::Int, "x").is_err());
        assert_eq!(literal(FieldType::Code, "it's"), Ok("'it''s'".into()));
        // Local midnight is 16:00 UTC the day before.
        assert_eq!(
            literal(FieldType::Timestamp, "2024-01-01"),
            Ok(utc_micros(1_704_038_400_000_000))
        );
    }
}
