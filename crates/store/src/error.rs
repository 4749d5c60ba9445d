use hdos_core::ErrorKind;

/// Errors of the metadata store. `sqlx` errors are converted here and nowhere else.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported metadata store URL `{0}` (expected sqlite://… or postgres://…)")]
    UnsupportedUrl(String),
    #[error("cannot reach the metadata store at {target} after {attempts} attempts: {source}")]
    Unreachable {
        target: String,
        attempts: u32,
        #[source]
        source: sqlx::Error,
    },
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{what} `{key}` already exists")]
    AlreadyExists { what: &'static str, key: String },
    #[error("{what} `{key}` not found")]
    NotFound { what: &'static str, key: String },
    #[error("invalid {what}: {reason}")]
    InvalidInput { what: &'static str, reason: String },
    #[error("password hashing failed: {0}")]
    PasswordHash(String),
    #[error("secret could not be decrypted (wrong master key or corrupted value)")]
    Decrypt,
    #[error("master key file {path}: {reason}")]
    MasterKey { path: String, reason: String },
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
}

impl StoreError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::UnsupportedUrl(_) | Self::InvalidInput { .. } => ErrorKind::InvalidInput,
            Self::Unreachable { .. } => ErrorKind::Unavailable,
            Self::AlreadyExists { .. } => ErrorKind::AlreadyExists,
            Self::NotFound { .. } => ErrorKind::NotFound,
            Self::Database(e) if is_unavailable(e) => ErrorKind::Unavailable,
            Self::Migrate(_)
            | Self::PasswordHash(_)
            | Self::Decrypt
            | Self::MasterKey { .. }
            | Self::Database(_) => ErrorKind::Internal,
        }
    }

    /// Converts a sqlx error, turning a unique-key violation into `AlreadyExists`.
    pub(crate) fn from_sqlx(what: &'static str, key: impl Into<String>, e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => Self::AlreadyExists {
                what,
                key: key.into(),
            },
            _ => Self::Database(e),
        }
    }
}

fn is_unavailable(e: &sqlx::Error) -> bool {
    matches!(
        e,
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed
    )
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        Self::Database(e)
    }
}
