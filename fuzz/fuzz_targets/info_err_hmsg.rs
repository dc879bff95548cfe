//! Structured inputs: `INFO` JSON (`proto::parse_info`, raw and built field
//! by field), `-ERR` lines, and `HMSG` header blocks (`Headers::parse`, plus
//! the `Headers` encode -> parse round trip). The first byte picks the kind.
//! See `src/checks.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    nats_fuzz::check_info_err_hmsg(data);
});
