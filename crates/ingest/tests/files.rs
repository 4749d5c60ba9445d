//! Data files into a real Delta lake: a hospital's table exported as a GBK CSV (with a ragged
//! line), as JSON lines and as Parquet, each recognised, landed once, and read incrementally
//! when records are appended.

use anyhow::{Context, Result, ensure};
use hdos_core::standard::Standard;
use hdos_ingest::{
    batch::{self, BatchJob},
    source::{BatchSource, file::FileSource, sqlite::SqliteSource},
    suggest::suggest,
};
use hdos_lake::{
    Lake, TableName,
    arrow::{
        array::{ArrayRef, AsArray, StringArray},
        compute::cast,
        datatypes::{DataType, Field, Schema},
        record_batch::RecordBatch,
    },
    parquet::arrow::ArrowWriter,
};
use hdos_store::SqlStore;
use hdos_synth::{Dataset, DefectProfile, Vendor};
use std::{io::Write, path::Path, sync::Arc};

use crate::common;

/// A hospital's table as text: its institution, columns and rows.
struct Table {
    code: String,
    columns: Vec<String>,
    rows: Vec<Vec<Option<String>>>,
}

/// The patient table of a clean region's hospital whose vendor writes Chinese column names.
fn patients(dir: &Path) -> Result<Table> {
    let manifest = common::region(dir, 3, 300, DefectProfile::clean(), false)?;
    let site = manifest
        .institutions
        .iter()
        .find(|s| s.his_vendor == Vendor::Chinese.name())
        .or(manifest.institutions.first())
        .context("an institution")?;
    let vendor = Vendor::ALL
        .into_iter()
        .find(|v| v.name() == site.his_vendor)
        .context("vendor")?;
    let source = SqliteSource::open(&dir.join(&site.his))?;
    let table = vendor.table(Dataset::Patient);
    let columns: Vec<String> = source.columns(table)?.into_iter().map(|c| c.name).collect();
    let rows = source.read_chunk(table, None, None, 1_000_000)?.rows;
    Ok(Table {
        code: site.code.clone(),
        columns,
        rows,
    })
}

fn csv_line(values: &[Option<String>]) -> String {
    let quoted: Vec<String> = values
        .iter()
        .map(|v| {
            let v = v.as_deref().unwrap_or("");
            if v.contains([',', '"', '\n']) {
                format!("\"{}\"", v.replace('"', "\"\""))
            } else {
                v.to_owned()
            }
        })
        .collect();
    format!("{}\n", quoted.join(","))
}

async fn count(lake: &Lake, table: &str) -> Result<i64> {
    common::count(lake, table, "").await
}

async fn collect(
    store: &SqlStore,
    lake: &Lake,
    path: &Path,
    code: &str,
    channel: &str,
) -> Result<hdos_ingest::batch::RunReport> {
    let std = Standard::builtin()?;
    let mut source = FileSource::open(path)?;
    let columns = source.columns();
    let sample = source.read_chunk(None, 500)?.rows;
    let table = path
        .file_stem()
        .context("stem")?
        .to_string_lossy()
        .into_owned();
    let s = suggest(std, &table, &columns, &sample).context("no suggestion")?;
    ensure!(s.mapping.dataset == "patient", "{:?}", s.mapping.dataset);
    let job = BatchJob {
        channel: channel.into(),
        institution: code.into(),
        source: BatchSource::File(path.to_owned()),
        mapping: s.mapping,
        chunk_rows: 97,
        full: false,
    };
    Ok(batch::run(store, lake, std, &job).await?)
}

#[tokio::test]
async fn a_gbk_csv_with_a_ragged_line_lands_and_appends_are_read_incrementally() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let Table {
        code,
        columns,
        rows,
    } = patients(&dir.path().join("region"))?;
    let half = rows.len() / 2;
    let mut text = csv_line(&columns.iter().cloned().map(Some).collect::<Vec<_>>());
    for r in &rows[..half] {
        text.push_str(&csv_line(r));
    }
    text.push_str("only,three,fields\n");
    let (gbk, _, unmappable) = encoding_rs::GBK.encode(&text);
    ensure!(!unmappable, "the test text fits GBK");
    let path = dir.path().join("patients.csv");
    std::fs::write(&path, &gbk)?;
    ensure!(FileSource::open(&path)?.encoding() == "gb18030");

    let store = common::store(dir.path(), "meta.db").await?;
    let lake = Lake::open(dir.path().join("lake").to_str().context("path")?)?;
    let first = collect(&store, &lake, &path, &code, "file_test").await?;
    ensure!(first.counts.rows_read == half as i64 + 1, "{first:?}");
    ensure!(count(&lake, "std/patient").await? == half as i64);
    let quarantined = count(&lake, "quarantine/patient").await?;
    ensure!(
        quarantined == 1,
        "the ragged line is quarantined: {quarantined}"
    );
    let names = lake
        .query(
            &[TableName::new("std/patient")?],
            "SELECT name FROM std_patient LIMIT 1",
        )
        .await?;
    let name = cast(names[0].column(0), &DataType::Utf8)?;
    let name = name.as_string::<i32>().value(0).to_owned();
    ensure!(
        name.chars().all(|c| !c.is_ascii() && c != '\u{FFFD}'),
        "GBK names read as Chinese: {name}"
    );

    let again = collect(&store, &lake, &path, &code, "file_test").await?;
    ensure!(again.counts.rows_read == 0, "nothing new: {again:?}");

    let mut rest = String::new();
    for r in &rows[half..] {
        rest.push_str(&csv_line(r));
    }
    let (rest_gbk, _, _) = encoding_rs::GBK.encode(&rest);
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)?
        .write_all(&rest_gbk)?;
    let appended = collect(&store, &lake, &path, &code, "file_test").await?;
    ensure!(
        appended.counts.rows_read == (rows.len() - half) as i64,
        "only the appended records: {appended:?}"
    );
    ensure!(count(&lake, "std/patient").await? == rows.len() as i64);
    ensure!(count(&lake, "quarantine/patient").await? == 1);
    Ok(())
}

#[tokio::test]
async fn json_lines_and_parquet_land_like_tables() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let Table {
        code,
        columns,
        rows,
    } = patients(&dir.path().join("region"))?;
    let jsonl = dir.path().join("patients_json.jsonl");
    let mut text = String::new();
    for r in &rows {
        let object: serde_json::Map<String, serde_json::Value> = columns
            .iter()
            .zip(r)
            .map(|(c, v)| {
                let v = v
                    .clone()
                    .map_or(serde_json::Value::Null, serde_json::Value::String);
                (c.clone(), v)
            })
            .collect();
        text.push_str(&serde_json::Value::Object(object).to_string());
        text.push('\n');
    }
    std::fs::write(&jsonl, text)?;

    let parquet = dir.path().join("patients_pq.parquet");
    let schema = Arc::new(Schema::new(
        columns
            .iter()
            .map(|c| Field::new(c, DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ));
    let arrays: Vec<ArrayRef> = (0..columns.len())
        .map(|i| {
            Arc::new(StringArray::from(
                rows.iter().map(|r| r[i].clone()).collect::<Vec<_>>(),
            )) as ArrayRef
        })
        .collect();
    let batch = RecordBatch::try_new(schema.clone(), arrays)?;
    let mut writer = ArrowWriter::try_new(std::fs::File::create(&parquet)?, schema, None)?;
    writer.write(&batch)?;
    writer.close()?;

    let store = common::store(dir.path(), "meta.db").await?;
    let lake = Lake::open(dir.path().join("lake").to_str().context("path")?)?;
    for (path, channel) in [(&jsonl, "file_json"), (&parquet, "file_parquet")] {
        let r = collect(&store, &lake, path, &code, channel).await?;
        ensure!(r.counts.rows_read == rows.len() as i64, "{path:?}: {r:?}");
        ensure!(r.counts.rows_quarantined == 0, "{path:?}: {r:?}");
    }
    // Both files hold the same patients: the std zone holds each once.
    ensure!(count(&lake, "std/patient").await? == rows.len() as i64);
    Ok(())
}

#[tokio::test]
async fn a_watched_folder_collects_each_file_once_and_files_it_away() -> Result<()> {
    use hdos_ingest::channel::{self, ChannelEnv, ChannelSpec};
    let dir = tempfile::tempdir()?;
    let Table {
        code,
        columns,
        rows,
    } = patients(&dir.path().join("region"))?;
    let inbox = dir.path().join("inbox");
    std::fs::create_dir_all(&inbox)?;
    let header = csv_line(&columns.iter().cloned().map(Some).collect::<Vec<_>>());
    let file = |rows: &[Vec<Option<String>>]| {
        let mut text = header.clone();
        for r in rows {
            text.push_str(&csv_line(r));
        }
        encoding_rs::GBK.encode(&text).0.into_owned()
    };
    let third = rows.len() / 3;
    std::fs::write(inbox.join("patients.csv"), file(&rows[..third]))?;
    std::fs::write(inbox.join("notes.csv"), "a,b\n1,2\n")?;
    // Still being written: not touched.
    std::fs::write(inbox.join("patients.csv.part"), file(&rows[third..]))?;

    let env = ChannelEnv {
        store: std::sync::Arc::new(common::store(dir.path(), "meta.db").await?),
        lake: Lake::open(dir.path().join("lake").to_str().context("path")?)?,
        standard: Standard::builtin()?,
        master_key: hdos_store::MasterKey::generate(),
        journal_root: dir.path().join("journal"),
    };
    let spec = ChannelSpec::Folder {
        path: inbox.clone(),
        tables: Vec::new(),
    };
    ensure!(spec.validate(env.standard).is_ok());
    let c = env
        .store
        .save_channel(hdos_store::NewChannel {
            name: "folder_h1".into(),
            institution: code.clone(),
            kind: spec.kind().into(),
            spec: spec.to_json(),
            schedule: None,
            enabled: true,
            next_run_at: None,
        })
        .await?;
    let run = || {
        let (env, c, spec) = (env.clone(), c.clone(), spec.clone());
        async move {
            let (_stop, stopped) = tokio::sync::watch::channel(false);
            channel::run(env, c, spec, stopped).await
        }
    };
    let first = run().await;
    ensure!(
        matches!(&first, Err(e) if e.to_string().contains("no standard dataset fits `notes`")),
        "{first:?}"
    );
    ensure!(count(&env.lake, "std/patient").await? == third as i64);
    let listed = |sub: &str| -> Result<Vec<String>> {
        let mut names: Vec<String> = std::fs::read_dir(inbox.join(sub))?
            .map(|e| Ok(e?.file_name().to_string_lossy().into_owned()))
            .collect::<Result<_>>()?;
        names.sort();
        Ok(names)
    };
    ensure!(listed("done")?.iter().any(|n| n.ends_with("-patients.csv")));
    let rejected = listed("rejected")?;
    ensure!(
        rejected.len() == 2 && rejected.iter().any(|n| n.ends_with(".reason.txt")),
        "{rejected:?}"
    );
    ensure!(inbox.join("patients.csv.part").exists());

    // The writer finishes: a new file of the same name is read from its beginning.
    std::fs::rename(inbox.join("patients.csv.part"), inbox.join("patients.csv"))?;
    let second = run().await?;
    ensure!(
        second.rows_read == (rows.len() - third) as i64,
        "{second:?}"
    );
    ensure!(count(&env.lake, "std/patient").await? == rows.len() as i64);
    ensure!(
        count(&env.lake, "raw/folder_h1/patients").await? == rows.len() as i64,
        "every record once in the raw zone"
    );
    // Nothing waiting: nothing read.
    ensure!(run().await?.rows_read == 0);
    Ok(())
}
