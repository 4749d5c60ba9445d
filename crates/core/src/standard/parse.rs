//! The TOML shape of a standard or extension file, converted into typed fields with errors that
//! name the dataset and field at fault.

use super::{CodeValue, Dataset, Field, FieldType, IcdRange};
use crate::{
    CoreError,
    classification::{DataCategory, DataLevel, IdentifierRole},
    validate::ws363,
};
use serde::Deserialize;
use std::collections::HashSet;

/// The file as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStandard {
    version: Option<String>,
    #[serde(default)]
    special_diseases: Vec<IcdRange>,
    #[serde(default)]
    datasets: Vec<RawDataset>,
}

/// A dataset as written; header keys are optional so an extension can add fields only.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDataset {
    name: String,
    name_zh: Option<String>,
    category: Option<String>,
    key: Option<Vec<String>>,
    cursor: Option<String>,
    #[serde(default)]
    fields: Vec<RawField>,
}

/// A field as written; enumerations and the level stay untyped so errors can carry context.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawField {
    name: String,
    name_zh: String,
    #[serde(rename = "type")]
    field_type: String,
    code_system: Option<String>,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    domain: Vec<CodeValue>,
    rule: Option<String>,
    de_id: Option<String>,
    role: Option<String>,
    level: i64,
    special_disease_level: Option<i64>,
    foreign_key: Option<String>,
}

/// A parsed file, before it is merged into a standard and checked as a whole.
pub(super) struct Parsed {
    /// The file's version label, if it has one.
    pub version: Option<String>,
    /// Special-disease ranges, each well-formed.
    pub special_diseases: Vec<IcdRange>,
    /// Datasets with distinct names.
    pub datasets: Vec<DatasetPatch>,
}

/// A dataset as a file states it: complete when new, possibly only `name` + `fields` when extending.
pub(super) struct DatasetPatch {
    /// Dataset name.
    pub name: String,
    /// Chinese name, if stated.
    pub name_zh: Option<String>,
    /// Category, if stated.
    pub category: Option<DataCategory>,
    /// Key fields, if stated.
    pub key: Option<Vec<String>>,
    /// Cursor field, if stated.
    pub cursor: Option<String>,
    /// Fields with distinct names, each checked on its own.
    pub fields: Vec<Field>,
}

impl From<Dataset> for DatasetPatch {
    fn from(d: Dataset) -> Self {
        Self {
            name: d.name,
            name_zh: Some(d.name_zh),
            category: Some(d.category),
            key: Some(d.key),
            cursor: d.cursor,
            fields: d.fields,
        }
    }
}

/// Reads a standard or extension file.
pub(super) fn parse(text: &str) -> Result<Parsed, CoreError> {
    let raw: RawStandard = toml::from_str(text)
        .map_err(|e| CoreError::InvalidStandard(format!("not valid TOML for a standard: {e}")))?;
    for range in &raw.special_diseases {
        range.check()?;
    }
    let mut seen = HashSet::new();
    let mut datasets = Vec::with_capacity(raw.datasets.len());
    for d in raw.datasets {
        if !seen.insert(d.name.clone()) {
            return Err(CoreError::InvalidStandard(format!(
                "duplicate dataset `{}`",
                d.name
            )));
        }
        datasets.push(dataset(d)?);
    }
    Ok(Parsed {
        version: raw.version,
        special_diseases: raw.special_diseases,
        datasets,
    })
}

/// Converts one dataset.
fn dataset(raw: RawDataset) -> Result<DatasetPatch, CoreError> {
    let RawDataset {
        name,
        name_zh,
        category,
        key,
        cursor,
        fields: raw_fields,
    } = raw;
    let bad = |msg: String| CoreError::InvalidStandard(format!("dataset `{name}`: {msg}"));
    check_identifier(&name).map_err(bad)?;
    if name_zh.as_deref().is_some_and(|z| z.trim().is_empty()) {
        return Err(bad("name_zh is empty".to_owned()));
    }
    let category = category
        .as_deref()
        .map(str::parse::<DataCategory>)
        .transpose()
        .map_err(|e| bad(e.to_string()))?;
    let mut fields: Vec<Field> = Vec::with_capacity(raw_fields.len());
    for f in raw_fields {
        if fields.iter().any(|known| known.name == f.name) {
            return Err(bad(format!("duplicate field `{}`", f.name)));
        }
        fields.push(field(&name, f)?);
    }
    Ok(DatasetPatch {
        name,
        name_zh,
        category,
        key,
        cursor,
        fields,
    })
}

/// Converts one field, checking what can be checked without the rest of the standard.
fn field(dataset: &str, raw: RawField) -> Result<Field, CoreError> {
    let RawField {
        name,
        name_zh,
        field_type,
        code_system,
        required,
        domain,
        rule,
        de_id,
        role,
        level,
        special_disease_level,
        foreign_key,
    } = raw;
    let bad = |msg: String| {
        CoreError::InvalidStandard(format!("dataset `{dataset}`, field `{name}`: {msg}"))
    };
    check_identifier(&name).map_err(bad)?;
    if name_zh.trim().is_empty() {
        return Err(bad("name_zh is empty".to_owned()));
    }
    let field_type: FieldType = field_type
        .parse()
        .map_err(|e: CoreError| bad(e.to_string()))?;
    let role = role
        .as_deref()
        .map(str::parse::<IdentifierRole>)
        .transpose()
        .map_err(|e| bad(e.to_string()))?
        .unwrap_or_default();
    let level = data_level(level).map_err(|e| bad(e.to_string()))?;
    let special_disease_level = special_disease_level
        .map(data_level)
        .transpose()
        .map_err(|e| bad(format!("special_disease_level: {e}")))?;
    if let Some(id) = &de_id {
        ws363::validate_de_id(id).map_err(|e| bad(e.to_string()))?;
    }
    if field_type != FieldType::Code {
        let code_only = [
            ("domain", !domain.is_empty()),
            ("code_system", code_system.is_some()),
            ("special_disease_level", special_disease_level.is_some()),
        ];
        if let Some((key, _)) = code_only.iter().find(|(_, present)| *present) {
            return Err(bad(format!(
                "{key} is only allowed on `code` fields, this one is `{field_type}`"
            )));
        }
    }
    let mut codes = HashSet::new();
    for value in &domain {
        if value.code.trim().is_empty() {
            return Err(bad("domain has an empty code".to_owned()));
        }
        if !codes.insert(value.code.as_str()) {
            return Err(bad(format!("domain code `{}` appears twice", value.code)));
        }
    }
    Ok(Field {
        name,
        name_zh,
        field_type,
        code_system,
        required,
        domain,
        rule,
        de_id,
        role,
        level,
        special_disease_level,
        foreign_key,
    })
}

/// A level from the number written in the file.
fn data_level(value: i64) -> Result<DataLevel, CoreError> {
    match u8::try_from(value) {
        Ok(n) => DataLevel::new(n),
        Err(_) => Err(CoreError::InvalidValue {
            what: "data level",
            value: value.to_string(),
            reason: "must be between 1 and 5".to_owned(),
        }),
    }
}

/// Dataset and field names are lower snake case (`^[a-z][a-z0-9_]*$`): they become column names.
pub(super) fn check_identifier(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a lower snake-case name (a–z, 0–9, _; starting with a letter)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_lower_snake_case() {
        for ok in ["patient", "lab_result", "icd10_code", "a"] {
            assert!(check_identifier(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Patient", "1st", "_x", "lab-result", "患者", "a b"] {
            assert!(check_identifier(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_partial_dataset_parses_as_a_patch() {
        let parsed = parse(
            "[[datasets]]\nname = \"patient\"\n[[datasets.fields]]\nname = \"x\"\nname_zh = \"x\"\ntype = \"bool\"\nlevel = 2\n",
        )
        .unwrap();
        assert!(parsed.version.is_none());
        let patch = &parsed.datasets[0];
        assert!(patch.category.is_none() && patch.key.is_none());
        assert_eq!(patch.fields[0].field_type, FieldType::Bool);
        assert!(!patch.fields[0].required);
        assert_eq!(patch.fields[0].role, IdentifierRole::None);
    }

    #[test]
    fn code_only_keys_are_refused_elsewhere() {
        let msg = parse(
            "[[datasets]]\nname = \"d\"\n[[datasets.fields]]\nname = \"x\"\nname_zh = \"x\"\ntype = \"int\"\nlevel = 2\nspecial_disease_level = 5\n",
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(
            msg.contains("special_disease_level") && msg.contains("`int`"),
            "{msg}"
        );
        let msg = parse(
            "[[datasets]]\nname = \"d\"\n[[datasets.fields]]\nname = \"x\"\nname_zh = \"x\"\ntype = \"code\"\nlevel = 2\ndomain = [{ code = \"1\", label = \"a\" }, { code = \"1\", label = \"b\" }]\n",
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(msg.contains("`1` appears twice"), "{msg}");
    }
}
