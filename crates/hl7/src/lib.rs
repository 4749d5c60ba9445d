//! hdos-hl7: HL7 v2 as it travels — the message parser, field paths as interface analysts write
//! them, original-mode acknowledgements and MLLP framing. Free of the lake and the store, so it
//! can be fuzzed on its own (`fuzz/`).

mod ack;
mod frame;
mod message;
mod path;

pub use ack::{AckCode, AckError, ErrorCondition, render as render_ack};
pub use frame::{Deframer, END, Frame, START, wrap};
pub use message::{Delimiters, Message, ParseError, Segment, escape};
pub use path::FieldPath;
