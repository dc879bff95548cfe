//! NATS message headers: the `NATS/1.0` block carried by `HMSG`/`HPUB`.
//!
//! Semantics follow cnats 3.13 (`src/msg.c`):
//!
//! * Keys are **case-sensitive** and stored exactly as given (no
//!   canonicalization since cnats v3.0).
//! * `set` replaces all values of a key, `add` appends a value, `get`
//!   returns the first value, `values` all of them, `delete` removes the
//!   key and all its values. Absent keys are "not found" (`NATS_NOT_FOUND`
//!   in C, `None`/`false` here).
//! * Neither keys nor values are validated on `set`/`add` (cnats only
//!   refuses a NULL or empty key with `NATS_INVALID_ARG`; callers must do
//!   that check, an empty key is ignored here). When encoding, CR and LF
//!   inside values are replaced by spaces.
//! * The status line `NATS/1.0 503 No Responders` is exposed as two regular
//!   pseudo-headers, [`STATUS_HDR`] (`"Status"`, the first 3 characters of
//!   the status) and [`DESCRIPTION_HDR`] (`"Description"`, the trimmed
//!   rest, only when non-empty). They are set with `set` semantics after
//!   the header lines are parsed, so they show up in `keys()` and would be
//!   re-encoded as ordinary `Status:`/`Description:` lines.
//! * Parsing mirrors cnats' lifting rules: value whitespace is trimmed on
//!   both sides, key whitespace is kept, a line starting with whitespace
//!   continues the previous value (joined with a single space), an empty
//!   value is allowed, the same key on several lines gives several values.
//!
//! Keys are kept in insertion order (cnats uses a hash map, so its key order
//! is unspecified; any order is therefore compatible).
//!
//! cnats can store a NULL value (`natsMsgHeader_Set(msg, "k", NULL)`), which
//! `natsMsgHeader_Get` then returns as NULL while still reporting success.
//! That is modelled with [`Headers::set_opt`]/[`Headers::add_opt`] and
//! [`Headers::get_opt`]/[`Headers::is_null_value`]; a NULL value reads as
//! `""` through [`Headers::get`]/[`Headers::values`] and encodes as an empty
//! value.

use std::collections::HashMap;
use std::fmt;

/// Header block prefix, without the line terminator.
pub const HDR_LINE_PRE: &[u8] = b"NATS/1.0";
/// First line of an encoded header block without status.
pub const HDR_LINE: &[u8] = b"NATS/1.0\r\n";
/// Pseudo-header holding the 3-character status of the status line.
pub const STATUS_HDR: &str = "Status";
/// Pseudo-header holding the status line text following the status code.
pub const DESCRIPTION_HDR: &str = "Description";
/// Number of characters of a status code.
pub const STATUS_LEN: usize = 3;
/// Status sent by the server when a request has no responders.
pub const STATUS_NO_RESPONDERS: &str = "503";
pub const STATUS_BAD_REQUEST: &str = "400";
pub const STATUS_NOT_FOUND: &str = "404";
pub const STATUS_TIMEOUT: &str = "408";
pub const STATUS_MAX_BYTES: &str = "409";
pub const STATUS_PIN_ID_MISMATCH: &str = "423";
pub const STATUS_CTRL: &str = "100";

/// Above this many keys, lookups go through a hash index.
const INDEX_THRESHOLD: usize = 8;
/// Longest excerpt of offending input quoted in an error message.
const SNIPPET_MAX: usize = 64;

/// Error while parsing a header block. The `Display` texts start with the
/// same phrases as cnats' error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderError {
    /// Block shorter than `NATS/1.0\r\n` or not starting with `NATS/1.0`.
    PrefixMissing(String),
    /// No CRLF after the `NATS/1.0` status line.
    EarlyTermination(String),
    /// A line starts with CR but is not the terminating empty line.
    InvalidKeyStart(String),
    /// The first header line starts with whitespace.
    KeyStartsWithSpace(String),
    /// A header line has no `:`.
    ColonNotFound(String),
    /// The block ends right after `key:` (and optional whitespace).
    NoValue(String),
    /// A value is not terminated by CRLF.
    NoCrlf(String),
    /// A continuation line refers to a key that does not exist.
    FoldingWithoutKey(String),
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderError::PrefixMissing(s) => write!(f, "header prefix missing: {s}"),
            HeaderError::EarlyTermination(s) => write!(f, "early termination of headers: {s}"),
            HeaderError::InvalidKeyStart(s) => write!(f, "invalid start of a key: {s}"),
            HeaderError::KeyStartsWithSpace(s) => write!(f, "key cannot start with a space: {s}"),
            HeaderError::ColonNotFound(s) => write!(f, "column delimiter not found: {s}"),
            HeaderError::NoValue(k) => write!(f, "no value found for key {k}"),
            HeaderError::NoCrlf(k) => write!(f, "no CRLF found for value of key {k}"),
            HeaderError::FoldingWithoutKey(k) => {
                write!(f, "unable to process folding lines for key {k}")
            }
        }
    }
}

impl std::error::Error for HeaderError {}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    key: String,
    values: Vec<String>,
    /// Indexes in `values` of values that are C NULL (rare, usually empty).
    nulls: Vec<usize>,
}

/// An ordered multi-map of header keys to values.
#[derive(Debug, Clone, Default)]
pub struct Headers {
    entries: Vec<Entry>,
    /// key -> position in `entries`, only maintained for large maps.
    index: Option<HashMap<String, usize>>,
}

impl PartialEq for Headers {
    fn eq(&self, other: &Self) -> bool {
        self.entries == other.entries
    }
}

impl Eq for Headers {}

/// `isspace()` in the "C" locale.
#[inline]
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn snippet(b: &[u8]) -> String {
    lossy(&b[..b.len().min(SNIPPET_MAX)])
}

/// Index of the `\n` of the first CRLF at or after `from`, or `b.len()`.
fn move_to_lf(b: &[u8], from: usize) -> usize {
    let mut i = from;
    while i + 1 < b.len() {
        if b[i] == b'\r' && b[i + 1] == b'\n' {
            return i + 1;
        }
        i += 1;
    }
    b.len()
}

impl Headers {
    /// An empty header map.
    pub fn new() -> Self {
        Self::default()
    }

    fn find(&self, key: &str) -> Option<usize> {
        match &self.index {
            Some(ix) => ix.get(key).copied(),
            None => self.entries.iter().position(|e| e.key == key),
        }
    }

    fn rebuild_index(&mut self) {
        if self.entries.len() > INDEX_THRESHOLD {
            let ix = self
                .entries
                .iter()
                .enumerate()
                .map(|(i, e)| (e.key.clone(), i))
                .collect();
            self.index = Some(ix);
        } else {
            self.index = None;
        }
    }

    fn push_entry(&mut self, key: &str, value: String, null: bool) {
        let pos = self.entries.len();
        self.entries.push(Entry {
            key: key.to_owned(),
            values: vec![value],
            nulls: if null { vec![0] } else { Vec::new() },
        });
        match &mut self.index {
            Some(ix) => {
                ix.insert(key.to_owned(), pos);
            }
            None if self.entries.len() > INDEX_THRESHOLD => self.rebuild_index(),
            None => {}
        }
    }

    fn set_inner(&mut self, key: &str, value: Option<&str>) {
        let v = value.unwrap_or("").to_owned();
        match self.find(key) {
            Some(i) => {
                let e = &mut self.entries[i];
                e.values.clear();
                e.values.push(v);
                e.nulls.clear();
                if value.is_none() {
                    e.nulls.push(0);
                }
            }
            None => self.push_entry(key, v, value.is_none()),
        }
    }

    fn add_inner(&mut self, key: &str, value: String, null: bool) {
        match self.find(key) {
            Some(i) => {
                let e = &mut self.entries[i];
                if null {
                    e.nulls.push(e.values.len());
                }
                e.values.push(value);
            }
            None => self.push_entry(key, value, null),
        }
    }

    /// Replace all values of `key` with `value`. An empty key is ignored
    /// (cnats rejects it with `NATS_INVALID_ARG`).
    pub fn set(&mut self, key: &str, value: &str) {
        if !key.is_empty() {
            self.set_inner(key, Some(value));
        }
    }

    /// Like [`set`](Self::set); `None` stores a C NULL value.
    pub fn set_opt(&mut self, key: &str, value: Option<&str>) {
        if !key.is_empty() {
            self.set_inner(key, value);
        }
    }

    /// Append `value` to the values of `key` (creating the key if needed).
    /// An empty key is ignored (cnats rejects it with `NATS_INVALID_ARG`).
    pub fn add(&mut self, key: &str, value: &str) {
        if !key.is_empty() {
            self.add_inner(key, value.to_owned(), false);
        }
    }

    /// Like [`add`](Self::add); `None` appends a C NULL value.
    pub fn add_opt(&mut self, key: &str, value: Option<&str>) {
        if !key.is_empty() {
            self.add_inner(key, value.unwrap_or("").to_owned(), value.is_none());
        }
    }

    /// First value of `key`, `None` when the key is absent. A NULL value
    /// reads as `""`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.find(key)
            .and_then(|i| self.entries[i].values.first())
            .map(String::as_str)
    }

    /// First value of `key` distinguishing NULL: `None` when the key is
    /// absent, `Some(None)` when the first value is NULL.
    pub fn get_opt(&self, key: &str) -> Option<Option<&str>> {
        let e = &self.entries[self.find(key)?];
        if e.nulls.contains(&0) {
            Some(None)
        } else {
            e.values.first().map(|v| Some(v.as_str()))
        }
    }

    /// Whether value number `idx` of `key` is a C NULL.
    pub fn is_null_value(&self, key: &str, idx: usize) -> bool {
        self.find(key)
            .map(|i| self.entries[i].nulls.contains(&idx))
            .unwrap_or(false)
    }

    /// All values of `key` in insertion order, `None` when absent.
    pub fn values(&self, key: &str) -> Option<&[String]> {
        self.find(key).map(|i| self.entries[i].values.as_slice())
    }

    /// Keys in insertion order.
    pub fn keys(&self) -> impl Iterator<Item = &str> + '_ {
        self.entries.iter().map(|e| e.key.as_str())
    }

    /// `(key, values)` pairs in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[String])> + '_ {
        self.entries
            .iter()
            .map(|e| (e.key.as_str(), e.values.as_slice()))
    }

    /// Remove `key` and all its values. Returns `false` if it was absent.
    pub fn delete(&mut self, key: &str) -> bool {
        match self.find(key) {
            Some(i) => {
                self.entries.remove(i);
                if self.index.is_some() {
                    self.rebuild_index();
                }
                true
            }
            None => false,
        }
    }

    /// Number of distinct keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there is no key.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The `Status` pseudo-header as it is stored (e.g. `"503"`).
    pub fn status_str(&self) -> Option<&str> {
        self.get(STATUS_HDR)
    }

    /// Numeric status: the first 3 characters of the `Status` header when
    /// they are all digits.
    pub fn status(&self) -> Option<u16> {
        let s = self.status_str()?.as_bytes();
        if s.len() < STATUS_LEN || !s[..STATUS_LEN].iter().all(u8::is_ascii_digit) {
            return None;
        }
        s[..STATUS_LEN]
            .iter()
            .try_fold(0u16, |acc, d| Some(acc * 10 + u16::from(d - b'0')))
    }

    /// The `Description` pseudo-header (status line text after the code).
    pub fn description(&self) -> Option<&str> {
        self.get(DESCRIPTION_HDR)
    }

    /// True when the `Status` header starts with `503`. Together with an
    /// empty payload this is what `natsMsg_IsNoResponders` checks.
    pub fn is_no_responders_status(&self) -> bool {
        self.status_str()
            .map(|s| s.as_bytes().starts_with(STATUS_NO_RESPONDERS.as_bytes()))
            .unwrap_or(false)
    }

    /// Exact size of [`encode`](Self::encode)'s output. For an empty map
    /// this is 12 (`"NATS/1.0\r\n\r\n"`); whether to send headers at all in
    /// that case is the caller's decision (cnats sends `HPUB` with that
    /// block when headers were created and then all deleted, and `PUB` when
    /// headers were never touched).
    pub fn encoded_len(&self) -> usize {
        let mut n = HDR_LINE.len() + 2;
        for e in &self.entries {
            for v in &e.values {
                n += e.key.len() + 2 + v.len() + 2;
            }
        }
        n
    }

    /// Append the wire form: `NATS/1.0\r\n` then one `key: value\r\n` line
    /// per value, then `\r\n`. CR/LF inside values become spaces.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.reserve(self.encoded_len());
        out.extend_from_slice(HDR_LINE);
        for e in &self.entries {
            for v in &e.values {
                out.extend_from_slice(e.key.as_bytes());
                out.extend_from_slice(b": ");
                let start = out.len();
                out.extend_from_slice(v.as_bytes());
                for b in &mut out[start..] {
                    if *b == b'\r' || *b == b'\n' {
                        *b = b' ';
                    }
                }
                out.extend_from_slice(b"\r\n");
            }
        }
        out.extend_from_slice(b"\r\n");
    }

    /// The wire form in a new vector.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.encoded_len());
        self.encode(&mut v);
        v
    }

    /// Parse a header block as received in an `HMSG` (the first `hdr_len`
    /// bytes of the payload). Invalid UTF-8 is replaced with U+FFFD.
    pub fn parse(block: &[u8]) -> Result<Headers, HeaderError> {
        let b = block;
        let end = b.len();
        if end < HDR_LINE.len() || !b.starts_with(HDR_LINE_PRE) {
            return Err(HeaderError::PrefixMissing(snippet(b)));
        }

        // Status line: optional spaces, then everything up to the CR.
        let mut sts = HDR_LINE_PRE.len();
        while sts < end && b[sts] == b' ' {
            sts += 1;
        }
        let lf = move_to_lf(b, sts);
        // Something (at least the final CRLF) must follow the status line.
        if lf == end || lf + 1 == end {
            return Err(HeaderError::EarlyTermination(snippet(b)));
        }
        let status = &b[sts..lf - 1];

        let mut h = Headers::new();
        let mut ptr = lf + 1;
        let mut line = 0usize;
        let mut last_key: Option<String> = None;
        while ptr != end {
            ptr = h.parse_line(b, ptr, line, &mut last_key)?;
            line += 1;
        }

        if !status.is_empty() {
            if status.len() > STATUS_LEN {
                h.set_inner(STATUS_HDR, Some(&lossy(&status[..STATUS_LEN])));
                let desc = trim_c_space(&status[STATUS_LEN..]);
                if !desc.is_empty() {
                    h.set_inner(DESCRIPTION_HDR, Some(&lossy(desc)));
                }
            } else {
                h.set_inner(STATUS_HDR, Some(&lossy(status)));
            }
        }
        Ok(h)
    }

    /// Process one header line starting at `ptr`; returns the position of
    /// the next line (or `b.len()` when done).
    fn parse_line(
        &mut self,
        b: &[u8],
        ptr: usize,
        line: usize,
        last_key: &mut Option<String>,
    ) -> Result<usize, HeaderError> {
        let end = b.len();
        let rest = &b[ptr..];

        // Only the terminating empty line may start with CR.
        if rest[0] == b'\r' {
            if rest == b"\r" || rest == b"\r\n" || rest == b"\r\n\r\n" {
                return Ok(end);
            }
            return Err(HeaderError::InvalidKeyStart(snippet(rest)));
        }

        let folding = is_c_space(rest[0]);
        let (key, mut p) = if folding {
            if line == 0 {
                return Err(HeaderError::KeyStartsWithSpace(snippet(rest)));
            }
            // The folded text is appended to the previous key's last value.
            (last_key.clone().unwrap_or_default(), ptr)
        } else {
            // The key is everything before ':' on this line, untrimmed.
            let line_end = move_to_lf(b, ptr);
            let colon = b[ptr..line_end]
                .iter()
                .position(|&c| c == b':')
                .ok_or_else(|| HeaderError::ColonNotFound(snippet(rest)))?;
            (lossy(&b[ptr..ptr + colon]), ptr + colon + 1)
        };

        // Skip leading whitespace. Reaching a CRLF means an empty value.
        let mut prev_cr = false;
        let mut empty_value = false;
        while p != end && is_c_space(b[p]) {
            if prev_cr && b[p] == b'\n' {
                empty_value = true;
                p -= 1;
                break;
            }
            prev_cr = b[p] == b'\r';
            p += 1;
        }
        if p == end {
            return Err(HeaderError::NoValue(key));
        }
        let val_start = p;
        let lf = move_to_lf(b, p);
        if lf == end {
            return Err(HeaderError::NoCrlf(key));
        }
        let value: &[u8] = if empty_value {
            b""
        } else {
            // val_start is a non-space byte and b[lf - 1] is the CR, so the
            // trimmed value is non-empty.
            let mut e = lf - 2;
            while e != val_start && is_c_space(b[e]) {
                e -= 1;
            }
            &b[val_start..=e]
        };

        if folding {
            let i = self
                .find(&key)
                .ok_or_else(|| HeaderError::FoldingWithoutKey(key.clone()))?;
            let e = &mut self.entries[i];
            let last_idx = e.values.len() - 1;
            let last = &mut e.values[last_idx];
            last.push(' ');
            last.push_str(&String::from_utf8_lossy(value));
            e.nulls.retain(|&n| n != last_idx);
        } else {
            // Bypasses the empty-key check of `add`: a line ": v" is kept,
            // like cnats does.
            self.add_inner(&key, lossy(value), false);
            *last_key = Some(key);
        }
        Ok(lf + 1)
    }
}

fn trim_c_space(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&c| !is_c_space(c)).unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|&c| !is_c_space(c))
        .map_or(start, |e| e + 1);
    &s[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Headers, HeaderError> {
        Headers::parse(s.as_bytes())
    }

    #[test]
    fn cnats_lift_cases() {
        let h = p("NATS/1.0\r\nk:v\r\n\r\n").unwrap();
        assert_eq!(h.get("k"), Some("v"));
        let h = p("NATS/1.0\r\nk e y:v\r\n\r\n").unwrap();
        assert_eq!(h.get("k e y"), Some("v"));
        let h = p("NATS/1.0\r\nk e y  :v\r\n\r\n").unwrap();
        assert_eq!(h.get("k e y  "), Some("v"));
        assert_eq!(h.get("k e y"), None);
        let h = p("NATS/1.0\r\nk:  v   \r\n\r\n").unwrap();
        assert_eq!(h.get("k"), Some("v"));
        let h = p("NATS/1.0\r\nk: a\r\n   bc\r\n def\r\n\r\n").unwrap();
        assert_eq!(h.get("k"), Some("a bc def"));
        let h = p("NATS/1.0\r\nk:\r\n\r\n").unwrap();
        assert_eq!(h.get("k"), Some(""));
        let h = p("NATS/1.0\r\nk:       \r\n\r\n").unwrap();
        assert_eq!(h.get("k"), Some(""));
    }

    #[test]
    fn cnats_lift_errors() {
        let cases: &[(&str, &str)] = &[
            ("NATS\r\nk:v\r\n\r\n", "header prefix missing"),
            ("NATS/1.0", "header prefix missing"),
            ("NATS/1.0\r\n", "early termination of headers"),
            ("NATS/1.0 503", "early termination of headers"),
            ("NATS/1.0 503 ", "early termination of headers"),
            ("NATS/1.0 503\r\n", "early termination of headers"),
            ("NATS/1.0 100\n\r\n", "early termination of headers"),
            ("NATS/1.0\r\nk:v\r\n\rbad\r\n", "invalid start of a key"),
            ("NATS/1.0\r\n k:v\r\n\r\n", "key cannot start with a space"),
            ("NATS/1.0\r\nk\r\n\r\n", "column delimiter not found"),
            ("NATS/1.0\r\nk\r\nx:y\r\n\r\n", "column delimiter not found"),
            ("NATS/1.0\r\nk:", "no value found for key k"),
            ("NATS/1.0\r\nk:   ", "no value found for key k"),
            ("NATS/1.0\r\nk: v", "no CRLF found for value of key k"),
            ("NATS/1.0\r\nk: v\r", "no CRLF found for value of key k"),
            ("XATS/1.0\r\n\r\n", "header prefix missing"),
        ];
        for (input, expect) in cases {
            let err = p(input).unwrap_err().to_string();
            assert!(
                err.starts_with(expect),
                "{input:?}: got {err:?}, want {expect:?}"
            );
        }
    }

    #[test]
    fn status_lines() {
        // (block, status, description) — the cnats test table.
        let cases: &[(&str, &str, Option<&str>)] = &[
            ("NATS/1.0 503\r\n\r\n", "503", None),
            ("NATS/1.0  503 \r\n\r\n", "503", None),
            ("NATS/1.0  503  \r\n\r\n", "503", None),
            (
                "NATS/1.0 503 No Responders\r\n\r\n",
                "503",
                Some("No Responders"),
            ),
            (
                "NATS/1.0 404 No Messages \r\n\r\n",
                "404",
                Some("No Messages"),
            ),
            (
                "NATS/1.0  404   No Messages   \r\n\r\n",
                "404",
                Some("No Messages"),
            ),
            (
                "NATS/1.0 408 Request Timeout\r\nNats-Pending-Messages: 1\r\n\r\n",
                "408",
                Some("Request Timeout"),
            ),
            (
                "NATS/1.0 100 Idle Heartbeat\r\n\r\n",
                "100",
                Some("Idle Heartbeat"),
            ),
            (
                "NATS/1.0100 Idle Heartbeat\r\n\r\n",
                "100",
                Some("Idle Heartbeat"),
            ),
        ];
        for (block, st, desc) in cases {
            let h = p(block).unwrap();
            assert_eq!(h.status_str(), Some(*st), "{block:?}");
            assert_eq!(h.status(), st.parse().ok(), "{block:?}");
            assert_eq!(h.description(), *desc, "{block:?}");
        }
        let h = p("NATS/1.0 408 Request Timeout\r\nNats-Pending-Messages: 1\r\n\r\n").unwrap();
        assert_eq!(h.get("Nats-Pending-Messages"), Some("1"));
        assert_eq!(
            h.keys().collect::<Vec<_>>(),
            ["Nats-Pending-Messages", "Status", "Description"]
        );
    }

    #[test]
    fn no_responders_block() {
        let h = p("NATS/1.0 503\r\n\r\n").unwrap();
        assert_eq!(h.status(), Some(503));
        assert!(h.is_no_responders_status());
        assert_eq!(h.description(), None);
        assert_eq!(h.len(), 1);
        assert_eq!(h.keys().collect::<Vec<_>>(), ["Status"]);

        let h = p("NATS/1.0\r\n\r\n").unwrap();
        assert!(h.is_empty());
        assert_eq!(h.status(), None);
        assert!(!h.is_no_responders_status());

        // A status header on a line is honored too (cnats reads the map).
        let h = p("NATS/1.0\r\nStatus: 503\r\n\r\n").unwrap();
        assert!(h.is_no_responders_status());
        // Inline status replaces a Status line.
        let h = p("NATS/1.0 404\r\nStatus: 503\r\n\r\n").unwrap();
        assert_eq!(h.values(STATUS_HDR).unwrap(), ["404"]);
    }

    #[test]
    fn odd_status_values() {
        let h = p("NATS/1.0 1000 Some status\r\n\r\n").unwrap();
        assert_eq!(h.status_str(), Some("100"));
        assert_eq!(h.description(), Some("0 Some status"));
        let h = p("NATS/1.0 12\r\n\r\n").unwrap();
        assert_eq!(h.status_str(), Some("12"));
        assert_eq!(h.status(), None);
        let h = p("NATS/1.0 abc\r\n\r\n").unwrap();
        assert_eq!(h.status(), None);
    }

    #[test]
    fn terminator_variants() {
        assert!(p("NATS/1.0\r\nk: v\r\n").is_ok());
        assert!(p("NATS/1.0\r\nk: v\r\n\r").is_ok());
        assert!(p("NATS/1.0\r\nk: v\r\n\r\n").is_ok());
        assert!(p("NATS/1.0\r\nk: v\r\n\r\n\r\n").is_ok());
        assert!(p("NATS/1.0\r\nk: v\r\n\r\n\r\n\r\n").is_err());
        assert!(p("NATS/1.0\r\n\r\n").is_ok());
        assert!(p("NATS/1.0\r\n\r").is_ok());
        assert!(p("NATS/1.0\r\nk: v\r\n\r\nx").is_err());
    }

    #[test]
    fn multi_values_and_duplicates() {
        let h = p("NATS/1.0\r\nA: 1\r\nB: 2\r\nA: 3\r\n\r\n").unwrap();
        assert_eq!(h.values("A").unwrap(), ["1", "3"]);
        assert_eq!(h.get("A"), Some("1"));
        assert_eq!(h.keys().collect::<Vec<_>>(), ["A", "B"]);
        assert_eq!(h.len(), 2);
        // Folding applies to the last value of the last key.
        let h = p("NATS/1.0\r\nA: 1\r\nA: 2\r\n\tx\r\n\r\n").unwrap();
        assert_eq!(h.values("A").unwrap(), ["1", "2 x"]);
        // Folding with an all-whitespace continuation appends a space.
        let h = p("NATS/1.0\r\nA: 1\r\n  \r\n\r\n").unwrap();
        assert_eq!(h.get("A"), Some("1 "));
    }

    #[test]
    fn api_semantics() {
        let mut h = Headers::new();
        assert!(h.is_empty());
        assert_eq!(h.get("x"), None);
        assert_eq!(h.values("x"), None);
        assert!(!h.delete("x"));

        h.set("my-key", "value1");
        assert_eq!(h.get("my-key"), Some("value1"));
        assert_eq!(h.get("my-Key"), None, "keys are case-sensitive");
        h.set("my-key", "value2");
        assert_eq!(h.values("my-key").unwrap(), ["value2"]);

        h.set_opt("my-key", None);
        assert_eq!(h.get_opt("my-key"), Some(None));
        assert_eq!(h.get("my-key"), Some(""));
        assert!(h.is_null_value("my-key", 0));
        h.set("my-key", "");
        assert_eq!(h.get_opt("my-key"), Some(Some("")));
        assert!(!h.is_null_value("my-key", 0));

        h.add("two-fields", "val1");
        h.add("two-fields", "val2");
        assert_eq!(h.get("two-fields"), Some("val1"));
        assert_eq!(h.values("two-fields").unwrap(), ["val1", "val2"]);

        h.set("my-other-key", "val3");
        h.add("my-other-key", "val4");
        assert_eq!(h.values("my-other-key").unwrap(), ["val3", "val4"]);
        assert_eq!(
            h.keys().collect::<Vec<_>>(),
            ["my-key", "two-fields", "my-other-key"]
        );
        assert_eq!(h.len(), 3);

        h.set("", "ignored");
        h.add("", "ignored");
        assert_eq!(h.len(), 3);

        assert!(h.delete("my-other-key"));
        assert_eq!(h.get("my-other-key"), None);
        assert!(!h.delete("my-other-key"));
        assert_eq!(h.len(), 2);
    }

    #[test]
    fn encode_and_round_trip() {
        let mut h = Headers::new();
        assert_eq!(h.to_bytes(), b"NATS/1.0\r\n\r\n");
        assert_eq!(h.encoded_len(), 12);

        h.set("Foo", "bar");
        h.add("Foo", "baz");
        h.set("X-Multi", "line1\r\nline2");
        h.set_opt("Null", None);
        let enc = h.to_bytes();
        assert_eq!(enc.len(), h.encoded_len());
        assert_eq!(
            enc,
            b"NATS/1.0\r\nFoo: bar\r\nFoo: baz\r\nX-Multi: line1  line2\r\nNull: \r\n\r\n"
        );
        let back = Headers::parse(&enc).unwrap();
        assert_eq!(back.values("Foo").unwrap(), ["bar", "baz"]);
        assert_eq!(back.get("X-Multi"), Some("line1  line2"));
        assert_eq!(back.get("Null"), Some(""));
        assert_eq!(back.keys().collect::<Vec<_>>(), ["Foo", "X-Multi", "Null"]);

        // A parsed status block re-encodes its pseudo-headers as lines.
        let s = p("NATS/1.0 503 No Responders\r\n\r\n").unwrap();
        assert_eq!(
            s.to_bytes(),
            b"NATS/1.0\r\nStatus: 503\r\nDescription: No Responders\r\n\r\n"
        );
    }

    #[test]
    fn many_keys_use_index() {
        let mut h = Headers::new();
        for i in 0..100 {
            h.add(&format!("k{i}"), &i.to_string());
        }
        assert!(h.index.is_some());
        for i in 0..100 {
            assert_eq!(h.get(&format!("k{i}")), Some(i.to_string().as_str()));
        }
        for i in (0..100).step_by(2) {
            assert!(h.delete(&format!("k{i}")));
        }
        assert_eq!(h.len(), 50);
        for i in 0..100 {
            let got = h.get(&format!("k{i}"));
            if i % 2 == 0 {
                assert_eq!(got, None);
            } else {
                assert_eq!(got, Some(i.to_string().as_str()));
            }
        }
        let enc = h.to_bytes();
        assert_eq!(Headers::parse(&enc).unwrap(), h);
    }

    #[test]
    fn non_utf8_is_lossy_not_error() {
        let h = Headers::parse(b"NATS/1.0\r\nk: \xff\xfe\r\n\r\n").unwrap();
        assert_eq!(h.get("k"), Some("\u{fffd}\u{fffd}"));
    }

    #[test]
    fn empty_key_line_kept_like_cnats() {
        let h = p("NATS/1.0\r\n: v\r\n\r\n").unwrap();
        assert_eq!(h.keys().collect::<Vec<_>>(), [""]);
    }
}
