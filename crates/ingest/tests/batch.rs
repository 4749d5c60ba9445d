//! Collection from a synthetic region's HIS databases into a real Delta lake, with a real
//! SQLite metadata store: suggested mappings for every vendor, landing, resumption after a crash,
//! incremental runs and quarantine.

use anyhow::{Context, Result, ensure};
use hdos_core::standard::Standard;
use hdos_ingest::{
    IngestError,
    batch::{self, BatchJob},
    land::{Landing, StdWrite},
    mapping::CompiledMapping,
    source::{BatchSource, sqlite::SqliteSource},
    suggest::suggest,
};
use hdos_lake::{
    Lake,
    arrow::{array::AsArray, compute::cast, datatypes::DataType},
};
use hdos_store::{MetaStore, SqlStore};
use hdos_synth::{DefectProfile, RegionManifest, Vendor};
use std::path::{Path, PathBuf};

use crate::common;

fn region(dir: &Path, defects: DefectProfile) -> Result<RegionManifest> {
    common::region(dir, 11, 400, defects, false)
}

async fn store(dir: &Path) -> Result<SqlStore> {
    common::store(dir, "meta.db").await
}

/// The table a vendor uses for each standard dataset, from the generator (the test's ground
/// truth; the collector never sees it).
fn vendor_tables(vendor: Vendor) -> Vec<(String, &'static str)> {
    hdos_synth::Dataset::ALL
        .iter()
        .map(|d| (vendor.table(*d).to_owned(), d.name()))
        .collect()
}

fn his_path(region_dir: &Path, code: &str) -> PathBuf {
    region_dir.join("his").join(format!("{code}.sqlite"))
}

#[test]
fn every_vendor_table_is_recognised_and_its_key_found() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let region = region(dir.path(), DefectProfile::clean())?;
    let std = Standard::builtin()?;
    for site in &region.institutions {
        let vendor = Vendor::ALL
            .into_iter()
            .find(|v| v.name() == site.his_vendor)
            .context("vendor")?;
        let source = SqliteSource::open(&his_path(dir.path(), &site.code))?;
        for (table, dataset) in vendor_tables(vendor) {
            let columns = source.columns(&table)?;
            let sample = source.sample(&table, 200)?;
            let s = suggest(std, &table, &columns, &sample)
                .with_context(|| format!("{vendor:?} {table}: no suggestion"))?;
            ensure!(
                s.mapping.dataset == dataset,
                "{vendor:?} {table}: took it for {}",
                s.mapping.dataset
            );
            let d = hdos_synth::Dataset::ALL
                .iter()
                .copied()
                .find(|d| d.name() == dataset)
                .context("d")?;
            let key = &std.dataset(dataset).context("dataset")?.key[1];
            let key_column = &vendor.columns(d)[0];
            // Every required standard field the table carries is read from its column.
            for (field, column) in d.fields().iter().zip(vendor.columns(d)) {
                let required = std
                    .dataset(dataset)
                    .and_then(|ds| ds.fields.iter().find(|f| f.name == *field))
                    .is_some_and(|f| f.required);
                let source = s
                    .mapping
                    .fields
                    .iter()
                    .find(|f| f.target == *field)
                    .and_then(|f| f.source.as_deref());
                ensure!(
                    !required || source == Some(*column),
                    "{vendor:?} {table}: required {field} mapped from {source:?}, not {column}"
                );
            }
            let mapped = s.mapping.fields.iter().find(|f| &f.target == key);
            ensure!(
                mapped.and_then(|f| f.source.as_deref()) == Some(*key_column),
                "{vendor:?} {table}: key {key} mapped from {:?}",
                mapped.map(|f| &f.source)
            );
            ensure!(s.mapping.cursor.is_some(), "{vendor:?} {table}: no cursor");
            // The suggestion compiles against the source as it is.
            let names: Vec<String> = columns.iter().map(|c| c.name.clone()).collect();
            CompiledMapping::new(&s.mapping, std.dataset(dataset).context("d")?, &names)?;
        }
    }
    Ok(())
}

async fn count(lake: &Lake, table: &hdos_lake::TableName, filter: &str) -> Result<i64> {
    common::count(lake, table.as_str(), filter).await
}

fn job(region_dir: &Path, code: &str, table: &str, chunk_rows: usize) -> Result<BatchJob> {
    let std = Standard::builtin()?;
    let path = his_path(region_dir, code);
    let source = SqliteSource::open(&path)?;
    let columns = source.columns(table)?;
    let sample = source.sample(table, 500)?;
    let s = suggest(std, table, &columns, &sample).context("suggestion")?;
    Ok(BatchJob {
        channel: format!("his_{}", code.to_lowercase()),
        institution: code.to_owned(),
        source: BatchSource::Sqlite(path),
        mapping: s.mapping,
        chunk_rows,
        full: false,
    })
}

/// Distinct keys in the source table: what the std zone must hold once everything is mapped.
fn distinct_keys(path: &Path, table: &str, key: &str) -> Result<i64> {
    let conn = rusqlite::Connection::open(path)?;
    Ok(conn.query_row(
        &format!("SELECT count(DISTINCT \"{key}\") FROM \"{table}\""),
        [],
        |r| r.get(0),
    )?)
}

#[tokio::test]
async fn a_table_lands_once_and_resumes_after_a_crash_between_raw_and_std() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let region = region(&dir.path().join("region"), DefectProfile::clean())?;
    let site = &region.institutions[0];
    let region_dir = dir.path().join("region");
    let store = store(dir.path()).await?;
    let lake = Lake::open(dir.path().join("lake").to_str().context("path")?)?;
    let std = Standard::builtin()?;

    let vendor = site.his_vendor.clone();
    let table = hdos_synth::Vendor::ALL
        .into_iter()
        .find(|v| v.name() == vendor)
        .context("vendor")?
        .table(hdos_synth::Dataset::OutpatientVisit)
        .to_owned();
    let mut job = job(&region_dir, &site.code, &table, 97)?;
    let path = his_path(&region_dir, &site.code);
    let source_rows = SqliteSource::open(&path)?.count(&table)? as i64;
    ensure!(
        source_rows > 300,
        "a table big enough for several chunks: {source_rows}"
    );

    // A first run that stops after two chunks: simulate the crash by landing a third chunk in
    // the raw zone only, as a run killed between its raw and std commits leaves it.
    job.chunk_rows = 97;
    let columns: Vec<String> = SqliteSource::open(&path)?
        .columns(&table)?
        .into_iter()
        .map(|c| c.name)
        .collect();
    let mapping = CompiledMapping::new(
        &job.mapping,
        std.dataset("outpatient_visit").context("d")?,
        &columns,
    )?;
    let landing = Landing::new(&job.channel, &table, &site.code, &columns, &mapping)?;
    landing.prepare(&lake).await?;
    let cursor = job.mapping.cursor.clone();
    let source = SqliteSource::open(&path)?;
    let mut after = None;
    for seq in 1..=3 {
        let chunk = source.read_chunk(&table, cursor.as_deref(), after.as_ref(), 97)?;
        landing
            .append_raw(&lake, seq, &chunk.rows, &chunk.positions, 0)
            .await?;
        if seq < 3 {
            landing
                .land_mapped(
                    &lake,
                    &mapping,
                    seq,
                    &chunk.rows,
                    &chunk.positions,
                    0,
                    StdWrite::Merge,
                )
                .await?;
            store
                .save_ingest_checkpoint(
                    &job.channel,
                    &table,
                    seq,
                    chunk.last_position().map(|p| p.encode()).as_deref(),
                )
                .await?;
        }
        after = chunk.last_position().cloned();
    }

    let report = batch::run(&store, &lake, std, &job).await?;
    ensure!(
        report.replayed == 1,
        "the raw-only chunk is replayed: {report:?}"
    );
    let key = &vendor_key(&vendor)?;
    let expected = distinct_keys(&path, &table, key)?;
    let in_std = count(
        &lake,
        &landing.mapped.table,
        &format!("WHERE institution_code = '{}'", site.code),
    )
    .await?;
    ensure!(
        in_std == expected,
        "std holds {in_std} visits, the source {expected} distinct keys"
    );
    let in_raw = count(&lake, &landing.raw, "").await?;
    ensure!(
        in_raw == source_rows,
        "raw holds {in_raw} rows, the source {source_rows}"
    );

    // Nothing new: a second run reads nothing and writes nothing.
    let again = batch::run(&store, &lake, std, &job).await?;
    ensure!(
        again.counts.rows_read == 0 && again.chunks == 0,
        "{again:?}"
    );

    // New and changed rows at the source are picked up incrementally, equal update times
    // included.
    let cursor = job.mapping.cursor.clone().context("cursor")?;
    resend_five(&path, &table, &cursor, "rowid")?;
    let inc = batch::run(&store, &lake, std, &job).await?;
    ensure!(inc.counts.rows_read == 5, "five changed rows read: {inc:?}");
    let in_std_after = count(
        &lake,
        &landing.mapped.table,
        &format!("WHERE institution_code = '{}'", site.code),
    )
    .await?;
    ensure!(
        in_std_after == expected,
        "re-sent rows update, not duplicate: {in_std_after}"
    );

    let filter = hdos_store::RunFilter {
        channel: Some(job.channel.clone()),
        institution: None,
    };
    let runs = store
        .list_ingest_runs(&filter, hdos_store::Page::new(10, 0))
        .await?;
    ensure!(runs.iter().all(|r| r.institution == site.code));
    ensure!(
        runs.len() == 3
            && runs
                .iter()
                .all(|r| r.status == hdos_store::RunStatus::Succeeded)
    );
    Ok(())
}

/// The first site of a clean region, its outpatient-visit table and a job collecting it.
fn visits_job(
    region: &RegionManifest,
    region_dir: &Path,
    chunk_rows: usize,
) -> Result<(String, BatchJob)> {
    let site = &region.institutions[0];
    let vendor = Vendor::ALL
        .into_iter()
        .find(|v| v.name() == site.his_vendor)
        .context("vendor")?;
    let table = vendor
        .table(hdos_synth::Dataset::OutpatientVisit)
        .to_owned();
    let job = job(region_dir, &site.code, &table, chunk_rows)?;
    Ok((table, job))
}

#[tokio::test]
async fn a_first_load_appends_and_keeps_the_newest_row_of_a_key_repeated_across_chunks()
-> Result<()> {
    let dir = tempfile::tempdir()?;
    let region_dir = dir.path().join("region");
    let region = region(&region_dir, DefectProfile::clean())?;
    let store = store(dir.path()).await?;
    let lake = Lake::open(dir.path().join("lake").to_str().context("path")?)?;
    let (table, job) = visits_job(&region, &region_dir, 50)?;
    let code = job.institution.clone();
    let path = his_path(&region_dir, &code);
    let key = vendor_key(&region.institutions[0].his_vendor)?;
    let cursor = job.mapping.cursor.clone().context("cursor")?;
    // Five visits sent again, changed and later than every other row: read in the last chunk,
    // while their first versions were appended in the first.
    resend_five(&path, &table, &cursor, &format!("\"{cursor}\", rowid"))?;
    let report = batch::run(&store, &lake, Standard::builtin()?, &job).await?;
    ensure!(report.chunks > 2, "several chunks: {report:?}");
    let landing = Landing::new(&job.channel, &table, &code, &[], &mapping_of(&job, &path)?)?;
    let filter = format!("WHERE institution_code = '{code}'");
    let in_std = count(&lake, &landing.mapped.table, &filter).await?;
    let expected = distinct_keys(&path, &table, &key)?;
    ensure!(
        in_std == expected,
        "std holds {in_std} visits, the source {expected} distinct keys"
    );
    // The rows kept for the repeated keys are the later versions, from the last chunk.
    let newest = count(
        &lake,
        &landing.mapped.table,
        &format!(
            "{filter} AND \"_hdos_ingested_at\" = (SELECT max(\"_hdos_ingested_at\") FROM {})",
            landing.mapped.table.sql_name()
        ),
    )
    .await?;
    let last_chunk = report.counts.rows_read - 50 * (report.chunks as i64 - 1);
    ensure!(
        newest == last_chunk,
        "the last chunk's {last_chunk} rows all kept: {newest}"
    );
    Ok(())
}

#[tokio::test]
async fn a_first_load_cancelled_midway_makes_its_keys_unique_when_it_goes_on() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let region_dir = dir.path().join("region");
    let region = region(&region_dir, DefectProfile::clean())?;
    let store = store(dir.path()).await?;
    let lake = Lake::open(dir.path().join("lake").to_str().context("path")?)?;
    let std = Standard::builtin()?;
    let (table, job) = visits_job(&region, &region_dir, 40)?;
    let code = job.institution.clone();
    let path = his_path(&region_dir, &code);
    let expected = distinct_keys(
        &path,
        &table,
        &vendor_key(&region.institutions[0].his_vendor)?,
    )?;
    // The same table collected before by another channel: every key is in std already.
    let earlier = BatchJob {
        channel: format!("{}_old", job.channel),
        ..job.clone()
    };
    batch::run(&store, &lake, std, &earlier).await?;

    // The new channel's first load appends, and is cancelled once a chunk has landed.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let watcher = {
        let (store, channel) = (store.clone(), job.channel.clone());
        tokio::spawn(async move {
            let filter = hdos_store::RunFilter {
                channel: Some(channel),
                institution: None,
            };
            loop {
                let runs = store
                    .list_ingest_runs(&filter, hdos_store::Page::new(1, 0))
                    .await?;
                if runs.first().is_some_and(|r| r.counts.rows_written > 0) {
                    stop.send_replace(true);
                    return anyhow::Ok(());
                }
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }
        })
    };
    let first = batch::run_until(&store, &lake, std, &job, &stopped).await;
    watcher.await??;
    ensure!(
        matches!(first, Err(IngestError::Cancelled)),
        "cancelled midway: {first:?}"
    );
    let landing = Landing::new(&job.channel, &table, &code, &[], &mapping_of(&job, &path)?)?;
    let filter = format!("WHERE institution_code = '{code}'");
    let midway = count(&lake, &landing.mapped.table, &filter).await?;
    ensure!(
        midway > expected,
        "the appended chunks repeat keys until the load ends: {midway} rows, {expected} keys"
    );

    // Meanwhile the source changes a row the appended chunks hold (moved to a new rowid, so it
    // sorts after the position the load started from and is read again): going on with MERGEs
    // would update both rows of its key alike, beyond telling apart.
    let cursor = job.mapping.cursor.clone().context("cursor")?;
    rusqlite::Connection::open(&path)?.execute(
        &format!(
            "UPDATE \"{table}\" SET rowid = (SELECT max(rowid) + 1 FROM \"{table}\"), \
             \"{cursor}\" = (SELECT max(\"{cursor}\") FROM \"{table}\") \
             WHERE rowid = (SELECT min(rowid) FROM \"{table}\")"
        ),
        [],
    )?;
    let rest = batch::run(&store, &lake, std, &job).await?;
    ensure!(rest.chunks > 0, "the load goes on: {rest:?}");
    let in_std = count(&lake, &landing.mapped.table, &filter).await?;
    ensure!(
        in_std == expected,
        "std holds {in_std} visits, the source {expected} distinct keys"
    );
    Ok(())
}

/// Sends the first five rows in `order` again as new rows, updated at the table's latest update
/// time.
fn resend_five(path: &Path, table: &str, cursor: &str, order: &str) -> Result<()> {
    let conn = rusqlite::Connection::open(path)?;
    let max: rusqlite::types::Value = conn.query_row(
        &format!("SELECT max(\"{cursor}\") FROM \"{table}\""),
        [],
        |r| r.get(0),
    )?;
    conn.execute(
        &format!(
            "INSERT INTO \"{table}\" SELECT * FROM \"{table}\" WHERE rowid IN \
             (SELECT rowid FROM \"{table}\" ORDER BY {order} LIMIT 5)"
        ),
        [],
    )?;
    conn.execute(
        &format!("UPDATE \"{table}\" SET \"{cursor}\" = ?1 WHERE rowid > (SELECT max(rowid) - 5 FROM \"{table}\")"),
        [max],
    )?;
    Ok(())
}

/// The job's mapping compiled against its SQLite source.
fn mapping_of(job: &BatchJob, path: &Path) -> Result<CompiledMapping> {
    let columns: Vec<String> = SqliteSource::open(path)?
        .columns(&job.mapping.source_table)?
        .into_iter()
        .map(|c| c.name)
        .collect();
    Ok(CompiledMapping::new(
        &job.mapping,
        Standard::builtin()?
            .dataset(&job.mapping.dataset)
            .context("dataset")?,
        &columns,
    )?)
}

fn vendor_key(vendor: &str) -> Result<String> {
    let v = Vendor::ALL
        .into_iter()
        .find(|v| v.name() == vendor)
        .context("vendor")?;
    Ok(v.columns(hdos_synth::Dataset::OutpatientVisit)[0].to_owned())
}

#[tokio::test]
async fn rows_that_cannot_be_mapped_go_to_quarantine_with_the_reason() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let region_dir = dir.path().join("region");
    let region = region(
        &region_dir,
        "missing_required=0.05".parse::<DefectProfile>()?,
    )?;
    let store = store(dir.path()).await?;
    let lake = Lake::open(dir.path().join("lake").to_str().context("path")?)?;
    let std = Standard::builtin()?;
    let mut total_quarantined = 0;
    for site in &region.institutions {
        let v = Vendor::ALL
            .into_iter()
            .find(|v| v.name() == site.his_vendor)
            .context("vendor")?;
        let table = v.table(hdos_synth::Dataset::Patient).to_owned();
        let job = job(&region_dir, &site.code, &table, 1_000)?;
        let report = batch::run(&store, &lake, std, &job).await?;
        ensure!(
            report.counts.rows_written + report.counts.rows_quarantined <= report.counts.rows_read,
            "{report:?}"
        );
        total_quarantined += report.counts.rows_quarantined;
    }
    ensure!(
        total_quarantined > 0,
        "missing required values are quarantined"
    );
    let q = hdos_lake::TableName::new("quarantine/patient")?;
    let reasons = lake
        .query(
            std::slice::from_ref(&q),
            "SELECT reason, field, record FROM quarantine_patient",
        )
        .await?;
    let n: usize = reasons.iter().map(|b| b.num_rows()).sum();
    ensure!(n as i64 == total_quarantined);
    let first = reasons.first().context("rows")?;
    let text = |c: usize| -> Result<String> {
        let col = cast(first.column(c), &DataType::Utf8)?;
        Ok(col.as_string::<i32>().value(0).to_owned())
    };
    ensure!(text(0)?.contains("required"), "{}", text(0)?);
    ensure!(text(2)?.starts_with('{'));
    Ok(())
}

#[tokio::test]
async fn text_in_a_legacy_encoding_is_quarantined_record_for_record() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let region_dir = dir.path().join("region");
    let region = region(&region_dir, "wrong_encoding=0.05".parse::<DefectProfile>()?)?;
    let store = store(dir.path()).await?;
    let lake = Lake::open(dir.path().join("lake").to_str().context("path")?)?;
    let std = Standard::builtin()?;
    // Only the English-style vendor's clients write GBK bytes into its UTF-8 columns.
    let site = region
        .institutions
        .iter()
        .find(|s| s.his_vendor == Vendor::English.name())
        .context("an English-style HIS")?;
    let table = Vendor::English
        .table(hdos_synth::Dataset::Patient)
        .to_owned();
    let job = job(&region_dir, &site.code, &table, 1_000)?;
    let report = batch::run(&store, &lake, std, &job).await?;
    let injected: Vec<String> = std::fs::read_to_string(region_dir.join("defects.jsonl"))?
        .lines()
        .map(serde_json::from_str::<serde_json::Value>)
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .filter(|e| e["institution"] == site.code.as_str() && e["dataset"] == "patient")
        .filter_map(|e| e["key"].as_str().map(str::to_owned))
        .collect();
    ensure!(!injected.is_empty(), "the profile injected some");
    ensure!(
        report.counts.rows_quarantined == injected.len() as i64,
        "{} quarantined, {} injected",
        report.counts.rows_quarantined,
        injected.len()
    );
    let q = hdos_lake::TableName::new("quarantine/patient")?;
    let rows = lake
        .query(
            std::slice::from_ref(&q),
            "SELECT reason FROM quarantine_patient",
        )
        .await?;
    for b in &rows {
        let reasons = cast(b.column(0), &DataType::Utf8)?;
        let reasons = reasons.as_string::<i32>();
        for reason in reasons.iter().flatten() {
            ensure!(reason.contains("UTF-8"), "{reason}");
        }
    }
    Ok(())
}
