//! The IMDS client's chunked-body decoder (`agent::imds::dechunk`).
//!
//! Asserts that decoding any text never panics and never yields more than it was given, and
//! that a body chunked from the input (chunk sizes taken from the input, upper- or lower-case
//! hex, with or without leading zeros) decodes to the original text.
#![no_main]

use agent::imds::dechunk;
use libfuzzer_sys::fuzz_target;

/// Chunks `text` at the char boundaries nearest to the sizes in `sizes` (cycled; 0 means 1).
fn chunked(text: &str, sizes: &[u8]) -> String {
    let mut out = String::new();
    let mut rest = text;
    let mut i = 0;
    while !rest.is_empty() {
        let want = usize::from(sizes.get(i % sizes.len().max(1)).copied().unwrap_or(7)).max(1);
        let mut at = want.min(rest.len());
        while !rest.is_char_boundary(at) {
            at += 1;
        }
        let (chunk, tail) = rest.split_at(at);
        if i % 2 == 0 {
            out.push_str(&format!("{:x}\r\n{chunk}\r\n", chunk.len()));
        } else {
            out.push_str(&format!("{:04X}\r\n{chunk}\r\n", chunk.len()));
        }
        rest = tail;
        i += 1;
    }
    out.push_str("0\r\n\r\n");
    out
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(body) = dechunk(&text) {
        assert!(body.len() <= text.len(), "decoding grew the body");
    }
    let (sizes, payload) = data.split_at(data.len().min(4));
    let payload = String::from_utf8_lossy(payload);
    let body = chunked(&payload, sizes);
    assert_eq!(
        dechunk(&body).as_deref(),
        Ok(&*payload),
        "{body:?} does not decode"
    );
});
