//! The HL7 v2 over MLLP channel: a TCP listener that assesses each message, writes it to the
//! channel's journal, and only then acknowledges it (AA, AE or AR with the reasons). A lander
//! task moves the journal into the lake in batches. Resent messages (same sending facility and
//! control id, within the window) are acknowledged again but stored once.

pub mod client;
mod seen;

pub use hdos_hl7::{Deframer, Frame, wrap};

/// The `source_table` of a channel's messages in checkpoints, runs and quarantine.
pub const MESSAGES: &str = "messages";

use crate::{
    IngestError,
    hl7::{AckCode, AckError, ErrorCondition, Intake, MessageMappings, compile, render_ack},
    inbox::{Lander, MappedAtReceipt, Received, land_loop},
    journal::{self, Journal},
};
use hdos_core::standard::Standard;
use hdos_lake::Lake;
use hdos_store::{MetaStore, RunCounts};
use seen::Seen;
use std::{
    net::SocketAddr,
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::watch,
    task::JoinHandle,
};

/// How an MLLP channel runs.
#[derive(Debug, Clone)]
pub struct MllpConfig {
    pub channel: String,
    pub institution: String,
    pub listen: SocketAddr,
    /// The channel's journal directory.
    pub journal_dir: PathBuf,
    /// Longer messages are refused (AR) and quarantined with their first bytes.
    pub max_message_bytes: usize,
    /// How long a control id is remembered for duplicate detection.
    pub duplicate_window_days: i64,
    /// How long the lander waits after new messages for more to join the batch.
    pub linger: Duration,
}

impl MllpConfig {
    pub fn new(channel: &str, institution: &str, listen: SocketAddr, journal_dir: PathBuf) -> Self {
        Self {
            channel: channel.to_owned(),
            institution: institution.to_owned(),
            listen,
            journal_dir,
            max_message_bytes: 1024 * 1024,
            duplicate_window_days: 7,
            linger: Duration::from_millis(200),
        }
    }
}

/// What a channel did while it ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChannelReport {
    pub counts: RunCounts,
    pub duplicates: u64,
}

struct Shared {
    intake: Arc<Intake>,
    mapped: Arc<MappedAtReceipt>,
    journal: Journal,
    seen: Mutex<Seen>,
    max_message_bytes: usize,
    acks: AtomicU64,
    duplicates: AtomicU64,
}

/// A running channel.
#[derive(Debug)]
pub struct MllpChannel {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    accept: JoinHandle<()>,
    lander: JoinHandle<Result<RunCounts, IngestError>>,
    landed: watch::Receiver<u64>,
    durable: watch::Receiver<u64>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("journal", &self.journal)
            .finish_non_exhaustive()
    }
}

fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// The current time as an HL7 DTM in China Standard Time.
fn hl7_now() -> String {
    (chrono::Utc::now() + chrono::Duration::hours(8))
        .format("%Y%m%d%H%M%S+0800")
        .to_string()
}

impl MllpChannel {
    /// Binds the listener, recovers the journal and the lake, and starts accepting.
    pub async fn start(
        store: Arc<dyn MetaStore>,
        lake: Lake,
        standard: &Standard,
        mappings: &MessageMappings,
        config: MllpConfig,
    ) -> Result<Self, IngestError> {
        let records = compile(mappings, standard)?;
        let intake = Arc::new(Intake::new(&config.institution, records));
        let journal = Journal::open(&config.journal_dir)?;
        let lander = Lander::new(
            lake,
            store.clone(),
            intake.clone(),
            &config.channel,
            MESSAGES,
            config.journal_dir.clone(),
        )?;
        lander.prepare().await?;
        let (checkpoint, replay_until) = lander.resume_points().await?;
        let mut seen = Seen::new(config.duplicate_window_days);
        for (facility, control_id, at) in
            lander.recent_accepted(config.duplicate_window_days).await?
        {
            seen.insert(&facility, &control_id, at);
        }
        let durable = journal.durable();
        let end = *durable.borrow();
        let (tail, _) = journal::read(&config.journal_dir, checkpoint, end, usize::MAX)?;
        for (_, payload) in &tail {
            let (r, _) = Received::decode(payload)?;
            if r.ack == Some(AckCode::AA) {
                seen.insert(&r.facility, &r.control_id, r.at);
            }
        }
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|e| IngestError::SourceUnavailable {
                    source_name: format!("MLLP listener {}", config.listen),
                    reason: e.to_string(),
                })?;
        let addr = listener
            .local_addr()
            .map_err(|e| IngestError::SourceUnavailable {
                source_name: format!("MLLP listener {}", config.listen),
                reason: e.to_string(),
            })?;
        let shared = Arc::new(Shared {
            intake,
            mapped: lander.mapped.clone(),
            journal,
            seen: Mutex::new(seen),
            max_message_bytes: config.max_message_bytes,
            acks: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
        });
        let (stop, stopped) = watch::channel(false);
        let run = store
            .start_ingest_run(&config.channel, MESSAGES, &config.institution, "stream")
            .await?;
        let (landed_tx, landed) = watch::channel(checkpoint);
        let lander = tokio::spawn(land_loop(
            lander,
            run.id,
            checkpoint,
            replay_until,
            durable.clone(),
            landed_tx,
            stopped.clone(),
            config.linger,
        ));
        let accept = tokio::spawn(accept_loop(listener, shared.clone(), stopped));
        tracing::info!(channel = %config.channel, %addr, "MLLP channel listening");
        Ok(Self {
            addr,
            stop,
            accept,
            lander,
            landed,
            durable,
            shared,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Waits until everything acknowledged so far is in the lake.
    pub async fn caught_up(&self) {
        let target = *self.durable.borrow();
        let mut landed = self.landed.clone();
        let _ = landed.wait_for(|l| *l >= target).await;
    }

    /// Stops accepting, lands what the journal holds, and ends the run.
    pub async fn stop(self) -> Result<ChannelReport, IngestError> {
        self.stop.send_replace(true);
        self.accept.abort();
        let counts = self.lander.await.map_err(|e| IngestError::Journal {
            path: self.shared.journal.dir().display().to_string(),
            reason: e.to_string(),
        })??;
        Ok(ChannelReport {
            counts,
            duplicates: self.shared.duplicates.load(Ordering::Relaxed),
        })
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    connections.spawn(connection(stream, peer, shared.clone()));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "MLLP accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            _ = stop.changed() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn connection(mut stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let peer_text = peer.to_string();
    let mut deframer = Deframer::new(shared.max_message_bytes);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        deframer.push(&buf[..n]);
        while let Some(frame) = deframer.next_frame() {
            let ack = match frame {
                Frame::Message(bytes) => receive(&shared, &bytes, &peer_text).await,
                Frame::Oversized { head, len } => oversized(&shared, &head, len, &peer_text).await,
            };
            if stream.write_all(&wrap(ack.as_bytes())).await.is_err() {
                return;
            }
        }
    }
    if deframer.discarded > 0 {
        tracing::warn!(
            peer = %peer_text,
            bytes = deframer.discarded,
            "bytes outside MLLP frames were dropped"
        );
    }
    if let Some(partial) = deframer.unfinished().filter(|p| !p.is_empty()) {
        let record = Received {
            at: now_micros(),
            peer: peer_text,
            ack: None,
            kind: String::new(),
            control_id: String::new(),
            facility: String::new(),
            errors: vec![AckError {
                condition: ErrorCondition::SegmentSequence,
                location: "MLLP".into(),
                text: format!(
                    "the connection closed {} bytes into a message, before its end block (truncated)",
                    partial.len()
                ),
            }],
        };
        if let Err(e) = shared.journal.append(record.encode(partial)).await {
            tracing::error!(error = %e, "could not store a truncated message");
        }
    }
}

fn ack_id(shared: &Shared) -> String {
    format!("ACK{}", shared.acks.fetch_add(1, Ordering::Relaxed))
}

/// Assesses, stores and acknowledges one message.
async fn receive(shared: &Shared, bytes: &[u8], peer: &str) -> String {
    let at = now_micros();
    let mut assessment = shared.intake.assess(bytes);
    let records = std::mem::take(&mut assessment.records);
    let message = assessment.message.as_ref();
    let header = &assessment.header;
    let accepted = assessment.code == AckCode::AA;
    if accepted {
        let fresh = shared
            .seen
            .lock()
            .map(|mut s| s.insert(&header.facility, &header.control_id, at))
            .unwrap_or(true);
        if !fresh {
            shared.duplicates.fetch_add(1, Ordering::Relaxed);
            let note = [AckError {
                condition: ErrorCondition::SegmentSequence,
                location: "MSH-10".into(),
                text: format!(
                    "duplicate of message {} already received; stored once",
                    header.control_id
                ),
            }];
            // An AA whose MSA-3 says why nothing new was stored; no ERR segment for a success.
            let mut ack = render_ack(message, AckCode::AA, &note, &ack_id(shared), &hl7_now());
            if let Some(err) = ack.find("\rERR") {
                ack.truncate(err + 1);
            }
            return ack;
        }
    }
    let record = Received::from_assessment(&assessment, at, peer);
    if accepted {
        // Kept before the append: the lander may read the record as soon as it is durable.
        shared
            .mapped
            .keep(&header.facility, &header.control_id, records);
    }
    match shared.journal.append(record.encode(bytes)).await {
        Ok(_) => render_ack(
            message,
            assessment.code,
            &assessment.errors,
            &ack_id(shared),
            &hl7_now(),
        ),
        Err(e) => {
            shared.mapped.take(&header.facility, &header.control_id);
            if accepted && let Ok(mut s) = shared.seen.lock() {
                s.forget(&header.facility, &header.control_id);
            }
            tracing::error!(error = %e, "could not store a message; refused it");
            let errors = [AckError {
                condition: ErrorCondition::ApplicationInternalError,
                location: String::new(),
                text: "the message could not be stored; send it again later".into(),
            }];
            render_ack(message, AckCode::AR, &errors, &ack_id(shared), &hl7_now())
        }
    }
}

async fn oversized(shared: &Shared, head: &[u8], len: usize, peer: &str) -> String {
    let errors = vec![AckError {
        condition: ErrorCondition::SegmentSequence,
        location: "MLLP".into(),
        text: format!(
            "the message has {len} bytes, more than this channel's limit of {}",
            shared.max_message_bytes
        ),
    }];
    let parsed = shared.intake.assess(head);
    let record = Received {
        at: now_micros(),
        peer: peer.to_owned(),
        ack: Some(AckCode::AR),
        kind: parsed.header.kind.clone(),
        control_id: parsed.header.control_id.clone(),
        facility: parsed.header.facility.clone(),
        errors: errors.clone(),
    };
    if let Err(e) = shared.journal.append(record.encode(head)).await {
        tracing::error!(error = %e, "could not store an oversized message's head");
    }
    // The head alone may not parse; the ACK then names no control id.
    let original = crate::hl7::Message::parse(&String::from_utf8_lossy(head)).ok();
    render_ack(
        original.as_ref(),
        AckCode::AR,
        &errors,
        &ack_id(shared),
        &hl7_now(),
    )
}
