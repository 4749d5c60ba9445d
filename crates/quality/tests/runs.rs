//! Runs over time: incremental runs check only what arrived since the last one, a full run
//! checks everything again, results keep the rule version they were computed with, and bad
//! input (empty datasets, all-null columns, invalid rules) is handled with clear answers.

use crate::common;
use anyhow::Result;
use hdos_core::standard::Standard;
use hdos_lake::Lake;
use hdos_quality::run::run;
use hdos_store::MetaStore;
use hdos_synth::DefectProfile;

#[tokio::test]
async fn an_incremental_run_checks_only_what_arrived_since_the_last() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let region_dir = dir.path().join("region");
    let region = common::region(&region_dir, 5, 200, DefectProfile::uniform(0.02))?;
    let store = common::store(dir.path()).await?;
    let lake = Lake::open(&dir.path().join("lake").display().to_string())?;
    let std = Standard::builtin()?;
    common::collect(&store, &lake, &region_dir, &region).await?;
    let first = run(&store, &lake, std, &common::options(false)).await?;
    let rows: i64 = first.rows.values().sum();
    assert!(
        rows > 1_000,
        "the first run checks everything collected: {rows}"
    );
    let again = run(&store, &lake, std, &common::options(false)).await?;
    assert_eq!(again.rows.values().sum::<i64>(), 0, "nothing new arrived");
    let full = run(&store, &lake, std, &common::options(true)).await?;
    assert_eq!(
        full.rows.values().sum::<i64>(),
        rows,
        "a full run checks everything again"
    );
    assert_eq!(
        store
            .quality_runs(hdos_store::Page::new(10, 0))
            .await?
            .len(),
        3
    );
    // One run at a time: overlapping runs would count rows twice.
    store
        .start_quality_run("incremental", "another worker")
        .await?;
    let busy = run(&store, &lake, std, &common::options(false)).await;
    assert!(
        matches!(busy, Err(hdos_quality::QualityError::Busy)),
        "{busy:?}"
    );
    Ok(())
}

/// An outpatient visit of H1 at a local time.
fn visit<'a>(id: &'a str, at: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("visit_id", id),
        ("patient_id", "P1"),
        ("institution_code", "H1"),
        ("dept_name", "内科"),
        ("visit_time", at),
        ("diagnosis_code", "J06.9"),
        ("diagnosis_name", "急性上呼吸道感染"),
        ("updated_at", at),
    ]
}

#[tokio::test]
async fn daily_volume_is_judged_per_institution_and_day_empty_days_included() -> Result<()> {
    use hdos_quality::{Check, Dimension, Rule, Severity, rules::save_rule};
    let dir = tempfile::tempdir()?;
    let store = common::store(dir.path()).await?;
    let lake = Lake::open(&dir.path().join("lake").display().to_string())?;
    let std = Standard::builtin()?;
    let rule = Rule {
        id: "outpatient_visit.volume".into(),
        dataset: "outpatient_visit".into(),
        name: "每日门诊量 2–10".into(),
        check: Check::Volume {
            field: "visit_time".into(),
            min: Some(2),
            max: Some(10),
        },
        dimension: Dimension::Completeness,
        severity: Severity::Soft,
        threshold: 0.0,
        institutions: Vec::new(),
        when: None,
    };
    save_rule(&store, std, &rule, true, "manager").await?;
    // Local days (UTC+8): 03-01 has three visits (one at 23:30 local, 15:30 UTC), 03-02 none,
    // 03-03 one; today's are not judged, the day being unfinished.
    let now = chrono::Utc::now().to_rfc3339();
    let rows = [
        visit("V1", "2025-03-01T01:00:00Z"),
        visit("V2", "2025-03-01T09:00:00Z"),
        visit("V3", "2025-03-01T15:30:00Z"),
        visit("V4", "2025-03-03T02:00:00Z"),
        visit("V5", &now),
    ];
    let refs: Vec<&[(&str, &str)]> = rows.iter().map(Vec::as_slice).collect();
    common::std_rows(&lake, "outpatient_visit", "H1", &refs).await?;
    let of = |summary: &hdos_quality::run::RunSummary| {
        summary
            .results
            .iter()
            .find(|r| r.rule_id == rule.id)
            .map(|r| (r.checked, r.failed))
    };
    let first = run(&store, &lake, std, &common::options(false)).await?;
    assert_eq!(of(&first), Some((3, 2)), "03-02 with 0 and 03-03 with 1");
    let days = common::texts(
        &lake,
        &["quality/failures"],
        "SELECT concat_ws('=', record_key, value) FROM quality_failures \
         WHERE rule_id = 'outpatient_visit.volume' ORDER BY record_key",
    )
    .await?;
    assert_eq!(days, ["2025-03-02=0", "2025-03-03=1"]);

    // Two more visits of 03-03 arrive: that day alone is judged again, counted whole.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let (v6, v7) = (
        visit("V6", "2025-03-03T03:00:00Z"),
        visit("V7", "2025-03-03T04:00:00Z"),
    );
    common::std_rows(&lake, "outpatient_visit", "H1", &[&v6, &v7]).await?;
    let second = run(&store, &lake, std, &common::options(false)).await?;
    assert_eq!(of(&second), Some((1, 0)));
    Ok(())
}
