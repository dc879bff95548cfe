//! Subject, reply and queue-name validation performed before anything is
//! written to the wire.
//!
//! What cnats 3.13 actually checks (and what this module mirrors):
//!
//! * **Subscribe** (`natsConnection_Subscribe*`, `natsConn_subscribeImpl`):
//!   the full subject check implemented by [`is_subject_valid`] with
//!   wildcards allowed, reported as `NATS_INVALID_SUBJECT`.
//! * **Queue group names**: non-empty and no whitespace, reported as
//!   `NATS_INVALID_QUEUE_NAME`.
//! * **Publish** (`natsConn_publish`): cnats only rejects a NULL or empty
//!   subject (`NATS_INVALID_SUBJECT`). It does not look at tokens nor
//!   wildcards (the server decides, e.g. in pedantic mode). This module also
//!   rejects whitespace, because a space, tab, CR or LF inside a subject
//!   would corrupt the `PUB` control line framing (see
//!   [`valid_publish_subject`]).
//! * **Reply** (`natsConnection_PublishRequest*`, `natsMsg_Create`): cnats
//!   rejects a NULL or empty reply with `NATS_INVALID_ARG`; whitespace is
//!   rejected here for the same framing reason.
//! * **Inbox prefix** option: [`is_subject_valid`] without wildcards.
//!
//! "Whitespace" means what C's `isspace()` accepts in the "C" locale:
//! space, `\t`, `\n`, `\v`, `\f` and `\r`.

/// `isspace()` in the "C" locale.
#[inline]
pub fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

#[inline]
fn has_c_space(s: &[u8]) -> bool {
    s.iter().any(|&b| is_c_space(b))
}

/// Full subject validation, with the same results as cnats'
/// `nats_IsSubjectValid(subject, wildcards_allowed)`:
///
/// * the subject must not be empty and must not contain whitespace;
/// * tokens (separated by `.`) must not be empty (no leading, trailing or
///   doubled `.`);
/// * a token made only of `>` is only accepted as the last token, and only
///   when `wildcards_allowed`;
/// * a token made only of `*` is only accepted when `wildcards_allowed`;
/// * `*` or `>` inside a longer token (`foo*`, `a>b`) are plain characters.
pub fn is_subject_valid(subject: &[u8], wildcards_allowed: bool) -> bool {
    if subject.is_empty() {
        return false;
    }
    let mut tokens = subject.split(|&b| b == b'.').peekable();
    while let Some(token) = tokens.next() {
        if token.is_empty() || has_c_space(token) {
            return false;
        }
        match token {
            // A full-wildcard token followed by more tokens is never valid,
            // even when wildcards are allowed.
            b">" if tokens.peek().is_some() || !wildcards_allowed => return false,
            b"*" if !wildcards_allowed => return false,
            _ => {}
        }
    }
    true
}

/// Subject accepted by a publish call.
///
/// cnats 3.13 only checks that the subject is non-empty. This also refuses
/// whitespace (space, tab, CR, LF, VT, FF), which cnats would put on the
/// wire unchanged, silently turning e.g. `"foo bar"` into subject `foo`
/// with reply `bar`, or injecting protocol with CR/LF, and empty tokens
/// (`.foo`, `foo.`, `foo..bar`), which the server would drop. Wildcards are
/// not refused, like cnats (the server is the judge there).
pub fn valid_publish_subject(s: &[u8]) -> bool {
    publish_subject_len(|i| s.get(i).copied()).is_some()
}

/// How many bytes make the subject whose `i`-th byte `byte_at(i)` gives (`None` past its
/// end) when [`valid_publish_subject`] accepts it, checked in one pass.
#[inline(always)]
fn publish_subject_len(mut byte_at: impl FnMut(usize) -> Option<u8>) -> Option<usize> {
    let mut n = 0usize;
    // Where a token starts, a `.` would make it empty (so would the end).
    let mut token_start = true;
    while let Some(c) = byte_at(n) {
        if c == b'.' {
            if token_start {
                return None;
            }
            token_start = true;
        } else if is_c_space(c) {
            return None;
        } else {
            token_start = false;
        }
        n += 1;
    }
    (!token_start).then_some(n)
}

/// A subject [`valid_publish_subject`] accepts: what a publish takes, so that none goes out
/// unchecked, and none is checked twice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PublishSubject<'a>(&'a [u8]);

impl<'a> PublishSubject<'a> {
    /// `s` when it is a valid publish subject.
    #[inline]
    pub fn new(s: &'a [u8]) -> Option<Self> {
        valid_publish_subject(s).then_some(PublishSubject(s))
    }

    /// A subject given as a C string, read and checked in one pass (no separate `strlen`).
    ///
    /// # Safety
    /// `p` must be non-NULL and point to a NUL-terminated string that outlives `'a`.
    #[inline]
    pub unsafe fn from_c(p: *const u8) -> Option<Self> {
        let n = publish_subject_len(|i| {
            // SAFETY: every byte up to and including the NUL is readable, and none is read
            // after it.
            let c = unsafe { *p.add(i) };
            (c != 0).then_some(c)
        })?;
        // SAFETY: the `n` bytes before the NUL were just read.
        Some(PublishSubject(unsafe { std::slice::from_raw_parts(p, n) }))
    }

    /// The subject's bytes.
    #[inline]
    pub fn as_bytes(&self) -> &'a [u8] {
        self.0
    }
}

/// Subject accepted by a subscribe call: [`is_subject_valid`] with
/// wildcards allowed (`*` as any full token, `>` as the last full token).
pub fn valid_subscribe_subject(s: &[u8]) -> bool {
    is_subject_valid(s, true)
}

/// Queue group name accepted by a queue subscribe call: non-empty and no
/// whitespace (cnats `_isQueueNameValid`). Dots and wildcard characters are
/// allowed.
pub fn valid_queue(s: &[u8]) -> bool {
    !s.is_empty() && !has_c_space(s)
}

/// Reply subject accepted by a publish-request call: non-empty (cnats) and
/// no whitespace (framing safety, see [`valid_publish_subject`]).
pub fn valid_reply(s: &[u8]) -> bool {
    !s.is_empty() && !has_c_space(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_subjects_are_checked_in_one_pass_as_the_rule_says() {
        // Every string of up to 4 bytes over an alphabet of what matters, as a C string.
        let alphabet = [b'a', b'.', b' ', b'\t', b'\r', b'\n', 0x0b, 0x0c, b'*', b'>', 0xc3];
        let mut seen = 0;
        for len in 0..=4u32 {
            for k in 0..alphabet.len().pow(len) {
                let mut s: Vec<u8> = (0..len).map(|j| alphabet[k / alphabet.len().pow(j) % alphabet.len()]).collect();
                // The rule, spelled out independently of the one-pass check.
                let ok = !s.is_empty()
                    && !s.iter().any(|&c| is_c_space(c))
                    && s[0] != b'.'
                    && s[s.len() - 1] != b'.'
                    && !s.windows(2).any(|w| w == b"..");
                assert_eq!(valid_publish_subject(&s), ok, "{s:?}");
                let want = ok.then(|| s.clone());
                s.push(0);
                // SAFETY: `s` is NUL-terminated and outlives the result.
                let got = unsafe { PublishSubject::from_c(s.as_ptr()) }.map(|p| p.as_bytes().to_vec());
                assert_eq!(PublishSubject::new(&s[..s.len() - 1]).map(|p| p.as_bytes().to_vec()), want, "{s:?}");
                assert_eq!(got, want, "{s:?}");
                seen += usize::from(want.is_some());
            }
        }
        assert!(seen > 100);
    }

    // The subject tables below are the ones cnats' own test suite uses for
    // nats_IsSubjectValid, so the results must match.
    const BAD: &[&str] = &["", "foo bar", "foo..bar", ".foo", "bar.baz.", "baz\t.foo"];
    const GOOD: &[&str] = &["foo.bar", "a.bcd", "abc.d"];
    const WC: &[&str] = &[
        "*",
        "*.*",
        "*.foo.bar",
        "foo.*.bar",
        "foo.bar.*",
        ">",
        "foo.bar.>",
    ];
    const BAD_WC: &[&str] = &[">.foo", "foo.>.bar", ">.>"];

    #[test]
    fn cnats_subject_tables() {
        for s in BAD {
            assert!(!is_subject_valid(s.as_bytes(), true), "{s:?}");
            assert!(!is_subject_valid(s.as_bytes(), false), "{s:?}");
            assert!(!valid_subscribe_subject(s.as_bytes()), "{s:?}");
        }
        for s in GOOD {
            assert!(is_subject_valid(s.as_bytes(), true), "{s:?}");
            assert!(is_subject_valid(s.as_bytes(), false), "{s:?}");
            assert!(valid_subscribe_subject(s.as_bytes()), "{s:?}");
            assert!(valid_publish_subject(s.as_bytes()), "{s:?}");
        }
        for s in WC {
            assert!(is_subject_valid(s.as_bytes(), true), "{s:?}");
            assert!(!is_subject_valid(s.as_bytes(), false), "{s:?}");
        }
        for s in BAD_WC {
            assert!(!is_subject_valid(s.as_bytes(), true), "{s:?}");
            assert!(!is_subject_valid(s.as_bytes(), false), "{s:?}");
        }
    }

    #[test]
    fn wildcard_chars_inside_tokens_are_literals() {
        for s in ["foo*", "foo>", "a.b*c.d", "a.>b", "*a", ">a.b"] {
            assert!(is_subject_valid(s.as_bytes(), false), "{s:?}");
            assert!(is_subject_valid(s.as_bytes(), true), "{s:?}");
        }
        assert!(!is_subject_valid(b"*.>.x", true));
        assert!(is_subject_valid(b"*.>", true));
    }

    #[test]
    fn whitespace_variants() {
        for s in [
            "a b", "a\tb", "a\rb", "a\nb", "a\x0bb", "a\x0cb", " a", "a ",
        ] {
            assert!(!is_subject_valid(s.as_bytes(), true), "{s:?}");
            assert!(!valid_publish_subject(s.as_bytes()), "{s:?}");
            assert!(!valid_reply(s.as_bytes()), "{s:?}");
            assert!(!valid_queue(s.as_bytes()), "{s:?}");
        }
    }

    #[test]
    fn publish_refuses_whitespace_and_empty_tokens_only() {
        for s in ["", "foo..bar", ".foo", "foo.", ".", "foo bar", "foo\r\nPUB x 1"] {
            assert!(!valid_publish_subject(s.as_bytes()), "{s:?}");
        }
        for s in ["foo", "foo.*", "foo.>", ">.foo", "a.b.c"] {
            assert!(valid_publish_subject(s.as_bytes()), "{s:?}");
        }
    }

    #[test]
    fn queues_and_replies() {
        let bad_queues = [
            "",
            "queue name",
            "queue.name ",
            " queue.name",
            "queue\tname",
            "\tqueue.name",
            "\t.queue.name",
            "queue.name\t",
            "queue.name.\t",
            "queue\rname",
            "\rqueue.name",
            "\r.queue.name",
            "queue.name\r",
            "queue.name.\r",
            "queue\nname",
            "\nqueue.name",
            "\n.queue.name",
            "queue.name\n",
            "queue.name.\n",
        ];
        for q in bad_queues {
            assert!(!valid_queue(q.as_bytes()), "{q:?}");
        }
        for q in ["q", "queue.name", "workers-1", "a.*.>", ".."] {
            assert!(valid_queue(q.as_bytes()), "{q:?}");
        }
        assert!(!valid_reply(b""));
        assert!(valid_reply(b"_INBOX.abc.def"));
    }
}
