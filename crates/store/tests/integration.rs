//! The metadata store's conformance suite: every test runs on SQLite and on PostgreSQL.
//! PostgreSQL runs when HDOS_TEST_POSTGRES_URL is set (scripts/test sets it and also sets
//! HDOS_REQUIRE_POSTGRES=1, which turns a missing server into a failure instead of a skip).

mod suite;

use anyhow::{Context, Result, bail};
use hdos_store::{ConnectOptions, SqlStore};

/// A store on a fresh SQLite file; the directory lives as long as the guard.
async fn sqlite() -> Result<(SqlStore, tempfile::TempDir)> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("hdos.db").display());
    Ok((
        SqlStore::connect(&url, &ConnectOptions::default()).await?,
        dir,
    ))
}

/// A store on a fresh PostgreSQL database, or None when no server is configured.
async fn postgres() -> Result<Option<(SqlStore, ())>> {
    let Ok(admin_url) = std::env::var("HDOS_TEST_POSTGRES_URL") else {
        if std::env::var("HDOS_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
            bail!("HDOS_REQUIRE_POSTGRES=1 but HDOS_TEST_POSTGRES_URL is not set");
        }
        eprintln!("skipped: HDOS_TEST_POSTGRES_URL is not set");
        return Ok(None);
    };
    let name = format!("hdos_t_{}", uuid::Uuid::new_v4().simple());
    let admin = sqlx::PgPool::connect(&admin_url)
        .await
        .context("connecting to the test PostgreSQL")?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin)
        .await?;
    admin.close().await;
    let mut url = url::Url::parse(&admin_url)?;
    url.set_path(&name);
    Ok(Some((
        SqlStore::connect(url.as_str(), &ConnectOptions::default()).await?,
        (),
    )))
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test]
                async fn $name() -> anyhow::Result<()> {
                    let (store, _dir) = super::sqlite().await?;
                    super::suite::$name(&store).await
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test]
                async fn $name() -> anyhow::Result<()> {
                    let Some((store, ())) = super::postgres().await? else { return Ok(()) };
                    super::suite::$name(&store).await
                }
            )*
        }
    };
}

conformance!(
    institutions_are_created_listed_and_unique,
    users_are_hashed_scoped_and_unique,
    disabling_a_user_ends_their_sessions,
    sessions_expire,
    api_tokens_are_found_by_hash_until_revoked_or_expired,
    login_failures_count_within_a_window_and_lock,
    settings_are_upserted,
    ingest_checkpoints_only_move_forward,
    ingest_runs_record_progress_and_outcome,
    audit_entries_chain_and_filter,
    audit_log_refuses_updates_and_deletes,
    an_edited_audit_entry_is_named,
    a_deleted_audit_entry_is_named,
    reordered_audit_entries_are_named,
    removing_the_newest_audit_entries_is_named,
    concurrent_audit_appends_keep_one_chain,
    injection_text_is_stored_as_text,
    source_connections_are_saved_listed_and_removed,
    channels_are_saved_requested_and_finished,
    a_channel_lease_has_one_holder_at_a_time,
    workers_report_what_they_run,
    reconciliations_replace_a_channels_days_and_list_mismatches,
    an_alert_is_raised_once_until_resolved,
    daily_volume_sums_runs_by_institution_and_day,
    link_samples_are_kept_listed_by_institution_and_pruned,
    alerts_are_counted_per_institution_and_day,
    quality_rules_keep_every_version,
    concurrent_rule_saves_all_succeed,
    quality_results_are_kept_only_for_succeeded_runs,
    one_ticket_stays_open_per_institution_and_rule,
    the_oldest_running_batch_run_is_found_and_streams_are_not,
    notifications_reach_their_audience_and_deliveries_retry,
);

#[tokio::test]
async fn an_unreachable_postgres_is_a_clear_error_after_retries() -> Result<()> {
    let opts = ConnectOptions {
        connect_attempts: 2,
        first_backoff: std::time::Duration::from_millis(50),
        ..ConnectOptions::default()
    };
    // Port 9 (discard) on loopback: nothing listens there.
    let err = SqlStore::connect("postgres://hdos:secret@127.0.0.1:9/hdos", &opts)
        .await
        .err()
        .context("connecting to nothing succeeded")?;
    let text = err.to_string();
    assert!(text.contains("after 2 attempts"), "{text}");
    assert!(
        !text.contains("secret"),
        "the password is not shown: {text}"
    );
    assert_eq!(err.kind(), hdos_core::ErrorKind::Unavailable);
    Ok(())
}

#[tokio::test]
async fn an_unknown_url_scheme_is_refused() {
    let err = SqlStore::connect("mysql://x", &ConnectOptions::default())
        .await
        .err();
    assert!(
        matches!(err, Some(hdos_store::StoreError::UnsupportedUrl(_))),
        "{err:?}"
    );
}
