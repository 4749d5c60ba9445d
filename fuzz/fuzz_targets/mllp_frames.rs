//! Any byte stream, split anywhere: the deframer never panics and never yields a frame longer
//! than its limit.
#![no_main]

use hdos_hl7::{Deframer, Frame};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (u8, Vec<u8>)| {
    let (split, bytes) = input;
    let mut d = Deframer::new(64);
    for chunk in bytes.chunks(usize::from(split).max(1)) {
        d.push(chunk);
        while let Some(f) = d.next_frame() {
            match f {
                Frame::Message(m) => assert!(m.len() <= 64),
                Frame::Oversized { head, len } => assert!(head.len() == 64 && len > 64),
            }
        }
    }
    let _ = d.unfinished();
});
