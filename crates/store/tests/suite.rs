//! The conformance tests, written once against `MetaStore`.

use anyhow::{Context, Result, ensure};
use hdos_core::{ErrorKind, InstitutionId, Role};
use hdos_store::{
    AuditFilter, Backend, ChainProblem, LinkSample, MetaStore, NewAuditEntry, NewInstitution,
    NewUser, Outcome, Page, RunCounts, RunFilter, RunStatus, Secret, Session, SqlStore, now_millis,
};

fn institution(code: &str) -> NewInstitution {
    NewInstitution {
        code: code.into(),
        name: format!("医院 {code}"),
        grade: "三级".into(),
        kind: "综合医院".into(),
        region_code: "330106".into(),
    }
}

fn user(name: &str, roles: Vec<Role>, institution_id: Option<InstitutionId>) -> NewUser {
    NewUser {
        username: name.into(),
        display_name: format!("{name} 姓名"),
        password: Secret::new("correct horse battery"),
        roles,
        institution_id,
        must_change_password: false,
    }
}

fn entry(actor: &str, action: &str) -> NewAuditEntry {
    NewAuditEntry {
        actor_id: None,
        actor_name: actor.into(),
        action: action.into(),
        target: "t".into(),
        outcome: Outcome::Success,
        ip: "127.0.0.1".into(),
        detail: serde_json::json!({"k": "v"}),
    }
}

pub async fn institutions_are_created_listed_and_unique(s: &SqlStore) -> Result<()> {
    for i in 0..7 {
        s.create_institution(institution(&format!("12330000MB{i:07}X")))
            .await?;
    }
    let err = s
        .create_institution(institution("12330000MB0000003X"))
        .await
        .err();
    ensure!(err.map(|e| e.kind()) == Some(ErrorKind::AlreadyExists));
    ensure!(s.count_institutions().await? == 7);
    let page = s.list_institutions(Page::new(3, 3)).await?;
    ensure!(page.len() == 3 && page[0].code == "12330000MB0000003X");
    let one = s
        .institution_by_code("12330000MB0000005X")
        .await?
        .context("by code")?;
    ensure!(s.institution(one.id).await? == one);
    ensure!(
        s.institution(InstitutionId(9999))
            .await
            .err()
            .map(|e| e.kind())
            == Some(ErrorKind::NotFound)
    );
    Ok(())
}

pub async fn users_are_hashed_scoped_and_unique(s: &SqlStore) -> Result<()> {
    let hospital = s
        .create_institution(institution("12330000MB0000001X"))
        .await?;
    let u = s
        .create_user(user("alice", vec![Role::Manager, Role::Auditor], None))
        .await?;
    ensure!(u.password_hash.starts_with("$argon2id$"));
    ensure!(!u.password_hash.contains("correct horse"));
    ensure!(u.has_role(Role::Auditor) && !u.has_role(Role::Admin));
    let again = s
        .create_user(user("alice", vec![Role::User], None))
        .await
        .err();
    ensure!(again.map(|e| e.kind()) == Some(ErrorKind::AlreadyExists));
    let unscoped = s
        .create_user(user("bob", vec![Role::Provider], None))
        .await
        .err();
    ensure!(unscoped.map(|e| e.kind()) == Some(ErrorKind::InvalidInput));
    let bob = s
        .create_user(user("bob", vec![Role::Provider], Some(hospital.id)))
        .await?;
    ensure!(bob.institution_id == Some(hospital.id));
    let bad_name = s
        .create_user(user("a b", vec![Role::User], None))
        .await
        .err();
    ensure!(bad_name.map(|e| e.kind()) == Some(ErrorKind::InvalidInput));
    ensure!(s.user_by_name("alice").await?.map(|x| x.id) == Some(u.id));
    ensure!(s.user_by_name("nobody").await?.is_none());
    s.set_password(u.id, &Secret::new("another long password"))
        .await?;
    let changed = s.user(u.id).await?;
    ensure!(changed.password_hash != u.password_hash);
    ensure!(hdos_store::password::verify_password(
        "another long password",
        &changed.password_hash
    ));
    s.set_roles(u.id, &[Role::Admin], None).await?;
    ensure!(s.user(u.id).await?.roles == vec![Role::Admin]);
    ensure!(s.count_users().await? == 2);
    ensure!(s.list_users(Page::new(1, 1)).await?[0].username == "bob");
    Ok(())
}

fn session(user: hdos_core::UserId, expires_at: i64) -> Session {
    let now = now_millis();
    Session {
        user_id: user,
        csrf_token: "csrf".into(),
        created_at: now,
        expires_at,
        last_seen_at: now,
    }
}

pub async fn disabling_a_user_ends_their_sessions(s: &SqlStore) -> Result<()> {
    let u = s.create_user(user("carol", vec![Role::User], None)).await?;
    let later = now_millis() + 60_000;
    s.create_session("h1", &session(u.id, later)).await?;
    s.create_session("h2", &session(u.id, later)).await?;
    ensure!(s.session("h1", now_millis()).await?.is_some());
    s.set_disabled(u.id, true).await?;
    ensure!(s.user(u.id).await?.disabled);
    ensure!(s.session("h1", now_millis()).await?.is_none());
    ensure!(s.session("h2", now_millis()).await?.is_none());
    s.set_disabled(u.id, false).await?;
    ensure!(!s.user(u.id).await?.disabled);
    Ok(())
}

pub async fn sessions_expire(s: &SqlStore) -> Result<()> {
    let u = s.create_user(user("dave", vec![Role::User], None)).await?;
    let now = now_millis();
    s.create_session("old", &session(u.id, now - 1)).await?;
    ensure!(
        s.session("old", now).await?.is_none(),
        "an expired session is not returned"
    );
    s.create_session("live", &session(u.id, now + 1_000))
        .await?;
    s.touch_session("live", now, now + 10_000).await?;
    let live = s
        .session("live", now + 5_000)
        .await?
        .context("touched session")?;
    ensure!(live.expires_at == now + 10_000 && live.csrf_token == "csrf");
    s.delete_session("live").await?;
    ensure!(s.session("live", now).await?.is_none());
    Ok(())
}

pub async fn api_tokens_are_found_by_hash_until_revoked_or_expired(s: &SqlStore) -> Result<()> {
    let u = s
        .create_user(user("machine", vec![Role::Manager], None))
        .await?;
    let now = now_millis();
    let t = s
        .create_api_token(u.id, "etl", "hash-a", "hdos_abc", None)
        .await?;
    let found = s.api_token_by_hash("hash-a", now).await?.context("token")?;
    ensure!(found.id == t.id && found.last_used_at == Some(now));
    ensure!(s.api_token_by_hash("hash-x", now).await?.is_none());
    s.revoke_api_token(t.id, now).await?;
    ensure!(
        s.api_token_by_hash("hash-a", now).await?.is_none(),
        "revoked"
    );
    s.create_api_token(u.id, "short", "hash-b", "hdos_def", Some(now + 10))
        .await?;
    ensure!(s.api_token_by_hash("hash-b", now).await?.is_some());
    ensure!(
        s.api_token_by_hash("hash-b", now + 11).await?.is_none(),
        "expired"
    );
    ensure!(s.list_api_tokens(Some(u.id)).await?.len() == 2);
    ensure!(
        s.create_api_token(u.id, " ", "hash-c", "p", None)
            .await
            .is_err()
    );
    Ok(())
}

pub async fn login_failures_count_within_a_window_and_lock(s: &SqlStore) -> Result<()> {
    let t0 = 1_000_000;
    ensure!(s.record_login_failure("eve", t0, 100).await? == 1);
    ensure!(s.record_login_failure("eve", t0 + 50, 100).await? == 2);
    ensure!(
        s.record_login_failure("eve", t0 + 500, 100).await? == 1,
        "a new window"
    );
    ensure!(s.login_locked_until("eve").await?.is_none());
    let until = now_millis() + 60_000;
    s.lock_login("eve", until).await?;
    ensure!(s.login_locked_until("eve").await? == Some(until));
    s.clear_login_failures("eve").await?;
    ensure!(s.login_locked_until("eve").await?.is_none());
    Ok(())
}

pub async fn settings_are_upserted(s: &SqlStore) -> Result<()> {
    ensure!(s.setting("smtp.host").await?.is_none());
    s.put_setting("smtp.host", "mail.local", false).await?;
    s.put_setting("smtp.host", "mail2.local", false).await?;
    ensure!(s.setting("smtp.host").await?.as_deref() == Some("mail2.local"));
    Ok(())
}

pub async fn ingest_checkpoints_only_move_forward(s: &SqlStore) -> Result<()> {
    ensure!(s.ingest_checkpoint("his01", "BRXX").await?.is_none());
    ensure!(
        s.save_ingest_checkpoint("his01", "BRXX", 1, Some("{\"rowid\":10}"))
            .await?
    );
    ensure!(
        s.save_ingest_checkpoint("his01", "BRXX", 2, Some("{\"rowid\":20}"))
            .await?
    );
    // A stale writer's older chunk does not move the channel back.
    ensure!(
        !s.save_ingest_checkpoint("his01", "BRXX", 1, Some("{\"rowid\":10}"))
            .await?
    );
    let c = s.ingest_checkpoint("his01", "BRXX").await?;
    ensure!(
        c.as_ref().map(|c| (c.seq, c.position.as_deref())) == Some((2, Some("{\"rowid\":20}")))
    );
    // A full reload restarts the position at the same sequence.
    ensure!(s.save_ingest_checkpoint("his01", "BRXX", 2, None).await?);
    ensure!(
        s.ingest_checkpoint("his01", "BRXX")
            .await?
            .and_then(|c| c.position)
            .is_none()
    );
    ensure!(s.ingest_checkpoint("his01", "MZJZ").await?.is_none());
    Ok(())
}

pub async fn ingest_runs_record_progress_and_outcome(s: &SqlStore) -> Result<()> {
    let run = s.start_ingest_run("his02", "MZJZ", "H2", "full").await?;
    ensure!(run.status == RunStatus::Running && run.finished_at.is_none());
    let counts = RunCounts {
        rows_read: 10,
        rows_written: 9,
        rows_quarantined: 1,
        bytes: 1234,
    };
    s.update_ingest_run(run.id, RunStatus::Running, counts, None)
        .await?;
    s.update_ingest_run(run.id, RunStatus::Failed, counts, Some("source went away"))
        .await?;
    let other = s
        .start_ingest_run("his03", "MZJZ", "H3", "incremental")
        .await?;
    let of = |channel: Option<&str>, institution: Option<&str>| RunFilter {
        channel: channel.map(str::to_owned),
        institution: institution.map(str::to_owned),
    };
    let runs = s
        .list_ingest_runs(&of(Some("his02"), None), Page::new(10, 0))
        .await?;
    ensure!(runs.len() == 1 && runs[0].institution == "H2");
    ensure!(s.count_ingest_runs(&of(None, Some("H3"))).await? == 1);
    ensure!(s.count_ingest_runs(&of(Some("his02"), Some("H3"))).await? == 0);
    ensure!(s.count_ingest_runs(&of(None, None)).await? == 2);
    let r = &runs[0];
    ensure!(r.status == RunStatus::Failed && r.counts == counts && r.finished_at.is_some());
    ensure!(r.error.as_deref() == Some("source went away"));
    let all = s
        .list_ingest_runs(&of(None, None), Page::new(10, 0))
        .await?;
    ensure!(all.first().map(|r| r.id) == Some(other.id), "newest first");
    ensure!(
        s.update_ingest_run(999_999, RunStatus::Succeeded, counts, None)
            .await
            .is_err()
    );
    Ok(())
}

pub async fn audit_entries_chain_and_filter(s: &SqlStore) -> Result<()> {
    let before = now_millis();
    for (actor, action) in [
        ("a", "auth.login"),
        ("b", "auth.logout"),
        ("a", "user.create"),
        ("c", "auth_x"),
    ] {
        s.append_audit(entry(actor, action)).await?;
    }
    let all = s
        .list_audit(&AuditFilter::default(), Page::default())
        .await?;
    ensure!(
        all.len() == 4 && all[0].seq == 4 && all[3].seq == 1,
        "newest first"
    );
    ensure!(all[3].prev_hash == hdos_store::audit_chain::GENESIS_HASH);
    ensure!(all[2].prev_hash == all[3].hash);
    let by_actor = AuditFilter {
        actor_name: Some("a".into()),
        ..Default::default()
    };
    ensure!(s.count_audit(&by_actor).await? == 2);
    let prefix = AuditFilter {
        action: Some("auth.".into()),
        ..Default::default()
    };
    ensure!(
        s.count_audit(&prefix).await? == 2,
        "the prefix does not match auth_x"
    );
    let exact = AuditFilter {
        action: Some("auth_x".into()),
        ..Default::default()
    };
    ensure!(s.count_audit(&exact).await? == 1, "_ is not a wildcard");
    let future = AuditFilter {
        from_ts: Some(now_millis() + 60_000),
        ..Default::default()
    };
    ensure!(s.count_audit(&future).await? == 0);
    let window = AuditFilter {
        from_ts: Some(before),
        to_ts: Some(now_millis() + 1),
        ..Default::default()
    };
    ensure!(s.count_audit(&window).await? == 4);
    let status = s.verify_audit_chain().await?;
    ensure!(status.is_intact() && status.entries_checked == 4);
    Ok(())
}

/// What an attacker with direct database access does first.
async fn drop_append_only_triggers(s: &SqlStore) -> Result<()> {
    let sql = match s.backend() {
        Backend::Sqlite => "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;",
        Backend::Postgres => "DROP TRIGGER audit_log_no_update ON audit_log;",
    };
    s.execute_raw(sql).await?;
    Ok(())
}

async fn ten_entries(s: &SqlStore) -> Result<()> {
    for i in 0..10 {
        s.append_audit(entry("admin", &format!("action.{i}")))
            .await?;
    }
    Ok(())
}

pub async fn audit_log_refuses_updates_and_deletes(s: &SqlStore) -> Result<()> {
    ten_entries(s).await?;
    ensure!(
        s.execute_raw("UPDATE audit_log SET target = 'x' WHERE seq = 2")
            .await
            .is_err()
    );
    ensure!(
        s.execute_raw("DELETE FROM audit_log WHERE seq = 2")
            .await
            .is_err()
    );
    ensure!(s.verify_audit_chain().await?.is_intact());
    Ok(())
}

pub async fn an_edited_audit_entry_is_named(s: &SqlStore) -> Result<()> {
    ten_entries(s).await?;
    drop_append_only_triggers(s).await?;
    s.execute_raw("UPDATE audit_log SET actor_name = 'someone' WHERE seq = 4")
        .await?;
    let status = s.verify_audit_chain().await?;
    ensure!(
        status.problem == Some(ChainProblem::Changed { seq: 4 }),
        "{status:?}"
    );
    Ok(())
}

pub async fn a_deleted_audit_entry_is_named(s: &SqlStore) -> Result<()> {
    ten_entries(s).await?;
    drop_append_only_triggers(s).await?;
    s.execute_raw("DELETE FROM audit_log WHERE seq = 6").await?;
    let status = s.verify_audit_chain().await?;
    ensure!(
        status.problem == Some(ChainProblem::Deleted { seq: 6 }),
        "{status:?}"
    );
    Ok(())
}

pub async fn reordered_audit_entries_are_named(s: &SqlStore) -> Result<()> {
    ten_entries(s).await?;
    drop_append_only_triggers(s).await?;
    s.execute_raw(
        "UPDATE audit_log SET seq = -1 WHERE seq = 3; \
         UPDATE audit_log SET seq = 3 WHERE seq = 7; \
         UPDATE audit_log SET seq = 7 WHERE seq = -1;",
    )
    .await?;
    let status = s.verify_audit_chain().await?;
    ensure!(
        status.problem
            == Some(ChainProblem::Reordered {
                seq: 3,
                original_seq: 7
            }),
        "{status:?}"
    );
    Ok(())
}

pub async fn removing_the_newest_audit_entries_is_named(s: &SqlStore) -> Result<()> {
    ten_entries(s).await?;
    drop_append_only_triggers(s).await?;
    s.execute_raw("DELETE FROM audit_log WHERE seq > 8").await?;
    let status = s.verify_audit_chain().await?;
    ensure!(
        status.problem
            == Some(ChainProblem::TailDeleted {
                last_seq: 8,
                head_seq: 10
            }),
        "{status:?}"
    );
    Ok(())
}

pub async fn concurrent_audit_appends_keep_one_chain(s: &SqlStore) -> Result<()> {
    let mut tasks = Vec::new();
    for i in 0..24 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.append_audit(entry("w", &format!("c.{i}"))).await
        }));
    }
    for t in tasks {
        t.await??;
    }
    let status = s.verify_audit_chain().await?;
    ensure!(
        status.is_intact() && status.entries_checked == 24,
        "{status:?}"
    );
    Ok(())
}

pub async fn injection_text_is_stored_as_text(s: &SqlStore) -> Result<()> {
    let evil = "Robert'); DROP TABLE users;-- <script>alert(1)</script>";
    let mut u = user("bobby", vec![Role::User], None);
    u.display_name = evil.into();
    let created = s.create_user(u).await?;
    ensure!(s.user(created.id).await?.display_name == evil);
    let lookup = s.user_by_name("x' OR '1'='1").await?;
    ensure!(lookup.is_none());
    s.append_audit(entry(evil, "user.create")).await?;
    let f = AuditFilter {
        actor_name: Some(evil.into()),
        ..Default::default()
    };
    ensure!(s.count_audit(&f).await? == 1);
    ensure!(
        s.count_users().await? == 1,
        "the users table is still there"
    );
    Ok(())
}

pub async fn source_connections_are_saved_listed_and_removed(s: &SqlStore) -> Result<()> {
    let key = hdos_store::MasterKey::generate();
    let new = |name: &str, institution: &str| hdos_store::NewSourceConnection {
        name: name.into(),
        kind: "postgres".into(),
        institution: institution.into(),
        host: "his-db.h1.local".into(),
        port: 5432,
        database: "his".into(),
        username: "reader".into(),
        sealed_password: Some(key.seal("s3cret-pw")),
        schema: "his".into(),
    };
    let first = s.save_connection(new("h1-his", "H1")).await?;
    ensure!(first.port == 5432 && first.schema == "his");
    let stored = first.sealed_password.clone().unwrap_or_default();
    ensure!(
        !stored.contains("s3cret-pw"),
        "the password is stored sealed"
    );
    ensure!(key.open(&stored)?.expose() == "s3cret-pw");
    // Saving the same name again replaces the definition.
    let mut moved = new("h1-his", "H1");
    moved.host = "10.0.0.7".into();
    let again = s.save_connection(moved).await?;
    ensure!(again.id == first.id && again.host == "10.0.0.7");
    s.save_connection(new("h2-his", "H2")).await?;
    ensure!(s.list_connections(None, Page::new(10, 0)).await?.len() == 2);
    let h2 = s.list_connections(Some("H2"), Page::new(10, 0)).await?;
    ensure!(h2.len() == 1 && h2[0].name == "h2-his");
    ensure!(
        !serde_json::to_string(&h2[0])?.contains("enc:v1"),
        "the sealed password never leaves in JSON"
    );
    s.delete_connection("h2-his").await?;
    ensure!(s.connection("h2-his").await?.is_none());
    ensure!(s.delete_connection("h2-his").await.is_err());
    let bad = hdos_store::NewSourceConnection {
        port: 1 << 40,
        ..new("bad", "H1")
    };
    ensure!(
        s.save_connection(bad).await.is_err(),
        "an impossible port is refused"
    );
    Ok(())
}

fn channel(name: &str, institution: &str) -> hdos_store::NewChannel {
    hdos_store::NewChannel {
        name: name.into(),
        institution: institution.into(),
        kind: "sql".into(),
        spec: r#"{"connection":"h1-his"}"#.into(),
        schedule: Some("*/10 * * * *".into()),
        enabled: true,
        next_run_at: Some(1_000),
    }
}

pub async fn channels_are_saved_requested_and_finished(s: &SqlStore) -> Result<()> {
    let first = s.save_channel(channel("his_h1", "H1")).await?;
    ensure!(first.enabled && first.failures == 0 && first.run_requested_at.is_none());
    s.save_channel(channel("his_h2", "H2")).await?;
    // Saving the same name replaces the definition and keeps the row.
    let again = s
        .save_channel(hdos_store::NewChannel {
            schedule: None,
            ..channel("his_h1", "H1")
        })
        .await?;
    ensure!(again.id == first.id && again.schedule.is_none());
    ensure!(s.list_channels(None, Page::new(10, 0)).await?.len() == 2);
    let h2 = s.list_channels(Some("H2"), Page::new(10, 0)).await?;
    ensure!(h2.len() == 1 && h2[0].name == "his_h2");

    // A pending request keeps its first time; a run that started after it answers it.
    s.request_channel_run("his_h1", 5_000).await?;
    s.request_channel_run("his_h1", 6_000).await?;
    s.request_channel_cancel("his_h1", 6_500).await?;
    let c = s.channel("his_h1").await?.context("saved")?;
    ensure!(c.run_requested_at == Some(5_000) && c.cancel_requested_at == Some(6_500));
    let failed = hdos_store::ChannelOutcome {
        started_at: 4_000,
        next_run_at: Some(9_000),
        failures: 1,
        last_error: Some("source unreachable".into()),
    };
    s.finish_channel_run("his_h1", &failed).await?;
    let c = s.channel("his_h1").await?.context("saved")?;
    ensure!(
        c.run_requested_at == Some(5_000),
        "a run that started before the request does not answer it"
    );
    ensure!(c.cancel_requested_at.is_none() && c.failures == 1 && c.next_run_at == Some(9_000));
    ensure!(c.last_error.as_deref() == Some("source unreachable"));
    let ok = hdos_store::ChannelOutcome {
        started_at: 7_000,
        next_run_at: None,
        failures: 0,
        last_error: None,
    };
    s.finish_channel_run("his_h1", &ok).await?;
    let c = s.channel("his_h1").await?.context("saved")?;
    ensure!(c.run_requested_at.is_none() && c.failures == 0 && c.last_error.is_none());

    s.set_channel_enabled("his_h2", false).await?;
    ensure!(!s.channel("his_h2").await?.context("saved")?.enabled);
    let missing = s
        .request_channel_run("nope", 1)
        .await
        .err()
        .context("no channel")?;
    ensure!(missing.kind() == ErrorKind::NotFound, "{missing}");
    s.delete_channel("his_h2").await?;
    ensure!(s.channel("his_h2").await?.is_none());
    ensure!(s.delete_channel("his_h2").await.is_err());
    Ok(())
}

pub async fn a_channel_lease_has_one_holder_at_a_time(s: &SqlStore) -> Result<()> {
    let ttl = 10_000;
    let mine = s
        .claim_channel_lease("cdc_h1", "w1", 100_000, ttl)
        .await?
        .context("a free channel is claimed")?;
    ensure!(mine.worker == "w1" && mine.expires_at == 110_000);
    ensure!(
        s.claim_channel_lease("cdc_h1", "w2", 105_000, ttl)
            .await?
            .is_none(),
        "a held lease is not taken"
    );
    ensure!(s.renew_channel_lease(&mine, 108_000, ttl).await?);
    ensure!(
        s.claim_channel_lease("cdc_h1", "w2", 117_000, ttl)
            .await?
            .is_none(),
        "a renewed lease is held to its new expiry"
    );
    // The holder stops renewing: after the expiry another worker takes it over.
    let theirs = s
        .claim_channel_lease("cdc_h1", "w2", 118_000, ttl)
        .await?
        .context("an expired lease is taken")?;
    ensure!(theirs.worker == "w2" && theirs.token == mine.token + 1);
    ensure!(
        !s.renew_channel_lease(&mine, 119_000, ttl).await?,
        "the old holder learns it lost the lease"
    );
    let live = s.live_channel_leases(119_000).await?;
    ensure!(live.len() == 1 && live[0].worker == "w2");
    s.release_channel_lease(&theirs).await?;
    ensure!(s.live_channel_leases(119_000).await?.is_empty());

    // Many workers claiming at once: exactly one wins.
    let claims = (0..8).map(|i| {
        let s = s.clone();
        tokio::spawn(async move {
            s.claim_channel_lease("mllp_h9", &format!("w{i}"), 200_000, ttl)
                .await
        })
    });
    let mut winners = 0;
    for c in claims {
        winners += usize::from(c.await??.is_some());
    }
    ensure!(winners == 1, "{winners} workers hold the lease");
    Ok(())
}

pub async fn workers_report_what_they_run(s: &SqlStore) -> Result<()> {
    let mut w = hdos_store::WorkerStatus {
        id: "node1-4242".into(),
        host: "node1".into(),
        pid: 4242,
        started_at: 1_000,
        seen_at: 2_000,
        running: vec!["cdc_h1".into(), "his_h2".into()],
        stopped_at: None,
    };
    s.report_worker(&w).await?;
    w.seen_at = 3_000;
    w.running = vec!["cdc_h1".into()];
    s.report_worker(&w).await?;
    let seen = s.list_workers(2_500).await?;
    ensure!(seen.len() == 1 && seen[0].running == ["cdc_h1"] && seen[0].seen_at == 3_000);
    ensure!(s.list_workers(3_500).await?.is_empty());
    w.stopped_at = Some(4_000);
    w.seen_at = 4_000;
    w.running.clear();
    s.report_worker(&w).await?;
    let seen = s.list_workers(0).await?;
    ensure!(seen[0].stopped_at == Some(4_000) && seen[0].running.is_empty());
    Ok(())
}

pub async fn reconciliations_replace_a_channels_days_and_list_mismatches(
    s: &SqlStore,
) -> Result<()> {
    let day = |d: &str, source: i64, lake: i64| hdos_store::ReconciliationDay {
        channel: "his_h1".into(),
        dataset: "outpatient_visit".into(),
        institution: "H1".into(),
        day: d.into(),
        source_rows: source,
        lake_rows: lake,
        unmapped_rows: 0,
        source_checksum: format!("{source:016x}"),
        lake_checksum: format!("{lake:016x}"),
        checked_at: 1_000,
    };
    s.save_reconciliation(
        "his_h1",
        &[day("2026-11-27", 10, 10), day("2026-11-28", 12, 9)],
    )
    .await?;
    s.save_reconciliation(
        "his_h1",
        &[day("2026-11-28", 12, 12), day("2026-11-29", 5, 4)],
    )
    .await?;
    let all = s
        .list_reconciliations(
            &hdos_store::ReconciliationFilter::default(),
            Page::new(10, 0),
        )
        .await?;
    ensure!(all.len() == 2 && all[0].day == "2026-11-29", "{all:?}");
    let bad = s
        .list_reconciliations(
            &hdos_store::ReconciliationFilter {
                mismatched_only: true,
                institution: Some("H1".into()),
                ..Default::default()
            },
            Page::new(10, 0),
        )
        .await?;
    ensure!(bad.len() == 1 && !bad[0].matches() && bad[0].lake_rows == 4);
    ensure!(
        s.count_reconciliations(&hdos_store::ReconciliationFilter::default())
            .await?
            == 2
    );
    Ok(())
}

pub async fn an_alert_is_raised_once_until_resolved(s: &SqlStore) -> Result<()> {
    use hdos_store::{AlertFilter, AlertStatus, NewAlert};
    let gap = |message: &str| NewAlert {
        kind: "reconciliation".into(),
        channel: "his_h1".into(),
        institution: "H1".into(),
        subject: "outpatient_visit 2026-11-28".into(),
        message: message.into(),
    };
    let (first, new) = s.raise_alert(&gap("3 rows missing")).await?;
    ensure!(new && first.status == AlertStatus::Open);
    let (again, new) = s.raise_alert(&gap("4 rows missing")).await?;
    ensure!(!new && again.id == first.id && again.message == "4 rows missing");
    let acked = s
        .set_alert_status(first.id, AlertStatus::Acknowledged, Some("manager"))
        .await?;
    ensure!(acked.acknowledged_by.as_deref() == Some("manager"));
    let (still, new) = s.raise_alert(&gap("4 rows missing")).await?;
    ensure!(
        !new && still.status == AlertStatus::Acknowledged,
        "acknowledged stays acknowledged"
    );
    s.raise_alert(&NewAlert {
        kind: "zero_rows".into(),
        institution: "H2".into(),
        channel: "his_h2".into(),
        ..gap("no rows")
    })
    .await?;
    ensure!(s.count_alerts(&AlertFilter::default()).await? == 2);
    let h2 = AlertFilter {
        institution: Some("H2".into()),
        include_resolved: false,
    };
    ensure!(s.list_alerts(&h2, Page::new(10, 0)).await?.len() == 1);
    // The problem clears: the alert resolves, and a later one is a new alert.
    ensure!(
        s.resolve_cleared_alerts("reconciliation", "his_h1", &[])
            .await?
            == 1
    );
    ensure!(
        s.alert(first.id)
            .await?
            .context("kept")?
            .resolved_at
            .is_some()
    );
    let (later, new) = s.raise_alert(&gap("1 row missing")).await?;
    ensure!(new && later.id != first.id);
    let everything = AlertFilter {
        institution: None,
        include_resolved: true,
    };
    ensure!(s.count_alerts(&everything).await? == 3);
    ensure!(
        s.set_alert_status(999_999, AlertStatus::Resolved, None)
            .await
            .is_err()
    );
    Ok(())
}

pub async fn daily_volume_sums_runs_by_institution_and_day(s: &SqlStore) -> Result<()> {
    for (institution, rows) in [("H1", 10), ("H1", 5), ("H2", 7)] {
        let r = s
            .start_ingest_run("his", "t", institution, "incremental")
            .await?;
        let counts = RunCounts {
            rows_written: rows,
            ..RunCounts::default()
        };
        s.update_ingest_run(r.id, RunStatus::Succeeded, counts, None)
            .await?;
    }
    let today = (chrono::Utc::now() + chrono::Duration::hours(8))
        .format("%Y-%m-%d")
        .to_string();
    let since = now_millis() - 60_000;
    let all = s.daily_run_volume(since, None).await?;
    ensure!(all.len() == 2, "{all:?}");
    ensure!(
        all[0].institution == "H1" && all[0].rows == 15 && all[0].day == today,
        "{all:?}"
    );
    let h2 = s.daily_run_volume(since, Some("H2")).await?;
    ensure!(h2.len() == 1 && h2[0].rows == 7);
    ensure!(
        s.daily_run_volume(now_millis() + 60_000, None)
            .await?
            .is_empty()
    );
    Ok(())
}

pub async fn link_samples_are_kept_listed_by_institution_and_pruned(s: &SqlStore) -> Result<()> {
    let sample = |channel: &str, institution: &str, at: i64, backlog: Option<i64>| LinkSample {
        channel: channel.into(),
        institution: institution.into(),
        at,
        latency_ms: Some(at / 1000),
        backlog_bytes: backlog,
    };
    for x in [
        sample("cdc_h1", "H1", 3_000, Some(4096)),
        sample("his_h1", "H1", 1_000, None),
        sample("hl7_h2", "H2", 2_000, Some(0)),
    ] {
        s.save_link_sample(&x).await?;
    }
    let all = s.link_samples(0, None).await?;
    let order: Vec<i64> = all.iter().map(|x| x.at).collect();
    ensure!(order == [1_000, 2_000, 3_000], "oldest first: {all:?}");
    ensure!(all[0].backlog_bytes.is_none() && all[2].backlog_bytes == Some(4096));
    let h1 = s.link_samples(2_000, Some("H1")).await?;
    ensure!(h1.len() == 1 && h1[0].channel == "cdc_h1", "{h1:?}");
    ensure!(s.prune_link_samples(2_500).await? == 2);
    ensure!(s.link_samples(0, None).await?.len() == 1);
    Ok(())
}

pub async fn alerts_are_counted_per_institution_and_day(s: &SqlStore) -> Result<()> {
    use hdos_store::{AlertStatus, NewAlert};
    let alert = |kind: &str, institution: &str| NewAlert {
        kind: kind.into(),
        channel: format!("his_{institution}"),
        institution: institution.into(),
        subject: "table t".into(),
        message: "m".into(),
    };
    let (first, _) = s.raise_alert(&alert("run_failed", "H1")).await?;
    s.set_alert_status(first.id, AlertStatus::Resolved, None)
        .await?;
    s.raise_alert(&alert("zero_rows", "H1")).await?;
    s.raise_alert(&alert("run_failed", "H2")).await?;
    let today = (chrono::Utc::now() + chrono::Duration::hours(8))
        .format("%Y-%m-%d")
        .to_string();
    let since = now_millis() - 60_000;
    let all = s.daily_alerts(since, None).await?;
    ensure!(all.len() == 2, "{all:?}");
    ensure!(
        all[0].institution == "H1" && all[0].rows == 2 && all[0].day == today,
        "resolved alerts count too: {all:?}"
    );
    ensure!(s.daily_alerts(since, Some("H2")).await?[0].rows == 1);
    ensure!(
        s.daily_alerts(now_millis() + 60_000, None)
            .await?
            .is_empty()
    );
    Ok(())
}

pub async fn quality_rules_keep_every_version(store: &SqlStore) -> Result<()> {
    use hdos_store::SaveQualityRule;
    let save = |definition: &str, enabled: bool| SaveQualityRule {
        id: "patient.custom".into(),
        dataset: "patient".into(),
        definition: definition.into(),
        enabled,
        builtin: false,
        actor: "manager".into(),
    };
    let v1 = store.save_quality_rule(&save("{\"a\":1}", true)).await?;
    ensure!(v1.version == 1 && v1.enabled && !v1.builtin);
    let same = store.save_quality_rule(&save("{\"a\":1}", true)).await?;
    ensure!(
        same.version == 1,
        "an unchanged definition keeps its version"
    );
    let off = store.save_quality_rule(&save("{\"a\":1}", false)).await?;
    ensure!(
        off.version == 1 && !off.enabled,
        "disabling is not a new version"
    );
    let v2 = store.save_quality_rule(&save("{\"a\":2}", true)).await?;
    ensure!(v2.version == 2);
    ensure!(
        store
            .quality_rule_version("patient.custom", 1)
            .await?
            .as_deref()
            == Some("{\"a\":1}")
    );
    ensure!(
        store
            .quality_rule_version("patient.custom", 2)
            .await?
            .as_deref()
            == Some("{\"a\":2}")
    );
    ensure!(store.quality_rules().await?.len() == 1);
    Ok(())
}

/// Writers that read first (a rule's version) do not fail each other: on SQLite a transaction
/// that reads and then writes while another commits used to fail at once with "database is
/// locked" (SQLITE_BUSY_SNAPSHOT).
pub async fn concurrent_rule_saves_all_succeed(store: &SqlStore) -> Result<()> {
    use hdos_store::SaveQualityRule;
    let mut tasks = Vec::new();
    for writer in 0..4 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..25 {
                s.save_quality_rule(&SaveQualityRule {
                    id: format!("patient.w{writer}"),
                    dataset: "patient".into(),
                    definition: format!("{{\"v\":{i}}}"),
                    enabled: true,
                    builtin: false,
                    actor: "manager".into(),
                })
                .await?;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    for writer in 0..4 {
        let rule = store.quality_rule(&format!("patient.w{writer}")).await?;
        ensure!(rule.is_some_and(|r| r.version == 25));
    }
    Ok(())
}

pub async fn quality_results_are_kept_only_for_succeeded_runs(store: &SqlStore) -> Result<()> {
    use hdos_store::{QualityResult, QualityResultFilter, QualityRunEnd};
    let result = |run_id: i64, failed: i64| QualityResult {
        run_id,
        rule_id: "patient.name.required".into(),
        rule_version: 1,
        dataset: "patient".into(),
        institution: "H1".into(),
        dimension: "completeness".into(),
        severity: "hard".into(),
        threshold: 0.001,
        checked: 100,
        failed,
        checked_at: now_millis(),
    };
    let end = |succeeded: bool| QualityRunEnd {
        succeeded,
        rows_checked: 100,
        failures: 1,
        error: (!succeeded).then(|| "boom".into()),
        watermarks: "{\"patient\":5}".into(),
    };
    let ok = store.start_quality_run("incremental", "test").await?;
    ensure!(ok.state == "running");
    store
        .finish_quality_run(ok.id, &end(true), &[result(ok.id, 1)])
        .await?;
    let bad = store.start_quality_run("full", "test").await?;
    store
        .finish_quality_run(bad.id, &end(false), &[result(bad.id, 9)])
        .await?;
    let results = store
        .quality_results(&QualityResultFilter::default())
        .await?;
    ensure!(results.len() == 1 && results[0].failed == 1, "{results:?}");
    let last = store.last_succeeded_quality_run().await?.context("a run")?;
    ensure!(last.id == ok.id && last.watermarks == "{\"patient\":5}");
    let stuck = store.start_quality_run("incremental", "test").await?;
    ensure!(store.fail_stale_quality_runs(now_millis() + 1).await? == 1);
    let runs = store.quality_runs(Page::new(10, 0)).await?;
    ensure!(
        runs[0].id == stuck.id && runs[0].state == "failed",
        "{runs:?}"
    );
    Ok(())
}

pub async fn one_ticket_stays_open_per_institution_and_rule(store: &SqlStore) -> Result<()> {
    use hdos_store::{Ticket, TicketEvent, TicketFilter};
    let now = now_millis();
    let ticket = Ticket {
        id: 0,
        institution: "H1".into(),
        rule_id: "patient.name.required".into(),
        dataset: "patient".into(),
        severity: "hard".into(),
        state: "new".into(),
        opened_at: now,
        updated_at: now,
        due_at: now + 1000,
        last_run_id: 1,
        checked: 100,
        failed: 5,
        threshold: 0.001,
        reason: None,
        comment: None,
        resolved_at: None,
        closed_at: None,
        reopened: 0,
        escalated_at: None,
    };
    let event = TicketEvent {
        ticket_id: 0,
        at: now,
        actor: "quality".into(),
        from_state: None,
        to_state: "new".into(),
        note: Some("失败 5 / 100".into()),
    };
    let t = store.insert_ticket(&ticket, &event).await?;
    let again = store.insert_ticket(&ticket, &event).await;
    ensure!(
        again.as_ref().err().map(|e| e.kind()) == Some(ErrorKind::AlreadyExists),
        "{again:?}"
    );
    let mut closed = t.clone();
    closed.state = "closed".into();
    ensure!(
        !store.update_ticket(&closed, "acknowledged", None).await?,
        "a stale state is refused"
    );
    ensure!(store.update_ticket(&closed, "new", None).await?);
    ensure!(
        store
            .open_ticket("H1", "patient.name.required")
            .await?
            .is_none()
    );
    let reopened = store.insert_ticket(&ticket, &event).await?;
    ensure!(reopened.id != t.id, "after closing, a new ticket may open");
    let open = TicketFilter {
        states: vec!["new".into(), "acknowledged".into()],
        ..Default::default()
    };
    ensure!(store.tickets(&open, Page::new(10, 0)).await?.len() == 1);
    ensure!(
        store
            .tickets(&TicketFilter::default(), Page::new(10, 0))
            .await?
            .len()
            == 2
    );
    let events = store.ticket_events(t.id).await?;
    ensure!(
        events.len() == 1
            && events[0].ticket_id == t.id
            && events[0].note.as_deref() == Some("失败 5 / 100")
    );
    Ok(())
}

pub async fn the_oldest_running_batch_run_is_found_and_streams_are_not(
    store: &SqlStore,
) -> Result<()> {
    ensure!(store.oldest_running_ingest().await?.is_none());
    let stream = store
        .start_ingest_run("mllp_h1", "messages", "H1", "stream")
        .await?;
    ensure!(
        store.oldest_running_ingest().await?.is_none(),
        "a stream does not count"
    );
    let batch = store
        .start_ingest_run("his_h1", "patients", "H1", "initial")
        .await?;
    ensure!(store.oldest_running_ingest().await? == Some(batch.started_at));
    store
        .update_ingest_run(batch.id, RunStatus::Succeeded, RunCounts::default(), None)
        .await?;
    ensure!(store.oldest_running_ingest().await?.is_none());
    ensure!(stream.status == RunStatus::Running);
    Ok(())
}

pub async fn notifications_reach_their_audience_and_deliveries_retry(
    store: &SqlStore,
) -> Result<()> {
    use hdos_store::Notification;
    let h1 = store
        .create_institution(institution("12330000NOTIFY001A"))
        .await?;
    let provider = store
        .create_user(user("notify-prov", vec![Role::Provider], Some(h1.id)))
        .await?;
    let manager = store
        .create_user(user("notify-mgr", vec![Role::Manager], None))
        .await?;
    store
        .set_user_email(provider.id, Some("p@h1.example"))
        .await?;
    store
        .set_user_email(manager.id, Some("m@centre.example"))
        .await?;
    ensure!(
        store
            .emails_of(Role::Provider, Some("12330000NOTIFY001A"))
            .await?
            == ["p@h1.example"]
    );
    ensure!(
        store
            .emails_of(Role::Provider, Some("OTHER"))
            .await?
            .is_empty()
    );
    ensure!(store.emails_of(Role::Manager, None).await? == ["m@centre.example"]);
    store.set_disabled(manager.id, true).await?;
    ensure!(
        store.emails_of(Role::Manager, None).await?.is_empty(),
        "disabled users are not mailed"
    );
    let n = Notification {
        id: 0,
        created_at: 0,
        kind: "ticket.opened".into(),
        institution: "12330000NOTIFY001A".into(),
        audience: "both".into(),
        subject: "新整改工单".into(),
        body: "正文".into(),
        link: "/integration/quality/tickets".into(),
    };
    let saved = store
        .add_notification(
            &n,
            &[
                ("email".into(), "p@h1.example".into()),
                ("webhook".into(), "http://hook".into()),
            ],
        )
        .await?;
    let mut escalated = n.clone();
    escalated.audience = "managers".into();
    store.add_notification(&escalated, &[]).await?;
    ensure!(
        store
            .notifications_for(true, None, Page::new(10, 0))
            .await?
            .len()
            == 2
    );
    ensure!(
        store
            .notifications_for(false, Some("12330000NOTIFY001A"), Page::new(10, 0))
            .await?
            .len()
            == 1
    );
    let now = now_millis();
    let due = store.due_deliveries(now + 1, 10).await?;
    ensure!(due.len() == 2 && due[0].1.id == saved.id);
    store
        .record_delivery(due[0].0.id, Some("connection refused"), Some(now + 60_000))
        .await?;
    store.record_delivery(due[1].0.id, None, None).await?;
    ensure!(
        store.due_deliveries(now + 1, 10).await?.is_empty(),
        "the retry waits"
    );
    let later = store.due_deliveries(now + 60_001, 10).await?;
    ensure!(
        later.len() == 1
            && later[0].0.attempts == 1
            && later[0].0.last_error.as_deref() == Some("connection refused")
    );
    store
        .record_delivery(later[0].0.id, Some("still down"), None)
        .await?;
    let states: Vec<String> = store
        .deliveries_of(saved.id)
        .await?
        .into_iter()
        .map(|d| d.state)
        .collect();
    ensure!(states == ["failed", "sent"], "{states:?}");
    Ok(())
}
