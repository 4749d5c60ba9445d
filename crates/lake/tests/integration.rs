//! Real Delta tables in a temporary directory.

use anyhow::Result;
use hdos_lake::{
    AppTransaction, Lake, LakeError, TableName,
    arrow::{
        array::{Array, Int64Array, StringArray},
        datatypes::{DataType, Field, Schema},
        record_batch::RecordBatch,
    },
};
use std::sync::Arc;

fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("institution_code", DataType::Utf8, false),
        Field::new("patient_id", DataType::Utf8, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("visits", DataType::Int64, true),
    ]))
}

fn batch(rows: &[(&str, &str, &str, i64)]) -> Result<RecordBatch> {
    Ok(RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.2))),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.3))),
        ],
    )?)
}

async fn count(lake: &Lake, t: &TableName) -> Result<i64> {
    let out = lake
        .query(
            std::slice::from_ref(t),
            &format!("SELECT COUNT(*) AS n FROM {}", t.sql_name()),
        )
        .await?;
    let col = out[0]
        .column(0)
        .as_any()
        .downcast_ref::<Int64Array>()
        .ok_or_else(|| anyhow::anyhow!("count is not Int64"))?;
    Ok(col.value(0))
}

#[tokio::test]
async fn create_append_merge_query_and_history() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let lake = Lake::open(dir.path().to_str().unwrap_or_default())?;
    let t = TableName::new("std/patient")?;

    assert!(!lake.exists(&t).await?);
    lake.create_table(&t, &schema()).await?;
    // Creating again is a no-op.
    lake.create_table(&t, &schema()).await?;
    assert!(lake.exists(&t).await?);

    lake.append(
        &t,
        vec![batch(&[("H1", "p1", "张三", 1), ("H1", "p2", "李四", 2)])?],
        None,
    )
    .await?;
    assert_eq!(count(&lake, &t).await?, 2);

    let stats = lake
        .merge(
            &t,
            vec![batch(&[("H1", "p2", "李四", 5), ("H2", "p1", "王五", 1)])?],
            &["institution_code", "patient_id"],
            None,
        )
        .await?
        .ok_or_else(|| anyhow::anyhow!("merge skipped"))?;
    assert_eq!((stats.inserted, stats.updated), (1, 1));
    assert_eq!(count(&lake, &t).await?, 3);

    let rows = lake
        .query(
            std::slice::from_ref(&t),
            "SELECT visits FROM std_patient WHERE institution_code = 'H1' AND patient_id = 'p2'",
        )
        .await?;
    let visits = rows[0]
        .column(0)
        .as_any()
        .downcast_ref::<Int64Array>()
        .ok_or_else(|| anyhow::anyhow!("visits is not Int64"))?;
    assert_eq!((visits.len(), visits.value(0)), (1, 5));

    let versions = lake.versions(&t).await?;
    assert_eq!(versions.len(), 3, "create, append, merge");
    assert_eq!(versions[0].version, 2);
    assert_eq!(versions[0].operation.as_deref(), Some("MERGE"));
    assert_eq!(versions[2].version, 0);
    Ok(())
}

#[tokio::test]
async fn a_retried_transaction_is_written_once() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let lake = Lake::open(dir.path().to_str().unwrap_or_default())?;
    let t = TableName::new("raw/his01/brxx")?;
    lake.create_table(&t, &schema()).await?;
    let txn = AppTransaction {
        app_id: "channel-7".into(),
        version: 41,
    };
    let first = lake
        .append(&t, vec![batch(&[("H1", "p1", "a", 1)])?], Some(txn.clone()))
        .await?;
    assert!(first.is_some());
    // The same position again (a crash after the commit, before the source was confirmed).
    let again = lake
        .append(&t, vec![batch(&[("H1", "p1", "a", 1)])?], Some(txn))
        .await?;
    assert_eq!(again, None);
    assert_eq!(count(&lake, &t).await?, 1);
    assert_eq!(lake.committed_version(&t, "channel-7").await?, Some(41));
    assert_eq!(lake.committed_version(&t, "other").await?, None);
    Ok(())
}

#[tokio::test]
async fn merge_without_the_key_column_is_refused() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let lake = Lake::open(dir.path().to_str().unwrap_or_default())?;
    let t = TableName::new("std/patient")?;
    lake.create_table(&t, &schema()).await?;
    let err = lake
        .merge(
            &t,
            vec![batch(&[("H1", "p1", "a", 1)])?],
            &["visit_id"],
            None,
        )
        .await
        .err();
    assert!(matches!(err, Some(LakeError::MissingKey { .. })), "{err:?}");
    Ok(())
}

#[tokio::test]
async fn missing_tables_and_bad_locations_are_named() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let lake = Lake::open(dir.path().to_str().unwrap_or_default())?;
    let err = lake.table(&TableName::new("std/nothing")?).await.err();
    assert!(matches!(err, Some(LakeError::TableNotFound(_))), "{err:?}");
    assert!(Lake::open("not a url://x").is_err());
    Ok(())
}

#[tokio::test]
async fn the_lake_works_on_an_object_store_url() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let lake = Lake::open(&format!("file://{}/lake", dir.path().display()))?;
    let t = TableName::new("std/patient")?;
    lake.create_table(&t, &schema()).await?;
    lake.append(&t, vec![batch(&[("H1", "p1", "a", 1)])?], None)
        .await?;
    assert_eq!(count(&lake, &t).await?, 1);
    lake.check_writable().await?;
    // The same tables, opened again through the URL, are there.
    let again = Lake::open(&format!("file://{}/lake/", dir.path().display()))?;
    assert_eq!(count(&again, &t).await?, 1);
    assert!(dir.path().join("lake/std/patient/_delta_log").is_dir());
    Ok(())
}

#[tokio::test]
async fn a_merge_of_changes_upserts_and_deletes_by_key() -> Result<()> {
    use hdos_lake::arrow::array::BooleanArray;
    let dir = tempfile::tempdir()?;
    let lake = Lake::open(dir.path().to_str().unwrap_or_default())?;
    let t = TableName::new("std/patient")?;
    lake.create_table(&t, &schema()).await?;
    lake.append(
        &t,
        vec![batch(&[("H1", "p1", "张三", 1), ("H1", "p2", "李四", 2)])?],
        None,
    )
    .await?;
    // p1 deleted, p2 updated, p3 inserted, p4 deleted though never stored.
    let changes = batch(&[
        ("H1", "p1", "", 0),
        ("H1", "p2", "李四", 7),
        ("H1", "p3", "王五", 1),
        ("H1", "p4", "", 0),
    ])?;
    let mut columns = changes.columns().to_vec();
    columns.push(Arc::new(BooleanArray::from(vec![true, false, false, true])));
    let mut fields: Vec<Field> = schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new("_deleted", DataType::Boolean, false));
    let changes = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?;
    let stats = lake
        .merge_changes(
            &t,
            vec![changes],
            &["institution_code", "patient_id"],
            Some("_deleted"),
            None,
        )
        .await?
        .ok_or_else(|| anyhow::anyhow!("merge skipped"))?;
    assert_eq!((stats.inserted, stats.updated, stats.deleted), (1, 1, 1));
    let rows = lake
        .query(
            std::slice::from_ref(&t),
            "SELECT patient_id, visits FROM std_patient ORDER BY patient_id",
        )
        .await?;
    // DataFusion may answer with string views.
    let ids = hdos_lake::arrow::compute::cast(rows[0].column(0), &DataType::Utf8)?;
    let ids = ids
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or_else(|| anyhow::anyhow!("ids"))?;
    let got: Vec<&str> = (0..ids.len()).map(|i| ids.value(i)).collect();
    assert_eq!(got, ["p2", "p3"]);
    let schema_now = lake.table(&t).await?.snapshot()?.schema().fields().count();
    assert_eq!(schema_now, 4, "the deletion flag is not stored");
    Ok(())
}

#[tokio::test]
async fn another_writers_commits_are_seen_and_every_tenth_version_gets_a_checkpoint() -> Result<()>
{
    let dir = tempfile::tempdir()?;
    let root = dir.path().display().to_string();
    let (writer, reader) = (Lake::open(&root)?, Lake::open(&root)?);
    let t = TableName::new("std/patient")?;
    writer.create_table(&t, &schema()).await?;
    writer
        .append(&t, vec![batch(&[("H1", "P0", "甲", 1)])?], None)
        .await?;
    assert_eq!(count(&reader, &t).await?, 1);
    // The reader keeps its handle; a hundred commits of another writer reach it.
    for i in 1..=100 {
        let id = format!("P{i}");
        writer
            .append(&t, vec![batch(&[("H1", &id, "乙", i)])?], None)
            .await?;
    }
    assert_eq!(count(&reader, &t).await?, 101);
    // Versions 10, 20, … 100 get their checkpoints from tasks of their own; others get none.
    let checkpoint = |v: u64| {
        dir.path()
            .join(format!("std/patient/_delta_log/{v:020}.checkpoint.parquet"))
    };
    // The tasks may finish in any order: wait for all of them.
    for _ in 0..200 {
        if (10..=100).step_by(10).all(|v| checkpoint(v).exists()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    for v in (10..=100).step_by(10) {
        assert!(checkpoint(v).exists(), "no checkpoint at version {v}");
    }
    assert!(
        !checkpoint(15).exists(),
        "a checkpoint between two intervals"
    );
    assert_eq!(count(&Lake::open(&root)?, &t).await?, 101);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_racing_merges_that_rewrite_files_all_land() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let lake = Lake::open(&dir.path().display().to_string())?;
    let t = TableName::new("std/patient")?;
    lake.create_table(&t, &schema()).await?;
    lake.append(&t, vec![batch(&[("H1", "P0", "甲", 0)])?], None)
        .await?;
    // Each MERGE rewrites the file holding P0; delta-rs counts every file as read by an append,
    // so an append that meets one of these commits is refused and must be written again.
    let updates = {
        let (lake, t) = (lake.clone(), t.clone());
        tokio::spawn(async move {
            for i in 1..=15 {
                lake.merge(
                    &t,
                    vec![batch(&[("H1", "P0", "甲", i)])?],
                    &["institution_code", "patient_id"],
                    None,
                )
                .await?;
            }
            anyhow::Ok(())
        })
    };
    let appends: Vec<_> = (1..=20)
        .map(|i| {
            let (lake, t) = (lake.clone(), t.clone());
            tokio::spawn(async move {
                let id = format!("P{i}");
                lake.append(&t, vec![batch(&[("H1", &id, "乙", i)])?], None)
                    .await?;
                anyhow::Ok(())
            })
        })
        .collect();
    for a in appends {
        a.await??;
    }
    updates.await??;
    assert_eq!(count(&lake, &t).await?, 21);
    Ok(())
}
