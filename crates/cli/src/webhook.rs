//! Posts each new alert as JSON to the configured webhook (`monitor.webhook_url`), in the order
//! raised, retrying a failed delivery three times with backoff. Plain HTTP: a hospital network's
//! receivers (a message bus, an SMS gateway) sit on the internal network.

use bytes::Bytes;
use hdos_store::Alert;
use http_body_util::Full;
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use std::time::Duration;
use tokio::sync::mpsc;

/// Delivers alerts from `alerts` to `url` until the sending side closes.
pub async fn deliver(url: String, mut alerts: mpsc::UnboundedReceiver<Alert>) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    while let Some(alert) = alerts.recv().await {
        let body = Bytes::from(serde_json::json!({ "alert": alert }).to_string());
        let mut delay = Duration::from_secs(1);
        for attempt in 1..=4 {
            let request = match http::Request::post(&url)
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(Full::new(body.clone()))
            {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(%url, error = %e, "the webhook URL is not usable");
                    return;
                }
            };
            match client.request(request).await {
                Ok(r) if r.status().is_success() => break,
                outcome => {
                    let why = match outcome {
                        Ok(r) => format!("answered {}", r.status()),
                        Err(e) => e.to_string(),
                    };
                    tracing::warn!(%url, alert = alert.id, attempt, why, "webhook delivery failed");
                    if attempt < 4 {
                        tokio::time::sleep(delay).await;
                        delay *= 4;
                    }
                }
            }
        }
    }
}
