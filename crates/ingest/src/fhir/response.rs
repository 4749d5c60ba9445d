//! The answers a FHIR client gets: the stored resource, a transaction-response or
//! batch-response Bundle with a result per entry, or an OperationOutcome naming each problem.

use super::intake::{Assessed, BundleKind, Entry, Method};
use crate::hl7::{AckError, ErrorCondition};
use serde_json::{Value, json};

/// An HTTP answer: status, `application/fhir+json` body and, for a single resource, where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct FhirResponse {
    pub status: u16,
    pub body: Value,
    pub location: Option<String>,
}

/// The OperationOutcome issue type of a problem.
fn issue_code(condition: ErrorCondition) -> &'static str {
    match condition {
        ErrorCondition::RequiredFieldMissing => "required",
        ErrorCondition::DataTypeError => "value",
        ErrorCondition::TableValueNotFound => "code-invalid",
        ErrorCondition::UnsupportedMessageType | ErrorCondition::UnsupportedEventCode => {
            "not-supported"
        }
        ErrorCondition::ApplicationInternalError => "exception",
        ErrorCondition::UnknownKey => "security",
        ErrorCondition::SegmentSequence
        | ErrorCondition::UnsupportedProcessingId
        | ErrorCondition::UnsupportedVersionId => "structure",
    }
}

/// An OperationOutcome with one issue per problem; a problem of a Bundle entry (its index
/// given) is placed at `Bundle.entry[i].resource`.
pub fn outcome(errors: &[(Option<usize>, &AckError)]) -> Value {
    let issues: Vec<Value> = errors
        .iter()
        .map(|(index, e)| {
            let mut issue = json!({
                "severity": "error",
                "code": issue_code(e.condition),
                "diagnostics": e.text,
            });
            // Locations that are FHIRPath (`Patient.birthDate`) are given as expressions.
            if e.location.starts_with(|c: char| c.is_ascii_uppercase()) {
                let expression = match index {
                    Some(i) if !e.location.starts_with("Bundle") => {
                        format!("Bundle.entry[{i}].resource.{}", strip_type(&e.location))
                    }
                    _ => e.location.clone(),
                };
                issue["expression"] = json!([expression]);
            }
            issue
        })
        .collect();
    json!({"resourceType": "OperationOutcome", "issue": issues})
}

/// `Patient.birthDate` → `birthDate`; a bare type stays.
fn strip_type(location: &str) -> &str {
    location.split_once('.').map_or(location, |(_, rest)| rest)
}

/// A one-issue OperationOutcome, for failures outside any resource.
pub fn failure(status: u16, code: &str, text: &str) -> FhirResponse {
    FhirResponse {
        status,
        body: json!({
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": code, "diagnostics": text}],
        }),
        location: None,
    }
}

fn reference(e: &Entry) -> Option<String> {
    Some(format!("{}/{}", e.resource_type, e.id.as_deref()?))
}

fn success_status(e: &Entry) -> u16 {
    match e.method {
        Method::Post => 201,
        Method::Put => 200,
    }
}

fn status_text(status: u16) -> &'static str {
    match status {
        200 => "200 OK",
        201 => "201 Created",
        400 => "400 Bad Request",
        _ => "422 Unprocessable Entity",
    }
}

fn failed_status(entries: &[&Entry]) -> u16 {
    if entries.iter().any(|e| e.malformed) {
        400
    } else {
        422
    }
}

fn entry_result(e: &Entry) -> Value {
    if e.accepted() {
        let status = success_status(e);
        json!({"response": {
            "status": status_text(status),
            "location": reference(e),
            "lastModified": e.last_updated,
        }})
    } else {
        let errors: Vec<(Option<usize>, &AckError)> =
            e.errors.iter().map(|x| (e.index, x)).collect();
        json!({"response": {
            "status": status_text(failed_status(&[e])),
            "outcome": outcome(&errors),
        }})
    }
}

/// The answer to an assessed request whose accepted entries are stored.
pub fn respond(assessed: &Assessed) -> FhirResponse {
    let failed: Vec<&Entry> = assessed
        .entries
        .iter()
        .filter(|e| !e.errors.is_empty() && !e.rolled_back)
        .collect();
    match assessed.bundle {
        None | Some(BundleKind::Transaction) if !failed.is_empty() => {
            let errors: Vec<(Option<usize>, &AckError)> = failed
                .iter()
                .flat_map(|e| e.errors.iter().map(|x| (e.index, x)))
                .collect();
            FhirResponse {
                status: failed_status(&failed),
                body: outcome(&errors),
                location: None,
            }
        }
        None => {
            let e = &assessed.entries[0];
            let mut body: Value = serde_json::from_slice(&e.stored).unwrap_or(Value::Null);
            if body.is_null() {
                body = json!({});
            }
            FhirResponse {
                status: success_status(e),
                body,
                location: reference(e),
            }
        }
        Some(kind) => {
            let kind = match kind {
                BundleKind::Transaction => "transaction-response",
                BundleKind::Batch => "batch-response",
            };
            let entries: Vec<Value> = assessed.entries.iter().map(entry_result).collect();
            FhirResponse {
                status: 200,
                body: json!({"resourceType": "Bundle", "type": kind, "entry": entries}),
                location: None,
            }
        }
    }
}
