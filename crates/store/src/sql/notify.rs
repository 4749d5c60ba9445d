//! Notifications, their deliveries, and users' e-mail addresses.

use super::{Db, on_pool};
use crate::{
    StoreError,
    model::{Millis, Page, now_millis},
    notify::{Delivery, Notification},
};
use hdos_core::UserId;

#[derive(sqlx::FromRow)]
struct NotificationRow {
    id: i64,
    created_at: i64,
    kind: String,
    institution: String,
    audience: String,
    subject: String,
    body: String,
    link: String,
}

impl From<NotificationRow> for Notification {
    fn from(r: NotificationRow) -> Self {
        Self {
            id: r.id,
            created_at: r.created_at,
            kind: r.kind,
            institution: r.institution,
            audience: r.audience,
            subject: r.subject,
            body: r.body,
            link: r.link,
        }
    }
}

const NOTIFICATION_COLUMNS: &str =
    "id, created_at, kind, institution, audience, subject, body, link";

/// Saves a notification and one pending delivery per (channel, target), in one transaction.
pub(super) async fn add_notification(
    db: &Db,
    n: &Notification,
    deliveries: &[(String, String)],
) -> Result<Notification, StoreError> {
    let sql = format!(
        "INSERT INTO notifications (created_at, kind, institution, audience, subject, body, link) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {NOTIFICATION_COLUMNS}"
    );
    let now = now_millis();
    let row: NotificationRow = on_pool!(db, p => {
        let mut tx = p.begin_with(db.begin_write()).await?;
        let row: NotificationRow = sqlx::query_as(&sql)
            .bind(now).bind(&n.kind).bind(&n.institution).bind(&n.audience)
            .bind(&n.subject).bind(&n.body).bind(&n.link)
            .fetch_one(&mut *tx).await?;
        for (channel, target) in deliveries {
            sqlx::query(
                "INSERT INTO notification_deliveries (notification_id, channel, target, state, \
                 attempts, next_attempt_at) VALUES ($1, $2, $3, 'pending', 0, $4)",
            )
            .bind(row.id).bind(channel).bind(target).bind(now)
            .execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok::<_, StoreError>(row)
    })?;
    Ok(row.into())
}

/// Notifications for a reader: managers see those whose audience includes managers; an
/// institution's providers see its own whose audience includes providers. Newest first.
pub(super) async fn notifications_for(
    db: &Db,
    manager: bool,
    institution: Option<&str>,
    page: Page,
) -> Result<Vec<Notification>, StoreError> {
    let sql = format!(
        "SELECT {NOTIFICATION_COLUMNS} FROM notifications \
         WHERE ($1 = 1 AND audience IN ('managers', 'both')) \
            OR (institution = $2 AND audience IN ('providers', 'both')) \
         ORDER BY id DESC LIMIT $3 OFFSET $4"
    );
    let rows: Vec<NotificationRow> = on_pool!(db, p => sqlx::query_as(&sql)
        .bind(i64::from(manager)).bind(institution.unwrap_or(""))
        .bind(page.limit).bind(page.offset).fetch_all(p).await)?;
    Ok(rows.into_iter().map(Into::into).collect())
}

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    id: i64,
    notification_id: i64,
    channel: String,
    target: String,
    state: String,
    attempts: i64,
    next_attempt_at: i64,
    last_error: Option<String>,
    sent_at: Option<i64>,
}

impl From<DeliveryRow> for Delivery {
    fn from(r: DeliveryRow) -> Self {
        Self {
            id: r.id,
            notification_id: r.notification_id,
            channel: r.channel,
            target: r.target,
            state: r.state,
            attempts: r.attempts,
            next_attempt_at: r.next_attempt_at,
            last_error: r.last_error,
            sent_at: r.sent_at,
        }
    }
}

const DELIVERY_COLUMNS: &str = "id, notification_id, channel, target, state, attempts, \
                                next_attempt_at, last_error, sent_at";

/// Pending deliveries due at `now`, oldest first, with their notifications.
pub(super) async fn due_deliveries(
    db: &Db,
    now: Millis,
    limit: i64,
) -> Result<Vec<(Delivery, Notification)>, StoreError> {
    let sql = format!(
        "SELECT {DELIVERY_COLUMNS} FROM notification_deliveries \
         WHERE state = 'pending' AND next_attempt_at <= $1 ORDER BY id LIMIT $2"
    );
    let rows: Vec<DeliveryRow> =
        on_pool!(db, p => sqlx::query_as(&sql).bind(now).bind(limit).fetch_all(p).await)?;
    let one = format!("SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE id = $1");
    let mut out = Vec::with_capacity(rows.len());
    for d in rows {
        let n: NotificationRow = on_pool!(db, p => sqlx::query_as(&one)
            .bind(d.notification_id).fetch_one(p).await)?;
        out.push((d.into(), n.into()));
    }
    Ok(out)
}

/// Records an attempt: sent, retried at `retry_at`, or given up (`retry_at` None after an error).
pub(super) async fn record_delivery(
    db: &Db,
    id: i64,
    error: Option<&str>,
    retry_at: Option<Millis>,
) -> Result<(), StoreError> {
    let now = now_millis();
    let (state, next) = match (error, retry_at) {
        (None, _) => ("sent", now),
        (Some(_), Some(at)) => ("pending", at),
        (Some(_), None) => ("failed", now),
    };
    let sql = "UPDATE notification_deliveries SET state = $2, attempts = attempts + 1, \
               next_attempt_at = $3, last_error = $4, sent_at = $5 WHERE id = $1";
    on_pool!(db, p => sqlx::query(sql)
        .bind(id).bind(state).bind(next).bind(error)
        .bind(error.is_none().then_some(now))
        .execute(p).await.map(|_| ()))?;
    Ok(())
}

pub(super) async fn deliveries_of(
    db: &Db,
    notification_id: i64,
) -> Result<Vec<Delivery>, StoreError> {
    let sql = format!(
        "SELECT {DELIVERY_COLUMNS} FROM notification_deliveries WHERE notification_id = $1 ORDER BY id"
    );
    let rows: Vec<DeliveryRow> =
        on_pool!(db, p => sqlx::query_as(&sql).bind(notification_id).fetch_all(p).await)?;
    Ok(rows.into_iter().map(Into::into).collect())
}

pub(super) async fn set_user_email(
    db: &Db,
    id: UserId,
    email: Option<&str>,
) -> Result<(), StoreError> {
    let changed = on_pool!(db, p => sqlx::query("UPDATE users SET email = $2 WHERE id = $1")
        .bind(id.0).bind(email).execute(p).await.map(|r| r.rows_affected()))?;
    if changed == 0 {
        return Err(StoreError::NotFound {
            what: "user",
            key: id.0.to_string(),
        });
    }
    Ok(())
}

/// E-mail addresses of enabled users holding `role` (and working at `institution`, when given).
pub(super) async fn emails_of(
    db: &Db,
    role: &str,
    institution: Option<&str>,
) -> Result<Vec<String>, StoreError> {
    let sql = "SELECT u.email FROM users u LEFT JOIN institutions i ON i.id = u.institution_id \
               WHERE u.email IS NOT NULL AND u.email <> '' AND u.disabled = 0 \
               AND (',' || u.roles || ',') LIKE '%,' || $1 || ',%' \
               AND ($2 IS NULL OR i.code = $2) ORDER BY u.id";
    let rows: Vec<String> = on_pool!(db, p => sqlx::query_scalar(sql)
        .bind(role).bind(institution).fetch_all(p).await)?;
    Ok(rows)
}
