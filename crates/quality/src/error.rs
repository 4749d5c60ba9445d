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
    #[error("a quality run is in progress; try again when it has finished")]
    Busy,
    #[error(transparent)]
    Store(#[from] hdos_store::StoreError),
    #[error(transparent)]
    Lake(Box<hdos_lake::LakeError>),
    #[error(transparent)]
    Core(#[from] hdos_core::CoreError),
}

impl QualityError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::InvalidRule { .. } => ErrorKind::InvalidInput,
            Self::Ticket { .. } => ErrorKind::Conflict,
            Self::Run(_) => ErrorKind::Internal,
            Self::Busy => ErrorKind::Conflict,
            Self::Store(e) => e.kind(),
            Self::Lake(e) => e.kind(),
            Self::Core(e) => e.kind(),
        }
    }
}

impl From<hdos_lake::LakeError> for QualityError {
    fn from(e: hdos_lake::LakeError) -> Self {
        Self::Lake(Box::new(e))
    }
}

impl From<hdos_lake::datafusion::error::DataFusionError> for QualityError {
    fn from(e: hdos_lake::datafusion::error::DataFusionError) -> Self {
        hdos_lake::LakeError::from(e).into()
    }
}

impl From<hdos_lake::arrow::error::ArrowError> for QualityError {
    fn from(e: hdos_lake::arrow::error::ArrowError) -> Self {
        hdos_lake::LakeError::from(e).into()
    }
}
