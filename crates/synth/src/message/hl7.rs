//! HL7 v2.5 messages: ADT^A04 for an outpatient registration, ADT^A01 and ADT^A03 for an
//! admission and its discharge, ADT^A08 for a demographic update, ORU^R01 for a lab report.

use crate::{
    history::{Encounter, Site},
    record::{Row, Value},
    timefmt,
};
use chrono::NaiveDateTime;

/// HL7 time with the region's offset.
fn ts(t: NaiveDateTime) -> String {
    format!("{}+0800", timefmt::compact_ts(t))
}

/// A message under construction: segments of `|`-separated fields, escaped per HL7 §2.7.
struct Message {
    bytes: Vec<u8>,
}

impl Message {
    fn new(site: &Site, at: NaiveDateTime, kind: &str, control_id: &str) -> Self {
        let mut m = Self { bytes: Vec::new() };
        m.segment(&[
            "MSH",
            "^~\\&",
            "HIS",
            &site.institution.code,
            "HDOS",
            "REGION",
            &ts(at),
            "",
            kind,
            control_id,
            "P",
            "2.5",
            "",
            "",
            "AL",
            "NE",
            "CHN",
            "UNICODE UTF-8",
        ]);
        m
    }

    /// Appends a segment whose fields are already encoded (components joined with `^`).
    fn segment(&mut self, fields: &[&str]) {
        // MSH-1 is the field separator itself: the segment name is followed directly by MSH-2.
        for (i, f) in fields.iter().enumerate() {
            if i > 0 {
                self.bytes.push(b'|');
            }
            self.bytes.extend_from_slice(f.as_bytes());
        }
        self.bytes.push(b'\r');
    }

    /// Appends a segment whose values may carry legacy-encoded bytes.
    fn segment_values(&mut self, name: &str, fields: &[Field<'_>]) {
        self.bytes.extend_from_slice(name.as_bytes());
        for f in fields {
            self.bytes.push(b'|');
            self.field(f);
        }
        self.bytes.push(b'\r');
    }

    fn field(&mut self, f: &Field<'_>) {
        match f {
            Field::Raw(s) => self.bytes.extend_from_slice(s.as_bytes()),
            Field::Value(v) => self.value(v),
            Field::Parts(parts) => parts.iter().for_each(|p| self.field(p)),
        }
    }

    fn value(&mut self, v: &Value) {
        match v {
            Value::Null => {}
            Value::Text(s) => self.bytes.extend_from_slice(escape(s).as_bytes()),
            Value::Int(i) => self.bytes.extend_from_slice(i.to_string().as_bytes()),
            Value::Money(fen) => self
                .bytes
                .extend_from_slice(format!("{}.{:02}", fen / 100, (fen % 100).abs()).as_bytes()),
            Value::Num(x) => self.bytes.extend_from_slice(x.to_string().as_bytes()),
            Value::Date(d) => self
                .bytes
                .extend_from_slice(timefmt::compact_date(*d).as_bytes()),
            Value::Ts(t) => self.bytes.extend_from_slice(ts(*t).as_bytes()),
            Value::Bool(b) => self.bytes.push(if *b { b'Y' } else { b'N' }),
            // A GBK client's bytes pass through the interface engine untouched.
            Value::Legacy(b) => self.bytes.extend_from_slice(b),
        }
    }
}

enum Field<'a> {
    Raw(String),
    Value(&'a Value),
    /// Pieces written one after another, such as components around a value.
    Parts(Vec<Field<'a>>),
}

/// Escapes HL7 delimiters in text.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\E\\"),
            '|' => out.push_str("\\F\\"),
            '^' => out.push_str("\\S\\"),
            '~' => out.push_str("\\R\\"),
            '&' => out.push_str("\\T\\"),
            '\r' | '\n' => out.push_str("\\X0D\\"),
            c => out.push(c),
        }
    }
    out
}

fn text(v: &Value) -> String {
    match v {
        Value::Text(s) => escape(s),
        _ => String::new(),
    }
}

fn hl7_sex(v: &Value) -> &'static str {
    match v.as_str() {
        Some("1") => "M",
        Some("2") => "F",
        _ => "U",
    }
}

fn pid(m: &mut Message, patient: &Row, site: &Site) {
    let ids = format!(
        "{}^^^{}^PI~{}^^^CHN^NNCHN",
        text(patient.get("patient_id")),
        site.institution.code,
        text(patient.get("id_no"))
    );
    let address = format!(
        "{}^^^^^CHN^H^^{}",
        text(patient.get("address")),
        text(patient.get("region_code"))
    );
    m.segment_values(
        "PID",
        &[
            Field::Raw("1".into()),
            Field::Raw(String::new()),
            Field::Raw(ids),
            Field::Raw(String::new()),
            Field::Value(patient.get("name")),
            Field::Raw(String::new()),
            Field::Value(patient.get("birth_date")),
            Field::Raw(hl7_sex(patient.get("sex_code")).into()),
            Field::Raw(String::new()),
            Field::Raw(String::new()),
            Field::Raw(address),
            Field::Raw(String::new()),
            Field::Raw(format!("^PRN^CP^^^^^^^^^{}", text(patient.get("phone")))),
            Field::Raw(String::new()),
            Field::Raw(String::new()),
            Field::Raw(text(patient.get("marital_code"))),
            Field::Raw(String::new()),
            Field::Raw(String::new()),
            Field::Raw(String::new()),
            Field::Raw(String::new()),
            Field::Raw(String::new()),
            Field::Raw(text(patient.get("ethnicity_code"))),
        ],
    );
}

/// PV1: patient class, department (PV1-3), attending doctor (PV1-7), visit number (PV1-19),
/// admit and discharge times (PV1-44, PV1-45).
fn pv1(m: &mut Message, enc: &Encounter) {
    let inpatient = enc.is_inpatient();
    let (start, end) = if inpatient {
        (enc.main.get("admit_time"), enc.main.get("discharge_time"))
    } else {
        (enc.main.get("visit_time"), &Value::Null)
    };
    let mut fields: Vec<Field<'_>> = vec![
        Field::Raw("1".into()),
        Field::Raw(if inpatient { "I" } else { "O" }.into()),
        Field::Value(enc.main.get("dept_name")),
    ];
    fields.extend((4..=6).map(|_| Field::Raw(String::new())));
    fields.push(Field::Raw(text(enc.main.get("doctor_id"))));
    fields.extend((8..=18).map(|_| Field::Raw(String::new())));
    fields.push(Field::Raw(escape(enc.main.key())));
    fields.extend((20..=43).map(|_| Field::Raw(String::new())));
    fields.push(Field::Value(start));
    fields.push(Field::Value(end));
    m.segment_values("PV1", &fields);
}

fn dg1(m: &mut Message, enc: &Encounter) {
    for (i, d) in enc.diagnoses.iter().enumerate() {
        let system = match d.get("icd10_code").as_str() {
            Some(c) if c.len() > 5 && c.contains('.') => "ICD10-CN-2.0",
            _ => "I10",
        };
        // DG1-3 code^^system, DG1-4 description, DG1-5 time, DG1-6 type (A primary, W other).
        let kind = if d.get("is_primary") == &Value::Bool(true) {
            "A"
        } else {
            "W"
        };
        m.segment_values(
            "DG1",
            &[
                Field::Raw((i + 1).to_string()),
                Field::Raw(String::new()),
                Field::Raw(format!("{}^^{system}", text(d.get("icd10_code")))),
                Field::Value(d.get("diagnosis_name")),
                Field::Value(d.get("diagnosed_at")),
                Field::Raw(kind.into()),
            ],
        );
    }
}

/// The messages an encounter produces, in time order.
pub fn encounter_messages(enc: &Encounter, site: &Site) -> Vec<Vec<u8>> {
    let key = enc.main.key();
    let mut out = Vec::new();
    let events: Vec<(&str, &str, &Value)> = if enc.is_inpatient() {
        let mut e = vec![("A01", "ADT^A01^ADT_A01", enc.main.get("admit_time"))];
        if enc.main.get("discharge_time") != &Value::Null {
            e.push(("A03", "ADT^A03^ADT_A03", enc.main.get("discharge_time")));
        }
        e
    } else {
        vec![("A04", "ADT^A01^ADT_A01", enc.main.get("visit_time"))]
    };
    // The HIS sends an encounter's message once the diagnoses it carries are written (a visit's
    // come minutes after it starts): the message time is never before them.
    let written = enc.diagnoses.iter().map(|d| d.updated_at).max();
    for (event, structure, at) in events {
        let at = at.as_ts().unwrap_or(enc.main.updated_at);
        let sent = written.map_or(at, |w| w.max(at));
        let kind = structure.replacen("A01", event, 1);
        let mut m = Message::new(site, sent, &kind, &format!("{event}-{key}"));
        m.segment(&["EVN", event, &ts(at)]);
        pid(&mut m, &enc.patient, site);
        pv1(&mut m, enc);
        dg1(&mut m, enc);
        out.push(m.bytes);
    }
    if let Some(first) = enc.labs.first() {
        out.push(lab_report(enc, first, site));
    }
    out
}

fn lab_report(enc: &Encounter, first: &Row, site: &Site) -> Vec<u8> {
    let report_no = text(first.get("report_no"));
    let reported = first.get("reported_at").as_ts().unwrap_or(first.updated_at);
    let mut m = Message::new(
        site,
        reported,
        "ORU^R01^ORU_R01",
        &format!("R01-{report_no}"),
    );
    pid(&mut m, &enc.patient, site);
    pv1(&mut m, enc);
    m.segment(&["ORC", "RE", "", &report_no]);
    let mut obr: Vec<Field<'_>> = vec![
        Field::Raw("1".into()),
        Field::Raw(String::new()),
        Field::Raw(report_no),
        Field::Raw("LAB^检验报告^L".into()),
        Field::Raw(String::new()),
        Field::Raw(String::new()),
        Field::Value(first.get("sampled_at")),
    ];
    obr.extend((8..=21).map(|_| Field::Raw(String::new())));
    obr.push(Field::Value(first.get("reported_at")));
    obr.push(Field::Raw(String::new()));
    obr.push(Field::Raw(String::new()));
    obr.push(Field::Raw("F".into()));
    m.segment_values("OBR", &obr);
    for (i, r) in enc.labs.iter().enumerate() {
        let numeric = r.get("value_num") != &Value::Null;
        // OBX-3: the LOINC coding and the local one, each with the item's name.
        let name = r.get("item_name");
        let observation = Field::Parts(vec![
            Field::Raw(format!("{}^", text(r.get("loinc_code")))),
            Field::Value(name),
            Field::Raw(format!("^LN~{}^", text(r.get("item_code")))),
            Field::Value(name),
            Field::Raw("^L".into()),
        ]);
        let range = clinical_range(r);
        m.segment_values(
            "OBX",
            &[
                Field::Raw((i + 1).to_string()),
                Field::Raw(if numeric { "NM" } else { "ST" }.into()),
                observation,
                Field::Raw(String::new()),
                Field::Value(if numeric {
                    r.get("value_num")
                } else {
                    r.get("value_text")
                }),
                Field::Value(r.get("unit")),
                Field::Raw(range),
                Field::Raw(text(r.get("abnormal_flag"))),
                Field::Raw(String::new()),
                Field::Raw(String::new()),
                Field::Raw("F".into()),
                Field::Raw(String::new()),
                Field::Raw(String::new()),
                Field::Value(r.get("sampled_at")),
            ],
        );
    }
    m.bytes
}

/// OBX-7 reference range from the lab table, when the item is known.
fn clinical_range(r: &Row) -> String {
    let key = r
        .get("item_code")
        .as_str()
        .and_then(|c| c.strip_prefix('L'))
        .and_then(crate::clinical::lab_item);
    match key {
        Some(item) if !item.unit.is_empty() => format!("{}-{}", item.low, item.high),
        _ => String::new(),
    }
}

/// ADT^A08 for a patient record that changed.
pub fn patient_update(patient: &Row, site: &Site) -> Vec<u8> {
    let at = patient.updated_at;
    let control = format!("A08-{}-{}", patient.key(), timefmt::compact_ts(at));
    let mut m = Message::new(site, at, "ADT^A08^ADT_A01", &control);
    m.segment(&["EVN", "A08", &ts(at)]);
    pid(&mut m, patient, site);
    m.segment(&["PV1", "1", "N"]);
    m.bytes
}

/// ADT^A11 (cancel admit/visit) for a visit deleted at the HIS.
pub fn visit_cancel(visit: &Row, site: &Site) -> Vec<u8> {
    let at = visit.updated_at;
    let control = format!("A11-{}", visit.key());
    let mut m = Message::new(site, at, "ADT^A11^ADT_A09", &control);
    m.segment(&["EVN", "A11", &ts(at)]);
    m.segment_values(
        "PID",
        &[
            Field::Raw("1".into()),
            Field::Raw(String::new()),
            Field::Raw(format!(
                "{}^^^{}^PI",
                text(visit.get("patient_id")),
                site.institution.code
            )),
        ],
    );
    let mut pv1: Vec<Field<'_>> = vec![Field::Raw("1".into()), Field::Raw("O".into())];
    pv1.extend((3..=18).map(|_| Field::Raw(String::new())));
    pv1.push(Field::Raw(escape(visit.key())));
    m.segment_values("PV1", &pv1);
    m.bytes
}
