//! Telling people about tickets: each change a run or a person makes becomes a notification —
//! shown in the app to the institution's providers and/or the managers — with deliveries by e-mail
//! (to the addresses of those users) and webhook. Deliveries are kept in the metadata store and
//! retried with backoff, so a mail server that is down delays a message without losing it, and
//! the ticket is raised whatever happens to its mail.

pub mod smtp;

use crate::{
    QualityError,
    tickets::{ChangeKind, TicketChange},
};
use bytes::Bytes;
use hdos_core::Role;
use hdos_store::{MetaStore, Notification, now_millis};
use http_body_util::Full;
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use smtp::SmtpConfig;

/// Attempts before a delivery is given up.
pub const MAX_ATTEMPTS: i64 = 8;

/// Where notifications go besides the app.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifyConfig {
    pub smtp: SmtpConfig,
    /// Each notification is POSTed here as JSON; empty means none.
    pub webhook_url: String,
}

/// The notification of one ticket change.
fn notification(change: &TicketChange) -> Notification {
    let t = &change.ticket;
    let (kind, what, audience) = match change.kind {
        ChangeKind::Opened => ("ticket.opened", "新整改工单", "both"),
        ChangeKind::Reopened => ("ticket.reopened", "整改工单已重开", "both"),
        ChangeKind::Verified => ("ticket.verified", "整改已核验通过", "both"),
        ChangeKind::Escalated => ("ticket.escalated", "整改工单逾期", "managers"),
        ChangeKind::Resolved => ("ticket.resolved", "医院已提交整改", "managers"),
        ChangeKind::Closed => ("ticket.closed", "整改工单已关闭", "providers"),
    };
    let rate = if t.checked > 0 {
        100.0 * t.failed as f64 / t.checked as f64
    } else {
        0.0
    };
    let due = chrono::DateTime::from_timestamp_millis(t.due_at)
        .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default();
    Notification {
        id: 0,
        created_at: 0,
        kind: kind.into(),
        institution: t.institution.clone(),
        audience: audience.into(),
        subject: format!("【hdos 质控】{what}：{} {}", t.institution, t.rule_id),
        body: format!(
            "{what}\n机构：{}\n数据集：{}\n规则：{}\n失败：{} / {}（{rate:.3}%，阈值 {:.2}%）\n整改期限：{due}\n工单编号：{}\n请登录 hdos 数据质控 › 整改工单 处理。",
            t.institution,
            t.dataset,
            t.rule_id,
            t.failed,
            t.checked,
            t.threshold * 100.0,
            t.id
        ),
        link: format!("/integration/quality/tickets#ticket-{}", t.id),
    }
}

/// Saves a notification per change with its deliveries; returns how many were saved.
pub async fn enqueue(
    store: &dyn MetaStore,
    config: &NotifyConfig,
    changes: &[TicketChange],
) -> Result<usize, QualityError> {
    for change in changes {
        let n = notification(change);
        let mut deliveries: Vec<(String, String)> = Vec::new();
        if !config.smtp.server.is_empty() {
            let mut to = Vec::new();
            if n.audience != "managers" {
                to.extend(
                    store
                        .emails_of(Role::Provider, Some(&n.institution))
                        .await?,
                );
            }
            if n.audience != "providers" {
                to.extend(store.emails_of(Role::Manager, None).await?);
            }
            to.sort();
            to.dedup();
            deliveries.extend(to.into_iter().map(|a| ("email".to_owned(), a)));
        }
        if !config.webhook_url.is_empty() {
            deliveries.push(("webhook".into(), config.webhook_url.clone()));
        }
        store.add_notification(&n, &deliveries).await?;
    }
    Ok(changes.len())
}

/// When to try again after `attempts` failures: 1, 2, 4 … minutes, at most 6 hours.
fn retry_at(attempts: i64) -> Option<i64> {
    (attempts < MAX_ATTEMPTS)
        .then(|| now_millis() + (60_000_i64 << attempts.clamp(0, 20)).min(6 * 3_600_000))
}

async fn post(url: &str, n: &Notification) -> Result<(), String> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let body = Bytes::from(serde_json::json!({ "notification": n }).to_string());
    let request = http::Request::post(url)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(body))
        .map_err(|e| format!("`{url}` is not usable: {e}"))?;
    match tokio::time::timeout(std::time::Duration::from_secs(30), client.request(request)).await {
        Ok(Ok(r)) if r.status().is_success() => Ok(()),
        Ok(Ok(r)) => Err(format!("the webhook answered {}", r.status())),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("the webhook did not answer within 30 s".into()),
    }
}

/// Tries every delivery that is due now; returns (sent, failed attempts).
pub async fn deliver_due(
    store: &dyn MetaStore,
    config: &NotifyConfig,
) -> Result<(usize, usize), QualityError> {
    deliver_due_at(store, config, now_millis()).await
}

/// Tries every delivery due at `now`.
pub async fn deliver_due_at(
    store: &dyn MetaStore,
    config: &NotifyConfig,
    now: i64,
) -> Result<(usize, usize), QualityError> {
    let (mut sent, mut failed) = (0, 0);
    for (d, n) in store.due_deliveries(now, 100).await? {
        let outcome = match d.channel.as_str() {
            "email" => smtp::send(&config.smtp, &d.target, &n.subject, &n.body).await,
            "webhook" => post(&d.target, &n).await,
            other => Err(format!("unknown channel `{other}`")),
        };
        match outcome {
            Ok(()) => {
                store.record_delivery(d.id, None, None).await?;
                sent += 1;
            }
            Err(e) => {
                tracing::warn!(delivery = d.id, channel = %d.channel, target = %d.target, error = %e, "notification not delivered");
                store
                    .record_delivery(d.id, Some(&e), retry_at(d.attempts + 1))
                    .await?;
                failed += 1;
            }
        }
    }
    Ok((sent, failed))
}
