//! Builds the concrete backends from the configuration: the only place that names them.

use crate::config::Config;
use anyhow::{Context, Result, bail};
use hdos_lake::Lake;
use hdos_store::{ConnectOptions, MasterKey, MetaStore, SqlStore};
use std::{path::Path, sync::Arc};

/// Creates the data directory if needed and proves it is writable, with a clear error if not.
pub fn ensure_data_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("data directory {} cannot be created", dir.display()))?;
    let probe = dir.join(".hdos-write-probe");
    std::fs::write(&probe, b"ok")
        .and_then(|()| std::fs::remove_file(&probe))
        .with_context(|| format!("data directory {} is not writable", dir.display()))?;
    Ok(())
}

pub async fn open_store(cfg: &Config) -> Result<Arc<dyn MetaStore>> {
    let url = cfg.store_url();
    if url.starts_with("sqlite:") {
        ensure_data_dir(&cfg.data_dir)?;
    }
    let opts = ConnectOptions {
        max_connections: cfg.store.max_connections,
        connect_attempts: cfg.store.connect_attempts,
        ..ConnectOptions::default()
    };
    let store = SqlStore::connect(&url, &opts).await.with_context(|| {
        format!(
            "opening the metadata store {}",
            hdos_store::redact_url(&url)
        )
    })?;
    Ok(Arc::new(store))
}

pub fn open_lake(cfg: &Config) -> Result<Arc<Lake>> {
    let location = cfg.lake_location();
    Ok(Arc::new(Lake::open(&location).with_context(|| {
        format!("opening the lake at {location}")
    })?))
}

pub fn master_key(cfg: &Config) -> Result<MasterKey> {
    ensure_data_dir(&cfg.data_dir)?;
    Ok(MasterKey::load_or_create(&cfg.master_key_path())?)
}

/// Refuses a listen address that is not loopback, for the demo.
pub fn require_loopback(listen: &str) -> Result<()> {
    let addr: std::net::SocketAddr = listen
        .parse()
        .with_context(|| format!("`{listen}` is not an address such as 127.0.0.1:8080"))?;
    if !addr.ip().is_loopback() {
        bail!("the demo binds to loopback only; `{listen}` is not a loopback address");
    }
    Ok(())
}

/// Where ticket notifications go: the configuration, with the SMTP password from
/// `HDOS_SMTP_PASSWORD` (never from a file).
pub fn notify_config(cfg: &Config) -> hdos_quality::notify::NotifyConfig {
    let mut notify = cfg.notify.clone();
    notify.smtp.password = std::env::var("HDOS_SMTP_PASSWORD").unwrap_or_default();
    notify
}
