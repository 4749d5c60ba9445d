//! `hdos channel`: channels kept in the metadata store, run by `hdos worker` (or the worker in
//! `hdos serve`). Every change is audited.

use super::admin::audit;
use crate::{
    cli::{ChannelAddArgs, ChannelCommand, ChannelKind},
    config::Config,
    wiring,
};
use anyhow::{Context, Result, bail};
use hdos_core::standard::Standard;
use hdos_ingest::{
    channel::{ChannelSpec, SqlSource, connection_source, schedule::Schedule},
    source::BatchSource,
};
use hdos_store::{MetaStore, NewChannel, Outcome, Page, now_millis};
use std::process::ExitCode;

/// The spec to store for a channel defined on the command line: SQL and CDC channels keep their
/// mappings (given, or suggested now).
async fn spec(args: &ChannelAddArgs, cfg: &Config, store: &dyn MetaStore) -> Result<ChannelSpec> {
    let database = |name: &str| {
        let name = name.to_owned();
        async move {
            Ok::<_, anyhow::Error>(
                connection_source(store, &wiring::master_key(cfg)?, &name).await?,
            )
        }
    };
    Ok(match args.kind {
        ChannelKind::Sql => {
            let (source, read) = match (&args.sqlite, &args.connection) {
                (Some(path), _) => (
                    SqlSource::Sqlite(path.clone()),
                    BatchSource::Sqlite(path.clone()),
                ),
                (None, Some(name)) => (SqlSource::Connection(name.clone()), database(name).await?),
                (None, None) => bail!("a sql channel reads --sqlite FILE or --connection NAME"),
            };
            ChannelSpec::Sql {
                source,
                tables: args.tables.mappings(&read).await?,
                chunk_rows: None,
            }
        }
        ChannelKind::Cdc => {
            let name = args.connection.as_deref().context(
                "a cdc channel reads a stored PostgreSQL connection: give --connection NAME",
            )?;
            let source = database(name).await?;
            if !matches!(source, BatchSource::Postgres { .. }) {
                bail!(
                    "connection `{name}` is not PostgreSQL: log-based collection reads \
                     PostgreSQL; collect it with --kind sql"
                );
            }
            ChannelSpec::Cdc {
                connection: name.to_owned(),
                tables: args.tables.mappings(&source).await?,
            }
        }
        ChannelKind::Folder => ChannelSpec::Folder {
            path: args
                .folder
                .clone()
                .context("a folder channel watches a folder: give --folder PATH")?,
            tables: match &args.tables.mapping {
                Some(path) => super::ingest::read_mappings(path, &args.tables.table)?,
                None => Vec::new(),
            },
        },
        ChannelKind::Mllp => ChannelSpec::Mllp {
            listen: args
                .listen
                .context("an mllp channel listens: give --listen ADDRESS:PORT")?,
            mappings: match &args.hl7_mapping {
                Some(p) => Some(
                    std::fs::read_to_string(p)
                        .with_context(|| format!("reading {}", p.display()))?,
                ),
                None => None,
            },
            max_message_bytes: None,
        },
    })
}

pub async fn command(cfg: &Config, cmd: ChannelCommand) -> Result<ExitCode> {
    let store = wiring::open_store(cfg).await?;
    let store = store.as_ref();
    match cmd {
        ChannelCommand::Add(args) => {
            let spec = spec(&args, cfg, store).await?;
            let ChannelAddArgs {
                name,
                institution,
                schedule,
                disabled,
                ..
            } = *args;
            spec.validate(Standard::builtin()?).map_err(|reason| {
                anyhow::anyhow!("channel `{name}` cannot be defined: {reason}")
            })?;
            if let Some(s) = &schedule {
                if spec.is_streaming() {
                    bail!(
                        "a {} channel runs all the time; a schedule is for sql channels",
                        spec.kind()
                    );
                }
                Schedule::parse(s).map_err(anyhow::Error::msg)?;
            }
            let saved = store
                .save_channel(NewChannel {
                    name: name.clone(),
                    institution,
                    kind: spec.kind().into(),
                    spec: spec.to_json(),
                    // A scheduled channel runs once at once, then on its schedule.
                    next_run_at: schedule.as_ref().map(|_| now_millis()),
                    schedule,
                    enabled: !disabled,
                })
                .await?;
            audit(store, "channel.save", &name, Outcome::Success).await?;
            eprintln!("{}", describe(&saved, &spec));
        }
        ChannelCommand::List { institution } => {
            for c in store
                .list_channels(institution.as_deref(), Page::new(10_000, 0))
                .await?
            {
                let mut line = serde_json::to_value(&c)?;
                if let Some(o) = line.as_object_mut() {
                    o.remove("spec");
                }
                println!("{line}");
            }
        }
        ChannelCommand::Show { name } => {
            let c = found(store, &name).await?;
            let mut shown = serde_json::to_value(&c)?;
            shown["spec"] = serde_json::from_str(&c.spec)?;
            println!("{}", serde_json::to_string_pretty(&shown)?);
        }
        ChannelCommand::Run { name } => {
            let c = found(store, &name).await?;
            if ChannelSpec::of(&c)?.is_streaming() {
                bail!(
                    "`{name}` is a {} channel: it runs all the time while enabled",
                    c.kind
                );
            }
            store.request_channel_run(&name, now_millis()).await?;
            audit(store, "channel.run", &name, Outcome::Success).await?;
            eprintln!("`{name}`: run requested; a worker starts it within a second or two");
        }
        ChannelCommand::Cancel { name } => {
            let leases = store.live_channel_leases(now_millis()).await?;
            if !leases.iter().any(|l| l.channel == name) {
                found(store, &name).await?;
                bail!("`{name}` is not running: there is nothing to cancel");
            }
            store.request_channel_cancel(&name, now_millis()).await?;
            audit(store, "channel.cancel", &name, Outcome::Success).await?;
            eprintln!("`{name}`: cancel requested; the run stops after its current chunk");
        }
        ChannelCommand::Enable { name } => set_enabled(store, &name, true).await?,
        ChannelCommand::Disable { name } => set_enabled(store, &name, false).await?,
        ChannelCommand::Remove { name } => {
            store.delete_channel(&name).await?;
            audit(store, "channel.remove", &name, Outcome::Success).await?;
            eprintln!("`{name}` removed; what it collected and its run history stay");
        }
        ChannelCommand::Status => {
            let now = now_millis();
            for w in store.list_workers(now - 60_000).await? {
                println!("{}", serde_json::json!({ "worker": w }));
            }
            for l in store.live_channel_leases(now).await? {
                println!("{}", serde_json::json!({ "lease": l }));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn set_enabled(store: &dyn MetaStore, name: &str, enabled: bool) -> Result<()> {
    store.set_channel_enabled(name, enabled).await?;
    let action = if enabled {
        "channel.enable"
    } else {
        "channel.disable"
    };
    audit(store, action, name, Outcome::Success).await?;
    eprintln!(
        "`{name}` {}",
        if enabled {
            "enabled"
        } else {
            "disabled; a running run stops after its current chunk"
        }
    );
    Ok(())
}

async fn found(store: &dyn MetaStore, name: &str) -> Result<hdos_store::Channel> {
    store
        .channel(name)
        .await?
        .with_context(|| format!("no channel named `{name}` (see `hdos channel list`)"))
}

/// One line on what a saved channel does.
fn describe(c: &hdos_store::Channel, spec: &ChannelSpec) -> String {
    let what = match spec {
        ChannelSpec::Sql { source, tables, .. } => format!(
            "reads {} table(s) from {}",
            tables.len(),
            match source {
                SqlSource::Sqlite(p) => p.display().to_string(),
                SqlSource::Connection(n) => format!("connection `{n}`"),
            }
        ),
        ChannelSpec::Cdc { connection, tables } => {
            format!(
                "streams {} table(s) from connection `{connection}`",
                tables.len()
            )
        }
        ChannelSpec::Folder { path, tables } => format!(
            "collects the data files dropped into {} ({} mapped table(s), the others suggested)",
            path.display(),
            tables.len()
        ),
        ChannelSpec::Mllp { listen, .. } => format!("receives HL7 v2 on {listen}"),
    };
    let when = match (&c.schedule, spec.is_streaming()) {
        (_, true) => "all the time".to_owned(),
        (Some(s), false) => format!("now, then on `{s}` (China Standard Time)"),
        (None, false) => "on `hdos channel run`".to_owned(),
    };
    format!(
        "channel `{}` ({}, {}): {what}; runs {when}{}",
        c.name,
        c.kind,
        c.institution,
        if c.enabled { "" } else { " once enabled" }
    )
}
