//! [`SqlStore`]: the metadata store on SQLite or PostgreSQL. Queries are written once, with `$n`
//! placeholders that both databases accept, and run on whichever pool the URL chose.

mod accounts;
mod audit;
mod channels;
mod connections;
mod ingest;
mod institutions;
mod monitoring;
mod notify;
mod quality;
mod settings;

use crate::{
    Backend, ChainStatus, MetaStore, StoreError,
    model::{
        Alert, AlertFilter, AlertStatus, ApiToken, AuditEntry, AuditFilter, Channel, ChannelLease,
        ChannelOutcome, DailyVolume, IngestCheckpoint, IngestRun, Institution, LinkSample,
        LinkStatus, Millis, NewAlert, NewAuditEntry, NewChannel, NewInstitution,
        NewSourceConnection, NewUser, Page, ReconciliationDay, ReconciliationFilter, RunCounts,
        RunFilter, RunStatus, Session, SourceConnection, User, WorkerStatus,
    },
    notify::{Delivery, Notification},
    quality::{
        QualityResult, QualityResultFilter, QualityRuleRecord, QualityRun, QualityRunEnd,
        SaveQualityRule, Ticket, TicketEvent, TicketFilter,
    },
    secret::Secret,
};
use async_trait::async_trait;
use hdos_core::{InstitutionId, Role, TokenId, UserId};
use sqlx::{
    Connection, PgConnection, PgPool, SqlitePool,
    postgres::{PgConnectOptions, PgPoolOptions},
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};
use std::{str::FromStr, time::Duration};

/// Runs `$body` with `$pool` bound to whichever pool the store has. The body is compiled once per
/// backend, so the same query text and row types serve both.
macro_rules! on_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::sql::Db::Sqlite($pool) => $body,
            $crate::sql::Db::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

#[derive(Debug, Clone)]
pub(crate) enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Db {
    /// The statement beginning a transaction that writes. On SQLite it takes the write lock at
    /// once: a deferred transaction that reads and then writes fails outright when another
    /// writer committed in between (SQLITE_BUSY_SNAPSHOT, which no busy timeout waits out).
    pub(crate) fn begin_write(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "BEGIN IMMEDIATE",
            Self::Postgres(_) => "BEGIN",
        }
    }
}

/// How to connect: retries with exponential backoff cover a database that starts after hdos.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub max_connections: u32,
    pub connect_attempts: u32,
    pub first_backoff: Duration,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            connect_attempts: 6,
            first_backoff: Duration::from_millis(500),
        }
    }
}

#[derive(Debug, Clone)]
pub struct SqlStore {
    db: Db,
    /// Serialises audit appends inside this process; PostgreSQL also takes an advisory lock so
    /// several processes append in one order.
    audit_lock: std::sync::Arc<tokio::sync::Mutex<()>>,
}

impl SqlStore {
    /// Connects to `sqlite://…` or `postgres://…` and applies pending migrations.
    pub async fn connect(url: &str, opts: &ConnectOptions) -> Result<Self, StoreError> {
        let db = if url.starts_with("sqlite:") {
            Db::Sqlite(connect_sqlite(url, opts).await?)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Db::Postgres(connect_postgres(url, opts).await?)
        } else {
            return Err(StoreError::UnsupportedUrl(redact_url(url)));
        };
        let store = Self {
            db,
            audit_lock: Default::default(),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Applies the migrations of this backend that have not run yet.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match &self.db {
            Db::Sqlite(p) => sqlx::migrate!("migrations/sqlite").run(p).await?,
            Db::Postgres(p) => sqlx::migrate!("migrations/postgres").run(p).await?,
        }
        Ok(())
    }

    /// Runs raw SQL; for tests that play an attacker with direct database access.
    #[doc(hidden)]
    pub async fn execute_raw(&self, sql: &str) -> Result<u64, StoreError> {
        on_pool!(&self.db, p => Ok(sqlx::raw_sql(sql).execute(p).await?.rows_affected()))
    }
}

async fn connect_sqlite(url: &str, opts: &ConnectOptions) -> Result<SqlitePool, StoreError> {
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|_| StoreError::UnsupportedUrl(url.to_owned()))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10));
    SqlitePoolOptions::new()
        .max_connections(opts.max_connections)
        .connect_with(options)
        .await
        .map_err(|source| StoreError::Unreachable {
            target: url.to_owned(),
            attempts: 1,
            source,
        })
}

async fn connect_postgres(url: &str, opts: &ConnectOptions) -> Result<PgPool, StoreError> {
    let mut backoff = opts.first_backoff;
    let attempts = opts.connect_attempts.max(1);
    let mut attempt = 1;
    let connect_opts =
        PgConnectOptions::from_str(url).map_err(|source| StoreError::Unreachable {
            target: redact_url(url),
            attempts: 0,
            source,
        })?;
    loop {
        // One direct connection first: it fails at once when nothing listens, where a pool
        // would keep retrying until its acquire timeout.
        let result = match PgConnection::connect_with(&connect_opts).await {
            Ok(conn) => {
                let _ = conn.close().await;
                PgPoolOptions::new()
                    .max_connections(opts.max_connections)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(connect_opts.clone())
                    .await
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(pool) => return Ok(pool),
            Err(source) if attempt >= attempts || !is_transient(&source) => {
                return Err(StoreError::Unreachable {
                    target: redact_url(url),
                    attempts: attempt,
                    source,
                });
            }
            Err(e) => {
                tracing::warn!(attempt, error = %e, retry_in_ms = backoff.as_millis() as u64, "postgresql not reachable yet");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
                attempt += 1;
            }
        }
    }
}

/// Errors worth retrying at start-up: the server may still be starting.
fn is_transient(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut)
        || matches!(e, sqlx::Error::Database(db) if db.code().as_deref() == Some("57P03"))
}

/// The URL without its password, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

#[async_trait]
impl MetaStore for SqlStore {
    fn backend(&self) -> Backend {
        match self.db {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    async fn ping(&self) -> Result<(), StoreError> {
        on_pool!(&self.db, p => sqlx::query("SELECT 1").execute(p).await.map(|_| ()).map_err(StoreError::from))
    }

    async fn create_institution(&self, new: NewInstitution) -> Result<Institution, StoreError> {
        institutions::create(&self.db, new).await
    }
    async fn institution(&self, id: InstitutionId) -> Result<Institution, StoreError> {
        institutions::get(&self.db, id).await
    }
    async fn institution_by_code(&self, code: &str) -> Result<Option<Institution>, StoreError> {
        institutions::by_code(&self.db, code).await
    }
    async fn list_institutions(&self, page: Page) -> Result<Vec<Institution>, StoreError> {
        institutions::list(&self.db, page).await
    }
    async fn count_institutions(&self) -> Result<i64, StoreError> {
        institutions::count(&self.db).await
    }

    async fn create_user(&self, new: NewUser) -> Result<User, StoreError> {
        accounts::create_user(&self.db, new).await
    }
    async fn user(&self, id: UserId) -> Result<User, StoreError> {
        accounts::user(&self.db, id).await
    }
    async fn user_by_name(&self, username: &str) -> Result<Option<User>, StoreError> {
        accounts::user_by_name(&self.db, username).await
    }
    async fn list_users(&self, page: Page) -> Result<Vec<User>, StoreError> {
        accounts::list_users(&self.db, page).await
    }
    async fn count_users(&self) -> Result<i64, StoreError> {
        accounts::count_users(&self.db).await
    }
    async fn set_password(&self, id: UserId, password: &Secret) -> Result<(), StoreError> {
        accounts::set_password(&self.db, id, password).await
    }
    async fn set_disabled(&self, id: UserId, disabled: bool) -> Result<(), StoreError> {
        accounts::set_disabled(&self.db, id, disabled).await
    }
    async fn set_roles(
        &self,
        id: UserId,
        roles: &[Role],
        institution: Option<InstitutionId>,
    ) -> Result<(), StoreError> {
        accounts::set_roles(&self.db, id, roles, institution).await
    }

    async fn create_session(&self, token_hash: &str, session: &Session) -> Result<(), StoreError> {
        accounts::create_session(&self.db, token_hash, session).await
    }
    async fn session(&self, token_hash: &str, now: Millis) -> Result<Option<Session>, StoreError> {
        accounts::session(&self.db, token_hash, now).await
    }
    async fn touch_session(
        &self,
        token_hash: &str,
        now: Millis,
        expires_at: Millis,
    ) -> Result<(), StoreError> {
        accounts::touch_session(&self.db, token_hash, now, expires_at).await
    }
    async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError> {
        accounts::delete_session(&self.db, token_hash).await
    }
    async fn delete_user_sessions(&self, user: UserId) -> Result<u64, StoreError> {
        accounts::delete_user_sessions(&self.db, user).await
    }

    async fn create_api_token(
        &self,
        user: UserId,
        name: &str,
        token_hash: &str,
        prefix: &str,
        expires_at: Option<Millis>,
    ) -> Result<ApiToken, StoreError> {
        accounts::create_api_token(&self.db, user, name, token_hash, prefix, expires_at).await
    }
    async fn api_token_by_hash(
        &self,
        token_hash: &str,
        now: Millis,
    ) -> Result<Option<ApiToken>, StoreError> {
        accounts::api_token_by_hash(&self.db, token_hash, now).await
    }
    async fn list_api_tokens(&self, user: Option<UserId>) -> Result<Vec<ApiToken>, StoreError> {
        accounts::list_api_tokens(&self.db, user).await
    }
    async fn revoke_api_token(&self, id: TokenId, now: Millis) -> Result<ApiToken, StoreError> {
        accounts::revoke_api_token(&self.db, id, now).await
    }

    async fn record_login_failure(
        &self,
        username: &str,
        now: Millis,
        window_ms: i64,
    ) -> Result<i64, StoreError> {
        accounts::record_login_failure(&self.db, username, now, window_ms).await
    }
    async fn lock_login(&self, username: &str, until: Millis) -> Result<(), StoreError> {
        accounts::lock_login(&self.db, username, until).await
    }
    async fn login_locked_until(&self, username: &str) -> Result<Option<Millis>, StoreError> {
        accounts::login_locked_until(&self.db, username).await
    }
    async fn clear_login_failures(&self, username: &str) -> Result<(), StoreError> {
        accounts::clear_login_failures(&self.db, username).await
    }

    async fn put_setting(&self, key: &str, value: &str, secret: bool) -> Result<(), StoreError> {
        settings::put(&self.db, key, value, secret).await
    }
    async fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        settings::get(&self.db, key).await
    }

    async fn append_audit(&self, entry: NewAuditEntry) -> Result<AuditEntry, StoreError> {
        let _guard = self.audit_lock.lock().await;
        audit::append(&self.db, entry).await
    }
    async fn list_audit(
        &self,
        filter: &AuditFilter,
        page: Page,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        audit::list(&self.db, filter, page).await
    }
    async fn count_audit(&self, filter: &AuditFilter) -> Result<i64, StoreError> {
        audit::count(&self.db, filter).await
    }
    async fn verify_audit_chain(&self) -> Result<ChainStatus, StoreError> {
        audit::verify(&self.db).await
    }

    async fn ingest_checkpoint(
        &self,
        channel: &str,
        source_table: &str,
    ) -> Result<Option<IngestCheckpoint>, StoreError> {
        ingest::checkpoint(&self.db, channel, source_table).await
    }

    async fn save_ingest_checkpoint(
        &self,
        channel: &str,
        source_table: &str,
        seq: i64,
        position: Option<&str>,
    ) -> Result<bool, StoreError> {
        ingest::save_checkpoint(&self.db, channel, source_table, seq, position).await
    }

    async fn start_ingest_run(
        &self,
        channel: &str,
        source_table: &str,
        institution: &str,
        mode: &str,
    ) -> Result<IngestRun, StoreError> {
        ingest::start_run(&self.db, channel, source_table, institution, mode).await
    }

    async fn update_ingest_run(
        &self,
        id: i64,
        status: RunStatus,
        counts: RunCounts,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        ingest::update_run(&self.db, id, status, counts, error).await
    }

    async fn list_ingest_runs(
        &self,
        filter: &RunFilter,
        page: Page,
    ) -> Result<Vec<IngestRun>, StoreError> {
        ingest::list_runs(&self.db, filter, page).await
    }

    async fn count_ingest_runs(&self, filter: &RunFilter) -> Result<i64, StoreError> {
        ingest::count_runs(&self.db, filter).await
    }

    async fn oldest_running_ingest(&self) -> Result<Option<Millis>, StoreError> {
        ingest::oldest_running_ingest(&self.db).await
    }

    async fn source_schema(
        &self,
        channel: &str,
        source_table: &str,
    ) -> Result<Option<String>, StoreError> {
        ingest::source_schema(&self.db, channel, source_table).await
    }

    async fn save_source_schema(
        &self,
        channel: &str,
        source_table: &str,
        columns: &str,
    ) -> Result<(), StoreError> {
        ingest::save_source_schema(&self.db, channel, source_table, columns).await
    }

    async fn daily_run_volume(
        &self,
        since: Millis,
        institution: Option<&str>,
    ) -> Result<Vec<DailyVolume>, StoreError> {
        ingest::daily_volume(&self.db, since, institution).await
    }

    async fn save_connection(
        &self,
        new: NewSourceConnection,
    ) -> Result<SourceConnection, StoreError> {
        connections::save(&self.db, new).await
    }

    async fn connection(&self, name: &str) -> Result<Option<SourceConnection>, StoreError> {
        connections::by_name(&self.db, name).await
    }

    async fn list_connections(
        &self,
        institution: Option<&str>,
        page: Page,
    ) -> Result<Vec<SourceConnection>, StoreError> {
        connections::list(&self.db, institution, page).await
    }

    async fn delete_connection(&self, name: &str) -> Result<(), StoreError> {
        connections::delete(&self.db, name).await
    }

    async fn save_channel(&self, new: NewChannel) -> Result<Channel, StoreError> {
        channels::save(&self.db, new).await
    }

    async fn channel(&self, name: &str) -> Result<Option<Channel>, StoreError> {
        channels::by_name(&self.db, name).await
    }

    async fn list_channels(
        &self,
        institution: Option<&str>,
        page: Page,
    ) -> Result<Vec<Channel>, StoreError> {
        channels::list(&self.db, institution, page).await
    }

    async fn delete_channel(&self, name: &str) -> Result<(), StoreError> {
        channels::delete(&self.db, name).await
    }

    async fn set_channel_enabled(&self, name: &str, enabled: bool) -> Result<(), StoreError> {
        channels::set_enabled(&self.db, name, enabled).await
    }

    async fn request_channel_run(&self, name: &str, at: Millis) -> Result<(), StoreError> {
        channels::request_run(&self.db, name, at).await
    }

    async fn request_channel_cancel(&self, name: &str, at: Millis) -> Result<(), StoreError> {
        channels::request_cancel(&self.db, name, at).await
    }

    async fn clear_channel_cancel(&self, name: &str) -> Result<(), StoreError> {
        channels::clear_cancel(&self.db, name).await
    }

    async fn finish_channel_run(
        &self,
        name: &str,
        outcome: &ChannelOutcome,
    ) -> Result<(), StoreError> {
        channels::finish_run(&self.db, name, outcome).await
    }

    async fn claim_channel_lease(
        &self,
        channel: &str,
        worker: &str,
        now: Millis,
        ttl_ms: i64,
    ) -> Result<Option<ChannelLease>, StoreError> {
        channels::claim_lease(&self.db, channel, worker, now, ttl_ms).await
    }

    async fn renew_channel_lease(
        &self,
        lease: &ChannelLease,
        now: Millis,
        ttl_ms: i64,
    ) -> Result<bool, StoreError> {
        channels::renew_lease(&self.db, lease, now, ttl_ms).await
    }

    async fn release_channel_lease(&self, lease: &ChannelLease) -> Result<(), StoreError> {
        channels::release_lease(&self.db, lease).await
    }

    async fn live_channel_leases(&self, now: Millis) -> Result<Vec<ChannelLease>, StoreError> {
        channels::live_leases(&self.db, now).await
    }

    async fn report_worker(&self, status: &WorkerStatus) -> Result<(), StoreError> {
        channels::report_worker(&self.db, status).await
    }

    async fn list_workers(&self, since: Millis) -> Result<Vec<WorkerStatus>, StoreError> {
        channels::workers(&self.db, since).await
    }

    async fn save_reconciliation(
        &self,
        channel: &str,
        days: &[ReconciliationDay],
    ) -> Result<(), StoreError> {
        monitoring::save_reconciliation(&self.db, channel, days).await
    }

    async fn list_reconciliations(
        &self,
        filter: &ReconciliationFilter,
        page: Page,
    ) -> Result<Vec<ReconciliationDay>, StoreError> {
        monitoring::list_reconciliations(&self.db, filter, page).await
    }

    async fn count_reconciliations(
        &self,
        filter: &ReconciliationFilter,
    ) -> Result<i64, StoreError> {
        monitoring::count_reconciliations(&self.db, filter).await
    }

    async fn raise_alert(&self, new: &NewAlert) -> Result<(Alert, bool), StoreError> {
        monitoring::raise_alert(&self.db, new).await
    }

    async fn resolve_cleared_alerts(
        &self,
        kind: &str,
        channel: &str,
        still: &[String],
    ) -> Result<u64, StoreError> {
        monitoring::resolve_cleared(&self.db, kind, channel, still).await
    }

    async fn set_alert_status(
        &self,
        id: i64,
        status: AlertStatus,
        by: Option<&str>,
    ) -> Result<Alert, StoreError> {
        monitoring::set_status(&self.db, id, status, by).await
    }

    async fn alert(&self, id: i64) -> Result<Option<Alert>, StoreError> {
        monitoring::alert(&self.db, id).await
    }

    async fn list_alerts(
        &self,
        filter: &AlertFilter,
        page: Page,
    ) -> Result<Vec<Alert>, StoreError> {
        monitoring::list_alerts(&self.db, filter, page).await
    }

    async fn count_alerts(&self, filter: &AlertFilter) -> Result<i64, StoreError> {
        monitoring::count_alerts(&self.db, filter).await
    }

    async fn save_link_status(&self, status: &LinkStatus) -> Result<(), StoreError> {
        monitoring::save_link_status(&self.db, status).await
    }

    async fn link_statuses(&self) -> Result<Vec<LinkStatus>, StoreError> {
        monitoring::link_statuses(&self.db).await
    }

    async fn daily_alerts(
        &self,
        since: Millis,
        institution: Option<&str>,
    ) -> Result<Vec<DailyVolume>, StoreError> {
        monitoring::daily_alerts(&self.db, since, institution).await
    }

    async fn save_link_sample(&self, sample: &LinkSample) -> Result<(), StoreError> {
        monitoring::save_link_sample(&self.db, sample).await
    }

    async fn link_samples(
        &self,
        since: Millis,
        institution: Option<&str>,
    ) -> Result<Vec<LinkSample>, StoreError> {
        monitoring::link_samples(&self.db, since, institution).await
    }

    async fn prune_link_samples(&self, before: Millis) -> Result<u64, StoreError> {
        monitoring::prune_link_samples(&self.db, before).await
    }

    async fn quality_rules(&self) -> Result<Vec<QualityRuleRecord>, StoreError> {
        quality::quality_rules(&self.db).await
    }

    async fn quality_rule(&self, id: &str) -> Result<Option<QualityRuleRecord>, StoreError> {
        quality::quality_rule(&self.db, id).await
    }

    async fn save_quality_rule(
        &self,
        rule: &SaveQualityRule,
    ) -> Result<QualityRuleRecord, StoreError> {
        quality::save_quality_rule(&self.db, rule).await
    }

    async fn quality_rule_version(
        &self,
        id: &str,
        version: i64,
    ) -> Result<Option<String>, StoreError> {
        quality::quality_rule_version(&self.db, id, version).await
    }

    async fn start_quality_run(
        &self,
        mode: &str,
        requested_by: &str,
    ) -> Result<QualityRun, StoreError> {
        quality::start_quality_run(&self.db, mode, requested_by).await
    }

    async fn finish_quality_run(
        &self,
        run_id: i64,
        end: &QualityRunEnd,
        results: &[QualityResult],
    ) -> Result<(), StoreError> {
        quality::finish_quality_run(&self.db, run_id, end, results).await
    }

    async fn fail_stale_quality_runs(&self, before: Millis) -> Result<u64, StoreError> {
        quality::fail_stale_quality_runs(&self.db, before).await
    }

    async fn quality_runs(&self, page: Page) -> Result<Vec<QualityRun>, StoreError> {
        quality::quality_runs(&self.db, page).await
    }

    async fn last_succeeded_quality_run(&self) -> Result<Option<QualityRun>, StoreError> {
        quality::last_succeeded_quality_run(&self.db).await
    }

    async fn quality_results(
        &self,
        filter: &QualityResultFilter,
    ) -> Result<Vec<QualityResult>, StoreError> {
        quality::quality_results(&self.db, filter).await
    }

    async fn insert_ticket(
        &self,
        ticket: &Ticket,
        event: &TicketEvent,
    ) -> Result<Ticket, StoreError> {
        quality::insert_ticket(&self.db, ticket, event).await
    }

    async fn update_ticket(
        &self,
        ticket: &Ticket,
        expected_state: &str,
        event: Option<&TicketEvent>,
    ) -> Result<bool, StoreError> {
        quality::update_ticket(&self.db, ticket, expected_state, event).await
    }

    async fn ticket(&self, id: i64) -> Result<Option<Ticket>, StoreError> {
        quality::ticket(&self.db, id).await
    }

    async fn open_ticket(
        &self,
        institution: &str,
        rule_id: &str,
    ) -> Result<Option<Ticket>, StoreError> {
        quality::open_ticket(&self.db, institution, rule_id).await
    }

    async fn tickets(&self, filter: &TicketFilter, page: Page) -> Result<Vec<Ticket>, StoreError> {
        quality::tickets(&self.db, filter, page).await
    }

    async fn ticket_events(&self, id: i64) -> Result<Vec<TicketEvent>, StoreError> {
        quality::ticket_events(&self.db, id).await
    }

    async fn add_notification(
        &self,
        notification: &Notification,
        deliveries: &[(String, String)],
    ) -> Result<Notification, StoreError> {
        notify::add_notification(&self.db, notification, deliveries).await
    }

    async fn notifications_for(
        &self,
        manager: bool,
        institution: Option<&str>,
        page: Page,
    ) -> Result<Vec<Notification>, StoreError> {
        notify::notifications_for(&self.db, manager, institution, page).await
    }

    async fn due_deliveries(
        &self,
        now: Millis,
        limit: i64,
    ) -> Result<Vec<(Delivery, Notification)>, StoreError> {
        notify::due_deliveries(&self.db, now, limit).await
    }

    async fn record_delivery(
        &self,
        id: i64,
        error: Option<&str>,
        retry_at: Option<Millis>,
    ) -> Result<(), StoreError> {
        notify::record_delivery(&self.db, id, error, retry_at).await
    }

    async fn deliveries_of(&self, notification_id: i64) -> Result<Vec<Delivery>, StoreError> {
        notify::deliveries_of(&self.db, notification_id).await
    }

    async fn set_user_email(&self, id: UserId, email: Option<&str>) -> Result<(), StoreError> {
        notify::set_user_email(&self.db, id, email).await
    }

    async fn emails_of(
        &self,
        role: Role,
        institution: Option<&str>,
    ) -> Result<Vec<String>, StoreError> {
        notify::emails_of(&self.db, role.as_str(), institution).await
    }
}
