//! FHIR R4 over HTTP: a provider's interface account posts a transaction Bundle and the
//! resources reach its own institution's std zone; wrong media types and invalid resources get
//! an OperationOutcome; every request is audited.

use crate::common::{TestApp, audited, body_json, json};
use anyhow::{Context, Result, ensure};
use axum::{
    body::Body,
    http::{Method, Request, StatusCode, header},
};
use hdos_core::Role;
use hdos_lake::{TableName, arrow::array::AsArray, arrow::datatypes::Int64Type};
use serde_json::json as value;

fn bundle() -> serde_json::Value {
    value!({
        "resourceType": "Bundle", "type": "transaction",
        "entry": [
            {"fullUrl": "urn:uuid:p", "request": {"method": "PUT", "url": "Patient/p1"}, "resource": {
                "resourceType": "Patient", "id": "p1", "name": [{"text": "李四"}],
                "identifier": [{"type": {"coding": [{"code": "NNCHN"}]}, "value": "110101198506014527"}],
                "gender": "female", "birthDate": "1985-06-01"}},
            {"request": {"method": "PUT", "url": "Encounter/v1"}, "resource": {
                "resourceType": "Encounter", "id": "v1", "status": "finished",
                "class": {"code": "IMP"}, "subject": {"reference": "urn:uuid:p"},
                "serviceType": {"text": "心内科"},
                "period": {"start": "2026-02-01T08:00:00+08:00", "end": "2026-02-09T10:00:00+08:00"},
                "reasonCode": [{"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "I21.0"}]}]}}
        ]
    })
}

#[tokio::test]
async fn a_provider_posts_a_bundle_into_its_own_institution() -> Result<()> {
    let app = TestApp::new().await?;
    let login = app.session(Role::Provider).await?;
    let resp = app
        .send(json(Method::POST, "/fhir/r4", Some(&login), bundle()))
        .await?;
    ensure!(resp.status() == StatusCode::OK);
    ensure!(
        resp.headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/fhir+json"))
    );
    let body = body_json(resp).await?;
    ensure!(body["type"] == "transaction-response", "{body}");

    let code = app.state.store.institution(app.hospital).await?.code;
    let hub = app.state.fhir.as_ref().context("hub")?;
    hub.channel(&code).await?.caught_up().await;
    let stays = TableName::new("std/inpatient_stay")?;
    let sql = format!(
        "SELECT count(*) FROM {} WHERE institution_code = '{code}' AND patient_id = 'p1' \
         AND dept_name = '心内科' AND main_diagnosis_code = 'I21.0'",
        stays.sql_name()
    );
    let batches = app
        .state
        .lake
        .query(std::slice::from_ref(&stays), &sql)
        .await?;
    let n = hdos_lake::arrow::compute::cast(
        batches.first().context("result")?.column(0),
        &hdos_lake::arrow::datatypes::DataType::Int64,
    )?;
    ensure!(n.as_primitive::<Int64Type>().value(0) == 1);
    ensure!(!audited(&app, "fhir.receive").await?.is_empty());
    hub.stop().await;
    Ok(())
}

#[tokio::test]
async fn wrong_media_types_and_invalid_resources_get_an_operation_outcome() -> Result<()> {
    let app = TestApp::new().await?;
    let login = app.session(Role::Provider).await?;
    let plain = Request::builder()
        .method(Method::POST)
        .uri("/fhir/r4/Patient")
        .header(header::CONTENT_TYPE, "text/plain")
        .header(header::COOKIE, &login.cookie)
        .header("x-csrf-token", &login.csrf)
        .body(Body::from("hello"))?;
    let resp = app.send(plain).await?;
    ensure!(resp.status() == StatusCode::UNSUPPORTED_MEDIA_TYPE);
    ensure!(body_json(resp).await?["resourceType"] == "OperationOutcome");

    let resp = app
        .send(json(
            Method::PUT,
            "/fhir/r4/Patient/p2",
            Some(&login),
            value!({"resourceType": "Patient", "gender": "woman", "birthDate": "1985-06-01",
                    "identifier": [{"type": {"coding": [{"code": "NNCHN"}]}, "value": "110101198506014527"}],
                    "name": [{"text": "张三"}]}),
        ))
        .await?;
    ensure!(resp.status() == StatusCode::UNPROCESSABLE_ENTITY);
    let outcome = body_json(resp).await?;
    ensure!(
        outcome["issue"][0]["expression"][0] == "Patient.gender",
        "{outcome}"
    );
    ensure!(outcome["issue"][0]["code"] == "code-invalid", "{outcome}");

    let resp = app
        .send(crate::common::get("/fhir/r4/metadata", Some(&login)))
        .await?;
    let capability = body_json(resp).await?;
    ensure!(capability["resourceType"] == "CapabilityStatement");
    ensure!(
        capability["rest"][0]["resource"]
            .as_array()
            .map_or(0, Vec::len)
            == 5
    );
    Ok(())
}
