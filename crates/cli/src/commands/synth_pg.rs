//! Synthetic HIS databases in PostgreSQL, for log-based collection: loading generated
//! institutions into one schema each, and applying stream events there.

use anyhow::{Context, Result};
use hdos_synth::{
    Dataset, RegionManifest, Vendor,
    his::{read_rows, render},
    stream::{Event, EventSink, Param, statements},
    vendor::SqlValue,
};
use sqlx::{
    PgPool, Postgres,
    postgres::{PgArguments, PgPoolOptions},
    query::Query,
};
use std::path::Path;

/// The schema holding an institution's HIS.
pub fn schema(code: &str) -> String {
    format!("his_{}", code.to_lowercase())
}

async fn connect(url: &str) -> Result<PgPool> {
    PgPoolOptions::new()
        .max_connections(2)
        .connect(url)
        .await
        .with_context(|| "could not connect to PostgreSQL (check the --postgres URL)".to_string())
}

fn bind<'q>(q: Query<'q, Postgres, PgArguments>, p: &'q Param) -> Query<'q, Postgres, PgArguments> {
    match p {
        (SqlValue::Null, "INTEGER") => q.bind(None::<i64>),
        (SqlValue::Null, "REAL") => q.bind(None::<f64>),
        (SqlValue::Null, _) => q.bind(None::<String>),
        (SqlValue::Int(i), _) => q.bind(*i),
        (SqlValue::Real(x), _) => q.bind(*x),
        (SqlValue::Text(s), _) => q.bind(s.as_str()),
        // PostgreSQL refuses invalid UTF-8: a GBK client's bytes arrive decoded as best it can.
        (SqlValue::RawText(b), _) => q.bind(String::from_utf8_lossy(b).into_owned()),
    }
}

/// Rows per multi-row INSERT (PostgreSQL allows 65,535 parameters per statement).
const ROWS_PER_INSERT: usize = 2_000;

/// Copies the first `count` institutions' HIS databases into `url`, replacing their schemas;
/// returns the institution codes loaded.
pub async fn load(
    url: &str,
    region_dir: &Path,
    region: &RegionManifest,
    count: usize,
) -> Result<Vec<String>> {
    let pool = connect(url).await?;
    let mut loaded = Vec::new();
    for site in region.institutions.iter().take(count) {
        let vendor = Vendor::from_name(&site.his_vendor).context("unknown HIS vendor")?;
        let schema = schema(&site.code);
        let conn = rusqlite::Connection::open(region_dir.join(&site.his))?;
        let mut tx = pool.begin().await?;
        sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
            .execute(&mut *tx)
            .await?;
        sqlx::query(&format!("CREATE SCHEMA \"{schema}\""))
            .execute(&mut *tx)
            .await?;
        sqlx::query(&format!("SET LOCAL search_path TO \"{schema}\""))
            .execute(&mut *tx)
            .await?;
        for d in Dataset::ALL {
            sqlx::query(&vendor.create_table(d, true))
                .execute(&mut *tx)
                .await?;
            let types = vendor.column_types(d);
            let rows = read_rows(&conn, vendor, d)?;
            for chunk in rows.chunks(ROWS_PER_INSERT) {
                let cols = vendor
                    .columns(d)
                    .iter()
                    .map(|c| Vendor::quote(c))
                    .collect::<Vec<_>>()
                    .join(", ");
                let width = types.len();
                let values = (0..chunk.len())
                    .map(|r| {
                        let row: Vec<String> =
                            (1..=width).map(|c| format!("${}", r * width + c)).collect();
                        format!("({})", row.join(", "))
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                let sql = format!(
                    "INSERT INTO {} ({cols}) VALUES {values}",
                    Vendor::quote(vendor.table(d))
                );
                let rendered: Vec<Param> = chunk
                    .iter()
                    .flat_map(|r| render(vendor, r).into_iter().zip(types.iter().copied()))
                    .collect();
                let mut q = sqlx::query(&sql);
                for p in &rendered {
                    q = bind(q, p);
                }
                q.execute(&mut *tx).await?;
            }
            for stmt in vendor.create_indexes(d) {
                sqlx::query(&stmt).execute(&mut *tx).await?;
            }
        }
        tx.commit().await?;
        loaded.push(site.code.clone());
    }
    Ok(loaded)
}

/// Applies stream events to an institution's schema.
#[derive(Debug)]
pub struct PgSink {
    pool: PgPool,
    schema: String,
    vendor: Vendor,
    runtime: tokio::runtime::Handle,
}

impl PgSink {
    pub async fn connect(url: &str, code: &str, vendor: Vendor) -> Result<Self> {
        let pool = connect(url).await?;
        let schema = schema(code);
        let exists: Option<String> = sqlx::query_scalar(
            "SELECT schema_name::text FROM information_schema.schemata WHERE schema_name = $1",
        )
        .bind(&schema)
        .fetch_optional(&pool)
        .await?;
        exists.with_context(|| {
            format!("schema {schema} not found: load the institution first with `hdos synth --postgres URL`")
        })?;
        Ok(Self {
            pool,
            schema,
            vendor,
            runtime: tokio::runtime::Handle::current(),
        })
    }

    async fn apply_async(&self, event: &Event) -> Result<(), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(&format!("SET LOCAL search_path TO \"{}\"", self.schema))
            .execute(&mut *tx)
            .await?;
        for (sql, params) in statements(self.vendor, event) {
            let mut q = sqlx::query(&sql);
            for p in &params {
                q = bind(q, p);
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await
    }
}

impl EventSink for PgSink {
    fn apply(&mut self, event: &Event) -> Result<(), hdos_synth::SynthError> {
        // Called from a blocking thread, so waiting on the runtime here is allowed.
        self.runtime
            .block_on(self.apply_async(event))
            .map_err(|e| hdos_synth::SynthError::Target(format!("PostgreSQL: {e}")))
    }
}
