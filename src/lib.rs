//! A drop-in replacement for the NATS C client (cnats v3.13.0), written in Rust.
//!
//! `core` holds all protocol and connection logic in safe Rust; `ffi` is the thin C ABI
//! layer whose signatures mirror cnats' `nats.h` exactly.

pub mod core;
pub mod ffi;
