//! The FHIR R4 channel with a real Delta lake and a real SQLite metadata store: a transaction
//! Bundle of the five resource types lands in the std zone once, even when sent twice; a batch
//! with bad entries stores the good ones and answers per entry; a failed transaction stores
//! nothing in std and quarantines every entry; invalid JSON and resources get 4xx with an
//! OperationOutcome; and a restart lands what the journal held.

use anyhow::{Context, Result, ensure};
use hdos_core::standard::Standard;
use hdos_ingest::{
    fhir::{FhirHub, Interaction, ResourceMappings, channel_name},
    hl7::AckCode,
    inbox::Received,
    journal::Journal,
    land::slug,
};
use hdos_lake::Lake;
use hdos_store::MetaStore;
use serde_json::{Value, json};
use std::{path::Path, sync::Arc};

use crate::common;

const INSTITUTION: &str = "H330100001";

fn hub(store: Arc<dyn MetaStore>, lake: &Lake, dir: &Path) -> Result<FhirHub> {
    Ok(FhirHub::new(
        store,
        lake.clone(),
        Standard::builtin()?,
        &ResourceMappings::builtin()?,
        dir.join("journal"),
    )?)
}

fn patient(id: &str, birth: &str) -> Value {
    json!({
        "resourceType": "Patient", "id": id,
        "identifier": [{"type": {"coding": [{"code": "NNCHN"}]}, "value": "110101199003074514"}],
        "name": [{"text": "王小明"}], "gender": "male", "birthDate": birth,
        "telecom": [{"system": "phone", "value": "13800138000"}],
        "meta": {"lastUpdated": "2026-03-01T08:30:05+08:00"}
    })
}

/// An outpatient visit of `p1` with its diagnosis, a lab result and a prescription, linked by
/// `urn:uuid` full URLs as FHIR clients write them.
fn transaction(kind: &str) -> Value {
    json!({
        "resourceType": "Bundle", "type": kind,
        "entry": [
            {"fullUrl": "urn:uuid:patient-1", "resource": patient("p1", "1990-03-07"),
             "request": {"method": "PUT", "url": "Patient/p1"}},
            {"fullUrl": "urn:uuid:visit-1", "resource": {
                "resourceType": "Encounter", "id": "v1", "status": "finished",
                "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                "subject": {"reference": "urn:uuid:patient-1"},
                "serviceType": {"text": "内科"},
                "period": {"start": "2026-03-01T09:00:00+08:00"},
                "reasonCode": [{"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "J06.9", "display": "急性上呼吸道感染"}]}]
             }, "request": {"method": "PUT", "url": "Encounter/v1"}},
            {"resource": {
                "resourceType": "Condition", "id": "d1",
                "extension": [
                    {"url": "urn:hdos:fhir:encounter-class", "valueCode": "AMB"},
                    {"url": "urn:hdos:fhir:primary", "valueBoolean": true}
                ],
                "subject": {"reference": "urn:uuid:patient-1"},
                "encounter": {"reference": "urn:uuid:visit-1"},
                "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "J06.9", "display": "急性上呼吸道感染"}]},
                "recordedDate": "2026-03-01T09:10:00+08:00"
             }, "request": {"method": "PUT", "url": "Condition/d1"}},
            {"resource": {
                "resourceType": "Observation", "id": "o1", "status": "final",
                "code": {"coding": [
                    {"system": "http://loinc.org", "code": "718-7", "display": "Hemoglobin"},
                    {"system": "urn:his:lis", "code": "HGB", "display": "血红蛋白"}
                ], "text": "血红蛋白"},
                "subject": {"reference": "Patient/p1"}, "encounter": {"reference": "Encounter/v1"},
                "effectiveDateTime": "2026-03-01T09:20:00+08:00", "issued": "2026-03-01T10:00:00+08:00",
                "valueQuantity": {"value": 135.5, "unit": "g/L"},
                "interpretation": [{"coding": [{"code": "N"}]}]
             }, "request": {"method": "PUT", "url": "Observation/o1"}},
            {"resource": {
                "resourceType": "MedicationRequest", "id": "m1", "status": "active", "intent": "order",
                "medicationCodeableConcept": {"coding": [{"code": "X01", "display": "阿莫西林胶囊"}]},
                "subject": {"reference": "Patient/p1"}, "encounter": {"reference": "Encounter/v1"},
                "authoredOn": "2026-03-01T09:30:00+08:00",
                "dosageInstruction": [{"route": {"text": "口服"}, "timing": {"code": {"text": "tid"}},
                    "doseAndRate": [{"doseQuantity": {"value": 0.5, "unit": "g"}}]}],
                "dispenseRequest": {"expectedSupplyDuration": {"value": 7, "unit": "d"}}
             }, "request": {"method": "PUT", "url": "MedicationRequest/m1"}}
        ]
    })
}

fn bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

#[tokio::test]
async fn a_transaction_lands_every_resource_once_even_when_sent_twice() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let store: Arc<dyn MetaStore> = Arc::new(common::store(dir.path(), "meta.db").await?);
    let lake = Lake::open(dir.path().join("lake").to_str().context("path")?)?;
    let hub = hub(store.clone(), &lake, dir.path())?;
    let channel = hub.channel(INSTITUTION).await?;
    let body = bytes(&transaction("transaction"));
    for _ in 0..2 {
        let r = channel.receive(&Interaction::Bundle, &body, "test").await;
        ensure!(r.status == 200, "status {}: {}", r.status, r.body);
        ensure!(r.body["type"] == "transaction-response");
        let statuses: Vec<&str> = r.body["entry"]
            .as_array()
            .context("entries")?
            .iter()
            .map(|e| e["response"]["status"].as_str().unwrap_or(""))
            .collect();
        ensure!(statuses == ["200 OK"; 5], "{statuses:?}");
        ensure!(r.body["entry"][1]["response"]["location"] == "Encounter/v1");
    }
    channel.caught_up().await;
    for table in [
        "std/patient",
        "std/outpatient_visit",
        "std/diagnosis",
        "std/lab_result",
        "std/prescription",
    ] {
        ensure!(
            common::count(&lake, table, "").await? == 1,
            "{table} holds one row"
        );
    }
    let linked = common::count(
        &lake,
        "std/diagnosis",
        &format!(
            "WHERE patient_id = 'p1' AND encounter_id = 'v1' AND encounter_type = 'O' \
             AND is_primary AND institution_code = '{INSTITUTION}'"
        ),
    )
    .await?;
    ensure!(
        linked == 1,
        "urn:uuid references resolve to the entries' ids"
    );
    let lab = common::count(
        &lake,
        "std/lab_result",
        "WHERE loinc_code = '718-7' AND item_code = 'HGB' AND value_num = 135.5 AND unit = 'g/L'",
    )
    .await?;
    ensure!(lab == 1, "the observation maps its codings and quantity");
    ensure!(common::count(&lake, "raw/fhir_h330100001/resources", "").await? == 10);
    let counts = channel.stop().await?;
    ensure!(
        counts.rows_read == 10 && counts.rows_quarantined == 0,
        "{counts:?}"
    );
    Ok(())
}

#[tokio::test]
async fn bad_requests_get_an_operation_outcome_and_lose_nothing() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let store: Arc<dyn MetaStore> = Arc::new(common::store(dir.path(), "meta.db").await?);
    let lake = Lake::open(dir.path().join("lake").to_str().context("path")?)?;
    let hub = hub(store.clone(), &lake, dir.path())?;
    let channel = hub.channel(INSTITUTION).await?;

    // Invalid JSON: 400 with the parser's position.
    let r = channel
        .receive(&Interaction::Bundle, b"{\"resourceType\": ", "test")
        .await;
    ensure!(r.status == 400 && r.body["resourceType"] == "OperationOutcome");
    ensure!(
        r.body["issue"][0]["diagnostics"]
            .as_str()
            .unwrap_or("")
            .contains("not JSON"),
        "{}",
        r.body
    );

    // A create whose birth date is impossible: 422 naming the element.
    let create = Interaction::Create {
        resource_type: "Patient".into(),
    };
    let r = channel
        .receive(&create, &bytes(&patient("p2", "1990-02-30")), "test")
        .await;
    ensure!(r.status == 422, "{}", r.body);
    ensure!(
        r.body["issue"][0]["expression"][0] == "Patient.birthDate",
        "{}",
        r.body
    );
    ensure!(r.body["issue"][0]["code"] == "value");

    // The URL and the resource disagree: 400.
    let update = Interaction::Update {
        resource_type: "Patient".into(),
        id: "other".into(),
    };
    let r = channel
        .receive(&update, &bytes(&patient("p3", "1990-03-07")), "test")
        .await;
    ensure!(r.status == 400, "{}", r.body);

    // A transaction with one bad entry stores none of it.
    let mut tx = transaction("transaction");
    tx["entry"][3]["resource"]["effectiveDateTime"] = json!("2026-03-01T09:20:00");
    let r = channel
        .receive(&Interaction::Bundle, &bytes(&tx), "test")
        .await;
    ensure!(r.status == 422, "{}", r.body);
    ensure!(
        r.body["issue"][0]["expression"][0] == "Bundle.entry[3].resource.effectiveDateTime",
        "{}",
        r.body
    );

    // The same entries as a batch: the good ones are stored, the bad one is answered 422.
    let mut batch = tx.clone();
    batch["type"] = json!("batch");
    batch["entry"][4]["request"]["method"] = json!("DELETE");
    let r = channel
        .receive(&Interaction::Bundle, &bytes(&batch), "test")
        .await;
    ensure!(
        r.status == 200 && r.body["type"] == "batch-response",
        "{}",
        r.body
    );
    let statuses: Vec<&str> = r.body["entry"]
        .as_array()
        .context("entries")?
        .iter()
        .map(|e| e["response"]["status"].as_str().unwrap_or(""))
        .collect();
    ensure!(
        statuses
            == [
                "200 OK",
                "200 OK",
                "200 OK",
                "422 Unprocessable Entity",
                "400 Bad Request"
            ],
        "{statuses:?}"
    );

    // A resource type the channel does not take.
    let r = channel
        .receive(
            &Interaction::Create {
                resource_type: "Device".into(),
            },
            br#"{"resourceType": "Device", "id": "x"}"#,
            "test",
        )
        .await;
    ensure!(r.status == 422 && r.body["issue"][0]["code"] == "not-supported");

    channel.caught_up().await;
    ensure!(common::count(&lake, "std/patient", "").await? == 1);
    ensure!(common::count(&lake, "std/lab_result", "").await? == 0);
    ensure!(common::count(&lake, "std/prescription", "").await? == 0);
    // Everything refused is kept with its reason: the JSON (1), the two single resources (2),
    // the five entries of the failed transaction (5), two bad batch entries (2), the Device (1).
    let quarantined = common::count(&lake, "quarantine/resources", "").await?;
    ensure!(quarantined == 11, "quarantined {quarantined}");
    let rolled_back = common::count(
        &lake,
        "quarantine/resources",
        "WHERE reason LIKE '%transaction failed at Bundle.entry[3]%'",
    )
    .await?;
    ensure!(rolled_back == 4, "rolled back {rolled_back}");
    channel.stop().await?;
    Ok(())
}

#[tokio::test]
async fn a_restart_lands_what_was_answered_but_not_landed() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let store: Arc<dyn MetaStore> = Arc::new(common::store(dir.path(), "meta.db").await?);
    let lake = Lake::open(dir.path().join("lake").to_str().context("path")?)?;
    // What the channel writes before it answers, left in the journal by a process that died
    // before its lander ran.
    {
        let journal_dir = dir
            .path()
            .join("journal")
            .join(slug(&channel_name(INSTITUTION)));
        let journal = Journal::open(&journal_dir)?;
        let record = Received {
            at: 0,
            peer: "test".into(),
            ack: Some(AckCode::AA),
            kind: "Patient".into(),
            control_id: "Patient/p9".into(),
            facility: INSTITUTION.into(),
            errors: Vec::new(),
        };
        journal
            .append(record.encode(&bytes(&patient("p9", "1990-03-07"))))
            .await?;
    }
    let hub = hub(store.clone(), &lake, dir.path())?;
    let channel = hub.channel(INSTITUTION).await?;
    channel.caught_up().await;
    ensure!(common::count(&lake, "std/patient", "WHERE patient_id = 'p9'").await? == 1);
    hub.stop().await;
    Ok(())
}
