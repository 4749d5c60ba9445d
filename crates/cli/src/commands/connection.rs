//! `hdos connection`: source connections kept in the metadata store, their passwords sealed with
//! the master key, used by `hdos ingest … --connection NAME`.

use super::admin::audit;
use crate::{
    cli::{ConnectionCommand, ConnectionKind},
    config::Config,
    wiring,
};
use anyhow::Result;
use hdos_ingest::{channel::connection_source, source::BatchSource};
use hdos_store::{NewSourceConnection, Outcome, Page};
use std::{process::ExitCode, time::Instant};

/// The database a stored connection reaches, its password unsealed.
pub async fn source(cfg: &Config, name: &str) -> Result<BatchSource> {
    let store = wiring::open_store(cfg).await?;
    Ok(connection_source(store.as_ref(), &wiring::master_key(cfg)?, name).await?)
}

pub async fn command(cfg: &Config, cmd: ConnectionCommand) -> Result<ExitCode> {
    let store = wiring::open_store(cfg).await?;
    match cmd {
        ConnectionCommand::Add {
            name,
            institution,
            kind,
            host,
            port,
            database,
            user,
            schema,
            password_env,
        } => {
            let port = port.unwrap_or(kind.default_port());
            // A MySQL database is its own schema.
            let schema = match (kind, schema) {
                (ConnectionKind::Postgres, Some(s)) => s,
                (ConnectionKind::Postgres, None) => "public".to_owned(),
                (ConnectionKind::Mysql, Some(s)) if s != database => anyhow::bail!(
                    "a MySQL database is its own schema: give --database {s} instead of --schema"
                ),
                (ConnectionKind::Mysql, _) => database.clone(),
            };
            let sealed = match std::env::var(&password_env) {
                Ok(p) => Some(wiring::master_key(cfg)?.seal(&p)),
                Err(_) => None,
            };
            let saved = store
                .save_connection(NewSourceConnection {
                    name: name.clone(),
                    kind: kind.name().into(),
                    institution,
                    host,
                    port: i64::from(port),
                    database,
                    username: user,
                    sealed_password: sealed,
                    schema,
                })
                .await?;
            audit(store.as_ref(), "connection.save", &name, Outcome::Success).await?;
            eprintln!(
                "connection `{}`: {}://{}@{}:{}/{} schema {} ({})",
                saved.name,
                saved.kind,
                saved.username,
                saved.host,
                saved.port,
                saved.database,
                saved.schema,
                if saved.sealed_password.is_some() {
                    "password sealed"
                } else {
                    "no password"
                }
            );
        }
        ConnectionCommand::List { institution } => {
            for c in store
                .list_connections(institution.as_deref(), Page::new(500, 0))
                .await?
            {
                println!("{}", serde_json::to_string(&c)?);
            }
        }
        ConnectionCommand::Test { name } => {
            let source = source(cfg, &name).await?;
            let started = Instant::now();
            let tables = tokio::task::spawn_blocking(move || source.catalog()?.tables()).await??;
            eprintln!(
                "connection `{name}`: reachable in {} ms; {} tables: {}",
                started.elapsed().as_millis(),
                tables.len(),
                tables.join(", ")
            );
        }
        ConnectionCommand::Remove { name } => {
            store.delete_connection(&name).await?;
            audit(store.as_ref(), "connection.remove", &name, Outcome::Success).await?;
            eprintln!("connection `{name}` removed");
        }
    }
    Ok(ExitCode::SUCCESS)
}
