//! Ticket notifications reach a real SMTP listener and a real HTTP receiver on loopback; with the
//! mail server down the ticket is still raised and the mail is retried until it goes through.

use crate::common;
use anyhow::{Context, Result, ensure};
use base64::Engine;
use hdos_core::{Role, standard::Standard};
use hdos_lake::Lake;
use hdos_quality::{
    notify::{self, NotifyConfig, smtp::SmtpConfig},
    run::{RunOptions, run},
};
use hdos_store::{MetaStore, NewInstitution, NewUser, Secret, now_millis};
use std::sync::{Arc, Mutex};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::TcpListener,
};

type Inbox = Arc<Mutex<Vec<String>>>;

/// A minimal SMTP server: accepts every message and keeps (recipient, data).
async fn smtp_server() -> Result<(String, Inbox)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?.to_string();
    let inbox: Inbox = Arc::default();
    let kept = inbox.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let kept = kept.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                let _ = write.write_all(b"220 test ESMTP\r\n").await;
                let (mut rcpt, mut data, mut in_data) = (String::new(), String::new(), false);
                while let Ok(Some(line)) = lines.next_line().await {
                    if in_data {
                        if line == "." {
                            in_data = false;
                            kept.lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .push(format!("{rcpt}\n{data}"));
                            data.clear();
                            let _ = write.write_all(b"250 queued\r\n").await;
                        } else {
                            data.push_str(&line);
                            data.push('\n');
                        }
                        continue;
                    }
                    let reply: &[u8] = match line.split(' ').next().unwrap_or_default() {
                        "EHLO" => b"250-test\r\n250 8BITMIME\r\n",
                        "RCPT" => {
                            rcpt = line.clone();
                            b"250 ok\r\n"
                        }
                        "DATA" => {
                            in_data = true;
                            b"354 go on\r\n"
                        }
                        "QUIT" => {
                            let _ = write.write_all(b"221 bye\r\n").await;
                            break;
                        }
                        _ => b"250 ok\r\n",
                    };
                    let _ = write.write_all(reply).await;
                }
            });
        }
    });
    Ok((addr, inbox))
}

/// A minimal HTTP receiver: answers 200 to every POST and keeps its body.
async fn http_receiver() -> Result<(String, Inbox)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hooks/quality", listener.local_addr()?);
    let inbox: Inbox = Arc::default();
    let kept = inbox.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            while let Ok(n) = stream.read(&mut chunk).await {
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let length = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if body.len() >= length {
                        kept.lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push(body.to_owned());
                        let _ = stream
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                            .await;
                        break;
                    }
                }
            }
        }
    });
    Ok((url, inbox))
}

#[tokio::test]
async fn tickets_are_told_by_mail_and_webhook_and_a_mail_server_down_only_delays_them() -> Result<()>
{
    let dir = tempfile::tempdir()?;
    let store = common::store(dir.path()).await?;
    let lake = Lake::open(&dir.path().join("lake").display().to_string())?;
    let std = Standard::builtin()?;
    let h1 = store
        .create_institution(NewInstitution {
            code: "H1".into(),
            name: "医院一".into(),
            grade: "二级".into(),
            kind: "综合医院".into(),
            region_code: "330106".into(),
        })
        .await?;
    for (name, role, email) in [
        ("prov", Role::Provider, "prov@h1.example"),
        ("mgr", Role::Manager, "mgr@centre.example"),
    ] {
        let user = store
            .create_user(NewUser {
                username: name.into(),
                display_name: name.into(),
                password: Secret::new("a long password 1"),
                roles: vec![role],
                institution_id: (role == Role::Provider).then_some(h1.id),
                must_change_password: false,
            })
            .await?;
        store.set_user_email(user.id, Some(email)).await?;
    }
    // The mail server is down: nothing listens on this port any more.
    let down = TcpListener::bind("127.0.0.1:0")
        .await?
        .local_addr()?
        .to_string();
    let (hook, hooks) = http_receiver().await?;
    let mut config = NotifyConfig {
        smtp: SmtpConfig {
            server: down,
            ..SmtpConfig::default()
        },
        webhook_url: hook,
    };
    let row: &[(&str, &str)] = &[
        ("patient_id", "P1"),
        ("institution_code", "H1"),
        ("id_type", "01"),
        ("id_no", "110105194912310021"),
        ("name", "张三"),
        ("sex_code", "2"),
        ("birth_date", "1949-12-31"),
        ("updated_at", "2025-01-01T08:00:00Z"),
    ];
    common::std_rows(&lake, "patient", "H1", &[row]).await?;
    let options = RunOptions {
        full: true,
        requested_by: "test".into(),
        ..RunOptions::default()
    };
    let summary = run(&store, &lake, std, &options).await?;
    let change = summary
        .tickets
        .iter()
        .find(|c| c.ticket.rule_id == "patient.id_no.id_number")
        .context("the ticket is raised with the mail server down")?;
    notify::enqueue(&store, &config, &summary.tickets).await?;
    let (sent, failed) = notify::deliver_due(&store, &config).await?;
    ensure!(sent == summary.tickets.len(), "webhooks go out: {sent}");
    ensure!(
        failed == 2 * summary.tickets.len(),
        "both mails fail: {failed}"
    );
    let posted = hooks.lock().unwrap_or_else(|e| e.into_inner()).clone();
    ensure!(
        posted
            .iter()
            .any(|b| b.contains("patient.id_no.id_number") && b.contains("ticket.opened")),
        "{posted:?}"
    );

    // In the app, the provider of H1 and the managers see it.
    let mine = store
        .notifications_for(false, Some("H1"), hdos_store::Page::new(50, 0))
        .await?;
    ensure!(
        mine.iter()
            .any(|n| n.subject.contains("patient.id_no.id_number"))
    );
    ensure!(
        store
            .notifications_for(false, Some("H2"), hdos_store::Page::new(50, 0))
            .await?
            .is_empty()
    );

    // The mail server comes back: the retries go through, once each.
    let (server, inbox) = smtp_server().await?;
    config.smtp.server = server;
    ensure!(
        notify::deliver_due(&store, &config).await? == (0, 0),
        "not due before the backoff"
    );
    let later = now_millis() + 10 * 60_000;
    let (sent, failed) = notify::deliver_due_at(&store, &config, later).await?;
    ensure!(
        (sent, failed) == (2 * summary.tickets.len(), 0),
        "{sent} {failed}"
    );
    let mails = inbox.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let to_provider: Vec<&String> = mails
        .iter()
        .filter(|m| m.contains("prov@h1.example"))
        .collect();
    ensure!(
        to_provider.len() == summary.tickets.len()
            && mails.iter().any(|m| m.contains("mgr@centre.example"))
    );
    let body = to_provider
        .iter()
        .find_map(|m| {
            let encoded: String = m.split("\n\n").nth(1)?.lines().collect();
            let text = String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(encoded.trim())
                    .ok()?,
            )
            .ok()?;
            text.contains(&format!("工单编号：{}", change.ticket.id))
                .then_some(text)
        })
        .context("the ticket's mail")?;
    ensure!(
        body.contains("patient.id_no.id_number") && body.contains("失败：1 / 1"),
        "{body}"
    );
    ensure!(
        notify::deliver_due_at(&store, &config, later).await? == (0, 0),
        "sent once"
    );
    Ok(())
}
