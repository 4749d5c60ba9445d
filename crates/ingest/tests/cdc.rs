//! Log-based collection from a real PostgreSQL (wal_level = logical, scripts/test-services): the
//! snapshot, then inserts, updates and deletes streamed into a real Delta lake; a stop and
//! restart with changes made meanwhile loses and repeats nothing (row counts of the raw change
//! log, and every row of the std zone compared with the source), and neither does the source
//! ending the replication connection mid-stream. Runs when HDOS_TEST_POSTGRES_URL is set.

use anyhow::{Context, Result, ensure};
use hdos_core::standard::Standard;
use hdos_ingest::{
    IngestError,
    cdc::{CdcChannel, CdcConfig, parse_lsn},
};
use hdos_lake::{
    Lake, TableName, arrow::array::AsArray, arrow::compute::cast, arrow::datatypes::DataType,
};
use hdos_store::{MetaStore, Secret};
use std::{sync::Arc, time::Duration};

use crate::common;

const INSTITUTION: &str = "H330100010";

fn config(url: &str, schema: &str, channel: &str) -> Result<CdcConfig> {
    let mut c = CdcConfig::new(
        channel,
        INSTITUTION,
        Secret::new(url),
        schema,
        vec![common::visit_mapping()?],
    );
    c.linger = Duration::from_millis(50);
    c.heartbeat = Duration::from_millis(500);
    c.chunk_rows = 40;
    Ok(c)
}

/// Drops what an earlier, failed run of this test left at the source.
async fn clean(pool: &sqlx::PgPool, slot: &str) -> Result<()> {
    sqlx::query("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active")
        .bind(slot)
        .execute(pool)
        .await?;
    sqlx::raw_sql(&format!("DROP PUBLICATION IF EXISTS {slot}"))
        .execute(pool)
        .await?;
    Ok(())
}

/// Where the source's next WAL record goes: past every commit so far, even unflushed ones
/// (the test cluster commits asynchronously).
async fn current_lsn(pool: &sqlx::PgPool) -> Result<u64> {
    let text: String = sqlx::query_scalar("SELECT pg_current_wal_insert_lsn()::text")
        .fetch_one(pool)
        .await?;
    parse_lsn(&text).context("an LSN")
}

async fn exec(pool: &sqlx::PgPool, sql: &str) -> Result<()> {
    sqlx::raw_sql(sql).execute(pool).await?;
    Ok(())
}

/// `(visit_id, dept_name)` of every std row, sorted.
async fn lake_rows(lake: &Lake) -> Result<Vec<(String, String)>> {
    let t = TableName::new("std/outpatient_visit")?;
    let sql = format!(
        "SELECT visit_id, dept_name FROM {} WHERE institution_code = '{INSTITUTION}' ORDER BY visit_id",
        t.sql_name()
    );
    let mut out = Vec::new();
    for b in lake.query(std::slice::from_ref(&t), &sql).await? {
        let ids = cast(b.column(0), &DataType::Utf8)?;
        let depts = cast(b.column(1), &DataType::Utf8)?;
        let (ids, depts) = (ids.as_string::<i32>(), depts.as_string::<i32>());
        for i in 0..b.num_rows() {
            out.push((ids.value(i).to_owned(), depts.value(i).to_owned()));
        }
    }
    Ok(out)
}

async fn source_rows(pool: &sqlx::PgPool, schema: &str) -> Result<Vec<(String, String)>> {
    Ok(sqlx::query_as(&format!(
        "SELECT jzid, ksmc FROM {schema}.mz_jzjl ORDER BY jzid COLLATE \"C\""
    ))
    .fetch_all(pool)
    .await?)
}

#[tokio::test]
async fn changes_stream_into_the_lake_once_across_a_restart() -> Result<()> {
    let Some((url, schema, pool)) = common::his("cdc").await? else {
        return Ok(());
    };
    let channel = "cdc_t_stream";
    let config = config(&url, &schema, channel)?;
    clean(&pool, &config.slot()).await?;
    common::insert(&pool, &schema, 0..100, "2026-03-01 12:00:00").await?;
    let dir = tempfile::tempdir()?;
    let store: Arc<dyn MetaStore> = Arc::new(common::store(dir.path(), "meta.db").await?);
    let lake = Lake::open(dir.path().join("lake").to_str().context("path")?)?;
    let standard = Standard::builtin()?;

    let cdc = CdcChannel::start(store.clone(), lake.clone(), standard, config.clone()).await?;
    let mut progress = cdc.progress();
    tokio::time::timeout(
        Duration::from_secs(60),
        progress.wait_for(|p| p.snapshot_done),
    )
    .await??;
    ensure!(common::count(&lake, "std/outpatient_visit", "").await? == 100);

    // Inserts, updates, deletes, and a delete and re-insert of one key in one transaction.
    common::insert(&pool, &schema, 100..150, "2026-03-02 08:00:00").await?;
    exec(&pool, &format!("UPDATE {schema}.mz_jzjl SET ksmc = '儿科', gxsj = '2026-03-02 09:00:00' WHERE jzid IN ('V10','V11','V12','V13','V14','V15','V16','V17','V18','V19')")).await?;
    exec(
        &pool,
        &format!("DELETE FROM {schema}.mz_jzjl WHERE jzid IN ('V0','V1','V2','V3','V4')"),
    )
    .await?;
    exec(&pool, &format!("BEGIN; DELETE FROM {schema}.mz_jzjl WHERE jzid = 'V5'; INSERT INTO {schema}.mz_jzjl VALUES ('V5', 'P5', '眼科', '2026-03-01 08:05:00', 'H10.9', '结膜炎', '2026-03-02 10:00:00'); COMMIT;")).await?;
    let lsn = current_lsn(&pool).await?;
    tokio::time::timeout(Duration::from_secs(60), cdc.caught_up_to(lsn)).await?;
    ensure!(common::count(&lake, "std/outpatient_visit", "").await? == 145);
    ensure!(common::count(&lake, "std/outpatient_visit", "WHERE dept_name = '儿科'").await? == 10);
    ensure!(
        common::count(
            &lake,
            "std/outpatient_visit",
            "WHERE visit_id = 'V5' AND dept_name = '眼科'"
        )
        .await?
            == 1
    );
    let raw = format!("raw/{channel}/mz_jzjl");
    ensure!(common::count(&lake, &raw, "").await? == 100 + 50 + 10 + 5 + 2);
    ensure!(common::count(&lake, &raw, "WHERE _hdos_op = 'd'").await? == 6);
    let counts = cdc.stop().await?;
    ensure!(counts.rows_read == 67, "{counts:?}");

    // Changes while the channel is down are read on restart, once.
    common::insert(&pool, &schema, 150..170, "2026-03-03 08:00:00").await?;
    exec(
        &pool,
        &format!("DELETE FROM {schema}.mz_jzjl WHERE jzid IN ('V20','V21','V22')"),
    )
    .await?;
    let cdc = CdcChannel::start(store.clone(), lake.clone(), standard, config.clone()).await?;
    let lsn = current_lsn(&pool).await?;
    tokio::time::timeout(Duration::from_secs(60), cdc.caught_up_to(lsn)).await?;
    ensure!(common::count(&lake, "std/outpatient_visit", "").await? == 162);
    ensure!(
        common::count(&lake, &raw, "").await? == 167 + 23,
        "no change twice in the raw log"
    );
    let (lake_side, source_side) = (lake_rows(&lake).await?, source_rows(&pool, &schema).await?);
    ensure!(lake_side == source_side, "every row as at the source");
    ensure!(
        cdc.progress().borrow().lag_bytes.is_some(),
        "the slot's lag is measured"
    );
    cdc.stop().await?;
    clean(&pool, &config.slot()).await?;
    exec(&pool, &format!("DROP SCHEMA {schema} CASCADE")).await?;
    Ok(())
}

#[tokio::test]
async fn a_dropped_replication_connection_is_reopened_and_nothing_is_lost_or_repeated() -> Result<()>
{
    let Some((url, schema, pool)) = common::his("cdc_drop").await? else {
        return Ok(());
    };
    let channel = "cdc_t_drop";
    let config = config(&url, &schema, channel)?;
    clean(&pool, &config.slot()).await?;
    common::insert(&pool, &schema, 0..50, "2026-03-01 12:00:00").await?;
    let dir = tempfile::tempdir()?;
    let store: Arc<dyn MetaStore> = Arc::new(common::store(dir.path(), "meta.db").await?);
    let lake = Lake::open(dir.path().join("lake").to_str().context("path")?)?;
    let cdc = CdcChannel::start(store, lake.clone(), Standard::builtin()?, config.clone()).await?;
    let mut progress = cdc.progress();
    tokio::time::timeout(
        Duration::from_secs(60),
        progress.wait_for(|p| p.snapshot_done),
    )
    .await??;
    common::insert(&pool, &schema, 50..80, "2026-03-02 08:00:00").await?;
    tokio::time::timeout(
        Duration::from_secs(60),
        cdc.caught_up_to(current_lsn(&pool).await?),
    )
    .await?;

    // The source ends the walsender, as a restart of the server would; changes made while the
    // channel reconnects arrive once it has.
    let walsender = |pool: sqlx::PgPool, slot: String| async move {
        sqlx::query_scalar::<_, Option<i32>>(
            "SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1",
        )
        .bind(slot)
        .fetch_one(&pool)
        .await
    };
    let before = walsender(pool.clone(), config.slot())
        .await?
        .context("streaming")?;
    let ended: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(before)
        .fetch_one(&pool)
        .await?;
    ensure!(ended, "the walsender was ended");
    common::insert(&pool, &schema, 80..100, "2026-03-02 09:00:00").await?;
    exec(
        &pool,
        &format!("DELETE FROM {schema}.mz_jzjl WHERE jzid IN ('V1', 'V2')"),
    )
    .await?;
    tokio::time::timeout(
        Duration::from_secs(90),
        cdc.caught_up_to(current_lsn(&pool).await?),
    )
    .await
    .context("the channel caught up after the connection was ended")?;
    let after = walsender(pool.clone(), config.slot()).await?;
    ensure!(
        after.is_some_and(|pid| pid != before),
        "a new connection streams the slot: {before} then {after:?}"
    );
    ensure!(common::count(&lake, "std/outpatient_visit", "").await? == 98);
    let raw = format!("raw/{channel}/mz_jzjl");
    ensure!(
        common::count(&lake, &raw, "").await? == 50 + 30 + 20 + 2,
        "no change lost or repeated in the raw log"
    );
    let (lake_side, source_side) = (lake_rows(&lake).await?, source_rows(&pool, &schema).await?);
    ensure!(lake_side == source_side, "every row as at the source");
    cdc.stop().await?;
    clean(&pool, &config.slot()).await?;
    exec(&pool, &format!("DROP SCHEMA {schema} CASCADE")).await?;
    Ok(())
}

#[tokio::test]
async fn a_table_missing_at_the_source_is_refused_before_anything_is_created() -> Result<()> {
    let Some((url, schema, pool)) = common::his("cdcmissing").await? else {
        return Ok(());
    };
    let mut config = config(&url, &schema, "cdc_t_missing")?;
    clean(&pool, &config.slot()).await?;
    config.mappings[0].source_table = "no_such_table".into();
    let dir = tempfile::tempdir()?;
    let store: Arc<dyn MetaStore> = Arc::new(common::store(dir.path(), "meta.db").await?);
    let lake = Lake::open(dir.path().join("lake").to_str().context("path")?)?;
    let e = CdcChannel::start(store, lake, Standard::builtin()?, config.clone())
        .await
        .expect_err("a missing table");
    ensure!(matches!(e, IngestError::TableNotFound { .. }), "{e}");
    let slots: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1")
            .bind(config.slot())
            .fetch_one(&pool)
            .await?;
    ensure!(slots == 0, "no slot was left behind");
    exec(&pool, &format!("DROP SCHEMA {schema} CASCADE")).await?;
    Ok(())
}

#[tokio::test]
async fn a_slot_holding_wal_beyond_the_limit_alerts() -> Result<()> {
    let Some((url, schema, pool)) = common::his("lag").await? else {
        return Ok(());
    };
    let channel = "cdc_t_lag";
    let config = config(&url, &schema, channel)?;
    clean(&pool, &config.slot()).await?;
    common::insert(&pool, &schema, 0..10, "2026-03-01 12:00:00").await?;
    let dir = tempfile::tempdir()?;
    let store: Arc<dyn MetaStore> = Arc::new(common::store(dir.path(), "meta.db").await?);
    let lake = Lake::open(dir.path().join("lake").to_str().context("path")?)?;
    let key = hdos_store::MasterKey::generate();
    let parsed = url::Url::parse(&url)?;
    store
        .save_connection(hdos_store::NewSourceConnection {
            name: "his_lag".into(),
            kind: "postgres".into(),
            institution: INSTITUTION.into(),
            host: parsed.host_str().unwrap_or_default().into(),
            port: i64::from(parsed.port().unwrap_or(5432)),
            database: parsed.path().trim_start_matches('/').into(),
            username: parsed.username().into(),
            sealed_password: parsed.password().map(|p| key.seal(p)),
            schema: schema.clone(),
        })
        .await?;
    let spec = hdos_ingest::channel::ChannelSpec::Cdc {
        connection: "his_lag".into(),
        tables: vec![common::visit_mapping()?],
    };
    store
        .save_channel(hdos_store::NewChannel {
            name: channel.into(),
            institution: INSTITUTION.into(),
            kind: spec.kind().into(),
            spec: spec.to_json(),
            schedule: None,
            enabled: true,
            next_run_at: None,
        })
        .await?;
    // The channel creates its slot, reads the table, and stops; changes then pile up.
    let cdc = CdcChannel::start(
        store.clone(),
        lake.clone(),
        Standard::builtin()?,
        config.clone(),
    )
    .await?;
    let mut progress = cdc.progress();
    tokio::time::timeout(
        Duration::from_secs(60),
        progress.wait_for(|p| p.snapshot_done),
    )
    .await??;
    cdc.stop().await?;
    common::insert(&pool, &schema, 10..2_010, "2026-03-02 12:00:00").await?;

    let env = hdos_ingest::channel::ChannelEnv {
        store: store.clone(),
        lake,
        standard: Standard::builtin()?,
        master_key: key,
        journal_root: dir.path().join("journal"),
    };
    let options = hdos_ingest::monitor::MonitorOptions {
        slot_lag_alert_bytes: 64 * 1024,
        recheck_after: Duration::from_millis(10),
        ..Default::default()
    };
    let mut monitor = hdos_ingest::monitor::Monitor::new(env, options, None);
    monitor.check_all().await?;
    let alerts = store
        .list_alerts(
            &hdos_store::AlertFilter::default(),
            hdos_store::Page::new(10, 0),
        )
        .await?;
    let lag = alerts
        .iter()
        .find(|a| a.kind == "slot_lag")
        .context("the slot's lag alerts")?;
    ensure!(lag.subject == format!("slot {}", config.slot()), "{lag:?}");
    ensure!(
        lag.message.contains("MiB of WAL not yet in the lake"),
        "{lag:?}"
    );
    let samples = store.link_samples(0, None).await?;
    ensure!(
        samples
            .iter()
            .any(|s| s.backlog_bytes.is_some_and(|b| b > 64 * 1024)),
        "the slot's lag is kept for the chart: {samples:?}"
    );
    ensure!(
        alerts.iter().any(|a| a.kind == "reconciliation"),
        "the 2,000 rows not streamed are a gap too: {alerts:?}"
    );
    clean(&pool, &config.slot()).await?;
    exec(&pool, &format!("DROP SCHEMA {schema} CASCADE")).await?;
    Ok(())
}
