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

#[tokio::test]
async fn each_role_logs_in_sees_its_navigation_and_switches_language() -> Result<()> {
    let required = std::env::var("HDOS_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
    let (Some(chromedriver), Some(chromium)) = (
        executable("HDOS_TEST_CHROMEDRIVER", "/usr/bin/chromedriver"),
        executable("HDOS_TEST_CHROMIUM", "/usr/bin/chromium"),
    ) else {
        if required {
            bail!("HDOS_REQUIRE_BROWSER=1 but chromium or chromedriver is not installed");
        }
        eprintln!("skipped: chromium/chromedriver not installed");
        return Ok(());
    };
    let app = TestApp::new().await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(hdos_server::serve(app.state.clone(), listener, async {
        let _ = stopped.await;
    }));
    let (_driver, port) = start_driver(&chromedriver).await?;
    let profile = tempfile::tempdir()?;
    let c = browser(port, &chromium, profile.path()).await?;
    let result = async {
        for role in Role::ALL {
            log_in(&c, &base, role).await?;
            let expected: Vec<String> = nav::for_roles(T::new(Lang::Zh), &[role], "/")
                .into_iter()
                .flat_map(|g| g.items)
                .map(|i| i.href.to_owned())
                .collect();
            let seen = nav_links(&c).await?;
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
    c.close().await?;
    let _ = stop.send(());
    server.await??;
    result
}
