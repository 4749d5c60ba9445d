//! A real headless Chromium, driven over WebDriver, logs in as each role against a real socket,
//! checks the navigation that role sees, and switches the language.
//! Runs when chromedriver is installed; HDOS_REQUIRE_BROWSER=1 (set by scripts/test) makes its
//! absence a failure.

use crate::common::{PASSWORD, TestApp, username};
use anyhow::{Context, Result, bail, ensure};
use fantoccini::{Client, ClientBuilder, Locator};
use hdos_core::Role;
use hdos_server::{
    i18n::{Lang, T},
    nav,
};
use std::{process::Stdio, time::Duration};

fn executable(var: &str, default: &str) -> Option<String> {
    let path = std::env::var(var).unwrap_or_else(|_| default.to_owned());
    std::path::Path::new(&path).exists().then_some(path)
}

struct Driver(tokio::process::Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.start_kill();
    }
}

async fn free_port() -> Result<u16> {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    Ok(l.local_addr()?.port())
}

async fn start_driver(chromedriver: &str) -> Result<(Driver, u16)> {
    let port = free_port().await?;
    let child = tokio::process::Command::new(chromedriver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("starting chromedriver")?;
    let driver = Driver(child);
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok((driver, port));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("chromedriver did not start on port {port}")
}

async fn browser(port: u16, chromium: &str, profile: &std::path::Path) -> Result<Client> {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": chromium,
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--disable-dev-shm-usage", "--lang=zh-CN", format!("--user-data-dir={}", profile.display())],
            // A browser set to Chinese, as the platform's users have.
            "prefs": {"intl.accept_languages": "zh-CN,zh"}
        }),
    );
    // Plain HTTP to a driver on loopback: no TLS stack needed.
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    Ok(ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await?)
}

async fn nav_links(c: &Client) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for a in c.find_all(Locator::Css("#nav .group a")).await? {
        out.push(a.attr("href").await?.unwrap_or_default());
    }
    Ok(out)
}

async fn log_in(c: &Client, base: &str, role: Role) -> Result<()> {
    c.goto(&format!("{base}/login")).await?;
    c.find(Locator::Id("username"))
        .await?
        .send_keys(&username(role))
        .await?;
    c.find(Locator::Id("password"))
        .await?
        .send_keys(PASSWORD)
        .await?;
    c.find(Locator::Id("login-submit")).await?.click().await?;
    c.wait().for_element(Locator::Id("nav")).await?;
    Ok(())
}

/// A server on a real socket and a headless Chromium driving it; `None` when the browser is not
/// installed and not required.
struct Launched {
    app: TestApp,
    c: Client,
    base: String,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    _driver: Driver,
    _profile: tempfile::TempDir,
}

async fn launch() -> Result<Option<Launched>> {
    let required = std::env::var("HDOS_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
    let (Some(chromedriver), Some(chromium)) = (
        executable("HDOS_TEST_CHROMEDRIVER", "/usr/bin/chromedriver"),
        executable("HDOS_TEST_CHROMIUM", "/usr/bin/chromium"),
    ) else {
        if required {
            bail!("HDOS_REQUIRE_BROWSER=1 but chromium or chromedriver is not installed");
        }
        eprintln!("skipped: chromium/chromedriver not installed");
        return Ok(None);
    };
    let app = TestApp::new().await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(hdos_server::serve(app.state.clone(), listener, async {
        let _ = stopped.await;
    }));
    let (driver, port) = start_driver(&chromedriver).await?;
    let profile = tempfile::tempdir()?;
    let c = browser(port, &chromium, profile.path()).await?;
    Ok(Some(Launched {
        app,
        c,
        base,
        stop,
        server,
        _driver: driver,
        _profile: profile,
    }))
}

impl Launched {
    /// Closes the browser and stops the server, then gives the test's own result.
    async fn finish(self, result: Result<()>) -> Result<()> {
        self.c.close().await?;
        let _ = self.stop.send(());
        self.server.await??;
        result
    }
}

#[tokio::test]
async fn each_role_logs_in_sees_its_navigation_and_switches_language() -> Result<()> {
    let Some(l) = launch().await? else {
        return Ok(());
    };
    let (c, base) = (&l.c, &l.base);
    let result = async {
        for role in Role::ALL {
            log_in(c, base, role).await?;
            let expected: Vec<String> = nav::for_roles(T::new(Lang::Zh), &[role], "/")
                .into_iter()
                .flat_map(|g| g.items)
                .map(|i| i.href.to_owned())
                .collect();
            let seen = nav_links(c).await?;
            ensure!(
                seen == expected,
                "{role}: saw {seen:?}, expected {expected:?}"
            );
            let html_lang = c.find(Locator::Css("html")).await?.attr("lang").await?;
            ensure!(
                html_lang.as_deref() == Some("zh-CN"),
                "{role}: {html_lang:?}"
            );
            let home = c.find(Locator::Css("#nav a.home")).await?.text().await?;
            ensure!(home == "首页", "{role}: {home}");
            c.find(Locator::Id("lang-switch")).await?.click().await?;
            c.wait()
                .for_element(Locator::Css("html[lang='en']"))
                .await?;
            let home = c.find(Locator::Css("#nav a.home")).await?.text().await?;
            ensure!(home == "Home", "{role}: {home}");
            // Back to Chinese for the next role, then log out.
            c.find(Locator::Id("lang-switch")).await?.click().await?;
            c.wait()
                .for_element(Locator::Css("html[lang='zh-CN']"))
                .await?;
            c.find(Locator::Id("logout")).await?.click().await?;
            c.wait().for_element(Locator::Id("login-form")).await?;
        }
        Ok(())
    }
    .await;
    l.finish(result).await
}

#[tokio::test]
async fn a_manager_runs_a_channel_and_edits_its_mapping_with_a_live_preview() -> Result<()> {
    let Some(l) = launch().await? else {
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let his = dir.path().join("his.db");
    let db = rusqlite::Connection::open(&his)?;
    db.execute_batch(
        "CREATE TABLE mz_jzjl (jzid TEXT, brid TEXT, ksmc TEXT, ksdm TEXT, jzsj TEXT, zdbm TEXT, zdmc TEXT, gxsj TEXT);
         INSERT INTO mz_jzjl VALUES ('V1', 'P1', '内科', 'K01', '2026-03-01 08:00:00', 'J06.9', '急性上呼吸道感染', '2026-03-01 09:00:00');",
    )?;
    drop(db);
    let mapping: hdos_ingest::mapping::MappingFile = toml::from_str(
        r#"[[tables]]
source_table = "mz_jzjl"
dataset = "outpatient_visit"
cursor = "gxsj"
fields = [
  { target = "visit_id", source = "jzid" },
  { target = "patient_id", source = "brid" },
  { target = "dept_name", source = "ksmc" },
  { target = "visit_time", source = "jzsj", transforms = [{ op = "timestamp", format = "yyyy-MM-dd HH:mm:ss" }] },
  { target = "diagnosis_code", source = "zdbm" },
  { target = "diagnosis_name", source = "zdmc" },
  { target = "updated_at", source = "gxsj", transforms = [{ op = "timestamp", format = "yyyy-MM-dd HH:mm:ss" }] },
]
"#,
    )?;
    let spec = hdos_ingest::channel::ChannelSpec::Sql {
        source: hdos_ingest::channel::SqlSource::Sqlite(his),
        tables: mapping.tables,
        chunk_rows: None,
    };
    crate::common::own_sql_channel(&l.app, &spec).await?;
    let store = l.app.state.store.clone();
    let (c, base) = (&l.c, &l.base);
    let result = async {
        log_in(c, base, Role::Manager).await?;
        c.goto(&format!("{base}/integration/collection")).await?;
        c.find(Locator::Css("form[action$='/his_own/run'] button"))
            .await?
            .click()
            .await?;
        // The form posts and the page comes back; the request is in the store by then.
        let mut requested = false;
        for _ in 0..50 {
            requested = store
                .channel("his_own")
                .await?
                .context("saved")?
                .run_requested_at
                .is_some();
            if requested {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        ensure!(requested, "the click asks for a run");
        c.wait().for_element(Locator::Id("channels")).await?;

        c.find(Locator::LinkText("映射")).await?.click().await?;
        c.wait().for_element(Locator::Id("mapping")).await?;
        let preview = c.find(Locator::Id("preview")).await?.text().await?;
        ensure!(preview.contains("内科"), "{preview}");
        // Typing previews without saving: the department now comes from its code.
        let text = c.find(Locator::Id("mapping")).await?;
        let edited = text
            .prop("value")
            .await?
            .unwrap_or_default()
            .replace("source = \"ksmc\"", "source = \"ksdm\"");
        text.clear().await?;
        text.send_keys(&edited).await?;
        let mut shown = String::new();
        for _ in 0..50 {
            // The script replaces the element: one found just before that reads as stale.
            shown = match c.find(Locator::Id("preview")).await {
                Ok(e) => e.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if shown.contains("K01") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        ensure!(
            shown.contains("K01") && !shown.contains("内科"),
            "live preview: {shown}"
        );
        ensure!(
            store
                .channel("his_own")
                .await?
                .context("saved")?
                .spec
                .contains("ksmc")
        );
        c.find(Locator::Css("button[value='save']"))
            .await?
            .click()
            .await?;
        c.wait().for_element(Locator::Id("saved")).await?;
        ensure!(
            store
                .channel("his_own")
                .await?
                .context("saved")?
                .spec
                .contains("ksdm")
        );
        Ok(())
    }
    .await;
    l.finish(result).await
}

#[tokio::test]
async fn a_provider_uploads_a_file_into_its_folder_channel_from_the_page() -> Result<()> {
    let Some(l) = launch().await? else {
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let inbox = dir.path().join("inbox");
    std::fs::create_dir_all(&inbox)?;
    let spec = hdos_ingest::channel::ChannelSpec::Folder {
        path: inbox.clone(),
        tables: Vec::new(),
    };
    l.app
        .state
        .store
        .save_channel(hdos_store::NewChannel {
            name: "drop_own".into(),
            institution: "12330000TEST00001A".into(),
            kind: spec.kind().into(),
            spec: spec.to_json(),
            schedule: Some("0 2 * * *".into()),
            enabled: true,
            next_run_at: None,
        })
        .await?;
    // A hospital's export, in GBK, under a Chinese name.
    let export = dir.path().join("门诊就诊.csv");
    std::fs::write(&export, b"jzid,ksmc\r\nV1,\xc4\xda\xbf\xc6\r\n")?;
    let store = l.app.state.store.clone();
    let (c, base) = (&l.c, &l.base);
    let result = async {
        log_in(c, base, Role::Provider).await?;
        c.goto(&format!("{base}/integration/collection")).await?;
        c.find(Locator::Css("#upload input[type=file]"))
            .await?
            .send_keys(&export.display().to_string())
            .await?;
        c.find(Locator::Css("#upload button"))
            .await?
            .click()
            .await?;
        // The script sends the form and loads the page the server answers with.
        let notice = c.wait().for_element(Locator::Id("uploaded")).await?;
        let text = notice.text().await?;
        ensure!(
            text.contains("门诊就诊.csv") && text.contains("drop_own"),
            "{text}"
        );
        ensure!(
            std::fs::read(inbox.join("门诊就诊.csv"))? == std::fs::read(&export)?,
            "the file arrives byte for byte"
        );
        let c = store.channel("drop_own").await?.context("saved")?;
        ensure!(c.run_requested_at.is_some(), "a run is requested");
        Ok(())
    }
    .await;
    l.finish(result).await
}
