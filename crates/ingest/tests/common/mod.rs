//! What the collection tests share: a small synthetic region, a SQLite metadata store in a
//! temporary directory, and row counts in the lake.

use anyhow::{Context, Result};
use chrono::NaiveDate;
use hdos_lake::{
    Lake, TableName,
    arrow::{
        array::AsArray,
        compute::cast,
        datatypes::{DataType, Int64Type},
    },
};
use hdos_store::{ConnectOptions, SqlStore};
use hdos_synth::{DefectProfile, InstitutionCounts, Options, RegionManifest, generate};
use std::path::Path;

/// A one-year region of `patients` people up to 2026-01-01 with one hospital of each grade.
pub fn region(
    dir: &Path,
    seed: u64,
    patients: u64,
    defects: DefectProfile,
    messages: bool,
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
            messages,
            out: dir.to_owned(),
        },
        |_| {},
    )?)
}

/// A SQLite metadata store in `dir`, in the file `name`.
pub async fn store(dir: &Path, name: &str) -> Result<SqlStore> {
    let url = format!("sqlite://{}", dir.join(name).display());
    Ok(SqlStore::connect(&url, &ConnectOptions::default()).await?)
}

/// Rows of the lake table `table` that pass `filter` (a WHERE clause, or empty).
pub async fn count(lake: &Lake, table: &str, filter: &str) -> Result<i64> {
    let name = TableName::new(table)?;
    let sql = format!("SELECT count(*) FROM {} {filter}", name.sql_name());
    let batches = lake.query(std::slice::from_ref(&name), &sql).await?;
    let column = cast(
        batches.first().context("no result")?.column(0),
        &DataType::Int64,
    )?;
    Ok(column.as_primitive::<Int64Type>().value(0))
}
