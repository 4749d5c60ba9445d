//! Original-mode acknowledgements (HL7 v2.5 §2.9.2): MSA-1 `AA` accepted, `AE` error in the
//! message's content, `AR` rejected for reasons other than content (unsupported type, version,
//! processing id or sender, or the receiver unable to store it). Errors carry an ERR segment with
//! the HL7 table 0357 code, the location and a readable text.

use crate::message::{Delimiters, Message, escape};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AckCode {
    AA,
    AE,
    AR,
}

impl AckCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AA => "AA",
            Self::AE => "AE",
            Self::AR => "AR",
        }
    }
}

/// HL7 table 0357 message error condition codes used here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorCondition {
    SegmentSequence,
    RequiredFieldMissing,
    DataTypeError,
    TableValueNotFound,
    UnsupportedMessageType,
    UnsupportedEventCode,
    UnsupportedProcessingId,
    UnsupportedVersionId,
    UnknownKey,
    ApplicationInternalError,
}

impl ErrorCondition {
    pub fn code(self) -> u16 {
        match self {
            Self::SegmentSequence => 100,
            Self::RequiredFieldMissing => 101,
            Self::DataTypeError => 102,
            Self::TableValueNotFound => 103,
            Self::UnsupportedMessageType => 200,
            Self::UnsupportedEventCode => 201,
            Self::UnsupportedProcessingId => 202,
            Self::UnsupportedVersionId => 203,
            Self::UnknownKey => 204,
            Self::ApplicationInternalError => 207,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::SegmentSequence => "Segment sequence error",
            Self::RequiredFieldMissing => "Required field missing",
            Self::DataTypeError => "Data type error",
            Self::TableValueNotFound => "Table value not found",
            Self::UnsupportedMessageType => "Unsupported message type",
            Self::UnsupportedEventCode => "Unsupported event code",
            Self::UnsupportedProcessingId => "Unsupported processing id",
            Self::UnsupportedVersionId => "Unsupported version id",
            Self::UnknownKey => "Unknown key identifier",
            Self::ApplicationInternalError => "Application internal error",
        }
    }
}

/// One problem reported in an ERR segment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AckError {
    pub condition: ErrorCondition,
    /// Where: a segment (`PID`), a field (`PID-7`) or a standard field (`patient.birth_date`).
    pub location: String,
    pub text: String,
}

/// Renders the acknowledgement of `original` (absent when the message could not be parsed at
/// all). `control_id` is the ACK's own MSH-10; `now` is an HL7 DTM.
pub fn render(
    original: Option<&Message>,
    code: AckCode,
    errors: &[AckError],
    control_id: &str,
    now: &str,
) -> String {
    let d = original.map_or_else(Delimiters::default, Message::delimiters);
    let header = |n: usize| {
        original
            .and_then(|m| m.field(m.msh(), n))
            .map(|v| escape(&v, d))
            .unwrap_or_default()
    };
    let trigger = original
        .and_then(|m| m.component(m.msh(), 9, 2))
        .map(|v| escape(&v, d))
        .unwrap_or_default();
    let version = Some(header(12)).filter(|v| !v.is_empty());
    let f = d.field;
    let encoding: String = [d.component, d.repetition, d.escape, d.subcomponent]
        .iter()
        .collect();
    let mut out = format!(
        "MSH{f}{encoding}{f}HDOS{f}REGION{f}{}{f}{}{f}{now}{f}{f}ACK{c}{trigger}{c}ACK{f}{}{f}P{f}{}\r",
        header(3),
        header(4),
        escape(control_id, d),
        version.as_deref().unwrap_or("2.5"),
        c = d.component,
    );
    let summary = errors
        .first()
        .map(|e| escape(&e.text, d))
        .unwrap_or_default();
    out.push_str(&format!(
        "MSA{f}{}{f}{}{f}{summary}\r",
        code.as_str(),
        header(10)
    ));
    for e in errors {
        let c = d.component;
        out.push_str(&format!(
            "ERR{f}{f}{}{f}{}{c}{}{c}HL70357{f}E{f}{f}{f}{f}{}\r",
            escape(&e.location, d),
            e.condition.code(),
            e.condition.label(),
            escape(&e.text, d),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ack_answers_the_message_it_acknowledges() {
        let m = Message::parse(
            "MSH|^~\\&|HIS|H1|HDOS|REGION|20260204083345+0800||ADT^A04^ADT_A01|C1|P|2.5\rPID|1",
        )
        .unwrap();
        let ack = render(Some(&m), AckCode::AA, &[], "K1", "20260204083346+0800");
        let parsed = Message::parse(&ack).unwrap();
        let msh = parsed.msh();
        assert_eq!(parsed.field(msh, 5).as_deref(), Some("HIS"));
        assert_eq!(parsed.field(msh, 6).as_deref(), Some("H1"));
        assert_eq!(parsed.component(msh, 9, 2).as_deref(), Some("A04"));
        let msa = parsed.first("MSA").unwrap();
        assert_eq!(parsed.field(msa, 1).as_deref(), Some("AA"));
        assert_eq!(parsed.field(msa, 2).as_deref(), Some("C1"));
        assert!(parsed.first("ERR").is_none());
    }

    #[test]
    fn errors_are_listed_with_code_location_and_text() {
        let errors = [AckError {
            condition: ErrorCondition::DataTypeError,
            location: "PID-7".into(),
            text: "`2026|13` is not a date".into(),
        }];
        let ack = render(None, AckCode::AE, &errors, "K2", "20260204083346");
        let parsed = Message::parse(&ack).unwrap();
        let msa = parsed.first("MSA").unwrap();
        assert_eq!(parsed.field(msa, 1).as_deref(), Some("AE"));
        assert_eq!(parsed.field(msa, 2), None, "no control id to echo");
        let err = parsed.first("ERR").unwrap();
        assert_eq!(parsed.field(err, 2).as_deref(), Some("PID-7"));
        assert_eq!(parsed.component(err, 3, 1).as_deref(), Some("102"));
        assert_eq!(parsed.field(err, 4).as_deref(), Some("E"));
        assert_eq!(
            parsed.field(err, 8).as_deref(),
            Some("`2026|13` is not a date")
        );
    }
}
