//! `hdos bench <name>`: end-to-end measurements that print one JSON line per figure.

use crate::{cli::BenchName, config::Config, wiring};
use anyhow::{Context, Result};
use hdos_core::Role;
use hdos_store::{NewAuditEntry, NewUser, Outcome, Secret, Session, now_millis};
use std::{process::ExitCode, time::Instant};

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|kb| kb.parse::<f64>().ok())
            })
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

fn report(bench: &str, backend: &str, rows: u64, start: Instant) {
    report_with(bench, backend, rows, start, serde_json::json!({}));
}

/// A figure with fields of its own besides the common ones.
fn report_with(bench: &str, backend: &str, rows: u64, start: Instant, extra: serde_json::Value) {
    let seconds = start.elapsed().as_secs_f64();
    let mut line = serde_json::json!({
        "bench": bench,
        "backend": backend,
        "rows": rows,
        "seconds": (seconds * 1000.0).round() / 1000.0,
        "rows_per_s": (rows as f64 / seconds).round(),
        "peak_rss_mb": (peak_rss_mb() * 10.0).round() / 10.0,
    });
    if let (Some(line), serde_json::Value::Object(extra)) = (line.as_object_mut(), extra) {
        line.extend(extra);
    }
    println!("{line}");
}

pub async fn bench(cfg: &Config, name: BenchName, rows: u64) -> Result<ExitCode> {
    match name {
        BenchName::Store => store(cfg, rows).await?,
        BenchName::Synth => synth(cfg, rows)?,
        BenchName::Ingest => ingest(cfg, rows).await?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Metadata-store figures: audit appends (each one a hash-chain transaction), a full chain
/// verification, and session lookups (the work of every authenticated request).
async fn store(cfg: &Config, rows: u64) -> Result<()> {
    let store = wiring::open_store(cfg).await?;
    let backend = format!("{:?}", store.backend()).to_lowercase();
    let start = Instant::now();
    for i in 0..rows {
        store
            .append_audit(NewAuditEntry {
                actor_id: None,
                actor_name: "bench".into(),
                action: "bench.append".into(),
                target: format!("row {i}"),
                outcome: Outcome::Success,
                ip: "127.0.0.1".into(),
                detail: serde_json::json!({"i": i}),
            })
            .await?;
    }
    report("audit_append", &backend, rows, start);

    let start = Instant::now();
    let status = store.verify_audit_chain().await?;
    report(
        "audit_verify",
        &backend,
        status.entries_checked as u64,
        start,
    );

    let name = format!("bench-{}", now_millis());
    let user = store
        .create_user(NewUser {
            username: name,
            display_name: "bench".into(),
            password: Secret::new("bench password 123"),
            roles: vec![Role::User],
            institution_id: None,
            must_change_password: false,
        })
        .await?;
    let now = now_millis();
    store
        .create_session(
            "bench-session",
            &Session {
                user_id: user.id,
                csrf_token: "c".into(),
                created_at: now,
                expires_at: now + 3_600_000,
                last_seen_at: now,
            },
        )
        .await?;
    let start = Instant::now();
    for _ in 0..rows {
        store.session("bench-session", now_millis()).await?;
    }
    report("session_lookup", &backend, rows, start);
    store.delete_session("bench-session").await?;
    Ok(())
}

/// Generation of a region of `patients` people (default institutions, two years, clean) into
/// a scratch directory under the data dir; rows are encounter-level rows of every dataset.
fn synth(cfg: &Config, patients: u64) -> Result<()> {
    let out = cfg.data_dir.join("bench-synth");
    if out.exists() {
        std::fs::remove_dir_all(&out)?;
    }
    let options = hdos_synth::Options {
        seed: 1,
        patients,
        institutions: hdos_synth::InstitutionCounts::default(),
        years: 2,
        until: chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default(),
        defects: hdos_synth::DefectProfile::clean(),
        messages: false,
        out: out.clone(),
    };
    let start = Instant::now();
    let (manifest, _) = super::synth::run(&options)?;
    report(
        "synth_sqlite",
        "sqlite",
        manifest.rows.values().sum(),
        start,
    );
    std::fs::remove_dir_all(&out)?;
    Ok(())
}

/// Visits per person over two years at the hospital (the clinic takes most), to size the region.
const VISITS_PER_PERSON: u64 = 2;

/// Collection of one hospital's outpatient visits (mapping included) into the std zone.
async fn ingest(cfg: &Config, visits: u64) -> Result<()> {
    let dir = cfg.data_dir.join("bench-ingest");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    let options = hdos_synth::Options {
        seed: 1,
        patients: (visits / VISITS_PER_PERSON).max(100),
        institutions: hdos_synth::InstitutionCounts {
            tertiary: 1,
            secondary: 0,
            // A region needs a primary-care institution too; it takes some of the visits.
            primary: 1,
        },
        years: 2,
        until: chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default(),
        defects: hdos_synth::DefectProfile::clean(),
        messages: false,
        out: dir.join("region"),
    };
    let (manifest, _) = super::synth::run(&options)?;
    let site = manifest
        .institutions
        .first()
        .context("the region has no hospital")?;
    let source = options.out.join(&site.his);
    let table = hdos_synth::Vendor::ALL
        .into_iter()
        .find(|v| v.name() == site.his_vendor)
        .context("unknown vendor")?
        .table(hdos_synth::Dataset::OutpatientVisit)
        .to_owned();
    let standard = hdos_core::standard::Standard::builtin()?;
    let mapping = super::ingest::suggested_mappings(&source, std::slice::from_ref(&table))?
        .into_iter()
        .next()
        .context("no mapping suggested for the visit table")?;
    let store_url = format!("sqlite://{}", dir.join("meta.db").display());
    let store =
        hdos_store::SqlStore::connect(&store_url, &hdos_store::ConnectOptions::default()).await?;
    let lake = hdos_lake::Lake::open(&dir.join("lake").display().to_string())?;
    let job = hdos_ingest::batch::BatchJob {
        channel: "bench".into(),
        institution: site.code.clone(),
        source: source.clone(),
        mapping,
        chunk_rows: hdos_ingest::batch::DEFAULT_CHUNK_ROWS,
        full: true,
    };
    let start = Instant::now();
    let run = hdos_ingest::batch::run(&store, &lake, standard, &job).await?;
    report_with(
        "ingest_sqlite_batch",
        "sqlite",
        run.counts.rows_read.max(0) as u64,
        start,
        serde_json::json!({
            "vendor": site.his_vendor,
            "source": source.display().to_string(),
            "table": table,
            "rows_written": run.counts.rows_written,
            "rows_quarantined": run.counts.rows_quarantined,
            "chunks": run.chunks,
        }),
    );
    Ok(())
}
