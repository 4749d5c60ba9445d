//! Quality rules: what is checked, on which dataset and institutions, how it counts and how much
//! failure is acceptable. Rules are stored as JSON; [`Rule::validate`] refuses one that could not
//! run against the standard.

use crate::QualityError;
use hdos_core::standard::{Dataset, FieldType, Standard};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The five quality dimensions scores are reported in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    Completeness,
    Validity,
    Consistency,
    Uniqueness,
    Timeliness,
}

impl Dimension {
    pub const ALL: [Dimension; 5] = [
        Self::Completeness,
        Self::Validity,
        Self::Consistency,
        Self::Uniqueness,
        Self::Timeliness,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Completeness => "completeness",
            Self::Validity => "validity",
            Self::Consistency => "consistency",
            Self::Uniqueness => "uniqueness",
            Self::Timeliness => "timeliness",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.name() == name)
    }
}

/// Hard: the record is refused (at collection it goes to quarantine). Soft: flagged, kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Hard,
    Soft,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Self::Hard => "hard",
            Self::Soft => "soft",
        }
    }
}

/// A comparison between two fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CompareOp {
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = ">=")]
    Ge,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = "=")]
    Eq,
}

impl CompareOp {
    pub fn sql(self) -> &'static str {
        match self {
            Self::Le => "<=",
            Self::Lt => "<",
            Self::Ge => ">=",
            Self::Gt => ">",
            Self::Eq => "=",
        }
    }
}

/// What a rule checks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Check {
    /// The field has a value (records refused at collection for lacking it count as failures).
    Required { field: String },
    /// The value is one of the codes.
    Domain { field: String, codes: Vec<String> },
    /// The value matches the regular expression.
    Format { field: String, pattern: String },
    /// The value lies within the bounds (numbers, or `YYYY-MM-DD` dates and times).
    Range {
        field: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<String>,
    },
    /// The time is not after the record was written at the source (nor after it arrived).
    NotFuture { field: String },
    /// A GB 11643 resident ID number with a valid check character and birth date.
    IdNumber { field: String },
    /// The birth date agrees with the one in the ID number.
    IdBirthDate {
        id_field: String,
        birth_field: String,
    },
    /// The sex code agrees with the ID number's sex digit.
    IdSex { id_field: String, sex_field: String },
    /// An ICD-10 code in either accepted form, and in the loaded ICD-10 code table when one is.
    Icd10 { field: String },
    /// A LOINC code with a valid check digit.
    Loinc { field: String },
    /// A GB/T 2260 division code.
    Region { field: String },
    /// `left op right` holds.
    Compare {
        left: String,
        op: CompareOp,
        right: String,
    },
    /// `total` equals the sum of `parts` within `tolerance`.
    Sum {
        total: String,
        parts: Vec<String>,
        tolerance: String,
    },
    /// No two records share the dataset's key (duplicates are found where records arrive).
    Unique { fields: Vec<String> },
    /// The fields name an existing record of another dataset.
    Reference {
        fields: Vec<String>,
        dataset: String,
        target_fields: Vec<String>,
    },
    /// The record was reported within `max_hours` of its event (the first non-empty of `event`).
    Timeliness {
        event: Vec<String>,
        reported: String,
        max_hours: f64,
    },
    /// Values readable as their standard type, length and encoding (checked at collection).
    Conformance,
    /// Each institution's newest record is at most `max_hours` old.
    Freshness { max_hours: f64 },
    /// Each institution has between `min` and `max` records a day, by the day (UTC+8) of
    /// `field`; a day without any between two with some counts as 0.
    Volume {
        field: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<u64>,
    },
    /// A SQL condition every valid record meets.
    Sql { predicate: String },
}

impl Check {
    /// The fields the check reads, in the order their values are shown for a failure.
    pub fn fields(&self) -> Vec<&str> {
        match self {
            Self::Required { field }
            | Self::Domain { field, .. }
            | Self::Format { field, .. }
            | Self::Range { field, .. }
            | Self::NotFuture { field }
            | Self::IdNumber { field }
            | Self::Icd10 { field }
            | Self::Loinc { field }
            | Self::Region { field }
            | Self::Volume { field, .. } => vec![field],
            Self::IdBirthDate {
                id_field,
                birth_field,
            } => vec![birth_field, id_field],
            Self::IdSex {
                id_field,
                sex_field,
            } => vec![sex_field, id_field],
            Self::Compare { left, right, .. } => vec![left, right],
            Self::Sum { total, parts, .. } => std::iter::once(total.as_str())
                .chain(parts.iter().map(String::as_str))
                .collect(),
            Self::Unique { fields } | Self::Reference { fields, .. } => {
                fields.iter().map(String::as_str).collect()
            }
            Self::Timeliness {
                event, reported, ..
            } => std::iter::once(reported.as_str())
                .chain(event.iter().map(String::as_str))
                .collect(),
            Self::Conformance | Self::Freshness { .. } | Self::Sql { .. } => Vec::new(),
        }
    }

    /// The kind's name, as stored.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Required { .. } => "required",
            Self::Domain { .. } => "domain",
            Self::Format { .. } => "format",
            Self::Range { .. } => "range",
            Self::NotFuture { .. } => "not_future",
            Self::IdNumber { .. } => "id_number",
            Self::IdBirthDate { .. } => "id_birth_date",
            Self::IdSex { .. } => "id_sex",
            Self::Icd10 { .. } => "icd10",
            Self::Loinc { .. } => "loinc",
            Self::Region { .. } => "region",
            Self::Compare { .. } => "compare",
            Self::Sum { .. } => "sum",
            Self::Unique { .. } => "unique",
            Self::Reference { .. } => "reference",
            Self::Timeliness { .. } => "timeliness",
            Self::Conformance => "conformance",
            Self::Freshness { .. } => "freshness",
            Self::Volume { .. } => "volume",
            Self::Sql { .. } => "sql",
        }
    }
}

/// A quality rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Stable id, e.g. `patient.id_no.id_number`.
    pub id: String,
    pub dataset: String,
    /// What it means, in the words shown to users.
    pub name: String,
    pub check: Check,
    pub dimension: Dimension,
    pub severity: Severity,
    /// Acceptable failure rate, 0–1: above it a ticket is raised.
    pub threshold: f64,
    /// Institutions it applies to (all when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub institutions: Vec<String>,
    /// A SQL condition limiting the records it applies to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
}

/// Why a rule was refused, in the reader's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleProblem(pub String);

impl fmt::Display for RuleProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Rule {
    /// Reads a stored definition.
    pub fn from_json(text: &str) -> Result<Self, QualityError> {
        serde_json::from_str(text).map_err(|e| QualityError::InvalidRule {
            rule: String::new(),
            reason: format!("not a rule definition: {e}"),
        })
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Checks the rule against the standard: the dataset and fields exist, types suit the
    /// check, patterns compile, conditions are boolean SQL using allowed functions.
    pub fn validate(&self, standard: &Standard) -> Result<(), QualityError> {
        self.problem(standard)
            .map_err(|p| QualityError::InvalidRule {
                rule: self.id.clone(),
                reason: p.0,
            })
    }

    fn problem(&self, standard: &Standard) -> Result<(), RuleProblem> {
        let bad = |m: String| Err(RuleProblem(m));
        if self.id.trim().is_empty()
            || !self
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        {
            return bad(format!(
                "rule id `{}` must be letters, digits, `.`, `_` or `-`",
                self.id
            ));
        }
        if let Some(code) = self
            .institutions
            .iter()
            .find(|i| i.is_empty() || !i.chars().all(|c| c.is_ascii_alphanumeric()))
        {
            return bad(format!(
                "`{code}` is not an institution code (letters and digits, e.g. a unified social credit code)"
            ));
        }
        if !(0.0..=1.0).contains(&self.threshold) {
            return bad(format!(
                "threshold {} must be a failure rate between 0 and 1",
                self.threshold
            ));
        }
        let Some(dataset) = standard.dataset(&self.dataset) else {
            return bad(format!(
                "`{}` is not a dataset of the standard",
                self.dataset
            ));
        };
        for field in self.check.fields() {
            field_type(dataset, field)?;
        }
        let schema = hdos_lake::standard::std_schema(dataset);
        if let Some(when) = &self.when {
            hdos_lake::check_predicate(&schema, when)
                .map_err(|e| RuleProblem(format!("condition `when`: {e}")))?;
        }
        self.check_specifics(standard, dataset, &schema)
    }

    fn check_specifics(
        &self,
        standard: &Standard,
        dataset: &Dataset,
        schema: &hdos_lake::arrow::datatypes::Schema,
    ) -> Result<(), RuleProblem> {
        let bad = |m: String| Err(RuleProblem(m));
        let text = |f: &str| -> Result<(), RuleProblem> {
            match field_type(dataset, f)? {
                FieldType::Str { .. } | FieldType::Code => Ok(()),
                t => bad(format!("`{f}` is `{t}`, not text")),
            }
        };
        let temporal = |f: &str| -> Result<(), RuleProblem> {
            let t = field_type(dataset, f)?;
            if t.is_temporal() {
                Ok(())
            } else {
                bad(format!("`{f}` is `{t}`, not a date or time"))
            }
        };
        match &self.check {
            Check::Required { .. } | Check::Conformance => Ok(()),
            Check::Domain { field, codes } => {
                text(field)?;
                if codes.is_empty() {
                    return bad("a value domain needs at least one code".into());
                }
                Ok(())
            }
            Check::Format { field, pattern } => {
                text(field)?;
                regex::Regex::new(pattern).map(|_| ()).map_err(|e| {
                    RuleProblem(format!(
                        "pattern `{pattern}` is not a regular expression: {}",
                        first_line(&e.to_string())
                    ))
                })
            }
            Check::Range { field, min, max } => {
                if min.is_none() && max.is_none() {
                    return bad("a range needs a minimum, a maximum or both".into());
                }
                let t = field_type(dataset, field)?;
                for bound in [min, max].into_iter().flatten() {
                    crate::compile::literal(t, bound).map_err(RuleProblem)?;
                }
                Ok(())
            }
            Check::NotFuture { field } => temporal(field),
            Check::IdNumber { field }
            | Check::Icd10 { field }
            | Check::Loinc { field }
            | Check::Region { field } => text(field),
            Check::IdBirthDate {
                id_field,
                birth_field,
            } => {
                text(id_field)?;
                temporal(birth_field)
            }
            Check::IdSex {
                id_field,
                sex_field,
            } => {
                text(id_field)?;
                text(sex_field)
            }
            Check::Compare { left, right, .. } => same_kind(dataset, left, right),
            Check::Sum {
                total,
                parts,
                tolerance,
            } => {
                if parts.is_empty() {
                    return bad("a sum needs at least one part".into());
                }
                for f in std::iter::once(total).chain(parts) {
                    let t = field_type(dataset, f)?;
                    if !matches!(t, FieldType::Int | FieldType::Dec { .. }) {
                        return bad(format!("`{f}` is `{t}`, not a number"));
                    }
                }
                tolerance
                    .parse::<f64>()
                    .ok()
                    .filter(|t| t.is_finite() && *t >= 0.0)
                    .map(|_| ())
                    .ok_or_else(|| {
                        RuleProblem(format!("tolerance `{tolerance}` is not a number ≥ 0"))
                    })
            }
            Check::Unique { fields } => {
                if *fields != dataset.key {
                    return bad(format!(
                        "uniqueness is checked on the dataset key ({})",
                        dataset.key.join(", ")
                    ));
                }
                Ok(())
            }
            Check::Reference {
                fields,
                dataset: target,
                target_fields,
            } => {
                let Some(target_ds) = standard.dataset(target) else {
                    return bad(format!("`{target}` is not a dataset of the standard"));
                };
                if fields.is_empty() || fields.len() != target_fields.len() {
                    return bad("a reference needs as many target fields as fields".into());
                }
                for (f, t) in fields.iter().zip(target_fields) {
                    let (a, b) = (field_type(dataset, f)?, field_type(target_ds, t)?);
                    if a != b {
                        return bad(format!("`{f}` is `{a}` but `{target}.{t}` is `{b}`"));
                    }
                }
                Ok(())
            }
            Check::Timeliness {
                event,
                reported,
                max_hours,
            } => {
                if event.is_empty() {
                    return bad("timeliness needs an event field".into());
                }
                for f in event.iter().chain(std::iter::once(reported)) {
                    temporal(f)?;
                }
                positive(*max_hours)
            }
            Check::Freshness { max_hours } => positive(*max_hours),
            Check::Volume { field, min, max } => {
                temporal(field)?;
                if self.when.is_some() {
                    return bad("a daily volume counts every record: it takes no condition".into());
                }
                match (min, max) {
                    (None, None) => bad("a volume needs a minimum, a maximum or both".into()),
                    (Some(lo), Some(hi)) if lo > hi => bad(format!(
                        "the minimum {lo} is above the maximum {hi} rows a day"
                    )),
                    _ => Ok(()),
                }
            }
            Check::Sql { predicate } => hdos_lake::check_predicate(schema, predicate)
                .map_err(|e| RuleProblem(e.to_string())),
        }
    }
}

fn positive(hours: f64) -> Result<(), RuleProblem> {
    if hours.is_finite() && hours > 0.0 {
        Ok(())
    } else {
        Err(RuleProblem(format!(
            "{hours} hours: give a number of hours above 0"
        )))
    }
}

fn first_line(s: &str) -> String {
    s.lines().last().unwrap_or_default().trim().to_owned()
}

/// The type of a field, or why it is not one.
pub(crate) fn field_type(dataset: &Dataset, field: &str) -> Result<FieldType, RuleProblem> {
    if field == "_hdos_ingested_at" {
        return Ok(FieldType::Timestamp);
    }
    dataset.field(field).map(|f| f.field_type).ok_or_else(|| {
        RuleProblem(format!(
            "`{field}` is not a field of the dataset `{}`",
            dataset.name
        ))
    })
}

/// Both fields are numbers, both texts, or both dates/times.
fn same_kind(dataset: &Dataset, a: &str, b: &str) -> Result<(), RuleProblem> {
    let class = |t: FieldType| match t {
        FieldType::Int | FieldType::Dec { .. } => 0,
        FieldType::Date | FieldType::Timestamp => 1,
        FieldType::Str { .. } | FieldType::Code => 2,
        FieldType::Bool => 3,
    };
    let (ta, tb) = (field_type(dataset, a)?, field_type(dataset, b)?);
    if class(ta) == class(tb) {
        Ok(())
    } else {
        Err(RuleProblem(format!(
            "`{a}` is `{ta}` and `{b}` is `{tb}`: they cannot be compared"
        )))
    }
}
