//! Three `hdos worker` processes share a PostgreSQL metadata store; the one holding a CDC
//! channel is killed with SIGKILL while changes stream in; another takes the channel over, and
//! the lake ends with every source row exactly as it is at the source and every change once in
//! the raw change log. Runs when HDOS_TEST_POSTGRES_URL is set.

use crate::text;
use anyhow::{Context, Result, bail, ensure};
use hdos_lake::{
    Lake, TableName,
    arrow::{array::AsArray, compute::cast, datatypes::DataType},
};
use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

const INSTITUTION: &str = "H330100077";
const LEASE_SECONDS: u64 = 4;

const MAPPING: &str = r#"
[[tables]]
source_table = "mz_jzjl"
dataset = "outpatient_visit"
cursor = "gxsj"
fields = [
  { target = "visit_id", source = "jzid" },
  { target = "patient_id", source = "brid" },
  { target = "dept_name", source = "ksmc" },
  { target = "visit_time", source = "jzsj", transforms = [{ op = "timestamp", format = "yyyy-MM-dd HH:mm:ss" }] },
  { target = "diagnosis_code", source = "zdbm" },
  { target = "diagnosis_name", source = "zdmc" },
  { target = "updated_at", source = "gxsj", transforms = [{ op = "timestamp", format = "yyyy-MM-dd HH:mm:ss" }] },
]
"#;

/// Worker processes, killed when the test ends however it ends.
struct Workers(Vec<(String, Child)>);

impl Drop for Workers {
    fn drop(&mut self) {
        for (_, child) in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// What the writer did at the source.
#[derive(Debug, Default, Clone, Copy)]
struct Changes {
    inserted: u64,
    updated: u64,
    deleted: u64,
}

/// One transaction: five new visits, two updated, one deleted.
async fn write_step(
    pool: &sqlx::PgPool,
    schema: &str,
    step: i64,
    changes: &mut Changes,
) -> Result<()> {
    let mut tx = pool.begin().await?;
    let first = 1_000 + step * 5;
    let inserted = sqlx::query(&format!(
        "INSERT INTO {schema}.mz_jzjl
         SELECT 'V' || i, 'P' || (i % 50), '内科', timestamp '2026-03-01 08:00:00' + i * interval '1 minute',
                'J06.9', '急性上呼吸道感染', timestamp '2026-03-05 08:00:00' + $3 * interval '1 second'
         FROM generate_series($1::bigint, $2::bigint) AS i"
    ))
    .bind(first)
    .bind(first + 4)
    .bind(step)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let updated = sqlx::query(&format!(
        "UPDATE {schema}.mz_jzjl SET ksmc = '儿科' || $1, gxsj = gxsj + interval '1 day'
         WHERE jzid IN ('V' || $2, 'V' || ($2 + 1))"
    ))
    .bind(step)
    .bind(first - 5)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let deleted = sqlx::query(&format!(
        "DELETE FROM {schema}.mz_jzjl WHERE jzid = 'V' || $1"
    ))
    .bind(step)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    changes.inserted += inserted;
    changes.updated += updated;
    changes.deleted += deleted;
    Ok(())
}

/// The worker holding the channel's lease now, if any.
async fn holder(meta: &sqlx::PgPool, channel: &str) -> Result<Option<String>> {
    let now = chrono::Utc::now().timestamp_millis();
    Ok(sqlx::query_scalar(
        "SELECT worker FROM channel_leases WHERE channel = $1 AND expires_at > $2",
    )
    .bind(channel)
    .bind(now)
    .fetch_optional(meta)
    .await?)
}

/// Every std row of the institution as (visit_id, patient_id, dept_name, diagnosis_code), sorted.
async fn lake_rows(lake: &Lake) -> Result<Vec<[String; 4]>> {
    let t = TableName::new("std/outpatient_visit")?;
    if !lake.exists(&t).await? {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT visit_id, patient_id, dept_name, diagnosis_code FROM {} \
         WHERE institution_code = '{INSTITUTION}' ORDER BY visit_id",
        t.sql_name()
    );
    let mut out = Vec::new();
    for b in lake.query(std::slice::from_ref(&t), &sql).await? {
        let cols = (0..4)
            .map(|i| cast(b.column(i), &DataType::Utf8))
            .collect::<Result<Vec<_>, _>>()?;
        for r in 0..b.num_rows() {
            out.push(std::array::from_fn(|i| {
                cols[i].as_string::<i32>().value(r).to_owned()
            }));
        }
    }
    Ok(out)
}

async fn source_rows(pool: &sqlx::PgPool, schema: &str) -> Result<Vec<[String; 4]>> {
    let rows: Vec<(String, String, String, String)> = sqlx::query_as(&format!(
        "SELECT jzid, brid, ksmc, zdbm FROM {schema}.mz_jzjl ORDER BY jzid COLLATE \"C\""
    ))
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|(a, b, c, d)| [a, b, c, d]).collect())
}

async fn raw_changes(lake: &Lake, channel: &str) -> Result<i64> {
    let t = TableName::new(&format!("raw/{channel}/mz_jzjl"))?;
    let sql = format!("SELECT count(*) FROM {}", t.sql_name());
    let b = lake.query(std::slice::from_ref(&t), &sql).await?;
    let c = cast(b.first().context("no result")?.column(0), &DataType::Int64)?;
    Ok(c.as_primitive::<hdos_lake::arrow::datatypes::Int64Type>()
        .value(0))
}

fn spawn_worker(data: &Path, store_url: &str, id: &str, log: &Path) -> Result<Child> {
    Ok(Command::new(env!("CARGO_BIN_EXE_hdos"))
        .args([
            "--data-dir",
            data.to_str().unwrap_or_default(),
            "worker",
            "--id",
            id,
        ])
        .env("HDOS__STORE__URL", store_url)
        .env("HDOS__WORKER__LEASE_SECONDS", LEASE_SECONDS.to_string())
        .env("HDOS__LOG__LEVEL", "info")
        .env("HDOS__LOG__FORMAT", "pretty")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log)?)
        .spawn()?)
}

/// Waits for `check` to hold, polling, for at most `limit`.
async fn wait_until<F, Fut>(limit: Duration, what: &str, mut check: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool>>,
{
    let started = Instant::now();
    while !check().await? {
        if started.elapsed() > limit {
            bail!("{what}: not within {} s", limit.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_workers_cdc_channel_is_taken_over_without_loss_or_duplicates() -> Result<()> {
    let Ok(pg) = std::env::var("HDOS_TEST_POSTGRES_URL") else {
        ensure!(
            std::env::var("HDOS_REQUIRE_POSTGRES").as_deref() != Ok("1"),
            "HDOS_REQUIRE_POSTGRES=1 but HDOS_TEST_POSTGRES_URL is not set"
        );
        return Ok(());
    };
    let pid = std::process::id();
    let (schema, database, channel) = (
        format!("his_fo_{pid}"),
        format!("hdos_fo_{pid}"),
        format!("cdc_fo_{pid}"),
    );
    let source = sqlx::PgPool::connect(&pg).await?;
    sqlx::raw_sql(&format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema};
         CREATE TABLE {schema}.mz_jzjl (jzid text, brid text, ksmc text, jzsj timestamp,
                                        zdbm text, zdmc text, gxsj timestamp);
         INSERT INTO {schema}.mz_jzjl
         SELECT 'V' || i, 'P' || (i % 50), '内科', timestamp '2026-03-01 08:00:00' + i * interval '1 minute',
                'J06.9', '急性上呼吸道感染', timestamp '2026-03-01 12:00:00'
         FROM generate_series(0, 199) AS i;"
    ))
    .execute(&source)
    .await?;
    // Each alone: PostgreSQL runs neither inside a transaction block.
    for sql in [
        format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"),
        format!("CREATE DATABASE {database}"),
    ] {
        sqlx::raw_sql(&sql).execute(&source).await?;
    }
    let mut store_url = url::Url::parse(&pg)?;
    store_url.set_path(&database);
    let store_url = store_url.to_string();

    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let mapping = dir.path().join("mapping.toml");
    std::fs::write(&mapping, MAPPING)?;
    let url = url::Url::parse(&pg)?;
    let port = url.port().unwrap_or(5432).to_string();
    let data_arg = data.to_str().unwrap_or_default();
    let env = [
        ("HDOS__STORE__URL", store_url.as_str()),
        ("HDOS_SOURCE_PASSWORD", url.password().unwrap_or_default()),
    ];
    let cli = |args: &[&str]| -> Result<()> {
        let mut all = vec!["--data-dir", data_arg];
        all.extend(args);
        let out = crate::hdos_env(dir.path(), &all, &env)?;
        ensure!(out.status.success(), "{}", text(&out));
        Ok(())
    };
    cli(&[
        "connection",
        "add",
        "--name",
        "his",
        "--institution",
        INSTITUTION,
        "--host",
        url.host_str().unwrap_or_default(),
        "--port",
        &port,
        "--database",
        url.path().trim_start_matches('/'),
        "--user",
        url.username(),
        "--schema",
        &schema,
    ])?;
    cli(&[
        "channel",
        "add",
        "--name",
        &channel,
        "--institution",
        INSTITUTION,
        "--kind",
        "cdc",
        "--connection",
        "his",
        "--mapping",
        mapping.to_str().unwrap_or_default(),
    ])?;

    let mut workers = Workers(Vec::new());
    for i in 1..=3 {
        let id = format!("w{i}");
        let log = dir.path().join(format!("{id}.log"));
        workers
            .0
            .push((id.clone(), spawn_worker(&data, &store_url, &id, &log)?));
    }
    let logs = || -> String {
        (1..=3)
            .map(|i| {
                let log = std::fs::read_to_string(dir.path().join(format!("w{i}.log")))
                    .unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(15).collect();
                format!(
                    "--- w{i}\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let meta = sqlx::PgPool::connect(&store_url).await?;
    let lake = Lake::open(data.join("lake").to_str().context("path")?)?;
    let result = async {
        wait_until(Duration::from_secs(120), "the snapshot lands", || async {
            Ok(lake_rows(&lake).await?.len() == 200)
        })
        .await?;
        let first = holder(&meta, &channel)
            .await?
            .context("no worker holds the channel")?;

        // Changes stream in before, during and after the kill.
        let mut changes = Changes::default();
        let mut step = 0;
        let mut killed_at = None;
        let mut taken_over = None;
        while step < 120 || taken_over.is_none() {
            write_step(&source, &schema, step, &mut changes).await?;
            step += 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
            if step == 40 {
                let (_, child) = workers
                    .0
                    .iter_mut()
                    .find(|(id, _)| *id == first)
                    .context("the holder is one of ours")?;
                child.kill()?; // SIGKILL
                child.wait()?;
                killed_at = Some(Instant::now());
            }
            if let Some(at) = killed_at
                && taken_over.is_none()
            {
                match holder(&meta, &channel).await? {
                    Some(w) if w != first => taken_over = Some((w, at.elapsed())),
                    _ if at.elapsed() > Duration::from_secs(LEASE_SECONDS + 30) => {
                        bail!("no worker took the channel over")
                    }
                    _ => {}
                }
            }
        }
        let (next, after) = taken_over.context("taken over")?;
        ensure!(next != first);
        ensure!(
            after <= Duration::from_secs(LEASE_SECONDS + 30),
            "taken over after {after:?}"
        );

        wait_until(
            Duration::from_secs(120),
            "the lake matches the source",
            || async { Ok(lake_rows(&lake).await? == source_rows(&source, &schema).await?) },
        )
        .await?;
        let expected = 200 + changes.inserted + changes.updated + changes.deleted;
        let raw = raw_changes(&lake, &channel).await?;
        ensure!(
            raw == i64::try_from(expected)?,
            "the raw change log holds {raw} changes; the source made {expected} ({changes:?})"
        );
        ensure!(changes.deleted > 0 && changes.updated > 0);
        Ok::<_, anyhow::Error>(())
    }
    .await;
    drop(workers);
    let cleanup = sqlx::raw_sql(&format!(
        "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
           WHERE slot_name = 'hdos_{channel}' AND NOT active;
         DROP PUBLICATION IF EXISTS hdos_{channel};
         DROP SCHEMA {schema} CASCADE;"
    ))
    .execute(&source)
    .await;
    meta.close().await;
    let _ = sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
        .execute(&source)
        .await;
    result.with_context(logs)?;
    cleanup?;
    Ok(())
}
