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
            Self::Delta { source, .. } => match source {
                deltalake::DeltaTableError::VersionAlreadyExists(_) => ErrorKind::Conflict,
                deltalake::DeltaTableError::NotATable(_) => ErrorKind::NotFound,
                _ => ErrorKind::Internal,
            },
            Self::Query(_) => ErrorKind::InvalidInput,
            Self::Arrow(_) => ErrorKind::Internal,
        }
    }

    pub(crate) fn delta(table: &crate::TableName, source: deltalake::DeltaTableError) -> Self {
        Self::Delta {
            table: table.to_string(),
            source,
        }
    }
}
