//! HL7 v2: the parser, acknowledgements, field paths, the records messages map to, and the
//! assessment that decides each message's ACK.

mod ack;
mod assess;
mod message;
mod path;
mod records;

pub use ack::{AckCode, AckError, ErrorCondition, render as render_ack};
pub use assess::{Assessment, Header, Intake, MappedRecords};
pub use message::{Delimiters, Message, ParseError, Segment, escape};
pub use path::FieldPath;
pub use records::{BUILTIN_MAPPINGS, CompiledRecord, MessageMappings, RecordMapping, compile};
