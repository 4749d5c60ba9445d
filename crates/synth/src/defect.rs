//! Defects injected into otherwise clean records, each listed in a ground-truth manifest so
//! quality control can be scored for precision and recall. Defects are drawn from their own
//! random stream: with the same seed, the clean records around them are identical to a run
//! without defects (the "clean twin").

use crate::{
    draw::chance,
    history::{Clinics, History},
    record::{Dataset, Row, Value},
    vendor::Vendor,
};
use chrono::{Duration, NaiveDateTime};
use hdos_core::validate::check_digit;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::{fmt, str::FromStr};

/// The kinds of defect, in the order they are tried on a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DefectKind {
    MissingRequired,
    InvalidIdCheckDigit,
    IdBirthDateMismatch,
    IdSexMismatch,
    InvalidIcd10,
    DischargeBeforeAdmission,
    LabSampledAfterReport,
    SettlementMismatch,
    DuplicateRecord,
    OrphanForeignKey,
    FutureTimestamp,
    LateArrival,
    WrongEncoding,
}

impl DefectKind {
    pub const ALL: [DefectKind; 13] = [
        Self::MissingRequired,
        Self::InvalidIdCheckDigit,
        Self::IdBirthDateMismatch,
        Self::IdSexMismatch,
        Self::InvalidIcd10,
        Self::DischargeBeforeAdmission,
        Self::LabSampledAfterReport,
        Self::SettlementMismatch,
        Self::DuplicateRecord,
        Self::OrphanForeignKey,
        Self::FutureTimestamp,
        Self::LateArrival,
        Self::WrongEncoding,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::MissingRequired => "missing_required",
            Self::InvalidIdCheckDigit => "invalid_id_check_digit",
            Self::IdBirthDateMismatch => "id_birth_date_mismatch",
            Self::IdSexMismatch => "id_sex_mismatch",
            Self::InvalidIcd10 => "invalid_icd10",
            Self::DischargeBeforeAdmission => "discharge_before_admission",
            Self::LabSampledAfterReport => "lab_sampled_after_report",
            Self::SettlementMismatch => "settlement_mismatch",
            Self::DuplicateRecord => "duplicate_record",
            Self::OrphanForeignKey => "orphan_foreign_key",
            Self::FutureTimestamp => "future_timestamp",
            Self::LateArrival => "late_arrival",
            Self::WrongEncoding => "wrong_encoding",
        }
    }

    /// The field this kind changes on a record of `d` held by a `vendor` system, or `None`
    /// when it does not apply; the empty name when the field is drawn per record (missing
    /// values) or none changes (duplicates).
    pub fn field(self, d: Dataset, vendor: Vendor) -> Option<&'static str> {
        use Dataset::*;
        match (self, d) {
            // The emptied field is drawn per record from the dataset's required fields.
            (Self::MissingRequired, _) => Some(""),
            (Self::InvalidIdCheckDigit, Patient) => Some("id_no"),
            (Self::IdBirthDateMismatch, Patient) => Some("birth_date"),
            (Self::IdSexMismatch, Patient) => Some("sex_code"),
            (Self::InvalidIcd10, OutpatientVisit) => Some("diagnosis_code"),
            (Self::InvalidIcd10, InpatientStay) => Some("main_diagnosis_code"),
            (Self::InvalidIcd10, Diagnosis) => Some("icd10_code"),
            (Self::DischargeBeforeAdmission, InpatientStay) => Some("discharge_time"),
            (Self::LabSampledAfterReport, LabResult) => Some("sampled_at"),
            (Self::SettlementMismatch, Settlement) => Some("self_paid"),
            (Self::DuplicateRecord, _) => Some(""),
            (Self::OrphanForeignKey, d) if d != Patient => Some("patient_id"),
            (Self::FutureTimestamp, d) => future_field(d),
            (Self::LateArrival, d) if d != Patient => Some("updated_at"),
            (Self::WrongEncoding, d) if vendor == Vendor::English => text_field(d),
            _ => None,
        }
    }
}

impl fmt::Display for DefectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Required fields a HIS may leave empty (keys never are: a record without one is unusable).
fn required_fields(d: Dataset) -> &'static [&'static str] {
    match d {
        Dataset::Patient => &["id_no", "name", "sex_code", "birth_date"],
        Dataset::OutpatientVisit => &[
            "dept_name",
            "visit_time",
            "diagnosis_code",
            "diagnosis_name",
        ],
        Dataset::InpatientStay => &[
            "admission_no",
            "dept_name",
            "admit_time",
            "main_diagnosis_code",
        ],
        Dataset::Diagnosis => &["icd10_code", "diagnosis_name", "diagnosed_at"],
        Dataset::LabResult => &["item_code", "item_name", "sampled_at", "reported_at"],
        Dataset::Prescription => &["drug_code", "drug_name", "prescribed_at"],
        Dataset::Settlement => &["insurance_type", "total_amount", "settled_at"],
        Dataset::InfectiousReport => &[
            "disease_code",
            "disease_class",
            "onset_date",
            "diagnosis_date",
        ],
    }
}

/// The latest event time of a record: the one a clock error pushes into the future.
fn future_field(d: Dataset) -> Option<&'static str> {
    match d {
        Dataset::Patient => None,
        Dataset::OutpatientVisit => Some("visit_time"),
        Dataset::InpatientStay => Some("discharge_time"),
        Dataset::Diagnosis => Some("diagnosed_at"),
        Dataset::LabResult => Some("reported_at"),
        Dataset::Prescription => Some("prescribed_at"),
        Dataset::Settlement => Some("settled_at"),
        Dataset::InfectiousReport => Some("reported_at"),
    }
}

/// The Chinese text field a legacy GBK client garbles.
fn text_field(d: Dataset) -> Option<&'static str> {
    match d {
        Dataset::Patient => Some("name"),
        Dataset::OutpatientVisit | Dataset::InpatientStay => Some("dept_name"),
        Dataset::Diagnosis => Some("diagnosis_name"),
        Dataset::LabResult => Some("item_name"),
        Dataset::Prescription => Some("drug_name"),
        Dataset::Settlement | Dataset::InfectiousReport => None,
    }
}

/// Codes a careless coder or an outdated dictionary produces: malformed, or well-formed but not
/// in ICD-10.
const BAD_ICD10: &[&str] = &[
    "I1O", "E11.9.", "J069", "K29.7000", "XX1.2", "I10.1", "E11.95", "U99.9", "J18.999",
];

/// Rate per record for each kind.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DefectProfile {
    rates: [f64; 13],
}

impl DefectProfile {
    pub fn clean() -> Self {
        Self { rates: [0.0; 13] }
    }

    /// The same rate for every kind.
    pub fn uniform(rate: f64) -> Self {
        Self { rates: [rate; 13] }
    }

    pub fn rate(&self, kind: DefectKind) -> f64 {
        self.rates[kind as usize]
    }

    pub fn set(&mut self, kind: DefectKind, rate: f64) {
        self.rates[kind as usize] = rate;
    }

    pub fn is_clean(&self) -> bool {
        self.rates.iter().all(|r| *r == 0.0)
    }
}

/// A profile that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a defect profile: use clean, light (0.2 %), heavy (2 %), a rate between 0 and 1, or kind=rate pairs separated by commas (kinds: {kinds})",
    kinds = DefectKind::ALL.map(DefectKind::name).join(", ")
)]
pub struct ProfileError(String);

impl FromStr for DefectProfile {
    type Err = ProfileError;

    /// `clean`, `light`, `heavy`, a rate such as `0.01`, or `kind=rate,kind=rate`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ProfileError(s.to_owned());
        let rate = |r: &str| {
            r.trim()
                .parse::<f64>()
                .ok()
                .filter(|r| (0.0..=1.0).contains(r))
                .ok_or_else(err)
        };
        match s.trim() {
            "clean" | "none" => return Ok(Self::clean()),
            "light" => return Ok(Self::uniform(0.002)),
            "heavy" => return Ok(Self::uniform(0.02)),
            _ => {}
        }
        if !s.contains('=') {
            return rate(s).map(Self::uniform);
        }
        let mut p = Self::clean();
        for pair in s.split(',') {
            let (kind, r) = pair.split_once('=').ok_or_else(err)?;
            let kind = DefectKind::ALL
                .into_iter()
                .find(|k| k.name() == kind.trim())
                .ok_or_else(err)?;
            p.set(kind, rate(r)?);
        }
        Ok(p)
    }
}

/// One injected defect: where it is and what it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ManifestEntry {
    pub dataset: &'static str,
    pub institution: String,
    /// The record's key (its first field), e.g. a visit id.
    pub key: String,
    /// The standard field that was changed, `updated_at` for the write time, or `None` for a
    /// duplicated record.
    pub field: Option<&'static str>,
    pub kind: DefectKind,
}

/// Ids of orphan references start here: beyond any person index, so they never resolve.
const ORPHAN_BASE: u64 = 900_000_000;

const DEFECT_SALT: u64 = 0x6465_6665_6374_7321;

/// Injects defects into a history; returns the manifest entries and the duplicated rows.
pub fn inject(
    history: &mut History,
    clinics: &Clinics,
    profile: &DefectProfile,
    seed: u64,
) -> (Vec<ManifestEntry>, Vec<(usize, Row)>) {
    let mut out = (Vec::new(), Vec::new());
    if profile.is_clean() {
        return out;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ DEFECT_SALT);
    rng.set_stream(history.person.index);
    let mut injector = Injector {
        rng: &mut rng,
        profile,
        clinics,
        out: &mut out,
    };
    for (site, row) in &mut history.registrations {
        injector.record(*site, row);
    }
    for enc in &mut history.encounters {
        let site = enc.site;
        for row in enc.rows_mut() {
            injector.record(site, row);
        }
    }
    out
}

struct Injector<'a> {
    rng: &'a mut ChaCha8Rng,
    profile: &'a DefectProfile,
    clinics: &'a Clinics,
    out: &'a mut (Vec<ManifestEntry>, Vec<(usize, Row)>),
}

impl Injector<'_> {
    /// Tries each kind in turn; a record gets at most one defect, so the manifest names it
    /// unambiguously.
    fn record(&mut self, site: usize, row: &mut Row) {
        let vendor = self.clinics.sites[site].vendor;
        for kind in DefectKind::ALL {
            let rate = self.profile.rate(kind);
            if rate == 0.0 {
                continue;
            }
            let Some(field) = kind.field(row.dataset, vendor) else {
                continue;
            };
            if !chance(self.rng, rate) {
                continue;
            }
            if let Some(changed) = self.apply(kind, field, site, row) {
                self.out.0.push(ManifestEntry {
                    dataset: row.dataset.name(),
                    institution: self.clinics.sites[site].institution.code.clone(),
                    key: row.key().to_owned(),
                    field: (!changed.is_empty()).then_some(changed),
                    kind,
                });
                return;
            }
        }
    }

    /// Applies one defect and returns the field it changed (empty for a duplicate), or `None`
    /// when the record offers nothing to break (say, an open stay has no discharge time).
    fn apply(
        &mut self,
        kind: DefectKind,
        field: &'static str,
        site: usize,
        row: &mut Row,
    ) -> Option<&'static str> {
        let rng = &mut *self.rng;
        match kind {
            DefectKind::MissingRequired => {
                let fields = required_fields(row.dataset);
                let f = fields[rng.gen_range(0..fields.len())];
                if row.get(f) == &Value::Null {
                    return None;
                }
                row.set(f, Value::Null);
                return Some(f);
            }
            DefectKind::InvalidIdCheckDigit => {
                let id = row.get(field).as_str()?.to_owned();
                let right = check_digit(id.get(..17)?).ok()?;
                let wrong = loop {
                    let c = b"0123456789X"[rng.gen_range(0..11)] as char;
                    if c != right {
                        break c;
                    }
                };
                row.set(field, Value::text(format!("{}{wrong}", &id[..17])));
            }
            DefectKind::IdBirthDateMismatch => {
                let Value::Date(d) = row.get(field) else {
                    return None;
                };
                let shifted = *d - Duration::days(rng.gen_range(1..3_000));
                row.set(field, Value::Date(shifted));
            }
            DefectKind::IdSexMismatch => {
                let flipped = if row.get(field) == &Value::text("1") {
                    "2"
                } else {
                    "1"
                };
                row.set(field, Value::text(flipped));
            }
            DefectKind::InvalidIcd10 => {
                let bad = BAD_ICD10[rng.gen_range(0..BAD_ICD10.len())];
                row.set(field, Value::text(bad));
            }
            DefectKind::DischargeBeforeAdmission => {
                let admit = row.get("admit_time").as_ts()?;
                if row.get(field) == &Value::Null {
                    return None;
                }
                let before = admit - Duration::minutes(rng.gen_range(30..4_320));
                row.set(field, Value::Ts(before));
            }
            DefectKind::LabSampledAfterReport => {
                let reported = row.get("reported_at").as_ts()?;
                row.set(
                    field,
                    Value::Ts(reported + Duration::minutes(rng.gen_range(5..600))),
                );
            }
            DefectKind::SettlementMismatch => {
                let Value::Money(paid) = row.get(field) else {
                    return None;
                };
                let off = rng.gen_range(100..5_000) * if chance(rng, 0.5) { 1 } else { -1 };
                let wrong = (*paid + off).max(0);
                if wrong == *paid {
                    return None;
                }
                row.set(field, Value::Money(wrong));
            }
            DefectKind::DuplicateRecord => {
                let mut copy = row.clone();
                copy.updated_at += Duration::minutes(rng.gen_range(1..120));
                self.out.1.push((site, copy));
            }
            DefectKind::OrphanForeignKey => {
                let vendor = self.clinics.sites[site].vendor;
                let ghost = vendor.patient_id(ORPHAN_BASE + rng.gen_range(0..1_000_000), site);
                row.set(field, Value::text(ghost));
            }
            DefectKind::FutureTimestamp => {
                if row.get(field) == &Value::Null {
                    return None;
                }
                let base: NaiveDateTime = row.updated_at.max(self.clinics.period().end_time());
                let future = base + Duration::hours(rng.gen_range(24..24 * 365));
                row.set(field, Value::Ts(future));
            }
            DefectKind::LateArrival => {
                row.updated_at += Duration::hours(rng.gen_range(72..24 * 60));
            }
            DefectKind::WrongEncoding => {
                let text = row.get(field).as_str()?;
                let (bytes, _, _) = encoding_rs::GBK.encode(text);
                if std::str::from_utf8(&bytes).is_ok() {
                    return None;
                }
                let bytes = bytes.into_owned();
                row.set(field, Value::Legacy(bytes));
            }
        }
        Some(field)
    }
}
