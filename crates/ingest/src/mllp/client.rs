//! Sending messages to an MLLP endpoint the way a hospital's interface engine does: one message
//! at a time per connection, each waiting for its acknowledgement. Used to replay message files
//! into a channel and to measure one.

use crate::IngestError;
use hdos_hl7::{Deframer, Frame, Message, wrap};
use std::{net::SocketAddr, time::Instant};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// The messages of a file written one per line (segments end with CR, messages with LF).
pub fn split_messages(bytes: &[u8]) -> Vec<&[u8]> {
    bytes
        .split(|b| *b == b'\n')
        .filter(|m| !m.iter().all(u8::is_ascii_whitespace))
        .collect()
}

/// What the endpoint answered to one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// MSA-1: AA, AE, AR (or CA, CE, CR).
    pub code: String,
    /// MSA-3 and the ERR texts.
    pub text: String,
    pub micros: u64,
}

/// One connection to an endpoint.
#[derive(Debug)]
pub struct Sender {
    stream: TcpStream,
    deframer: Deframer,
    buf: Vec<u8>,
}

fn unavailable(addr: &SocketAddr, e: impl std::fmt::Display) -> IngestError {
    IngestError::SourceUnavailable {
        source_name: format!("MLLP endpoint {addr}"),
        reason: e.to_string(),
    }
}

impl Sender {
    pub async fn connect(addr: SocketAddr) -> Result<Self, IngestError> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| unavailable(&addr, e))?;
        stream
            .set_nodelay(true)
            .map_err(|e| unavailable(&addr, e))?;
        Ok(Self {
            stream,
            deframer: Deframer::new(16 * 1024 * 1024),
            buf: vec![0u8; 16 * 1024],
        })
    }

    /// Sends raw bytes (already framed or deliberately broken), for tests of bad input.
    pub async fn send_raw(&mut self, bytes: &[u8]) -> Result<(), IngestError> {
        let addr = self.peer();
        self.stream
            .write_all(bytes)
            .await
            .map_err(|e| unavailable(&addr, e))
    }

    fn peer(&self) -> SocketAddr {
        self.stream
            .peer_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// Sends one message and waits for its acknowledgement.
    pub async fn send(&mut self, message: &[u8]) -> Result<Answer, IngestError> {
        let started = Instant::now();
        self.send_raw(&wrap(message)).await?;
        let mut answer = self.answer().await?;
        answer.micros = started.elapsed().as_micros() as u64;
        Ok(answer)
    }

    /// Reads the next acknowledgement.
    pub async fn answer(&mut self) -> Result<Answer, IngestError> {
        let addr = self.peer();
        loop {
            if let Some(Frame::Message(ack)) = self.deframer.next_frame() {
                return Ok(read_ack(&ack));
            }
            let n = self
                .stream
                .read(&mut self.buf)
                .await
                .map_err(|e| unavailable(&addr, e))?;
            if n == 0 {
                return Err(unavailable(
                    &addr,
                    "the endpoint closed the connection before acknowledging",
                ));
            }
            self.deframer.push(&self.buf[..n]);
        }
    }
}

fn read_ack(bytes: &[u8]) -> Answer {
    let text = String::from_utf8_lossy(bytes);
    let Ok(m) = Message::parse(&text) else {
        return Answer {
            code: String::new(),
            text: format!("unreadable acknowledgement: {text}"),
            micros: 0,
        };
    };
    let code = m
        .first("MSA")
        .and_then(|msa| m.field(msa, 1))
        .unwrap_or_default();
    let mut notes: Vec<String> = m
        .first("MSA")
        .and_then(|msa| m.field(msa, 3))
        .into_iter()
        .collect();
    for err in m.segments().iter().filter(|s| s.name() == "ERR") {
        if let Some(t) = m.field(err, 8).filter(|t| !notes.contains(t)) {
            notes.push(t);
        }
    }
    Answer {
        code,
        text: notes.join("; "),
        micros: 0,
    }
}

/// Sends `messages` over `connections` parallel connections (message `i` on connection
/// `i % connections`), each message waiting for its ACK; answers come back in message order.
pub async fn send_all(
    addr: SocketAddr,
    messages: &[&[u8]],
    connections: usize,
) -> Result<Vec<Answer>, IngestError> {
    let connections = connections.clamp(1, messages.len().max(1));
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..connections {
        let mine: Vec<(usize, Vec<u8>)> = messages
            .iter()
            .enumerate()
            .skip(c)
            .step_by(connections)
            .map(|(i, m)| (i, m.to_vec()))
            .collect();
        tasks.spawn(async move {
            let mut sender = Sender::connect(addr).await?;
            let mut out = Vec::with_capacity(mine.len());
            for (i, m) in mine {
                out.push((i, sender.send(&m).await?));
            }
            Ok::<_, IngestError>(out)
        });
    }
    let mut answers: Vec<Option<Answer>> = vec![None; messages.len()];
    while let Some(done) = tasks.join_next().await {
        let sent = done.map_err(|e| unavailable(&addr, e))??;
        for (i, a) in sent {
            answers[i] = Some(a);
        }
    }
    Ok(answers.into_iter().flatten().collect())
}
