//! `hdos bench failover`: three `hdos worker` processes share a PostgreSQL metadata store and a
//! CDC channel streams a table that a writer keeps changing. Round after round the worker
//! holding the channel is killed with SIGKILL; each round measures the seconds until another
//! worker holds the lease and until the first Delta commit after the kill (which only a live
//! worker can make). The killed worker is started again before the next round.

use super::bench::report_with;
use crate::config::Config;
use anyhow::{Context, Result, bail};
use hdos_ingest::{channel::ChannelSpec, source::BatchSource};
use hdos_lake::{Lake, TableName};
use hdos_store::{
    ConnectOptions, MasterKey, MetaStore, NewChannel, NewSourceConnection, Secret, SqlStore,
};
use serde_json::json;
use std::{
    path::Path,
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

const SCHEMA: &str = "hdos_bench_failover";
const DATABASE: &str = "hdos_bench_failover";
const CHANNEL: &str = "bench_failover";
const INSTITUTION: &str = "12330000BENCH0002X";
const ROUNDS: usize = 5;

/// The worker processes, killed when the figure ends however it ends.
struct Workers(Vec<(String, Child)>);

impl Drop for Workers {
    fn drop(&mut self) {
        for (_, c) in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn spawn(dir: &Path, store_url: &str, lease_seconds: u64, id: &str) -> Result<Child> {
    let log = std::fs::File::create(dir.join(format!("{id}.log")))?;
    Ok(Command::new(std::env::current_exe()?)
        .args([
            "--data-dir",
            &dir.display().to_string(),
            "worker",
            "--id",
            id,
        ])
        .env("HDOS__STORE__URL", store_url)
        .env("HDOS__WORKER__LEASE_SECONDS", lease_seconds.to_string())
        .env("HDOS__LOG__FORMAT", "pretty")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()?)
}

async fn holder(store: &dyn MetaStore) -> Result<Option<String>> {
    let now = hdos_store::now_millis();
    Ok(store
        .live_channel_leases(now)
        .await?
        .into_iter()
        .find(|l| l.channel == CHANNEL)
        .map(|l| l.worker))
}

/// The table's latest version; `None` before it exists.
async fn version(lake: &Lake, table: &TableName) -> Result<Option<u64>> {
    Ok(match lake.exists(table).await? {
        true => lake.table(table).await?.version(),
        false => None,
    })
}

/// Sets up the source table (`seed` rows), the metadata database, the connection and the
/// channel; returns the metadata store's URL.
async fn prepare(url: &str, dir: &Path, seed: u64) -> Result<String> {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .context("connecting to --postgres")?;
    sqlx::query("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active")
        .bind(format!("hdos_{CHANNEL}"))
        .execute(&pool)
        .await?;
    sqlx::raw_sql(&format!(
        "DROP SCHEMA IF EXISTS {SCHEMA} CASCADE; CREATE SCHEMA {SCHEMA};
         CREATE TABLE {SCHEMA}.mz_jzjl (jzid text PRIMARY KEY, brid text, ksmc text, jzsj timestamp,
                                         zdbm text, zdmc text, gxsj timestamp);
         INSERT INTO {SCHEMA}.mz_jzjl SELECT 'V' || i, 'P' || (i % 5000), '内科',
                date_trunc('second', clock_timestamp()), 'J06.9', '急性上呼吸道感染',
                date_trunc('second', clock_timestamp()) FROM generate_series(1, {seed}) AS i;"
    ))
    .execute(&pool)
    .await?;
    for sql in [
        format!("DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"),
        format!("CREATE DATABASE {DATABASE}"),
    ] {
        sqlx::raw_sql(&sql).execute(&pool).await?;
    }
    let source = url::Url::parse(url)?;
    let mut meta = source.clone();
    meta.set_path(DATABASE);
    let store = SqlStore::connect(meta.as_str(), &ConnectOptions::default()).await?;
    let key = MasterKey::load_or_create(&dir.join("master.key"))?;
    store
        .save_connection(NewSourceConnection {
            name: "bench_his".into(),
            kind: "postgres".into(),
            institution: INSTITUTION.into(),
            host: source.host_str().unwrap_or("127.0.0.1").into(),
            port: i64::from(source.port().unwrap_or(5432)),
            database: source.path().trim_start_matches('/').into(),
            username: source.username().into(),
            sealed_password: source.password().map(|p| key.seal(p)),
            schema: SCHEMA.into(),
        })
        .await?;
    let read = BatchSource::Postgres {
        url: Secret::new(url),
        schema: SCHEMA.into(),
    };
    let spec = ChannelSpec::Cdc {
        connection: "bench_his".into(),
        tables: super::ingest::suggested_mappings(&read, &["mz_jzjl".to_owned()]).await?,
    };
    store
        .save_channel(NewChannel {
            name: CHANNEL.into(),
            institution: INSTITUTION.into(),
            kind: spec.kind().into(),
            spec: spec.to_json(),
            schedule: None,
            enabled: true,
            next_run_at: None,
        })
        .await?;
    Ok(meta.to_string())
}

pub async fn failover(cfg: &Config, url: &str, seed: u64) -> Result<()> {
    let dir = cfg.data_dir.join("bench-failover");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    let lease_seconds = cfg.worker.lease_seconds;
    let store_url = prepare(url, &dir, seed).await?;
    let store = SqlStore::connect(&store_url, &ConnectOptions::default()).await?;
    let lake = Lake::open(&dir.join("lake").display().to_string())?;
    let raw = TableName::new(&format!("raw/{CHANNEL}/mz_jzjl"))?;

    let mut workers = Workers(Vec::new());
    for i in 1..=3 {
        let id = format!("w{i}");
        workers
            .0
            .push((id.clone(), spawn(&dir, &store_url, lease_seconds, &id)?));
    }
    let started = Instant::now();
    while version(&lake, &raw).await?.is_none() || holder(&store).await?.is_none() {
        if started.elapsed() > Duration::from_secs(300) {
            bail!(
                "the channel did not start; see the worker logs in {}",
                dir.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // A writer commits ten new visits every 20 ms until the rounds end.
    let writing = Arc::new(AtomicBool::new(true));
    let writer = {
        let (writing, url) = (writing.clone(), url.to_owned());
        tokio::spawn(async move {
            let pool = sqlx::PgPool::connect(&url).await?;
            let mut next = seed + 1;
            while writing.load(Ordering::Relaxed) {
                sqlx::query(&format!(
                    "INSERT INTO {SCHEMA}.mz_jzjl SELECT 'V' || i, 'P' || (i % 5000), '内科', \
                     date_trunc('second', clock_timestamp()), 'J06.9', '急性上呼吸道感染', \
                     date_trunc('second', clock_timestamp()) FROM generate_series($1::bigint, $2::bigint) AS i"
                ))
                .bind(next as i64)
                .bind((next + 9) as i64)
                .execute(&pool)
                .await?;
                next += 10;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Ok::<_, anyhow::Error>(next - seed - 1)
        })
    };

    for round in 1..=ROUNDS {
        // Let the channel stream for a while, at a different point of its lease each round.
        tokio::time::sleep(Duration::from_millis(2_000 + 700 * round as u64)).await;
        let victim = holder(&store)
            .await?
            .context("no worker holds the channel")?;
        let before = version(&lake, &raw).await?;
        let slot = workers
            .0
            .iter()
            .position(|(id, _)| *id == victim)
            .context("the holder is one of the workers")?;
        let killed = Instant::now();
        workers.0[slot].1.kill()?; // SIGKILL
        workers.0[slot].1.wait()?;
        let mut taken_over = None;
        let first_commit = loop {
            if taken_over.is_none() && holder(&store).await?.is_some_and(|h| h != victim) {
                taken_over = Some(killed.elapsed());
            }
            if version(&lake, &raw).await? > before {
                break killed.elapsed();
            }
            if killed.elapsed() > Duration::from_secs(lease_seconds + 120) {
                bail!(
                    "round {round}: no commit after the kill; see {}",
                    dir.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let taken_over = taken_over.unwrap_or(first_commit);
        report_with(
            "failover",
            "postgresql",
            seed,
            killed,
            json!({
                "round": round,
                "lease_seconds": lease_seconds,
                "killed": victim,
                "seconds_to_takeover": (taken_over.as_secs_f64() * 100.0).round() / 100.0,
                "seconds_to_first_commit": (first_commit.as_secs_f64() * 100.0).round() / 100.0,
            }),
        );
        let id = workers.0[slot].0.clone();
        workers.0[slot].1 = spawn(&dir, &store_url, lease_seconds, &id)?;
    }
    writing.store(false, Ordering::Relaxed);
    writer.await??;
    drop(workers);

    let pool = sqlx::PgPool::connect(url).await?;
    sqlx::query("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active")
        .bind(format!("hdos_{CHANNEL}"))
        .execute(&pool)
        .await?;
    sqlx::raw_sql(&format!(
        "DROP PUBLICATION IF EXISTS hdos_{CHANNEL}; DROP SCHEMA {SCHEMA} CASCADE"
    ))
    .execute(&pool)
    .await?;
    sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"))
        .execute(&pool)
        .await?;
    Ok(())
}
