//! `hdos bench fhir`: transaction Bundles posted over real HTTP on loopback to the server's FHIR
//! endpoint, each answered only after its resources are in the journal on disk; then the time
//! until the lake holds them all.

use super::bench::{percentile, report_with};
use crate::config::Config;
use anyhow::{Context, Result, ensure};
use bytes::Bytes;
use hdos_core::{Role, standard::Standard};
use hdos_ingest::fhir::{FhirHub, ResourceMappings};
use hdos_server::{AppState, ServerConfig, auth};
use hdos_store::{ConnectOptions, MetaStore, NewInstitution, NewUser, Secret, SqlStore};
use http_body_util::{BodyExt, Full};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use serde_json::json;
use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Instant,
};

const INSTITUTION: &str = "12330000BENCH0001X";

/// One outpatient visit as a hospital's FHIR client would send it: patient, encounter,
/// diagnosis, a lab result and a prescription, linked by `urn:uuid` full URLs.
fn visit_bundle(i: usize) -> Bytes {
    const CODES: [(&str, &str); 4] = [
        ("J06.9", "急性上呼吸道感染"),
        ("I10", "特发性(原发性)高血压"),
        ("E11.9", "2型糖尿病"),
        ("K29.7", "胃炎"),
    ];
    let (code, name) = CODES[i % CODES.len()];
    let day = 1 + i % 28;
    let at = |hour: usize| format!("2026-03-{day:02}T{hour:02}:{:02}:00+08:00", i % 60);
    let p = format!("P{i:08}");
    let v = format!("V{i:08}");
    let body = json!({
        "resourceType": "Bundle", "type": "transaction",
        "entry": [
            {"fullUrl": "urn:uuid:p", "request": {"method": "PUT", "url": format!("Patient/{p}")},
             "resource": {"resourceType": "Patient", "id": p,
                "identifier": [{"type": {"coding": [{"code": "NNCHN"}]}, "value": format!("33010619{:02}0101{:04}", 50 + i % 40, i % 10_000)}],
                "name": [{"text": "患者"}], "gender": if i.is_multiple_of(2) { "male" } else { "female" },
                "birthDate": format!("19{:02}-01-01", 50 + i % 40)}},
            {"fullUrl": "urn:uuid:v", "request": {"method": "PUT", "url": format!("Encounter/{v}")},
             "resource": {"resourceType": "Encounter", "id": v, "status": "finished",
                "class": {"code": "AMB"}, "subject": {"reference": "urn:uuid:p"},
                "serviceType": {"text": "内科"}, "period": {"start": at(9)},
                "reasonCode": [{"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": code, "display": name}]}]}},
            {"request": {"method": "PUT", "url": format!("Condition/D{i:08}")},
             "resource": {"resourceType": "Condition", "id": format!("D{i:08}"),
                "extension": [{"url": "urn:hdos:fhir:encounter-class", "valueCode": "AMB"},
                              {"url": "urn:hdos:fhir:primary", "valueBoolean": true}],
                "subject": {"reference": "urn:uuid:p"}, "encounter": {"reference": "urn:uuid:v"},
                "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": code, "display": name}]},
                "recordedDate": at(9)}},
            {"request": {"method": "PUT", "url": format!("Observation/O{i:08}")},
             "resource": {"resourceType": "Observation", "id": format!("O{i:08}"), "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "718-7"}, {"system": "urn:lis", "code": "HGB"}], "text": "血红蛋白"},
                "subject": {"reference": "urn:uuid:p"}, "encounter": {"reference": "urn:uuid:v"},
                "effectiveDateTime": at(10), "issued": at(11),
                "valueQuantity": {"value": 120 + i % 40, "unit": "g/L"}}},
            {"request": {"method": "PUT", "url": format!("MedicationRequest/M{i:08}")},
             "resource": {"resourceType": "MedicationRequest", "id": format!("M{i:08}"), "status": "active", "intent": "order",
                "medicationCodeableConcept": {"coding": [{"code": "X01", "display": "阿莫西林胶囊"}]},
                "subject": {"reference": "urn:uuid:p"}, "encounter": {"reference": "urn:uuid:v"},
                "authoredOn": at(9)}}
        ]
    });
    Bytes::from(body.to_string())
}

/// A server on loopback with FHIR collection, in `dir`; returns its address, a provider's API
/// token, the hub and the shutdown trigger.
async fn server(
    dir: &std::path::Path,
) -> Result<(
    std::net::SocketAddr,
    String,
    Arc<FhirHub>,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
)> {
    std::fs::create_dir_all(dir)?;
    let url = format!("sqlite://{}", dir.join("meta.db").display());
    let store: Arc<dyn MetaStore> =
        Arc::new(SqlStore::connect(&url, &ConnectOptions::default()).await?);
    let lake = Arc::new(hdos_lake::Lake::open(
        &dir.join("lake").display().to_string(),
    )?);
    let hospital = store
        .create_institution(NewInstitution {
            code: INSTITUTION.into(),
            name: "基准医院".into(),
            grade: "三级".into(),
            kind: "综合医院".into(),
            region_code: "330106".into(),
        })
        .await?;
    let user = store
        .create_user(NewUser {
            username: "fhir-interface".into(),
            display_name: "FHIR 接口".into(),
            password: Secret::new(auth::random_token(24)),
            roles: vec![Role::Provider],
            institution_id: Some(hospital.id),
            must_change_password: false,
        })
        .await?;
    let token = format!("{}{}", auth::TOKEN_PREFIX, auth::random_token(30));
    let prefix: String = token.chars().take(auth::TOKEN_PREFIX.len() + 6).collect();
    store
        .create_api_token(user.id, "bench", &auth::hash_token(&token), &prefix, None)
        .await?;
    let hub = Arc::new(FhirHub::new(
        store.clone(),
        (*lake).clone(),
        Standard::builtin()?,
        &ResourceMappings::builtin()?,
        dir.join("journal"),
    )?);
    let config = ServerConfig {
        body_limit_bytes: 8 * 1024 * 1024,
        ..ServerConfig::default()
    };
    let state = AppState::new(store, lake, config).with_fhir(hub.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(hdos_server::serve(state, listener, async {
        let _ = stopped.await;
    }));
    Ok((addr, token, hub, stop, served))
}

pub async fn fhir(cfg: &Config, bundles: u64) -> Result<()> {
    let dir = cfg.data_dir.join("bench-fhir");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    let bodies: Arc<Vec<Bytes>> = Arc::new((0..bundles as usize).map(visit_bundle).collect());
    let bytes: usize = bodies.iter().map(Bytes::len).sum();
    for connections in [1usize, 8] {
        let (addr, token, hub, stop, served) = server(&dir.join(format!("c{connections}"))).await?;
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(connections)
            .build_http::<Full<Bytes>>();
        let next = Arc::new(AtomicUsize::new(0));
        let start = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..connections {
            let (client, bodies, next, token) =
                (client.clone(), bodies.clone(), next.clone(), token.clone());
            tasks.spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(body) = bodies.get(i) else {
                        return Ok::<_, anyhow::Error>(latencies);
                    };
                    let request = http::Request::post(format!("http://{addr}/fhir/r4"))
                        .header(http::header::CONTENT_TYPE, "application/fhir+json")
                        .header(http::header::AUTHORIZATION, format!("Bearer {token}"))
                        .body(Full::new(body.clone()))?;
                    let sent = Instant::now();
                    let response = client.request(request).await?;
                    let status = response.status();
                    let answer = response.into_body().collect().await?.to_bytes();
                    ensure!(
                        status.is_success(),
                        "bundle {i}: {status} {}",
                        String::from_utf8_lossy(&answer)
                    );
                    latencies.push(sent.elapsed().as_micros() as u64);
                }
            });
        }
        let mut latencies = Vec::new();
        while let Some(done) = tasks.join_next().await {
            latencies.extend(done.context("a client task failed")??);
        }
        let answered = start.elapsed().as_secs_f64();
        let channel = hub.channel(INSTITUTION).await?;
        channel.caught_up().await;
        let landed = start.elapsed().as_secs_f64();
        let counts = channel.stop().await?;
        let _ = stop.send(());
        served.await??;
        latencies.sort_unstable();
        let resources = latencies.len() as u64 * 5;
        report_with(
            "fhir_transaction",
            "loopback",
            resources,
            start,
            json!({
                "connections": connections,
                "bundles": latencies.len(),
                "seconds_to_last_answer": (answered * 1000.0).round() / 1000.0,
                "bundles_per_s": (latencies.len() as f64 / answered).round(),
                "resources_per_s_answered": (resources as f64 / answered).round(),
                "answer_p50_ms": percentile(&latencies, 0.5) as f64 / 1000.0,
                "answer_p99_ms": percentile(&latencies, 0.99) as f64 / 1000.0,
                "seconds_until_in_lake": (landed * 1000.0).round() / 1000.0,
                "records_written": counts.rows_written,
                "mib": (bytes as f64 / 1048576.0 * 10.0).round() / 10.0,
            }),
        );
    }
    Ok(())
}
