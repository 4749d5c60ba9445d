//! One module per subcommand; `run` loads the configuration and dispatches.

mod admin;
mod bench;
mod bench_cdc;
mod bench_failover;
mod bench_fhir;
mod bench_quality;
mod cdc;
mod channel;
mod connection;
mod demo;
mod hl7;
mod ingest;
mod monitor;
mod quality;
mod serve;
mod standard;
mod synth;
mod synth_pg;
mod worker;

use crate::{
    cli::{AuditCommand, Cli, Command, ConfigCommand, StandardCommand},
    config::{Config, LogFormat, Overrides},
};
use anyhow::{Context, Result};
use std::{io::IsTerminal, process::ExitCode};

pub async fn run(args: Cli) -> Result<ExitCode> {
    let listen = match &args.command {
        Command::Serve(s) | Command::Demo(s) => s.listen.clone(),
        _ => None,
    };
    let flags = Overrides {
        data_dir: args.data_dir.clone(),
        listen,
        store_url: args.store_url.clone(),
    };
    let cfg = Config::load(args.config.as_deref(), Config::env(), &flags)
        .context("invalid configuration")?;
    init_tracing(&cfg);
    match args.command {
        Command::Init(a) => admin::init(&cfg, a).await,
        Command::Serve(_) => serve::serve(&cfg).await,
        Command::Migrate => admin::migrate(&cfg).await,
        Command::User(c) => admin::user(&cfg, c).await,
        Command::Connection(c) => connection::command(&cfg, c).await,
        Command::Channel(c) => channel::command(&cfg, c).await,
        Command::Worker(a) => worker::run(&cfg, a.id).await,
        Command::Monitor(c) => monitor::command(&cfg, c).await,
        Command::Quality(c) => quality::command(&cfg, c).await,
        Command::Audit(AuditCommand::Verify) => admin::audit_verify(&cfg).await,
        Command::Config(ConfigCommand::Show) => {
            print!("{}", cfg.redacted_toml());
            Ok(ExitCode::SUCCESS)
        }
        Command::Standard(StandardCommand::Show { extension }) => {
            standard::show(extension.as_deref())
        }
        Command::Demo(_) => demo::demo(&cfg).await,
        Command::Synth(a) => synth::synth(a).await,
        Command::Ingest(c) => ingest::ingest(&cfg, c).await,
        Command::Bench {
            name,
            rows,
            postgres,
        } => bench::bench(&cfg, name, rows, postgres.as_deref()).await,
    }
}

fn init_tracing(cfg: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        // The Delta kernel logs every probe of a table not yet created, and Delta warns on every
        // MERGE about a metric it derives, on every binary column it keeps no statistics for,
        // and on every commit that met another writer's: checked and retried, or refused and
        // then written again by the lake (routine when several channels land in one std table).
        // Their real errors reach us as results.
        .or_else(|_| {
            tracing_subscriber::EnvFilter::try_new(format!(
                "{},buoyant_kernel=off,deltalake_core=warn,deltalake_core::writer::stats=error,\
                 deltalake_core::operations::merge=error,\
                 deltalake_core::kernel::transaction=off",
                cfg.log.level
            ))
        })
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let json = match cfg.log.format {
        LogFormat::Json => true,
        LogFormat::Pretty => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
