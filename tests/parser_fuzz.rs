//! Deterministic, stable-Rust counterpart of the cargo-fuzz targets in `fuzz/`.
//!
//! Runs the very same property checks (`fuzz/src/checks.rs`, included below) over the
//! committed seed corpora (`fuzz/corpus/<target>/`), over any reproducer saved under
//! `fuzz/artifacts-found/<target>/`, and over inputs from a fixed-seed generator (protocol
//! fragments glued together, and mutations of the seeds). It needs no nightly features and
//! no cargo-fuzz, so it runs with every `cargo test`; the real fuzzing is `fuzz/run.sh`.

#[path = "../fuzz/src/checks.rs"]
mod checks;

use std::path::Path;

/// The files of `fuzz/<dir>/<target>/`, sorted by name (empty if the folder is absent).
fn files(dir: &str, target: &str) -> Vec<(String, Vec<u8>)> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz").join(dir).join(target);
    let Ok(rd) = std::fs::read_dir(&p) else {
        return Vec::new();
    };
    let mut v: Vec<(String, Vec<u8>)> = rd
        .filter_map(Result::ok)
        .filter(|e| e.path().is_file())
        .filter(|e| !e.file_name().to_string_lossy().ends_with(".md"))
        .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap()))
        .collect();
    v.sort();
    v
}

/// SplitMix64: small, fixed-seed, good enough to pick fragments and mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn byte(&mut self) -> u8 {
        self.next() as u8
    }
}

const FRAGMENTS: &[&[u8]] = &[
    b"MSG ", b"HMSG ", b"msg ", b"PING", b"PONG", b"+OK", b"-ERR ", b"INFO ", b"\r\n", b"\n", b"\r",
    b" ", b"\t", b"foo", b"a.b.c", b"_INBOX.x", b"1", b"0", b"5", b"12", b"22", b"99999999999999999999",
    b"18446744073709551615", b"67108865", b"-1", b"hello", b"NATS/1.0", b"NATS/1.0 503",
    b"NATS/1.0\r\nk: v\r\n\r\n", b"k: v", b":", b"'", b"Authorization Violation",
    b"{\"server_id\":\"x\"}", b"{", b"}", b"\"", b"\x00", b"\xff", b"\xc3\xa9",
];

/// Protocol-looking input: fragments glued together, sometimes a valid frame.
fn protocolish(rng: &mut Rng) -> Vec<u8> {
    let mut v = Vec::new();
    if rng.below(3) == 0 {
        // A well-formed MSG/HMSG with random sizes and contents, possibly cut.
        let payload: Vec<u8> = (0..rng.below(12)).map(|_| rng.byte()).collect();
        if rng.below(2) == 0 {
            v.extend_from_slice(format!("MSG s {} {}\r\n", rng.below(1000), payload.len()).as_bytes());
            v.extend_from_slice(&payload);
        } else {
            let hdr = b"NATS/1.0\r\nA: b\r\n\r\n";
            v.extend_from_slice(
                format!("HMSG s {} r {} {}\r\n", rng.below(9), hdr.len(), hdr.len() + payload.len()).as_bytes(),
            );
            v.extend_from_slice(hdr);
            v.extend_from_slice(&payload);
        }
        v.extend_from_slice(b"\r\n");
    }
    for _ in 0..1 + rng.below(10) {
        v.extend_from_slice(FRAGMENTS[rng.below(FRAGMENTS.len())]);
    }
    if rng.below(4) == 0 {
        let cut = rng.below(v.len() + 1);
        v.truncate(cut);
    }
    v
}

/// A seed with a few random edits.
fn mutate(rng: &mut Rng, seed: &[u8], seeds: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        match rng.below(6) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 => {
                let i = rng.below(v.len() + 1);
                v.insert(i, rng.byte());
            }
            2 if !v.is_empty() => {
                let i = rng.below(v.len());
                v.remove(i);
            }
            3 => {
                let i = rng.below(v.len() + 1);
                let f = FRAGMENTS[rng.below(FRAGMENTS.len())];
                v.splice(i..i, f.iter().copied());
            }
            4 if !seeds.is_empty() => {
                // Splice the tail of another seed.
                let other = &seeds[rng.below(seeds.len())].1;
                let from = rng.below(other.len() + 1);
                v.extend_from_slice(&other[from..]);
            }
            _ => {
                let cut = rng.below(v.len() + 1);
                v.truncate(cut);
            }
        }
    }
    v
}

/// Runs `check` on an input; on failure, says which input (and writes it to a temp file so it
/// can be replayed with `cargo fuzz run <target> <file>`).
fn run_one(target: &str, what: &str, input: &[u8], check: fn(&[u8])) {
    let r = std::panic::catch_unwind(|| check(input));
    if let Err(p) = r {
        let path = std::env::temp_dir().join(format!("nats-{target}-failure.bin"));
        let _ = std::fs::write(&path, input);
        eprintln!("{target}: property violated by {what} (input saved to {}): {input:?}", path.display());
        std::panic::resume_unwind(p);
    }
}

fn run_corpus(target: &str, check: fn(&[u8])) -> Vec<(String, Vec<u8>)> {
    let seeds = files("corpus", target);
    assert!(seeds.len() >= 20, "seed corpus fuzz/corpus/{target} missing or too small");
    for (name, data) in &seeds {
        run_one(target, &format!("seed {name}"), data, check);
    }
    for (name, data) in files("artifacts-found", target) {
        run_one(target, &format!("saved reproducer {name}"), &data, check);
    }
    seeds
}

const RANDOM_INPUTS: usize = 2000;

#[test]
fn parser_seed_corpus() {
    run_corpus("parser", checks::check_parser);
}

#[test]
fn parser_generated_inputs() {
    let seeds = files("corpus", "parser");
    let mut rng = Rng(0x5eed_0001);
    for i in 0..RANDOM_INPUTS {
        let input = if i % 2 == 0 || seeds.is_empty() {
            protocolish(&mut rng)
        } else {
            let s = &seeds[rng.below(seeds.len())].1;
            mutate(&mut rng, s, &seeds)
        };
        run_one("parser", &format!("generated input #{i}"), &input, checks::check_parser);
    }
}

#[test]
fn info_err_hmsg_seed_corpus() {
    run_corpus("info_err_hmsg", checks::check_info_err_hmsg);
}

#[test]
fn info_err_hmsg_generated_inputs() {
    let seeds = files("corpus", "info_err_hmsg");
    let mut rng = Rng(0x5eed_0002);
    for i in 0..RANDOM_INPUTS {
        let input = if i % 2 == 0 || seeds.is_empty() {
            // A selector byte, then protocol-ish or plain random bytes.
            let mut v = vec![rng.byte()];
            if rng.below(2) == 0 {
                v.extend(protocolish(&mut rng));
            } else {
                v.extend((0..rng.below(200)).map(|_| rng.byte()));
            }
            v
        } else {
            let s = &seeds[rng.below(seeds.len())].1;
            mutate(&mut rng, s, &seeds)
        };
        run_one("info_err_hmsg", &format!("generated input #{i}"), &input, checks::check_info_err_hmsg);
    }
}
