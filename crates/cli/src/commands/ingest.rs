//! `hdos ingest`: suggest mappings for a SQLite HIS, collect it into the lake, receive HL7 v2
//! over MLLP, list runs.

use crate::{
    cli::{DbSource, IngestCommand, TableSelection},
    config::Config,
    wiring,
};
use anyhow::{Context, Result, bail};
use hdos_core::standard::Standard;
use hdos_ingest::{
    batch::{self, BatchJob},
    mapping::{MappingFile, TableMapping},
    source::{BatchSource, file::FileSource},
    suggest::{Suggestion, suggest},
};
use hdos_store::{Page, RunFilter};
use std::{path::Path, process::ExitCode, time::Instant};

/// Rows sampled from each table to suggest its mapping.
const SAMPLE_ROWS: usize = 500;

/// A data file's table name: its file name without the extension.
fn file_table(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into())
}

/// The suggested mapping of a data file, if a standard dataset fits it.
fn file_suggestion(path: &Path) -> Result<Option<Suggestion>> {
    let mut source = FileSource::open(path)?;
    let columns = source.columns();
    let sample = source.read_chunk(None, SAMPLE_ROWS)?.rows;
    Ok(suggest(
        Standard::builtin()?,
        &file_table(path),
        &columns,
        &sample,
    ))
}

impl DbSource {
    /// The database named, if one is: a stored connection is read and its password unsealed.
    pub async fn source(&self, cfg: &Config) -> Result<Option<BatchSource>> {
        if let Some(name) = &self.connection {
            return Ok(Some(super::connection::source(cfg, name).await?));
        }
        Ok(match (&self.sqlite, &self.postgres) {
            (Some(path), _) => Some(BatchSource::Sqlite(path.clone())),
            (None, Some(url)) => Some(BatchSource::Postgres {
                url: hdos_store::Secret::new(url.as_str()),
                schema: self.schema.clone().unwrap_or_default(),
            }),
            (None, None) => None,
        })
    }
}

impl TableSelection {
    /// The confirmed mappings of the selected tables, or their suggested ones; at least one.
    pub async fn mappings(&self, source: &BatchSource) -> Result<Vec<TableMapping>> {
        let mappings = match &self.mapping {
            Some(path) => read_mappings(path, &self.table)?,
            None => suggested_mappings(source, &self.table).await?,
        };
        if mappings.is_empty() {
            bail!(
                "no table of {} has a mapping to collect",
                source.display_name()
            );
        }
        Ok(mappings)
    }
}

/// Suggested mappings for the tables of a database (all, or `only` these) and the tables no
/// dataset fits. Sources drive their own connections, so this runs on a blocking thread.
async fn suggestions(
    source: &BatchSource,
    only: &[String],
) -> Result<(Vec<Suggestion>, Vec<String>)> {
    let (source, only) = (source.clone(), only.to_vec());
    tokio::task::spawn_blocking(move || {
        let standard = Standard::builtin()?;
        let catalog = source.catalog()?;
        let mut found = Vec::new();
        let mut unknown = Vec::new();
        for table in catalog.tables()? {
            if !only.is_empty() && !only.contains(&table) {
                continue;
            }
            let columns = catalog.columns(&table)?;
            let sample = catalog.sample(&table, SAMPLE_ROWS)?;
            match suggest(standard, &table, &columns, &sample) {
                Some(s) => found.push(s),
                None => unknown.push(table),
            }
        }
        Ok((found, unknown))
    })
    .await?
}

pub async fn ingest(cfg: &Config, cmd: IngestCommand) -> Result<ExitCode> {
    match cmd {
        IngestCommand::Suggest {
            db,
            file,
            table,
            json,
        } => {
            let only: Vec<String> = table.into_iter().collect();
            let (found, unknown) = match (db.source(cfg).await?, file) {
                (Some(source), _) => suggestions(&source, &only).await?,
                (None, Some(f)) => match file_suggestion(&f)? {
                    Some(s) => (vec![s], Vec::new()),
                    None => (Vec::new(), vec![file_table(&f)]),
                },
                (None, None) => {
                    bail!("give --sqlite, --connection, --postgres with --schema, or --file")
                }
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&found)?);
            } else {
                for s in &found {
                    let review: Vec<String> = s
                        .fields
                        .iter()
                        .filter(|f| {
                            f.source.is_some()
                                && (f.confidence < 0.8 || !f.unresolved_values.is_empty())
                        })
                        .map(|f| format!("{} ({})", f.target, f.reasons.join("; ")))
                        .collect();
                    println!(
                        "# {} → {} (score {:.2}); check: {}",
                        s.mapping.source_table,
                        s.mapping.dataset,
                        s.score,
                        if review.is_empty() {
                            "nothing".to_owned()
                        } else {
                            review.join(", ")
                        }
                    );
                }
                let file = MappingFile {
                    tables: found.into_iter().map(|s| s.mapping).collect(),
                };
                print!("{}", toml::to_string(&file)?);
            }
            for t in unknown {
                eprintln!("no standard dataset fits table `{t}`; map it by hand if it holds one");
            }
            Ok(ExitCode::SUCCESS)
        }
        IngestCommand::Run {
            db,
            institution,
            channel,
            tables,
            full,
            chunk_rows,
        } => {
            let source = db.source(cfg).await?.context(
                "give --sqlite FILE, --connection NAME, or --postgres URL with --schema",
            )?;
            let store = wiring::open_store(cfg).await?;
            let lake = wiring::open_lake(cfg)?;
            let mappings = tables.mappings(&source).await?;
            let channel = channel.unwrap_or_else(|| default_channel(&institution));
            let his = His {
                source: &source,
                institution: &institution,
                channel: &channel,
            };
            let failed = collect(
                store.as_ref(),
                &lake,
                &his,
                mappings,
                full,
                chunk_rows,
                |line| {
                    eprintln!("{line}");
                },
            )
            .await;
            Ok(if failed > 0 {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        IngestCommand::File {
            path,
            institution,
            channel,
            mapping,
            full,
        } => collect_file(cfg, &path, &institution, channel, mapping.as_deref(), full).await,
        IngestCommand::Cdc {
            db,
            institution,
            channel,
            tables,
        } => {
            let Some(BatchSource::Postgres { url, schema }) = db.source(cfg).await? else {
                bail!(
                    "log-based collection reads PostgreSQL: give --connection NAME, or --postgres URL with --schema"
                );
            };
            let source = BatchSource::Postgres {
                url: url.clone(),
                schema: schema.clone(),
            };
            let mappings = tables.mappings(&source).await?;
            let channel = channel.unwrap_or_else(|| format!("cdc_{}", institution.to_lowercase()));
            let config =
                hdos_ingest::cdc::CdcConfig::new(&channel, &institution, url, &schema, mappings);
            super::cdc::run(cfg, config).await
        }
        IngestCommand::Mllp {
            institution,
            listen,
            channel,
            mapping,
            max_bytes,
        } => {
            super::hl7::serve(
                cfg,
                &institution,
                listen,
                channel,
                mapping.as_deref(),
                max_bytes,
            )
            .await
        }
        IngestCommand::SendHl7 {
            to,
            file,
            connections,
        } => super::hl7::send(to, &file, connections).await,
        IngestCommand::Hl7Mapping => Ok(super::hl7::print_mappings()),
        IngestCommand::Runs { channel, limit } => {
            let store = wiring::open_store(cfg).await?;
            let filter = RunFilter {
                channel,
                institution: None,
            };
            let runs = store.list_ingest_runs(&filter, Page::new(limit, 0)).await?;
            for r in runs {
                println!("{}", serde_json::to_string(&r)?);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The mappings of a confirmed mapping file, of `only` these tables when given.
pub fn read_mappings(path: &Path, only: &[String]) -> Result<Vec<TableMapping>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let file: MappingFile = toml::from_str(&text)
        .with_context(|| format!("{} is not a mapping file", path.display()))?;
    Ok(file
        .tables
        .into_iter()
        .filter(|m| only.is_empty() || only.contains(&m.source_table))
        .collect())
}

/// Collects one data file as a table.
async fn collect_file(
    cfg: &Config,
    path: &Path,
    institution: &str,
    channel: Option<String>,
    mapping: Option<&Path>,
    full: bool,
) -> Result<ExitCode> {
    let table = file_table(path);
    let mapping = match mapping {
        Some(m) => read_mappings(m, std::slice::from_ref(&table))?
            .into_iter()
            .next()
            .with_context(|| format!("{} has no mapping for table `{table}`", m.display()))?,
        None => {
            file_suggestion(path)?
                .with_context(|| {
                    format!(
                        "no standard dataset fits {}; write its mapping (see `hdos ingest suggest --file`)",
                        path.display()
                    )
                })?
                .mapping
        }
    };
    let store = wiring::open_store(cfg).await?;
    let lake = wiring::open_lake(cfg)?;
    let job = BatchJob {
        channel: channel.unwrap_or_else(|| format!("file_{}", institution.to_lowercase())),
        institution: institution.to_owned(),
        source: BatchSource::File(path.to_owned()),
        mapping,
        chunk_rows: batch::DEFAULT_CHUNK_ROWS,
        full,
    };
    let started = Instant::now();
    let r = batch::run(store.as_ref(), &lake, Standard::builtin()?, &job).await?;
    eprintln!(
        "{} {table} → {}: {} read, {} written, {} quarantined, {:.1} s",
        job.channel,
        job.mapping.dataset,
        r.counts.rows_read,
        r.counts.rows_written,
        r.counts.rows_quarantined,
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

/// The channel name of an institution's HIS when none is given.
pub fn default_channel(institution: &str) -> String {
    format!("his_{}", institution.to_lowercase())
}

/// One institution's HIS, as a channel collects it.
pub struct His<'a> {
    pub source: &'a BatchSource,
    pub institution: &'a str,
    pub channel: &'a str,
}

/// The suggested mappings of the tables of a HIS (all, or `only` these) that fit a standard
/// dataset.
pub async fn suggested_mappings(
    source: &BatchSource,
    only: &[String],
) -> Result<Vec<TableMapping>> {
    Ok(suggestions(source, only)
        .await?
        .0
        .into_iter()
        .map(|s| s.mapping)
        .collect())
}

/// Collects each mapped table of one HIS; reports a line per table and returns how many failed.
pub async fn collect(
    store: &dyn hdos_store::MetaStore,
    lake: &hdos_lake::Lake,
    his: &His<'_>,
    mappings: Vec<TableMapping>,
    full: bool,
    chunk_rows: usize,
    mut report: impl FnMut(String),
) -> usize {
    let standard = match Standard::builtin() {
        Ok(s) => s,
        Err(e) => {
            report(format!("the built-in standard does not load: {e}"));
            return mappings.len();
        }
    };
    let mut failed = 0;
    for m in mappings {
        let started = Instant::now();
        let job = BatchJob {
            channel: his.channel.to_owned(),
            institution: his.institution.to_owned(),
            source: his.source.clone(),
            mapping: m,
            chunk_rows,
            full,
        };
        let table = job.mapping.source_table.clone();
        match batch::run(store, lake, standard, &job).await {
            Ok(r) => report(format!(
                "{} {table} → {}: {} read, {} written, {} quarantined, {:.1} s{}",
                his.channel,
                job.mapping.dataset,
                r.counts.rows_read,
                r.counts.rows_written,
                r.counts.rows_quarantined,
                started.elapsed().as_secs_f64(),
                if r.replayed > 0 {
                    format!(
                        " ({} chunk(s) replayed after an interrupted run)",
                        r.replayed
                    )
                } else {
                    String::new()
                }
            )),
            Err(e) => {
                failed += 1;
                report(format!("{} {table}: failed: {e}", his.channel));
            }
        }
    }
    failed
}
