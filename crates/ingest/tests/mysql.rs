//! SQL batch collection from a real MariaDB HIS database into a real Delta lake: a full load in
//! small chunks with equal update times across chunk boundaries (ordered by the integer key), an
//! incremental run that reads only new and updated rows, a suggested mapping from a sample, a
//! stored `mysql` connection, and clear errors for a table without a key and for a source that
//! is missing or refuses the credentials. Runs when HDOS_TEST_MYSQL_URL is set (scripts/test sets
//! it and HDOS_REQUIRE_MYSQL=1, which turns a missing server into a failure).

use anyhow::{Context, Result, bail, ensure};
use hdos_core::standard::Standard;
use hdos_ingest::{
    IngestError,
    batch::{self, BatchJob},
    channel::connection_source,
    source::{BatchSource, mysql::MysqlSource},
    suggest::suggest,
};
use hdos_lake::Lake;
use hdos_store::{MasterKey, MetaStore, NewSourceConnection, RunFilter, RunStatus, Secret};
use sqlx::MySqlPool;
use std::str::FromStr;

use crate::common;

const INSTITUTION: &str = "H330100009";

/// The test server's URL for a fresh database `his_<name>_<pid>` holding an outpatient table
/// keyed by an AUTO_INCREMENT id, and a pool on it; None without a server.
async fn his(name: &str) -> Result<Option<(String, MySqlPool)>> {
    let Ok(server) = std::env::var("HDOS_TEST_MYSQL_URL") else {
        if std::env::var("HDOS_REQUIRE_MYSQL").is_ok_and(|v| v == "1") {
            bail!("HDOS_REQUIRE_MYSQL=1 but HDOS_TEST_MYSQL_URL is not set");
        }
        eprintln!("skipped: HDOS_TEST_MYSQL_URL is not set");
        return Ok(None);
    };
    let database = format!("his_{name}_{}", std::process::id());
    let admin = connect(&server).await.context("connecting")?;
    sqlx::raw_sql(&format!(
        "DROP DATABASE IF EXISTS {database}; CREATE DATABASE {database} CHARACTER SET utf8mb4"
    ))
    .execute(&admin)
    .await?;
    let mut url = url::Url::parse(&server)?;
    url.set_path(&database);
    let pool = connect(url.as_str()).await?;
    // The visit time is a TIMESTAMP, which MySQL keeps in UTC and shows in the session's zone.
    sqlx::raw_sql(
        "CREATE TABLE mz_jzjl (id BIGINT AUTO_INCREMENT PRIMARY KEY, jzid VARCHAR(20),
             brid VARCHAR(20), ksmc VARCHAR(40), jzsj TIMESTAMP NULL, zdbm VARCHAR(10),
             zdmc VARCHAR(80), gxsj DATETIME, INDEX (gxsj));
         CREATE TABLE keyless (jzid VARCHAR(20), gxsj DATETIME);
         CREATE TABLE big_ids (id BIGINT PRIMARY KEY, v VARCHAR(10));
         INSERT INTO big_ids VALUES (1152921504606846976, 'a'), (1152921504606846977, 'b'),
                                    (1152921504606846978, 'c');",
    )
    .execute(&pool)
    .await?;
    Ok(Some((url.to_string(), pool)))
}

/// A pool whose sessions use the server's time zone, as the HIS's own clients do (test-services
/// runs MariaDB at UTC+8, like a hospital's server).
async fn connect(url: &str) -> Result<MySqlPool> {
    let options = sqlx::mysql::MySqlConnectOptions::from_str(url)?.timezone(None);
    Ok(MySqlPool::connect_with(options).await?)
}

async fn insert(pool: &MySqlPool, ids: std::ops::Range<i64>, updated: &str) -> Result<()> {
    for i in ids {
        sqlx::query(
            "INSERT INTO mz_jzjl (jzid, brid, ksmc, jzsj, zdbm, zdmc, gxsj)
             VALUES (?, ?, '内科', TIMESTAMPADD(MINUTE, ?, '2026-03-01 08:00:00'), 'J06.9',
                     '急性上呼吸道感染', ?)",
        )
        .bind(format!("V{i}"))
        .bind(format!("P{}", i % 50))
        .bind(i)
        .bind(updated)
        .execute(pool)
        .await?;
    }
    Ok(())
}

fn job(url: &str) -> Result<BatchJob> {
    Ok(BatchJob {
        channel: "mysql_test".into(),
        institution: INSTITUTION.into(),
        source: BatchSource::Mysql {
            url: Secret::new(url),
        },
        mapping: common::visit_mapping()?,
        chunk_rows: 40,
        full: false,
    })
}

async fn drop_database(pool: &MySqlPool, url: &str) -> Result<()> {
    let name = url::Url::parse(url)?
        .path()
        .trim_start_matches('/')
        .to_owned();
    sqlx::raw_sql(&format!("DROP DATABASE {name}"))
        .execute(pool)
        .await?;
    Ok(())
}

#[tokio::test]
async fn a_mariadb_table_is_collected_in_chunks_then_incrementally() -> Result<()> {
    let Some((url, pool)) = his("chunks").await? else {
        return Ok(());
    };
    // 250 rows sharing three update times: every chunk boundary falls inside a run of equals.
    for (range, at) in [
        (0..100, "2026-03-01 12:00:00"),
        (100..200, "2026-03-01 12:00:01"),
        (200..250, "2026-03-01 12:00:01"),
    ] {
        insert(&pool, range, at).await?;
    }
    let dir = tempfile::tempdir()?;
    let store = common::store(dir.path(), "meta.db").await?;
    let lake = Lake::open(dir.path().join("lake").to_str().context("path")?)?;
    let standard = Standard::builtin()?;
    let first = batch::run(&store, &lake, standard, &job(&url)?).await?;
    ensure!(
        first.counts.rows_read == 250 && first.counts.rows_written == 250,
        "{first:?}"
    );
    ensure!(common::count(&lake, "std/outpatient_visit", "").await? == 250);
    ensure!(
        common::count(
            &lake,
            "std/outpatient_visit",
            "WHERE diagnosis_name = '急性上呼吸道感染'"
        )
        .await?
            == 250,
        "Chinese text arrives intact"
    );
    // V0 was seen at 08:00 on the hospital's clock: 00:00 UTC.
    let midnight_utc = chrono::NaiveDate::from_ymd_opt(2026, 3, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .context("date")?
        .and_utc()
        .timestamp_micros();
    ensure!(
        common::count(
            &lake,
            "std/outpatient_visit",
            &format!("WHERE visit_id = 'V0' AND CAST(visit_time AS BIGINT) = {midnight_utc}")
        )
        .await?
            == 1,
        "a TIMESTAMP reads as the hospital's clock shows it"
    );

    // New rows and updated rows: the next run reads exactly those.
    insert(&pool, 250..270, "2026-03-02 09:00:00").await?;
    sqlx::query(
        "UPDATE mz_jzjl SET ksmc = '儿科', gxsj = '2026-03-02 09:00:00' \
         WHERE jzid IN ('V1', 'V2', 'V3', 'V4', 'V5')",
    )
    .execute(&pool)
    .await?;
    let second = batch::run(&store, &lake, standard, &job(&url)?).await?;
    ensure!(second.counts.rows_read == 25, "{second:?}");
    ensure!(common::count(&lake, "std/outpatient_visit", "").await? == 270);
    ensure!(common::count(&lake, "std/outpatient_visit", "WHERE dept_name = '儿科'").await? == 5);
    let third = batch::run(&store, &lake, standard, &job(&url)?).await?;
    ensure!(third.counts.rows_read == 0, "{third:?}");

    // The columns and a sample suggest the mapping a manager would confirm; the source drives
    // its own connection, so it is used from a blocking thread.
    let u = url.clone();
    let (columns, sample, keyless, big) = tokio::task::spawn_blocking(move || {
        let source = MysqlSource::open(&u)?;
        // Keys 2⁶⁰, +1, +2 are equal as doubles: read one at a time, all three still come.
        let mut big = Vec::new();
        let mut after = None;
        loop {
            let chunk = source.read_chunk("big_ids", None, after.as_ref(), 1)?;
            if chunk.is_empty() {
                break;
            }
            big.extend(chunk.rows.iter().map(|r| r[1].clone().unwrap_or_default()));
            after = chunk.last_position().cloned();
        }
        Ok::<_, IngestError>((
            source.columns("mz_jzjl")?,
            source.sample("mz_jzjl", 100)?,
            source.read_chunk("keyless", Some("gxsj"), None, 10),
            big,
        ))
    })
    .await??;
    ensure!(big == ["a", "b", "c"], "{big:?}");
    ensure!(
        columns
            .iter()
            .any(|c| c.name == "jzsj" && c.declared_type == "TIMESTAMP"),
        "{columns:?}"
    );
    ensure!(sample.len() == 100);
    let suggestion = suggest(standard, "mz_jzjl", &columns, &sample).context("a suggestion")?;
    ensure!(suggestion.mapping.dataset == "outpatient_visit");
    let e = keyless.expect_err("a table without a key is refused");
    ensure!(e.to_string().contains("integer primary key"), "{e}");

    drop_database(&pool, &url).await
}

#[tokio::test]
async fn a_stored_mysql_connection_reads_the_database_and_bad_ones_fail_clearly() -> Result<()> {
    let Some((url, pool)) = his("conn").await? else {
        return Ok(());
    };
    insert(&pool, 0..10, "2026-03-01 12:00:00").await?;
    let dir = tempfile::tempdir()?;
    let store = common::store(dir.path(), "meta.db").await?;
    let lake = Lake::open(dir.path().join("lake").to_str().context("path")?)?;
    let standard = Standard::builtin()?;
    let key = MasterKey::generate();
    let parsed = url::Url::parse(&url)?;
    let connection = |name: &str, password: &str| NewSourceConnection {
        name: name.into(),
        kind: "mysql".into(),
        institution: INSTITUTION.into(),
        host: parsed.host_str().unwrap_or_default().into(),
        port: i64::from(parsed.port().unwrap_or(3306)),
        database: parsed.path().trim_start_matches('/').into(),
        username: parsed.username().into(),
        sealed_password: Some(key.seal(password)),
        schema: parsed.path().trim_start_matches('/').into(),
    };
    store.save_connection(connection("his", "hdos")).await?;
    store.save_connection(connection("wrong", "not-it")).await?;

    let source = connection_source(&store, &key, "his").await?;
    ensure!(matches!(source, BatchSource::Mysql { .. }));
    ensure!(
        !source.display_name().contains(":hdos@"),
        "{}",
        source.display_name()
    );
    let tables = tokio::task::spawn_blocking(move || source.catalog()?.tables()).await??;
    ensure!(tables == ["big_ids", "keyless", "mz_jzjl"], "{tables:?}");

    let BatchSource::Mysql { url: wrong } = connection_source(&store, &key, "wrong").await? else {
        bail!("a mysql connection");
    };
    let e = batch::run(&store, &lake, standard, &job(wrong.expose())?)
        .await
        .expect_err("wrong credentials fail");
    ensure!(matches!(e, IngestError::SourceUnavailable { .. }), "{e}");
    ensure!(e.to_string().contains("Access denied"), "{e}");
    ensure!(
        !e.to_string().contains("not-it"),
        "the password is not shown: {e}"
    );

    let mut missing = parsed.clone();
    missing.set_path("no_such_database");
    let e = batch::run(&store, &lake, standard, &job(missing.as_str())?)
        .await
        .expect_err("a missing database fails");
    ensure!(matches!(e, IngestError::SourceUnavailable { .. }), "{e}");

    let runs = store
        .list_ingest_runs(&RunFilter::default(), hdos_store::Page::new(10, 0))
        .await?;
    ensure!(
        runs.len() == 2 && runs.iter().all(|r| r.status == RunStatus::Failed),
        "{runs:?}"
    );
    drop_database(&pool, &url).await
}
