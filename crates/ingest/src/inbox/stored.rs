//! A received message as the journal keeps it: what the channel knew and answered when it
//! arrived, then the bytes exactly as they came.

use crate::{
    IngestError,
    hl7::{AckCode, AckError, Assessment},
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Received {
    /// Microseconds since the epoch, UTC.
    pub at: i64,
    pub peer: String,
    /// The acknowledgement sent; `None` when none could be (the connection closed mid-message).
    pub ack: Option<AckCode>,
    pub kind: String,
    pub control_id: String,
    pub facility: String,
    pub errors: Vec<AckError>,
}

impl Received {
    pub fn from_assessment(a: &Assessment, at: i64, peer: &str) -> Self {
        Self {
            at,
            peer: peer.to_owned(),
            ack: Some(a.code),
            kind: a.header.kind.clone(),
            control_id: a.header.control_id.clone(),
            facility: a.header.facility.clone(),
            errors: a.errors.clone(),
        }
    }

    /// The journal payload: this header as one JSON line, then the message bytes.
    pub fn encode(&self, message: &[u8]) -> Vec<u8> {
        let mut out = serde_json::to_vec(self).unwrap_or_default();
        out.push(b'\n');
        out.extend_from_slice(message);
        out
    }

    pub fn decode(payload: &[u8]) -> Result<(Self, &[u8]), IngestError> {
        let bad = |reason: String| IngestError::Journal {
            path: "record".into(),
            reason,
        };
        let split = payload
            .iter()
            .position(|b| *b == b'\n')
            .ok_or_else(|| bad("a journal record has no header line".into()))?;
        let header = serde_json::from_slice(&payload[..split]).map_err(|e| bad(e.to_string()))?;
        Ok((header, &payload[split + 1..]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hl7::ErrorCondition;

    #[test]
    fn a_record_reads_back() {
        let r = Received {
            at: 1,
            peer: "127.0.0.1:5".into(),
            ack: Some(AckCode::AE),
            kind: "ADT^A04".into(),
            control_id: "C\n1".into(),
            facility: "H".into(),
            errors: vec![AckError {
                condition: ErrorCondition::DataTypeError,
                location: "PID-7".into(),
                text: "bad".into(),
            }],
        };
        let payload = r.encode(b"MSH|\n\x00bytes");
        let (back, bytes) = Received::decode(&payload).unwrap();
        assert_eq!(back, r);
        assert_eq!(bytes, b"MSH|\n\x00bytes");
    }
}
