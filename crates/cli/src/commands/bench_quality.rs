//! `hdos bench quality`: the default rule set over an outpatient-visit std table of `--rows`
//! rows (ten institutions, a patient table for the reference check, the ICD-10 dictionary),
//! about 1 % of rows carrying a defect. The tables are written first, then the run is timed
//! alone with its peak memory. They stay under `<data dir>/bench-quality` as Parquet files for
//! the peers of `bench/quality_vs_peers.sh` (DuckDB, Great Expectations).

use super::bench::report_with;
use crate::config::Config;
use anyhow::{Context, Result};
use hdos_core::standard::Standard;
use hdos_lake::{
    Lake, TableName,
    arrow::{
        array::{ArrayRef, StringArray},
        compute::cast,
        record_batch::RecordBatch,
    },
};
use std::{sync::Arc, time::Instant};

const INSTITUTIONS: u64 = 10;
const CHUNK: u64 = 1_000_000;
/// Codes of the dictionary the visits draw from; the last is malformed.
const CODES: [(&str, &str); 5] = [
    ("I10.x00", "高血压"),
    ("E11.900", "2型糖尿病"),
    ("J06.900", "急性上呼吸道感染"),
    ("K29.700", "胃炎"),
    ("I1O", ""),
];

fn institution(i: u64) -> String {
    format!("12330000BENCH{:04}X", i % INSTITUTIONS)
}

/// The text of `field` in visit `i`; one row in a hundred has one defect, by kind in turn.
fn visit_value(field: &str, i: u64, patients: u64, now: &str) -> Option<String> {
    let defect = (i % 100 == 7).then_some((i / 100) % 6);
    let base = 1_735_689_600 + (i * 37) % 31_536_000; // 2025, spread over the year
    let time = |s: u64| {
        chrono::DateTime::from_timestamp(s as i64, 0)
            .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
            .unwrap_or_default()
    };
    Some(match field {
        "visit_id" => format!("V{i:010}"),
        "patient_id" if defect == Some(0) => format!("PX{i}"),
        "patient_id" => format!("P{:08}", (i / INSTITUTIONS * 7_919) % patients),
        "institution_code" | "_hdos_institution" => institution(i),
        "_hdos_source" => "bench".into(),
        "dept_name" => "内科".into(),
        // After the record was written (no record lacks a required value: collection refuses
        // those, so they never reach std).
        "visit_time" | "_hdos_event_time" if defect == Some(2) => time(base + 7200),
        "visit_time" | "_hdos_event_time" => time(base),
        "diagnosis_code" if defect == Some(1) => CODES[4].0.into(),
        "diagnosis_code" => CODES[(i % 4) as usize].0.into(),
        "diagnosis_name" => CODES[(i % 4) as usize].1.into(),
        "fee_total" if defect == Some(3) => "-12.50".into(),
        "fee_total" => format!("{}.{:02}", 20 + i % 300, i % 100),
        "updated_at" if defect == Some(4) => time(base + 100 * 3600),
        "updated_at" => time(base + 1800),
        "doctor_id" => format!("D{:04}", i % 500),
        "_hdos_ingested_at" => now.into(),
        _ => return None,
    })
}

async fn write(
    lake: &Lake,
    name: &str,
    schema: &Arc<hdos_lake::arrow::datatypes::Schema>,
    rows: u64,
    value: impl Fn(&str, u64) -> Option<String>,
) -> Result<()> {
    let table = TableName::new(name)?;
    lake.create_table(&table, schema).await?;
    let mut start = 0;
    while start < rows {
        let end = (start + CHUNK).min(rows);
        let columns: Vec<ArrayRef> = schema
            .fields()
            .iter()
            .map(|f| {
                let text: StringArray = (start..end).map(|i| value(f.name(), i)).collect();
                cast(&text, f.data_type())
            })
            .collect::<Result<_, _>>()?;
        lake.append(
            &table,
            vec![RecordBatch::try_new(schema.clone(), columns)?],
            None,
        )
        .await?;
        start = end;
    }
    Ok(())
}

pub async fn quality(cfg: &Config, rows: u64) -> Result<()> {
    let dir = cfg.data_dir.join("bench-quality");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    let std = Standard::builtin()?;
    let lake = Lake::open(&dir.join("lake").display().to_string())?;
    let now = chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string();
    let patients = (rows / INSTITUTIONS / 5).max(10);
    let visit_schema = Arc::new(hdos_lake::standard::std_schema(
        std.dataset("outpatient_visit")
            .context("outpatient_visit")?,
    ));
    write(
        &lake,
        "std/outpatient_visit",
        &visit_schema,
        rows,
        |f, i| visit_value(f, i, patients, &now),
    )
    .await?;
    let patient_schema = Arc::new(hdos_lake::standard::std_schema(
        std.dataset("patient").context("patient")?,
    ));
    write(
        &lake,
        "std/patient",
        &patient_schema,
        patients * INSTITUTIONS,
        |f, i| {
            Some(match f {
                "patient_id" => format!("P{:08}", i / INSTITUTIONS),
                "_hdos_source" => "bench".into(),
                "institution_code" | "_hdos_institution" => institution(i),
                "_hdos_ingested_at" => now.clone(),
                _ => return None,
            })
        },
    )
    .await?;
    let dictionary: Vec<(String, String)> = CODES[..4]
        .iter()
        .map(|(c, l)| ((*c).to_owned(), (*l).to_owned()))
        .collect();
    hdos_quality::codes::load_icd10(&lake, &dictionary).await?;
    let store_url = format!("sqlite://{}", dir.join("meta.db").display());
    let store =
        hdos_store::SqlStore::connect(&store_url, &hdos_store::ConnectOptions::default()).await?;
    hdos_quality::rules::install_defaults(&store, std).await?;
    // The peak is the run's own: forget the writing above (Linux: clear_refs 5 resets VmHWM).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let options = hdos_quality::run::RunOptions {
        full: true,
        requested_by: "bench".into(),
        datasets: vec!["outpatient_visit".into()],
        ..Default::default()
    };
    let start = Instant::now();
    let summary = hdos_quality::run::run(&store, &lake, std, &options).await?;
    let rules = summary
        .results
        .iter()
        .map(|r| r.rule_id.as_str())
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    report_with(
        "quality_default_rules",
        "delta",
        summary.rows.values().sum::<i64>().max(0) as u64,
        start,
        serde_json::json!({
            "dataset": "outpatient_visit",
            "rules": rules,
            "failures": summary.failures,
            "lake": dir.join("lake").display().to_string(),
        }),
    );
    Ok(())
}
