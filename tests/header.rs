//! The committed public header must be exactly what cbindgen generates from src/ffi, and
//! status.h must agree with the status codes the library returns.
//!
//! To refresh the committed header after changing src/ffi:
//! `NATS_BLESS_HEADER=1 cargo test --test header`.

use std::path::Path;

#[test]
fn committed_header_is_current() {
    let generated = include_str!(concat!(env!("OUT_DIR"), "/nats.h"));
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("include/nats/nats.h");
    if std::env::var_os("NATS_BLESS_HEADER").is_some() {
        std::fs::write(&path, generated).expect("write include/nats/nats.h");
        return;
    }
    let committed = std::fs::read_to_string(&path).expect("read include/nats/nats.h");
    assert!(
        committed == generated,
        "include/nats/nats.h is stale: run `NATS_BLESS_HEADER=1 cargo test --test header` and commit it"
    );
}

#[test]
fn status_h_matches_library_codes() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("include/nats/status.h");
    let text = std::fs::read_to_string(path).expect("read status.h");
    // Every NATS_* status enumerator in status.h, in order, with its explicit or implied value.
    let body = &text[text.find("NATS_OK").expect("NATS_OK in status.h")..];
    let body = &body[..body.find("natsStatus;").expect("end of natsStatus")];
    let mut next = 0i32;
    let mut seen = 0;
    for line in body.lines() {
        let line = line.split("/*").next().unwrap_or("").split("//").next().unwrap_or("").trim();
        let Some(name) = line.split(|c: char| c == '=' || c == ',' || c.is_whitespace()).next() else { continue };
        if !name.starts_with("NATS_") {
            continue;
        }
        let value = match line.split_once('=') {
            Some((_, v)) => v.trim().trim_end_matches(',').trim().parse::<i32>().expect("numeric value"),
            None => next,
        };
        next = value + 1;
        if name == "NATS_MAX_STATUS_VALUE" {
            assert_eq!(value, nats::core::status::STATUS_COUNT);
            continue;
        }
        let st = nats::core::status::Status::from_raw(value).unwrap_or_else(|| panic!("{name}={value} unknown to the library"));
        let text = st.text();
        assert!(!text.is_empty(), "{name}");
        seen += 1;
    }
    assert_eq!(seen, nats::core::status::STATUS_COUNT, "every status code is declared in status.h");
}
