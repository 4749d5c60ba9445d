//! `hdos ingest cdc`: a log-based channel in the foreground, with a progress line every few
//! seconds, until Ctrl-C.

use crate::{config::Config, wiring};
use anyhow::Result;
use hdos_core::standard::Standard;
use hdos_ingest::cdc::{CdcChannel, CdcConfig, format_lsn};
use std::{process::ExitCode, time::Duration};

pub async fn run(cfg: &Config, config: CdcConfig) -> Result<ExitCode> {
    let store = wiring::open_store(cfg).await?;
    let lake = wiring::open_lake(cfg)?;
    let channel = config.channel.clone();
    eprintln!(
        "{channel}: setting up slot {} on the source and reading its tables; Ctrl-C stops",
        config.slot()
    );
    let running = CdcChannel::start(store, (*lake).clone(), Standard::builtin()?, config).await?;
    let progress = running.progress();
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let p = progress.borrow().clone();
                eprintln!(
                    "{channel}: {} at {}; {} changes, {} written, {} deleted, {} quarantined; slot lag {}{}",
                    if p.snapshot_done { "streaming" } else { "reading the tables" },
                    format_lsn(p.applied_lsn),
                    p.counts.rows_read,
                    p.counts.rows_written,
                    p.deleted,
                    p.counts.rows_quarantined,
                    p.lag_bytes.map_or("unknown".to_owned(), |b| format!("{b} bytes")),
                    p.last_error.map(|e| format!("; retrying after: {e}")).unwrap_or_default(),
                );
            }
            _ = &mut ctrl_c => break,
        }
    }
    eprintln!("{channel}: stopping; landing what has arrived …");
    let counts = running.stop().await?;
    eprintln!(
        "{channel}: {} changes read, {} written, {} quarantined",
        counts.rows_read, counts.rows_written, counts.rows_quarantined
    );
    Ok(ExitCode::SUCCESS)
}
