//! Hard rules refuse records: what fails one leaves the std zone for quarantine, with the rule
//! and the record, exactly once — also when a run stops between copying a record to quarantine
//! and deleting it from std, and without touching a record corrected at the source meanwhile.

use crate::common;
use anyhow::{Context, Result, ensure};
use hdos_core::standard::Standard;
use hdos_lake::Lake;
use hdos_quality::{
    Severity,
    compile::{self, Lookups, Window},
    defaults::default_rules,
    hard,
    rules::save_rule,
    run::{RunOptions, RunSummary, run},
};
use hdos_store::{MetaStore, QualityRunEnd};

const RULE: &str = "patient.id_no.id_number";
const GOOD: &str = "11010519491231002X";
const BAD: &str = "110105194912310021";

async fn std_patients(lake: &Lake) -> Result<Vec<String>> {
    common::texts(
        lake,
        &["std/patient"],
        "SELECT patient_id FROM std_patient ORDER BY patient_id",
    )
    .await
}

async fn moved(lake: &Lake) -> Result<Vec<String>> {
    common::texts(
        lake,
        &["quarantine/patient"],
        "SELECT record_key FROM quarantine_patient WHERE moved_by_rule IS NOT NULL \
         ORDER BY record_key, \"_hdos_received_at\"",
    )
    .await
}

/// The rule's (checked, failed) over all institutions of a run.
fn figures(summary: &RunSummary) -> (i64, i64) {
    summary
        .results
        .iter()
        .filter(|r| r.rule_id == RULE)
        .fold((0, 0), |(c, f), r| (c + r.checked, f + r.failed))
}

async fn pause() {
    // Each write arrives after the previous run's window.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
}

#[tokio::test]
async fn records_failing_a_hard_rule_move_to_quarantine_exactly_once() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let store = common::store(dir.path()).await?;
    let lake = Lake::open(&dir.path().join("lake").display().to_string())?;
    let std = Standard::builtin()?;
    let mut rule = default_rules(std)
        .into_iter()
        .find(|r| r.id == RULE)
        .context("the ID rule")?;
    rule.severity = Severity::Hard;
    save_rule(&store, std, &rule, true, "manager").await?;
    let (p1, p2, p3) = (
        common::patient("P1", GOOD),
        common::patient("P2", BAD),
        common::patient("P3", BAD),
    );
    common::std_rows(&lake, "patient", "H1", &[&p1, &p2, &p3]).await?;
    pause().await;

    // A run copies both bad records to quarantine and stops before deleting them from std.
    let crashed = store.start_quality_run("incremental", "test").await?;
    let dataset = std.dataset("patient").context("patient")?;
    let until = chrono::Utc::now().timestamp_micros();
    let plan = compile::plan(
        dataset,
        &[&rule],
        Window { after: None, until },
        &Lookups::default(),
    )
    .map_err(anyhow::Error::msg)?;
    let copied = hard::copy(&lake, dataset, &plan, &[&rule], crashed.id).await?;
    ensure!(copied == 2, "copied {copied}");
    let again = hard::copy(&lake, dataset, &plan, &[&rule], crashed.id).await?;
    ensure!(again == 0, "a copy made is not made again: {again}");
    let stopped = QualityRunEnd {
        succeeded: false,
        rows_checked: 0,
        failures: 0,
        error: Some("killed".into()),
        watermarks: "{}".into(),
    };
    store.finish_quality_run(crashed.id, &stopped, &[]).await?;
    assert_eq!(std_patients(&lake).await?, ["P1", "P2", "P3"]);
    assert_eq!(moved(&lake).await?, ["H1 / P2", "H1 / P3"]);

    // Meanwhile the hospital corrects P3: the new version must stay.
    pause().await;
    let fixed = common::patient("P3", GOOD);
    common::std_upsert(&lake, "patient", "H1", &[&fixed]).await?;
    pause().await;

    // The next run checks another dataset only, and still finishes the interrupted move.
    let other = RunOptions {
        datasets: vec!["settlement".into()],
        ..common::options(false)
    };
    run(&store, &lake, std, &other).await?;
    assert_eq!(
        std_patients(&lake).await?,
        ["P1", "P3"],
        "the interrupted move of P2 is finished; the corrected P3 is kept"
    );
    let next = run(&store, &lake, std, &common::options(false)).await?;
    assert_eq!(
        moved(&lake).await?,
        ["H1 / P2", "H1 / P3"],
        "nothing is copied twice"
    );
    assert!(next.moved.is_empty(), "{:?}", next.moved);
    // P1 and the new P3 pass in std; P2 and the old P3 fail, found in quarantine.
    assert_eq!(figures(&next), (4, 2));

    let full = run(&store, &lake, std, &common::options(true)).await?;
    assert_eq!(figures(&full), (4, 2), "a full run counts each once too");
    assert_eq!(moved(&lake).await?.len(), 2);

    // A bad record arriving later is moved by the run that finds it.
    pause().await;
    let p4 = common::patient("P4", BAD);
    common::std_rows(&lake, "patient", "H1", &[&p4]).await?;
    pause().await;
    let later = run(&store, &lake, std, &common::options(false)).await?;
    assert_eq!(later.moved.get("patient"), Some(&1), "{:?}", later.moved);
    assert_eq!(figures(&later), (1, 1));
    assert_eq!(std_patients(&lake).await?, ["P1", "P3"]);
    let row = common::texts(
        &lake,
        &["quarantine/patient"],
        "SELECT concat_ws(' | ', \"_hdos_source\", field, value, reason, record) \
         FROM quarantine_patient WHERE record_key = 'H1 / P4'",
    )
    .await?;
    assert_eq!(row.len(), 1, "{row:?}");
    for part in [
        "H1 | id_no | 110105194912310021 | ",
        RULE,
        "\"name\":\"张三\"",
    ] {
        assert!(row[0].contains(part), "{part} in {}", row[0]);
    }
    let again = run(&store, &lake, std, &common::options(false)).await?;
    assert_eq!(figures(&again), (0, 0), "nothing new arrived");
    assert_eq!(moved(&lake).await?.len(), 3);
    Ok(())
}

/// A record moved to quarantine was collected: reconciling its channel shows no gap.
#[tokio::test]
async fn moved_records_still_reconcile_with_their_source() -> Result<()> {
    use hdos_ingest::{
        channel::{self, ChannelEnv, ChannelSpec, SqlSource},
        monitor::{Monitor, MonitorOptions},
        source::sqlite::SqliteSource,
        suggest::suggest,
    };
    use hdos_store::{MasterKey, NewChannel};
    use std::sync::Arc;

    let dir = tempfile::tempdir()?;
    let region_dir = dir.path().join("region");
    let region = common::region(
        &region_dir,
        11,
        300,
        hdos_synth::DefectProfile::uniform(0.05),
    )?;
    let std = Standard::builtin()?;
    let env = ChannelEnv {
        store: Arc::new(common::store(dir.path()).await?),
        lake: Lake::open(&dir.path().join("lake").display().to_string())?,
        standard: std,
        master_key: MasterKey::generate(),
        journal_root: dir.path().join("journal"),
    };
    let site = region.institutions.first().context("a hospital")?;
    let path = region_dir.join(&site.his);
    let source = SqliteSource::open(&path)?;
    let patients = source
        .tables()?
        .into_iter()
        .filter_map(|t| {
            let columns = source.columns(&t).ok()?;
            let sample = source.sample(&t, 500).ok()?;
            suggest(std, &t, &columns, &sample).map(|s| s.mapping)
        })
        .find(|m| m.dataset == "patient")
        .context("the patient table")?;
    let spec = ChannelSpec::Sql {
        source: SqlSource::Sqlite(path),
        tables: vec![patients],
        chunk_rows: None,
    };
    let c = env
        .store
        .save_channel(NewChannel {
            name: "his_h1".into(),
            institution: site.code.clone(),
            kind: spec.kind().into(),
            spec: spec.to_json(),
            schedule: None,
            enabled: true,
            next_run_at: None,
        })
        .await?;
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    channel::run(env.clone(), c.clone(), spec, stopped).await?;

    let mut rule = default_rules(std)
        .into_iter()
        .find(|r| r.id == RULE)
        .context("the ID rule")?;
    rule.severity = Severity::Hard;
    save_rule(env.store.as_ref(), std, &rule, true, "manager").await?;
    let summary = run(env.store.as_ref(), &env.lake, std, &common::options(false)).await?;
    let moved = summary.moved.get("patient").copied().unwrap_or(0);
    ensure!(
        moved > 0,
        "the region carries bad ID numbers: {:?}",
        summary.moved
    );

    let monitor = Monitor::new(env.clone(), MonitorOptions::default(), None);
    let days = monitor.reconcile_channel(&c).await?;
    ensure!(!days.is_empty());
    let gaps: Vec<_> = days.iter().filter(|d| !d.matches()).collect();
    ensure!(gaps.is_empty(), "{gaps:?}");
    Ok(())
}
