//! The rule set in force: the defaults derived from the standard (installed once, then editable)
//! and managers' own rules, each with its current version.

use crate::{QualityError, defaults::default_rules, rule::Rule};
use hdos_core::standard::Standard;
use hdos_store::{MetaStore, QualityRuleRecord, SaveQualityRule};

/// The enabled rules with their versions.
#[derive(Debug, Clone, Default)]
pub struct ActiveRules {
    rules: Vec<(Rule, i64)>,
}

impl ActiveRules {
    /// Installs missing defaults, then reads the enabled rules. A stored rule the standard no
    /// longer supports (a field removed by an extension) is skipped with a warning.
    pub async fn load(store: &dyn MetaStore, standard: &Standard) -> Result<Self, QualityError> {
        install_defaults(store, standard).await?;
        let mut rules = Vec::new();
        for record in store.quality_rules().await? {
            if !record.enabled {
                continue;
            }
            match Rule::from_json(&record.definition).and_then(|r| {
                r.validate(standard)?;
                Ok(r)
            }) {
                Ok(rule) => rules.push((rule, record.version)),
                Err(e) => tracing::warn!(rule = %record.id, error = %e, "quality rule skipped"),
            }
        }
        Ok(Self { rules })
    }

    /// The rules of one dataset.
    pub fn of(&self, dataset: &str) -> Vec<(&Rule, i64)> {
        self.rules
            .iter()
            .filter(|(r, _)| r.dataset == dataset)
            .map(|(r, v)| (r, *v))
            .collect()
    }

    pub fn get(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().map(|(r, _)| r).find(|r| r.id == id)
    }
}

/// Stores each default rule not stored yet; an edited or disabled default stays as it is.
/// Returns how many were added.
pub async fn install_defaults(
    store: &dyn MetaStore,
    standard: &Standard,
) -> Result<usize, QualityError> {
    let stored: Vec<String> = store
        .quality_rules()
        .await?
        .into_iter()
        .map(|r| r.id)
        .collect();
    let mut added = 0;
    for rule in default_rules(standard) {
        if stored.contains(&rule.id) {
            continue;
        }
        store
            .save_quality_rule(&SaveQualityRule {
                id: rule.id.clone(),
                dataset: rule.dataset.clone(),
                definition: rule.to_json(),
                enabled: true,
                builtin: true,
                actor: "standard".into(),
            })
            .await?;
        added += 1;
    }
    Ok(added)
}

/// Validates and saves a rule (a changed definition becomes the next version).
pub async fn save_rule(
    store: &dyn MetaStore,
    standard: &Standard,
    rule: &Rule,
    enabled: bool,
    actor: &str,
) -> Result<QualityRuleRecord, QualityError> {
    rule.validate(standard)?;
    let builtin = default_rules(standard).iter().any(|d| d.id == rule.id);
    Ok(store
        .save_quality_rule(&SaveQualityRule {
            id: rule.id.clone(),
            dataset: rule.dataset.clone(),
            definition: rule.to_json(),
            enabled,
            builtin,
            actor: actor.into(),
        })
        .await?)
}
