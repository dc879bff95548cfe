//! Build script: gives the shared library cnats' soname, and generates the public header
//! into OUT_DIR with the pinned cbindgen so that `tests/header.rs` can check that the
//! committed `include/nats/nats.h` is current.

use std::env;
use std::path::PathBuf;

fn main() {
    let target_os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if target_os == "linux" {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libnats.so.3.13");
    }

    let crate_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("nats.h");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=src/ffi");
    match cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")) {
        Ok(config) => match cbindgen::generate_with_config(&crate_dir, config) {
            Ok(b) => {
                b.write_to_file(&out);
            }
            Err(e) => println!("cargo:warning=cbindgen could not generate the header: {e}"),
        },
        Err(e) => println!("cargo:warning=cannot read cbindgen.toml: {e}"),
    }
}
