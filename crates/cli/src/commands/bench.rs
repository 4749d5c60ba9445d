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
pub(super) fn report_with(
    bench: &str,
    backend: &str,
    rows: u64,
    start: Instant,
    extra: serde_json::Value,
) {
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

pub async fn bench(
    cfg: &Config,
    name: BenchName,
    rows: u64,
    postgres: Option<&str>,
) -> Result<ExitCode> {
    match name {
        BenchName::Store => store(cfg, rows).await?,
        BenchName::Synth => synth(cfg, rows)?,
        BenchName::Ingest => ingest(cfg, rows).await?,
        BenchName::Quality => super::bench_quality::quality(cfg, rows).await?,
        BenchName::Mllp => mllp(cfg, rows).await?,
        BenchName::Fhir => super::bench_fhir::fhir(cfg, rows).await?,
        BenchName::Failover => {
            let url = postgres
                .context("the failover figure needs --postgres (or HDOS_SOURCE_POSTGRES)")?;
            super::bench_failover::failover(cfg, url, rows).await?
        }
        BenchName::Cdc => {
            let url =
                postgres.context("the cdc figure needs --postgres (or HDOS_SOURCE_POSTGRES)")?;
            super::bench_cdc::cdc(cfg, url, rows).await?
        }
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

/// A clean two-year region of one hospital, which the benchmarks read, and one primary-care
/// institution (a region needs one; it takes some of the visits).
fn hospital_region(
    out: std::path::PathBuf,
    seed: u64,
    patients: u64,
    messages: bool,
) -> hdos_synth::Options {
    hdos_synth::Options {
        seed,
        patients,
        institutions: hdos_synth::InstitutionCounts {
            tertiary: 1,
            secondary: 0,
            primary: 1,
        },
        years: 2,
        until: chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default(),
        defects: hdos_synth::DefectProfile::clean(),
        messages,
        out,
    }
}

/// Visits per person over two years at the hospital (the clinic takes most), to size the region.
const VISITS_PER_PERSON: u64 = 2;

/// Collection of one hospital's outpatient visits (mapping included) into the std zone.
async fn ingest(cfg: &Config, visits: u64) -> Result<()> {
    let dir = cfg.data_dir.join("bench-ingest");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    let options = hospital_region(
        dir.join("region"),
        1,
        (visits / VISITS_PER_PERSON).max(100),
        false,
    );
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
    let his = hdos_ingest::source::BatchSource::Sqlite(source.clone());
    let mapping = super::ingest::suggested_mappings(&his, std::slice::from_ref(&table))
        .await?
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
        source: hdos_ingest::source::BatchSource::Sqlite(source.clone()),
        mapping,
        chunk_rows: hdos_ingest::batch::DEFAULT_CHUNK_ROWS,
        // A fresh store and lake: the table's first load, as a new hospital's would be.
        full: false,
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

/// Makes `n` distinct messages from `base` by cycling it, with MSH-10 suffixed per round.
fn cycle_messages(base: &[&[u8]], n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let m = base[i % base.len()];
            let round = i / base.len();
            if round == 0 {
                return m.to_vec();
            }
            let text = String::from_utf8_lossy(m);
            let (msh, rest) = text.split_once('\r').unwrap_or((&text, ""));
            let mut fields: Vec<String> = msh.split('|').map(str::to_owned).collect();
            if let Some(id) = fields.get_mut(9) {
                id.push_str(&format!("-r{round}"));
            }
            format!("{}\r{rest}", fields.join("|")).into_bytes()
        })
        .collect()
}

pub(super) fn percentile(sorted: &[u64], p: f64) -> u64 {
    sorted
        .get(((sorted.len() as f64 - 1.0) * p).round() as usize)
        .copied()
        .unwrap_or(0)
}

/// HL7 v2 over MLLP on loopback: messages/s with each ACK awaited (the message is in the
/// journal on disk before its ACK), over 1 and 8 connections, then the time until the lake holds
/// them all.
async fn mllp(cfg: &Config, messages: u64) -> Result<()> {
    let dir = cfg.data_dir.join("bench-mllp");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    let patients = (messages / 4).clamp(500, 200_000);
    let options = hospital_region(dir.join("region"), 2, patients, true);
    let (manifest, _) = super::synth::run(&options)?;
    let site = manifest
        .institutions
        .first()
        .context("the region has no hospital")?;
    let file = std::fs::read(options.out.join("hl7").join(format!("{}.hl7", site.code)))?;
    let base = hdos_ingest::mllp::client::split_messages(&file);
    let all = cycle_messages(&base, messages as usize);
    let refs: Vec<&[u8]> = all.iter().map(Vec::as_slice).collect();
    let bytes: usize = all.iter().map(Vec::len).sum();
    for connections in [1usize, 8] {
        let run_dir = dir.join(format!("c{connections}"));
        let store_url = format!("sqlite://{}", run_dir.join("meta.db").display());
        std::fs::create_dir_all(&run_dir)?;
        let store: std::sync::Arc<dyn hdos_store::MetaStore> = std::sync::Arc::new(
            hdos_store::SqlStore::connect(&store_url, &hdos_store::ConnectOptions::default())
                .await?,
        );
        let lake = hdos_lake::Lake::open(&run_dir.join("lake").display().to_string())?;
        let config = hdos_ingest::mllp::MllpConfig::new(
            "bench",
            &site.code,
            "127.0.0.1:0".parse()?,
            run_dir.join("journal"),
        );
        let channel = hdos_ingest::mllp::MllpChannel::start(
            store,
            lake,
            hdos_core::standard::Standard::builtin()?,
            &hdos_ingest::hl7::MessageMappings::builtin()?,
            config,
        )
        .await?;
        let start = Instant::now();
        let answers =
            hdos_ingest::mllp::client::send_all(channel.local_addr(), &refs, connections).await?;
        let acked = start.elapsed().as_secs_f64();
        channel.caught_up().await;
        let landed = start.elapsed().as_secs_f64();
        let report = channel.stop().await?;
        let mut latencies: Vec<u64> = answers.iter().map(|a| a.micros).collect();
        latencies.sort_unstable();
        report_with(
            "mllp_ack",
            "loopback",
            answers.len() as u64,
            start,
            serde_json::json!({
                "connections": connections,
                "seconds_to_last_ack": (acked * 1000.0).round() / 1000.0,
                "messages_per_s_acked": (answers.len() as f64 / acked).round(),
                "ack_p50_ms": percentile(&latencies, 0.5) as f64 / 1000.0,
                "ack_p99_ms": percentile(&latencies, 0.99) as f64 / 1000.0,
                "accepted": answers.iter().filter(|a| a.code == "AA").count(),
                "seconds_until_in_lake": (landed * 1000.0).round() / 1000.0,
                "records_written": report.counts.rows_written,
                "mib": (bytes as f64 / 1048576.0 * 10.0).round() / 10.0,
            }),
        );
    }
    Ok(())
}
