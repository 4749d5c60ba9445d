//! Records in the regional standard's terms, before a vendor's schema renders them.

use chrono::{NaiveDate, NaiveDateTime};
use std::{borrow::Cow, fmt};

/// The standard datasets a hospital information system holds (the institution itself is
/// registered centrally, not collected from its own HIS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dataset {
    Patient,
    OutpatientVisit,
    InpatientStay,
    Diagnosis,
    LabResult,
    Prescription,
    Settlement,
    InfectiousReport,
}

impl Dataset {
    pub const ALL: [Dataset; 8] = [
        Dataset::Patient,
        Dataset::OutpatientVisit,
        Dataset::InpatientStay,
        Dataset::Diagnosis,
        Dataset::LabResult,
        Dataset::Prescription,
        Dataset::Settlement,
        Dataset::InfectiousReport,
    ];

    /// The standard's dataset name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Patient => "patient",
            Self::OutpatientVisit => "outpatient_visit",
            Self::InpatientStay => "inpatient_stay",
            Self::Diagnosis => "diagnosis",
            Self::LabResult => "lab_result",
            Self::Prescription => "prescription",
            Self::Settlement => "settlement",
            Self::InfectiousReport => "infectious_report",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }

    /// The standard's fields as a HIS holds them: all but `institution_code`, key first.
    pub fn fields(self) -> &'static [&'static str] {
        match self {
            Self::Patient => &[
                "patient_id",
                "id_type",
                "id_no",
                "name",
                "sex_code",
                "birth_date",
                "ethnicity_code",
                "phone",
                "address",
                "region_code",
                "marital_code",
                "occupation",
            ],
            Self::OutpatientVisit => &[
                "visit_id",
                "patient_id",
                "dept_name",
                "visit_time",
                "doctor_id",
                "chief_complaint",
                "diagnosis_code",
                "diagnosis_name",
                "fee_total",
            ],
            Self::InpatientStay => &[
                "stay_id",
                "admission_no",
                "patient_id",
                "dept_name",
                "admit_time",
                "discharge_time",
                "main_diagnosis_code",
                "discharge_status",
                "total_cost",
            ],
            Self::Diagnosis => &[
                "diagnosis_id",
                "encounter_id",
                "encounter_type",
                "patient_id",
                "is_primary",
                "icd10_code",
                "diagnosis_name",
                "diagnosed_at",
            ],
            Self::LabResult => &[
                "result_id",
                "report_no",
                "patient_id",
                "encounter_id",
                "item_code",
                "loinc_code",
                "item_name",
                "value_num",
                "value_text",
                "unit",
                "abnormal_flag",
                "sampled_at",
                "reported_at",
            ],
            Self::Prescription => &[
                "prescription_id",
                "encounter_id",
                "patient_id",
                "drug_code",
                "drug_name",
                "dose",
                "frequency",
                "route",
                "days",
                "amount",
                "prescribed_at",
            ],
            Self::Settlement => &[
                "settlement_id",
                "encounter_id",
                "patient_id",
                "insurance_type",
                "total_amount",
                "insurance_paid",
                "self_paid",
                "settled_at",
            ],
            Self::InfectiousReport => &[
                "report_id",
                "patient_id",
                "disease_code",
                "disease_class",
                "onset_date",
                "diagnosis_date",
                "reported_at",
                "region_code",
            ],
        }
    }

    /// Position of `field` in [`Dataset::fields`].
    pub fn field_index(self, field: &str) -> Option<usize> {
        self.fields().iter().position(|f| *f == field)
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.name() == name)
    }
}

impl fmt::Display for Dataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A field value in standard form; vendors render it in their own formats.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    /// Static text (names from the tables) is borrowed, so most values allocate nothing.
    Text(Cow<'static, str>),
    Int(i64),
    /// Money in fen (0.01 yuan), exact.
    Money(i64),
    Num(f64),
    Date(NaiveDate),
    /// Local time of the region (UTC+8).
    Ts(NaiveDateTime),
    Bool(bool),
    /// Text in a legacy encoding (GBK) stored where UTF-8 is expected: the wrong-encoding defect.
    Legacy(Vec<u8>),
}

impl Value {
    pub fn text(s: impl Into<Cow<'static, str>>) -> Self {
        Self::Text(s.into())
    }

    pub fn as_ts(&self) -> Option<NaiveDateTime> {
        match self {
            Self::Ts(t) => Some(*t),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::Text(s) => Some(s),
            _ => None,
        }
    }
}

/// One source record: its dataset, values in [`Dataset::fields`] order, and when the HIS wrote
/// it (the `updated_at`-style column collectors use as a cursor).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub dataset: Dataset,
    pub values: Vec<Value>,
    pub updated_at: NaiveDateTime,
}

impl Row {
    pub fn key(&self) -> &str {
        self.values[0].as_str().unwrap_or_default()
    }

    pub fn get(&self, field: &str) -> &Value {
        self.dataset
            .field_index(field)
            .map_or(&Value::Null, |i| &self.values[i])
    }

    pub fn set(&mut self, field: &str, value: Value) {
        if let Some(i) = self.dataset.field_index(field) {
            self.values[i] = value;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdos_core::standard::Standard;

    #[test]
    fn every_field_is_a_field_of_the_standard() {
        let std = Standard::builtin().unwrap();
        for d in Dataset::ALL {
            let ds = std.dataset(d.name()).unwrap();
            for f in d.fields() {
                assert!(ds.field(f).is_some(), "{d}.{f}");
            }
            let missing: Vec<_> = ds
                .fields
                .iter()
                .filter(|f| !matches!(f.name.as_str(), "institution_code" | "updated_at"))
                .filter(|f| !d.fields().contains(&f.name.as_str()))
                .map(|f| f.name.clone())
                .collect();
            assert!(missing.is_empty(), "{d} lacks {missing:?}");
        }
    }
}
