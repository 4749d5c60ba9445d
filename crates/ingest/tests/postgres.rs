//! SQL batch collection from a real PostgreSQL HIS schema into a real Delta lake: a full load in
//! small chunks with equal update times across chunk boundaries, an incremental run that reads
//! only new and updated rows, suggested mappings from a sample, and clear errors for a source
//! that is missing or unreachable. Runs when HDOS_TEST_POSTGRES_URL is set (scripts/test sets it
//! and HDOS_REQUIRE_POSTGRES=1, which turns a missing server into a failure).

use anyhow::{Context, Result, ensure};
use hdos_core::standard::Standard;
use hdos_ingest::{
    IngestError,
    batch::{self, BatchJob},
    source::{BatchSource, postgres::PostgresSource},
    suggest::suggest,
};
use hdos_lake::Lake;
use hdos_store::{MetaStore, RunFilter, RunStatus, Secret};

use crate::common;

const INSTITUTION: &str = "H330100009";

fn job(url: &str, schema: &str) -> Result<BatchJob> {
    Ok(BatchJob {
        channel: "pg_test".into(),
        institution: INSTITUTION.into(),
        source: BatchSource::Postgres {
            url: Secret::new(url),
            schema: schema.into(),
        },
        mapping: common::visit_mapping()?,
        chunk_rows: 40,
        full: false,
    })
}

#[tokio::test]
async fn a_postgres_table_is_collected_in_chunks_then_incrementally() -> Result<()> {
    let Some((url, schema, pool)) = common::his("chunks").await? else {
        return Ok(());
    };
    // 250 rows sharing three update times: every chunk boundary falls inside a run of equals.
    for (range, at) in [
        (0..100, "2026-03-01 12:00:00"),
        (100..200, "2026-03-01 12:00:01"),
        (200..250, "2026-03-01 12:00:01"),
    ] {
        common::insert(&pool, &schema, range, at).await?;
    }
    let dir = tempfile::tempdir()?;
    let store = common::store(dir.path(), "meta.db").await?;
    let lake = Lake::open(dir.path().join("lake").to_str().context("path")?)?;
    let standard = Standard::builtin()?;
    let first = batch::run(&store, &lake, standard, &job(&url, &schema)?).await?;
    ensure!(
        first.counts.rows_read == 250 && first.counts.rows_written == 250,
        "{first:?}"
    );
    ensure!(common::count(&lake, "std/outpatient_visit", "").await? == 250);

    // New rows and updated rows: the next run reads exactly those.
    common::insert(&pool, &schema, 250..270, "2026-03-02 09:00:00").await?;
    sqlx::query(&format!(
        "UPDATE {schema}.mz_jzjl SET ksmc = '儿科', gxsj = '2026-03-02 09:00:00' WHERE jzid IN ('V1', 'V2', 'V3', 'V4', 'V5')"
    ))
    .execute(&pool)
    .await?;
    let second = batch::run(&store, &lake, standard, &job(&url, &schema)?).await?;
    ensure!(second.counts.rows_read == 25, "{second:?}");
    ensure!(common::count(&lake, "std/outpatient_visit", "").await? == 270);
    ensure!(common::count(&lake, "std/outpatient_visit", "WHERE dept_name = '儿科'").await? == 5);
    let third = batch::run(&store, &lake, standard, &job(&url, &schema)?).await?;
    ensure!(third.counts.rows_read == 0, "{third:?}");

    // The columns and a sample suggest the same mapping a manager would confirm. The source
    // drives its own connection, so it is used from a blocking thread.
    let (u, sch) = (url.clone(), schema.clone());
    let (columns, sample) = tokio::task::spawn_blocking(move || {
        let source = PostgresSource::open(&u, &sch)?;
        Ok::<_, IngestError>((source.columns("mz_jzjl")?, source.sample("mz_jzjl", 100)?))
    })
    .await??;
    ensure!(
        columns
            .iter()
            .any(|c| c.name == "gxsj" && c.declared_type == "TIMESTAMP")
    );
    ensure!(sample.len() == 100);
    let suggestion = suggest(standard, "mz_jzjl", &columns, &sample).context("a suggestion")?;
    ensure!(
        suggestion.mapping.dataset == "outpatient_visit",
        "{:?}",
        suggestion.mapping.dataset
    );
    sqlx::raw_sql(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&pool)
        .await?;
    Ok(())
}

#[tokio::test]
async fn a_missing_or_unreachable_source_is_a_clear_failed_run() -> Result<()> {
    let Some((url, schema, pool)) = common::his("missing").await? else {
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let store = common::store(dir.path(), "meta.db").await?;
    let lake = Lake::open(dir.path().join("lake").to_str().context("path")?)?;
    let standard = Standard::builtin()?;

    let mut missing = url::Url::parse(&url)?;
    missing.set_path("no_such_database");
    let e = batch::run(&store, &lake, standard, &job(missing.as_str(), &schema)?)
        .await
        .expect_err("a missing database fails");
    ensure!(matches!(e, IngestError::SourceUnavailable { .. }), "{e}");
    ensure!(e.to_string().contains("no_such_database"), "{e}");
    ensure!(
        !e.to_string().contains(":hdos@"),
        "the password is not shown: {e}"
    );

    let mut closed = url::Url::parse(&url)?;
    closed.set_port(Some(1)).ok();
    let e = batch::run(&store, &lake, standard, &job(closed.as_str(), &schema)?)
        .await
        .expect_err("a closed port fails");
    ensure!(matches!(e, IngestError::SourceUnavailable { .. }), "{e}");

    let e = batch::run(&store, &lake, standard, &job(&url, "no_such_schema")?)
        .await
        .expect_err("a missing schema fails");
    ensure!(e.to_string().contains("no schema `no_such_schema`"), "{e}");

    let runs = store
        .list_ingest_runs(&RunFilter::default(), hdos_store::Page::new(10, 0))
        .await?;
    ensure!(
        runs.len() == 3 && runs.iter().all(|r| r.status == RunStatus::Failed),
        "{runs:?}"
    );
    sqlx::raw_sql(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&pool)
        .await?;
    Ok(())
}
