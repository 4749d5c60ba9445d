//! The configuration tree and its layering: defaults < `hdos.toml` < `HDOS__…` environment
//! variables < command-line flags.

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use hdos_server::ServerConfig;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where hdos keeps its state when nothing else is configured.
    pub data_dir: PathBuf,
    pub store: StoreConfig,
    pub lake: LakeConfig,
    pub security: SecurityConfig,
    pub log: LogConfig,
    pub server: ServerConfig,
    pub worker: WorkerConfig,
    pub monitor: MonitorConfig,
    pub quality: QualityConfig,
    /// Where ticket notifications go besides the app (the SMTP password comes from
    /// `HDOS_SMTP_PASSWORD`, never from a file).
    pub notify: hdos_quality::notify::NotifyConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("hdos-data"),
            store: StoreConfig::default(),
            lake: LakeConfig::default(),
            security: SecurityConfig::default(),
            log: LogConfig::default(),
            server: ServerConfig::default(),
            worker: WorkerConfig::default(),
            monitor: MonitorConfig::default(),
            quality: QualityConfig::default(),
            notify: hdos_quality::notify::NotifyConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// `sqlite://path` or `postgres://user:password@host:port/db`; empty means SQLite in the
    /// data dir.
    pub url: String,
    pub max_connections: u32,
    /// Attempts to reach PostgreSQL at start-up, with exponential backoff between them.
    pub connect_attempts: u32,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            max_connections: 10,
            connect_attempts: 6,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default, deny_unknown_fields)]
pub struct LakeConfig {
    /// A directory or an object-store URL; empty means `lake/` in the data dir.
    pub location: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default, deny_unknown_fields)]
pub struct SecurityConfig {
    /// The master key file; empty means `master.key` in the data dir (created 0600 if absent).
    pub master_key_file: String,
}

/// How `hdos worker`, and the worker embedded in `hdos serve`, run channels.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct WorkerConfig {
    /// Whether `hdos serve` runs channels itself (turn off when `hdos worker` processes do).
    pub embedded: bool,
    /// How long a channel's lease lasts unless renewed: the longest a dead worker's channels
    /// wait for another worker.
    pub lease_seconds: u64,
    /// Batch runs one worker runs at once at most (streaming channels always run).
    pub max_jobs: usize,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            embedded: true,
            lease_seconds: 10,
            max_jobs: 4,
        }
    }
}

/// Link monitoring, run by one worker of the cluster at a time.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MonitorConfig {
    /// Seconds between monitoring passes (failed runs, empty runs, volume, reconciliation).
    pub interval_seconds: u64,
    /// Minutes between reconciliations of each SQL, CDC and MLLP channel against its source.
    pub reconcile_minutes: u64,
    /// New alerts are POSTed here as JSON (`{"alert": {…}}`); empty means none.
    pub webhook_url: String,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        Self {
            interval_seconds: 60,
            reconcile_minutes: 60,
            webhook_url: String::new(),
        }
    }
}

/// Scheduled quality runs, by one worker of the cluster at a time.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct QualityConfig {
    /// Seconds between looks for finished collection runs (a quality run follows each).
    pub poll_seconds: u64,
    /// Minutes after which a run happens anyway (streaming channels have no runs to follow).
    pub every_minutes: u64,
}

impl Default for QualityConfig {
    fn default() -> Self {
        Self {
            poll_seconds: 60,
            every_minutes: 60,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Pretty on a terminal, JSON otherwise.
    #[default]
    Auto,
    Pretty,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A tracing filter such as `info` or `hdos_server=debug,info`.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Auto,
            level: "info".into(),
        }
    }
}

/// Flags that override the file and the environment.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub data_dir: Option<PathBuf>,
    pub listen: Option<String>,
    pub store_url: Option<String>,
}

impl Config {
    /// Loads the layers. A missing default `hdos.toml` is fine; a missing named file is not.
    pub fn load(
        file: Option<&Path>,
        env: Env,
        flags: &Overrides,
    ) -> Result<Self, Box<figment::Error>> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        match file {
            Some(path) if !path.exists() => {
                return Err(Box::new(figment::Error::from(format!(
                    "config file {} does not exist",
                    path.display()
                ))));
            }
            Some(path) => fig = fig.merge(Toml::file(path)),
            None => fig = fig.merge(Toml::file("hdos.toml")),
        }
        fig = fig.merge(env);
        if let Some(d) = &flags.data_dir {
            fig = fig.merge(Serialized::default("data_dir", d));
        }
        if let Some(l) = &flags.listen {
            fig = fig.merge(Serialized::default("server.listen", l));
        }
        if let Some(u) = &flags.store_url {
            fig = fig.merge(Serialized::default("store.url", u));
        }
        fig.extract().map_err(Box::new)
    }

    /// The environment layer: `HDOS__SECTION__KEY`.
    pub fn env() -> Env {
        Env::prefixed("HDOS__").split("__")
    }

    pub fn store_url(&self) -> String {
        if self.store.url.is_empty() {
            format!("sqlite://{}", self.data_dir.join("hdos.db").display())
        } else {
            self.store.url.clone()
        }
    }

    pub fn lake_location(&self) -> String {
        if self.lake.location.is_empty() {
            self.data_dir.join("lake").display().to_string()
        } else {
            self.lake.location.clone()
        }
    }

    pub fn master_key_path(&self) -> PathBuf {
        if self.security.master_key_file.is_empty() {
            self.data_dir.join("master.key")
        } else {
            PathBuf::from(&self.security.master_key_file)
        }
    }

    /// The effective configuration as TOML with secrets redacted.
    pub fn redacted_toml(&self) -> String {
        let mut shown = self.clone();
        shown.store.url = hdos_store::redact_url(&self.store_url());
        toml::to_string_pretty(&shown).unwrap_or_default()
    }
}

#[cfg(test)]
// figment's Jail closures return figment::Error itself.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use figment::Jail;

    #[test]
    fn layers_apply_in_order() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "hdos.toml",
                "data_dir = \"from-file\"\n[server]\nlisten = \"127.0.0.1:1111\"\nsession_idle_minutes = 5\n",
            )?;
            jail.set_env("HDOS__SERVER__LISTEN", "127.0.0.1:2222");
            let cfg = Config::load(None, Config::env(), &Overrides::default()).map_err(|e| *e)?;
            assert_eq!(cfg.data_dir, PathBuf::from("from-file"));
            assert_eq!(cfg.server.listen, "127.0.0.1:2222");
            assert_eq!(cfg.server.session_idle_minutes, 5);
            assert_eq!(cfg.server.login_max_failures, 5, "default kept");
            let flags = Overrides {
                listen: Some("127.0.0.1:3333".into()),
                ..Default::default()
            };
            let cfg = Config::load(None, Config::env(), &flags).map_err(|e| *e)?;
            assert_eq!(cfg.server.listen, "127.0.0.1:3333");
            Ok(())
        });
    }

    #[test]
    fn an_unknown_key_is_named() {
        Jail::expect_with(|jail| {
            jail.create_file("hdos.toml", "[server]\nlisten_adress = \"x\"\n")?;
            let err = Config::load(None, Config::env(), &Overrides::default())
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains("listen_adress"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn a_bad_value_is_named_with_its_key() {
        Jail::expect_with(|jail| {
            jail.set_env("HDOS__SERVER__SESSION_IDLE_MINUTES", "soon");
            let err = Config::load(None, Config::env(), &Overrides::default())
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(
                err.to_lowercase().contains("server.session_idle_minutes"),
                "{err}"
            );
            Ok(())
        });
    }

    #[test]
    fn the_committed_example_matches_the_structs() {
        let example = include_str!("../../../hdos.example.toml");
        let parsed: Config = toml::from_str(example).expect("hdos.example.toml parses");
        assert_eq!(parsed, Config::default(), "the example shows the defaults");
    }

    #[test]
    fn secrets_are_redacted() {
        let mut cfg = Config::default();
        cfg.store.url = "postgres://hdos:s3cret@db:5432/hdos".into();
        let shown = cfg.redacted_toml();
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("***"));
    }
}
