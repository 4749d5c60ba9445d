//! `hdos monitor`: a monitoring pass or a reconciliation on demand, and the alerts. Acknowledging
//! and resolving are audited.

use super::admin::audit;
use crate::{cli::MonitorCommand, config::Config, wiring};
use anyhow::{Context, Result};
use hdos_core::standard::Standard;
use hdos_ingest::{
    channel::ChannelEnv,
    monitor::{Monitor, MonitorOptions},
};
use hdos_store::{AlertFilter, AlertStatus, Outcome, Page};
use std::process::ExitCode;

pub async fn command(cfg: &Config, cmd: MonitorCommand) -> Result<ExitCode> {
    let store = wiring::open_store(cfg).await?;
    let env = || -> Result<ChannelEnv> {
        Ok(ChannelEnv {
            store: store.clone(),
            lake: (*wiring::open_lake(cfg)?).clone(),
            standard: Standard::builtin()?,
            master_key: wiring::master_key(cfg)?,
            journal_root: cfg.data_dir.join("journal"),
        })
    };
    let list = |all: bool, institution: Option<String>| {
        let store = store.clone();
        async move {
            let filter = AlertFilter {
                institution,
                include_resolved: all,
            };
            for a in store.list_alerts(&filter, Page::new(1_000, 0)).await? {
                println!("{}", serde_json::to_string(&a)?);
            }
            Ok::<_, anyhow::Error>(())
        }
    };
    match cmd {
        MonitorCommand::Check => {
            Monitor::new(env()?, MonitorOptions::default(), None)
                .check_all()
                .await?;
            list(false, None).await?;
        }
        MonitorCommand::Reconcile { channel } => {
            let c = store.channel(&channel).await?.with_context(|| {
                format!("no channel named `{channel}` (see `hdos channel list`)")
            })?;
            let days = Monitor::new(env()?, MonitorOptions::default(), None)
                .reconcile_channel(&c)
                .await?;
            let gaps = days.iter().filter(|d| !d.matches()).count();
            for d in &days {
                let mut line = serde_json::to_value(d)?;
                line["matches"] = d.matches().into();
                println!("{line}");
            }
            eprintln!(
                "`{channel}`: {} dataset-day(s) reconciled, {gaps} with a gap{}",
                days.len(),
                if gaps > 0 { " (alerts raised)" } else { "" }
            );
        }
        MonitorCommand::Alerts { all, institution } => list(all, institution).await?,
        MonitorCommand::Ack { id } => {
            let a = store
                .set_alert_status(
                    id,
                    AlertStatus::Acknowledged,
                    Some(&super::admin::cli_actor()),
                )
                .await?;
            audit(
                store.as_ref(),
                "alert.acknowledge",
                &id.to_string(),
                Outcome::Success,
            )
            .await?;
            eprintln!("alert {id} ({} on {}) acknowledged", a.kind, a.channel);
        }
        MonitorCommand::Resolve { id } => {
            let a = store
                .set_alert_status(id, AlertStatus::Resolved, None)
                .await?;
            audit(
                store.as_ref(),
                "alert.resolve",
                &id.to_string(),
                Outcome::Success,
            )
            .await?;
            eprintln!("alert {id} ({} on {}) resolved", a.kind, a.channel);
        }
    }
    Ok(ExitCode::SUCCESS)
}
