//! The request parser of `serve` on arbitrary bytes: any body, with or without a binary header
//! length taken from the input's first bytes, must decode or be refused, never panic, never
//! allocate past the limits.
#![no_main]

use cosched_serve::protocol::{decode_request, Limits, ModelSignature};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let inputs = vec![
        ("x".to_string(), vec![-1i64, 3, 4]),
        ("y".to_string(), vec![2i64]),
    ];
    let outputs = vec!["out".to_string(), "aux".to_string()];
    let model = ModelSignature {
        inputs: &inputs,
        outputs: &outputs,
    };
    let limits = Limits {
        max_body_bytes: 1 << 20,
        max_dims: 16,
    };
    // First byte chooses: plain JSON, or binary with a header length from the next 2 bytes
    // (sometimes a non-number, to reach the header parser's error path).
    let (header, body) = match data.split_first() {
        Some((&k, rest)) if k % 3 == 1 && rest.len() >= 2 => {
            (Some(u16::from_le_bytes([rest[0], rest[1]]).to_string()), &rest[2..])
        }
        Some((&k, rest)) if k % 3 == 2 => (Some("12a".to_string()), rest),
        Some((_, rest)) => (None, rest),
        None => (None, data),
    };
    let _ = decode_request(header.as_deref(), body, model, &limits);
});
