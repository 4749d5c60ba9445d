//! What the collection tests share: a small synthetic region, a SQLite metadata store in a
//! temporary directory, row counts in the lake, and an outpatient table in a PostgreSQL HIS schema.

use anyhow::{Context, Result, bail};
use chrono::NaiveDate;
use hdos_ingest::mapping::TableMapping;
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

/// The test server's URL and a fresh schema holding an outpatient table, or None without one.
pub async fn his(name: &str) -> Result<Option<(String, String, sqlx::PgPool)>> {
    let Ok(url) = std::env::var("HDOS_TEST_POSTGRES_URL") else {
        if std::env::var("HDOS_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
            bail!("HDOS_REQUIRE_POSTGRES=1 but HDOS_TEST_POSTGRES_URL is not set");
        }
        eprintln!("skipped: HDOS_TEST_POSTGRES_URL is not set");
        return Ok(None);
    };
    let schema = format!("his_t_{name}_{}", std::process::id());
    let pool = sqlx::PgPool::connect(&url).await.context("connecting")?;
    sqlx::raw_sql(&format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema};
         CREATE TABLE {schema}.mz_jzjl (jzid text, brid text, ksmc text, jzsj timestamp,
                                        zdbm text, zdmc text, gxsj timestamp);
         CREATE INDEX ON {schema}.mz_jzjl (gxsj);"
    ))
    .execute(&pool)
    .await?;
    Ok(Some((url, schema, pool)))
}

pub async fn insert(
    pool: &sqlx::PgPool,
    schema: &str,
    ids: std::ops::Range<i64>,
    updated: &str,
) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO {schema}.mz_jzjl
         SELECT 'V' || i, 'P' || (i % 50), '内科', timestamp '2026-03-01 08:00:00' + i * interval '1 minute',
                'J06.9', '急性上呼吸道感染', $3::timestamp
         FROM generate_series($1::bigint, $2::bigint - 1) AS i"
    ))
    .bind(ids.start)
    .bind(ids.end)
    .bind(updated)
    .execute(pool)
    .await?;
    Ok(())
}

pub fn visit_mapping() -> Result<TableMapping> {
    Ok(toml::from_str(
        r#"
source_table = "mz_jzjl"
dataset = "outpatient_visit"
cursor = "gxsj"
fields = [
  { target = "visit_id", source = "jzid" },
  { target = "patient_id", source = "brid" },
  { target = "dept_name", source = "ksmc" },
  { target = "visit_time", source = "jzsj", transforms = [{ op = "timestamp", format = "yyyy-MM-dd HH:mm:ss" }] },
  { target = "diagnosis_code", source = "zdbm" },
  { target = "diagnosis_name", source = "zdmc" },
  { target = "updated_at", source = "gxsj", transforms = [{ op = "timestamp", format = "yyyy-MM-dd HH:mm:ss" }] },
]
"#,
    )?)
}
