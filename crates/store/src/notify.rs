//! Notifications and their deliveries.

use crate::model::Millis;
use serde::Serialize;

/// Something the platform tells people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notification {
    pub id: i64,
    pub created_at: Millis,
    pub kind: String,
    pub institution: String,
    /// `providers`, `managers` or `both`.
    pub audience: String,
    pub subject: String,
    pub body: String,
    /// The page it concerns.
    pub link: String,
}

/// One delivery of a notification by e-mail or webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivery {
    pub id: i64,
    pub notification_id: i64,
    /// `email` or `webhook`.
    pub channel: String,
    /// The address or URL.
    pub target: String,
    /// `pending`, `sent` or `failed`.
    pub state: String,
    pub attempts: i64,
    pub next_attempt_at: Millis,
    pub last_error: Option<String>,
    pub sent_at: Option<Millis>,
}
