//! Deciding what a FHIR request does before anything is stored: read the body, take the
//! resources out of a transaction or batch Bundle, resolve references between its entries, and
//! map every resource, so the client learns of each problem in the response.

use super::records::CompiledResource;
use crate::{
    hl7::{AckError, ErrorCondition, MappedRecords},
    inbox::rejection_error,
};
use serde_json::{Map, Value};
use std::collections::HashMap;

/// What the client asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Interaction {
    /// POST of a transaction or batch Bundle to the base.
    Bundle,
    /// POST `[base]/Type`.
    Create { resource_type: String },
    /// PUT `[base]/Type/id`.
    Update { resource_type: String, id: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BundleKind {
    /// All entries are stored, or none.
    Transaction,
    /// Each entry on its own.
    Batch,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Post,
    Put,
}

/// One resource of a request, assessed.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The entry's place in the Bundle.
    pub index: Option<usize>,
    pub resource_type: String,
    pub id: Option<String>,
    pub method: Method,
    /// The resource as stored (references resolved, `meta.lastUpdated` set), or the bytes as
    /// received when they could not be read as a resource.
    pub stored: Vec<u8>,
    pub errors: Vec<AckError>,
    /// The request itself is malformed (400), rather than its content unprocessable (422).
    pub malformed: bool,
    /// Valid, but not stored because another entry of its transaction failed.
    pub rolled_back: bool,
    pub last_updated: Option<String>,
}

impl Entry {
    pub fn accepted(&self) -> bool {
        self.errors.is_empty() && !self.rolled_back
    }

    fn refused(index: Option<usize>, stored: Vec<u8>, location: &str, text: String) -> Self {
        Self {
            index,
            resource_type: String::new(),
            id: None,
            method: Method::Post,
            stored,
            errors: vec![AckError {
                condition: ErrorCondition::SegmentSequence,
                location: location.to_owned(),
                text,
            }],
            malformed: true,
            rolled_back: false,
            last_updated: None,
        }
    }
}

/// A request, assessed entry by entry.
#[derive(Debug, Clone)]
pub struct Assessed {
    pub bundle: Option<BundleKind>,
    pub entries: Vec<Entry>,
}

/// What a channel accepts: its institution and its records.
#[derive(Debug, Clone)]
pub struct FhirIntake {
    pub institution: String,
    pub records: Vec<CompiledResource>,
}

/// FHIR ids: `[A-Za-z0-9\-\.]{1,64}`.
fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

fn text_of(v: Option<&Value>) -> Option<&str> {
    v.and_then(Value::as_str)
}

/// Replaces every `reference` that names another entry's `fullUrl` by that entry's `Type/id`.
fn resolve_references(v: &mut Value, targets: &HashMap<String, String>) {
    match v {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                match value {
                    Value::String(s) if key == "reference" => {
                        if let Some(t) = targets.get(s.as_str()) {
                            *s = t.clone();
                        }
                    }
                    other => resolve_references(other, targets),
                }
            }
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|i| resolve_references(i, targets)),
        _ => {}
    }
}

impl FhirIntake {
    pub fn new(institution: &str, records: Vec<CompiledResource>) -> Self {
        Self {
            institution: institution.to_owned(),
            records,
        }
    }

    /// The resource types this channel takes.
    pub fn resource_types(&self) -> Vec<&str> {
        super::records::resource_types(&self.records)
    }

    /// Assesses a request; `now` is the RFC 3339 time stamped on resources without
    /// `meta.lastUpdated`.
    pub fn assess(&self, interaction: &Interaction, body: &[u8], now: &str) -> Assessed {
        let value: Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => {
                return Assessed {
                    bundle: None,
                    entries: vec![Entry::refused(
                        None,
                        body.to_vec(),
                        "",
                        format!("the body is not JSON: {e}"),
                    )],
                };
            }
        };
        match interaction {
            Interaction::Bundle => self.assess_bundle(value, body, now),
            Interaction::Create { resource_type } => {
                let entry = self.single(value, body, resource_type, None, Method::Post, now);
                Assessed {
                    bundle: None,
                    entries: vec![entry],
                }
            }
            Interaction::Update { resource_type, id } => {
                let entry = self.single(value, body, resource_type, Some(id), Method::Put, now);
                Assessed {
                    bundle: None,
                    entries: vec![entry],
                }
            }
        }
    }

    fn single(
        &self,
        mut resource: Value,
        body: &[u8],
        resource_type: &str,
        url_id: Option<&str>,
        method: Method,
        now: &str,
    ) -> Entry {
        if let Err(reason) = check_envelope(&mut resource, resource_type, url_id) {
            return Entry::refused(None, body.to_vec(), resource_type, reason);
        }
        self.entry(None, resource, method, now)
    }

    fn assess_bundle(&self, bundle: Value, body: &[u8], now: &str) -> Assessed {
        let refuse = |text: String| Assessed {
            bundle: None,
            entries: vec![Entry::refused(None, body.to_vec(), "Bundle", text)],
        };
        if text_of(bundle.get("resourceType")) != Some("Bundle") {
            return refuse("POST to the base takes a transaction or batch Bundle".into());
        }
        let kind = match text_of(bundle.get("type")) {
            Some("transaction") => BundleKind::Transaction,
            Some("batch") => BundleKind::Batch,
            other => {
                return refuse(format!(
                    "Bundle.type `{}` is not accepted: send a transaction or a batch",
                    other.unwrap_or("")
                ));
            }
        };
        let entries = match bundle.get("entry") {
            None => Vec::new(),
            Some(Value::Array(e)) => e.clone(),
            Some(_) => return refuse("Bundle.entry is not a list".into()),
        };
        // Each entry's resource as `Type/id`, by its fullUrl, to resolve references with.
        let mut targets = HashMap::new();
        for e in &entries {
            let r = e.get("resource");
            let kind = text_of(r.and_then(|r| r.get("resourceType")));
            let id =
                text_of(r.and_then(|r| r.get("id"))).or_else(|| entry_url_id(e).map(|(_, id)| id));
            if let (Some(full), Some(kind), Some(id)) = (text_of(e.get("fullUrl")), kind, id) {
                targets.insert(full.to_owned(), format!("{kind}/{id}"));
            }
        }
        let mut out = Vec::with_capacity(entries.len());
        for (i, e) in entries.into_iter().enumerate() {
            let at = format!("Bundle.entry[{i}]");
            let bytes = serde_json::to_vec(&e).unwrap_or_default();
            let method = match text_of(e.pointer("/request/method")) {
                Some("POST") => Method::Post,
                Some("PUT") => Method::Put,
                other => {
                    out.push(Entry::refused(
                        Some(i),
                        bytes,
                        &format!("{at}.request.method"),
                        format!(
                            "{at}.request.method `{}` is not supported: entries are created (POST) or updated (PUT)",
                            other.unwrap_or("")
                        ),
                    ));
                    continue;
                }
            };
            let Some(mut resource) = e.get("resource").cloned().filter(Value::is_object) else {
                out.push(Entry::refused(
                    Some(i),
                    bytes,
                    &at,
                    format!("{at} has no resource"),
                ));
                continue;
            };
            let url = entry_url_id(&e);
            let declared = text_of(resource.get("resourceType"))
                .unwrap_or("")
                .to_owned();
            let url_type = url.map(|(t, _)| t).unwrap_or(&declared).to_owned();
            let url_id = url.map(|(_, id)| id.to_owned());
            if let Err(reason) = check_envelope(&mut resource, &url_type, url_id.as_deref()) {
                out.push(Entry::refused(Some(i), bytes, &at, reason));
                continue;
            }
            resolve_references(&mut resource, &targets);
            out.push(self.entry(Some(i), resource, method, now));
        }
        if kind == BundleKind::Transaction && out.iter().any(|e| !e.errors.is_empty()) {
            let failed = out
                .iter()
                .find(|e| !e.errors.is_empty())
                .and_then(|e| e.index)
                .unwrap_or(0);
            for e in out.iter_mut().filter(|e| e.errors.is_empty()) {
                e.rolled_back = true;
                e.errors.push(AckError {
                    condition: ErrorCondition::ApplicationInternalError,
                    location: String::new(),
                    text: format!("not stored: the transaction failed at Bundle.entry[{failed}]"),
                });
            }
        }
        Assessed {
            bundle: Some(kind),
            entries: out,
        }
    }

    /// Checks and maps one resource whose envelope is sound.
    fn entry(&self, index: Option<usize>, mut resource: Value, method: Method, now: &str) -> Entry {
        let resource_type = text_of(resource.get("resourceType"))
            .unwrap_or("")
            .to_owned();
        let id = text_of(resource.get("id")).map(str::to_owned);
        let meta = resource
            .as_object_mut()
            .map(|o| o.entry("meta").or_insert_with(|| Value::Object(Map::new())));
        if let Some(Value::Object(meta)) = meta {
            meta.entry("lastUpdated")
                .or_insert_with(|| Value::String(now.to_owned()));
        }
        let last_updated = resource
            .pointer("/meta/lastUpdated")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let errors = match self.map(&resource) {
            Ok(_) => Vec::new(),
            Err(errors) => errors,
        };
        Entry {
            index,
            resource_type,
            id,
            method,
            stored: serde_json::to_vec(&resource).unwrap_or_default(),
            errors,
            malformed: false,
            rolled_back: false,
            last_updated,
        }
    }

    /// The records a stored resource gives, or why it gives none.
    pub fn map(&self, resource: &Value) -> Result<MappedRecords, Vec<AckError>> {
        let kind = text_of(resource.get("resourceType")).unwrap_or("");
        if !self.records.iter().any(|r| r.resource == kind) {
            return Err(vec![AckError {
                condition: ErrorCondition::UnsupportedMessageType,
                location: kind.to_owned(),
                text: format!(
                    "resource type `{kind}` is not accepted by this channel; it takes {}",
                    self.resource_types().join(", ")
                ),
            }]);
        }
        match text_of(resource.get("id")) {
            Some(id) if valid_id(id) => {}
            Some(id) => {
                return Err(vec![AckError {
                    condition: ErrorCondition::DataTypeError,
                    location: format!("{kind}.id"),
                    text: format!(
                        "{kind}.id `{id}` is not a FHIR id (1–64 letters, digits, - and .)"
                    ),
                }]);
            }
            None => {
                return Err(vec![AckError {
                    condition: ErrorCondition::RequiredFieldMissing,
                    location: format!("{kind}.id"),
                    text: format!(
                        "{kind} has no id: records are kept under the hospital's own ids, so send PUT {kind}/<id> or give the resource its id"
                    ),
                }]);
            }
        }
        let mut records = Vec::new();
        let mut errors = Vec::new();
        for (i, record) in self.records.iter().enumerate() {
            if record.resource != kind {
                continue;
            }
            let Some(row) = record.row(resource) else {
                continue;
            };
            match record.mapping.apply(&row, &self.institution) {
                Ok(values) => records.push((i, vec![values])),
                Err(r) => {
                    // The element the refused value came from: the field's column, or for an
                    // expression the column that holds the value.
                    let column = record.mapping.column_of(&r.field).or_else(|| {
                        r.value
                            .as_ref()
                            .and_then(|v| row.iter().position(|c| c.as_ref() == Some(v)))
                    });
                    let mut e = rejection_error(&record.name, r);
                    if let Some(c) = column {
                        e.location = format!("{kind}.{}", record.columns()[c]);
                    }
                    errors.push(e);
                }
            }
        }
        if records.is_empty() && errors.is_empty() {
            errors.push(AckError {
                condition: ErrorCondition::TableValueNotFound,
                location: kind.to_owned(),
                text: format!(
                    "this {kind} gives no standard record (no mapping's condition holds for it, e.g. an Encounter class other than AMB, EMER or IMP)"
                ),
            });
        }
        if errors.is_empty() {
            Ok(records)
        } else {
            Err(errors)
        }
    }
}

/// `(Type, id)` from an entry's `request.url` (`Patient/1`, or `Patient` for a create).
fn entry_url_id(entry: &Value) -> Option<(&str, &str)> {
    let url = text_of(entry.pointer("/request/url"))?;
    let path = url.split('?').next()?;
    let (kind, id) = path.split_once('/')?;
    Some((kind, id))
}

/// Checks that the resource is an object of the type the URL names and that an id in the URL
/// agrees with the resource's (filling it in when the resource has none).
fn check_envelope(
    resource: &mut Value,
    resource_type: &str,
    url_id: Option<&str>,
) -> Result<(), String> {
    let Some(object) = resource.as_object_mut() else {
        return Err("the body is not a FHIR resource (a JSON object)".into());
    };
    let declared = text_of(object.get("resourceType")).unwrap_or("");
    if declared.is_empty() {
        return Err("the resource has no resourceType".into());
    }
    if !resource_type.is_empty() && declared != resource_type {
        return Err(format!(
            "the URL names a {resource_type} but the resource is a {declared}"
        ));
    }
    if let Some(url_id) = url_id {
        match text_of(object.get("id")) {
            Some(id) if id != url_id => {
                return Err(format!(
                    "the id in the URL ({url_id}) and in the resource ({id}) differ"
                ));
            }
            Some(_) => {}
            None => {
                object.insert("id".into(), Value::String(url_id.to_owned()));
            }
        }
    }
    Ok(())
}
