use hdos_core::ErrorKind;

#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    #[error("invalid lake location `{location}`: {reason}")]
    InvalidLocation { location: String, reason: String },
    #[error("invalid table name `{name}`: {reason}")]
    InvalidTableName { name: String, reason: String },
    #[error("table `{0}` does not exist")]
    TableNotFound(String),
    #[error("merge into `{table}` needs key columns present in the data: missing `{column}`")]
    MissingKey { table: String, column: String },
    #[error("the lake at {location} is not writable: {reason}")]
    NotWritable { location: String, reason: String },
    #[error("delta table `{table}`: {source}")]
    Delta {
        table: String,
        #[source]
        source: deltalake::DeltaTableError,
    },
    #[error("query failed: {0}")]
    Query(#[from] deltalake::datafusion::error::DataFusionError),
    #[error("arrow: {0}")]
    Arrow(#[from] deltalake::arrow::error::ArrowError),
}

impl LakeError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::InvalidLocation { .. }
            | Self::InvalidTableName { .. }
            | Self::MissingKey { .. } => ErrorKind::InvalidInput,
            Self::TableNotFound(_) => ErrorKind::NotFound,
            Self::NotWritable { .. } => ErrorKind::Unavailable,
            Self::Delta { .. } if self.is_commit_conflict() => ErrorKind::Conflict,
            Self::Delta { source, .. } => match source {
                deltalake::DeltaTableError::VersionAlreadyExists(_) => ErrorKind::Conflict,
                deltalake::DeltaTableError::NotATable(_) => ErrorKind::NotFound,
                _ => ErrorKind::Internal,
            },
            Self::Query(_) => ErrorKind::InvalidInput,
            Self::Arrow(_) => ErrorKind::Internal,
        }
    }

    /// Whether concurrent commits refused this one: Delta's conflict check found that another
    /// commit removed files this one read (delta-rs counts every file as read by an append), or
    /// the commit lost the race for the next version more often than delta-rs tries. Run on the
    /// new version, the operation may succeed.
    pub fn is_commit_conflict(&self) -> bool {
        use deltalake::kernel::transaction::TransactionError;
        matches!(
            self,
            Self::Delta {
                source: deltalake::DeltaTableError::Transaction {
                    source: TransactionError::CommitConflict(_)
                        | TransactionError::MaxCommitAttempts(_)
                },
                ..
            }
        )
    }

    pub(crate) fn delta(table: &crate::TableName, source: deltalake::DeltaTableError) -> Self {
        Self::Delta {
            table: table.to_string(),
            source,
        }
    }
}
