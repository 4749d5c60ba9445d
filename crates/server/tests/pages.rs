//! What people see: languages, navigation, escaping, the audit page, operations endpoints and
//! the committed OpenAPI document.

use crate::common::{TestApp, body_text, form, get};
use anyhow::{Context, Result, ensure};
use axum::http::{StatusCode, header};
use hdos_core::Role;

#[tokio::test]
async fn chinese_is_the_default_and_english_is_one_switch_away() -> Result<()> {
    let app = TestApp::new().await?;
    let zh = body_text(app.send(get("/login", None)).await?).await?;
    ensure!(zh.contains("lang=\"zh-CN\"") && zh.contains("区域健康医疗数据开放共享平台"));
    let mut req = get("/login", None);
    req.headers_mut()
        .insert(header::ACCEPT_LANGUAGE, "en-GB,en;q=0.8".parse()?);
    let en = body_text(app.send(req).await?).await?;
    ensure!(
        en.contains("lang=\"en\"") && en.contains("Regional Health Data Open Sharing Platform")
    );
    let switch = app.send(get("/lang/en?next=/login", None)).await?;
    ensure!(switch.status() == StatusCode::SEE_OTHER);
    let cookie = crate::common::set_cookie(&switch, "hdos_lang").context("lang cookie")?;
    let mut req = get("/login", None);
    req.headers_mut().insert(header::COOKIE, cookie.parse()?);
    ensure!(body_text(app.send(req).await?).await?.contains("Log in"));
    // The switch never redirects off-site.
    let evil = app
        .send(get("/lang/en?next=https://evil.example/", None))
        .await?;
    ensure!(
        evil.headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            == Some("/")
    );
    Ok(())
}

#[tokio::test]
async fn each_role_sees_only_its_sections_and_unbuilt_ones_say_so() -> Result<()> {
    let app = TestApp::new().await?;
    let provider = app.session(Role::Provider).await?;
    let home = body_text(app.send(get("/", Some(&provider))).await?).await?;
    ensure!(
        home.contains("/integration/quality")
            && !home.contains("/admin/users")
            && !home.contains("/assets/catalog")
    );
    let manager = app.session(Role::Manager).await?;
    let page = app.send(get("/assets/catalog", Some(&manager))).await?;
    ensure!(page.status() == StatusCode::OK);
    let text = body_text(page).await?;
    ensure!(text.contains("此功能尚未建成") && text.contains("不展示任何模拟数据"));
    let admin = app.session(Role::Admin).await?;
    let home = body_text(app.send(get("/", Some(&admin))).await?).await?;
    ensure!(home.contains("/admin/users") && !home.contains("/sandbox"));
    Ok(())
}

#[tokio::test]
async fn injection_text_in_forms_is_stored_and_shown_escaped() -> Result<()> {
    let app = TestApp::new().await?;
    let admin = app.session(Role::Admin).await?;
    let evil = "<script>alert('x')</script>'; DROP TABLE institutions;--";
    let r = app
        .send(form(
            "/admin/institutions",
            Some(&admin),
            Some(&admin.csrf),
            &[
                ("code", "12330000EVIL00001A"),
                ("name", evil),
                ("grade", "一级"),
                ("kind", "村卫生室"),
                ("region_code", "330102"),
            ],
        ))
        .await?;
    ensure!(r.status() == StatusCode::SEE_OTHER, "{}", r.status());
    let stored = app
        .state
        .store
        .institution_by_code("12330000EVIL00001A")
        .await?
        .context("stored")?;
    ensure!(stored.name == evil, "stored verbatim");
    let html = body_text(app.send(get("/admin/institutions", Some(&admin))).await?).await?;
    ensure!(!html.contains("<script>alert"), "not rendered as markup");
    ensure!(
        html.contains("&#60;script&#62;alert(&#39;x&#39;)"),
        "escaped"
    );
    // Bad values get a clear error in the reader's language.
    let bad = app
        .send(form(
            "/admin/institutions",
            Some(&admin),
            Some(&admin.csrf),
            &[
                ("code", "short"),
                ("name", "x"),
                ("grade", "一级"),
                ("kind", "村卫生室"),
                ("region_code", "330102"),
            ],
        ))
        .await?;
    ensure!(bad.status() == StatusCode::BAD_REQUEST);
    let text = body_text(bad).await?;
    ensure!(
        text.contains("输入有误") && text.contains("不是 18 位统一社会信用代码"),
        "{text}"
    );
    let bad_region = app
        .send(form(
            "/admin/institutions",
            Some(&admin),
            Some(&admin.csrf),
            &[
                ("code", "12330000EVIL00002A"),
                ("name", "x"),
                ("grade", "一级"),
                ("kind", "村卫生室"),
                ("region_code", "990102"),
            ],
        ))
        .await?;
    ensure!(bad_region.status() == StatusCode::BAD_REQUEST);
    Ok(())
}

#[tokio::test]
async fn admins_create_users_through_the_form() -> Result<()> {
    let app = TestApp::new().await?;
    let admin = app.session(Role::Admin).await?;
    let hospital = app.hospital.0.to_string();
    let r = app
        .send(form(
            "/admin/users",
            Some(&admin),
            Some(&admin.csrf),
            &[
                ("username", "nurse.li"),
                ("display_name", "李护士"),
                ("roles", "provider"),
                ("roles", "user"),
                ("institution_id", &hospital),
                ("password", "initial password"),
            ],
        ))
        .await?;
    ensure!(r.status() == StatusCode::SEE_OTHER, "{}", r.status());
    let u = app
        .state
        .store
        .user_by_name("nurse.li")
        .await?
        .context("created")?;
    ensure!(u.roles == vec![Role::Provider, Role::User] && u.must_change_password);
    // Until the initial password is changed, every page leads to the password form.
    let nurse = app.session_for(&u).await?;
    let home = app.send(get("/", Some(&nurse))).await?;
    ensure!(home.status() == StatusCode::SEE_OTHER);
    ensure!(
        home.headers()
            .get(header::LOCATION)
            .is_some_and(|v| v == "/account/password")
    );
    ensure!(
        app.send(get("/account/password", Some(&nurse)))
            .await?
            .status()
            == StatusCode::OK
    );
    let html = body_text(app.send(get("/admin/users", Some(&admin))).await?).await?;
    ensure!(html.contains("李护士"));
    Ok(())
}

#[tokio::test]
async fn the_audit_page_filters_and_shows_the_chain_status() -> Result<()> {
    let app = TestApp::new().await?;
    let user = app.session(Role::User).await?;
    let _ = app.send(get("/admin/users", Some(&user))).await?;
    let auditor = app.session(Role::Auditor).await?;
    let html = body_text(
        app.send(get("/audit?action=access.", Some(&auditor)))
            .await?,
    )
    .await?;
    ensure!(html.contains("审计链完整"), "chain status shown");
    ensure!(html.contains("access.denied") && html.contains("GET /admin/users"));
    let none = body_text(app.send(get("/audit?actor=nobody", Some(&auditor))).await?).await?;
    ensure!(!none.contains("access.denied"));
    let bad = app
        .send(get("/audit?from=yesterday", Some(&auditor)))
        .await?;
    ensure!(bad.status() == StatusCode::BAD_REQUEST);
    Ok(())
}

#[tokio::test]
async fn operations_endpoints_and_security_headers() -> Result<()> {
    let app = TestApp::new().await?;
    let health = app.send(get("/healthz", None)).await?;
    ensure!(health.status() == StatusCode::OK);
    ensure!(health.headers().contains_key("x-request-id"));
    let csp = health
        .headers()
        .get(header::CONTENT_SECURITY_POLICY)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    ensure!(
        csp.contains("default-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    ensure!(
        health
            .headers()
            .get(header::X_FRAME_OPTIONS)
            .is_some_and(|v| v == "DENY")
    );
    let ready = app.send(get("/readyz", None)).await?;
    ensure!(ready.status() == StatusCode::OK, "{}", ready.status());
    let metrics = body_text(app.send(get("/metrics", None)).await?).await?;
    ensure!(metrics.contains("hdos_http_requests_total"), "{metrics}");
    let missing = app.send(get("/api/v1/nothing", None)).await?;
    ensure!(missing.status() == StatusCode::NOT_FOUND);
    Ok(())
}

#[tokio::test]
async fn the_committed_openapi_document_is_current() -> Result<()> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    let current = hdos_server::api::openapi::document_json();
    if std::env::var("HDOS_BLESS").is_ok_and(|v| v == "1") {
        std::fs::write(&path, format!("{current}\n"))?;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    ensure!(
        committed.trim_end() == current.trim_end(),
        "docs/openapi.json is out of date: run `HDOS_BLESS=1 cargo test -p hdos-server openapi` and commit it"
    );
    Ok(())
}

/// Every translation key the templates and the code use exists in the catalogue.
#[test]
fn every_used_translation_key_exists() -> Result<()> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let keys = hdos_server::i18n::catalog_keys();
    let mut missing = Vec::new();
    let mut used = 0;
    for dir in ["templates", "src", "src/ui", "src/api"] {
        for entry in std::fs::read_dir(root.join(dir))? {
            let path = entry?.path();
            if !path.is_file() {
                continue;
            }
            let text = std::fs::read_to_string(&path)?;
            for quoted in text.split('"').skip(1).step_by(2) {
                let looks_like_key = quoted.split('.').count() >= 2
                    && quoted
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c == '.' || c == '_')
                    && [
                        "app.",
                        "nav.",
                        "login.",
                        "home.",
                        "section.",
                        "common.",
                        "users.",
                        "institutions.",
                        "tokens.",
                        "audit.",
                        "password.",
                        "error.",
                        "role.",
                        "lang.",
                    ]
                    .iter()
                    .any(|p| quoted.starts_with(p));
                if looks_like_key && !quoted.ends_with('.') && !quoted.ends_with(".html") {
                    used += 1;
                    if !keys.iter().any(|k| k == quoted) {
                        missing.push(format!("{}: {quoted}", path.display()));
                    }
                }
            }
        }
    }
    ensure!(used > 80, "only {used} keys found: is the scan broken?");
    ensure!(
        missing.is_empty(),
        "missing translations:\n{}",
        missing.join("\n")
    );
    Ok(())
}

/// Injection text in every field of every form: each field either stores it verbatim (shown
/// escaped) or refuses it with a 400; nothing is ever interpreted.
#[tokio::test]
async fn injection_text_in_every_form_field_is_stored_or_refused_never_run() -> Result<()> {
    let app = TestApp::new().await?;
    let admin = app.session(Role::Admin).await?;
    let evil = "x'); DROP TABLE users;--<b>bold</b>";
    let hospital = app.hospital.0.to_string();
    let forms: Vec<(&str, Vec<(&str, String)>)> = vec![
        (
            "/admin/institutions",
            vec![
                ("code", "12330000INJE00001A".into()),
                ("name", "注入测试".into()),
                ("grade", "一级".into()),
                ("kind", "村卫生室".into()),
                ("region_code", "330102".into()),
            ],
        ),
        (
            "/admin/users",
            vec![
                ("username", "inject.me".into()),
                ("display_name", "注入".into()),
                ("roles", "user".into()),
                ("institution_id", hospital.clone()),
                ("password", "long enough password".into()),
            ],
        ),
        (
            "/admin/tokens",
            vec![
                ("user_id", "1".into()),
                ("name", "注入".into()),
                ("expires_in_days", "".into()),
            ],
        ),
        (
            "/account/password",
            vec![
                ("current", "wrong".into()),
                ("new", "n".into()),
                ("confirm", "n".into()),
            ],
        ),
    ];
    let users_before = app.state.store.count_users().await?;
    for (path, fields) in &forms {
        for (i, (name, _)) in fields.iter().enumerate() {
            let mut sent: Vec<(&str, String)> = fields.clone();
            sent[i].1 = format!("{}{evil}", sent[i].1);
            if *name == "username" || *name == "code" {
                // Keep unique keys unique across iterations.
                sent[i].1 = format!("{}{i}", sent[i].1);
            }
            let pairs: Vec<(&str, &str)> = sent.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let resp = app
                .send(form(path, Some(&admin), Some(&admin.csrf), &pairs))
                .await?;
            let status = resp.status();
            let html = body_text(resp).await?;
            ensure!(
                status == StatusCode::SEE_OTHER
                    || status == StatusCode::OK
                    || status.is_client_error(),
                "{path} {name}: {status}"
            );
            ensure!(
                !html.contains("<b>bold</b>"),
                "{path} {name}: rendered as markup"
            );
        }
    }
    // Whatever was stored is shown escaped, and the tables are all still there.
    for page in ["/admin/institutions", "/admin/users", "/admin/tokens"] {
        let html = body_text(app.send(get(page, Some(&admin))).await?).await?;
        ensure!(!html.contains("<b>bold</b>"), "{page}");
    }
    ensure!(app.state.store.count_users().await? >= users_before);
    ensure!(app.state.store.count_institutions().await? >= 2);
    let stored = app
        .state
        .store
        .institution_by_code("12330000INJE00001A")
        .await?;
    ensure!(
        stored.is_some_and(|i| i.name.ends_with(evil)),
        "the name was stored verbatim"
    );
    Ok(())
}

#[tokio::test]
async fn collection_runs_are_listed_and_a_provider_sees_only_its_own() -> Result<()> {
    let app = TestApp::new().await?;
    let store = &app.state.store;
    let counts = hdos_store::RunCounts {
        rows_read: 1200,
        rows_written: 1190,
        rows_quarantined: 10,
        bytes: 4096,
    };
    let own = store
        .start_ingest_run("his_own", "BRXX", "12330000TEST00001A", "full")
        .await?;
    store
        .update_ingest_run(own.id, hdos_store::RunStatus::Succeeded, counts, None)
        .await?;
    let other = store
        .start_ingest_run("his_other", "MZJZ", "12330000TEST00002B", "incremental")
        .await?;
    store
        .update_ingest_run(
            other.id,
            hdos_store::RunStatus::Failed,
            counts,
            Some("source unreachable"),
        )
        .await?;

    let manager = app.session(Role::Manager).await?;
    let page = body_text(
        app.send(get("/integration/collection", Some(&manager)))
            .await?,
    )
    .await?;
    ensure!(
        page.contains("his_own") && page.contains("his_other"),
        "{page}"
    );
    ensure!(page.contains("source unreachable") && page.contains("1190") && page.contains("失败"));

    let provider = app.session(Role::Provider).await?;
    let page = body_text(
        app.send(get("/integration/collection", Some(&provider)))
            .await?,
    )
    .await?;
    ensure!(
        page.contains("his_own") && !page.contains("his_other"),
        "{page}"
    );
    ensure!(page.contains("仅显示本机构的采集"));
    Ok(())
}

#[tokio::test]
async fn metrics_show_each_channels_latest_run() -> Result<()> {
    use hdos_store::{RunCounts, RunStatus};
    let app = TestApp::new().await?;
    let store = &app.state.store;
    let old = store
        .start_ingest_run("his_h1", "MZJZ", "H1", "full")
        .await?;
    let counts = RunCounts {
        rows_read: 10,
        rows_written: 9,
        rows_quarantined: 1,
        bytes: 100,
    };
    store
        .update_ingest_run(old.id, RunStatus::Failed, counts, Some("source went away"))
        .await?;
    let new = store
        .start_ingest_run("his_h1", "MZJZ", "H1", "incremental")
        .await?;
    store
        .update_ingest_run(
            new.id,
            RunStatus::Running,
            RunCounts {
                rows_read: 5,
                rows_written: 5,
                ..counts
            },
            None,
        )
        .await?;
    let metrics = body_text(app.send(get("/metrics", None)).await?).await?;
    for line in [
        r#"hdos_ingest_rows{channel="his_h1",kind="written",table="MZJZ"} 5"#,
        r#"hdos_ingest_running{channel="his_h1",table="MZJZ"} 1"#,
        r#"hdos_ingest_failed{channel="his_h1",table="MZJZ"} 0"#,
    ] {
        ensure!(metrics.contains(line), "{line} missing from\n{metrics}");
    }
    Ok(())
}

#[tokio::test]
async fn managers_run_and_disable_channels_from_the_collection_page() -> Result<()> {
    let app = TestApp::new().await?;
    let store = &app.state.store;
    use hdos_ingest::channel::{ChannelSpec, SqlSource};
    let channel = |name: &str, institution: &str, spec: ChannelSpec| hdos_store::NewChannel {
        name: name.into(),
        institution: institution.into(),
        kind: spec.kind().into(),
        spec: spec.to_json(),
        schedule: (!spec.is_streaming()).then(|| "*/30 * * * *".to_owned()),
        enabled: true,
        next_run_at: None,
    };
    let sql = ChannelSpec::Sql {
        source: SqlSource::Sqlite("his.db".into()),
        tables: Vec::new(),
        chunk_rows: None,
    };
    let cdc = ChannelSpec::Cdc {
        connection: "his_other".into(),
        tables: Vec::new(),
    };
    let folder = ChannelSpec::Folder {
        path: "inbox".into(),
        tables: Vec::new(),
    };
    store
        .save_channel(channel("his_own", "12330000TEST00001A", sql))
        .await?;
    store
        .save_channel(channel("cdc_other", "12330000TEST00002B", cdc))
        .await?;
    store
        .save_channel(channel("drop_own", "12330000TEST00001A", folder))
        .await?;
    store
        .claim_channel_lease("cdc_other", "node1-77", hdos_store::now_millis(), 60_000)
        .await?;

    let manager = app.session(Role::Manager).await?;
    let page = body_text(
        app.send(get("/integration/collection", Some(&manager)))
            .await?,
    )
    .await?;
    ensure!(
        page.contains("his_own") && page.contains("cdc_other"),
        "{page}"
    );
    ensure!(
        page.contains("node1-77") && page.contains("运行中"),
        "the holder is shown: {page}"
    );
    ensure!(page.contains("/integration/collection/channels/his_own/run"));

    let run = app
        .send(form(
            "/integration/collection/channels/his_own/run",
            Some(&manager),
            Some(&manager.csrf),
            &[],
        ))
        .await?;
    ensure!(run.status() == StatusCode::SEE_OTHER, "{}", run.status());
    let c = store.channel("his_own").await?.context("saved")?;
    ensure!(c.run_requested_at.is_some(), "the run is requested");
    // A folder channel is a batch channel too: it runs on request.
    ensure!(page.contains("/integration/collection/channels/drop_own/run"));
    ensure!(
        !page.contains("drop_own/mapping"),
        "no mapping page for a folder"
    );
    let folder_run = app
        .send(form(
            "/integration/collection/channels/drop_own/run",
            Some(&manager),
            Some(&manager.csrf),
            &[],
        ))
        .await?;
    ensure!(
        folder_run.status() == StatusCode::SEE_OTHER,
        "{}",
        folder_run.status()
    );
    let streaming = app
        .send(form(
            "/integration/collection/channels/cdc_other/run",
            Some(&manager),
            Some(&manager.csrf),
            &[],
        ))
        .await?;
    ensure!(
        streaming.status().is_client_error(),
        "{}",
        streaming.status()
    );
    ensure!(body_text(streaming).await?.contains("持续运行"));
    let idle = app
        .send(form(
            "/integration/collection/channels/his_own/cancel",
            Some(&manager),
            Some(&manager.csrf),
            &[],
        ))
        .await?;
    ensure!(idle.status().is_client_error(), "{}", idle.status());
    ensure!(
        body_text(idle).await?.contains("未在运行"),
        "nothing to cancel"
    );
    let cancel = app
        .send(form(
            "/integration/collection/channels/cdc_other/cancel",
            Some(&manager),
            Some(&manager.csrf),
            &[],
        ))
        .await?;
    ensure!(
        cancel.status() == StatusCode::SEE_OTHER,
        "{}",
        cancel.status()
    );
    ensure!(
        store
            .channel("cdc_other")
            .await?
            .context("saved")?
            .cancel_requested_at
            .is_some()
    );
    let disable = app
        .send(form(
            "/integration/collection/channels/his_own/disable",
            Some(&manager),
            Some(&manager.csrf),
            &[],
        ))
        .await?;
    ensure!(disable.status() == StatusCode::SEE_OTHER);
    ensure!(!store.channel("his_own").await?.context("saved")?.enabled);
    let audit = store
        .list_audit(
            &hdos_store::AuditFilter::default(),
            hdos_store::Page::new(50, 0),
        )
        .await?;
    for action in ["channel.run", "channel.disable"] {
        ensure!(
            audit.iter().any(|e| e.action == action),
            "{action} is audited"
        );
    }

    let provider = app.session(Role::Provider).await?;
    let page = body_text(
        app.send(get("/integration/collection", Some(&provider)))
            .await?,
    )
    .await?;
    ensure!(
        page.contains("his_own") && !page.contains("cdc_other"),
        "{page}"
    );
    ensure!(!page.contains("/run\""), "a provider gets no buttons");
    Ok(())
}

#[tokio::test]
async fn monitoring_shows_alerts_volume_and_gaps_and_managers_settle_alerts() -> Result<()> {
    let app = TestApp::new().await?;
    let store = &app.state.store;
    let own = "12330000TEST00001A";
    let alert = |kind: &str, institution: &str, channel: &str| hdos_store::NewAlert {
        kind: kind.into(),
        channel: channel.into(),
        institution: institution.into(),
        subject: "outpatient_visit 2026-11-28".into(),
        message: "source 120 rows, lake 117 rows: 3 missing from the lake".into(),
    };
    let (gap, _) = store
        .raise_alert(&alert("reconciliation", own, "his_own"))
        .await?;
    store
        .raise_alert(&alert("volume_drop", "12330000TEST00002B", "his_other"))
        .await?;
    store
        .save_reconciliation(
            "his_own",
            &[hdos_store::ReconciliationDay {
                channel: "his_own".into(),
                dataset: "outpatient_visit".into(),
                institution: own.into(),
                day: "2026-11-28".into(),
                source_rows: 120,
                lake_rows: 117,
                unmapped_rows: 0,
                source_checksum: "1".into(),
                lake_checksum: "2".into(),
                checked_at: hdos_store::now_millis(),
            }],
        )
        .await?;
    let run = store
        .start_ingest_run("his_own", "MZJZ", own, "incremental")
        .await?;
    let counts = hdos_store::RunCounts {
        rows_written: 4321,
        ..Default::default()
    };
    store
        .update_ingest_run(run.id, hdos_store::RunStatus::Succeeded, counts, None)
        .await?;

    store
        .save_link_status(&hdos_store::LinkStatus {
            channel: String::new(),
            node: "lake".into(),
            ok: true,
            latency_ms: 4,
            detail: "file:///lake".into(),
            checked_at: hdos_store::now_millis(),
        })
        .await?;
    // A CDC channel's slot held 4 MiB a moment ago, its source answering in 37 ms.
    store
        .save_link_sample(&hdos_store::LinkSample {
            channel: "cdc_own".into(),
            institution: own.into(),
            at: hdos_store::now_millis() - 60_000,
            latency_ms: Some(37),
            backlog_bytes: Some(4 * 1024 * 1024),
        })
        .await?;
    let manager = app.session(Role::Manager).await?;
    let page = body_text(
        app.send(get("/integration/monitoring", Some(&manager)))
            .await?,
    )
    .await?;
    let own_row = page
        .split("data-institution=\"12330000TEST00001A\"")
        .nth(1)
        .and_then(|r| r.split("</tr>").next())
        .context("the institution's row")?;
    let cell = |class: &str| {
        own_row
            .split(&format!("class=\"{class}\""))
            .nth(1)
            .and_then(|c| c.split("</td>").next())
            .unwrap_or_default()
            .to_owned()
    };
    ensure!(
        cell("backlog-chart").contains("<title>4096</title>"),
        "{own_row}"
    );
    ensure!(
        cell("latency-chart").contains("<title>37</title>"),
        "{own_row}"
    );
    ensure!(
        cell("alerts-chart").contains("<title>1</title>"),
        "{own_row}"
    );
    ensure!(
        page.contains("对账差异") && page.contains("流量骤降"),
        "{page}"
    );
    ensure!(
        page.contains("file:///lake")
            && page.contains("4 ms")
            && page.contains("id=\"open-alerts\" title=\"告警\">2</span>"),
        "the lake's node: {page}"
    );
    ensure!(
        page.contains("3 missing from the lake") && page.contains("4321"),
        "{page}"
    );
    ensure!(
        page.contains("<svg class=\"spark\""),
        "a volume chart per institution"
    );
    ensure!(
        page.contains("<td>117</td>"),
        "the gap's lake count: {page}"
    );

    let ack = app
        .send(form(
            &format!("/integration/monitoring/alerts/{}/acknowledge", gap.id),
            Some(&manager),
            Some(&manager.csrf),
            &[],
        ))
        .await?;
    ensure!(ack.status() == StatusCode::SEE_OTHER, "{}", ack.status());
    let acked = store.alert(gap.id).await?.context("kept")?;
    ensure!(acked.status == hdos_store::AlertStatus::Acknowledged);
    ensure!(acked.acknowledged_by.is_some());
    let resolve = app
        .send(form(
            &format!("/integration/monitoring/alerts/{}/resolve", gap.id),
            Some(&manager),
            Some(&manager.csrf),
            &[],
        ))
        .await?;
    ensure!(resolve.status() == StatusCode::SEE_OTHER);
    ensure!(
        store
            .alert(gap.id)
            .await?
            .context("kept")?
            .resolved_at
            .is_some()
    );

    let provider = app.session(Role::Provider).await?;
    let page = body_text(
        app.send(get("/integration/monitoring", Some(&provider)))
            .await?,
    )
    .await?;
    ensure!(
        !page.contains("流量骤降"),
        "another institution's alert is not shown: {page}"
    );
    ensure!(!page.contains("/acknowledge"), "a provider gets no buttons");
    ensure!(
        !page.contains("file:///lake") && !page.contains("open-alerts"),
        "the lake's node is the managers'"
    );

    let metrics = body_text(app.send(get("/metrics", None)).await?).await?;
    ensure!(
        metrics.contains(
            "hdos_alerts_open{institution=\"12330000TEST00002B\",kind=\"volume_drop\"} 1"
        ),
        "{metrics}"
    );
    ensure!(metrics.contains(
        "hdos_reconciliation_gap_rows{channel=\"his_own\",dataset=\"outpatient_visit\"} 3"
    ));
    ensure!(
        metrics.contains("hdos_link_up{channel=\"\",node=\"lake\"} 1"),
        "{metrics}"
    );
    ensure!(metrics.contains("hdos_link_latency_ms{channel=\"\",node=\"lake\"} 4"));
    Ok(())
}

#[tokio::test]
async fn quarantined_records_are_listed_with_identifiers_masked() -> Result<()> {
    use hdos_lake::{
        TableName,
        arrow::{
            array::{ArrayRef, Int64Array, StringArray, TimestampMicrosecondArray},
            datatypes::{DataType, Field, Schema, TimeUnit},
            record_batch::RecordBatch,
        },
    };
    use std::sync::Arc;
    let app = TestApp::new().await?;
    let text = |n: &str| Field::new(n, DataType::Utf8, true);
    let schema = Arc::new(Schema::new(vec![
        text("_hdos_institution"),
        text("_hdos_source"),
        text("source_table"),
        Field::new("_hdos_batch", DataType::Int64, false),
        text("_hdos_position"),
        text("field"),
        text("value"),
        text("reason"),
        text("record"),
        Field::new(
            "_hdos_received_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
    ]));
    let strings = |v: [&str; 2]| -> ArrayRef { Arc::new(StringArray::from(v.to_vec())) };
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            strings(["12330000TEST00001A", "12330000TEST00002B"]),
            strings(["his_own", "his_other"]),
            // The second was moved out of std by a hard quality rule: standard field names.
            strings(["brxx", "std/patient"]),
            Arc::new(Int64Array::from(vec![1, 1])),
            strings(["{}", "{}"]),
            strings(["id_no", "id_no"]),
            strings(["33010619900307123X", "330106199003071234"]),
            strings(["check digit wrong", "check digit wrong"]),
            strings([
                r#"{"brid":"P001","xm":"王小明","sfzh":"33010619900307123X","lxdh":"13812345678"}"#,
                r#"{"patient_id":"P002","name":"李四","id_no":"330106199003071234"}"#,
            ]),
            Arc::new(
                TimestampMicrosecondArray::from(vec![1_700_000_000_000_000, 1_700_000_000_000_000])
                    .with_timezone("UTC"),
            ),
        ],
    )?;
    let table = TableName::new("quarantine/patient")?;
    app.state.lake.create_table(&table, &schema).await?;
    // The channel's mapping tells which source columns hold the name, ID number and phone.
    let mapping: hdos_ingest::mapping::TableMapping = toml::from_str(
        r#"
source_table = "brxx"
dataset = "patient"
fields = [
  { target = "patient_id", source = "brid" },
  { target = "name", source = "xm" },
  { target = "id_no", source = "sfzh" },
  { target = "phone", source = "lxdh" },
]
"#,
    )?;
    let spec = hdos_ingest::channel::ChannelSpec::Sql {
        source: hdos_ingest::channel::SqlSource::Sqlite("his.db".into()),
        tables: vec![mapping],
        chunk_rows: None,
    };
    crate::common::own_sql_channel(&app, &spec).await?;
    app.state.lake.append(&table, vec![batch], None).await?;

    let manager = app.session(Role::Manager).await?;
    let page = body_text(
        app.send(get("/integration/quarantine", Some(&manager)))
            .await?,
    )
    .await?;
    ensure!(
        page.contains("patient (2)") && page.contains("check digit wrong"),
        "{page}"
    );
    ensure!(
        page.contains("P001") && page.contains("P002"),
        "record numbers stay visible"
    );
    ensure!(
        !page.contains("33010619900307123X") && !page.contains("13812345678"),
        "{page}"
    );
    ensure!(page.contains("138****5678"), "{page}");
    ensure!(
        page.contains("王**") && !page.contains("王小明"),
        "the mapped name column: {page}"
    );
    ensure!(
        page.contains("李*") && !page.contains("李四"),
        "a record moved from std, by its standard fields: {page}"
    );

    let provider = app.session(Role::Provider).await?;
    let page = body_text(
        app.send(get(
            "/integration/quarantine?table=patient",
            Some(&provider),
        ))
        .await?,
    )
    .await?;
    ensure!(
        page.contains("P001") && !page.contains("P002"),
        "only its own institution's: {page}"
    );
    ensure!(page.contains("patient (1)"));
    Ok(())
}

#[tokio::test]
async fn a_manager_previews_and_saves_a_mapping_on_sample_rows() -> Result<()> {
    let app = TestApp::new().await?;
    let dir = tempfile::tempdir()?;
    let his = dir.path().join("his.db");
    let db = rusqlite::Connection::open(&his)?;
    db.execute_batch(
        "CREATE TABLE mz_jzjl (jzid TEXT, brid TEXT, ksmc TEXT, ksdm TEXT, jzsj TEXT, zdbm TEXT, zdmc TEXT, gxsj TEXT);
         INSERT INTO mz_jzjl VALUES ('V1', 'P1', '内科', 'K01', '2026-03-01 08:00:00', 'J06.9', '急性上呼吸道感染', '2026-03-01 09:00:00');
         INSERT INTO mz_jzjl VALUES ('V2', 'P2', '儿科', 'K02', 'yesterday', 'J06.9', '急性上呼吸道感染', '2026-03-01 09:05:00');",
    )?;
    drop(db);
    let mapping = |dept: &str| {
        format!(
            r#"[[tables]]
source_table = "mz_jzjl"
dataset = "outpatient_visit"
cursor = "gxsj"
fields = [
  {{ target = "visit_id", source = "jzid" }},
  {{ target = "patient_id", source = "brid" }},
  {{ target = "dept_name", source = "{dept}" }},
  {{ target = "visit_time", source = "jzsj", transforms = [{{ op = "timestamp", format = "yyyy-MM-dd HH:mm:ss" }}] }},
  {{ target = "diagnosis_code", source = "zdbm" }},
  {{ target = "diagnosis_name", source = "zdmc" }},
  {{ target = "updated_at", source = "gxsj", transforms = [{{ op = "timestamp", format = "yyyy-MM-dd HH:mm:ss" }}] }},
]
"#
        )
    };
    let file: hdos_ingest::mapping::MappingFile = toml::from_str(&mapping("ksmc"))?;
    let spec = hdos_ingest::channel::ChannelSpec::Sql {
        source: hdos_ingest::channel::SqlSource::Sqlite(his.clone()),
        tables: file.tables,
        chunk_rows: None,
    };
    crate::common::own_sql_channel(&app, &spec).await?;
    let url = "/integration/collection/channels/his_own/mapping";
    let manager = app.session(Role::Manager).await?;
    let page = body_text(app.send(get(url, Some(&manager))).await?).await?;
    ensure!(
        page.contains("<td>内科</td>") && page.contains("2026-03-01 08:00:00"),
        "{page}"
    );
    ensure!(
        page.contains("visit_time") && page.contains("yesterday"),
        "the refused row and why: {page}"
    );

    // An edit previews without saving.
    let preview = app
        .send(form(
            url,
            Some(&manager),
            Some(&manager.csrf),
            &[("mapping", &mapping("ksdm")), ("intent", "preview")],
        ))
        .await?;
    ensure!(preview.status() == StatusCode::OK);
    let page = body_text(preview).await?;
    ensure!(
        page.contains("<td>K01</td>") && !page.contains("<td>内科</td>"),
        "{page}"
    );
    let stored = app.state.store.channel("his_own").await?.context("saved")?;
    ensure!(
        stored.spec.contains("\"ksmc\""),
        "a preview changes nothing"
    );

    // A column the source does not have: shown back with the problem, not saved.
    let bad = app
        .send(form(
            url,
            Some(&manager),
            Some(&manager.csrf),
            &[("mapping", &mapping("keshi")), ("intent", "save")],
        ))
        .await?;
    ensure!(
        bad.status() == StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        bad.status()
    );
    ensure!(body_text(bad).await?.contains("keshi"));
    let broken = app
        .send(form(
            url,
            Some(&manager),
            Some(&manager.csrf),
            &[("mapping", "[[tables]\nnonsense"), ("intent", "preview")],
        ))
        .await?;
    ensure!(broken.status() == StatusCode::UNPROCESSABLE_ENTITY);

    let saved = app
        .send(form(
            url,
            Some(&manager),
            Some(&manager.csrf),
            &[("mapping", &mapping("ksdm")), ("intent", "save")],
        ))
        .await?;
    ensure!(
        saved.status() == StatusCode::SEE_OTHER,
        "{}",
        saved.status()
    );
    let stored = app.state.store.channel("his_own").await?.context("saved")?;
    ensure!(stored.spec.contains("\"ksdm\""), "{}", stored.spec);
    let audit = app
        .state
        .store
        .list_audit(
            &hdos_store::AuditFilter::default(),
            hdos_store::Page::new(50, 0),
        )
        .await?;
    let saves: Vec<_> = audit
        .iter()
        .filter(|e| e.action == "channel.mapping.save")
        .collect();
    ensure!(
        saves.len() == 2,
        "the refused save and the saved one are both audited"
    );
    Ok(())
}
