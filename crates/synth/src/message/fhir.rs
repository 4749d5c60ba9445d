//! FHIR R4 transaction bundles: one per encounter, with the Patient, the Encounter, its
//! Conditions, Observations and MedicationRequests. Every entry is a conditional PUT on its
//! business identifier, so replaying a bundle changes nothing.

use crate::{
    history::{Encounter, Site},
    record::{Row, Value},
};
use chrono::NaiveDateTime;
use serde_json::{Value as Json, json};
use sha2::{Digest, Sha256};

const ICD10_WHO: &str = "http://hl7.org/fhir/sid/icd-10";
const ICD10_CN: &str = "urn:oid:2.16.156.10011.2.3.3.11";
const LOINC: &str = "http://loinc.org";

fn time(t: NaiveDateTime) -> String {
    format!("{}+08:00", crate::timefmt::iso_ts(t, 'T'))
}

/// JSON of a value; text in a legacy encoding arrives as what a UTF-8 decoder makes of it.
fn json_value(v: &Value) -> Json {
    match v {
        Value::Null => Json::Null,
        Value::Text(s) => Json::String(s.to_string()),
        Value::Int(i) => json!(i),
        Value::Money(fen) => json!(*fen as f64 / 100.0),
        Value::Num(x) => json!(x),
        Value::Date(d) => Json::String(crate::timefmt::iso_date(*d)),
        Value::Ts(t) => Json::String(time(*t)),
        Value::Bool(b) => json!(b),
        Value::Legacy(b) => Json::String(String::from_utf8_lossy(b).into_owned()),
    }
}

/// A stable `urn:uuid:` for a business key, so bundles are byte-identical across runs.
fn urn(kind: &str, key: &str) -> String {
    let h = Sha256::digest(format!("{kind}/{key}").as_bytes());
    let x = hex::encode(&h[..16]);
    format!(
        "urn:uuid:{}-{}-4{}-8{}-{}",
        &x[..8],
        &x[8..12],
        &x[13..16],
        &x[17..20],
        &x[20..32]
    )
}

struct Entries {
    site_system: String,
    entries: Vec<Json>,
}

impl Entries {
    fn system(&self, what: &str) -> String {
        format!("{}/{what}", self.site_system)
    }

    fn put(&mut self, kind: &str, what: &str, key: &str, mut resource: Json) -> String {
        let full_url = urn(kind, &format!("{}/{key}", self.site_system));
        resource["resourceType"] = json!(kind);
        if resource.get("identifier").is_none() {
            resource["identifier"] = json!([{"system": self.system(what), "value": key}]);
        }
        self.entries.push(json!({
            "fullUrl": full_url,
            "resource": resource,
            "request": {
                "method": "PUT",
                "url": format!("{kind}?identifier={}|{key}", self.system(what)),
            }
        }));
        full_url
    }
}

fn icd_coding(code: &Value, name: &Value) -> Json {
    let system = match code.as_str() {
        Some(c) if c.len() > 5 && c.contains('.') => ICD10_CN,
        _ => ICD10_WHO,
    };
    json!({"coding": [{"system": system, "code": json_value(code), "display": json_value(name)}]})
}

fn patient(e: &mut Entries, p: &Row) -> String {
    let gender = match p.get("sex_code").as_str() {
        Some("1") => "male",
        Some("2") => "female",
        _ => "unknown",
    };
    let resource = json!({
        // The HIS number is the business key; the resident ID is a second identifier.
        "identifier": [
            {"system": e.system("patient"), "value": p.key()},
            {"system": "urn:oid:2.16.156.10011.1.2", "type": {"text": "居民身份证"}, "value": json_value(p.get("id_no"))},
        ],
        "name": [{"text": json_value(p.get("name"))}],
        "gender": gender,
        "birthDate": json_value(p.get("birth_date")),
        "telecom": [{"system": "phone", "value": json_value(p.get("phone")), "use": "mobile"}],
        "address": [{"text": json_value(p.get("address")), "district": json_value(p.get("region_code"))}],
        "maritalStatus": {"coding": [{"system": "urn:oid:2.16.156.10011.2.3.3.5", "code": json_value(p.get("marital_code"))}]},
    });
    e.put("Patient", "patient", p.key(), resource)
}

/// The transaction bundle of one encounter.
pub fn encounter_bundle(enc: &Encounter, site: &Site) -> Json {
    let mut e = Entries {
        site_system: format!("urn:hdos:his:{}", site.institution.code),
        entries: Vec::new(),
    };
    let subject = json!({"reference": patient(&mut e, &enc.patient)});
    let main = &enc.main;
    let inpatient = enc.is_inpatient();
    let (start, end) = if inpatient {
        (main.get("admit_time"), main.get("discharge_time"))
    } else {
        (main.get("visit_time"), &Value::Null)
    };
    let finished = !inpatient || end != &Value::Null;
    let mut period = json!({"start": json_value(start)});
    if end != &Value::Null {
        period["end"] = json_value(end);
    }
    let encounter = e.put(
        "Encounter",
        "encounter",
        main.key(),
        json!({
            "status": if finished { "finished" } else { "in-progress" },
            "class": {
                "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                "code": if inpatient { "IMP" } else { "AMB" },
            },
            "subject": subject,
            "period": period,
            "serviceType": {"text": json_value(main.get("dept_name"))},
            "reasonCode": [{"text": json_value(main.get("chief_complaint"))}],
        }),
    );
    let context = json!({"reference": encounter});
    for d in &enc.diagnoses {
        e.put(
            "Condition",
            "diagnosis",
            d.key(),
            json!({
                "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
                "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category", "code": "encounter-diagnosis"}]}],
                "code": icd_coding(d.get("icd10_code"), d.get("diagnosis_name")),
                "subject": subject,
                "encounter": context,
                "recordedDate": json_value(d.get("diagnosed_at")),
            }),
        );
    }
    for r in &enc.labs {
        let mut obs = json!({
            "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}],
            "code": {"coding": [
                {"system": LOINC, "code": json_value(r.get("loinc_code"))},
                {"system": format!("{}/lab-item", e.site_system), "code": json_value(r.get("item_code")), "display": json_value(r.get("item_name"))},
            ]},
            "subject": subject,
            "encounter": context,
            "effectiveDateTime": json_value(r.get("sampled_at")),
            "issued": json_value(r.get("reported_at")),
            "interpretation": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "code": json_value(r.get("abnormal_flag"))}]}],
        });
        match r.get("value_num") {
            Value::Null => obs["valueString"] = json_value(r.get("value_text")),
            v => {
                obs["valueQuantity"] =
                    json!({"value": json_value(v), "unit": json_value(r.get("unit"))})
            }
        }
        e.put("Observation", "lab-result", r.key(), obs);
    }
    for p in &enc.prescriptions {
        e.put(
            "MedicationRequest",
            "prescription",
            p.key(),
            json!({
                "status": "completed",
                "intent": "order",
                "medicationCodeableConcept": {"coding": [{"system": format!("{}/drug", e.site_system), "code": json_value(p.get("drug_code")), "display": json_value(p.get("drug_name"))}]},
                "subject": subject,
                "encounter": context,
                "authoredOn": json_value(p.get("prescribed_at")),
                "dosageInstruction": [{"text": format!(
                    "{} {} {}",
                    p.get("dose").as_str().unwrap_or_default(),
                    p.get("frequency").as_str().unwrap_or_default(),
                    p.get("route").as_str().unwrap_or_default()
                )}],
            }),
        );
    }
    json!({"resourceType": "Bundle", "type": "transaction", "entry": e.entries})
}
