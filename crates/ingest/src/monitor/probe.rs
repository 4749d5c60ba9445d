//! Link node probes: a channel's source reached and timed (its tables listed, or its folder
//! read), and the lake written to. Each probe has a time limit, so a source that hangs reads as
//! unreachable rather than stalling monitoring.

use crate::{
    IngestError,
    channel::{ChannelEnv, ChannelSpec},
};
use hdos_store::{Channel, LinkStatus, now_millis};
use std::time::{Duration, Instant};

/// How long a probe may take.
const LIMIT: Duration = Duration::from_secs(10);

fn status(
    channel: &str,
    node: &str,
    started: Instant,
    outcome: Result<String, String>,
) -> LinkStatus {
    let (ok, detail) = match outcome {
        Ok(d) => (true, d),
        Err(e) => (false, e),
    };
    LinkStatus {
        channel: channel.to_owned(),
        node: node.to_owned(),
        ok,
        latency_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
        detail,
        checked_at: now_millis(),
    }
}

/// The channel's source, when it has one hdos reaches out to (not a message channel's).
pub async fn source(env: &ChannelEnv, c: &Channel, spec: &ChannelSpec) -> Option<LinkStatus> {
    let started = Instant::now();
    let outcome = match spec {
        ChannelSpec::Mllp { .. } => return None,
        ChannelSpec::Folder { path, .. } => match std::fs::read_dir(path) {
            Ok(entries) => Ok(format!("{} entries in {}", entries.count(), path.display())),
            Err(e) => Err(format!("{}: {e}", path.display())),
        },
        ChannelSpec::Sql { .. } | ChannelSpec::Cdc { .. } => tables(env, spec).await,
    };
    Some(status(&c.name, "source", started, outcome))
}

/// Lists the source's tables within the limit.
async fn tables(env: &ChannelEnv, spec: &ChannelSpec) -> Result<String, String> {
    let source = spec
        .database(env)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("the channel reads no database")?;
    let listed = tokio::task::spawn_blocking(move || source.catalog()?.tables());
    match tokio::time::timeout(LIMIT, listed).await {
        Ok(Ok(Ok(t))) => Ok(format!("{} tables", t.len())),
        Ok(Ok(Err(e))) => Err(e.to_string()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {} s", LIMIT.as_secs())),
    }
}

/// A message channel's journal on this machine: bytes received (and acknowledged) but not yet
/// landed, from the journal's end on disk and the lander's checkpoint, with the node's status.
/// `None` when the journal is not here (the channel runs on another machine, or never ran).
pub async fn journal(
    env: &ChannelEnv,
    c: &Channel,
    limit: u64,
) -> Result<Option<(LinkStatus, u64)>, IngestError> {
    let dir = env.journal_root.join(crate::land::slug(&c.name));
    if !dir.is_dir() {
        return Ok(None);
    }
    let started = Instant::now();
    let end = crate::journal::end(&dir)?;
    let landed = env
        .store
        .ingest_checkpoint(&c.name, crate::mllp::MESSAGES)
        .await?
        .map_or(0, |k| u64::try_from(k.seq).unwrap_or(0));
    let backlog = end.saturating_sub(landed);
    let detail = format!("{backlog} bytes received and not yet landed");
    let outcome = if backlog > limit {
        Err(detail)
    } else {
        Ok(detail)
    };
    Ok(Some((
        status(&c.name, "journal", started, outcome),
        backlog,
    )))
}

/// The lake: a small object written and removed at its root.
pub async fn lake(env: &ChannelEnv) -> LinkStatus {
    let started = Instant::now();
    let outcome = match tokio::time::timeout(LIMIT, env.lake.check_writable()).await {
        Ok(Ok(())) => Ok(env.lake.root().to_string()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {} s", LIMIT.as_secs())),
    };
    status("", "lake", started, outcome)
}
