//! Any text, parsed as an HL7 v2 message: parsing, every field, component, repetition and
//! field path must never panic, and the acknowledgement of whatever parsed must parse back.
#![no_main]

use hdos_hl7::{AckCode, AckError, ErrorCondition, FieldPath, Message, render_ack};
use libfuzzer_sys::fuzz_target;

const PATHS: [&str; 6] = ["PID-3[PI]", "PID-3[NNCHN].4", "PID-11.9", "OBX-3[LN]", "MSH-9", "MSH-10"];

fuzz_target!(|bytes: &[u8]| {
    let text = String::from_utf8_lossy(bytes);
    let parsed = Message::parse(&text).ok();
    if let Some(m) = &parsed {
        let paths: Vec<FieldPath> = PATHS.iter().filter_map(|p| FieldPath::parse(p).ok()).collect();
        for s in m.segments() {
            for n in 0..=s.field_count() + 1 {
                let _ = m.field(s, n);
                let _ = m.component(s, n, 2);
                let _ = m.repetitions(s, n);
            }
            for p in &paths {
                let _ = p.read(m, s);
            }
        }
    }
    let errors = [AckError {
        condition: ErrorCondition::DataTypeError,
        location: text.chars().take(20).collect(),
        text: text.chars().take(200).collect(),
    }];
    let ack = render_ack(parsed.as_ref(), AckCode::AE, &errors, "K1", "20260101000000+0800");
    assert!(Message::parse(&ack).is_ok(), "an ACK that does not parse: {ack:?}");
});
