//! The lake root and the operations on its Delta tables.

use crate::{LakeError, TableName};
use deltalake::{
    DeltaTable, DeltaTableBuilder, Path,
    arrow::{datatypes::Schema as ArrowSchema, record_batch::RecordBatch},
    datafusion::prelude::SessionContext,
    kernel::{
        StructType, Transaction, engine::arrow_conversion::TryFromArrow,
        transaction::CommitProperties,
    },
    logstore::object_store::ObjectStoreExt,
    operations::write::SchemaMode,
    protocol::{SaveMode, checkpoints},
    table::config::TablePropertiesExt,
};
use futures::TryStreamExt;
use url::Url;

/// Commits between two checkpoints of a table: the Delta protocol's classic interval. Each operation
/// reads the commits since the last checkpoint; at delta-rs's default of 100 a small append took
/// 80–98 ms before a checkpoint and 27–44 ms after one (see docs/benchmarks.md).
const CHECKPOINT_EVERY: u64 = 10;

/// Tries of a write that concurrent commits keep refusing (see [`LakeError::is_commit_conflict`]).
const COMMIT_ATTEMPTS: u32 = 5;

/// Runs a write again, on the table's new version, while a concurrent commit refuses it. Every
/// write here is whole and idempotent (its application transaction, a MERGE by key, a delete
/// of matching rows), so running it again is safe; its refused files are left for vacuum.
async fn retrying_conflicts<T, F, Fut>(name: &TableName, mut write: F) -> Result<T, LakeError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, LakeError>>,
{
    let mut attempt = 1;
    loop {
        match write().await {
            Err(e) if e.is_commit_conflict() && attempt < COMMIT_ATTEMPTS => {
                tracing::debug!(table = %name, attempt, error = %e, "commit refused by a concurrent one; writing again");
                // 50, 100, 200, 400 ms: a MERGE of a busy stream commits every few hundred.
                tokio::time::sleep(std::time::Duration::from_millis(50 << (attempt - 1))).await;
                attempt += 1;
            }
            result => return result,
        }
    }
}

/// The last application-transaction version `app_id` committed to the loaded `table`, if any.
async fn transaction_version(
    name: &TableName,
    table: &DeltaTable,
    app_id: &str,
) -> Result<Option<i64>, LakeError> {
    table
        .snapshot()
        .map_err(|e| LakeError::delta(name, e))?
        .transaction_version(table.log_store().as_ref(), app_id)
        .await
        .map_err(|e| LakeError::delta(name, e))
}

/// The root under which every hdos table lives.
#[derive(Debug, Clone)]
pub struct Lake {
    root: Url,
}

/// A writer's position to commit atomically with its rows (Delta application transactions):
/// after a crash the writer asks [`Lake::committed_version`] and skips what is already in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppTransaction {
    pub app_id: String,
    pub version: i64,
}

/// Rows affected by a MERGE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MergeStats {
    pub inserted: u64,
    pub updated: u64,
    pub deleted: u64,
    pub version: u64,
}

/// One commit in a table's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableVersion {
    pub version: u64,
    pub timestamp_ms: Option<i64>,
    pub operation: Option<String>,
}

impl Lake {
    /// Opens the lake at a local directory (created if missing) or at an object-store URL
    /// (`file://`, or another scheme whose object store is compiled into deltalake).
    pub fn open(location: &str) -> Result<Self, LakeError> {
        let invalid = |reason: String| LakeError::InvalidLocation {
            location: location.to_owned(),
            reason,
        };
        let root = if location.contains("://") {
            let mut url = Url::parse(location).map_err(|e| invalid(e.to_string()))?;
            if !url.path().ends_with('/') {
                url.set_path(&format!("{}/", url.path()));
            }
            url
        } else {
            std::fs::create_dir_all(location).map_err(|e| invalid(e.to_string()))?;
            let abs = std::fs::canonicalize(location).map_err(|e| invalid(e.to_string()))?;
            Url::from_directory_path(&abs).map_err(|()| invalid("not an absolute path".into()))?
        };
        if root.scheme() == "file"
            && let Ok(path) = root.to_file_path()
        {
            std::fs::create_dir_all(&path).map_err(|e| invalid(e.to_string()))?;
        }
        Ok(Self { root })
    }

    pub fn root(&self) -> &Url {
        &self.root
    }

    fn table_url(&self, name: &TableName) -> Result<Url, LakeError> {
        self.root
            .join(&format!("{name}/"))
            .map_err(|e| LakeError::InvalidTableName {
                name: name.to_string(),
                reason: e.to_string(),
            })
    }

    /// The table handle, loaded at its latest version if it exists.
    async fn handle(&self, name: &TableName) -> Result<DeltaTable, LakeError> {
        let url = self.table_url(name)?;
        if url.scheme() == "file"
            && let Ok(path) = url.to_file_path()
        {
            std::fs::create_dir_all(&path).map_err(|e| LakeError::NotWritable {
                location: path.display().to_string(),
                reason: e.to_string(),
            })?;
        }
        DeltaTable::try_from_url(url)
            .await
            .map_err(|e| LakeError::delta(name, e))
    }

    /// The table at its latest version; `TableNotFound` if it was never created.
    pub async fn table(&self, name: &TableName) -> Result<DeltaTable, LakeError> {
        let table = self.handle(name).await?;
        if table.version().is_none() {
            return Err(LakeError::TableNotFound(name.to_string()));
        }
        Ok(table)
    }

    pub async fn exists(&self, name: &TableName) -> Result<bool, LakeError> {
        Ok(self.handle(name).await?.version().is_some())
    }

    /// Creates the table with this schema; an existing table is left as it is.
    pub async fn create_table(
        &self,
        name: &TableName,
        schema: &ArrowSchema,
    ) -> Result<u64, LakeError> {
        let table = self.handle(name).await?;
        if let Some(v) = table.version() {
            return Ok(v);
        }
        let delta_schema =
            StructType::try_from_arrow(schema).map_err(|e| LakeError::delta(name, e.into()))?;
        let created = table
            .create()
            .with_table_name(name.sql_name())
            .with_columns(delta_schema.fields().cloned())
            .with_save_mode(SaveMode::Ignore)
            .await
            .map_err(|e| LakeError::delta(name, e))?;
        Ok(created.version().unwrap_or(0))
    }

    /// The last application-transaction version committed by `app_id`, if any.
    pub async fn committed_version(
        &self,
        name: &TableName,
        app_id: &str,
    ) -> Result<Option<i64>, LakeError> {
        transaction_version(name, &self.table(name).await?, app_id).await
    }

    /// The table at its latest version, unless `txn` (or a later version of the same writer) is
    /// already committed to it.
    async fn table_unless_committed(
        &self,
        name: &TableName,
        txn: Option<&AppTransaction>,
    ) -> Result<Option<DeltaTable>, LakeError> {
        let table = self.table(name).await?;
        let Some(t) = txn else {
            return Ok(Some(table));
        };
        let committed = transaction_version(name, &table, &t.app_id).await?;
        Ok(committed.is_none_or(|v| v < t.version).then_some(table))
    }

    /// A writer's commit: its application transaction, and no checkpoint on its path (see
    /// [`Self::checkpoint_later`]).
    fn commit_properties(txn: Option<&AppTransaction>) -> CommitProperties {
        let props = CommitProperties::default().with_create_checkpoint(false);
        match txn {
            Some(t) => props.with_application_transaction(Transaction::new(&t.app_id, t.version)),
            None => props,
        }
    }

    /// Appends the batches in one commit. With `txn`, a commit that already happened is skipped
    /// and `None` is returned, so a retried batch is never written twice.
    pub async fn append(
        &self,
        name: &TableName,
        batches: Vec<RecordBatch>,
        txn: Option<AppTransaction>,
    ) -> Result<Option<u64>, LakeError> {
        self.append_as(name, batches, txn, None).await
    }

    /// Like [`Self::append`], for a table whose columns follow a source's: columns the table
    /// lacks are added (earlier rows read them as null), and columns the batches lack are
    /// written as null — a source table that gained or lost a column keeps landing.
    pub async fn append_widening(
        &self,
        name: &TableName,
        batches: Vec<RecordBatch>,
        txn: Option<AppTransaction>,
    ) -> Result<Option<u64>, LakeError> {
        self.append_as(name, batches, txn, Some(SchemaMode::Merge))
            .await
    }

    async fn append_as(
        &self,
        name: &TableName,
        batches: Vec<RecordBatch>,
        txn: Option<AppTransaction>,
        schema_mode: Option<SchemaMode>,
    ) -> Result<Option<u64>, LakeError> {
        retrying_conflicts(name, || {
            self.append_once(name, batches.clone(), txn.as_ref(), schema_mode)
        })
        .await
    }

    async fn append_once(
        &self,
        name: &TableName,
        batches: Vec<RecordBatch>,
        txn: Option<&AppTransaction>,
        schema_mode: Option<SchemaMode>,
    ) -> Result<Option<u64>, LakeError> {
        let Some(table) = self.table_unless_committed(name, txn).await? else {
            return Ok(None);
        };
        let mut write = table
            .write(batches)
            .with_save_mode(SaveMode::Append)
            .with_commit_properties(Self::commit_properties(txn));
        if let Some(mode) = schema_mode {
            write = write.with_schema_mode(mode);
        }
        let written = write.await.map_err(|e| LakeError::delta(name, e))?;
        self.checkpoint_later(name, written.version());
        Ok(written.version())
    }

    /// Replaces the table's rows with the batches in one commit (earlier versions stay readable
    /// through the table's history). The table must exist.
    pub async fn replace(
        &self,
        name: &TableName,
        batches: Vec<RecordBatch>,
    ) -> Result<u64, LakeError> {
        let table = self.table(name).await?;
        let written = table
            .write(batches)
            .with_save_mode(SaveMode::Overwrite)
            .await
            .map_err(|e| LakeError::delta(name, e))?;
        Ok(written.version().unwrap_or(0))
    }

    /// Upserts the batches by `keys`: matching rows are updated, others inserted, in one commit.
    /// With `txn`, a merge that already happened is skipped and `None` is returned.
    pub async fn merge(
        &self,
        name: &TableName,
        batches: Vec<RecordBatch>,
        keys: &[&str],
        txn: Option<AppTransaction>,
    ) -> Result<Option<MergeStats>, LakeError> {
        self.merge_changes(name, batches, keys, None, txn).await
    }

    /// Like [`Self::merge`], and rows whose boolean column `deleted` is true delete the target
    /// row of their key instead (the column itself is not stored).
    pub async fn merge_changes(
        &self,
        name: &TableName,
        batches: Vec<RecordBatch>,
        keys: &[&str],
        deleted: Option<&str>,
        txn: Option<AppTransaction>,
    ) -> Result<Option<MergeStats>, LakeError> {
        let Some(schema) = batches.first().map(|b| b.schema()) else {
            return Ok(Some(MergeStats::default()));
        };
        for key in keys.iter().chain(deleted.as_ref()) {
            if schema.field_with_name(key).is_err() {
                return Err(LakeError::MissingKey {
                    table: name.to_string(),
                    column: (*key).to_owned(),
                });
            }
        }
        retrying_conflicts(name, || {
            self.merge_once(name, batches.clone(), keys, deleted, txn.as_ref())
        })
        .await
    }

    async fn merge_once(
        &self,
        name: &TableName,
        batches: Vec<RecordBatch>,
        keys: &[&str],
        deleted: Option<&str>,
        txn: Option<&AppTransaction>,
    ) -> Result<Option<MergeStats>, LakeError> {
        let Some(schema) = batches.first().map(|b| b.schema()) else {
            return Ok(Some(MergeStats::default()));
        };
        let Some(table) = self.table_unless_committed(name, txn).await? else {
            return Ok(None);
        };
        let ctx = SessionContext::new();
        let source = ctx.read_batches(batches)?;
        let predicate = keys
            .iter()
            .map(|k| format!("target.\"{k}\" = source.\"{k}\""))
            .collect::<Vec<_>>()
            .join(" AND ");
        let columns: Vec<String> = schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .filter(|c| Some(c.as_str()) != deleted)
            .collect();
        let keep = deleted.map(|d| format!("NOT source.\"{d}\""));
        let mut builder = table
            .merge(source, predicate)
            .with_source_alias("source")
            .with_target_alias("target")
            .with_commit_properties(Self::commit_properties(txn));
        if let Some(d) = deleted {
            builder = builder
                .when_matched_delete(|del| del.predicate(format!("source.\"{d}\"")))
                .map_err(|e| LakeError::delta(name, e))?;
        }
        let (merged, metrics) = builder
            .when_matched_update(|u| {
                let u = match &keep {
                    Some(k) => u.predicate(k.as_str()),
                    None => u,
                };
                columns
                    .iter()
                    .fold(u, |u, c| u.update(c.as_str(), format!("source.\"{c}\"")))
            })
            .map_err(|e| LakeError::delta(name, e))?
            .when_not_matched_insert(|i| {
                let i = match &keep {
                    Some(k) => i.predicate(k.as_str()),
                    None => i,
                };
                columns
                    .iter()
                    .fold(i, |i, c| i.set(c.as_str(), format!("source.\"{c}\"")))
            })
            .map_err(|e| LakeError::delta(name, e))?
            .await
            .map_err(|e| LakeError::delta(name, e))?;
        self.checkpoint_later(name, merged.version());
        Ok(Some(MergeStats {
            inserted: metrics.num_target_rows_inserted as u64,
            updated: metrics.num_target_rows_updated as u64,
            deleted: metrics.num_target_rows_deleted as u64,
            version: merged.version().unwrap_or(0),
        }))
    }

    /// Deletes, in one commit, the rows equal to a row of `batches` on every column of
    /// `columns` (which the batches carry under the table's names and types). Returns how many
    /// were deleted; rows that no longer match (already deleted, or replaced since) are left.
    pub async fn delete_matching(
        &self,
        name: &TableName,
        batches: Vec<RecordBatch>,
        columns: &[&str],
    ) -> Result<u64, LakeError> {
        let Some(schema) = batches.first().map(|b| b.schema()) else {
            return Ok(0);
        };
        for column in columns {
            if schema.field_with_name(column).is_err() {
                return Err(LakeError::MissingKey {
                    table: name.to_string(),
                    column: (*column).to_owned(),
                });
            }
        }
        if batches.iter().all(|b| b.num_rows() == 0) {
            return Ok(0);
        }
        retrying_conflicts(name, || self.delete_once(name, batches.clone(), columns)).await
    }

    async fn delete_once(
        &self,
        name: &TableName,
        batches: Vec<RecordBatch>,
        columns: &[&str],
    ) -> Result<u64, LakeError> {
        let table = self.table(name).await?;
        let source = SessionContext::new().read_batches(batches)?;
        let predicate = columns
            .iter()
            .map(|c| format!("target.\"{c}\" = source.\"{c}\""))
            .collect::<Vec<_>>()
            .join(" AND ");
        let (deleted, metrics) = table
            .merge(source, predicate)
            .with_source_alias("source")
            .with_target_alias("target")
            .with_commit_properties(Self::commit_properties(None))
            .when_matched_delete(|del| del)
            .map_err(|e| LakeError::delta(name, e))?
            .await
            .map_err(|e| LakeError::delta(name, e))?;
        self.checkpoint_later(name, deleted.version());
        Ok(metrics.num_target_rows_deleted as u64)
    }

    /// After a writer's commit of `version`: every [`CHECKPOINT_EVERY`] versions a checkpoint of
    /// the table is written (and expired log files removed, as the table's settings say) in a
    /// task of its own. Delta writes it inside the commit by default, which held a streaming
    /// channel's next batch for as long as the checkpoint took.
    fn checkpoint_later(&self, name: &TableName, version: Option<u64>) {
        let Some(version) = version.filter(|v| *v > 0 && v % CHECKPOINT_EVERY == 0) else {
            return;
        };
        let (lake, name) = (self.clone(), name.clone());
        tokio::spawn(async move {
            if let Err(e) = lake.checkpoint(&name, version).await {
                tracing::warn!(table = %name, version, error = %e, "checkpoint not written; the next one will cover it");
            }
        });
    }

    /// Writes a checkpoint of the table at `version`, then removes log files past their
    /// retention if the table's settings ask for it.
    async fn checkpoint(&self, name: &TableName, version: u64) -> Result<(), LakeError> {
        let mut table = self.handle(name).await?;
        table
            .load_version(version)
            .await
            .map_err(|e| LakeError::delta(name, e))?;
        checkpoints::create_checkpoint(&table, None)
            .await
            .map_err(|e| LakeError::delta(name, e))?;
        let cleanup = table
            .snapshot()
            .map_err(|e| LakeError::delta(name, e))?
            .table_config()
            .enable_expired_log_cleanup();
        if cleanup {
            checkpoints::cleanup_metadata(&table, None)
                .await
                .map_err(|e| LakeError::delta(name, e))?;
        }
        Ok(())
    }

    /// The table's commits, newest first.
    pub async fn versions(&self, name: &TableName) -> Result<Vec<TableVersion>, LakeError> {
        let table = self.table(name).await?;
        let latest = table.version().unwrap_or(0);
        let commits: Vec<_> = table
            .history(None)
            .try_collect()
            .await
            .map_err(|e| LakeError::delta(name, e))?;
        Ok(commits
            .into_iter()
            .enumerate()
            .map(|(i, c)| TableVersion {
                version: latest.saturating_sub(i as u64),
                timestamp_ms: c.timestamp,
                operation: c.operation,
            })
            .collect())
    }

    /// A DataFusion session with the named tables registered under their [`TableName::sql_name`].
    pub async fn session(&self, tables: &[TableName]) -> Result<SessionContext, LakeError> {
        let ctx = SessionContext::new();
        crate::functions::register(&ctx);
        for name in tables {
            let table = self.table(name).await?;
            table
                .update_datafusion_session(&ctx.state())
                .map_err(|e| LakeError::delta(name, e))?;
            let provider = table.table_provider().await?;
            ctx.register_table(name.sql_name(), provider)?;
        }
        Ok(ctx)
    }

    /// The table's columns.
    pub async fn schema(
        &self,
        name: &TableName,
    ) -> Result<deltalake::arrow::datatypes::SchemaRef, LakeError> {
        let ctx = self.session(std::slice::from_ref(name)).await?;
        Ok(ctx.table(name.sql_name()).await?.schema().inner().clone())
    }

    /// Runs `sql` over the named tables and collects the result.
    pub async fn query(
        &self,
        tables: &[TableName],
        sql: &str,
    ) -> Result<Vec<RecordBatch>, LakeError> {
        let ctx = self.session(tables).await?;
        Ok(ctx.sql(sql).await?.collect().await?)
    }

    /// Runs `sql` over the named tables and yields the result batch by batch, for results too
    /// large to hold at once.
    pub async fn query_stream(
        &self,
        tables: &[TableName],
        sql: &str,
    ) -> Result<deltalake::datafusion::physical_plan::SendableRecordBatchStream, LakeError> {
        let ctx = self.session(tables).await?;
        Ok(ctx.sql(sql).await?.execute_stream().await?)
    }

    /// Writes and removes a probe object at the root: the readiness check of the lake.
    pub async fn check_writable(&self) -> Result<(), LakeError> {
        let not_writable = |reason: String| LakeError::NotWritable {
            location: self.root.to_string(),
            reason,
        };
        let store = DeltaTableBuilder::from_url(self.root.clone())
            .and_then(|b| b.build_storage())
            .map_err(|e| not_writable(e.to_string()))?
            .root_object_store(None);
        let probe = Path::from(format!(".hdos-probe-{}", std::process::id()));
        store
            .put(&probe, b"ok".to_vec().into())
            .await
            .map_err(|e| not_writable(e.to_string()))?;
        store
            .delete(&probe)
            .await
            .map_err(|e| not_writable(e.to_string()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::{
        DeltaTableError,
        kernel::transaction::{CommitConflictError, TransactionError},
    };
    use std::cell::Cell;

    fn conflict(name: &TableName) -> LakeError {
        LakeError::delta(
            name,
            DeltaTableError::Transaction {
                source: TransactionError::CommitConflict(CommitConflictError::ConcurrentDeleteRead),
            },
        )
    }

    #[tokio::test]
    async fn a_write_refused_by_a_concurrent_commit_runs_again_and_other_errors_do_not() {
        let name = TableName::new("std/patient").unwrap();
        let tries = Cell::new(0);
        let written = retrying_conflicts(&name, || {
            tries.set(tries.get() + 1);
            let result = if tries.get() < 3 {
                Err(conflict(&name))
            } else {
                Ok(7)
            };
            async move { result }
        })
        .await;
        assert_eq!((written.unwrap(), tries.get()), (7, 3));

        tries.set(0);
        let refused: Result<(), _> = retrying_conflicts(&name, || {
            tries.set(tries.get() + 1);
            let e = conflict(&name);
            async move { Err(e) }
        })
        .await;
        assert!(refused.unwrap_err().is_commit_conflict());
        assert_eq!(tries.get(), COMMIT_ATTEMPTS);

        tries.set(0);
        let other: Result<(), _> = retrying_conflicts(&name, || {
            tries.set(tries.get() + 1);
            async { Err(LakeError::TableNotFound("std/patient".into())) }
        })
        .await;
        assert!(matches!(other, Err(LakeError::TableNotFound(_))));
        assert_eq!(tries.get(), 1);
    }
}
