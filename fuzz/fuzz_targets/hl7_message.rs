//! Any bytes, assessed as an HL7 v2 message by a channel with the built-in mappings: decoding,
//! parsing, header checks, field paths, expressions and mapping must never panic, and an ACK
//! must always be renderable and parse back.
#![no_main]

use hdos_core::standard::Standard;
use hdos_ingest::hl7::{Intake, Message, MessageMappings, compile, render_ack};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static INTAKE: LazyLock<Intake> = LazyLock::new(|| {
    let standard = Standard::builtin().expect("the built-in standard loads");
    let mappings = MessageMappings::builtin().expect("the built-in mappings load");
    Intake::new("H1", compile(&mappings, standard).expect("the built-in mappings compile"))
});

fuzz_target!(|bytes: &[u8]| {
    let a = INTAKE.assess(bytes);
    let ack = render_ack(a.message.as_ref(), a.code, &a.errors, "K1", "20260101000000+0800");
    assert!(Message::parse(&ack).is_ok(), "an ACK that does not parse: {ack:?}");
});
