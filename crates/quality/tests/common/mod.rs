//! What the quality tests share: a synthetic region collected into a lake by the real batch
//! collector, and a SQLite metadata store.

use anyhow::{Context, Result};
use chrono::NaiveDate;
use hdos_core::standard::Standard;
use hdos_ingest::{
    batch::{self, BatchJob},
    source::{BatchSource, sqlite::SqliteSource},
    suggest::suggest,
};
use hdos_lake::{Lake, TableName, arrow::record_batch::RecordBatch};
use hdos_quality::run::RunOptions;
use hdos_store::{ConnectOptions, SqlStore};
use hdos_synth::{DefectProfile, InstitutionCounts, Options, RegionManifest, generate};
use std::path::Path;

/// A one-year region up to 2026-01-01 with one hospital of each grade.
pub fn region(
    dir: &Path,
    seed: u64,
    patients: u64,
    defects: DefectProfile,
) -> Result<RegionManifest> {
    Ok(generate(
        &Options {
            seed,
            patients,
            institutions: InstitutionCounts {
                tertiary: 1,
                secondary: 1,
                primary: 1,
            },
            years: 1,
            until: NaiveDate::from_ymd_opt(2026, 1, 1).context("date")?,
            defects,
            messages: false,
            out: dir.to_owned(),
        },
        |_| {},
    )?)
}

pub async fn store(dir: &Path) -> Result<SqlStore> {
    let url = format!("sqlite://{}", dir.join("meta.db").display());
    Ok(SqlStore::connect(&url, &ConnectOptions::default()).await?)
}

/// Collects every table of every institution's HIS with its suggested mapping, in one chunk per
/// table (so a duplicated row meets its twin).
pub async fn collect(
    store: &SqlStore,
    lake: &Lake,
    region_dir: &Path,
    region: &RegionManifest,
) -> Result<()> {
    let std = Standard::builtin()?;
    for site in &region.institutions {
        let path = region_dir.join(&site.his);
        let source = SqliteSource::open(&path)?;
        for table in source.tables()? {
            let columns = source.columns(&table)?;
            let sample = source.sample(&table, 500)?;
            let Some(s) = suggest(std, &table, &columns, &sample) else {
                continue;
            };
            let job = BatchJob {
                channel: format!("his_{}", site.code.to_lowercase()),
                institution: site.code.clone(),
                source: BatchSource::Sqlite(path.clone()),
                mapping: s.mapping,
                chunk_rows: 1_000_000,
                full: false,
            };
            batch::run(store, lake, std, &job).await?;
        }
    }
    Ok(())
}

/// Runs `sql` over `tables`.
pub async fn query(lake: &Lake, tables: &[&str], sql: &str) -> Result<Vec<RecordBatch>> {
    let mut names = Vec::new();
    for t in tables {
        names.push(TableName::new(t)?);
    }
    Ok(lake.query(&names, sql).await?)
}

/// The first column of a query's rows as text, in order (empty for null).
pub async fn texts(lake: &Lake, tables: &[&str], sql: &str) -> Result<Vec<String>> {
    use hdos_lake::arrow::{array::AsArray, compute::cast, datatypes::DataType};
    let mut out = Vec::new();
    for b in query(lake, tables, sql).await? {
        let c = cast(b.column(0), &DataType::Utf8)?;
        out.extend(
            c.as_string::<i32>()
                .iter()
                .map(|v| v.unwrap_or("").to_owned()),
        );
    }
    Ok(out)
}

/// Writes rows into `std/<dataset>` as collection would: each row's fields as text (cast to the
/// standard types), stamped with `institution` and the current time.
pub async fn std_rows(
    lake: &Lake,
    dataset: &str,
    institution: &str,
    rows: &[&[(&str, &str)]],
) -> Result<()> {
    let (table, batch) = std_batch(lake, dataset, institution, rows).await?;
    lake.append(&table, vec![batch], None).await?;
    Ok(())
}

/// Like [`std_rows`], replacing the rows with the same key, as collection's merge does.
pub async fn std_upsert(
    lake: &Lake,
    dataset: &str,
    institution: &str,
    rows: &[&[(&str, &str)]],
) -> Result<()> {
    let (table, batch) = std_batch(lake, dataset, institution, rows).await?;
    let std = Standard::builtin()?;
    let key = &std.dataset(dataset).context("dataset")?.key;
    let keys: Vec<&str> = key.iter().map(String::as_str).collect();
    lake.merge(&table, vec![batch], &keys, None).await?;
    Ok(())
}

/// The std table (created if new) and a batch of `rows` for it.
async fn std_batch(
    lake: &Lake,
    dataset: &str,
    institution: &str,
    rows: &[&[(&str, &str)]],
) -> Result<(TableName, RecordBatch)> {
    use hdos_lake::arrow::{
        array::{ArrayRef, StringArray},
        compute::cast,
    };
    use std::sync::Arc;
    let std = Standard::builtin()?;
    let d = std.dataset(dataset).context("dataset")?;
    let schema = Arc::new(hdos_lake::standard::std_schema(d));
    let now = chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for f in schema.fields() {
        let text: StringArray = rows
            .iter()
            .map(|r| match f.name().as_str() {
                "_hdos_institution" | "_hdos_source" => Some(institution),
                "_hdos_ingested_at" => Some(now.as_str()),
                name => r.iter().find(|(k, _)| *k == name).map(|(_, v)| *v),
            })
            .collect();
        columns.push(cast(&text, f.data_type())?);
    }
    let batch = RecordBatch::try_new(schema.clone(), columns)?;
    let table = TableName::new(&format!("std/{dataset}"))?;
    lake.create_table(&table, &schema).await?;
    Ok((table, batch))
}

/// A patient of institution `H1` with the given ID number, as `std_rows` takes it.
pub fn patient<'a>(id: &'a str, id_no: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("patient_id", id),
        ("institution_code", "H1"),
        ("id_type", "01"),
        ("id_no", id_no),
        ("name", "张三"),
        ("sex_code", "2"),
        ("birth_date", "1949-12-31"),
        ("updated_at", "2025-01-01T08:00:00Z"),
    ]
}

/// A run asked for by a test, incremental or full, with no settling time.
pub fn options(full: bool) -> RunOptions {
    RunOptions {
        full,
        requested_by: "test".into(),
        settle_seconds: 0,
        ..RunOptions::default()
    }
}
