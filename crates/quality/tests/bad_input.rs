//! Bad input gets a clear answer: rules that cannot run are refused when saved, and odd data
//! (no rows, a column entirely empty, a rule changed between runs) is checked without surprise.

use crate::common;
use anyhow::{Context, Result, ensure};
use hdos_core::standard::Standard;
use hdos_lake::Lake;
use hdos_quality::{Check, Dimension, Rule, Severity, rules::save_rule, run::run};
use hdos_store::{MetaStore, QualityResultFilter};

fn rule(id: &str, check: Check) -> Rule {
    Rule {
        id: id.into(),
        dataset: "settlement".into(),
        name: id.into(),
        check,
        dimension: Dimension::Validity,
        severity: Severity::Soft,
        threshold: 0.0,
        institutions: Vec::new(),
        when: None,
    }
}

/// Why saving `r` was refused.
async fn refused(store: &hdos_store::SqlStore, r: Rule) -> Result<String> {
    let err = save_rule(store, Standard::builtin()?, &r, true, "manager")
        .await
        .err();
    err.map(|e| e.to_string())
        .context("saved a rule that cannot run")
}

#[tokio::test]
async fn rules_that_cannot_run_are_refused_with_the_reason() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let store = common::store(dir.path()).await?;
    let msg = refused(
        &store,
        rule(
            "a",
            Check::Required {
                field: "amount".into(),
            },
        ),
    )
    .await?;
    ensure!(
        msg.contains("`amount` is not a field of the dataset `settlement`"),
        "{msg}"
    );
    let msg = refused(
        &store,
        rule(
            "b",
            Check::Format {
                field: "insurance_type".into(),
                pattern: "([0-9]".into(),
            },
        ),
    )
    .await?;
    ensure!(msg.contains("not a regular expression"), "{msg}");
    let msg = refused(
        &store,
        rule(
            "c",
            Check::Sql {
                predicate: "total_amount >= ".into(),
            },
        ),
    )
    .await?;
    ensure!(msg.contains("not valid SQL"), "{msg}");
    let msg = refused(
        &store,
        rule(
            "d",
            Check::Sql {
                predicate: "random() < total_amount".into(),
            },
        ),
    )
    .await?;
    ensure!(msg.contains("`random` may not be used"), "{msg}");
    let msg = refused(
        &store,
        rule(
            "e",
            Check::Sql {
                predicate: "total_amount + 1".into(),
            },
        ),
    )
    .await?;
    ensure!(msg.contains("not true/false"), "{msg}");
    let msg = refused(
        &store,
        rule(
            "f",
            Check::Format {
                field: "total_amount".into(),
                pattern: "^1".into(),
            },
        ),
    )
    .await?;
    ensure!(msg.contains("not text"), "{msg}");
    let msg = refused(
        &store,
        rule(
            "g",
            Check::Compare {
                left: "settled_at".into(),
                op: hdos_quality::CompareOp::Le,
                right: "total_amount".into(),
            },
        ),
    )
    .await?;
    ensure!(msg.contains("cannot be compared"), "{msg}");
    let msg = refused(
        &store,
        rule(
            "i",
            Check::Volume {
                field: "settled_at".into(),
                min: Some(100),
                max: Some(10),
            },
        ),
    )
    .await?;
    ensure!(msg.contains("minimum 100 is above the maximum 10"), "{msg}");
    let msg = refused(
        &store,
        rule(
            "j",
            Check::Volume {
                field: "total_amount".into(),
                min: Some(1),
                max: None,
            },
        ),
    )
    .await?;
    ensure!(msg.contains("not a date or time"), "{msg}");
    let mut bad_scope = rule(
        "h",
        Check::Required {
            field: "total_amount".into(),
        },
    );
    bad_scope.dataset = "vaccination".into();
    let msg = refused(&store, bad_scope).await?;
    ensure!(msg.contains("`vaccination` is not a dataset"), "{msg}");
    ensure!(
        store.quality_rule("a").await?.is_none(),
        "nothing refused was stored"
    );
    Ok(())
}

#[tokio::test]
async fn empty_datasets_empty_columns_and_changed_rules_are_handled() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let store = common::store(dir.path()).await?;
    let lake = Lake::open(&dir.path().join("lake").display().to_string())?;
    let std = Standard::builtin()?;
    // A dataset with no rows: checked, nothing to report.
    common::std_rows(&lake, "settlement", "H1", &[]).await?;
    let empty = run(&store, &lake, std, &common::options(true)).await?;
    ensure!(empty.rows.get("settlement") == Some(&0), "{:?}", empty.rows);
    ensure!(empty.results.is_empty(), "{:?}", empty.results);
    // Rows whose optional `insurance_paid` column is entirely empty, and a custom rule on it.
    let row: &[(&str, &str)] = &[
        ("settlement_id", "S1"),
        ("encounter_id", "E1"),
        ("patient_id", "P1"),
        ("institution_code", "H1"),
        ("insurance_type", "自费"),
        ("total_amount", "10.00"),
        ("self_paid", "10.00"),
        ("settled_at", "2025-01-01T08:00:00Z"),
        ("updated_at", "2025-01-01T08:00:00Z"),
    ];
    let second: Vec<(&str, &str)> = row
        .iter()
        .map(|(k, v)| {
            if *k == "settlement_id" {
                (*k, "S2")
            } else {
                (*k, *v)
            }
        })
        .collect();
    common::std_rows(&lake, "settlement", "H1", &[row, &second]).await?;
    let custom = rule(
        "settlement.paid_positive",
        Check::Sql {
            predicate: "insurance_paid >= 0".into(),
        },
    );
    save_rule(&store, std, &custom, true, "manager").await?;
    let first = run(&store, &lake, std, &common::options(true)).await?;
    let of = |id: &str, results: &[hdos_store::QualityResult]| {
        results
            .iter()
            .find(|r| r.rule_id == id)
            .map(|r| (r.rule_version, r.checked, r.failed))
    };
    ensure!(
        of("settlement.insurance_paid.required", &first.results) == Some((1, 2, 2)),
        "an empty required column fails every row: {:?}",
        of("settlement.insurance_paid.required", &first.results)
    );
    ensure!(
        of("settlement.paid_positive", &first.results).is_none(),
        "a condition on empty values applies to no row"
    );
    ensure!(
        of("settlement.total_amount.sum", &first.results).is_none(),
        "a sum with an empty part is not judged"
    );
    ensure!(
        first.moved.get("settlement") == Some(&2),
        "the required rule is hard: both rows leave std for quarantine: {:?}",
        first.moved
    );
    // Corrected rows arrive, with the insurance part.
    let fixed = |id: &'static str| -> Vec<(&str, &str)> {
        let mut r: Vec<(&str, &str)> = row
            .iter()
            .map(|(k, v)| (*k, if *k == "settlement_id" { id } else { *v }))
            .collect();
        r.push(("insurance_paid", "0.00"));
        r
    };
    common::std_rows(&lake, "settlement", "H1", &[&fixed("S3"), &fixed("S4")]).await?;
    // The rule changes: later results carry version 2, earlier ones keep version 1.
    let changed = rule(
        "settlement.paid_positive",
        Check::Sql {
            predicate: "total_amount > 100".into(),
        },
    );
    save_rule(&store, std, &changed, true, "manager").await?;
    let second_run = run(&store, &lake, std, &common::options(true)).await?;
    ensure!(of("settlement.paid_positive", &second_run.results) == Some((2, 2, 2)));
    let all = store
        .quality_results(&QualityResultFilter {
            rule_id: Some("settlement.insurance_paid.required".into()),
            ..Default::default()
        })
        .await?;
    ensure!(all.len() == 2 && all.iter().all(|r| r.rule_version == 1));
    Ok(())
}
