//! hdos-store: the metadata store. One trait, [`MetaStore`], implemented by [`SqlStore`] on SQLite
//! (the zero-configuration default) and on PostgreSQL (for several nodes), chosen by URL.

pub mod audit_chain;
mod error;
pub mod model;
pub mod notify;
pub mod password;
pub mod quality;
mod secret;
mod sql;

pub use audit_chain::{ChainProblem, ChainStatus};
pub use error::StoreError;
pub use model::*;
pub use notify::*;
pub use quality::*;
pub use secret::{MasterKey, Secret};
pub use sql::{ConnectOptions, SqlStore, redact_url};

use async_trait::async_trait;
use hdos_core::{InstitutionId, Role, TokenId, UserId};

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Everything hdos keeps about accounts, institutions and settings, and the audit log.
#[async_trait]
pub trait MetaStore: Send + Sync + std::fmt::Debug {
    fn backend(&self) -> Backend;
    /// A cheap round trip, for readiness checks.
    async fn ping(&self) -> Result<(), StoreError>;

    // Institutions.
    async fn create_institution(&self, new: NewInstitution) -> Result<Institution, StoreError>;
    async fn institution(&self, id: InstitutionId) -> Result<Institution, StoreError>;
    async fn institution_by_code(&self, code: &str) -> Result<Option<Institution>, StoreError>;
    async fn list_institutions(&self, page: Page) -> Result<Vec<Institution>, StoreError>;
    async fn count_institutions(&self) -> Result<i64, StoreError>;

    // Users.
    async fn create_user(&self, new: NewUser) -> Result<User, StoreError>;
    async fn user(&self, id: UserId) -> Result<User, StoreError>;
    async fn user_by_name(&self, username: &str) -> Result<Option<User>, StoreError>;
    async fn list_users(&self, page: Page) -> Result<Vec<User>, StoreError>;
    async fn count_users(&self) -> Result<i64, StoreError>;
    async fn set_password(&self, id: UserId, password: &Secret) -> Result<(), StoreError>;
    /// Disables or re-enables an account; disabling ends all its sessions.
    async fn set_disabled(&self, id: UserId, disabled: bool) -> Result<(), StoreError>;
    async fn set_roles(
        &self,
        id: UserId,
        roles: &[Role],
        institution: Option<InstitutionId>,
    ) -> Result<(), StoreError>;

    // Sessions, by the hash of the cookie token.
    async fn create_session(&self, token_hash: &str, session: &Session) -> Result<(), StoreError>;
    /// The session if it exists and has not expired at `now`.
    async fn session(&self, token_hash: &str, now: Millis) -> Result<Option<Session>, StoreError>;
    async fn touch_session(
        &self,
        token_hash: &str,
        now: Millis,
        expires_at: Millis,
    ) -> Result<(), StoreError>;
    async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError>;
    async fn delete_user_sessions(&self, user: UserId) -> Result<u64, StoreError>;

    // API tokens, by the hash of the token.
    async fn create_api_token(
        &self,
        user: UserId,
        name: &str,
        token_hash: &str,
        prefix: &str,
        expires_at: Option<Millis>,
    ) -> Result<ApiToken, StoreError>;
    /// The token and its owner if the token is neither revoked nor expired at `now`.
    async fn api_token_by_hash(
        &self,
        token_hash: &str,
        now: Millis,
    ) -> Result<Option<ApiToken>, StoreError>;
    async fn list_api_tokens(&self, user: Option<UserId>) -> Result<Vec<ApiToken>, StoreError>;
    async fn revoke_api_token(&self, id: TokenId, now: Millis) -> Result<ApiToken, StoreError>;

    // Login throttling.
    /// Records a failed login; returns the failures in the current window after this one.
    async fn record_login_failure(
        &self,
        username: &str,
        now: Millis,
        window_ms: i64,
    ) -> Result<i64, StoreError>;
    async fn lock_login(&self, username: &str, until: Millis) -> Result<(), StoreError>;
    async fn login_locked_until(&self, username: &str) -> Result<Option<Millis>, StoreError>;
    async fn clear_login_failures(&self, username: &str) -> Result<(), StoreError>;

    // Settings; secret values are stored sealed with the master key by the caller.
    async fn put_setting(&self, key: &str, value: &str, secret: bool) -> Result<(), StoreError>;
    async fn setting(&self, key: &str) -> Result<Option<String>, StoreError>;

    // Audit log.
    /// Appends an entry to the hash chain; entries are totally ordered by `seq`.
    async fn append_audit(&self, entry: NewAuditEntry) -> Result<AuditEntry, StoreError>;
    /// Newest first.
    async fn list_audit(
        &self,
        filter: &AuditFilter,
        page: Page,
    ) -> Result<Vec<AuditEntry>, StoreError>;
    async fn count_audit(&self, filter: &AuditFilter) -> Result<i64, StoreError>;
    /// Walks the whole chain and names the first entry that was changed, deleted or reordered.
    async fn verify_audit_chain(&self) -> Result<ChainStatus, StoreError>;

    // Collection.
    async fn ingest_checkpoint(
        &self,
        channel: &str,
        source_table: &str,
    ) -> Result<Option<IngestCheckpoint>, StoreError>;
    /// Stores a checkpoint unless a later `seq` is already stored; returns whether it was.
    async fn save_ingest_checkpoint(
        &self,
        channel: &str,
        source_table: &str,
        seq: i64,
        position: Option<&str>,
    ) -> Result<bool, StoreError>;
    async fn start_ingest_run(
        &self,
        channel: &str,
        source_table: &str,
        institution: &str,
        mode: &str,
    ) -> Result<IngestRun, StoreError>;
    /// Records progress (`Running`) or the end of a run.
    async fn update_ingest_run(
        &self,
        id: i64,
        status: RunStatus,
        counts: RunCounts,
        error: Option<&str>,
    ) -> Result<(), StoreError>;
    /// Newest first.
    async fn list_ingest_runs(
        &self,
        filter: &RunFilter,
        page: Page,
    ) -> Result<Vec<IngestRun>, StoreError>;
    async fn count_ingest_runs(&self, filter: &RunFilter) -> Result<i64, StoreError>;
    /// When the oldest batch collection run still running started, if any is running
    /// (streaming channels' runs, mode `stream`, are not counted).
    async fn oldest_running_ingest(&self) -> Result<Option<Millis>, StoreError>;
    /// The columns (as JSON) the channel last saw in a source table.
    async fn source_schema(
        &self,
        channel: &str,
        source_table: &str,
    ) -> Result<Option<String>, StoreError>;
    async fn save_source_schema(
        &self,
        channel: &str,
        source_table: &str,
        columns: &str,
    ) -> Result<(), StoreError>;
    /// Rows written per institution and day (China Standard Time) by runs started since `since`
    /// (a stream's counts go to the day it started).
    async fn daily_run_volume(
        &self,
        since: Millis,
        institution: Option<&str>,
    ) -> Result<Vec<DailyVolume>, StoreError>;

    // Source connections.
    /// Creates the connection, or replaces the definition of the one with the same name.
    async fn save_connection(
        &self,
        new: NewSourceConnection,
    ) -> Result<SourceConnection, StoreError>;
    async fn connection(&self, name: &str) -> Result<Option<SourceConnection>, StoreError>;
    /// By name; one institution's only, when given.
    async fn list_connections(
        &self,
        institution: Option<&str>,
        page: Page,
    ) -> Result<Vec<SourceConnection>, StoreError>;
    async fn delete_connection(&self, name: &str) -> Result<(), StoreError>;

    // Channels, leases and workers.
    /// Creates the channel, or replaces the definition of the one with the same name.
    async fn save_channel(&self, new: NewChannel) -> Result<Channel, StoreError>;
    async fn channel(&self, name: &str) -> Result<Option<Channel>, StoreError>;
    /// By name; one institution's only, when given.
    async fn list_channels(
        &self,
        institution: Option<&str>,
        page: Page,
    ) -> Result<Vec<Channel>, StoreError>;
    /// Removes the channel and its lease; its checkpoints and run history stay.
    async fn delete_channel(&self, name: &str) -> Result<(), StoreError>;
    async fn set_channel_enabled(&self, name: &str, enabled: bool) -> Result<(), StoreError>;
    /// Asks for a run; a request already pending is kept.
    async fn request_channel_run(&self, name: &str, at: Millis) -> Result<(), StoreError>;
    /// Asks the worker running the channel to stop its current run.
    async fn request_channel_cancel(&self, name: &str, at: Millis) -> Result<(), StoreError>;
    /// Drops a cancel request that no run is left to answer.
    async fn clear_channel_cancel(&self, name: &str) -> Result<(), StoreError>;
    /// Records how a run ended; clears the requests made before it started.
    async fn finish_channel_run(
        &self,
        name: &str,
        outcome: &ChannelOutcome,
    ) -> Result<(), StoreError>;
    /// The channel's lease, if no one holds it or its holder let it expire by `now`.
    async fn claim_channel_lease(
        &self,
        channel: &str,
        worker: &str,
        now: Millis,
        ttl_ms: i64,
    ) -> Result<Option<ChannelLease>, StoreError>;
    /// Extends a lease still held under its token; false when it was lost.
    async fn renew_channel_lease(
        &self,
        lease: &ChannelLease,
        now: Millis,
        ttl_ms: i64,
    ) -> Result<bool, StoreError>;
    async fn release_channel_lease(&self, lease: &ChannelLease) -> Result<(), StoreError>;
    /// Leases not expired by `now`.
    async fn live_channel_leases(&self, now: Millis) -> Result<Vec<ChannelLease>, StoreError>;
    /// Records a worker's heartbeat (or its stop) and the channels it runs.
    async fn report_worker(&self, status: &WorkerStatus) -> Result<(), StoreError>;
    /// Workers seen since `since`, most recently seen first.
    async fn list_workers(&self, since: Millis) -> Result<Vec<WorkerStatus>, StoreError>;

    // Link monitoring.
    /// Replaces a channel's reconciliation results.
    async fn save_reconciliation(
        &self,
        channel: &str,
        days: &[ReconciliationDay],
    ) -> Result<(), StoreError>;
    /// Newest days first.
    async fn list_reconciliations(
        &self,
        filter: &ReconciliationFilter,
        page: Page,
    ) -> Result<Vec<ReconciliationDay>, StoreError>;
    async fn count_reconciliations(&self, filter: &ReconciliationFilter)
    -> Result<i64, StoreError>;
    /// Raises the alert, or updates the unresolved one for the same (kind, channel, subject);
    /// the flag says whether it is new.
    async fn raise_alert(&self, new: &NewAlert) -> Result<(Alert, bool), StoreError>;
    /// Resolves this kind's unresolved alerts on the channel whose subject is not in `still`.
    async fn resolve_cleared_alerts(
        &self,
        kind: &str,
        channel: &str,
        still: &[String],
    ) -> Result<u64, StoreError>;
    async fn set_alert_status(
        &self,
        id: i64,
        status: AlertStatus,
        by: Option<&str>,
    ) -> Result<Alert, StoreError>;
    async fn alert(&self, id: i64) -> Result<Option<Alert>, StoreError>;
    /// Newest first.
    async fn list_alerts(&self, filter: &AlertFilter, page: Page)
    -> Result<Vec<Alert>, StoreError>;
    async fn count_alerts(&self, filter: &AlertFilter) -> Result<i64, StoreError>;
    /// Records a link node's latest probe, replacing the one before.
    async fn save_link_status(&self, status: &LinkStatus) -> Result<(), StoreError>;
    /// Every node's latest probe, by channel and node.
    async fn link_statuses(&self) -> Result<Vec<LinkStatus>, StoreError>;
    /// Alerts raised per institution and day (China Standard Time) since `since`, resolved ones
    /// included (`rows` is the count).
    async fn daily_alerts(
        &self,
        since: Millis,
        institution: Option<&str>,
    ) -> Result<Vec<DailyVolume>, StoreError>;
    /// Records one monitoring pass's measures of a channel.
    async fn save_link_sample(&self, sample: &LinkSample) -> Result<(), StoreError>;
    /// Samples taken at or after `since`, one institution's only when given, oldest first.
    async fn link_samples(
        &self,
        since: Millis,
        institution: Option<&str>,
    ) -> Result<Vec<LinkSample>, StoreError>;
    /// Forgets samples taken before `before`; returns how many.
    async fn prune_link_samples(&self, before: Millis) -> Result<u64, StoreError>;

    // Quality control.
    async fn quality_rules(&self) -> Result<Vec<QualityRuleRecord>, StoreError>;
    async fn quality_rule(&self, id: &str) -> Result<Option<QualityRuleRecord>, StoreError>;
    /// Inserts a rule, or makes a changed definition its next version.
    async fn save_quality_rule(
        &self,
        rule: &SaveQualityRule,
    ) -> Result<QualityRuleRecord, StoreError>;
    /// The definition a rule had at `version`.
    async fn quality_rule_version(
        &self,
        id: &str,
        version: i64,
    ) -> Result<Option<String>, StoreError>;
    /// Starts a run; `AlreadyExists` while another is running.
    async fn start_quality_run(
        &self,
        mode: &str,
        requested_by: &str,
    ) -> Result<QualityRun, StoreError>;
    /// Ends a run; a succeeded run's results are saved with it, atomically.
    async fn finish_quality_run(
        &self,
        run_id: i64,
        end: &QualityRunEnd,
        results: &[QualityResult],
    ) -> Result<(), StoreError>;
    /// Marks runs left `running` since before `before` as failed; returns how many.
    async fn fail_stale_quality_runs(&self, before: Millis) -> Result<u64, StoreError>;
    async fn quality_runs(&self, page: Page) -> Result<Vec<QualityRun>, StoreError>;
    async fn last_succeeded_quality_run(&self) -> Result<Option<QualityRun>, StoreError>;
    /// Results of succeeded runs only.
    async fn quality_results(
        &self,
        filter: &QualityResultFilter,
    ) -> Result<Vec<QualityResult>, StoreError>;
    /// Inserts a ticket with its first event; a second open ticket for the same institution
    /// and rule is `AlreadyExists`.
    async fn insert_ticket(
        &self,
        ticket: &Ticket,
        event: &TicketEvent,
    ) -> Result<Ticket, StoreError>;
    /// Saves a ticket if it is still in `expected_state`; false if its state changed meanwhile.
    async fn update_ticket(
        &self,
        ticket: &Ticket,
        expected_state: &str,
        event: Option<&TicketEvent>,
    ) -> Result<bool, StoreError>;
    async fn ticket(&self, id: i64) -> Result<Option<Ticket>, StoreError>;
    async fn open_ticket(
        &self,
        institution: &str,
        rule_id: &str,
    ) -> Result<Option<Ticket>, StoreError>;
    async fn tickets(&self, filter: &TicketFilter, page: Page) -> Result<Vec<Ticket>, StoreError>;
    async fn ticket_events(&self, id: i64) -> Result<Vec<TicketEvent>, StoreError>;

    // Notifications.
    /// Saves a notification with one pending delivery per (channel, target).
    async fn add_notification(
        &self,
        notification: &Notification,
        deliveries: &[(String, String)],
    ) -> Result<Notification, StoreError>;
    /// Newest first: managers' (audience managers or both), and an institution's providers'.
    async fn notifications_for(
        &self,
        manager: bool,
        institution: Option<&str>,
        page: Page,
    ) -> Result<Vec<Notification>, StoreError>;
    /// Pending deliveries due at `now`, oldest first, with their notifications.
    async fn due_deliveries(
        &self,
        now: Millis,
        limit: i64,
    ) -> Result<Vec<(Delivery, Notification)>, StoreError>;
    /// An attempt's outcome: sent (no error), retried at `retry_at`, or given up.
    async fn record_delivery(
        &self,
        id: i64,
        error: Option<&str>,
        retry_at: Option<Millis>,
    ) -> Result<(), StoreError>;
    async fn deliveries_of(&self, notification_id: i64) -> Result<Vec<Delivery>, StoreError>;
    async fn set_user_email(&self, id: UserId, email: Option<&str>) -> Result<(), StoreError>;
    /// E-mail addresses of enabled users holding `role`, of `institution` when given.
    async fn emails_of(
        &self,
        role: Role,
        institution: Option<&str>,
    ) -> Result<Vec<String>, StoreError>;
}
