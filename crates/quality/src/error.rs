use hdos_core::ErrorKind;

/// Errors of quality control.
#[derive(Debug, thiserror::Error)]
pub enum QualityError {
    #[error("rule `{rule}`: {reason}")]
    InvalidRule { rule: String, reason: String },
    #[error("ticket {id}: {reason}")]
    Ticket { id: i64, reason: String },
    #[error("quality run: {0}")]
    Run(String),
    #[error(transparent)]
    Store(#[from] hdos_store::StoreError),
    #[error(transparent)]
    Lake(#[from] hdos_lake::LakeError),
    #[error(transparent)]
    Core(#[from] hdos_core::CoreError),
}

impl QualityError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::InvalidRule { .. } => ErrorKind::InvalidInput,
            Self::Ticket { .. } => ErrorKind::Conflict,
            Self::Run(_) => ErrorKind::Internal,
            Self::Store(e) => e.kind(),
            Self::Lake(e) => e.kind(),
            Self::Core(e) => e.kind(),
        }
    }
}

impl From<hdos_lake::datafusion::error::DataFusionError> for QualityError {
    fn from(e: hdos_lake::datafusion::error::DataFusionError) -> Self {
        Self::Lake(e.into())
    }
}

impl From<hdos_lake::arrow::error::ArrowError> for QualityError {
    fn from(e: hdos_lake::arrow::error::ArrowError) -> Self {
        Self::Lake(e.into())
    }
}
