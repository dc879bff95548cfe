//! Property checks shared by the fuzz targets (`fuzz_targets/*.rs`) and by the
//! deterministic, stable-Rust harness `tests/parser_fuzz.rs` of the main crate
//! (which includes `checks.rs` with `#[path]`).
//!
//! Every check panics on a violated property; a panic is what libFuzzer
//! reports as a crash.

pub mod checks;

pub use checks::{check_info_err_hmsg, check_parser};
