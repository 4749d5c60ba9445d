//! HL7 v2 in collection: the records messages map to and the assessment that decides each
//! message's ACK. Parsing, field paths and acknowledgements are `hdos-hl7`'s.

mod assess;
mod records;

pub use assess::{Assessment, Header, Intake, MappedRecords};
pub use hdos_hl7::{
    AckCode, AckError, Delimiters, ErrorCondition, FieldPath, Message, ParseError, Segment, escape,
    render_ack,
};
pub use records::{BUILTIN_MAPPINGS, CompiledRecord, MessageMappings, RecordMapping, compile};
