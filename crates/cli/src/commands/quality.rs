//! `hdos quality`: runs on demand, rules, the ICD-10 dictionary, scores and tickets. Changes to
//! rules and code tables are audited.

use super::admin::{audit, cli_actor};
use crate::{cli::QualityCommand, config::Config, wiring};
use anyhow::{Context, Result};
use hdos_core::standard::Standard;
use hdos_quality::{
    Rule, codes,
    rules::{self, save_rule},
    run::{RunOptions, run},
    score,
    tickets::State,
};
use hdos_store::{Outcome, Page, QualityResultFilter, TicketFilter, now_millis};
use std::process::ExitCode;

pub async fn command(cfg: &Config, cmd: QualityCommand) -> Result<ExitCode> {
    let store = wiring::open_store(cfg).await?;
    let standard = Standard::builtin()?;
    match cmd {
        QualityCommand::Run { full, dataset } => {
            let lake = wiring::open_lake(cfg)?;
            let options = RunOptions {
                full,
                requested_by: cli_actor(),
                datasets: dataset,
                notify: wiring::notify_config(cfg),
                ..RunOptions::default()
            };
            let summary = run(store.as_ref(), &lake, standard, &options).await?;
            println!("{}", serde_json::to_string(&summary.run)?);
            for r in summary.results.iter().filter(|r| r.failed > 0) {
                println!("{}", serde_json::to_string(r)?);
            }
            for (dataset, why) in &summary.skipped {
                eprintln!("{dataset}: not checked ({why})");
            }
            for (dataset, n) in &summary.moved {
                eprintln!("{dataset}: {n} record(s) failing hard rules moved to quarantine");
            }
            eprintln!(
                "run {}: {} rows checked in {} dataset(s), {} failing record(s) kept; tickets: {} change(s)",
                summary.run.id,
                summary.rows.values().sum::<i64>(),
                summary.rows.len(),
                summary.failures,
                summary.tickets.len()
            );
        }
        QualityCommand::Rules => {
            rules::install_defaults(store.as_ref(), standard).await?;
            for r in store.quality_rules().await? {
                println!("{}", serde_json::to_string(&r)?);
            }
        }
        QualityCommand::SaveRule { file, disabled } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let rule: Rule = serde_json::from_str(&text)
                .with_context(|| format!("{} is not a rule definition", file.display()))?;
            let saved = save_rule(store.as_ref(), standard, &rule, !disabled, &cli_actor()).await?;
            audit(
                store.as_ref(),
                "quality.rule.save",
                &saved.id,
                Outcome::Success,
            )
            .await?;
            eprintln!("rule {} saved at version {}", saved.id, saved.version);
        }
        QualityCommand::Enable { id } => set_enabled(store.as_ref(), standard, &id, true).await?,
        QualityCommand::Disable { id } => set_enabled(store.as_ref(), standard, &id, false).await?,
        QualityCommand::ImportIcd10 { file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let rows = codes::parse_icd10_csv(&text)?;
            let lake = wiring::open_lake(cfg)?;
            let n = codes::load_icd10(&lake, &rows).await?;
            audit(
                store.as_ref(),
                "quality.codes.import",
                "icd10",
                Outcome::Success,
            )
            .await?;
            eprintln!("ICD-10 dictionary loaded: {n} codes");
        }
        QualityCommand::Scores { days } => {
            let since = now_millis() - days * 86_400_000;
            let filter = QualityResultFilter {
                since: Some(since),
                ..Default::default()
            };
            let results = store.quality_results(&filter).await?;
            let full = score::full_runs_since(store.as_ref(), since).await?;
            for card in score::by_institution(&score::standing(&results, &full)) {
                println!("{}", serde_json::to_string(&card)?);
            }
        }
        QualityCommand::Tickets { all, institution } => {
            let states = if all {
                Vec::new()
            } else {
                State::ALL
                    .into_iter()
                    .filter(|s| *s != State::Closed)
                    .map(|s| s.name().to_owned())
                    .collect()
            };
            let filter = TicketFilter {
                institution,
                states,
                ..Default::default()
            };
            for t in store
                .tickets(&filter, Page::new(Page::MAX_LIMIT, 0))
                .await?
            {
                println!("{}", serde_json::to_string(&t)?);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn set_enabled(
    store: &dyn hdos_store::MetaStore,
    standard: &Standard,
    id: &str,
    enabled: bool,
) -> Result<()> {
    rules::install_defaults(store, standard).await?;
    let record = store
        .quality_rule(id)
        .await?
        .with_context(|| format!("no rule `{id}` (see `hdos quality rules`)"))?;
    let rule = Rule::from_json(&record.definition)?;
    save_rule(store, standard, &rule, enabled, &cli_actor()).await?;
    let action = if enabled {
        "quality.rule.enable"
    } else {
        "quality.rule.disable"
    };
    audit(store, action, id, Outcome::Success).await?;
    eprintln!("rule {id} {}", if enabled { "enabled" } else { "disabled" });
    Ok(())
}
