//! A watched folder (文件采集): each run collects the data files dropped into the folder (CSV in
//! UTF-8/GBK/GB 18030, JSON lines, Parquet), oldest first, each as the table its name gives
//! (`门诊就诊.csv` → `门诊就诊`), with the channel's mapping for that table or the suggested one,
//! then moves it to `done/`. A file no standard dataset fits goes to `rejected/` beside a
//! `.reason.txt`. Files being written are skipped: writers (and uploads) use a `.part` name and
//! rename when complete.
//!
//! Exactly once across crashes: a file's rows are read in chunks after the table's stored
//! position, as for any file source. The position belongs to the file being collected, known by
//! its name, size and modification time (kept under the checkpoint `file:<table>`): a new file
//! of the same name starts from its beginning, and a file moved to `done/` after its last chunk
//! but before a crash is read again from where it ended — nothing.

use crate::{
    IngestError,
    batch::{self, BatchJob},
    channel::ChannelEnv,
    mapping::TableMapping,
    source::{BatchSource, file::FileFormat, file::FileSource},
    suggest::suggest,
};
use hdos_store::{Channel, RunCounts};
use std::path::{Path, PathBuf};
use tokio::sync::watch;

pub const DONE: &str = "done";
pub const REJECTED: &str = "rejected";
/// Rows sampled from a file to suggest its mapping.
const SAMPLE_ROWS: usize = 500;

/// The table a data file is collected as: its name without the extension.
pub fn table_of(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into())
}

/// The data files waiting in `dir`, oldest first.
fn waiting(dir: &Path) -> Result<Vec<PathBuf>, IngestError> {
    let unreadable = |e: std::io::Error| IngestError::SourceUnavailable {
        source_name: dir.display().to_string(),
        reason: e.to_string(),
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(unreadable)? {
        let entry = entry.map_err(unreadable)?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let meta = entry.metadata().map_err(unreadable)?;
        if meta.is_file() && !name.starts_with('.') && FileFormat::of(&path).is_some() {
            files.push((meta.modified().ok(), name, path));
        }
    }
    files.sort();
    Ok(files.into_iter().map(|(_, _, p)| p).collect())
}

/// Name, size and modification time: which file a stored position belongs to.
fn fingerprint(path: &Path) -> Result<String, IngestError> {
    let meta = std::fs::metadata(path).map_err(|e| IngestError::SourceUnavailable {
        source_name: path.display().to_string(),
        reason: e.to_string(),
    })?;
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    Ok(format!(
        "{}|{}|{modified}",
        path.file_name().unwrap_or_default().to_string_lossy(),
        meta.len()
    ))
}

/// Moves `file` into `dir/<sub>/`, prefixed with the time, so later files of the same name stay
/// apart.
fn file_away(dir: &Path, sub: &str, file: &Path) -> Result<PathBuf, IngestError> {
    let to_dir = dir.join(sub);
    let failed = |e: std::io::Error| IngestError::SourceUnavailable {
        source_name: file.display().to_string(),
        reason: format!("cannot move it to {sub}/: {e}"),
    };
    std::fs::create_dir_all(&to_dir).map_err(failed)?;
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
    let to = to_dir.join(format!(
        "{stamp}-{}",
        file.file_name().unwrap_or_default().to_string_lossy()
    ));
    std::fs::rename(file, &to).map_err(failed)?;
    Ok(to)
}

/// The channel's mapping for the file's table, else the suggested one.
async fn mapping_for(
    env: &ChannelEnv,
    file: &Path,
    tables: &[TableMapping],
) -> Result<Option<TableMapping>, IngestError> {
    let table = table_of(file);
    if let Some(m) = tables.iter().find(|m| m.source_table == table) {
        return Ok(Some(m.clone()));
    }
    let (standard, file) = (env.standard, file.to_owned());
    tokio::task::spawn_blocking(move || {
        let mut source = FileSource::open(&file)?;
        let columns = source.columns();
        let sample = source.read_chunk(None, SAMPLE_ROWS)?.rows;
        Ok(suggest(standard, &table_of(&file), &columns, &sample).map(|s| s.mapping))
    })
    .await
    .map_err(|e| IngestError::Channel {
        channel: String::new(),
        reason: format!("suggesting a mapping stopped: {e}"),
    })?
}

/// Collects every waiting file; the run reports the first failure after trying them all.
pub async fn run(
    env: &ChannelEnv,
    channel: &Channel,
    dir: &Path,
    tables: &[TableMapping],
    stop: &watch::Receiver<bool>,
) -> Result<RunCounts, IngestError> {
    let store = env.store.as_ref();
    let mut total = RunCounts::default();
    let mut first_error = None;
    for file in waiting(dir)? {
        if *stop.borrow() {
            return Err(IngestError::Cancelled);
        }
        let table = table_of(&file);
        let Some(mut mapping) = mapping_for(env, &file, tables).await? else {
            let reason = format!(
                "no standard dataset fits `{table}`; add its mapping to the channel (hdos channel add … --mapping)"
            );
            let moved = file_away(dir, REJECTED, &file)?;
            let _ = std::fs::write(moved.with_extension("reason.txt"), &reason);
            first_error.get_or_insert(IngestError::Channel {
                channel: channel.name.clone(),
                reason,
            });
            continue;
        };
        mapping.source_table = table.clone();
        // A new file of this name starts at its beginning.
        let key = format!("file:{table}");
        let fp = fingerprint(&file)?;
        let known = store.ingest_checkpoint(&channel.name, &key).await?;
        if known.as_ref().and_then(|k| k.position.as_deref()) != Some(fp.as_str()) {
            let seq = store
                .ingest_checkpoint(&channel.name, &table)
                .await?
                .map_or(0, |c| c.seq);
            store
                .save_ingest_checkpoint(&channel.name, &table, seq, None)
                .await?;
            let marker = known.map_or(0, |k| k.seq) + 1;
            store
                .save_ingest_checkpoint(&channel.name, &key, marker, Some(&fp))
                .await?;
        }
        let job = BatchJob {
            channel: channel.name.clone(),
            institution: channel.institution.clone(),
            source: BatchSource::File(file.clone()),
            mapping,
            chunk_rows: batch::DEFAULT_CHUNK_ROWS,
            full: false,
        };
        match batch::run_until(store, &env.lake, env.standard, &job, stop).await {
            Ok(r) => {
                crate::channel::add(&mut total, r.counts);
                file_away(dir, DONE, &file)?;
            }
            Err(IngestError::Cancelled) => return Err(IngestError::Cancelled),
            // The file stays for the next run.
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
