//! `hdos ingest mllp`, `send-hl7` and `hl7-mapping`: an HL7 v2 over MLLP channel, a sender that
//! replays message files into one, and the built-in message mappings.

use crate::{config::Config, wiring};
use anyhow::{Context, Result};
use hdos_core::standard::Standard;
use hdos_ingest::{
    hl7::{BUILTIN_MAPPINGS, MessageMappings},
    land::slug,
    mllp::{MllpChannel, MllpConfig, client},
};
use std::{collections::BTreeMap, net::SocketAddr, path::Path, process::ExitCode, time::Instant};

/// The channel name of an institution's HL7 feed when none is given.
pub fn default_channel(institution: &str) -> String {
    format!("hl7_{}", institution.to_lowercase())
}

/// Where a channel's journal lives in the data directory.
pub fn journal_dir(cfg: &Config, channel: &str) -> std::path::PathBuf {
    cfg.data_dir.join("journal").join(slug(channel))
}

pub fn print_mappings() -> ExitCode {
    print!("{BUILTIN_MAPPINGS}");
    ExitCode::SUCCESS
}

fn mappings(path: Option<&Path>) -> Result<MessageMappings> {
    Ok(match path {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            MessageMappings::from_toml(&text)?
        }
        None => MessageMappings::builtin()?,
    })
}

/// How the channel `channel` for `institution` runs on `listen`, its journal in the data dir.
pub fn channel_config(
    cfg: &Config,
    institution: &str,
    listen: SocketAddr,
    channel: &str,
    max_bytes: usize,
) -> MllpConfig {
    let mut config = MllpConfig::new(channel, institution, listen, journal_dir(cfg, channel));
    config.max_message_bytes = max_bytes;
    config
}

/// Starts an MLLP channel with the mappings in `mapping` (default: the built-in ones).
pub async fn start(
    store: std::sync::Arc<dyn hdos_store::MetaStore>,
    lake: &hdos_lake::Lake,
    config: MllpConfig,
    mapping: Option<&Path>,
) -> Result<MllpChannel> {
    let mappings = mappings(mapping)?;
    Ok(MllpChannel::start(store, lake.clone(), Standard::builtin()?, &mappings, config).await?)
}

pub async fn serve(
    cfg: &Config,
    institution: &str,
    listen: SocketAddr,
    channel: Option<String>,
    mapping: Option<&Path>,
    max_bytes: usize,
) -> Result<ExitCode> {
    let store = wiring::open_store(cfg).await?;
    let lake = wiring::open_lake(cfg)?;
    let channel = channel.unwrap_or_else(|| default_channel(institution));
    let config = channel_config(cfg, institution, listen, &channel, max_bytes);
    let running = start(store, &lake, config, mapping).await?;
    eprintln!(
        "{channel}: receiving HL7 v2 for {institution} on {} (MLLP); Ctrl-C stops",
        running.local_addr()
    );
    tokio::signal::ctrl_c().await?;
    eprintln!("{channel}: stopping; landing what the journal holds …");
    let report = running.stop().await?;
    eprintln!(
        "{channel}: {} messages, {} records written, {} quarantined, {} duplicates acknowledged",
        report.counts.rows_read,
        report.counts.rows_written,
        report.counts.rows_quarantined,
        report.duplicates
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn send(to: SocketAddr, file: &Path, connections: usize) -> Result<ExitCode> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let messages = client::split_messages(&bytes);
    let started = Instant::now();
    let answers = client::send_all(to, &messages, connections).await?;
    let seconds = started.elapsed().as_secs_f64();
    let mut by_code: BTreeMap<&str, usize> = BTreeMap::new();
    for a in &answers {
        *by_code.entry(a.code.as_str()).or_default() += 1;
    }
    for (i, a) in answers.iter().enumerate().filter(|(_, a)| a.code != "AA") {
        eprintln!("message {}: {} {}", i + 1, a.code, a.text);
    }
    eprintln!(
        "{} messages in {seconds:.2} s ({:.0}/s): {}",
        answers.len(),
        answers.len() as f64 / seconds.max(1e-9),
        by_code
            .iter()
            .map(|(c, n)| format!("{c} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(if answers.iter().all(|a| a.code == "AA") {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
