//! A worker in-process against a real SQLite metadata store and a real lake: a channel whose
//! source is missing fails with the reason and waits to retry with backoff; once the source is
//! there, a requested run succeeds and clears the failure; a worker that stops lets its leases
//! go and says it stopped.

use crate::common;
use anyhow::{Context, Result, ensure};
use hdos_core::standard::Standard;
use hdos_ingest::{
    channel::{ChannelEnv, ChannelSpec, SqlSource},
    worker::{Worker, WorkerOptions},
};
use hdos_lake::Lake;
use hdos_store::{Channel, MasterKey, MetaStore, NewChannel, now_millis};
use std::{sync::Arc, time::Duration};
use tokio::sync::watch;

/// Polls the channel until `done` holds, for at most 20 s.
async fn wait_for(
    store: &dyn MetaStore,
    name: &str,
    what: &str,
    done: impl Fn(&Channel) -> bool,
) -> Result<Channel> {
    for _ in 0..200 {
        let c = store.channel(name).await?.context("saved")?;
        if done(&c) {
            return Ok(c);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("{what}: not within 20 s")
}

#[tokio::test]
async fn a_failing_channel_waits_with_backoff_and_a_requested_run_clears_it() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let his = dir.path().join("his.db");
    let store: Arc<dyn MetaStore> = Arc::new(common::store(dir.path(), "meta.db").await?);
    let env = ChannelEnv {
        store: store.clone(),
        lake: Lake::open(dir.path().join("lake").to_str().context("path")?)?,
        standard: Standard::builtin()?,
        master_key: MasterKey::generate(),
        journal_root: dir.path().join("journal"),
    };
    let spec = ChannelSpec::Sql {
        source: SqlSource::Sqlite(his.clone()),
        tables: vec![common::visit_mapping()?],
        chunk_rows: None,
    };
    store
        .save_channel(NewChannel {
            name: "his_w".into(),
            institution: "H330100088".into(),
            kind: spec.kind().into(),
            spec: spec.to_json(),
            schedule: None,
            enabled: true,
            next_run_at: None,
        })
        .await?;
    store.request_channel_run("his_w", now_millis()).await?;
    let options = WorkerOptions {
        id: "w-test".into(),
        lease_ttl: Duration::from_secs(3),
        poll: Duration::from_millis(100),
        max_jobs: 2,
    };
    let (stop, stopped) = watch::channel(false);
    let worker = tokio::spawn(Worker::new(env, options).run(stopped));

    let failed = wait_for(store.as_ref(), "his_w", "the run fails", |c| {
        c.failures == 1
    })
    .await?;
    let error = failed.last_error.clone().unwrap_or_default();
    ensure!(
        error.contains("his.db"),
        "the reason names the source: {error}"
    );
    let retry_in = failed.next_run_at.context("a retry is scheduled")? - now_millis();
    ensure!(
        (10_000..=16_000).contains(&retry_in),
        "first retry after 15 s: {retry_in} ms"
    );
    ensure!(
        failed.run_requested_at.is_none(),
        "the request was answered"
    );

    // The HIS appears; a run asked for now does not wait for the backoff.
    let db = rusqlite::Connection::open(&his)?;
    db.execute_batch(
        "CREATE TABLE mz_jzjl (jzid TEXT, brid TEXT, ksmc TEXT, jzsj TEXT, zdbm TEXT, zdmc TEXT, gxsj TEXT);
         INSERT INTO mz_jzjl VALUES ('V1', 'P1', '内科', '2026-03-01 08:00:00', 'J06.9', '急性上呼吸道感染', '2026-03-01 09:00:00');",
    )?;
    drop(db);
    store.request_channel_run("his_w", now_millis()).await?;
    let ok = wait_for(store.as_ref(), "his_w", "the run succeeds", |c| {
        c.failures == 0 && c.run_requested_at.is_none()
    })
    .await?;
    ensure!(
        ok.last_error.is_none() && ok.next_run_at.is_none(),
        "{ok:?}"
    );
    let runs = store
        .list_ingest_runs(&Default::default(), hdos_store::Page::new(10, 0))
        .await?;
    ensure!(runs.iter().any(|r| r.counts.rows_written == 1), "{runs:?}");

    // A cancel that no run is left to answer does not block the channel.
    store.request_channel_cancel("his_w", now_millis()).await?;
    wait_for(store.as_ref(), "his_w", "a stale cancel is dropped", |c| {
        c.cancel_requested_at.is_none()
    })
    .await?;

    let _ = stop.send(true);
    worker.await?;
    ensure!(
        store.live_channel_leases(now_millis()).await?.is_empty(),
        "leases let go"
    );
    let seen = store.list_workers(0).await?;
    ensure!(
        seen.iter()
            .any(|w| w.id == "w-test" && w.stopped_at.is_some()),
        "{seen:?}"
    );
    Ok(())
}
