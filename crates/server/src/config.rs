//! The server's section of the configuration.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: String,
    /// Set the `Secure` flag on cookies; turn on behind HTTPS.
    pub secure_cookies: bool,
    /// A session ends after this many minutes without a request.
    pub session_idle_minutes: i64,
    /// A session ends this many hours after login, active or not.
    pub session_max_hours: i64,
    /// Failed logins within `login_window_minutes` that lock the account name.
    pub login_max_failures: i64,
    pub login_window_minutes: i64,
    /// How long a locked account name stays locked.
    pub login_lockout_minutes: i64,
    /// Requests taking longer are answered with 408.
    pub request_timeout_secs: u64,
    /// Largest request body accepted, in bytes.
    pub body_limit_bytes: usize,
    /// Largest data file accepted by upload, in bytes. Uploads have no time limit: a large
    /// file on a slow hospital link takes as long as it takes.
    pub upload_limit_bytes: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            secure_cookies: false,
            session_idle_minutes: 30,
            session_max_hours: 12,
            login_max_failures: 5,
            login_window_minutes: 15,
            login_lockout_minutes: 15,
            request_timeout_secs: 30,
            body_limit_bytes: 2 * 1024 * 1024,
            upload_limit_bytes: 1024 * 1024 * 1024,
        }
    }
}

impl ServerConfig {
    pub(crate) fn idle_ms(&self) -> i64 {
        self.session_idle_minutes * 60_000
    }
    pub(crate) fn max_ms(&self) -> i64 {
        self.session_max_hours * 3_600_000
    }
}
