//! Scores (0–100) per dimension and overall, for an institution or an institution's dataset,
//! from the results of a period: each rule's pass rate over the period, averaged per dimension
//! (every rule counts the same, however many records it reads); overall is the mean of the
//! dimensions that were checked.

use crate::rule::Dimension;
use hdos_store::QualityResult;
use serde::Serialize;
use std::collections::BTreeMap;

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
}
