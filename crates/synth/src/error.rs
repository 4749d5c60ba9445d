//! The synthetic region's one error type.

use hdos_core::ErrorKind;

#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    #[error("{0}")]
    InvalidArgument(String),
    #[error("file error: {0}")]
    Io(#[from] std::io::Error),
    #[error("HIS database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("could not write JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A stream target (MLLP endpoint, database) refused or dropped a change.
    #[error("the stream target failed: {0}")]
    Target(String),
}

impl SynthError {
    /// The platform-wide error kind.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::InvalidArgument(_) => ErrorKind::InvalidInput,
            Self::Io(_) | Self::Sqlite(_) | Self::Json(_) => ErrorKind::Internal,
            Self::Target(_) => ErrorKind::Unavailable,
        }
    }
}
