//! `hdos bench cdc`: a writer commits visits to a PostgreSQL table at a steady rate while a CDC
//! channel streams them into the lake; each transaction's latency runs from its COMMIT
//! returning at the source to the channel's confirmation that the lake holds it.

use super::bench::{percentile, report_with};
use crate::config::Config;
use anyhow::{Context, Result};
use hdos_core::standard::Standard;
use hdos_ingest::{
    cdc::{CdcChannel, CdcConfig, parse_lsn},
    source::BatchSource,
};
use hdos_store::{ConnectOptions, MetaStore, Secret, SqlStore};
use serde_json::json;
use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

const SCHEMA: &str = "hdos_bench_cdc";
/// Rows in the table before the channel starts: its snapshot, and the sample its mapping is
/// suggested from.
const SEED_ROWS: u64 = 1_000;
/// The slot of the channel `bench_cdc`.
const SLOT: &str = "hdos_bench_cdc";

/// Commits `total` rows at `rate` rows/s in transactions every 10 ms; returns per transaction
/// the instant its COMMIT returned and an LSN inside it (its commit ends after it).
async fn write(
    pool: &sqlx::PgPool,
    rate: u64,
    total: u64,
    first_id: u64,
) -> Result<Vec<(Instant, u64)>> {
    let per_tick = (rate / 100).max(1);
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut out = Vec::new();
    let mut next = first_id;
    while next < first_id + total {
        tick.tick().await;
        let n = per_tick.min(first_id + total - next);
        let mut tx = pool.begin().await?;
        sqlx::query(&format!(
            "INSERT INTO {SCHEMA}.mz_jzjl SELECT 'V' || i, 'P' || (i % 5000), '内科', date_trunc('second', clock_timestamp()), \
             'J06.9', '急性上呼吸道感染', date_trunc('second', clock_timestamp()) FROM generate_series($1::bigint, $2::bigint) AS i"
        ))
        .bind(next as i64)
        .bind((next + n - 1) as i64)
        .execute(&mut *tx)
        .await?;
        let lsn: String = sqlx::query_scalar("SELECT pg_current_wal_insert_lsn()::text")
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        out.push((Instant::now(), parse_lsn(&lsn).context("an LSN")?));
        next += n;
    }
    Ok(out)
}

pub async fn cdc(cfg: &Config, url: &str, rows: u64) -> Result<()> {
    let dir = cfg.data_dir.join("bench-cdc");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(url)
        .await
        .context("connecting to --postgres")?;
    sqlx::query("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active")
        .bind(SLOT)
        .execute(&pool)
        .await?;
    sqlx::raw_sql(&format!(
        "DROP SCHEMA IF EXISTS {SCHEMA} CASCADE; CREATE SCHEMA {SCHEMA};
         CREATE TABLE {SCHEMA}.mz_jzjl (jzid text PRIMARY KEY, brid text, ksmc text, jzsj timestamp,
                                         zdbm text, zdmc text, gxsj timestamp);"
    ))
    .execute(&pool)
    .await?;
    write(&pool, 100_000, SEED_ROWS, 0).await?;
    let source = BatchSource::Postgres {
        url: Secret::new(url),
        schema: SCHEMA.into(),
    };
    let mappings = super::ingest::suggested_mappings(&source, &["mz_jzjl".to_owned()]).await?;
    let mut config = CdcConfig::new(
        "bench_cdc",
        "12330000BENCH0001X",
        Secret::new(url),
        SCHEMA,
        mappings,
    );
    config.heartbeat = Duration::from_secs(1);
    let store_url = format!("sqlite://{}", dir.join("meta.db").display());
    let store: Arc<dyn MetaStore> =
        Arc::new(SqlStore::connect(&store_url, &ConnectOptions::default()).await?);
    let lake = hdos_lake::Lake::open(&dir.join("lake").display().to_string())?;
    let channel = CdcChannel::start(store, lake, Standard::builtin()?, config.clone()).await?;
    let mut progress = channel.progress();
    progress.wait_for(|p| p.snapshot_done).await?;

    // When each applied position was reached.
    let reached: Arc<Mutex<Vec<(Instant, u64)>>> = Arc::default();
    let watcher = {
        let (reached, mut progress) = (reached.clone(), channel.progress());
        tokio::spawn(async move {
            while progress.changed().await.is_ok() {
                let lsn = progress.borrow().applied_lsn;
                if let Ok(mut r) = reached.lock() {
                    r.push((Instant::now(), lsn));
                }
            }
        })
    };
    let mut first_id = SEED_ROWS;
    for rate in [1_000u64, 5_000] {
        let start = Instant::now();
        let commits = write(&pool, rate, rows, first_id).await?;
        let written = start.elapsed().as_secs_f64();
        first_id += rows;
        let last = commits.last().map_or(0, |c| c.1);
        channel.caught_up_to(last + 1).await;
        let reached = reached.lock().map(|r| r.clone()).unwrap_or_default();
        let mut latencies: Vec<u64> = commits
            .iter()
            .filter_map(|(at, lsn)| {
                reached
                    .iter()
                    .find(|(when, applied)| *applied > *lsn && when >= at)
                    .map(|(when, _)| when.duration_since(*at).as_micros() as u64)
            })
            .collect();
        latencies.sort_unstable();
        report_with(
            "cdc_latency",
            "postgresql",
            rows,
            start,
            json!({
                "target_changes_per_s": rate,
                "achieved_changes_per_s": (rows as f64 / written).round(),
                "seconds_writing": (written * 10.0).round() / 10.0,
                "transactions": commits.len(),
                "measured": latencies.len(),
                "latency_p50_ms": percentile(&latencies, 0.5) as f64 / 1000.0,
                "latency_p99_ms": percentile(&latencies, 0.99) as f64 / 1000.0,
                "latency_max_ms": latencies.last().copied().unwrap_or(0) as f64 / 1000.0,
            }),
        );
    }
    watcher.abort();
    channel.stop().await?;
    sqlx::query("SELECT pg_drop_replication_slot($1)")
        .bind(config.slot())
        .execute(&pool)
        .await?;
    sqlx::raw_sql(&format!(
        "DROP PUBLICATION IF EXISTS {}; DROP SCHEMA {SCHEMA} CASCADE",
        config.slot()
    ))
    .execute(&pool)
    .await?;
    Ok(())
}
