//! MLLP framing (HL7 v2 Appendix C): a message travels as `<VT> message <FS><CR>`. Bytes
//! outside a frame are discarded; a frame longer than the limit is read to its end and then
//! refused, so the connection stays in step with the sender.

pub const START: u8 = 0x0b;
pub const END: [u8; 2] = [0x1c, 0x0d];

/// What the reader found next in the byte stream.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// A whole message, without its framing.
    Message(Vec<u8>),
    /// A message longer than the limit: its first bytes (up to the limit) and its full length.
    Oversized { head: Vec<u8>, len: usize },
}

/// Splits a byte stream into frames.
#[derive(Debug)]
pub struct Deframer {
    limit: usize,
    buf: Vec<u8>,
    /// Inside an oversized frame: its head and how many bytes have gone by.
    oversized: Option<(Vec<u8>, usize)>,
    /// Bytes discarded because they came outside any frame.
    pub discarded: u64,
}

impl Deframer {
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            buf: Vec::new(),
            oversized: None,
            discarded: 0,
        }
    }

    /// Feeds bytes read from the connection.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete frame, if the bytes so far hold one.
    pub fn next_frame(&mut self) -> Option<Frame> {
        loop {
            if let Some((head, len)) = self.oversized.as_mut() {
                match find_end(&self.buf) {
                    Some(end) => {
                        let total = *len + end;
                        let head = std::mem::take(head);
                        self.buf.drain(..end + END.len());
                        self.oversized = None;
                        return Some(Frame::Oversized { head, len: total });
                    }
                    None => {
                        // Keep a trailing FS in case its CR is still on the way.
                        let keep = usize::from(self.buf.last() == Some(&END[0]));
                        let gone = self.buf.len() - keep;
                        *len += gone;
                        self.buf.drain(..gone);
                        return None;
                    }
                }
            }
            let start = match self.buf.iter().position(|b| *b == START) {
                Some(s) => s,
                None => {
                    self.discarded += self.buf.len() as u64;
                    self.buf.clear();
                    return None;
                }
            };
            if start > 0 {
                self.discarded += start as u64;
                self.buf.drain(..start);
            }
            match find_end(&self.buf[1..]) {
                Some(end) if end <= self.limit => {
                    let message = self.buf[1..1 + end].to_vec();
                    self.buf.drain(..1 + end + END.len());
                    return Some(Frame::Message(message));
                }
                Some(_) => {
                    self.oversized = Some((self.buf[1..1 + self.limit].to_vec(), 0));
                    self.buf.drain(..1);
                }
                None if self.buf.len() - 1 > self.limit + 1 => {
                    self.oversized = Some((self.buf[1..1 + self.limit].to_vec(), 0));
                    self.buf.drain(..1);
                }
                None => return None,
            }
        }
    }

    /// The bytes of a frame begun but not finished, when the connection closes.
    pub fn unfinished(&self) -> Option<&[u8]> {
        match (&self.oversized, self.buf.first()) {
            (Some((head, _)), _) => Some(head),
            (None, Some(&START)) => Some(&self.buf[1..]),
            _ => None,
        }
    }
}

fn find_end(bytes: &[u8]) -> Option<usize> {
    bytes.windows(2).position(|w| w == END)
}

/// Frames a message for sending.
pub fn wrap(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 3);
    out.push(START);
    out.extend_from_slice(message);
    out.extend_from_slice(&END);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn frames_are_found_across_reads_and_noise_is_dropped() {
        let mut d = Deframer::new(100);
        d.push(b"noise");
        d.push(&[START]);
        d.push(b"MSH|a");
        assert_eq!(d.next_frame(), None);
        d.push(&[0x1c]);
        assert_eq!(d.next_frame(), None);
        d.push(&[0x0d, START]);
        assert_eq!(d.next_frame(), Some(Frame::Message(b"MSH|a".to_vec())));
        assert_eq!(d.next_frame(), None);
        assert_eq!(d.discarded, 5);
        assert_eq!(d.unfinished(), Some(&b""[..]));
    }

    #[test]
    fn an_oversized_frame_is_skipped_to_its_end() {
        let mut d = Deframer::new(10);
        d.push(&wrap(&[b'x'; 25]));
        d.push(&wrap(b"ok"));
        assert_eq!(
            d.next_frame(),
            Some(Frame::Oversized {
                head: vec![b'x'; 10],
                len: 25
            })
        );
        assert_eq!(d.next_frame(), Some(Frame::Message(b"ok".to_vec())));
        let mut d = Deframer::new(10);
        let big = wrap(&[b'y'; 40]);
        for chunk in big.chunks(7) {
            d.push(chunk);
            if let Some(f) = d.next_frame() {
                assert_eq!(
                    f,
                    Frame::Oversized {
                        head: vec![b'y'; 10],
                        len: 40
                    }
                );
                return;
            }
        }
        panic!("the oversized frame was never reported");
    }

    proptest! {
        #[test]
        fn any_split_of_a_stream_yields_the_same_messages(
            messages in proptest::collection::vec(proptest::collection::vec(32u8..127, 0..60), 1..6),
            cuts in proptest::collection::vec(1usize..20, 0..30),
        ) {
            let stream: Vec<u8> = messages.iter().flat_map(|m| wrap(m)).collect();
            let mut d = Deframer::new(1000);
            let mut got = Vec::new();
            let mut at = 0;
            for c in cuts.iter().chain(std::iter::repeat(&7)) {
                if at >= stream.len() {
                    break;
                }
                let end = (at + c).min(stream.len());
                d.push(&stream[at..end]);
                at = end;
                while let Some(Frame::Message(m)) = d.next_frame() {
                    got.push(m);
                }
            }
            prop_assert_eq!(got, messages);
        }
    }
}
