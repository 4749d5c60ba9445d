//! Detection scored against the synthetic region's ground truth: every injected defect kind is
//! found by the rules meant for it (recall), and those rules flag little else (precision).

use crate::common;
use anyhow::{Context, Result, ensure};
use hdos_core::standard::Standard;
use hdos_lake::{
    Lake,
    arrow::{array::AsArray, compute::cast, datatypes::DataType},
};
use hdos_quality::{Check, codes, rules::ActiveRules, run::run};
use hdos_synth::{DefectKind, DefectProfile};
use std::collections::{BTreeMap, HashSet};

/// The injected kind a rule is meant to find.
fn kind_of(rule_id: &str, check: &Check) -> Option<&'static str> {
    Some(match check {
        Check::Required { .. } => "missing_required",
        Check::IdNumber { .. } => "invalid_id_check_digit",
        Check::IdBirthDate { .. } => "id_birth_date_mismatch",
        Check::IdSex { .. } => "id_sex_mismatch",
        Check::Icd10 { .. } => "invalid_icd10",
        Check::Compare { .. } if rule_id == "inpatient_stay.discharge_time.after_admit_time" => {
            "discharge_before_admission"
        }
        Check::Compare { .. } if rule_id == "lab_result.sampled_at.before_reported_at" => {
            "lab_sampled_after_report"
        }
        Check::Sum { .. } => "settlement_mismatch",
        Check::Unique { .. } => "duplicate_record",
        Check::Reference { .. } => "orphan_foreign_key",
        Check::NotFuture { .. } => "future_timestamp",
        Check::Timeliness { reported, .. } if reported == "updated_at" => "late_arrival",
        Check::Conformance => "wrong_encoding",
        _ => return None,
    })
}

type Record = (String, String, String);

#[tokio::test]
async fn every_injected_defect_kind_is_found_with_recall_and_precision_of_99_percent() -> Result<()>
{
    let dir = tempfile::tempdir()?;
    let region_dir = dir.path().join("region");
    // 2 % of records per kind; stays are few in a small region, so half of them get theirs.
    let mut defects = DefectProfile::uniform(0.02);
    defects.set(DefectKind::DischargeBeforeAdmission, 0.5);
    let region = common::region(&region_dir, 31, 2_000, defects)?;
    println!("rows per dataset: {:?}", region.rows);
    let store = common::store(dir.path()).await?;
    let lake = Lake::open(&dir.path().join("lake").display().to_string())?;
    common::collect(&store, &lake, &region_dir, &region).await?;
    let dictionary = std::fs::read_to_string(region_dir.join("codes/icd10.csv"))?;
    codes::load_icd10(&lake, &codes::parse_icd10_csv(&dictionary)?).await?;

    let std = Standard::builtin()?;
    let summary = run(&store, &lake, std, &common::options(true)).await?;
    ensure!(summary.failures > 0, "no failures found");

    // Truth: the manifest.
    let mut truth: BTreeMap<String, HashSet<Record>> = BTreeMap::new();
    for line in std::fs::read_to_string(region_dir.join("defects.jsonl"))?.lines() {
        let e: serde_json::Value = serde_json::from_str(line)?;
        let s = |k: &str| e[k].as_str().unwrap_or_default().to_owned();
        truth
            .entry(s("kind"))
            .or_default()
            .insert((s("dataset"), s("institution"), s("key")));
    }
    // Found: the failures of the rules meant for each kind.
    let rules = ActiveRules::load(&store, std).await?;
    let batches = common::query(
        &lake,
        &["quality/failures"],
        &format!(
            "SELECT rule_id, dataset, institution, record_key FROM quality_failures WHERE run_id = {}",
            summary.run.id
        ),
    )
    .await?;
    let mut found: BTreeMap<String, HashSet<Record>> = BTreeMap::new();
    let mut other: BTreeMap<String, usize> = BTreeMap::new();
    for b in &batches {
        let col =
            |i: usize| cast(b.column(i), &DataType::Utf8).map(|c| c.as_string::<i32>().clone());
        let (rule, dataset, institution, key) = (col(0)?, col(1)?, col(2)?, col(3)?);
        for row in 0..b.num_rows() {
            let rule_id = rule.value(row);
            let check = &rules.get(rule_id).context("rule")?.check;
            let Some(kind) = kind_of(rule_id, check) else {
                *other.entry(rule_id.to_owned()).or_default() += 1;
                continue;
            };
            // The manifest names a record by its local id: the key's last part.
            let local = key
                .value(row)
                .rsplit(" / ")
                .next()
                .unwrap_or_default()
                .to_owned();
            found.entry(kind.to_owned()).or_default().insert((
                dataset.value(row).to_owned(),
                institution.value(row).to_owned(),
                local,
            ));
        }
    }
    println!(
        "{:<28} {:>7} {:>7} {:>7} {:>8} {:>9}",
        "kind", "injected", "found", "right", "recall", "precision"
    );
    let mut low = Vec::new();
    for (kind, expected) in &truth {
        let got = found.get(kind).cloned().unwrap_or_default();
        let right = got.intersection(expected).count();
        let recall = right as f64 / expected.len().max(1) as f64;
        let precision = if got.is_empty() {
            0.0
        } else {
            right as f64 / got.len() as f64
        };
        println!(
            "{kind:<28} {:>8} {:>7} {:>7} {:>7.2}% {:>8.2}%",
            expected.len(),
            got.len(),
            right,
            recall * 100.0,
            precision * 100.0
        );
        if recall < 0.99 || precision < 0.99 {
            let missed: Vec<&Record> = expected.difference(&got).take(3).collect();
            let extra: Vec<&Record> = got.difference(expected).take(3).collect();
            low.push(format!("{kind}: missed {missed:?}, extra {extra:?}"));
        }
    }
    println!("failures of rules no kind is injected for: {other:?}");
    ensure!(
        truth.len() == 13,
        "the manifest holds {} kinds",
        truth.len()
    );
    for (kind, expected) in &truth {
        ensure!(
            expected.len() >= 20,
            "only {} {kind} injected: too few to score",
            expected.len()
        );
    }
    ensure!(low.is_empty(), "below 99 %:\n{}", low.join("\n"));
    Ok(())
}
