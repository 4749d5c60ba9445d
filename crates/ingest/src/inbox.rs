//! Message channels' way into the lake (HL7 v2 over MLLP, FHIR over HTTP): each message is
//! assessed and written to the channel's journal before it is answered; a lander moves the
//! journal into the lake in batches, the raw zone first, then the std zone and quarantine.

mod lander;
mod stored;

pub(crate) use lander::Lander;
pub use lander::MappedAtReceipt;
pub use stored::Received;

use crate::{
    IngestError,
    hl7::{AckError, ErrorCondition, MappedRecords},
    mapping::{CompiledMapping, Rejection},
};
use hdos_store::{RunCounts, RunStatus};
use std::time::Duration;
use tokio::sync::watch;

/// One standard record a channel's messages give: its name, the source "columns" its rows hold
/// (field paths) and its mapping.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub name: &'a str,
    pub columns: &'a [String],
    pub mapping: &'a CompiledMapping,
    /// Its rows are keys whose std rows are deleted.
    pub delete: bool,
}

/// What the lander asks of a channel's intake.
pub trait Reader: Send + Sync + 'static {
    fn institution(&self) -> &str;
    /// The records messages map to, in the order [`MappedRecords`] indexes them.
    fn targets(&self) -> Vec<Target<'_>>;
    /// Maps an accepted message again from its stored bytes (after a restart); the same
    /// mapping gives the same records.
    fn remap(&self, bytes: &[u8]) -> Result<MappedRecords, Vec<AckError>>;
    /// The message's text, when its bytes are not plain UTF-8 but a character set it declares.
    fn text(&self, bytes: &[u8]) -> Option<String>;
}

/// The problem a rejected record reports to its sender, located at `record.field`.
pub fn rejection_error(record: &str, r: Rejection) -> AckError {
    let condition = if r.reason.contains("required") {
        ErrorCondition::RequiredFieldMissing
    } else if r.reason.contains("code table") {
        ErrorCondition::TableValueNotFound
    } else {
        ErrorCondition::DataTypeError
    };
    let shown = r.value.map(|v| format!(" (`{v}`)")).unwrap_or_default();
    let location = format!("{record}.{}", r.field);
    AckError {
        condition,
        text: format!("{location}{shown}: {}", r.reason),
        location,
    }
}

/// Lands the journal until `stop`, retrying with backoff while the lake fails, and records the
/// channel's run; returns what was landed.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn land_loop<R: Reader>(
    mut lander: Lander<R>,
    run_id: i64,
    checkpoint: u64,
    replay_until: Option<u64>,
    mut durable: watch::Receiver<u64>,
    landed_tx: watch::Sender<u64>,
    mut stop: watch::Receiver<bool>,
    linger: Duration,
) -> Result<RunCounts, IngestError> {
    let mut landed = checkpoint;
    let mut stopping = false;
    let mut backoff = Duration::from_millis(500);
    let mut last_error: Option<String> = None;
    let store = lander.store.clone();
    loop {
        // A batch that reached the raw zone before a crash is landed again with its bounds.
        let until = match replay_until {
            Some(r) if landed < r => r,
            _ => *durable.borrow(),
        };
        if landed < until {
            match lander.land_batch(landed, until).await {
                Ok(next) => {
                    landed = next;
                    landed_tx.send_replace(landed);
                    backoff = Duration::from_millis(500);
                    last_error = None;
                    let _ = store
                        .update_ingest_run(run_id, RunStatus::Running, lander.counts, None)
                        .await;
                    continue;
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?backoff, "landing messages failed; retrying");
                    let text = e.to_string();
                    let _ = store
                        .update_ingest_run(run_id, RunStatus::Running, lander.counts, Some(&text))
                        .await;
                    last_error = Some(text);
                    if stopping {
                        break;
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                    continue;
                }
            }
        }
        if stopping {
            break;
        }
        tokio::select! {
            changed = durable.changed() => {
                if changed.is_err() {
                    stopping = true;
                } else {
                    tokio::time::sleep(linger).await;
                }
            }
            _ = stop.changed() => stopping = true,
        }
    }
    let status = if last_error.is_some() {
        RunStatus::Failed
    } else {
        RunStatus::Succeeded
    };
    store
        .update_ingest_run(run_id, status, lander.counts, last_error.as_deref())
        .await?;
    Ok(lander.counts)
}
