//! `hdos demo`: the whole platform on a fresh data dir, with one account per role.

use super::{ingest, serve};
use crate::{config::Config, wiring};
use anyhow::{Context, Result};
use hdos_core::Role;
use hdos_ingest::{
    cdc::{CdcChannel, CdcConfig},
    source::BatchSource,
};
use hdos_store::{MetaStore, NewAuditEntry, NewInstitution, NewUser, Outcome, Secret};
use hdos_synth::{DefectProfile, InstitutionCounts, Options, RegionManifest};
use std::{
    path::{Path, PathBuf},
    process::ExitCode,
    sync::Arc,
};

/// One account per role; the passwords are documented in the README.
pub const ACCOUNTS: &[(&str, &str, Role, &str)] = &[
    ("admin", "系统管理员", Role::Admin, "demo-admin-2026"),
    (
        "manager",
        "区域数据管理员",
        Role::Manager,
        "demo-manager-2026",
    ),
    (
        "provider",
        "医院数据专员",
        Role::Provider,
        "demo-provider-2026",
    ),
    ("researcher", "科研用户", Role::User, "demo-user-2026"),
    ("auditor", "安全审计员", Role::Auditor, "demo-auditor-2026"),
];

/// The demo region: about 20,000 people over two years up to today, with a light sprinkling of
/// defects for quality control to find, and message files for message-based collection.
fn region_options(data_dir: &Path) -> Options {
    // Dates are the region's (UTC+8).
    let today = (chrono::Utc::now() + chrono::Duration::hours(8)).date_naive();
    Options {
        seed: 2026,
        patients: 20_000,
        institutions: InstitutionCounts::default(),
        years: 2,
        until: today,
        defects: DefectProfile::uniform(0.002),
        messages: true,
        out: data_dir.join("region"),
    }
}

/// Generates the demo region on first start; later starts reuse it.
async fn region(data_dir: &Path) -> Result<RegionManifest> {
    let options = region_options(data_dir);
    let manifest_path = options.out.join("region.json");
    if !manifest_path.exists() {
        println!(
            "generating the demo region ({} people, {} years) in {} …",
            options.patients,
            options.years,
            options.out.display()
        );
        if options.out.exists() {
            // An interrupted generation left a partial region: start it again.
            std::fs::remove_dir_all(&options.out)?;
        }
        tokio::task::spawn_blocking(move || super::synth::run(&options)).await??;
    }
    let text = std::fs::read_to_string(&manifest_path)?;
    Ok(serde_json::from_str(&text)?)
}

async fn seed(store: &dyn MetaStore, region: &RegionManifest) -> Result<()> {
    for i in &region.institutions {
        if store.institution_by_code(&i.code).await?.is_none() {
            store
                .create_institution(NewInstitution {
                    code: i.code.clone(),
                    name: i.name.clone(),
                    grade: i.grade.clone(),
                    kind: i.kind.clone(),
                    region_code: i.region_code.clone(),
                })
                .await?;
        }
    }
    // The provider works at the region's first hospital.
    let hospital = match region.institutions.first() {
        Some(i) => store.institution_by_code(&i.code).await?.map(|i| i.id),
        None => None,
    };
    for (username, display, role, password) in ACCOUNTS {
        if store.user_by_name(username).await?.is_some() {
            continue;
        }
        store
            .create_user(NewUser {
                username: (*username).into(),
                display_name: (*display).into(),
                password: Secret::new(*password),
                roles: vec![*role],
                institution_id: if role.is_institution_scoped() {
                    hospital
                } else {
                    None
                },
                must_change_password: false,
            })
            .await?;
        store
            .append_audit(NewAuditEntry {
                actor_id: None,
                actor_name: "demo".into(),
                action: "user.create".into(),
                target: (*username).into(),
                outcome: Outcome::Success,
                ip: "local".into(),
                detail: serde_json::json!({"demo": true}),
            })
            .await?;
    }
    Ok(())
}

/// How many primary-care institutions send HL7 v2 over MLLP instead of being read by SQL.
const HL7_INSTITUTIONS: usize = 3;

/// The institutions whose collection is message-based: the first primary-care ones.
fn hl7_sites(region: &RegionManifest) -> Vec<String> {
    region
        .institutions
        .iter()
        .filter(|s| s.grade == "一级")
        .take(HL7_INSTITUTIONS)
        .map(|s| s.code.clone())
        .collect()
}

/// Replays each HL7 institution's message file into its channel, as its interface engine would
/// (resent messages are acknowledged and stored once, so a restarted demo changes nothing).
async fn replay_messages(
    region_dir: &std::path::Path,
    channels: &[(String, std::net::SocketAddr)],
) {
    for (code, addr) in channels {
        let path = region_dir.join("hl7").join(format!("{code}.hl7"));
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "no message file");
                continue;
            }
        };
        let messages = hdos_ingest::mllp::client::split_messages(&bytes);
        match hdos_ingest::mllp::client::send_all(*addr, &messages, 2).await {
            Ok(answers) => tracing::info!(
                institution = %code,
                messages = answers.len(),
                accepted = answers.iter().filter(|a| a.code == "AA").count(),
                "HL7 messages sent over MLLP"
            ),
            Err(e) => {
                tracing::warn!(institution = %code, error = %e, "sending HL7 messages failed")
            }
        }
    }
}

/// With PostgreSQL available (`HDOS_DEMO_POSTGRES`), the region's first hospital keeps its HIS
/// there and is collected by CDC: its HIS is loaded once into the schema `his_<code>` (later
/// starts reuse it, with whatever changed since), then a CDC channel streams it.
async fn cdc_hospital(
    cfg: &Config,
    state: &hdos_server::AppState,
    region: &RegionManifest,
    url: &str,
) -> Result<(String, CdcChannel)> {
    let site = region
        .institutions
        .first()
        .context("the region has no institution")?;
    let schema = super::synth_pg::schema(&site.code);
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .context("HDOS_DEMO_POSTGRES is set but PostgreSQL cannot be reached")?;
    let loaded: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
            .bind(&schema)
            .fetch_one(&pool)
            .await?;
    pool.close().await;
    if !loaded {
        println!(
            "loading {}'s HIS into PostgreSQL schema {schema} …",
            site.code
        );
        super::synth_pg::load(url, &cfg.data_dir.join("region"), region, 1).await?;
    }
    let source = BatchSource::Postgres {
        url: Secret::new(url),
        schema: schema.clone(),
    };
    let mappings = ingest::suggested_mappings(&source, &[]).await?;
    let channel = format!("cdc_{}", site.code.to_lowercase());
    let config = CdcConfig::new(&channel, &site.code, Secret::new(url), &schema, mappings);
    let running = CdcChannel::start(
        state.store.clone(),
        (*state.lake).clone(),
        hdos_core::standard::Standard::builtin()?,
        config,
    )
    .await?;
    println!(
        "  CDC channel {channel} for {} from PostgreSQL schema {schema}",
        site.code
    );
    Ok((site.code.clone(), running))
}

/// Replays the HL7 institutions' messages, then collects every other institution's HIS by SQL
/// batch with its suggested mappings (later starts collect only what changed since); the
/// institutions in `streamed` have channels of their own.
async fn first_collection(
    store: Arc<dyn MetaStore>,
    lake: Arc<hdos_lake::Lake>,
    region_dir: PathBuf,
    region: RegionManifest,
    hl7_channels: Vec<(String, std::net::SocketAddr)>,
    streamed: Vec<String>,
) {
    let started = std::time::Instant::now();
    replay_messages(&region_dir, &hl7_channels).await;
    let mut failed = 0;
    for site in &region.institutions {
        if hl7_channels.iter().any(|(code, _)| *code == site.code) || streamed.contains(&site.code)
        {
            continue;
        }
        let source = BatchSource::Sqlite(region_dir.join(&site.his));
        let mappings = match ingest::suggested_mappings(&source, &[]).await {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(institution = %site.code, error = %e, "no mappings for the demo HIS");
                failed += 1;
                continue;
            }
        };
        let channel = ingest::default_channel(&site.code);
        let his = ingest::His {
            source: &source,
            institution: &site.code,
            channel: &channel,
        };
        failed += ingest::collect(
            store.as_ref(),
            &lake,
            &his,
            mappings,
            false,
            DEMO_CHUNK_ROWS,
            |line| {
                tracing::info!("{line}");
            },
        )
        .await;
    }
    tracing::info!(
        institutions = region.institutions.len(),
        failed,
        seconds = started.elapsed().as_secs(),
        "first collection of the demo region finished"
    );
}

/// Smaller chunks than a production run: the demo's tables are small and the server shares the
/// machine.
const DEMO_CHUNK_ROWS: usize = 20_000;

pub async fn demo(cfg: &Config) -> Result<ExitCode> {
    wiring::require_loopback(&cfg.server.listen)?;
    let state = serve::state(cfg).await?;
    let region = region(&cfg.data_dir).await?;
    seed(state.store.as_ref(), &region).await?;
    let url = format!("http://{}/", cfg.server.listen);
    println!();
    println!("hdos demo is running at {url}");
    println!("data directory: {}", cfg.data_dir.display());
    println!(
        "synthetic region: {} institutions, {} people, {} records in {}",
        region.institutions.len(),
        region.patients,
        region.rows.values().sum::<u64>(),
        cfg.data_dir.join("region").display()
    );
    println!();
    println!("  {:<12} {:<20} {:<10}", "username", "password", "role");
    for (username, _, role, password) in ACCOUNTS {
        println!("  {username:<12} {password:<20} {role}");
    }
    println!();
    let mut channels = Vec::new();
    for code in hl7_sites(&region) {
        let name = super::hl7::default_channel(&code);
        let any_port: std::net::SocketAddr = "127.0.0.1:0".parse()?;
        let config = super::hl7::channel_config(cfg, &code, any_port, &name, 1024 * 1024);
        let channel = super::hl7::start(state.store.clone(), &state.lake, config, None).await?;
        println!(
            "  HL7 v2 (MLLP) channel {name} for {code} on {}",
            channel.local_addr()
        );
        channels.push(channel);
    }
    let cdc = match std::env::var("HDOS_DEMO_POSTGRES") {
        Ok(url) => Some(cdc_hospital(cfg, &state, &region, &url).await?),
        Err(_) => None,
    };
    println!();
    println!(
        "The first collection runs in the background: SQL batch from each hospital's HIS, HL7 messages \
         replayed into the MLLP channels. `hdos ingest runs` lists it."
    );
    println!("Press Ctrl-C to stop.");
    let addresses = hl7_sites(&region)
        .into_iter()
        .zip(channels.iter().map(|c| c.local_addr()))
        .collect();
    tokio::spawn(first_collection(
        state.store.clone(),
        state.lake.clone(),
        cfg.data_dir.join("region"),
        region,
        addresses,
        cdc.iter().map(|(code, _)| code.clone()).collect(),
    ));
    serve::run_server(state, &cfg.server.listen).await?;
    for channel in channels {
        channel.stop().await?;
    }
    if let Some((_, channel)) = cdc {
        channel.stop().await?;
    }
    Ok(ExitCode::SUCCESS)
}
