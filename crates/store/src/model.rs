//! The records the metadata store holds, as the rest of hdos sees them.

use hdos_core::{InstitutionId, Role, TokenId, UserId};
use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch, UTC.
pub type Millis = i64;

/// Current time in Unix milliseconds.
pub fn now_millis() -> Millis {
    chrono::Utc::now().timestamp_millis()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Institution {
    pub id: InstitutionId,
    pub code: String,
    pub name: String,
    pub grade: String,
    pub kind: String,
    pub region_code: String,
    pub created_at: Millis,
}

#[derive(Debug, Clone)]
pub struct NewInstitution {
    pub code: String,
    pub name: String,
    pub grade: String,
    pub kind: String,
    pub region_code: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    #[serde(skip)]
    pub password_hash: String,
    pub roles: Vec<Role>,
    pub institution_id: Option<InstitutionId>,
    pub disabled: bool,
    pub must_change_password: bool,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl User {
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

/// A user to create; the password is given in clear and hashed with argon2id by the store.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub display_name: String,
    pub password: crate::Secret,
    pub roles: Vec<Role>,
    pub institution_id: Option<InstitutionId>,
    pub must_change_password: bool,
}

/// A browser session. The cookie carries a random token; the store keeps only its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user_id: UserId,
    pub csrf_token: String,
    pub created_at: Millis,
    pub expires_at: Millis,
    pub last_seen_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiToken {
    pub id: TokenId,
    pub user_id: UserId,
    pub name: String,
    /// The first characters of the token, shown so a person can tell tokens apart.
    pub prefix: String,
    pub created_at: Millis,
    pub expires_at: Option<Millis>,
    pub revoked_at: Option<Millis>,
    pub last_used_at: Option<Millis>,
}

/// One page of a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub limit: i64,
    pub offset: i64,
}

impl Page {
    pub const MAX_LIMIT: i64 = 500;

    pub fn new(limit: i64, offset: i64) -> Self {
        Self {
            limit: limit.clamp(1, Self::MAX_LIMIT),
            offset: offset.max(0),
        }
    }
}

impl Default for Page {
    fn default() -> Self {
        Self::new(50, 0)
    }
}

/// Outcome of an audited action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Success,
    Failure,
    Denied,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Denied => "denied",
        }
    }
}

/// An action to record in the audit log.
#[derive(Debug, Clone)]
pub struct NewAuditEntry {
    pub actor_id: Option<UserId>,
    pub actor_name: String,
    pub action: String,
    pub target: String,
    pub outcome: Outcome,
    pub ip: String,
    /// Free-form JSON detail (never secrets).
    pub detail: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    pub seq: i64,
    pub ts: Millis,
    pub actor_id: Option<i64>,
    pub actor_name: String,
    pub action: String,
    pub target: String,
    pub outcome: String,
    pub ip: String,
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

/// Filters of the audit log page and API. Empty fields do not filter.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor_name: Option<String>,
    pub action: Option<String>,
    pub from_ts: Option<Millis>,
    pub to_ts: Option<Millis>,
}

/// Where a channel stands on one source table: the last chunk committed to the lake and where
/// the next read starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IngestCheckpoint {
    pub channel: String,
    pub source_table: String,
    pub seq: i64,
    /// The collector's own encoding of the read position; `None` before the first chunk.
    pub position: Option<String>,
    pub updated_at: Millis,
}

/// Row and byte counts of a collection run, so far or in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct RunCounts {
    pub rows_read: i64,
    pub rows_written: i64,
    pub rows_quarantined: i64,
    pub bytes: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Succeeded,
    Failed,
    /// Stopped on request; what it committed stays.
    Cancelled,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Running,
            Self::Succeeded,
            Self::Failed,
            Self::Cancelled,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

/// One run of a channel over one source table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IngestRun {
    pub id: i64,
    pub channel: String,
    pub source_table: String,
    pub institution: String,
    /// `initial` (a channel's first run), `full` or `incremental`.
    pub mode: String,
    pub status: RunStatus,
    pub started_at: Millis,
    pub finished_at: Option<Millis>,
    pub counts: RunCounts,
    pub error: Option<String>,
}

/// Which runs to list: all, or those of one channel and/or institution.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    pub channel: Option<String>,
    pub institution: Option<String>,
}

/// A source system's connection, shared by the channels that read it. The password is sealed
/// with the master key by the caller; the store keeps only the sealed text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceConnection {
    pub id: i64,
    pub name: String,
    /// `postgres` (the kinds hdos can read: see hdos-ingest's sources).
    pub kind: String,
    pub institution: String,
    pub host: String,
    pub port: i64,
    pub database: String,
    pub username: String,
    #[serde(skip)]
    pub sealed_password: Option<String>,
    pub schema: String,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// What defines a connection; `sealed_password` is already sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSourceConnection {
    pub name: String,
    pub kind: String,
    pub institution: String,
    pub host: String,
    pub port: i64,
    pub database: String,
    pub username: String,
    pub sealed_password: Option<String>,
    pub schema: String,
}

/// A collection channel (采集通道). Its `spec` is hdos-ingest's, kept here as JSON text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Channel {
    pub id: i64,
    pub name: String,
    pub institution: String,
    /// `sql`, `cdc`, `folder` or `mllp` (the kinds hdos-ingest runs).
    pub kind: String,
    pub spec: String,
    /// A five-field cron expression; `None` runs a batch channel only on request.
    pub schedule: Option<String>,
    pub enabled: bool,
    pub next_run_at: Option<Millis>,
    pub run_requested_at: Option<Millis>,
    pub cancel_requested_at: Option<Millis>,
    /// Failed runs in a row.
    pub failures: i64,
    pub last_error: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// What defines a channel. Saving an existing name replaces its definition and keeps its
/// requests and failure count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewChannel {
    pub name: String,
    pub institution: String,
    pub kind: String,
    pub spec: String,
    pub schedule: Option<String>,
    pub enabled: bool,
    pub next_run_at: Option<Millis>,
}

/// How a channel's run ended, as the worker that ran it records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelOutcome {
    /// When the run started: requests made before it are answered by it.
    pub started_at: Millis,
    pub next_run_at: Option<Millis>,
    pub failures: i64,
    pub last_error: Option<String>,
}

/// A worker's hold on a channel until `expires_at`, unless renewed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChannelLease {
    pub channel: String,
    pub worker: String,
    /// Grows by one with each new holder.
    pub token: i64,
    pub acquired_at: Millis,
    pub expires_at: Millis,
}

/// A worker process as it last reported itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkerStatus {
    pub id: String,
    pub host: String,
    pub pid: i64,
    pub started_at: Millis,
    pub seen_at: Millis,
    /// The channels it runs.
    pub running: Vec<String>,
    pub stopped_at: Option<Millis>,
}

/// One day of one channel's dataset, counted at the source and in the lake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReconciliationDay {
    pub channel: String,
    pub dataset: String,
    pub institution: String,
    /// YYYY-MM-DD in China Standard Time; empty for rows without an event time.
    pub day: String,
    pub source_rows: i64,
    pub lake_rows: i64,
    /// Source rows the mapping refuses; they are in quarantine, not in std.
    pub unmapped_rows: i64,
    pub source_checksum: String,
    pub lake_checksum: String,
    pub checked_at: Millis,
}

impl ReconciliationDay {
    /// The lake holds every mappable source row of the day, and the same keys.
    pub fn matches(&self) -> bool {
        self.source_rows == self.lake_rows && self.source_checksum == self.lake_checksum
    }
}

/// Which reconciliation days to list.
#[derive(Debug, Clone, Default)]
pub struct ReconciliationFilter {
    pub channel: Option<String>,
    pub institution: Option<String>,
    pub mismatched_only: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    Open,
    Acknowledged,
    Resolved,
}

impl AlertStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Acknowledged => "acknowledged",
            Self::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Open, Self::Acknowledged, Self::Resolved]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// A problem monitoring found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alert {
    pub id: i64,
    /// `reconciliation`, `volume_drop`, `volume_spike`, `zero_rows`, `run_failed`, `slot_lag`.
    pub kind: String,
    pub channel: String,
    pub institution: String,
    /// What within the channel: a dataset and day, an hour, a run.
    pub subject: String,
    pub message: String,
    pub status: AlertStatus,
    pub raised_at: Millis,
    pub updated_at: Millis,
    pub acknowledged_by: Option<String>,
    pub resolved_at: Option<Millis>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAlert {
    pub kind: String,
    pub channel: String,
    pub institution: String,
    pub subject: String,
    pub message: String,
}

/// Which alerts to list: unresolved ones by default.
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    pub institution: Option<String>,
    pub include_resolved: bool,
}

/// Rows an institution's runs wrote on one day (China Standard Time, YYYY-MM-DD).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DailyVolume {
    pub institution: String,
    pub day: String,
    pub rows: i64,
}

/// One monitoring pass's measures of a channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinkSample {
    pub channel: String,
    pub institution: String,
    pub at: Millis,
    /// How long the source took to answer; `None` when it was not reached.
    pub latency_ms: Option<i64>,
    /// Bytes received but not yet in the lake: a CDC slot's WAL, an MLLP journal's backlog.
    pub backlog_bytes: Option<i64>,
}

/// The last probe of a link node: a channel's source, or the lake (channel empty).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinkStatus {
    pub channel: String,
    /// `source` or `lake`.
    pub node: String,
    pub ok: bool,
    pub latency_ms: i64,
    /// The error when not ok, else what was seen.
    pub detail: String,
    pub checked_at: Millis,
}
