//! Scores (0–100) per dimension and overall, for an institution or an institution's dataset,
//! from the results of a period: each rule's pass rate over the period, averaged per dimension
//! (every rule counts the same, however many records it reads); overall is the mean of the
//! dimensions that were checked.

use crate::{QualityError, rule::Dimension};
use hdos_store::{MetaStore, Millis, Page, QualityResult};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};

/// A score card.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Score {
    pub institution: String,
    /// `None` for the institution across all its datasets.
    pub dataset: Option<String>,
    pub dimensions: BTreeMap<Dimension, f64>,
    pub overall: f64,
    pub checked: i64,
    pub failed: i64,
}

/// Checked and failed per rule, summed over the results given.
fn per_rule<'a>(
    results: impl Iterator<Item = &'a QualityResult>,
) -> BTreeMap<&'a str, (Dimension, i64, i64)> {
    let mut rules: BTreeMap<&str, (Dimension, i64, i64)> = BTreeMap::new();
    for r in results {
        let Some(dimension) = Dimension::parse(&r.dimension) else {
            continue;
        };
        let e = rules.entry(&r.rule_id).or_insert((dimension, 0, 0));
        e.1 += r.checked;
        e.2 += r.failed;
    }
    rules
}

fn card(institution: &str, dataset: Option<&str>, results: &[&QualityResult]) -> Score {
    let rules = per_rule(results.iter().copied());
    let mut sums: BTreeMap<Dimension, (f64, usize)> = BTreeMap::new();
    let (mut checked, mut failed) = (0, 0);
    for (dimension, c, f) in rules.values() {
        if *c == 0 {
            continue;
        }
        checked += c;
        failed += f;
        let e = sums.entry(*dimension).or_default();
        e.0 += 1.0 - *f as f64 / *c as f64;
        e.1 += 1;
    }
    let dimensions: BTreeMap<Dimension, f64> = sums
        .into_iter()
        .map(|(d, (sum, n))| (d, 100.0 * sum / n as f64))
        .collect();
    let overall = if dimensions.is_empty() {
        100.0
    } else {
        dimensions.values().sum::<f64>() / dimensions.len() as f64
    };
    Score {
        institution: institution.to_owned(),
        dataset: dataset.map(str::to_owned),
        dimensions,
        overall,
        checked,
        failed,
    }
}

/// The results a period's totals add up. A full run checks a rule's records again from the
/// start, so for each rule the results of runs before its latest full run are left out (they
/// would count the same records twice); trends keep them, as what was known then. A rule the
/// full run did not check (disabled then, or its dataset left out) keeps its earlier results.
pub fn standing(results: &[QualityResult], full_runs: &HashSet<i64>) -> Vec<QualityResult> {
    let mut latest_full: HashMap<&str, i64> = HashMap::new();
    for r in results.iter().filter(|r| full_runs.contains(&r.run_id)) {
        let e = latest_full.entry(&r.rule_id).or_insert(r.run_id);
        *e = (*e).max(r.run_id);
    }
    results
        .iter()
        .filter(|r| {
            latest_full
                .get(r.rule_id.as_str())
                .is_none_or(|f| r.run_id >= *f)
        })
        .cloned()
        .collect()
}

/// The ids of the full runs that succeeded since `since`.
pub async fn full_runs_since(
    store: &dyn MetaStore,
    since: Millis,
) -> Result<HashSet<i64>, QualityError> {
    const PAGE: i64 = 500;
    let mut out = HashSet::new();
    let mut offset = 0;
    loop {
        let runs = store.quality_runs(Page::new(PAGE, offset)).await?;
        let done = runs.len() < PAGE as usize || runs.iter().any(|r| r.started_at < since);
        out.extend(
            runs.iter()
                .filter(|r| r.mode == "full" && r.state == "succeeded" && r.started_at >= since)
                .map(|r| r.id),
        );
        if done {
            return Ok(out);
        }
        offset += PAGE;
    }
}

/// One card per institution, best first (the ranking).
pub fn by_institution(results: &[QualityResult]) -> Vec<Score> {
    let mut groups: BTreeMap<&str, Vec<&QualityResult>> = BTreeMap::new();
    for r in results {
        groups.entry(&r.institution).or_default().push(r);
    }
    let mut cards: Vec<Score> = groups
        .into_iter()
        .map(|(i, rs)| card(i, None, &rs))
        .collect();
    cards.sort_by(|a, b| {
        b.overall
            .total_cmp(&a.overall)
            .then(a.institution.cmp(&b.institution))
    });
    cards
}

/// One card per institution and dataset.
pub fn by_dataset(results: &[QualityResult]) -> Vec<Score> {
    let mut groups: BTreeMap<(&str, &str), Vec<&QualityResult>> = BTreeMap::new();
    for r in results {
        groups
            .entry((&r.institution, &r.dataset))
            .or_default()
            .push(r);
    }
    groups
        .into_iter()
        .map(|((i, d), rs)| card(i, Some(d), &rs))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(
        institution: &str,
        rule: &str,
        dimension: &str,
        checked: i64,
        failed: i64,
    ) -> QualityResult {
        QualityResult {
            run_id: 1,
            rule_id: rule.into(),
            rule_version: 1,
            dataset: "patient".into(),
            institution: institution.into(),
            dimension: dimension.into(),
            severity: "soft".into(),
            threshold: 0.0,
            checked,
            failed,
            checked_at: 0,
        }
    }

    #[test]
    fn rules_count_equally_and_dimensions_average() {
        let results = [
            result("A", "r1", "validity", 1000, 0),
            result("A", "r2", "validity", 10, 5),
            result("A", "r3", "completeness", 100, 10),
            result("A", "r3", "completeness", 100, 0),
            result("B", "r1", "validity", 10, 0),
            result("B", "r4", "timeliness", 0, 0),
        ];
        let cards = by_institution(&results);
        assert_eq!(cards[0].institution, "B");
        assert_eq!(cards[0].overall, 100.0);
        assert_eq!(cards[0].dimensions.len(), 1, "nothing checked is no score");
        let a = &cards[1];
        assert_eq!(a.dimensions[&Dimension::Validity], 75.0);
        assert_eq!(a.dimensions[&Dimension::Completeness], 95.0);
        assert_eq!(a.overall, 85.0);
        assert_eq!((a.checked, a.failed), (1210, 15));
    }

    #[test]
    fn a_full_run_supersedes_earlier_runs_of_the_rules_it_checked_only() {
        let at = |run_id: i64, dataset: &str, checked: i64| QualityResult {
            run_id,
            dataset: dataset.into(),
            ..result(
                "A",
                if dataset == "patient" { "r1" } else { "r2" },
                "validity",
                checked,
                0,
            )
        };
        let results = [
            at(1, "patient", 100),
            at(2, "patient", 10),
            at(2, "settlement", 7),
            at(3, "patient", 110),
            at(4, "patient", 5),
        ];
        let kept: Vec<(i64, &str)> = standing(&results, &HashSet::from([3]))
            .iter()
            .map(|r| (r.run_id, if r.dataset == "patient" { "p" } else { "s" }))
            .collect();
        assert_eq!(kept, [(2, "s"), (3, "p"), (4, "p")]);
        assert_eq!(standing(&results, &HashSet::new()).len(), 5);
    }
}
