//! `proto::parse` / `proto::Parser` on arbitrary bytes, split at every byte
//! boundary, byte by byte and in irregular pieces: the operations must equal
//! those of a whole-input parse (or the same error at the same point), the
//! buffer must be untouched when more data is needed, and every `MsgFrame`
//! must have its NUL terminators where documented. See `src/checks.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    nats_fuzz::check_parser(data);
});
