//! A small SMTP client for the hospital network's mail relay: plain SMTP (RFC 5321) with
//! optional AUTH PLAIN, UTF-8 subject and body in base64. Relays inside a closed network rarely
//! speak TLS; one that requires it is refused with the server's answer.

use base64::{Engine, engine::general_purpose::STANDARD as B64};
use std::time::Duration;
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::TcpStream,
    time::timeout,
};

/// Where and as whom mail is sent.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmtpConfig {
    /// `host:port` of the relay; empty means no e-mail.
    pub server: String,
    pub from: String,
    /// For AUTH PLAIN; empty means none.
    pub username: String,
    /// Never read from or written to a configuration file: the caller sets it from the
    /// environment (`HDOS_SMTP_PASSWORD`).
    #[serde(skip)]
    pub password: String,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            server: String::new(),
            from: "hdos@localhost".into(),
            username: String::new(),
            password: String::new(),
        }
    }
}

const STEP: Duration = Duration::from_secs(30);

struct Session {
    reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
}

impl Session {
    /// Reads a (possibly multi-line) reply; an unexpected code is an error with its text.
    async fn expect(&mut self, code: &str) -> Result<(), String> {
        let mut text = String::new();
        loop {
            let mut line = String::new();
            let n = timeout(STEP, self.reader.read_line(&mut line))
                .await
                .map_err(|_| "the mail server stopped answering".to_owned())?
                .map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("the mail server closed the connection".into());
            }
            text.push_str(line.trim_end());
            // `250-…` continues, `250 …` ends.
            if line.len() < 4 || line.as_bytes()[3] != b'-' {
                break;
            }
            text.push(' ');
        }
        if text.starts_with(code) {
            Ok(())
        } else {
            Err(format!("the mail server answered `{text}`"))
        }
    }

    async fn send(&mut self, line: &str, code: &str) -> Result<(), String> {
        timeout(
            STEP,
            self.writer.write_all(format!("{line}\r\n").as_bytes()),
        )
        .await
        .map_err(|_| "the mail server stopped reading".to_owned())?
        .map_err(|e| e.to_string())?;
        self.expect(code).await
    }
}

/// RFC 2047 encoding of a UTF-8 header value.
fn encoded_word(text: &str) -> String {
    format!("=?UTF-8?B?{}?=", B64.encode(text))
}

/// Sends one message to `to`.
pub async fn send(config: &SmtpConfig, to: &str, subject: &str, body: &str) -> Result<(), String> {
    let stream = timeout(STEP, TcpStream::connect(&config.server))
        .await
        .map_err(|_| format!("{} did not answer", config.server))?
        .map_err(|e| format!("{}: {e}", config.server))?;
    let (read, write) = stream.into_split();
    let mut s = Session {
        reader: BufReader::new(read),
        writer: write,
    };
    s.expect("220").await?;
    s.send("EHLO hdos", "250").await?;
    if !config.username.is_empty() {
        let token = B64.encode(format!("\0{}\0{}", config.username, config.password));
        s.send(&format!("AUTH PLAIN {token}"), "235").await?;
    }
    s.send(&format!("MAIL FROM:<{}>", config.from), "250")
        .await?;
    s.send(&format!("RCPT TO:<{to}>"), "25").await?;
    s.send("DATA", "354").await?;
    let date = chrono::Utc::now().to_rfc2822();
    let encoded = B64.encode(body.as_bytes());
    let lines: Vec<&str> = encoded
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect();
    let message = format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: {date}\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{body}\r\n.",
        from = config.from,
        subject = encoded_word(subject),
        body = lines.join("\r\n"),
    );
    s.send(&message, "250").await?;
    // The message is accepted; a failed goodbye changes nothing.
    let _ = s.send("QUIT", "221").await;
    Ok(())
}
