//! Properties of the protocol parser, the `INFO` JSON decoder, `-ERR` lines
//! and the header block codec, checked on arbitrary input.
//!
//! This file only depends on `nats`, `bytes` and `serde_json` (all
//! dependencies of the main crate), so that the stable-Rust harness
//! `tests/parser_fuzz.rs` can include it with `#[path]`.
//!
//! Every violated property is a panic with a message naming it.

#![allow(dead_code)]

use bytes::BytesMut;
use nats::core::headers::Headers;
use nats::core::proto::{self, MsgFrame, Parser, ProtoError, ServerInfo, ServerOp};
use serde_json::{json, Map, Value};

// ---------------------------------------------------------------------------
// Parser: whole input vs. every split
// ---------------------------------------------------------------------------

/// Inputs up to this size are split at every byte boundary; longer ones at a
/// deterministic sample of boundaries (and still byte by byte).
pub const FULL_SPLIT_MAX: usize = 256;
/// Boundaries tried for inputs longer than [`FULL_SPLIT_MAX`].
const SAMPLED_SPLITS: usize = 96;

/// How parsing an input ended.
#[derive(Debug)]
enum End {
    /// All complete operations consumed; these bytes are an incomplete one.
    Incomplete(Vec<u8>),
    /// The parser reported an error (nothing after it is parsed).
    Error(ProtoError),
}

#[derive(Debug)]
struct Outcome {
    ops: Vec<ServerOp>,
    end: End,
}

#[derive(Clone, Copy, Debug)]
enum Mode {
    /// The free function `proto::parse`.
    Stateless,
    /// `proto::Parser`, which resumes its line-end search.
    Stateful,
    /// `Parser::parse_with`, which hands messages over as it parses them (appended to
    /// `msgs`) and returns only the other operations.
    Streaming,
}

fn parse_with(
    mode: Mode,
    parser: &mut Parser,
    buf: &mut BytesMut,
    msgs: &mut Vec<ServerOp>,
) -> Result<Option<ServerOp>, ProtoError> {
    match mode {
        Mode::Stateless => proto::parse(buf),
        Mode::Stateful => parser.parse(buf),
        Mode::Streaming => parser.parse_with(buf, |m| msgs.push(ServerOp::Msg(m))),
    }
}

/// Parse the whole input in one buffer, checking every produced frame
/// against the bytes it came from.
fn run_whole(input: &[u8]) -> Outcome {
    let mut buf = BytesMut::from(input);
    let mut parser = Parser::new();
    let mut ops = Vec::new();
    loop {
        let off = input.len() - buf.len();
        let before = buf.clone();
        match parse_with(Mode::Stateless, &mut parser, &mut buf, &mut Vec::new()) {
            Ok(Some(op)) => {
                let used = before.len() - buf.len();
                assert!(used > 0, "an operation consumed no input at offset {off}");
                assert_eq!(
                    &buf[..],
                    &input[off + used..],
                    "parse changed bytes after the operation it returned"
                );
                check_op(&op, &input[off..off + used]);
                ops.push(op);
            }
            Ok(None) => {
                assert_eq!(buf, before, "buffer modified on an incomplete operation");
                return Outcome {
                    ops,
                    end: End::Incomplete(buf.to_vec()),
                };
            }
            Err(e) => {
                // Must not panic, and must have some text.
                assert!(!e.to_string().is_empty());
                return Outcome {
                    ops,
                    end: End::Error(e),
                };
            }
        }
    }
}

/// Feed the input in pieces ending at each of `cuts` (increasing, each at
/// most `input.len()`), parsing everything possible after each piece.
fn run_chunked(input: &[u8], cuts: &[usize], mode: Mode) -> Outcome {
    let mut buf = BytesMut::new();
    let mut parser = Parser::new();
    let mut ops = Vec::new();
    let mut prev = 0;
    for &c in cuts.iter().chain(std::iter::once(&input.len())) {
        let c = c.min(input.len());
        if c < prev {
            continue;
        }
        buf.extend_from_slice(&input[prev..c]);
        prev = c;
        loop {
            let before = Snapshot::of(&buf);
            let handed = ops.len();
            match parse_with(mode, &mut parser, &mut buf, &mut ops) {
                Ok(Some(op)) => ops.push(op),
                Ok(None) => {
                    // (Messages handed over before the end were consumed, of course.)
                    assert!(
                        ops.len() > handed || before.matches(&buf),
                        "buffer modified on an incomplete operation ({mode:?}, cut at {c})"
                    );
                    break;
                }
                Err(e) => {
                    return Outcome {
                        ops,
                        end: End::Error(e),
                    }
                }
            }
        }
    }
    Outcome {
        ops,
        end: End::Incomplete(buf.to_vec()),
    }
}

/// Enough of a buffer to tell whether a call modified it: all of it when
/// small, its length and both ends otherwise (keeps byte-by-byte feeding of
/// long inputs from being quadratic in copies; `run_whole` compares fully).
struct Snapshot {
    len: usize,
    head: Vec<u8>,
    tail: Vec<u8>,
}

impl Snapshot {
    const FULL: usize = 512;
    const ENDS: usize = 64;

    fn of(b: &[u8]) -> Snapshot {
        if b.len() <= Self::FULL {
            Snapshot { len: b.len(), head: b.to_vec(), tail: Vec::new() }
        } else {
            Snapshot {
                len: b.len(),
                head: b[..Self::ENDS].to_vec(),
                tail: b[b.len() - Self::ENDS..].to_vec(),
            }
        }
    }

    fn matches(&self, b: &[u8]) -> bool {
        if b.len() != self.len {
            return false;
        }
        if b.len() <= Self::FULL {
            return b == &self.head[..];
        }
        b[..Self::ENDS] == self.head[..] && b[b.len() - Self::ENDS..] == self.tail[..]
    }
}

/// Two errors are "the same" when equal, except that an unknown-operation
/// error quotes the bytes seen so far, which depends on the split.
fn same_error(a: &ProtoError, b: &ProtoError) -> bool {
    match (a, b) {
        (ProtoError::UnknownOp(_), ProtoError::UnknownOp(_)) => true,
        _ => a == b,
    }
}

fn assert_same(input: &[u8], whole: &Outcome, other: &Outcome, what: &str) {
    if whole.ops != other.ops {
        let n = whole.ops.len().min(other.ops.len());
        let first = (0..n)
            .find(|&i| whole.ops[i] != other.ops[i])
            .unwrap_or(n);
        panic!(
            "{what}: operations differ from the whole-input parse at op #{first}\n\
             input: {:?}\nwhole: {:?}\nsplit: {:?}",
            String::from_utf8_lossy(input),
            whole.ops.get(first),
            other.ops.get(first)
        );
    }
    let ok = match (&whole.end, &other.end) {
        (End::Incomplete(a), End::Incomplete(b)) => a == b,
        (End::Error(a), End::Error(b)) => same_error(a, b),
        _ => false,
    };
    assert!(
        ok,
        "{what}: end differs from the whole-input parse\ninput: {:?}\nwhole: {:?}\nsplit: {:?}",
        String::from_utf8_lossy(input),
        whole.end,
        other.end
    );
}

/// Deterministic boundaries for long inputs: evenly spread, plus pseudo
/// random ones, plus the neighbourhood of every `\n`.
fn sampled_cuts(input: &[u8]) -> Vec<usize> {
    let n = input.len();
    let mut cuts: Vec<usize> = (0..SAMPLED_SPLITS / 2).map(|i| i * n / (SAMPLED_SPLITS / 2)).collect();
    let mut x = (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for _ in 0..SAMPLED_SPLITS / 2 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        cuts.push((x % (n as u64 + 1)) as usize);
    }
    for (i, &b) in input.iter().enumerate() {
        if b == b'\n' && cuts.len() < 4 * SAMPLED_SPLITS {
            cuts.extend([i.saturating_sub(1), i, i + 1]);
        }
    }
    cuts.retain(|&c| c <= n);
    cuts.sort_unstable();
    cuts.dedup();
    cuts
}

/// The parser property: whatever the input and however it is split into
/// reads, every way of parsing produces exactly the operations of the whole-input
/// parse (same frames, same NUL placement), then the same incomplete
/// leftover or the same error; never a panic; and a buffer left untouched
/// whenever more data is needed.
pub fn check_parser(input: &[u8]) {
    let whole = run_whole(input);

    let stateful = run_chunked(input, &[], Mode::Stateful);
    assert_same(input, &whole, &stateful, "stateful parser, one piece");
    let streaming = run_chunked(input, &[], Mode::Streaming);
    assert_same(input, &whole, &streaming, "streaming parser, one piece");

    let cuts: Vec<usize> = if input.len() <= FULL_SPLIT_MAX {
        (0..=input.len()).collect()
    } else {
        sampled_cuts(input)
    };
    for &c in &cuts {
        for mode in [Mode::Stateless, Mode::Stateful, Mode::Streaming] {
            let o = run_chunked(input, &[c], mode);
            assert_same(input, &whole, &o, &format!("{mode:?}, split at {c}"));
        }
    }

    let bytewise: Vec<usize> = (1..input.len()).collect();
    for mode in [Mode::Stateless, Mode::Stateful, Mode::Streaming] {
        let o = run_chunked(input, &bytewise, mode);
        assert_same(input, &whole, &o, &format!("{mode:?}, byte by byte"));
    }

    // Irregular pieces whose sizes come from the input itself.
    if input.len() > 2 {
        let mut irregular = Vec::new();
        let mut pos = 0usize;
        let mut i = 0usize;
        while pos < input.len() {
            pos += 1 + (input[i % input.len()] as usize % 7);
            irregular.push(pos.min(input.len()));
            i += 1;
        }
        for mode in [Mode::Stateless, Mode::Stateful, Mode::Streaming] {
            let o = run_chunked(input, &irregular, mode);
            assert_same(input, &whole, &o, &format!("{mode:?}, irregular pieces"));
        }
    }
}

/// Checks one operation against the exact bytes it was parsed from.
fn check_op(op: &ServerOp, orig: &[u8]) {
    match op {
        ServerOp::Msg(m) => check_frame(m, orig),
        ServerOp::Info(json) => {
            assert!(!orig.is_empty());
            // The JSON is a sub-slice of the line, trimmed of separators.
            let s = &json[..];
            if let (Some(&f), Some(&l)) = (s.first(), s.last()) {
                assert!(f != b' ' && f != b'\t', "INFO body starts with a separator");
                assert!(l != b' ' && l != b'\t' && l != b'\r', "INFO body ends with junk");
            }
            if orig.len() <= 4096 && !s.is_empty() {
                assert!(
                    orig.windows(s.len()).any(|w| w == s),
                    "INFO body is not a slice of its line"
                );
            }
            // Decoding never panics.
            let _ = proto::parse_info(s);
        }
        ServerOp::Err(text) => {
            let junk = |c: char| matches!(c, ' ' | '\t' | '\'' | '\r' | '\n');
            assert!(
                !text.starts_with(junk) && !text.ends_with(junk),
                "-ERR text not trimmed: {text:?}"
            );
            assert!(!text.contains('\n'), "-ERR text spans lines: {text:?}");
        }
        ServerOp::Ping | ServerOp::Pong | ServerOp::Ok => {
            assert_eq!(orig.last(), Some(&b'\n'), "control op not ended by a line end");
        }
    }
}

/// A `MsgFrame`'s invariants: ranges inside `buf`, NUL terminators where
/// documented (and only there, every other byte as received), payload
/// followed by `\0\n` (the CRLF with its CR overwritten).
fn check_frame(m: &MsgFrame, orig: &[u8]) {
    let b = &m.buf[..];
    let n = b.len();
    assert_eq!(n, orig.len(), "frame length differs from the bytes consumed");

    let (s0, s1) = (m.subject.0 as usize, m.subject.1 as usize);
    assert!(s0 < s1 && s1 < n, "subject range {:?} outside frame of {n}", m.subject);
    assert_eq!(b[s1], 0, "no NUL after the subject");
    assert!(matches!(orig[s1], b' ' | b'\t'), "subject NUL did not replace a separator");
    assert!(
        !m.subject().iter().any(|&c| c == b' ' || c == b'\t'),
        "subject contains a separator"
    );
    assert_eq!(m.subject_with_nul().last(), Some(&0));

    let mut nuls = vec![s1];
    let mut line_args_end = s1;
    if let Some((r0, r1)) = m.reply {
        let (r0, r1) = (r0 as usize, r1 as usize);
        assert!(s1 < r0 && r0 < r1 && r1 < n, "reply range {:?} bad", m.reply);
        assert_eq!(b[r1], 0, "no NUL after the reply");
        assert!(matches!(orig[r1], b' ' | b'\t'), "reply NUL did not replace a separator");
        assert!(!m.reply().unwrap().iter().any(|&c| c == b' ' || c == b'\t'));
        assert_eq!(m.reply_with_nul().unwrap().last(), Some(&0));
        nuls.push(r1);
        line_args_end = r1;
    }

    let (h0, h1) = (m.hdr.0 as usize, m.hdr.1 as usize);
    let (d0, d1) = (m.data.0 as usize, m.data.1 as usize);
    assert!(line_args_end < h0, "payload starts inside the control line");
    assert_eq!(b[h0 - 1], b'\n', "control line does not end right before the payload");
    assert!(h0 <= h1 && h1 == d0 && d0 <= d1, "hdr {:?} / data {:?} ranges inconsistent", m.hdr, m.data);
    assert_eq!(d1 + 2, n, "frame does not end 2 bytes after the data");
    assert_eq!(b[d1], 0, "no NUL after the data");
    assert_eq!(orig[d1], b'\r', "data NUL did not replace the CR of the trailing CRLF");
    assert_eq!(b[d1 + 1], b'\n');
    assert_eq!(m.data_with_nul().last(), Some(&0));
    assert_eq!(m.total_len(), d1 - h0);
    nuls.push(d1);

    for (i, (&x, &y)) in b.iter().zip(orig).enumerate() {
        if !nuls.contains(&i) {
            assert_eq!(x, y, "frame byte {i} differs from the input");
        }
    }

    let hmsg = orig.len() >= 4 && orig[..4].eq_ignore_ascii_case(b"HMSG");
    if !hmsg {
        assert_eq!(h0, h1, "MSG frame with a header block");
    } else if let Ok(h) = Headers::parse(m.headers()) {
        // Header blocks come from the network: parsing never panics, and
        // what parses re-encodes to something that parses the same.
        check_headers_roundtrip(&h);
    }
}

// ---------------------------------------------------------------------------
// Structured inputs: INFO JSON, -ERR lines, HMSG header blocks
// ---------------------------------------------------------------------------

/// Reads structured choices from fuzz bytes; returns zeros once exhausted.
pub struct Source<'a> {
    d: &'a [u8],
}

impl<'a> Source<'a> {
    pub fn new(d: &'a [u8]) -> Self {
        Source { d }
    }
    pub fn is_empty(&self) -> bool {
        self.d.is_empty()
    }
    pub fn byte(&mut self) -> u8 {
        match self.d.split_first() {
            Some((&b, rest)) => {
                self.d = rest;
                b
            }
            None => 0,
        }
    }
    pub fn u64(&mut self) -> u64 {
        let mut v = 0u64;
        for _ in 0..8 {
            v = (v << 8) | u64::from(self.byte());
        }
        v
    }
    /// Up to `max` bytes, the count chosen by the next byte.
    pub fn take(&mut self, max: usize) -> &'a [u8] {
        let n = (self.byte() as usize % (max + 1)).min(self.d.len());
        let (a, b) = self.d.split_at(n);
        self.d = b;
        a
    }
    pub fn string(&mut self, max: usize) -> String {
        String::from_utf8_lossy(self.take(max)).into_owned()
    }
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.d)
    }
}

/// Entry point of the `info_err_hmsg` target: the first byte picks the
/// kind of structured input built from the rest.
pub fn check_info_err_hmsg(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    match sel % 6 {
        0 => check_info_raw(rest),
        1 => check_info_structured(rest),
        2 => check_err_line(rest),
        3 => check_hmsg_block(rest),
        4 => check_headers_structured(rest),
        _ => check_info_line_variants(rest),
    }
}

/// Expected `INFO` body for the line `INFO<args>\r\n`: the parser trims
/// spaces/tabs in front, and spaces/tabs/CR at the end.
fn expected_info_body(args: &[u8]) -> Option<&[u8]> {
    let start = args.iter().position(|&b| b != b' ' && b != b'\t')?;
    let end = args
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t' && b != b'\r')
        .map_or(start, |e| e + 1);
    Some(&args[start..end.max(start)])
}

/// Arbitrary bytes as INFO JSON: decoding never panics, and going through
/// an `INFO` line gives the same result as decoding the bytes directly.
fn check_info_raw(json: &[u8]) {
    let direct = proto::parse_info(json);
    if json.contains(&b'\n') {
        return;
    }
    let mut line = b"INFO ".to_vec();
    line.extend_from_slice(json);
    line.extend_from_slice(b"\r\n");
    let mut args = b" ".to_vec();
    args.extend_from_slice(json);
    let mut buf = BytesMut::from(&line[..]);
    match (proto::parse(&mut buf), expected_info_body(&args)) {
        (Ok(Some(ServerOp::Info(body))), Some(exp)) => {
            assert_eq!(&body[..], exp, "INFO body not trimmed as documented");
            assert!(buf.is_empty());
            // JSON whitespace around the object does not change the result.
            let via_line = proto::parse_info(&body);
            assert_eq!(
                direct.as_ref().ok(),
                via_line.as_ref().ok(),
                "INFO decodes differently through the protocol line"
            );
        }
        (Err(ProtoError::InvalidInfo(_)), None) => {}
        (got, exp) => panic!("INFO line {line:?}: got {got:?}, expected body {exp:?}"),
    }
    if line.len() <= 256 {
        check_parser(&line);
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Str,
    Bool,
    I32,
    I64,
    U64,
    Strs,
}

const INFO_FIELDS: [(&str, Kind); 20] = [
    ("server_id", Kind::Str),
    ("server_name", Kind::Str),
    ("version", Kind::Str),
    ("go", Kind::Str),
    ("host", Kind::Str),
    ("port", Kind::I32),
    ("headers", Kind::Bool),
    ("auth_required", Kind::Bool),
    ("tls_required", Kind::Bool),
    ("tls_verify", Kind::Bool),
    ("tls_available", Kind::Bool),
    ("max_payload", Kind::I64),
    ("proto", Kind::I32),
    ("client_id", Kind::U64),
    ("client_ip", Kind::Str),
    ("nonce", Kind::Str),
    ("cluster", Kind::Str),
    ("connect_urls", Kind::Strs),
    ("ldm", Kind::Bool),
    ("jetstream", Kind::Bool),
];

/// What a field of the decoded `ServerInfo` must hold. `Int(None)` means
/// "0 or the truncated float" (floats are accepted leniently).
#[derive(Debug, PartialEq)]
enum Want {
    Str(String),
    Bool(bool),
    Int(Option<i128>, Option<f64>),
    Strs(Vec<String>),
}

fn arbitrary_value(src: &mut Source, depth: u32) -> Value {
    match src.byte() % 9 {
        0 => Value::Null,
        1 => Value::Bool(src.byte() & 1 == 1),
        2 => json!(src.u64() as i64),
        3 => json!(src.u64()),
        4 => json!(f64::from_bits(src.u64())),
        5 => Value::String(src.string(24)),
        6 if depth < 3 => {
            let n = src.byte() % 4;
            Value::Array((0..n).map(|_| arbitrary_value(src, depth + 1)).collect())
        }
        7 if depth < 3 => {
            let n = src.byte() % 4;
            let mut m = Map::new();
            for _ in 0..n {
                m.insert(src.string(8), arbitrary_value(src, depth + 1));
            }
            Value::Object(m)
        }
        _ => json!(src.byte() as i64 - 128),
    }
}

fn edge_int(src: &mut Source) -> Value {
    const EDGES: [i128; 14] = [
        0,
        1,
        -1,
        i32::MAX as i128,
        i32::MAX as i128 + 1,
        i32::MIN as i128,
        i32::MIN as i128 - 1,
        i64::MAX as i128,
        i64::MIN as i128,
        u64::MAX as i128,
        1_048_576,
        4222,
        65_535,
        -4222,
    ];
    let v = EDGES[src.byte() as usize % EDGES.len()];
    if v >= 0 {
        json!(v as u64)
    } else {
        json!(v as i64)
    }
}

fn want_for(kind: Kind, v: Option<&Value>) -> Want {
    let int_want = |lo: i128, hi: i128| -> Want {
        match v {
            Some(Value::Number(n)) => {
                if let Some(i) = n.as_i64() {
                    let i = i128::from(i);
                    Want::Int(Some(if (lo..=hi).contains(&i) { i } else { 0 }), None)
                } else if let Some(u) = n.as_u64() {
                    let u = i128::from(u);
                    Want::Int(Some(if (lo..=hi).contains(&u) { u } else { 0 }), None)
                } else {
                    Want::Int(None, n.as_f64())
                }
            }
            _ => Want::Int(Some(0), None),
        }
    };
    match kind {
        Kind::Str => Want::Str(match v {
            Some(Value::String(s)) => s.clone(),
            _ => String::new(),
        }),
        Kind::Bool => Want::Bool(matches!(v, Some(Value::Bool(true)))),
        Kind::I32 => int_want(i32::MIN.into(), i32::MAX.into()),
        Kind::I64 => int_want(i64::MIN.into(), i64::MAX.into()),
        Kind::U64 => int_want(0, u64::MAX.into()),
        Kind::Strs => Want::Strs(match v {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        }),
    }
}

fn got_for(info: &ServerInfo, name: &str) -> Want {
    match name {
        "server_id" => Want::Str(info.server_id.clone()),
        "server_name" => Want::Str(info.server_name.clone()),
        "version" => Want::Str(info.version.clone()),
        "go" => Want::Str(info.go.clone()),
        "host" => Want::Str(info.host.clone()),
        "port" => Want::Int(Some(info.port.into()), None),
        "headers" => Want::Bool(info.headers),
        "auth_required" => Want::Bool(info.auth_required),
        "tls_required" => Want::Bool(info.tls_required),
        "tls_verify" => Want::Bool(info.tls_verify),
        "tls_available" => Want::Bool(info.tls_available),
        "max_payload" => Want::Int(Some(info.max_payload.into()), None),
        "proto" => Want::Int(Some(info.proto.into()), None),
        "client_id" => Want::Int(Some(info.client_id.into()), None),
        "client_ip" => Want::Str(info.client_ip.clone()),
        "nonce" => Want::Str(info.nonce.clone()),
        "cluster" => Want::Str(info.cluster.clone()),
        "connect_urls" => Want::Strs(info.connect_urls.clone()),
        "ldm" => Want::Bool(info.ldm),
        "jetstream" => Want::Bool(info.jetstream),
        other => panic!("unknown field {other}"),
    }
}

fn matches_want(want: &Want, got: &Want) -> bool {
    match (want, got) {
        (Want::Int(None, f), Want::Int(Some(g), _)) => {
            // A float: either rejected (0) or truncated toward zero.
            *g == 0 || f.is_some_and(|f| f.is_finite() && f.trunc() as i128 == *g)
        }
        _ => want == got,
    }
}

/// An INFO object built field by field with right, wrong and edge-case
/// types: each field decodes to the value or to its default, never an
/// error, never a panic; unknown fields are ignored.
fn check_info_structured(data: &[u8]) {
    let mut src = Source::new(data);
    let mut obj = Map::new();
    for (name, kind) in INFO_FIELDS {
        let v = match src.byte() % 6 {
            0 => continue,
            1 => arbitrary_value(&mut src, 0),
            _ => match kind {
                Kind::Str => Value::String(src.string(40)),
                Kind::Bool => Value::Bool(src.byte() & 1 == 1),
                Kind::I32 | Kind::I64 | Kind::U64 => {
                    if src.byte() & 1 == 0 {
                        edge_int(&mut src)
                    } else {
                        json!(src.u64() as i64)
                    }
                }
                Kind::Strs => {
                    let n = src.byte() % 6;
                    Value::Array(
                        (0..n)
                            .map(|_| {
                                if src.byte() % 5 == 0 {
                                    arbitrary_value(&mut src, 1)
                                } else {
                                    Value::String(src.string(24))
                                }
                            })
                            .collect(),
                    )
                }
            },
        };
        obj.insert(name.to_owned(), v);
    }
    let extra = src.byte() % 4;
    for _ in 0..extra {
        let k = src.string(12);
        if INFO_FIELDS.iter().any(|(n, _)| *n == k) {
            continue;
        }
        obj.insert(k, arbitrary_value(&mut src, 0));
    }
    let text = serde_json::to_vec(&Value::Object(obj.clone())).expect("serialize");
    let info = match proto::parse_info(&text) {
        Ok(i) => i,
        Err(e) => panic!(
            "valid INFO object rejected: {e}\n{}",
            String::from_utf8_lossy(&text)
        ),
    };
    for (name, kind) in INFO_FIELDS {
        let want = want_for(kind, obj.get(name));
        let got = got_for(&info, name);
        assert!(
            matches_want(&want, &got),
            "INFO field {name}: want {want:?}, got {got:?}\n{}",
            String::from_utf8_lossy(&text)
        );
    }

    // The same object through an INFO line, as the server sends it.
    let mut line = b"INFO ".to_vec();
    line.extend_from_slice(&text);
    line.extend_from_slice(b"\r\n");
    let mut buf = BytesMut::from(&line[..]);
    match proto::parse(&mut buf) {
        Ok(Some(ServerOp::Info(body))) => {
            assert_eq!(&body[..], &text[..]);
            assert_eq!(proto::parse_info(&body).ok(), Some(info));
        }
        other => panic!("INFO line not parsed: {other:?}"),
    }
    if line.len() <= 512 {
        check_parser(&line);
    }

    // Non-object JSON is rejected, never accepted as an empty INFO.
    for bad in [&b"[]"[..], b"1", b"\"x\"", b"null", b"true"] {
        assert!(proto::parse_info(bad).is_err(), "{bad:?} accepted as INFO");
    }
}

/// The same INFO bytes with various separators/cases/line ends.
fn check_info_line_variants(data: &[u8]) {
    let mut src = Source::new(data);
    let name: &[u8] = [&b"INFO"[..], b"info", b"Info", b"iNfO"][src.byte() as usize % 4];
    let sep: &[u8] = [&b" "[..], b"\t", b"  \t ", b" \t"][src.byte() as usize % 4];
    let trail: &[u8] = [&b""[..], b" ", b"\t \t", b" \r"][src.byte() as usize % 4];
    let eol: &[u8] = [&b"\r\n"[..], b"\n"][src.byte() as usize % 2];
    let body: Vec<u8> = src
        .rest()
        .iter()
        .copied()
        .filter(|&b| b != b'\n')
        .collect();
    let mut line = name.to_vec();
    line.extend_from_slice(sep);
    line.extend_from_slice(&body);
    line.extend_from_slice(trail);
    line.extend_from_slice(eol);
    // The arguments: everything after the name up to the LF, less one CR
    // right before it.
    let mut args = line[name.len()..line.len() - 1].to_vec();
    if args.last() == Some(&b'\r') {
        args.pop();
    }
    let mut buf = BytesMut::from(&line[..]);
    match (proto::parse(&mut buf), expected_info_body(&args)) {
        (Ok(Some(ServerOp::Info(b))), Some(exp)) => {
            assert_eq!(&b[..], exp, "INFO body for line {line:?}");
            assert!(buf.is_empty());
        }
        (Err(ProtoError::InvalidInfo(_)), None) => {}
        (got, exp) => panic!("INFO line {line:?}: got {got:?}, expected body {exp:?}"),
    }
    if line.len() <= 512 {
        check_parser(&line);
    }
}

fn trim_err_model(s: &[u8]) -> &[u8] {
    let junk = |b: &u8| matches!(*b, b' ' | b'\t' | b'\'' | b'\r' | b'\n');
    let start = s.iter().position(|b| !junk(b)).unwrap_or(s.len());
    let end = s.iter().rposition(|b| !junk(b)).map_or(start, |e| e + 1);
    &s[start..end]
}

/// `-ERR` lines: the text is the argument with spaces, tabs and quotes
/// removed around it (cnats' `nats_NormalizeErr`), whatever its content.
fn check_err_line(data: &[u8]) {
    let mut src = Source::new(data);
    let name: &[u8] = [&b"-ERR"[..], b"-err", b"-Err"][src.byte() as usize % 3];
    let sep: &[u8] = [&b" "[..], b"\t", b"  ", b""][src.byte() as usize % 4];
    let quote: &[u8] = [&b"'"[..], b"", b"''", b"\""][src.byte() as usize % 4];
    let eol: &[u8] = [&b"\r\n"[..], b"\n"][src.byte() as usize % 2];
    let text: Vec<u8> = src.rest().iter().copied().filter(|&b| b != b'\n').collect();
    let mut arg = sep.to_vec();
    arg.extend_from_slice(quote);
    arg.extend_from_slice(&text);
    arg.extend_from_slice(quote);
    let mut line = name.to_vec();
    line.extend_from_slice(&arg);
    line.extend_from_slice(eol);

    let mut buf = BytesMut::from(&line[..]);
    let got = proto::parse(&mut buf);
    // Without a separator the operation name runs into the text.
    let name_ends = matches!(arg.first(), None | Some(b' ' | b'\t' | b'\r'));
    if !name_ends {
        assert!(
            matches!(got, Err(ProtoError::UnknownOp(_))),
            "{line:?}: {got:?}"
        );
        return;
    }
    // With a bare LF ending, a CR at the end of the text is not removed by
    // the line-end handling but by the trimming.
    let expected = String::from_utf8_lossy(trim_err_model(&arg)).into_owned();
    match got {
        Ok(Some(ServerOp::Err(t))) => {
            assert_eq!(t, expected, "-ERR text for {line:?}");
            assert!(buf.is_empty());
        }
        other => panic!("-ERR line {line:?} not parsed: {other:?}"),
    }
    if line.len() <= 512 {
        check_parser(&line);
    }
}

/// Header blocks as received in `HMSG`: `Headers::parse` never panics, the
/// block is located exactly by the announced sizes, and a parsed block
/// re-encodes to something that parses to the same (normalized) headers.
fn check_hmsg_block(data: &[u8]) {
    let Some((&p, rest)) = data.split_first() else {
        return;
    };
    let plen = (p as usize % 16).min(rest.len());
    let (block, payload) = rest.split_at(rest.len() - plen);
    // Always a candidate block too: what follows a valid prefix.
    let mut prefixed = b"NATS/1.0".to_vec();
    prefixed.extend_from_slice(block);
    for b in [block, &prefixed[..]] {
        if let Ok(h) = Headers::parse(b) {
            check_headers_roundtrip(&h);
        }
    }

    let reply = p & 0x80 != 0;
    let mut frame = format!(
        "HMSG subj.x 7 {}{} {}\r\n",
        if reply { "_INBOX.r " } else { "" },
        block.len(),
        block.len() + payload.len()
    )
    .into_bytes();
    frame.extend_from_slice(block);
    frame.extend_from_slice(payload);
    frame.extend_from_slice(b"\r\n");
    let mut buf = BytesMut::from(&frame[..]);
    match proto::parse(&mut buf) {
        Ok(Some(ServerOp::Msg(m))) => {
            assert_eq!(m.sid, 7);
            assert_eq!(m.subject(), b"subj.x");
            assert_eq!(m.reply(), reply.then_some(&b"_INBOX.r"[..]));
            assert_eq!(m.headers(), block, "header block not located by its size");
            assert_eq!(m.data(), payload, "data not located by the sizes");
            assert!(buf.is_empty());
            check_frame(&m, &frame);
        }
        other => panic!("HMSG frame not parsed: {other:?}"),
    }
    if frame.len() <= 512 {
        check_parser(&frame);
    }
}

fn is_c_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\u{0b}' | '\u{0c}')
}

/// What a value becomes after `encode` then `parse`: CR/LF turned into
/// spaces by the encoder, surrounding whitespace trimmed by the parser.
fn normalize_value(v: &str) -> String {
    let v: String = v
        .chars()
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .collect();
    v.trim_matches(is_c_space).to_owned()
}

fn snapshot(h: &Headers) -> Vec<(String, Vec<String>)> {
    h.iter()
        .map(|(k, vs)| (k.to_owned(), vs.to_vec()))
        .collect()
}

/// `encode` → `parse` of any header map gives the same keys in the same
/// order with normalized values; a second round trip is the identity.
pub fn check_headers_roundtrip(h: &Headers) {
    let enc = h.to_bytes();
    assert_eq!(enc.len(), h.encoded_len(), "encoded_len differs from encode");
    let h2 = match Headers::parse(&enc) {
        Ok(h2) => h2,
        Err(e) => panic!(
            "encoded headers do not parse back: {e}\nheaders: {:?}\nencoded: {:?}",
            snapshot(h),
            String::from_utf8_lossy(&enc)
        ),
    };
    let want: Vec<(String, Vec<String>)> = h
        .iter()
        .map(|(k, vs)| (k.to_owned(), vs.iter().map(|v| normalize_value(v)).collect()))
        .collect();
    assert_eq!(
        snapshot(&h2),
        want,
        "encode/parse round trip changed the headers\nencoded: {:?}",
        String::from_utf8_lossy(&enc)
    );
    let enc2 = h2.to_bytes();
    let h3 = Headers::parse(&enc2).expect("second round trip");
    assert_eq!(h3, h2, "second round trip is not the identity");
    assert_eq!(enc2, h3.to_bytes());
}

/// A key the wire format can carry: no `:`, no CR/LF, not starting with
/// whitespace, not empty.
fn sanitize_key(k: String) -> String {
    let k: String = k
        .chars()
        .map(|c| if c == ':' || c == '\r' || c == '\n' { '_' } else { c })
        .collect();
    k.trim_start_matches(is_c_space).to_owned()
}

/// A header map built with set/add/delete (including C NULL values)
/// behaves like a simple ordered multimap model, and round-trips.
fn check_headers_structured(data: &[u8]) {
    let mut src = Source::new(data);
    let mut h = Headers::new();
    // (key, values with None for a C NULL)
    let mut model: Vec<(String, Vec<Option<String>>)> = Vec::new();
    let mut keys_seen: Vec<String> = Vec::new();
    let mut steps = 0;
    while !src.is_empty() && steps < 64 {
        steps += 1;
        let op = src.byte();
        // Reuse an earlier key half of the time so that set/add/delete hit.
        let key = if op & 0x10 != 0 && !keys_seen.is_empty() {
            keys_seen[src.byte() as usize % keys_seen.len()].clone()
        } else {
            sanitize_key(src.string(12))
        };
        if key.is_empty() {
            continue;
        }
        keys_seen.push(key.clone());
        let value = if op & 0x20 != 0 { None } else { Some(src.string(24)) };
        let pos = model.iter().position(|(k, _)| *k == key);
        match op % 3 {
            0 => {
                h.set_opt(&key, value.as_deref());
                match pos {
                    Some(i) => model[i].1 = vec![value],
                    None => model.push((key.clone(), vec![value])),
                }
            }
            1 => {
                h.add_opt(&key, value.as_deref());
                match pos {
                    Some(i) => model[i].1.push(value),
                    None => model.push((key.clone(), vec![value])),
                }
            }
            _ => {
                let deleted = h.delete(&key);
                assert_eq!(deleted, pos.is_some(), "delete({key:?}) result");
                if let Some(i) = pos {
                    model.remove(i);
                }
            }
        }
    }
    let want: Vec<(String, Vec<String>)> = model
        .iter()
        .map(|(k, vs)| {
            (
                k.clone(),
                vs.iter().map(|v| v.clone().unwrap_or_default()).collect(),
            )
        })
        .collect();
    assert_eq!(snapshot(&h), want, "header map differs from the model");
    assert_eq!(h.len(), model.len());
    for (k, vs) in &model {
        assert_eq!(h.get(k), Some(vs[0].as_deref().unwrap_or("")));
        assert_eq!(h.get_opt(k), Some(vs[0].as_deref()), "get_opt({k:?})");
        for (i, v) in vs.iter().enumerate() {
            assert_eq!(h.is_null_value(k, i), v.is_none(), "is_null_value({k:?}, {i})");
        }
    }
    for k in &keys_seen {
        if !model.iter().any(|(mk, _)| mk == k) {
            assert_eq!(h.get(k), None, "deleted key {k:?} still found");
        }
    }
    check_headers_roundtrip(&h);

    // The encoded block is a valid HMSG header block.
    let block = h.to_bytes();
    let mut frame = format!("HMSG a 1 {} {}\r\n", block.len(), block.len()).into_bytes();
    frame.extend_from_slice(&block);
    frame.extend_from_slice(b"\r\n");
    let mut buf = BytesMut::from(&frame[..]);
    match proto::parse(&mut buf) {
        Ok(Some(ServerOp::Msg(m))) => assert_eq!(m.headers(), &block[..]),
        other => panic!("HMSG with encoded headers not parsed: {other:?}"),
    }
}
