//! The error kinds every hdos crate maps its errors onto, and hdos-core's own error.

use std::fmt;

/// What went wrong, independent of which crate noticed it. hdos-server maps each kind to one HTTP
/// status; the CLI maps it to an exit message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    InvalidInput,
    NotFound,
    AlreadyExists,
    Conflict,
    FailedPrecondition,
    Unauthenticated,
    Forbidden,
    TooManyRequests,
    /// A request body beyond its limit.
    TooLarge,
    Unavailable,
    Timeout,
    Internal,
}

impl ErrorKind {
    /// Stable machine-readable code used in JSON error bodies.
    pub fn code(self) -> &'static str {
        match self {
            Self::InvalidInput => "invalid_input",
            Self::NotFound => "not_found",
            Self::AlreadyExists => "already_exists",
            Self::Conflict => "conflict",
            Self::FailedPrecondition => "failed_precondition",
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden => "forbidden",
            Self::TooManyRequests => "too_many_requests",
            Self::TooLarge => "too_large",
            Self::Unavailable => "unavailable",
            Self::Timeout => "timeout",
            Self::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Errors raised by hdos-core itself: parsing the standard and domain values.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("unknown role `{0}` (expected admin, manager, provider, user or auditor)")]
    UnknownRole(String),
    #[error("invalid {what} `{value}`: {reason}")]
    InvalidValue {
        what: &'static str,
        value: String,
        reason: String,
    },
    #[error("the data standard is invalid: {0}")]
    InvalidStandard(String),
}

impl CoreError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::UnknownRole(_) | Self::InvalidValue { .. } | Self::InvalidStandard(_) => {
                ErrorKind::InvalidInput
            }
        }
    }
}
