//! `hdos demo`: the whole platform on a fresh data dir, with one account per role.

use super::{ingest, serve};
use crate::{config::Config, wiring};
use anyhow::{Context, Result};
use hdos_core::Role;
use hdos_ingest::{
    channel::{ChannelSpec, SqlSource},
    source::BatchSource,
};
use hdos_store::{
    MetaStore, NewAuditEntry, NewChannel, NewInstitution, NewSourceConnection, NewUser, Outcome,
    Secret,
};
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

/// The MLLP port of the demo's `i`-th HL7 institution, on loopback (2575 is HL7's own port).
fn hl7_port(i: usize) -> u16 {
    2575 + u16::try_from(i).unwrap_or(0)
}

/// Replays each HL7 institution's message file into its channel once it listens, as its interface
/// engine would (resent messages are acknowledged and stored once, so a restarted demo changes
/// nothing).
async fn replay_messages(region_dir: &Path, channels: &[(String, std::net::SocketAddr)]) {
    for (code, addr) in channels {
        let path = region_dir.join("hl7").join(format!("{code}.hl7"));
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "no message file");
                continue;
            }
        };
        // The worker starts the channel within a poll or two of its definition.
        for _ in 0..60 {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
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

/// Smaller chunks than a production run: the demo's tables are small and the server shares the
/// machine.
const DEMO_CHUNK_ROWS: usize = 20_000;

/// The demo's SQL channels collect every half hour (and once at once).
const DEMO_SCHEDULE: &str = "*/30 * * * *";

/// Saves a channel unless one of that name exists (a restarted demo keeps what the manager
/// changed).
async fn define(
    store: &dyn MetaStore,
    name: &str,
    institution: &str,
    spec: ChannelSpec,
    schedule: Option<&str>,
) -> Result<()> {
    if store.channel(name).await?.is_some() {
        return Ok(());
    }
    store
        .save_channel(NewChannel {
            name: name.into(),
            institution: institution.into(),
            kind: spec.kind().into(),
            spec: spec.to_json(),
            schedule: schedule.map(str::to_owned),
            enabled: true,
            next_run_at: schedule.map(|_| hdos_store::now_millis()),
        })
        .await?;
    tracing::info!(channel = name, institution, "demo channel defined");
    Ok(())
}

/// With PostgreSQL available (`HDOS_DEMO_POSTGRES`), the region's first hospital keeps its HIS
/// there and is collected by CDC: its HIS is loaded once into the schema `his_<code>` (later
/// starts reuse it, with whatever changed since), a connection is stored with its password
/// sealed, and a CDC channel streams it.
async fn cdc_hospital(
    cfg: &Config,
    store: &dyn MetaStore,
    region: &RegionManifest,
    url: &str,
) -> Result<String> {
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
    let parsed = url::Url::parse(url).context("HDOS_DEMO_POSTGRES is not a URL")?;
    let connection = format!("his_{}_pg", site.code.to_lowercase());
    if store.connection(&connection).await?.is_none() {
        store
            .save_connection(NewSourceConnection {
                name: connection.clone(),
                kind: "postgres".into(),
                institution: site.code.clone(),
                host: parsed.host_str().unwrap_or("127.0.0.1").into(),
                port: i64::from(parsed.port().unwrap_or(5432)),
                database: parsed.path().trim_start_matches('/').into(),
                username: parsed.username().into(),
                sealed_password: parsed
                    .password()
                    .map(|p| wiring::master_key(cfg).map(|k| k.seal(p)))
                    .transpose()?,
                schema: schema.clone(),
            })
            .await?;
    }
    let channel = format!("cdc_{}", site.code.to_lowercase());
    if store.channel(&channel).await?.is_none() {
        let source = BatchSource::Postgres {
            url: Secret::new(url),
            schema: schema.clone(),
        };
        let tables = ingest::suggested_mappings(&source, &[]).await?;
        define(
            store,
            &channel,
            &site.code,
            ChannelSpec::Cdc { connection, tables },
            None,
        )
        .await?;
    }
    println!(
        "  CDC channel {channel} for {} from PostgreSQL schema {schema}",
        site.code
    );
    Ok(site.code.clone())
}

/// Defines a SQL channel for every institution that has none of another kind, with its
/// suggested mappings (the worker runs each at once, then every half hour), then replays the HL7
/// institutions' messages into their channels.
async fn define_sql_channels_and_replay(
    store: Arc<dyn MetaStore>,
    region_dir: PathBuf,
    region: RegionManifest,
    hl7_channels: Vec<(String, std::net::SocketAddr)>,
    streamed: Vec<String>,
) {
    for site in &region.institutions {
        if hl7_channels.iter().any(|(code, _)| *code == site.code) || streamed.contains(&site.code)
        {
            continue;
        }
        let name = ingest::default_channel(&site.code);
        let path = region_dir.join(&site.his);
        let defined = async {
            if store.channel(&name).await?.is_some() {
                return Ok(());
            }
            let tables =
                ingest::suggested_mappings(&BatchSource::Sqlite(path.clone()), &[]).await?;
            let spec = ChannelSpec::Sql {
                source: SqlSource::Sqlite(path),
                tables,
                chunk_rows: Some(DEMO_CHUNK_ROWS),
            };
            define(store.as_ref(), &name, &site.code, spec, Some(DEMO_SCHEDULE)).await
        }
        .await;
        if let Err(e) = defined {
            tracing::warn!(institution = %site.code, error = %e, "no channel for the demo HIS");
        }
    }
    replay_messages(&region_dir, &hl7_channels).await;
}

/// Loads the region's ICD-10 dictionary for quality control, once.
async fn load_dictionary(cfg: &Config) -> Result<()> {
    let lake = wiring::open_lake(cfg)?;
    let table = hdos_lake::TableName::new(hdos_quality::compile::ICD10_TABLE)?;
    if lake.exists(&table).await? {
        return Ok(());
    }
    let path = cfg.data_dir.join("region").join("codes").join("icd10.csv");
    if !path.exists() {
        // A region generated by an older hdos: ICD-10 rules check the codes' form only.
        println!("  no ICD-10 dictionary in the region ({})", path.display());
        return Ok(());
    }
    let rows = hdos_quality::codes::parse_icd10_csv(&std::fs::read_to_string(&path)?)?;
    let n = hdos_quality::codes::load_icd10(&lake, &rows).await?;
    println!("  ICD-10 dictionary of the region loaded for quality control: {n} codes");
    Ok(())
}

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
    let store = state.store.as_ref();
    let mut hl7_channels = Vec::new();
    for (i, code) in hl7_sites(&region).into_iter().enumerate() {
        let name = super::hl7::default_channel(&code);
        let listen = std::net::SocketAddr::from(([127, 0, 0, 1], hl7_port(i)));
        let spec = ChannelSpec::Mllp {
            listen,
            mappings: None,
            max_message_bytes: None,
        };
        define(store, &name, &code, spec, None).await?;
        let listen = match ChannelSpec::of(&store.channel(&name).await?.context("defined")?)? {
            ChannelSpec::Mllp { listen, .. } => listen,
            _ => listen,
        };
        println!("  HL7 v2 (MLLP) channel {name} for {code} on {listen}");
        hl7_channels.push((code, listen));
    }
    // The provider's hospital also sends data files: dropped into its folder, or uploaded on
    // the collection page.
    if let Some(site) = region.institutions.first() {
        let folder = cfg.data_dir.join("inbox").join(&site.code);
        std::fs::create_dir_all(&folder)?;
        let name = format!("drop_{}", site.code.to_lowercase());
        let spec = ChannelSpec::Folder {
            path: folder.clone(),
            tables: Vec::new(),
        };
        define(store, &name, &site.code, spec, Some(DEMO_SCHEDULE)).await?;
        println!(
            "  file channel {name} for {}: drop CSV/JSONL/Parquet files into {} or upload them",
            site.code,
            folder.display()
        );
    }
    load_dictionary(cfg).await?;
    let streamed = match std::env::var("HDOS_DEMO_POSTGRES") {
        Ok(url) => vec![cdc_hospital(cfg, store, &region, &url).await?],
        Err(_) => Vec::new(),
    };
    println!();
    println!(
        "Channels run in the background: SQL batch from each hospital's HIS (at once, then every \
         half hour), HL7 messages replayed into the MLLP channels. The collection page \
         (数据采集) and `hdos channel list` show them. Quality control checks what they collect \
         as each run ends (数据质控, `hdos quality scores`)."
    );
    println!("Press Ctrl-C to stop.");
    // The demo is one process: it runs its channels itself, whatever `worker.embedded` says.
    let mut worker_cfg = cfg.clone();
    worker_cfg.worker.embedded = true;
    let worker = serve::embedded_worker(&worker_cfg).await?;
    tokio::spawn(define_sql_channels_and_replay(
        state.store.clone(),
        cfg.data_dir.join("region"),
        region,
        hl7_channels,
        streamed,
    ));
    let served = serve::run_server(state, &cfg.server.listen).await;
    if let Some(w) = worker {
        w.stop().await;
    }
    served?;
    Ok(ExitCode::SUCCESS)
}
