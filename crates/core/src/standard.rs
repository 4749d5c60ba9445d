//! The regional data standard every source is mapped onto: nine datasets with typed, classified and
//! graded fields, plus the special-disease list. The built-in standard is `standard/regional.toml`;
//! a manager may extend it with a TOML file of the same shape (the caller reads the file).

mod check;
mod field_type;
mod merge;
mod parse;
mod special_disease;

pub use field_type::FieldType;
pub use special_disease::IcdRange;

use crate::{
    CoreError,
    classification::{DataCategory, DataLevel, IdentifierRole},
    validate::icd10,
};
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

/// The TOML text of the built-in regional standard.
pub const BUILTIN_TOML: &str = include_str!("standard/regional.toml");

/// A validated data standard: datasets, their fields, and the special-disease ranges.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Standard {
    version: String,
    special_diseases: Vec<IcdRange>,
    datasets: Vec<Dataset>,
}

/// A standard dataset, e.g. `patient` (患者基本信息).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dataset {
    /// Table name, lower snake case.
    pub name: String,
    /// Chinese name.
    pub name_zh: String,
    /// GB/T 39725 category.
    pub category: DataCategory,
    /// Fields forming the primary key.
    pub key: Vec<String>,
    /// Date or timestamp field used as the incremental cursor at the source.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Fields in their defined order.
    pub fields: Vec<Field>,
}

/// One field of a standard dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Field {
    /// Column name, lower snake case.
    pub name: String,
    /// Chinese label.
    pub name_zh: String,
    /// Value type.
    #[serde(rename = "type")]
    pub field_type: FieldType,
    /// National code table a `code` field draws from, e.g. `GB/T 2260`, `ICD-10`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_system: Option<String>,
    /// Whether a value must be present.
    pub required: bool,
    /// Allowed codes with labels (empty: not enumerated here).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub domain: Vec<CodeValue>,
    /// Quality rule in words, as written in the standard.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// WS 363 data-element id, e.g. `DE02.01.039.00`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub de_id: Option<String>,
    /// Identifier role for de-identification.
    pub role: IdentifierRole,
    /// Default data level.
    pub level: DataLevel,
    /// Level of a value that is a special-disease ICD-10 code (diagnosis fields).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub special_disease_level: Option<DataLevel>,
    /// Referenced `dataset.field`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub foreign_key: Option<String>,
}

/// One allowed code of a field's value domain.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeValue {
    /// The code as stored, e.g. `1`.
    pub code: String,
    /// Its meaning, e.g. `治愈`.
    pub label: String,
}

impl Standard {
    /// The built-in regional standard, parsed once.
    pub fn builtin() -> Result<&'static Standard, CoreError> {
        static BUILTIN: OnceLock<Result<Standard, String>> = OnceLock::new();
        BUILTIN
            .get_or_init(|| {
                Standard::from_toml_str(BUILTIN_TOML).map_err(|e| match e {
                    CoreError::InvalidStandard(msg) => msg,
                    other => other.to_string(),
                })
            })
            .as_ref()
            .map_err(|msg| CoreError::InvalidStandard(format!("built-in standard: {msg}")))
    }

    /// Parses and validates a complete standard.
    pub fn from_toml_str(text: &str) -> Result<Standard, CoreError> {
        let parsed = parse::parse(text)?;
        let version = parsed
            .version
            .clone()
            .ok_or_else(|| CoreError::InvalidStandard("`version` is missing".to_owned()))?;
        let empty = Standard {
            version,
            special_diseases: Vec::new(),
            datasets: Vec::new(),
        };
        empty.merged(parse::Parsed {
            version: None,
            ..parsed
        })
    }

    /// The standard as TOML, in the shape `from_toml_str` reads.
    pub fn to_toml_string(&self) -> Result<String, CoreError> {
        toml::to_string(self).map_err(|e| CoreError::InvalidStandard(format!("cannot write: {e}")))
    }

    /// Adds another standard's datasets, fields and special diseases; on error nothing changes.
    pub fn extend(&mut self, other: Standard) -> Result<(), CoreError> {
        *self = self.merged(parse::Parsed {
            version: Some(other.version),
            special_diseases: other.special_diseases,
            datasets: other.datasets.into_iter().map(Into::into).collect(),
        })?;
        Ok(())
    }

    /// Applies an extension file: new datasets are complete; an existing one may list only
    /// `name` and new `fields`. On error nothing changes.
    pub fn extend_from_toml_str(&mut self, text: &str) -> Result<(), CoreError> {
        *self = self.merged(parse::parse(text)?)?;
        Ok(())
    }

    /// The standard's version label (extensions append `+their-version`).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// All datasets in definition order.
    pub fn datasets(&self) -> &[Dataset] {
        &self.datasets
    }

    /// The special-disease ICD-10 ranges.
    pub fn special_diseases(&self) -> &[IcdRange] {
        &self.special_diseases
    }

    /// The dataset with this name.
    pub fn dataset(&self, name: &str) -> Option<&Dataset> {
        self.datasets.iter().find(|d| d.name == name)
    }

    /// Whether an ICD-10 code falls in a special-disease range. Judged on the three-character
    /// category, so a code with a malformed subcategory (e.g. `b20.X00`) still counts.
    pub fn is_special_disease(&self, icd_code: &str) -> bool {
        let category = match icd10::parse_icd10(icd_code) {
            Ok(code) => code.category().to_owned(),
            Err(_) => match icd10::category_prefix(icd_code) {
                Some(category) => category,
                None => return false,
            },
        };
        self.special_diseases.iter().any(|r| r.contains(&category))
    }

    /// The level of one value of a field: the special-disease level for a special-disease code.
    pub fn value_level(&self, field: &Field, value: &str) -> DataLevel {
        match field.special_disease_level {
            Some(special) if self.is_special_disease(value) => special.max(field.level),
            _ => field.level,
        }
    }

    /// This standard with `ext` merged in and the result validated.
    fn merged(&self, ext: parse::Parsed) -> Result<Standard, CoreError> {
        let mut next = self.clone();
        if let Some(v) = ext.version.filter(|v| !v.is_empty() && *v != next.version) {
            next.version = format!("{}+{v}", next.version);
        }
        for range in ext.special_diseases {
            if !next.special_diseases.contains(&range) {
                next.special_diseases.push(range);
            }
        }
        for patch in ext.datasets {
            merge::apply(&mut next.datasets, patch)?;
        }
        check::check(&next)?;
        Ok(next)
    }
}

impl Dataset {
    /// The field with this name.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The dataset's default level: the highest field level (就高不就低).
    pub fn level(&self) -> DataLevel {
        self.fields
            .iter()
            .map(|f| f.level)
            .max()
            .unwrap_or(DataLevel::MIN)
    }

    /// The fields playing `role`, e.g. the quasi-identifiers for a k-anonymity check.
    pub fn fields_with_role(&self, role: IdentifierRole) -> impl Iterator<Item = &Field> {
        self.fields.iter().filter(move |f| f.role == role)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builtin() -> &'static Standard {
        Standard::builtin().expect("the built-in standard parses")
    }

    /// A minimal valid standard, with `extra` appended to the patient dataset's field list.
    fn tiny(extra: &str) -> String {
        format!(
            r#"
version = "t1"

[[datasets]]
name = "patient"
name_zh = "患者"
category = "personal_attribute"
key = ["patient_id"]

[[datasets.fields]]
name = "patient_id"
name_zh = "患者ID"
type = "str(32)"
required = true
role = "direct"
level = 4
{extra}
"#
        )
    }

    fn err_of(text: &str) -> String {
        let err = Standard::from_toml_str(text).expect_err("the file is rejected");
        assert_eq!(err.kind(), crate::ErrorKind::InvalidInput);
        err.to_string()
    }

    #[test]
    fn builtin_has_nine_datasets_covering_all_six_categories() {
        let std = builtin();
        assert_eq!(std.version(), "hdos-regional-1");
        let names: Vec<&str> = std.datasets().iter().map(|d| d.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "institution",
                "patient",
                "outpatient_visit",
                "inpatient_stay",
                "diagnosis",
                "lab_result",
                "prescription",
                "settlement",
                "infectious_report"
            ]
        );
        for category in DataCategory::ALL {
            assert!(
                std.datasets().iter().any(|d| d.category == category),
                "{category} has no dataset"
            );
        }
        assert_eq!(std.special_diseases().len(), 7);
    }

    #[test]
    fn builtin_keys_cursors_and_de_ids_are_sound() {
        let std = builtin();
        for d in std.datasets() {
            assert!(!d.key.is_empty(), "{}", d.name);
            for k in &d.key {
                let f = d
                    .field(k)
                    .unwrap_or_else(|| panic!("{}.{k} missing", d.name));
                assert!(f.required, "{}.{k}", d.name);
            }
            assert_eq!(d.cursor.as_deref(), Some("updated_at"), "{}", d.name);
            assert_eq!(
                d.field("updated_at").map(|f| f.field_type),
                Some(FieldType::Timestamp)
            );
            for f in &d.fields {
                if let Some(de) = &f.de_id {
                    assert!(crate::validate::validate_de_id(de).is_ok(), "{de}");
                }
            }
        }
    }

    #[test]
    fn builtin_fields_are_transcribed() {
        let std = builtin();
        let patient = std.dataset("patient").unwrap();
        assert_eq!(patient.fields.len(), 14);
        let sex = patient.field("sex_code").unwrap();
        assert_eq!(sex.de_id.as_deref(), Some("DE02.01.040.00"));
        assert_eq!(sex.role, IdentifierRole::Quasi);
        assert_eq!(sex.level.get(), 3);
        let codes: Vec<&str> = sex.domain.iter().map(|c| c.code.as_str()).collect();
        assert_eq!(codes, ["0", "1", "2", "9"]);
        assert_eq!(patient.field("ethnicity_code").unwrap().domain.len(), 58);
        assert_eq!(patient.field("id_type").unwrap().domain.len(), 8);
        assert_eq!(patient.field("marital_code").unwrap().domain.len(), 8);
        assert_eq!(
            patient
                .field("institution_code")
                .unwrap()
                .foreign_key
                .as_deref(),
            Some("institution.institution_code")
        );
        let stay = std.dataset("inpatient_stay").unwrap();
        let status = &stay.field("discharge_status").unwrap().domain;
        assert_eq!(
            status.last().map(|c| (c.code.as_str(), c.label.as_str())),
            Some(("9", "其他"))
        );
        let lab = std.dataset("lab_result").unwrap();
        assert_eq!(
            lab.field("value_num").unwrap().field_type,
            FieldType::Dec {
                precision: 14,
                scale: 4
            }
        );
        assert_eq!(lab.fields.len(), 15);
        assert_eq!(
            lab.fields_with_role(IdentifierRole::Quasi).count(),
            2,
            "sampled_at, reported_at"
        );
        let settlement = std.dataset("settlement").unwrap();
        assert_eq!(settlement.field("insurance_type").unwrap().domain.len(), 6);
        let report = std.dataset("infectious_report").unwrap();
        assert_eq!(report.field("disease_class").unwrap().domain.len(), 3);
        for (ds, field) in [
            ("outpatient_visit", "diagnosis_code"),
            ("inpatient_stay", "main_diagnosis_code"),
            ("diagnosis", "icd10_code"),
        ] {
            let f = std.dataset(ds).unwrap().field(field).unwrap();
            assert_eq!(
                f.special_disease_level,
                Some(DataLevel::MAX),
                "{ds}.{field}"
            );
            assert_eq!(f.code_system.as_deref(), Some("ICD-10"));
        }
    }

    #[test]
    fn dataset_level_is_the_highest_field_level() {
        let std = builtin();
        let level = |name: &str| std.dataset(name).unwrap().level().get();
        assert_eq!(level("institution"), 1);
        assert_eq!(level("patient"), 4);
        assert_eq!(level("settlement"), 4);
        assert_eq!(level("infectious_report"), 5);
    }

    #[test]
    fn special_diseases_follow_the_ranges() {
        let std = builtin();
        for code in [
            "B20",
            "B24.x00",
            "Z21",
            "A50.9",
            "A64",
            "A15.000",
            "B16.9",
            "B19",
            "F32.900",
            "F99",
            "C00.0",
            "C50.900x001",
            "C97",
            "b20.X00",
        ] {
            assert!(std.is_special_disease(code), "{code}");
        }
        for code in [
            "B15.9", "B25", "Z20", "A49", "A65", "A14", "E11.900", "D00", "", "HIV",
        ] {
            assert!(!std.is_special_disease(code), "{code}");
        }
        let f = std
            .dataset("diagnosis")
            .unwrap()
            .field("icd10_code")
            .unwrap();
        assert_eq!(std.value_level(f, "B20.x00").get(), 5);
        assert_eq!(std.value_level(f, "E11.900").get(), 2);
        let name = std
            .dataset("diagnosis")
            .unwrap()
            .field("diagnosis_name")
            .unwrap();
        assert_eq!(std.value_level(name, "B20").get(), 2);
    }

    #[test]
    fn builtin_round_trips_through_toml() {
        let std = builtin();
        let text = std.to_toml_string().unwrap();
        assert_eq!(&Standard::from_toml_str(&text).unwrap(), std);
    }

    #[test]
    fn an_extension_adds_fields_and_datasets() {
        let mut std = builtin().clone();
        std.extend_from_toml_str(
            r#"
version = "city-2025"

[[special_diseases]]
from = "G30"
to = "G30"
label = "阿尔茨海默病"

[[datasets]]
name = "patient"

[[datasets.fields]]
name = "blood_type"
name_zh = "ABO血型代码"
type = "code"
required = false
domain = [{ code = "1", label = "A型" }, { code = "2", label = "B型" }]
role = "sensitive"
level = 3

[[datasets]]
name = "vaccination"
name_zh = "预防接种"
category = "public_health"
key = ["institution_code", "record_id"]

[[datasets.fields]]
name = "record_id"
name_zh = "接种记录ID"
type = "str(32)"
required = true
level = 3

[[datasets.fields]]
name = "institution_code"
name_zh = "机构代码"
type = "str(18)"
required = true
foreign_key = "institution.institution_code"
level = 1
"#,
        )
        .unwrap();
        assert_eq!(std.version(), "hdos-regional-1+city-2025");
        assert_eq!(std.datasets().len(), 10);
        let patient = std.dataset("patient").unwrap();
        assert_eq!(patient.fields.len(), 15);
        assert_eq!(
            patient.field("blood_type").unwrap().role,
            IdentifierRole::Sensitive
        );
        let vacc = std.dataset("vaccination").unwrap();
        assert_eq!(vacc.field("record_id").unwrap().role, IdentifierRole::None);
        assert!(std.is_special_disease("G30.900"));
        assert!(!builtin().is_special_disease("G30.900"));
        assert_eq!(builtin().datasets().len(), 9, "the built-in is untouched");
    }

    #[test]
    fn extending_with_a_standard_value_merges_identical_definitions() {
        let mut std = builtin().clone();
        let mut other = builtin().clone();
        other.version = "copy".into();
        let patient = other
            .datasets
            .iter_mut()
            .find(|d| d.name == "patient")
            .unwrap();
        let mut extra = patient.field("occupation").unwrap().clone();
        extra.name = "employer".into();
        extra.name_zh = "工作单位".into();
        patient.fields.push(extra);
        std.extend(other).unwrap();
        assert_eq!(std.datasets().len(), 9);
        assert_eq!(std.dataset("patient").unwrap().fields.len(), 15);
        assert_eq!(std.special_diseases().len(), 7);
        assert!(std.dataset("patient").unwrap().field("employer").is_some());
    }

    #[test]
    fn a_conflicting_extension_names_the_field_and_changes_nothing() {
        let mut std = builtin().clone();
        let err = std
            .extend_from_toml_str(
                r#"
[[datasets]]
name = "patient"

[[datasets.fields]]
name = "name"
name_zh = "姓名"
type = "str(50)"
required = true
de_id = "DE02.01.039.00"
role = "direct"
level = 3
"#,
            )
            .unwrap_err()
            .to_string();
        assert!(err.contains("patient") && err.contains("`name`"), "{err}");
        assert_eq!(&std, builtin());

        let err = std
            .extend_from_toml_str(
                "[[datasets]]\nname = \"patient\"\ncategory = \"health_status\"\n",
            )
            .unwrap_err()
            .to_string();
        assert!(err.contains("patient") && err.contains("category"), "{err}");

        let err = std
            .extend_from_toml_str(
                "[[datasets]]\nname = \"imaging\"\n[[datasets.fields]]\nname = \"x\"\nname_zh = \"x\"\ntype = \"int\"\nlevel = 1\n",
            )
            .unwrap_err()
            .to_string();
        assert!(err.contains("imaging") && err.contains("category"), "{err}");
        assert_eq!(&std, builtin());
    }

    #[test]
    fn the_tiny_standard_is_valid() {
        let std = Standard::from_toml_str(&tiny("")).unwrap();
        assert_eq!(std.dataset("patient").unwrap().level().get(), 4);
        assert!(!std.is_special_disease("B20"), "no ranges defined");
    }

    #[test]
    fn bad_files_name_the_problem() {
        let msg = err_of(&tiny("").replace("personal_attribute", "genomic"));
        assert!(msg.contains("patient") && msg.contains("genomic"), "{msg}");

        let msg = err_of(&tiny("").replace("level = 4", "level = 7"));
        assert!(
            msg.contains("patient_id") && msg.contains('7') && msg.contains("1 and 5"),
            "{msg}"
        );

        let msg = err_of(&tiny("").replace("level = 4", "level = -1"));
        assert!(msg.contains("patient_id") && msg.contains("-1"), "{msg}");

        let dup = format!("{}\n{}", tiny(""), tiny("").replace("version = \"t1\"", ""));
        let msg = err_of(&dup);
        assert!(msg.contains("duplicate dataset `patient`"), "{msg}");

        let msg = err_of(&tiny("de_id = \"DE02.01.39.00\""));
        assert!(
            msg.contains("patient_id") && msg.contains("DE02.01.39.00"),
            "{msg}"
        );

        let msg = err_of(&tiny("").replace("key = [\"patient_id\"]", "key = [\"pid\"]"));
        assert!(msg.contains("key field `pid`"), "{msg}");

        let msg = err_of(&tiny("foreign_key = \"clinic.code\""));
        assert!(msg.contains("clinic.code"), "{msg}");

        let msg = err_of(&tiny("").replace("str(32)", "varchar(32)"));
        assert!(msg.contains("varchar(32)"), "{msg}");

        let msg = err_of(&tiny("requried = true"));
        assert!(msg.contains("requried"), "{msg}");

        let msg = err_of(&tiny("domain = [{ code = \"1\", label = \"x\" }]"));
        assert!(msg.contains("domain") && msg.contains("code"), "{msg}");

        let msg = err_of(&tiny("").replace("version = \"t1\"", ""));
        assert!(msg.contains("version"), "{msg}");

        let msg = err_of("version = \"x\"\n");
        assert!(msg.contains("no datasets"), "{msg}");

        let msg = err_of(&format!(
            "{}\n[[datasets.fields]]\nname = \"patient_id\"\nname_zh = \"x\"\ntype = \"int\"\nlevel = 1\n",
            tiny("")
        ));
        assert!(msg.contains("duplicate field `patient_id`"), "{msg}");

        let msg = err_of(&format!(
            "{}\n[[special_diseases]]\nfrom = \"C97\"\nto = \"C00\"\nlabel = \"x\"\n",
            tiny("")
        ));
        assert!(msg.contains("C97"), "{msg}");

        let msg = err_of("version = ");
        assert!(msg.contains("TOML"), "{msg}");
    }
}
