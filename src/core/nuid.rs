//! NUID: unique identifiers used for inboxes and request/response subjects.
//!
//! Layout, as produced by cnats 3.13 (`src/nuid.c`): 22 characters, a
//! 12-character random prefix followed by a 10-character sequence. The
//! sequence starts at a random value and grows by a random increment in
//! `[33, 333)`; when it reaches its maximum the prefix is re-randomized and
//! the sequence/increment are reset.
//!
//! Note: cnats uses **base 36** (`0-9A-Z`), not the base 62 of nats.go. The
//! alphabet is kept identical to cnats so that generated inboxes look the
//! same (upper-case letters and digits only).

use crate::core::lock::Mutex;

use super::runtime::{self, PerProcess};

/// Length of a NUID in bytes.
pub const NUID_LEN: usize = PRE_LEN + SEQ_LEN;

const DIGITS: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const BASE: u64 = 36;
const PRE_LEN: usize = 12;
const SEQ_LEN: usize = 10;
/// 36^12: number of distinct prefixes.
const MAX_PRE: u64 = 4_738_381_338_321_616_896;
/// 36^10: the sequence wraps (and the prefix changes) at this value.
const MAX_SEQ: u64 = 3_656_158_440_062_976;
const MIN_INC: u64 = 33;
const MAX_INC: u64 = 333;

/// A NUID generator. Not thread-safe by itself; the module-level [`next`]
/// uses a global, mutex-protected instance.
#[derive(Debug, Clone)]
pub struct Nuid {
    pre: [u8; PRE_LEN],
    seq: u64,
    inc: u64,
}

impl Default for Nuid {
    fn default() -> Self {
        Self::new()
    }
}

impl Nuid {
    /// A generator with a random prefix, sequence start and increment.
    pub fn new() -> Self {
        let mut n = Nuid {
            pre: [b'0'; PRE_LEN],
            seq: 0,
            inc: MIN_INC,
        };
        n.randomize_prefix();
        n.reset_sequential();
        n
    }

    fn randomize_prefix(&mut self) {
        let mut r = fastrand::u64(0..MAX_PRE);
        for slot in self.pre.iter_mut().rev() {
            *slot = DIGITS[(r % BASE) as usize];
            r /= BASE;
        }
    }

    fn reset_sequential(&mut self) {
        self.seq = fastrand::u64(0..MAX_SEQ);
        self.inc = fastrand::u64(MIN_INC..MAX_INC);
    }

    /// Produce the next NUID.
    pub fn next_nuid(&mut self) -> [u8; NUID_LEN] {
        self.seq += self.inc;
        if self.seq >= MAX_SEQ {
            self.randomize_prefix();
            self.reset_sequential();
        }
        let mut out = [0u8; NUID_LEN];
        out[..PRE_LEN].copy_from_slice(&self.pre);
        let mut l = self.seq;
        for slot in out[PRE_LEN..].iter_mut().rev() {
            *slot = DIGITS[(l % BASE) as usize];
            l /= BASE;
        }
        out
    }
}

/// Per process: in the child of a fork() the parent's generator state (and the forking
/// thread's random state) are copies, so the child would produce the very NUIDs, hence
/// inboxes and reply subjects, the parent produces next (and two children forked from the
/// same thread would produce the same ones). Each process seeds its generator afresh,
/// mixing in its pid and the clock.
static GLOBAL: PerProcess<Mutex<Nuid>> = PerProcess::new(|| {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let pid = std::process::id() as u64;
    fastrand::seed(fastrand::u64(..) ^ t ^ pid.rotate_left(32) ^ runtime::fork_generation().rotate_left(48));
    Mutex::new(Nuid::new())
});

/// Next NUID from the process-wide generator (thread-safe).
pub fn next() -> [u8; NUID_LEN] {
    GLOBAL.get().lock().next_nuid()
}

/// Next NUID from the process-wide generator, as a `String`.
pub fn next_string() -> String {
    let b = next();
    // The alphabet is ASCII, so this never fails.
    String::from_utf8(b.to_vec()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn constants_are_powers_of_the_base() {
        assert_eq!(MAX_PRE, BASE.pow(PRE_LEN as u32));
        assert_eq!(MAX_SEQ, BASE.pow(SEQ_LEN as u32));
    }

    #[test]
    fn length_and_alphabet() {
        for _ in 0..1000 {
            let n = next();
            assert_eq!(n.len(), 22);
            assert!(n
                .iter()
                .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()));
        }
        let s = next_string();
        assert_eq!(s.len(), 22);
    }

    #[test]
    fn unique_over_100k() {
        let mut seen = HashSet::with_capacity(100_000);
        for _ in 0..100_000 {
            assert!(seen.insert(next()));
        }
    }

    #[test]
    fn prefix_stable_then_rolls_over() {
        let mut g = Nuid::new();
        let a = g.next_nuid();
        let b = g.next_nuid();
        assert_eq!(a[..PRE_LEN], b[..PRE_LEN]);
        assert_ne!(a[PRE_LEN..], b[PRE_LEN..]);
        // Force a rollover.
        g.seq = MAX_SEQ - 1;
        let old_pre = g.pre;
        let c = g.next_nuid();
        assert!(g.seq < MAX_SEQ);
        // The prefix is re-randomized (a collision is astronomically unlikely).
        assert_ne!(c[..PRE_LEN], old_pre[..]);
    }

    #[test]
    fn concurrent_uniqueness() {
        let handles: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(|| (0..10_000).map(|_| next()).collect::<Vec<_>>()))
            .collect();
        let mut seen = HashSet::new();
        for h in handles {
            for n in h.join().unwrap() {
                assert!(seen.insert(n));
            }
        }
    }
}
