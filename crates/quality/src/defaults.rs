//! The default rule set, derived from the regional standard: every required field, value domain,
//! national code table, key and reference, the comparisons its rule texts state (`≥ admit_time`,
//! `= insurance_paid + self_paid (± 0.01)`, `1–90`), and timeliness of every dataset.

use crate::rule::{Check, CompareOp, Dimension, Rule, Severity};
use hdos_core::standard::{Dataset, Field, FieldType, Standard};

/// Acceptable failure rate of a default rule: above one record in two hundred, a ticket.
pub const DEFAULT_THRESHOLD: f64 = 0.005;

/// Hours within which a record should reach its source system after its event.
pub const REPORT_HOURS: f64 = 48.0;

/// Hours after which an institution's dataset counts as stale.
pub const FRESHNESS_HOURS: f64 = 72.0;

struct Rules<'a> {
    dataset: &'a Dataset,
    out: Vec<Rule>,
}

impl Rules<'_> {
    fn add(&mut self, id: &str, name: String, check: Check, dimension: Dimension) {
        let severity = match check {
            // What collection already refuses.
            Check::Required { .. } | Check::Conformance | Check::Unique { .. } => Severity::Hard,
            _ => Severity::Soft,
        };
        self.out.push(Rule {
            id: format!("{}.{id}", self.dataset.name),
            dataset: self.dataset.name.clone(),
            name: format!("{}：{name}", self.dataset.name_zh),
            check,
            dimension,
            severity,
            threshold: DEFAULT_THRESHOLD,
            institutions: Vec::new(),
            when: None,
        });
    }

    fn when(&mut self, condition: &str) {
        if let Some(last) = self.out.last_mut() {
            last.when = Some(condition.to_owned());
        }
    }
}

/// The default rules of every dataset of the standard.
pub fn default_rules(standard: &Standard) -> Vec<Rule> {
    standard
        .datasets()
        .iter()
        .flat_map(|d| dataset_rules(standard, d))
        .collect()
}

fn dataset_rules(standard: &Standard, d: &Dataset) -> Vec<Rule> {
    let mut r = Rules {
        dataset: d,
        out: Vec::new(),
    };
    r.add(
        "key.unique",
        format!("主键（{}）唯一", d.key.join("、")),
        Check::Unique {
            fields: d.key.clone(),
        },
        Dimension::Uniqueness,
    );
    r.add(
        "conformance",
        "取值符合标准类型、长度与编码".into(),
        Check::Conformance,
        Dimension::Validity,
    );
    for f in &d.fields {
        field_rules(standard, &mut r, f);
    }
    timeliness(&mut r);
    // Every institution sees outpatients daily: a silent visit table means a broken link. The
    // sparser datasets (infectious reports, stays) go quiet for days in good health.
    if d.name == "outpatient_visit" {
        r.add(
            "freshness",
            format!("各机构数据更新不超过 {FRESHNESS_HOURS} 小时"),
            Check::Freshness {
                max_hours: FRESHNESS_HOURS,
            },
            Dimension::Timeliness,
        );
    }
    r.out
}

fn field_rules(standard: &Standard, r: &mut Rules<'_>, f: &Field) {
    let d = r.dataset;
    let name = &f.name;
    let label = &f.name_zh;
    if f.required {
        r.add(
            &format!("{name}.required"),
            format!("{label} 必填"),
            Check::Required {
                field: name.clone(),
            },
            Dimension::Completeness,
        );
    }
    if !f.domain.is_empty() {
        r.add(
            &format!("{name}.domain"),
            format!("{label} 取值在值域内"),
            Check::Domain {
                field: name.clone(),
                codes: f.domain.iter().map(|c| c.code.clone()).collect(),
            },
            Dimension::Validity,
        );
    }
    let rule_text = f.rule.as_deref().unwrap_or_default();
    match f.code_system.as_deref() {
        Some("ICD-10") => r.add(
            &format!("{name}.icd10"),
            format!("{label} 为有效的 ICD-10 编码"),
            Check::Icd10 {
                field: name.clone(),
            },
            Dimension::Validity,
        ),
        Some("GB/T 2260") => r.add(
            &format!("{name}.region"),
            format!("{label} 为有效的行政区划代码"),
            Check::Region {
                field: name.clone(),
            },
            Dimension::Validity,
        ),
        _ if rule_text.starts_with("LOINC") => r.add(
            &format!("{name}.loinc"),
            format!("{label} 为有效的 LOINC 编码"),
            Check::Loinc {
                field: name.clone(),
            },
            Dimension::Validity,
        ),
        _ => {}
    }
    if name == "id_no" && d.field("id_type").is_some() {
        r.add(
            "id_no.id_number",
            format!("{label} 符合 GB 11643（校验位、出生日期）"),
            Check::IdNumber {
                field: name.clone(),
            },
            Dimension::Validity,
        );
        r.when("id_type = '01'");
        for (field, kind) in [("birth_date", "birth"), ("sex_code", "sex")] {
            let Some(other) = d.field(field) else {
                continue;
            };
            let check = if kind == "birth" {
                Check::IdBirthDate {
                    id_field: name.clone(),
                    birth_field: field.into(),
                }
            } else {
                Check::IdSex {
                    id_field: name.clone(),
                    sex_field: field.into(),
                }
            };
            r.add(
                &format!("{field}.matches_id"),
                format!("{} 与身份证号一致", other.name_zh),
                check,
                Dimension::Consistency,
            );
            r.when("id_type = '01'");
        }
    }
    // A time the standard orders before another field (`≤ reported_at`) is checked against
    // that field; the others against the time the record was written.
    if f.field_type.is_temporal() && name != "updated_at" && !rule_text.starts_with("≤ ") {
        r.add(
            &format!("{name}.not_future"),
            format!("{label} 不晚于记录写入时间"),
            Check::NotFuture {
                field: name.clone(),
            },
            Dimension::Validity,
        );
    }
    stated_rule(r, f, rule_text);
    if let Some(fk) = &f.foreign_key {
        reference(standard, r, f, fk);
    }
}

/// Rules a field's rule text states in the standard's notation.
fn stated_rule(r: &mut Rules<'_>, f: &Field, text: &str) {
    let d = r.dataset;
    let (name, label) = (&f.name, &f.name_zh);
    let numeric = matches!(f.field_type, FieldType::Int | FieldType::Dec { .. });
    for (sign, op) in [("≥ ", CompareOp::Ge), ("≤ ", CompareOp::Le)] {
        let Some(rest) = text.strip_prefix(sign) else {
            continue;
        };
        let other = rest.split_whitespace().next().unwrap_or_default();
        if let Some(o) = d.field(other) {
            r.add(
                &format!(
                    "{name}.{}_{other}",
                    if op == CompareOp::Ge {
                        "after"
                    } else {
                        "before"
                    }
                ),
                format!("{label} {sign}{}", o.name_zh),
                Check::Compare {
                    left: name.clone(),
                    op,
                    right: other.into(),
                },
                Dimension::Consistency,
            );
        } else if numeric && other.parse::<f64>().is_ok() {
            let bound = Some(other.to_owned());
            let (min, max) = if op == CompareOp::Ge {
                (bound, None)
            } else {
                (None, bound)
            };
            r.add(
                &format!("{name}.range"),
                format!("{label} {sign}{other}"),
                Check::Range {
                    field: name.clone(),
                    min,
                    max,
                },
                Dimension::Validity,
            );
        }
    }
    if numeric && let Some((lo, hi)) = text.split_once('–') {
        let (lo, hi) = (lo.trim(), hi.trim());
        if lo.parse::<f64>().is_ok() && hi.parse::<f64>().is_ok() {
            r.add(
                &format!("{name}.range"),
                format!("{label} 在 {lo}–{hi} 之间"),
                Check::Range {
                    field: name.clone(),
                    min: Some(lo.into()),
                    max: Some(hi.into()),
                },
                Dimension::Validity,
            );
        }
    }
    if let Some(sum) = text.strip_prefix("= ") {
        let (expr, tolerance) = match sum.split_once("(±") {
            Some((e, t)) => (e, t.trim_end_matches(')').trim()),
            None => (sum, "0"),
        };
        let parts: Vec<String> = expr.split('+').map(|p| p.trim().to_owned()).collect();
        if parts.iter().all(|p| d.field(p).is_some()) {
            r.add(
                &format!("{name}.sum"),
                format!("{label} = {}（± {tolerance}）", parts.join(" + ")),
                Check::Sum {
                    total: name.clone(),
                    parts,
                    tolerance: tolerance.into(),
                },
                Dimension::Consistency,
            );
        }
    }
}

/// A reference to another collected dataset, joined on that dataset's whole key (the
/// institution code with a local id).
fn reference(standard: &Standard, r: &mut Rules<'_>, f: &Field, fk: &str) {
    let d = r.dataset;
    let Some((target, target_field)) = fk.split_once('.') else {
        return;
    };
    // Institutions are the platform's own register, not a collected dataset.
    let Some(t) = standard.dataset(target).filter(|t| t.name != "institution") else {
        return;
    };
    let mut fields = Vec::new();
    for k in &t.key {
        if k == target_field {
            fields.push(f.name.clone());
        } else if d.field(k).is_some() {
            fields.push(k.clone());
        } else {
            return;
        }
    }
    r.add(
        &format!("{}.reference", f.name),
        format!("{} 对应的{}存在", f.name_zh, t.name_zh),
        Check::Reference {
            fields,
            dataset: t.name.clone(),
            target_fields: t.key.clone(),
        },
        Dimension::Consistency,
    );
}

/// Records reach their source within [`REPORT_HOURS`] of their event; infectious-disease reports
/// within the statutory limits.
fn timeliness(r: &mut Rules<'_>) {
    let d = r.dataset;
    let event: Vec<String> = match d.name.as_str() {
        "outpatient_visit" => vec!["visit_time".into()],
        "inpatient_stay" => vec!["discharge_time".into(), "admit_time".into()],
        "diagnosis" => vec!["diagnosed_at".into()],
        "lab_result" => vec!["reported_at".into()],
        "prescription" => vec!["prescribed_at".into()],
        "settlement" => vec!["settled_at".into()],
        "infectious_report" => vec!["reported_at".into()],
        _ => return,
    };
    r.add(
        "updated_at.timeliness",
        format!("事件发生后 {REPORT_HOURS} 小时内写入业务系统"),
        Check::Timeliness {
            event,
            reported: "updated_at".into(),
            max_hours: REPORT_HOURS,
        },
        Dimension::Timeliness,
    );
    if d.name == "inpatient_stay" {
        // Times that contradict each other cannot be judged for delay.
        r.when("discharge_time IS NULL OR discharge_time >= admit_time");
    }
    if d.name == "infectious_report" {
        // The diagnosis is recorded as a date: the limits run from the end of that day.
        for (class, hours, label) in [("甲", 26.0, "甲类 2 小时"), ("乙", 48.0, "乙类 24 小时")]
        {
            r.add(
                &format!(
                    "reported_at.deadline_{}",
                    if class == "甲" { "a" } else { "b" }
                ),
                format!("{label}内报告"),
                Check::Timeliness {
                    event: vec!["diagnosis_date".into()],
                    reported: "reported_at".into(),
                    max_hours: hours,
                },
                Dimension::Timeliness,
            );
            r.when(&format!("disease_class = '{class}'"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_yields_valid_rules_with_unique_ids() {
        let std = Standard::builtin().expect("standard");
        let rules = default_rules(std);
        let mut ids: Vec<&str> = rules.iter().map(|r| r.id.as_str()).collect();
        ids.sort_unstable();
        let n = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), n, "duplicate ids");
        for r in &rules {
            r.validate(std).unwrap_or_else(|e| panic!("{}: {e}", r.id));
        }
        let find = |id: &str| rules.iter().find(|r| r.id == id).map(|r| &r.check);
        assert!(matches!(
            find("inpatient_stay.discharge_time.after_admit_time"),
            Some(Check::Compare {
                op: CompareOp::Ge,
                ..
            })
        ));
        assert!(matches!(
            find("settlement.total_amount.sum"),
            Some(Check::Sum { parts, tolerance, .. }) if parts.len() == 2 && tolerance == "0.01"
        ));
        assert!(matches!(
            find("prescription.days.range"),
            Some(Check::Range { min: Some(lo), max: Some(hi), .. }) if lo == "1" && hi == "90"
        ));
        assert!(matches!(
            find("outpatient_visit.patient_id.reference"),
            Some(Check::Reference { fields, .. }) if fields == &["institution_code", "patient_id"]
        ));
        assert!(matches!(
            find("lab_result.loinc_code.loinc"),
            Some(Check::Loinc { .. })
        ));
        assert!(find("patient.id_no.id_number").is_some());
        assert!(find("patient.sex_code.matches_id").is_some());
        assert!(find("lab_result.sampled_at.before_reported_at").is_some());
        for d in std.datasets() {
            assert!(find(&format!("{}.key.unique", d.name)).is_some());
        }
    }
}
