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
