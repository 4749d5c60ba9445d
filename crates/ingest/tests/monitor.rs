//! Link monitoring against a real SQLite HIS, a real Delta lake and a real metadata store:
//! reconciliation per dataset and day (a gap is named with its day and size, and clears once
//! collected; an empty table still reconciles), a run that reads nothing on a busy channel, and
//! failed runs.

use crate::common;
use anyhow::{Context, Result, ensure};
use hdos_core::standard::Standard;
use hdos_ingest::{
    channel::{self, ChannelEnv, ChannelSpec, SqlSource},
    monitor::{Monitor, MonitorOptions},
};
use hdos_lake::Lake;
use hdos_store::{
    AlertFilter, AlertStatus, Channel, MasterKey, MetaStore, NewChannel, Page, RunCounts, RunStatus,
};
use std::{path::Path, sync::Arc, time::Duration};
use tokio::sync::{mpsc, watch};

const INSTITUTION: &str = "H330100099";

/// A HIS with an outpatient table: `rows` of (id, update time); an empty id is stored as NULL.
fn his(path: &Path, rows: &[(&str, &str)]) -> Result<()> {
    let db = rusqlite::Connection::open(path)?;
    db.execute_batch(
        "CREATE TABLE IF NOT EXISTS mz_jzjl (jzid TEXT, brid TEXT, ksmc TEXT, jzsj TEXT,
                                             zdbm TEXT, zdmc TEXT, gxsj TEXT);",
    )?;
    for (id, updated) in rows {
        db.execute(
            "INSERT INTO mz_jzjl (jzid, brid, ksmc, jzsj, zdbm, zdmc, gxsj) VALUES (?1, 'P1', '内科', '2026-03-01 08:00:00', 'J06.9', '急性上呼吸道感染', ?2)",
            (Some(id).filter(|i| !i.is_empty()), updated),
        )?;
    }
    Ok(())
}

async fn env(dir: &Path) -> Result<ChannelEnv> {
    Ok(ChannelEnv {
        store: Arc::new(common::store(dir, "meta.db").await?),
        lake: Lake::open(dir.join("lake").to_str().context("path")?)?,
        standard: Standard::builtin()?,
        master_key: MasterKey::generate(),
        journal_root: dir.join("journal"),
    })
}

async fn sql_channel(store: &dyn MetaStore, name: &str, his: &Path) -> Result<Channel> {
    let spec = ChannelSpec::Sql {
        source: SqlSource::Sqlite(his.to_owned()),
        tables: vec![common::visit_mapping()?],
        chunk_rows: None,
    };
    Ok(store
        .save_channel(NewChannel {
            name: name.into(),
            institution: INSTITUTION.into(),
            kind: spec.kind().into(),
            spec: spec.to_json(),
            schedule: None,
            enabled: true,
            next_run_at: None,
        })
        .await?)
}

async fn collect(env: &ChannelEnv, c: &Channel) -> Result<RunCounts> {
    let (_stop, stopped) = watch::channel(false);
    Ok(channel::run(env.clone(), c.clone(), ChannelSpec::of(c)?, stopped).await?)
}

fn options() -> MonitorOptions {
    MonitorOptions {
        recheck_after: Duration::from_millis(10),
        ..MonitorOptions::default()
    }
}

#[tokio::test]
async fn a_days_gap_is_named_and_clears_once_collected() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("his.db");
    let mut rows: Vec<(String, &str)> = (0..10)
        .map(|i| (format!("V{i}"), "2026-03-01 10:00:00"))
        .collect();
    rows.extend((10..30).map(|i| (format!("V{i}"), "2026-03-02 10:00:00")));
    // No visit id: the mapping refuses it.
    rows.push((String::new(), "2026-03-02 11:00:00"));
    let refs: Vec<(&str, &str)> = rows.iter().map(|(a, b)| (a.as_str(), *b)).collect();
    his(&path, &refs)?;
    let env = env(dir.path()).await?;
    let c = sql_channel(env.store.as_ref(), "his_h99", &path).await?;
    collect(&env, &c).await?;

    let (tx, mut new_alerts) = mpsc::unbounded_channel();
    let monitor = Monitor::new(env.clone(), options(), Some(tx));
    let days = monitor.reconcile_channel(&c).await?;
    ensure!(days.iter().all(|d| d.matches()), "{days:?}");
    let day =
        |days: &[hdos_store::ReconciliationDay], d: &str| days.iter().find(|r| r.day == d).cloned();
    let first = day(&days, "2026-03-01").context("day 1")?;
    ensure!(first.source_rows == 10 && first.lake_rows == 10);
    ensure!(day(&days, "2026-03-02").context("day 2")?.lake_rows == 20);
    ensure!(
        day(&days, "").context("undated")?.unmapped_rows == 1,
        "the refused row is counted apart"
    );

    // Three visits arrive at the source on a new day and are not collected yet.
    his(
        &path,
        &[
            ("V100", "2026-03-03 09:00:00"),
            ("V101", "2026-03-03 09:30:00"),
            ("V102", "2026-03-03 10:00:00"),
        ],
    )?;
    let days = monitor.reconcile_channel(&c).await?;
    let gap = day(&days, "2026-03-03").context("day 3")?;
    ensure!(gap.source_rows == 3 && gap.lake_rows == 0 && !gap.matches());
    let alert = new_alerts.try_recv().context("the webhook hears of it")?;
    ensure!(alert.kind == "reconciliation" && alert.subject == "outpatient_visit 2026-03-03");
    ensure!(
        alert.message.contains("3 missing from the lake"),
        "{}",
        alert.message
    );
    let open = env
        .store
        .list_alerts(&AlertFilter::default(), Page::new(10, 0))
        .await?;
    ensure!(open.len() == 1 && open[0].institution == INSTITUTION);

    // The same gap seen again updates the alert; collected, it clears.
    monitor.reconcile_channel(&c).await?;
    ensure!(new_alerts.try_recv().is_err(), "one alert per problem");
    collect(&env, &c).await?;
    let days = monitor.reconcile_channel(&c).await?;
    ensure!(days.iter().all(|d| d.matches()), "{days:?}");
    let resolved = env.store.alert(alert.id).await?.context("kept")?;
    ensure!(resolved.status == AlertStatus::Resolved);
    Ok(())
}

#[tokio::test]
async fn an_empty_source_table_still_reconciles() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("empty.db");
    his(&path, &[])?;
    let env = env(dir.path()).await?;
    let c = sql_channel(env.store.as_ref(), "his_empty", &path).await?;
    collect(&env, &c).await?;
    let days = Monitor::new(env, options(), None)
        .reconcile_channel(&c)
        .await?;
    ensure!(days.len() == 1, "{days:?}");
    ensure!(days[0].source_rows == 0 && days[0].lake_rows == 0 && days[0].matches());
    Ok(())
}

#[tokio::test]
async fn a_run_that_reads_nothing_on_a_busy_channel_and_failed_runs_alert() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("his.db");
    his(&path, &[("V1", "2026-03-01 10:00:00")])?;
    let env = env(dir.path()).await?;
    let store = env.store.clone();
    let c = sql_channel(store.as_ref(), "his_busy", &path).await?;
    collect(&env, &c).await?;
    let run = |rows: i64| {
        let store = store.clone();
        async move {
            let r = store
                .start_ingest_run("his_busy", "mz_jzjl", INSTITUTION, "incremental")
                .await?;
            let counts = RunCounts {
                rows_read: rows,
                rows_written: rows,
                ..RunCounts::default()
            };
            store
                .update_ingest_run(r.id, RunStatus::Succeeded, counts, None)
                .await?;
            Ok::<_, anyhow::Error>(())
        }
    };
    for n in [120, 95, 130, 110, 101, 99] {
        run(n).await?;
    }
    let mut monitor = Monitor::new(env.clone(), options(), None);
    monitor.check_all().await?;
    ensure!(store.count_alerts(&AlertFilter::default()).await? == 0);

    run(0).await?;
    store
        .finish_channel_run(
            &c.name,
            &hdos_store::ChannelOutcome {
                started_at: 0,
                next_run_at: None,
                failures: 2,
                last_error: Some("cannot open source his.db".into()),
            },
        )
        .await?;
    monitor.check_all().await?;
    let open = store
        .list_alerts(&AlertFilter::default(), Page::new(10, 0))
        .await?;
    let kinds: Vec<&str> = open.iter().map(|a| a.kind.as_str()).collect();
    ensure!(
        kinds.contains(&"zero_rows") && kinds.contains(&"run_failed"),
        "{open:?}"
    );
    let zero = open
        .iter()
        .find(|a| a.kind == "zero_rows")
        .context("zero")?;
    ensure!(zero.subject == "table mz_jzjl", "{zero:?}");

    // Rows again and a good run: both clear.
    run(80).await?;
    store
        .finish_channel_run(
            &c.name,
            &hdos_store::ChannelOutcome {
                started_at: 0,
                next_run_at: None,
                failures: 0,
                last_error: None,
            },
        )
        .await?;
    monitor.check_all().await?;
    ensure!(store.count_alerts(&AlertFilter::default()).await? == 0);
    Ok(())
}

#[tokio::test]
async fn schema_drift_is_recorded_and_mapped_fields_keep_flowing() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("his.db");
    his(&path, &[("V1", "2026-03-01 10:00:00")])?;
    let env = env(dir.path()).await?;
    let c = sql_channel(env.store.as_ref(), "his_drift", &path).await?;
    collect(&env, &c).await?;

    // The HIS vendor adds a column: the new row still lands, and the change is recorded.
    let db = rusqlite::Connection::open(&path)?;
    db.execute_batch("ALTER TABLE mz_jzjl ADD COLUMN ysxm TEXT;")?;
    drop(db);
    his(&path, &[("V2", "2026-03-02 10:00:00")])?;
    let counts = collect(&env, &c).await?;
    ensure!(counts.rows_written == 1, "{counts:?}");
    ensure!(common::count(&env.lake, "std/outpatient_visit", "").await? == 2);
    let alerts = env
        .store
        .list_alerts(&AlertFilter::default(), Page::new(10, 0))
        .await?;
    let drift = alerts
        .iter()
        .find(|a| a.kind == "schema_drift")
        .context("the drift is recorded")?;
    ensure!(
        drift.subject == "table mz_jzjl" && drift.message.contains("added `ysxm`"),
        "{drift:?}"
    );

    // A mapped column dropped: its field is read as empty — here diagnosis_name, which the
    // standard requires, so the new row goes to quarantine with that reason instead of stopping
    // the run — and the alert says the column was mapped and is absent.
    let db = rusqlite::Connection::open(&path)?;
    db.execute_batch("ALTER TABLE mz_jzjl DROP COLUMN zdmc;")?;
    let add = |id: &str, updated: &str| {
        db.execute(
            "INSERT INTO mz_jzjl (jzid, brid, ksmc, jzsj, zdbm, gxsj) \
             VALUES (?1, 'P1', '内科', '2026-03-01 08:00:00', 'J06.9', ?2)",
            (id, updated),
        )
    };
    add("V3", "2026-03-03 10:00:00")?;
    let counts = collect(&env, &c).await?;
    ensure!(
        counts.rows_read == 1 && counts.rows_quarantined == 1,
        "{counts:?}"
    );
    ensure!(
        common::count(
            &env.lake,
            "quarantine/outpatient_visit",
            "WHERE field = 'diagnosis_name' AND reason LIKE '%required%'"
        )
        .await?
            == 1
    );
    let drift = env
        .store
        .alert(drift.id)
        .await?
        .context("the same alert, updated")?;
    ensure!(
        drift.message.contains("dropped `zdmc` (mapped)")
            && drift.message.contains("`zdmc` no longer at the source"),
        "{drift:?}"
    );

    // The next run reads on without it, and the alert keeps saying so.
    add("V4", "2026-03-04 10:00:00")?;
    ensure!(collect(&env, &c).await?.rows_read == 1);
    let drift = env.store.alert(drift.id).await?.context("alert")?;
    ensure!(
        drift.message.contains("`zdmc` no longer at the source"),
        "{drift:?}"
    );
    ensure!(drift.status == hdos_store::AlertStatus::Open, "{drift:?}");
    Ok(())
}

#[tokio::test]
async fn each_link_node_is_probed_and_an_unreachable_source_alerts() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("his.db");
    his(&path, &[("V1", "2026-03-01 10:00:00")])?;
    let env = env(dir.path()).await?;
    let c = sql_channel(env.store.as_ref(), "his_probe", &path).await?;
    collect(&env, &c).await?;
    let mut monitor = Monitor::new(env.clone(), options(), None);
    monitor.check_all().await?;
    let nodes = env.store.link_statuses().await?;
    let node = |channel: &str, node: &str| {
        nodes
            .iter()
            .find(|n| n.channel == channel && n.node == node)
            .cloned()
    };
    let lake = node("", "lake").context("the lake is probed")?;
    ensure!(lake.ok, "{lake:?}");
    let source = node("his_probe", "source").context("the source is probed")?;
    ensure!(source.ok && source.detail == "1 tables", "{source:?}");

    // The HIS goes away.
    std::fs::remove_file(&path)?;
    monitor.check_all().await?;
    let source = env
        .store
        .link_statuses()
        .await?
        .into_iter()
        .find(|n| n.channel == "his_probe" && n.node == "source")
        .context("probed again")?;
    ensure!(!source.ok && source.detail.contains("his.db"), "{source:?}");
    // Each pass keeps a sample for the charts: answered, then not.
    let samples = env.store.link_samples(0, Some(INSTITUTION)).await?;
    let latencies: Vec<Option<i64>> = samples
        .iter()
        .filter(|s| s.channel == "his_probe")
        .map(|s| s.latency_ms)
        .collect();
    ensure!(
        latencies.len() == 2 && latencies[0].is_some() && latencies[1].is_none(),
        "{samples:?}"
    );
    let alerts = env
        .store
        .list_alerts(&AlertFilter::default(), Page::new(10, 0))
        .await?;
    ensure!(
        alerts
            .iter()
            .any(|a| a.kind == "source_unreachable" && a.subject == "source"),
        "{alerts:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_message_journal_that_does_not_land_alerts() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let env = env(dir.path()).await?;
    let spec = ChannelSpec::Mllp {
        listen: "127.0.0.1:0".parse()?,
        mappings: None,
        max_message_bytes: None,
    };
    env.store
        .save_channel(NewChannel {
            name: "hl7_backlog".into(),
            institution: INSTITUTION.into(),
            kind: spec.kind().into(),
            spec: spec.to_json(),
            schedule: None,
            enabled: true,
            next_run_at: None,
        })
        .await?;
    // Messages acknowledged into the journal, with no lander running.
    let journal = hdos_ingest::journal::Journal::open(&env.journal_root.join("hl7_backlog"))?;
    for i in 0..20 {
        journal
            .append(format!("MSH|^~\\&|HIS|H1|||{i}").into_bytes())
            .await?;
    }
    drop(journal);
    let options = MonitorOptions {
        journal_backlog_alert_bytes: 100,
        ..options()
    };
    Monitor::new(env.clone(), options, None).check_all().await?;
    let node = env
        .store
        .link_statuses()
        .await?
        .into_iter()
        .find(|n| n.channel == "hl7_backlog" && n.node == "journal")
        .context("the journal is probed")?;
    ensure!(
        !node.ok && node.detail.contains("bytes received and not yet landed"),
        "{node:?}"
    );
    let backlog = hdos_ingest::journal::end(&env.journal_root.join("hl7_backlog"))?;
    let samples = env.store.link_samples(0, None).await?;
    ensure!(
        samples.len() == 1 && samples[0].backlog_bytes == Some(i64::try_from(backlog)?),
        "the backlog is kept for the chart: {samples:?}"
    );
    let alerts = env
        .store
        .list_alerts(&AlertFilter::default(), Page::new(10, 0))
        .await?;
    ensure!(
        alerts.iter().any(|a| a.kind == "journal_backlog"),
        "{alerts:?}"
    );
    Ok(())
}

#[tokio::test]
async fn one_monitor_holds_the_lease_and_lets_it_go_on_shutdown() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let env = env(dir.path()).await?;
    let options = MonitorOptions {
        interval: Duration::from_millis(200),
        ..options()
    };
    let (stop, stopped) = watch::channel(false);
    let first = tokio::spawn(Monitor::new(env.clone(), options.clone(), None).run(
        "m1".into(),
        Duration::from_secs(2),
        stopped.clone(),
    ));
    let second = tokio::spawn(Monitor::new(env.clone(), options, None).run(
        "m2".into(),
        Duration::from_secs(2),
        stopped,
    ));
    let mut holders = Vec::new();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        holders = env
            .store
            .live_channel_leases(hdos_store::now_millis())
            .await?
            .into_iter()
            .filter(|l| l.channel == hdos_ingest::monitor::MONITOR_LEASE)
            .map(|l| l.worker)
            .collect();
        if !holders.is_empty() && !env.store.link_statuses().await?.is_empty() {
            break;
        }
    }
    ensure!(holders.len() == 1, "one monitor at a time: {holders:?}");
    ensure!(
        env.store
            .link_statuses()
            .await?
            .iter()
            .any(|n| n.node == "lake"),
        "the holder monitors"
    );
    let _ = stop.send(true);
    first.await?;
    second.await?;
    ensure!(
        env.store
            .live_channel_leases(hdos_store::now_millis())
            .await?
            .is_empty(),
        "the lease is let go"
    );
    Ok(())
}

#[tokio::test]
async fn a_message_channel_reconciles_what_it_acknowledged_with_what_it_landed() -> Result<()> {
    use hdos_ingest::{
        hl7::MessageMappings,
        mllp::{MllpChannel, MllpConfig, client},
    };
    let dir = tempfile::tempdir()?;
    let manifest = common::region(
        &dir.path().join("region"),
        9,
        300,
        hdos_synth::DefectProfile::clean(),
        true,
    )?;
    let site = manifest
        .institutions
        .iter()
        .find(|s| s.grade == "一级")
        .context("a primary-care institution")?;
    let file = std::fs::read(
        dir.path()
            .join("region/hl7")
            .join(format!("{}.hl7", site.code)),
    )?;
    let messages = client::split_messages(&file);
    let env = env(dir.path()).await?;
    let spec = ChannelSpec::Mllp {
        listen: "127.0.0.1:0".parse()?,
        mappings: None,
        max_message_bytes: None,
    };
    let c = env
        .store
        .save_channel(NewChannel {
            name: "hl7_recon".into(),
            institution: site.code.clone(),
            kind: spec.kind().into(),
            spec: spec.to_json(),
            schedule: None,
            enabled: true,
            next_run_at: None,
        })
        .await?;
    let config = MllpConfig::new(
        &c.name,
        &site.code,
        "127.0.0.1:0".parse()?,
        env.journal_root.join("hl7_recon"),
    );
    let running = MllpChannel::start(
        env.store.clone(),
        env.lake.clone(),
        env.standard,
        &MessageMappings::builtin()?,
        config,
    )
    .await?;
    let answers = client::send_all(running.local_addr(), &messages, 2).await?;
    ensure!(answers.iter().all(|a| a.code == "AA"));
    running.caught_up().await;
    running.stop().await?;

    // Every dataset the messages carry: the keys they leave equal the std rows, day by day.
    let monitor = Monitor::new(env.clone(), options(), None);
    let days = monitor.reconcile_channel(&c).await?;
    ensure!(days.iter().all(|d| d.matches()), "{days:?}");
    let visits: i64 = days
        .iter()
        .filter(|d| d.dataset == "outpatient_visit")
        .map(|d| d.source_rows)
        .sum();
    ensure!(
        visits > 0 && visits == common::count(&env.lake, "std/outpatient_visit", "").await?,
        "{visits} visits"
    );
    ensure!(
        days.iter()
            .any(|d| d.dataset == "lab_result" && d.source_rows > 0)
    );

    // A visit lost from the std zone after it was acknowledged: the day shows one missing.
    let table = hdos_lake::TableName::new("std/outpatient_visit")?;
    let victim = env
        .lake
        .query(
            std::slice::from_ref(&table),
            &format!("SELECT *, true AS gone FROM {} LIMIT 1", table.sql_name()),
        )
        .await?;
    let key = &env
        .standard
        .dataset("outpatient_visit")
        .context("dataset")?
        .key;
    let keys: Vec<&str> = key.iter().map(String::as_str).collect();
    env.lake
        .merge_changes(&table, victim, &keys, Some("gone"), None)
        .await?;
    let days = monitor.reconcile_channel(&c).await?;
    let gaps: Vec<_> = days.iter().filter(|d| !d.matches()).collect();
    ensure!(
        gaps.len() == 1
            && gaps[0].dataset == "outpatient_visit"
            && gaps[0].source_rows - gaps[0].lake_rows == 1,
        "{gaps:?}"
    );
    let alerts = env
        .store
        .list_alerts(&AlertFilter::default(), Page::new(10, 0))
        .await?;
    ensure!(
        alerts
            .iter()
            .any(|a| a.kind == "reconciliation" && a.message.contains("1 missing from the lake")),
        "{alerts:?}"
    );
    Ok(())
}
