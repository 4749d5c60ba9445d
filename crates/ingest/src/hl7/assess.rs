//! Deciding a message's acknowledgement before it is stored: decode it by the character set
//! MSH-18 declares, parse it, check the header against the channel, and map its records, so a
//! sender learns of a problem in the ACK rather than from a report days later.

use super::records::CompiledRecord;
use crate::mapping::StdValue;
use encoding_rs::{Encoding, GB18030, UTF_8, WINDOWS_1252};
use hdos_hl7::{AckCode, AckError, ErrorCondition, Message};

/// Header fields every stored message is indexed by.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Header {
    /// `ADT^A04`
    pub kind: String,
    pub control_id: String,
    pub facility: String,
}

/// A message's records, mapped: per compiled record, the rows in standard values.
pub type MappedRecords = Vec<(usize, Vec<Vec<StdValue>>)>;

/// The outcome for one message.
#[derive(Debug)]
pub struct Assessment {
    pub code: AckCode,
    pub errors: Vec<AckError>,
    pub header: Header,
    /// The decoded text, when the bytes could be decoded.
    pub text: Option<String>,
    pub message: Option<Message>,
    /// Filled only when the message is accepted.
    pub records: MappedRecords,
}

impl Assessment {
    fn refused(code: AckCode, condition: ErrorCondition, location: &str, text: String) -> Self {
        Self {
            code,
            errors: vec![AckError {
                condition,
                location: location.to_owned(),
                text,
            }],
            header: Header::default(),
            text: None,
            message: None,
            records: Vec::new(),
        }
    }
}

#[derive(Debug)]
struct Verdict {
    code: AckCode,
    errors: Vec<AckError>,
}

impl Default for Verdict {
    fn default() -> Self {
        Self {
            code: AckCode::AA,
            errors: Vec::new(),
        }
    }
}

impl Verdict {
    fn fail(&mut self, code: AckCode, condition: ErrorCondition, location: &str, text: String) {
        // AR outranks AE: a message refused for its envelope is not read further.
        if self.code != AckCode::AR {
            self.code = code;
        }
        self.errors.push(AckError {
            condition,
            location: location.to_owned(),
            text,
        });
    }
}

/// What a channel accepts: its institution, its records, and the message kinds it takes
/// besides those its records read.
#[derive(Debug, Clone)]
pub struct Intake {
    pub institution: String,
    pub records: Vec<CompiledRecord>,
}

/// The segments each kind of message must carry, beyond MSH.
fn required_segments(kind: &str) -> &'static [&'static str] {
    match kind {
        "ADT^A01" | "ADT^A03" | "ADT^A04" => &["PID", "PV1"],
        "ORU^R01" => &["PID", "OBR", "OBX"],
        _ => &["PID"],
    }
}

/// The encoding MSH-18 declares, read from the raw bytes of the first segment.
fn declared_encoding(bytes: &[u8]) -> Result<&'static Encoding, String> {
    let first = bytes
        .split(|b| *b == b'\r' || *b == b'\n')
        .next()
        .unwrap_or_default();
    let header = String::from_utf8_lossy(first);
    let charset = header
        .get(3..4)
        .and_then(|sep| header.split(sep).nth(17))
        .unwrap_or("")
        .split('^')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_uppercase();
    match charset.as_str() {
        "" | "ASCII" | "UNICODE" | "UNICODE UTF-8" | "UTF-8" => Ok(UTF_8),
        "GB 18030-2000" | "GB18030" | "GBK" | "GB 2312" | "GB2312" => Ok(GB18030),
        "8859/1" => Ok(WINDOWS_1252),
        other => Err(format!("MSH-18 character set `{other}` is not supported")),
    }
}

impl crate::inbox::Reader for Intake {
    fn institution(&self) -> &str {
        &self.institution
    }

    fn targets(&self) -> Vec<crate::inbox::Target<'_>> {
        self.records
            .iter()
            .map(|r| crate::inbox::Target {
                name: &r.name,
                columns: r.columns(),
                mapping: &r.mapping,
                delete: r.delete,
            })
            .collect()
    }

    fn remap(&self, bytes: &[u8]) -> Result<MappedRecords, Vec<AckError>> {
        let a = self.assess(bytes);
        if a.code == AckCode::AA {
            Ok(a.records)
        } else {
            Err(a.errors)
        }
    }

    fn text(&self, bytes: &[u8]) -> Option<String> {
        self.decode(bytes)
    }
}

impl Intake {
    pub fn new(institution: &str, records: Vec<CompiledRecord>) -> Self {
        Self {
            institution: institution.to_owned(),
            records,
        }
    }

    fn supports(&self, kind: &str) -> bool {
        self.records.iter().any(|r| r.applies_to(kind))
    }

    /// The message's text, decoded by the character set its MSH-18 declares.
    pub fn decode(&self, bytes: &[u8]) -> Option<String> {
        let encoding = declared_encoding(bytes).ok()?;
        encoding
            .decode_without_bom_handling_and_without_replacement(bytes)
            .map(|t| t.into_owned())
    }

    /// Assesses a message as received (without its MLLP framing).
    pub fn assess(&self, bytes: &[u8]) -> Assessment {
        use AckCode::{AE, AR};
        use ErrorCondition as C;
        let encoding = match declared_encoding(bytes) {
            Ok(e) => e,
            Err(reason) => return Assessment::refused(AR, C::TableValueNotFound, "MSH-18", reason),
        };
        let Some(text) = encoding.decode_without_bom_handling_and_without_replacement(bytes) else {
            return Assessment::refused(
                AE,
                C::DataTypeError,
                "MSH-18",
                format!(
                    "the text is not valid {} (MSH-18 declares the character set; UTF-8 when empty)",
                    encoding.name()
                ),
            );
        };
        self.assess_text(text.into_owned())
    }

    /// Assesses a message already decoded to text (as the raw zone keeps it).
    pub fn assess_text(&self, text: String) -> Assessment {
        use AckCode::{AE, AR};
        use ErrorCondition as C;
        let message = match Message::parse(&text) {
            Ok(m) => m,
            Err(e) => {
                let mut a = Assessment::refused(AE, C::SegmentSequence, "", e.reason);
                a.errors[0].location = format!("segment {}", e.segment);
                a.text = Some(text);
                return a;
            }
        };
        let msh = message.msh();
        let kind = match (message.component(msh, 9, 1), message.component(msh, 9, 2)) {
            (Some(t), Some(e)) => format!("{t}^{e}"),
            (t, _) => t.unwrap_or_default(),
        };
        let header = Header {
            kind: kind.clone(),
            control_id: message.field(msh, 10).unwrap_or_default(),
            facility: message.component(msh, 4, 1).unwrap_or_default(),
        };
        let mut verdict = Verdict::default();
        let version = message.component(msh, 12, 1).unwrap_or_default();
        let processing = message.component(msh, 11, 1).unwrap_or_default();
        if header.control_id.is_empty() {
            verdict.fail(
                AE,
                C::RequiredFieldMissing,
                "MSH-10",
                "MSH-10 (message control id) is empty".into(),
            );
        }
        if !version.starts_with("2.") {
            verdict.fail(
                AR,
                C::UnsupportedVersionId,
                "MSH-12",
                format!("version `{version}` is not HL7 v2"),
            );
        }
        if processing != "P" {
            verdict.fail(
                AR,
                C::UnsupportedProcessingId,
                "MSH-11",
                format!("processing id `{processing}` is not accepted by a production channel (P)"),
            );
        }
        if header.facility != self.institution {
            verdict.fail(
                AR,
                C::UnknownKey,
                "MSH-4",
                format!(
                    "sending facility `{}` is not this channel's institution {}",
                    header.facility, self.institution
                ),
            );
        }
        if !self.supports(&kind) {
            let message_type = kind.split('^').next().unwrap_or_default();
            let known_type = self.records.iter().any(|r| r.reads_type(message_type));
            let condition = if known_type {
                C::UnsupportedEventCode
            } else {
                C::UnsupportedMessageType
            };
            verdict.fail(
                AR,
                condition,
                "MSH-9",
                format!("message type `{kind}` is not accepted by this channel"),
            );
        }
        let mut records = Vec::new();
        if verdict.errors.is_empty() {
            for seg in required_segments(&kind) {
                if message.first(seg).is_none() {
                    verdict.fail(
                        AE,
                        C::SegmentSequence,
                        seg,
                        format!("{kind} needs a {seg} segment"),
                    );
                }
            }
        }
        if verdict.errors.is_empty() {
            for (i, record) in self.records.iter().enumerate() {
                if !record.applies_to(&kind) {
                    continue;
                }
                let mut rows = Vec::new();
                for row in record.rows(&message) {
                    let mapped = if record.delete {
                        record.mapping.apply_key(&row, &self.institution)
                    } else {
                        record.mapping.apply(&row, &self.institution)
                    };
                    match mapped {
                        Ok(values) => rows.push(values),
                        Err(r) => {
                            let e = crate::inbox::rejection_error(&record.name, r);
                            verdict.fail(AE, e.condition, &e.location, e.text);
                        }
                    }
                }
                records.push((i, rows));
            }
        }
        if verdict.code != AckCode::AA {
            records.clear();
        }
        Assessment {
            code: verdict.code,
            errors: verdict.errors,
            header,
            text: Some(text),
            message: Some(message),
            records,
        }
    }
}
