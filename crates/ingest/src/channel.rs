//! Channels kept in the metadata store: what each kind needs to run ([`ChannelSpec`], stored as
//! JSON), and one run of a channel until it ends or is told to stop. Batch channels (SQL) run
//! their tables and end; streaming channels (CDC, MLLP) run until stopped.

pub mod schedule;

use crate::{
    IngestError,
    batch::{self, BatchJob},
    cdc::{CdcChannel, CdcConfig},
    hl7::MessageMappings,
    land::slug,
    mapping::TableMapping,
    mllp::{MllpChannel, MllpConfig},
    source::BatchSource,
};
use hdos_core::standard::Standard;
use hdos_lake::Lake;
use hdos_store::{Channel, MasterKey, MetaStore, RunCounts, Secret};
use serde::{Deserialize, Serialize};
use std::{net::SocketAddr, path::PathBuf, sync::Arc};
use tokio::sync::watch;

/// What a channel reads and how it maps it, by kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ChannelSpec {
    /// Query-based batch collection of a database's tables, incrementally after each table's
    /// stored position.
    Sql {
        source: SqlSource,
        /// One confirmed mapping per source table.
        tables: Vec<TableMapping>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        chunk_rows: Option<usize>,
    },
    /// Log-based collection from PostgreSQL through a stored connection.
    Cdc {
        connection: String,
        tables: Vec<TableMapping>,
    },
    /// Data files dropped into a folder (or uploaded into it), each collected as the table its
    /// name gives and then moved to `done/`.
    Folder {
        path: PathBuf,
        /// Mappings by table (file name without extension); other files get the suggested one.
        #[serde(default)]
        tables: Vec<TableMapping>,
    },
    /// HL7 v2 over MLLP on a listen address.
    Mllp {
        listen: SocketAddr,
        /// Message mappings as TOML; the built-in ones when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mappings: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_message_bytes: Option<usize>,
    },
}

/// Where a SQL channel reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum SqlSource {
    /// A stored connection (see `hdos connection`).
    Connection(String),
    /// A SQLite database file.
    Sqlite(PathBuf),
}

impl ChannelSpec {
    /// The kind as the store keeps it.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Sql { .. } => "sql",
            Self::Cdc { .. } => "cdc",
            Self::Folder { .. } => "folder",
            Self::Mllp { .. } => "mllp",
        }
    }

    /// Streaming channels run all the time; batch channels on a schedule or on request.
    pub fn is_streaming(&self) -> bool {
        matches!(self, Self::Cdc { .. } | Self::Mllp { .. })
    }

    /// Whether it reads a database (SQL, CDC): what the mapping page previews.
    pub fn reads_database(&self) -> bool {
        matches!(self, Self::Sql { .. } | Self::Cdc { .. })
    }

    /// Whether it has a standing source to reconcile the lake with: a database, or the messages
    /// a message channel acknowledged. A folder's files come and go.
    pub fn reconciles(&self) -> bool {
        !matches!(self, Self::Folder { .. })
    }

    /// The table mappings the channel keeps (none for message channels).
    pub fn tables(&self) -> &[TableMapping] {
        match self {
            Self::Sql { tables, .. } | Self::Cdc { tables, .. } | Self::Folder { tables, .. } => {
                tables
            }
            Self::Mllp { .. } => &[],
        }
    }

    pub fn to_json(&self) -> String {
        // A spec holds only strings, numbers and mappings: it always serialises.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The database a SQL or CDC channel reads (a stored connection's password unsealed);
    /// `None` for the kinds that read no database.
    pub async fn database(&self, env: &ChannelEnv) -> Result<Option<BatchSource>, IngestError> {
        let name = match self {
            Self::Sql {
                source: SqlSource::Sqlite(path),
                ..
            } => return Ok(Some(BatchSource::Sqlite(path.clone()))),
            Self::Sql {
                source: SqlSource::Connection(name),
                ..
            }
            | Self::Cdc {
                connection: name, ..
            } => name,
            Self::Folder { .. } | Self::Mllp { .. } => return Ok(None),
        };
        Ok(Some(
            connection_source(env.store.as_ref(), &env.master_key, name).await?,
        ))
    }

    /// Reads a stored channel's spec.
    pub fn of(channel: &Channel) -> Result<Self, IngestError> {
        serde_json::from_str(&channel.spec).map_err(|e| IngestError::Channel {
            channel: channel.name.clone(),
            reason: format!("its definition is unreadable: {e}"),
        })
    }

    /// Checks what can be checked without the source: mappings present, names distinct,
    /// message mappings valid.
    pub fn validate(&self, standard: &Standard) -> Result<(), String> {
        let tables = match self {
            Self::Sql { tables, .. } | Self::Cdc { tables, .. } => tables,
            Self::Folder { path, tables } => {
                if !path.is_dir() {
                    return Err(format!("{} is not a folder", path.display()));
                }
                if tables.is_empty() {
                    return Ok(());
                }
                tables
            }
            Self::Mllp { mappings, .. } => {
                if let Some(text) = mappings {
                    MessageMappings::from_toml(text).map_err(|e| e.to_string())?;
                }
                return Ok(());
            }
        };
        if tables.is_empty() {
            return Err("it maps no table".into());
        }
        let mut seen = std::collections::BTreeSet::new();
        for t in tables {
            if !seen.insert(&t.source_table) {
                return Err(format!("table `{}` is mapped twice", t.source_table));
            }
            if standard.dataset(&t.dataset).is_none() {
                return Err(format!(
                    "table `{}` maps to `{}`, which is not a standard dataset",
                    t.source_table, t.dataset
                ));
            }
        }
        Ok(())
    }
}

/// What running channels share: the store, the lake, the standard, the master key that unseals
/// connection passwords and where message journals live.
#[derive(Clone)]
pub struct ChannelEnv {
    pub store: Arc<dyn MetaStore>,
    pub lake: Lake,
    pub standard: &'static Standard,
    pub master_key: MasterKey,
    /// Each MLLP channel journals under `<journal_root>/<channel>`.
    pub journal_root: PathBuf,
}

/// The database a stored connection reaches, its password unsealed: a PostgreSQL schema or a
/// MySQL/MariaDB database.
pub async fn connection_source(
    store: &dyn MetaStore,
    key: &MasterKey,
    name: &str,
) -> Result<BatchSource, IngestError> {
    let bad = |reason: String| IngestError::Connection {
        name: name.to_owned(),
        reason,
    };
    let c = store
        .connection(name)
        .await?
        .ok_or_else(|| bad("no connection has this name (see `hdos connection list`)".into()))?;
    let scheme = match c.kind.as_str() {
        "postgres" => "postgres",
        "mysql" => "mysql",
        other => {
            return Err(bad(format!(
                "it is of kind `{other}`; hdos reads `postgres` and `mysql`"
            )));
        }
    };
    let mut url = url::Url::parse(&format!("{scheme}://localhost"))
        .map_err(|e| bad(format!("invalid URL: {e}")))?;
    url.set_host(Some(&c.host))
        .map_err(|e| bad(format!("invalid host `{}`: {e}", c.host)))?;
    let port = u16::try_from(c.port).map_err(|_| bad(format!("invalid port {}", c.port)))?;
    let _ = url.set_port(Some(port));
    let _ = url.set_username(&c.username);
    if let Some(sealed) = &c.sealed_password {
        let password = key
            .open(sealed)
            .map_err(|_| bad("its password cannot be unsealed with this master key".into()))?;
        let _ = url.set_password(Some(password.expose()));
    }
    url.set_path(&c.database);
    let url = Secret::new(url.as_str());
    Ok(match scheme {
        "postgres" => BatchSource::Postgres {
            url,
            schema: c.schema,
        },
        _ => BatchSource::Mysql { url },
    })
}

/// Runs one channel: a batch channel until its tables are read (or `stop` turns true between
/// chunks), a streaming channel until `stop` turns true.
pub async fn run(
    env: ChannelEnv,
    channel: Channel,
    spec: ChannelSpec,
    mut stop: watch::Receiver<bool>,
) -> Result<RunCounts, IngestError> {
    let database = spec.database(&env).await?;
    match (spec, database) {
        (
            ChannelSpec::Sql {
                tables, chunk_rows, ..
            },
            Some(source),
        ) => {
            let mut total = RunCounts::default();
            let mut first_error = None;
            for mapping in tables {
                let job = BatchJob {
                    channel: channel.name.clone(),
                    institution: channel.institution.clone(),
                    source: source.clone(),
                    mapping,
                    chunk_rows: chunk_rows.unwrap_or(batch::DEFAULT_CHUNK_ROWS),
                    full: false,
                };
                match batch::run_until(env.store.as_ref(), &env.lake, env.standard, &job, &stop)
                    .await
                {
                    Ok(r) => add(&mut total, r.counts),
                    Err(IngestError::Cancelled) => return Err(IngestError::Cancelled),
                    // The other tables still run; the run reports the first failure.
                    Err(e) => {
                        first_error.get_or_insert(e);
                    }
                }
            }
            match first_error {
                Some(e) => Err(e),
                None => Ok(total),
            }
        }
        (ChannelSpec::Cdc { tables, .. }, Some(BatchSource::Postgres { url, schema })) => {
            let config = CdcConfig::new(&channel.name, &channel.institution, url, &schema, tables);
            let running = CdcChannel::start(env.store, env.lake, env.standard, config).await?;
            let _ = stop.wait_for(|s| *s).await;
            running.stop().await
        }
        (ChannelSpec::Folder { path, tables }, _) => {
            crate::folder::run(&env, &channel, &path, &tables, &stop).await
        }
        (
            ChannelSpec::Mllp {
                listen,
                mappings,
                max_message_bytes,
            },
            _,
        ) => {
            let mappings = match mappings {
                Some(text) => MessageMappings::from_toml(&text)?,
                None => MessageMappings::builtin()?,
            };
            let mut config = MllpConfig::new(
                &channel.name,
                &channel.institution,
                listen,
                env.journal_root.join(slug(&channel.name)),
            );
            if let Some(max) = max_message_bytes {
                config.max_message_bytes = max;
            }
            let running =
                MllpChannel::start(env.store, env.lake, env.standard, &mappings, config).await?;
            let _ = stop.wait_for(|s| *s).await;
            Ok(running.stop().await?.counts)
        }
        (ChannelSpec::Cdc { connection, .. }, Some(_)) => Err(IngestError::Channel {
            channel: channel.name,
            reason: format!(
                "log-based collection reads PostgreSQL, and connection `{connection}` is not \
                 PostgreSQL; collect it with a sql channel"
            ),
        }),
        // `database` gives every SQL and CDC channel a database.
        (ChannelSpec::Sql { .. } | ChannelSpec::Cdc { .. }, None) => Err(IngestError::Channel {
            channel: channel.name,
            reason: "it names no database hdos can read".into(),
        }),
    }
}

pub(crate) fn add(total: &mut RunCounts, c: RunCounts) {
    total.rows_read += c.rows_read;
    total.rows_written += c.rows_written;
    total.rows_quarantined += c.rows_quarantined;
    total.bytes += c.bytes;
}
