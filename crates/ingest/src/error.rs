use hdos_core::ErrorKind;

/// Errors of collection. Source-driver errors are converted here.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("cannot open source {source_name}: {reason}")]
    SourceUnavailable { source_name: String, reason: String },
    #[error("source {source_name}: table `{table}` not found")]
    TableNotFound { source_name: String, table: String },
    #[error("source {source_name}: {reason}")]
    Source { source_name: String, reason: String },
    #[error("invalid mapping for `{table}`: {reason}")]
    InvalidMapping { table: String, reason: String },
    #[error("unknown standard dataset `{0}`")]
    UnknownDataset(String),
    #[error("checkpoint of {channel}/{table} is unreadable: {reason}")]
    Checkpoint {
        channel: String,
        table: String,
        reason: String,
    },
    #[error("journal {path}: {reason}")]
    Journal { path: String, reason: String },
    #[error("channel `{channel}`: {reason}")]
    Channel { channel: String, reason: String },
    #[error("connection `{name}`: {reason}")]
    Connection { name: String, reason: String },
    /// The run was asked to stop and did, between chunks.
    #[error("cancelled")]
    Cancelled,
    /// Boxed: lake errors carry Delta and DataFusion errors, far larger than the rest.
    #[error(transparent)]
    Lake(Box<hdos_lake::LakeError>),
    #[error(transparent)]
    Store(#[from] hdos_store::StoreError),
    #[error(transparent)]
    Core(#[from] hdos_core::CoreError),
}

impl From<hdos_lake::LakeError> for IngestError {
    fn from(e: hdos_lake::LakeError) -> Self {
        Self::Lake(Box::new(e))
    }
}

impl IngestError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::SourceUnavailable { .. } => ErrorKind::Unavailable,
            Self::TableNotFound { .. } | Self::UnknownDataset(_) => ErrorKind::NotFound,
            Self::InvalidMapping { .. } | Self::Channel { .. } | Self::Connection { .. } => {
                ErrorKind::InvalidInput
            }
            Self::Cancelled => ErrorKind::Conflict,
            Self::Source { .. } | Self::Checkpoint { .. } | Self::Journal { .. } => {
                ErrorKind::Internal
            }
            Self::Lake(e) => e.kind(),
            Self::Store(e) => e.kind(),
            Self::Core(e) => e.kind(),
        }
    }
}
