//! Fuzzes the RESP request decoder: any bytes, split at any point, must give
//! the same requests as when presented whole, and never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use orbit_protocols::resp::codec::{Decoder, Limits};

fn decode_all(chunks: &[&[u8]]) -> Vec<Result<Vec<Vec<u8>>, String>> {
    let limits = Limits { bulk_len_max: 1 << 16, ..Limits::DEFAULT };
    let mut decoder = Decoder::new(limits);
    let mut buf = Vec::new();
    let mut out = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            match decoder.decode(&buf) {
                Ok(Some((request, used))) => {
                    assert!(used > 0 && used <= buf.len());
                    buf.drain(..used);
                    out.push(Ok(request));
                }
                Ok(None) => break,
                Err(e) => {
                    out.push(Err(e.message()));
                    return out;
                }
            }
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    if data.is_empty() {
        return;
    }
    let split = usize::from(data[0]) % data.len();
    let whole = decode_all(&[&data[1..]]);
    let (a, b) = data[1..].split_at(split.min(data.len() - 1));
    let parts = decode_all(&[a, b]);
    assert_eq!(whole, parts);
});
