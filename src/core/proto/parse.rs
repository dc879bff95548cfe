//! Server -> client protocol parser.
//!
//! The parser works on the connection's read buffer. Each call either
//! returns one complete operation, consuming exactly its bytes, or reports
//! that more data is needed and leaves the buffer untouched. Only the
//! control line is searched for its line end; the payload of a `MSG`/`HMSG`
//! is located by its announced size, so a large payload arriving in small
//! pieces costs O(1) per call, not a rescan.
//!
//! Messages are returned zero-copy: the frame's bytes are split off the read
//! buffer, and the bytes that follow the subject, the reply and the payload
//! are overwritten with NUL so that each is usable in place as a C string.
//!
//! Leniency (similar to cnats): operation names are case-insensitive, any
//! run of spaces/tabs separates arguments, text after `PING`, `PONG` and
//! `+OK` is ignored, and a control line may end with a bare `\n`. A message
//! payload must be followed by CRLF.

use bytes::{Bytes, BytesMut};
use std::fmt;

/// Longest accepted control line (including its CRLF) for every operation
/// but `INFO`.
///
/// cnats itself has no limit (it grows its argument buffer). The server's
/// default `max_control_line` (4 KiB) bounds what clients send, but a
/// delivered `MSG` line also carries the sid and can be a few bytes over
/// that, and servers may be configured with a larger limit, so this is
/// deliberately more generous than 4096.
pub const MAX_CONTROL_LINE: usize = 64 * 1024;
/// Longest accepted `INFO` line: cluster `connect_urls` can be large.
pub const MAX_INFO_LINE: usize = 8 * 1024 * 1024;
/// Largest accepted message payload (headers + data), the server's own
/// hard upper bound for `max_payload`.
pub const MAX_PAYLOAD: usize = 64 * 1024 * 1024;

/// Longest excerpt of offending input quoted in an error message.
const SNIPPET_MAX: usize = 128;

/// One operation received from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerOp {
    /// `INFO {json}`: the raw JSON text (see [`super::parse_info`]).
    Info(Bytes),
    /// `MSG` or `HMSG`.
    Msg(MsgFrame),
    Ping,
    Pong,
    Ok,
    /// `-ERR '...'`: the text with surrounding spaces and quotes removed.
    Err(String),
}

/// A `MSG`/`HMSG` frame, sharing the read buffer's memory.
///
/// All ranges are `(start, end)` byte offsets into `buf`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MsgFrame {
    pub sid: u64,
    /// The whole frame: control line, payload and trailing CRLF.
    pub buf: Bytes,
    /// Subject range; `buf[subject.1] == 0`.
    pub subject: (u32, u32),
    /// Reply range if any; `buf[reply.1] == 0`.
    pub reply: Option<(u32, u32)>,
    /// Header block range: empty for `MSG`, the first `#hdr bytes` of the
    /// payload for `HMSG` (starting with `NATS/1.0`).
    pub hdr: (u32, u32),
    /// Data range (payload after the headers); `buf[data.1] == 0` (it was
    /// the CR of the trailing CRLF).
    pub data: (u32, u32),
}

#[inline]
fn range(buf: &Bytes, r: (u32, u32)) -> &[u8] {
    &buf[r.0 as usize..r.1 as usize]
}

impl MsgFrame {
    /// The subject (without its NUL terminator).
    pub fn subject(&self) -> &[u8] {
        range(&self.buf, self.subject)
    }

    /// The reply subject, if any (without its NUL terminator).
    pub fn reply(&self) -> Option<&[u8]> {
        self.reply.map(|r| range(&self.buf, r))
    }

    /// The header block (empty for `MSG`).
    pub fn headers(&self) -> &[u8] {
        range(&self.buf, self.hdr)
    }

    /// The message data, after the headers (without the NUL terminator).
    pub fn data(&self) -> &[u8] {
        range(&self.buf, self.data)
    }

    /// Header length + data length, i.e. the `#total bytes` of the frame.
    pub fn total_len(&self) -> usize {
        (self.data.1 - self.hdr.0) as usize
    }

    /// The subject including its NUL terminator.
    pub fn subject_with_nul(&self) -> &[u8] {
        &self.buf[self.subject.0 as usize..=self.subject.1 as usize]
    }

    /// The reply including its NUL terminator.
    pub fn reply_with_nul(&self) -> Option<&[u8]> {
        self.reply.map(|r| &self.buf[r.0 as usize..=r.1 as usize])
    }

    /// The data including its NUL terminator.
    pub fn data_with_nul(&self) -> &[u8] {
        &self.buf[self.data.0 as usize..=self.data.1 as usize]
    }
}

/// Protocol violation found by the parser (or in the `INFO` JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtoError {
    /// The input does not start with a known operation.
    UnknownOp(String),
    /// A `MSG`/`HMSG` control line with bad arguments.
    MalformedMsg(String),
    /// No line end within the allowed control line length.
    ControlLineTooLong { limit: usize },
    /// Announced payload larger than [`MAX_PAYLOAD`].
    PayloadTooLarge { size: u64, limit: usize },
    /// `HMSG` header length larger than its total length.
    HeaderLenTooLarge { hdr_len: u64, total_len: u64 },
    /// The bytes after the announced payload are not CRLF.
    MissingPayloadCrlf,
    /// `INFO` without JSON, or JSON that could not be decoded.
    InvalidInfo(String),
}

impl fmt::Display for ProtoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtoError::UnknownOp(s) => write!(f, "unknown protocol operation: '{s}'"),
            ProtoError::MalformedMsg(s) => write!(f, "malformed MSG control line: {s}"),
            ProtoError::ControlLineTooLong { limit } => {
                write!(f, "control line too long (no CRLF within {limit} bytes)")
            }
            ProtoError::PayloadTooLarge { size, limit } => {
                write!(
                    f,
                    "message payload of {size} bytes exceeds the {limit} bytes limit"
                )
            }
            ProtoError::HeaderLenTooLarge { hdr_len, total_len } => write!(
                f,
                "header length larger than total ({hdr_len} > {total_len})"
            ),
            ProtoError::MissingPayloadCrlf => write!(f, "message payload not followed by CRLF"),
            ProtoError::InvalidInfo(s) => write!(f, "invalid INFO: {s}"),
        }
    }
}

impl std::error::Error for ProtoError {}

fn snippet(b: &[u8]) -> String {
    String::from_utf8_lossy(&b[..b.len().min(SNIPPET_MAX)]).into_owned()
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Op {
    Msg,
    Hmsg,
    Ping,
    Pong,
    Ok,
    Err,
    Info,
}

const OPS: [(&[u8], Op); 7] = [
    (b"MSG", Op::Msg),
    (b"HMSG", Op::Hmsg),
    (b"PING", Op::Ping),
    (b"PONG", Op::Pong),
    (b"+OK", Op::Ok),
    (b"-ERR", Op::Err),
    (b"INFO", Op::Info),
];

#[inline]
fn is_arg_sep(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

#[inline]
fn is_name_end(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Identify the operation from the first bytes of `buf`. `Ok(None)` when
/// `buf` is a (case-insensitive) prefix of an operation name but too short
/// to tell; an error as soon as it cannot be any known operation.
fn identify(buf: &[u8]) -> Result<Option<Op>, ProtoError> {
    let mut plausible = false;
    for (name, op) in OPS {
        let n = buf.len().min(name.len());
        if !buf[..n].eq_ignore_ascii_case(&name[..n]) {
            continue;
        }
        if buf.len() <= name.len() {
            plausible = true;
        } else if is_name_end(buf[name.len()]) {
            return Ok(Some(op));
        }
    }
    if plausible {
        Ok(None)
    } else {
        let line_end = buf.iter().position(|&b| b == b'\n').unwrap_or(buf.len());
        Err(ProtoError::UnknownOp(snippet(&buf[..line_end])))
    }
}

/// Position of the first `needle` in `hay` (SIMD search).
#[inline]
fn find_byte(hay: &[u8], needle: u8) -> Option<usize> {
    memchr::memchr(needle, hay)
}

/// Strict decimal parser: digits only, no sign, no overflow.
fn parse_dec(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let mut n: u64 = 0;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(n)
}

enum Step {
    Done(ServerOp),
    /// Incomplete: `scanned` is where the next line-end search may resume.
    NeedMore {
        scanned: usize,
        /// Size of the whole frame when known (a MSG whose payload is incomplete), else 0.
        need: usize,
    },
}

fn parse_at(buf: &mut BytesMut, scan_from: usize) -> Result<Step, ProtoError> {
    if buf.is_empty() {
        return Ok(Step::NeedMore { scanned: 0, need: 0 });
    }
    // Fast path for what servers send most: "MSG " in upper case.
    if let Some(step) = parse_msg_canonical(buf) {
        return step;
    }
    if buf.len() > 4 && &buf[..4] == b"MSG " {
        let window_end = buf.len().min(MAX_CONTROL_LINE);
        let from = scan_from.clamp(4, window_end.max(4));
        return match find_byte(&buf[from..window_end], b'\n') {
            Some(p) => {
                let nl = from + p;
                let line_end = if buf[nl - 1] == b'\r' { nl - 1 } else { nl };
                parse_msg(buf, false, 3, line_end, nl + 1)
            }
            None if buf.len() >= MAX_CONTROL_LINE => Err(ProtoError::ControlLineTooLong { limit: MAX_CONTROL_LINE }),
            None => Ok(Step::NeedMore { scanned: window_end, need: 0 }),
        };
    }
    // Fail fast on garbage instead of waiting for a line end.
    let head = &buf[..buf.len().min(5)];
    let early = identify(head)?;
    let limit = match early {
        Some(Op::Info) | None if head[0].eq_ignore_ascii_case(&b'I') => MAX_INFO_LINE,
        _ => MAX_CONTROL_LINE,
    };

    let window_end = buf.len().min(limit);
    let from = scan_from.min(window_end);
    let nl = match find_byte(&buf[from..window_end], b'\n') {
        Some(p) => from + p,
        None => {
            if buf.len() >= limit {
                return Err(ProtoError::ControlLineTooLong { limit });
            }
            return Ok(Step::NeedMore {
                scanned: window_end,
                need: 0,
            });
        }
    };
    let ctrl_len = nl + 1;
    let line_end = if nl > 0 && buf[nl - 1] == b'\r' {
        nl - 1
    } else {
        nl
    };

    // The line end is known, so the operation name is complete.
    let op = match identify(&buf[..ctrl_len])? {
        Some(op) => op,
        None => return Err(ProtoError::UnknownOp(snippet(&buf[..line_end]))),
    };
    let name_len = OPS
        .iter()
        .find(|(_, o)| *o == op)
        .map_or(0, |(n, _)| n.len());

    match op {
        Op::Msg | Op::Hmsg => parse_msg(buf, op == Op::Hmsg, name_len, line_end, ctrl_len),
        Op::Ping | Op::Pong | Op::Ok => {
            let _ = buf.split_to(ctrl_len);
            Ok(Step::Done(match op {
                Op::Ping => ServerOp::Ping,
                Op::Pong => ServerOp::Pong,
                _ => ServerOp::Ok,
            }))
        }
        Op::Err => {
            let text = trim_err(&buf[name_len..line_end]);
            let text = String::from_utf8_lossy(text).into_owned();
            let _ = buf.split_to(ctrl_len);
            Ok(Step::Done(ServerOp::Err(text)))
        }
        Op::Info => {
            let args = &buf[name_len..line_end];
            let start = args.iter().position(|&b| !is_arg_sep(b));
            let Some(start) = start else {
                let _ = buf.split_to(ctrl_len);
                return Err(ProtoError::InvalidInfo("missing JSON".into()));
            };
            let end = args
                .iter()
                .rposition(|&b| !is_arg_sep(b) && b != b'\r')
                .map_or(start, |e| e + 1);
            let frame = buf.split_to(ctrl_len).freeze();
            Ok(Step::Done(ServerOp::Info(
                frame.slice(name_len + start..name_len + end),
            )))
        }
    }
}

/// A complete `MSG` control line in the form servers write (`MSG <subject> <sid> [<reply>]
/// <size>` with single spaces, ending in CRLF) read in one pass over its bytes, with no
/// separate line-end search. `None` for anything else (incomplete, other separators, bad
/// numbers): [`parse_msg`] then reads it with the same result or reports what is wrong.
#[inline]
fn parse_msg_canonical(buf: &mut BytesMut) -> Option<Result<Step, ProtoError>> {
    let b: &[u8] = buf;
    if b.len() <= 4 || &b[..4] != b"MSG " {
        return None;
    }
    let lim = b.len().min(MAX_CONTROL_LINE);
    // Subject, sid, reply, size: at most 4 arguments.
    let mut args = [(0usize, 0usize); 4];
    let mut count = 0;
    let mut start = 4;
    let mut i = 4;
    loop {
        let c = *b[..lim].get(i)?;
        if c > b' ' {
            i += 1;
            continue;
        }
        if c == b' ' && i > start && count < 3 {
            args[count] = (start, i);
            count += 1;
            i += 1;
            start = i;
            continue;
        }
        if c == b'\r' && i > start {
            args[count] = (start, i);
            count += 1;
            break;
        }
        return None;
    }
    if count < 3 || *b.get(i + 1)? != b'\n' {
        return None;
    }
    let sid = parse_dec(&b[args[1].0..args[1].1])?;
    let last = args[count - 1];
    let size = parse_dec(&b[last.0..last.1])?;
    let reply = (count == 4).then_some(args[2]);
    Some(finish_msg(buf, args[0], sid, reply, 0, size, i + 2))
}

/// Remove spaces, tabs, quotes (and stray CR/LF) around an `-ERR` text.
fn trim_err(s: &[u8]) -> &[u8] {
    let junk = |b: &u8| matches!(*b, b' ' | b'\t' | b'\'' | b'\r' | b'\n');
    let start = s.iter().position(|b| !junk(b)).unwrap_or(s.len());
    let end = s.iter().rposition(|b| !junk(b)).map_or(start, |e| e + 1);
    &s[start..end]
}

fn parse_msg(
    buf: &mut BytesMut,
    hmsg: bool,
    name_len: usize,
    line_end: usize,
    ctrl_len: usize,
) -> Result<Step, ProtoError> {
    let (min_args, max_args) = if hmsg { (4, 5) } else { (3, 4) };
    let line = &buf[..line_end];

    // Split the arguments (at most 5) on runs of spaces/tabs.
    let mut args = [(0usize, 0usize); 5];
    let mut count = 0;
    let mut i = name_len;
    while i < line_end {
        if is_arg_sep(line[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < line_end && !is_arg_sep(line[i]) {
            i += 1;
        }
        if count == max_args {
            count += 1;
            break;
        }
        args[count] = (start, i);
        count += 1;
    }
    if count < min_args || count > max_args {
        return Err(ProtoError::MalformedMsg(format!(
            "wrong number of arguments: '{}'",
            snippet(line)
        )));
    }
    let arg = |k: usize| &line[args[k].0..args[k].1];

    let subject = args[0];
    let sid = parse_dec(arg(1)).ok_or_else(|| {
        ProtoError::MalformedMsg(format!("bad or missing sid: '{}'", snippet(line)))
    })?;
    let reply = (count == max_args).then_some(args[2]);
    let size = parse_dec(arg(count - 1)).ok_or_else(|| {
        ProtoError::MalformedMsg(format!("bad or missing size: '{}'", snippet(line)))
    })?;
    let hdr_len = if hmsg {
        parse_dec(arg(count - 2)).ok_or_else(|| {
            ProtoError::MalformedMsg(format!("bad or missing header size: '{}'", snippet(line)))
        })?
    } else {
        0
    };
    finish_msg(buf, subject, sid, reply, hdr_len, size, ctrl_len)
}

/// The rest of a `MSG`/`HMSG` once its control line is read: waits for the payload, checks
/// its CRLF, and splits the frame off with its strings NUL-terminated in place.
#[inline]
fn finish_msg(
    buf: &mut BytesMut,
    subject: (usize, usize),
    sid: u64,
    reply: Option<(usize, usize)>,
    hdr_len: u64,
    size: u64,
    ctrl_len: usize,
) -> Result<Step, ProtoError> {
    if size > MAX_PAYLOAD as u64 {
        return Err(ProtoError::PayloadTooLarge {
            size,
            limit: MAX_PAYLOAD,
        });
    }
    if hdr_len > size {
        return Err(ProtoError::HeaderLenTooLarge {
            hdr_len,
            total_len: size,
        });
    }

    let size = size as usize;
    let hdr_len = hdr_len as usize;
    let total = ctrl_len + size + 2;
    if buf.len() < total {
        // Resume the line-end search right at this line's end next time.
        return Ok(Step::NeedMore {
            scanned: ctrl_len - 1,
            need: total,
        });
    }
    if &buf[total - 2..total] != b"\r\n" {
        return Err(ProtoError::MissingPayloadCrlf);
    }

    let mut frame = buf.split_to(total);
    // Each of subject and reply is followed by a separator (more arguments
    // always follow them): make it the C string terminator.
    frame[subject.1] = 0;
    if let Some(r) = reply {
        frame[r.1] = 0;
    }
    frame[total - 2] = 0;

    // All offsets are below MAX_CONTROL_LINE + MAX_PAYLOAD + 2 < u32::MAX.
    let o = |x: usize| x as u32;
    Ok(Step::Done(ServerOp::Msg(MsgFrame {
        sid,
        buf: frame.freeze(),
        subject: (o(subject.0), o(subject.1)),
        reply: reply.map(|r| (o(r.0), o(r.1))),
        hdr: (o(ctrl_len), o(ctrl_len + hdr_len)),
        data: (o(ctrl_len + hdr_len), o(ctrl_len + size)),
    })))
}

/// Parse one operation from the start of `buf`.
///
/// Returns `Ok(None)`, leaving `buf` untouched, when `buf` does not yet hold
/// a complete operation; otherwise consumes exactly the operation's bytes.
/// On error the connection should be considered broken (the buffer content
/// is unspecified).
pub fn parse(buf: &mut BytesMut) -> Result<Option<ServerOp>, ProtoError> {
    match parse_at(buf, 0)? {
        Step::Done(op) => Ok(Some(op)),
        Step::NeedMore { .. } => Ok(None),
    }
}

/// Stateful wrapper around [`parse`] that remembers how far the current
/// incomplete control line has been searched, so that a long line (e.g. a
/// multi-megabyte `INFO`) arriving in many reads is scanned only once.
///
/// Use one `Parser` per read buffer, and only append to that buffer between
/// calls (or call [`Parser::reset`]).
#[derive(Debug, Default, Clone)]
pub struct Parser {
    scanned: usize,
    need: usize,
}

impl Parser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Forget any progress (e.g. after the buffer was cleared).
    pub fn reset(&mut self) {
        self.scanned = 0;
        self.need = 0;
    }

    /// After `Ok(None)`: the size of the incomplete frame at the start of the buffer when
    /// known (so the reader can make room for all of it at once), else 0.
    pub fn frame_len_needed(&self) -> usize {
        self.need
    }

    /// Same contract as the free function [`parse`].
    pub fn parse(&mut self, buf: &mut BytesMut) -> Result<Option<ServerOp>, ProtoError> {
        let from = self.scanned.min(buf.len());
        match parse_at(buf, from) {
            Ok(Step::Done(op)) => {
                self.scanned = 0;
                self.need = 0;
                Ok(Some(op))
            }
            Ok(Step::NeedMore { scanned, need }) => {
                self.scanned = scanned;
                self.need = need;
                Ok(None)
            }
            Err(e) => {
                self.scanned = 0;
                self.need = 0;
                Err(e)
            }
        }
    }

    /// Like [`Parser::parse`], but hands every message to `on_msg` as it is parsed and goes
    /// on: returns the first other operation, `Ok(None)` when more input is needed, or the
    /// error. A stream of messages is parsed in one loop, without passing each one back.
    #[inline]
    pub fn parse_with(&mut self, buf: &mut BytesMut, mut on_msg: impl FnMut(MsgFrame)) -> Result<Option<ServerOp>, ProtoError> {
        loop {
            if let Some(Ok(Step::Done(ServerOp::Msg(m)))) = parse_msg_canonical(buf) {
                self.scanned = 0;
                self.need = 0;
                on_msg(m);
                continue;
            }
            // Anything else, a message cut short included, takes the general way (which
            // reads a canonical line the same way).
            match self.parse(buf)? {
                Some(ServerOp::Msg(m)) => on_msg(m),
                other => return Ok(other),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bm(s: &[u8]) -> BytesMut {
        BytesMut::from(s)
    }

    /// Parse everything in `input` at once.
    fn parse_all(input: &[u8]) -> Result<Vec<ServerOp>, ProtoError> {
        let mut buf = bm(input);
        let mut out = Vec::new();
        while let Some(op) = parse(&mut buf)? {
            out.push(op);
        }
        assert!(buf.is_empty(), "leftover: {:?}", buf);
        Ok(out)
    }

    /// Feed `input` in pieces cut at `cuts`, parsing after each piece.
    fn parse_chunked(
        input: &[u8],
        cuts: &[usize],
        stateful: bool,
    ) -> Result<Vec<ServerOp>, ProtoError> {
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        let mut parser = Parser::new();
        let mut prev = 0;
        for &c in cuts.iter().chain(std::iter::once(&input.len())) {
            buf.extend_from_slice(&input[prev..c]);
            prev = c;
            loop {
                let before = buf.clone();
                let r = if stateful {
                    parser.parse(&mut buf)?
                } else {
                    parse(&mut buf)?
                };
                match r {
                    Some(op) => out.push(op),
                    None => {
                        assert_eq!(buf, before, "buffer modified on incomplete op");
                        break;
                    }
                }
            }
        }
        assert!(buf.is_empty(), "leftover: {:?}", buf);
        Ok(out)
    }

    /// Every split point in 2 chunks, and byte by byte, both parsers.
    fn check_all_splits(input: &[u8], expected: &[ServerOp]) {
        assert_eq!(parse_all(input).unwrap(), expected);
        for stateful in [false, true] {
            for cut in 0..=input.len() {
                assert_eq!(
                    parse_chunked(input, &[cut], stateful).unwrap(),
                    expected,
                    "split at {cut}"
                );
            }
            let cuts: Vec<usize> = (1..input.len()).collect();
            assert_eq!(parse_chunked(input, &cuts, stateful).unwrap(), expected);
        }
    }

    fn msg_of(op: &ServerOp) -> &MsgFrame {
        match op {
            ServerOp::Msg(m) => m,
            other => panic!("not a MSG: {other:?}"),
        }
    }

    fn one(input: &[u8]) -> ServerOp {
        let mut v = parse_all(input).unwrap();
        assert_eq!(v.len(), 1);
        v.pop().unwrap()
    }

    #[test]
    fn ping_pong_ok() {
        check_all_splits(b"PING\r\n", &[ServerOp::Ping]);
        check_all_splits(b"PONG\r\n", &[ServerOp::Pong]);
        check_all_splits(b"+OK\r\n", &[ServerOp::Ok]);
        assert_eq!(one(b"ping\r\n"), ServerOp::Ping);
        assert_eq!(one(b"PoNg\r\n"), ServerOp::Pong);
        assert_eq!(one(b"+ok\r\n"), ServerOp::Ok);
        assert_eq!(one(b"PING \r\n"), ServerOp::Ping);
        assert_eq!(one(b"PING\n"), ServerOp::Ping);
    }

    #[test]
    fn err_op() {
        check_all_splits(
            b"-ERR 'Authorization Violation'\r\n",
            &[ServerOp::Err("Authorization Violation".into())],
        );
        assert_eq!(
            one(b"-err  'Stale Connection' \r\n"),
            ServerOp::Err("Stale Connection".into())
        );
        assert_eq!(one(b"-ERR\t'x'\r\n"), ServerOp::Err("x".into()));
        assert_eq!(
            one(b"-ERR no quotes\r\n"),
            ServerOp::Err("no quotes".into())
        );
        assert_eq!(one(b"-ERR\r\n"), ServerOp::Err(String::new()));
        assert_eq!(
            one(b"-ERR 'Permissions Violation for Subscription to \"foo\"'\r\n"),
            ServerOp::Err("Permissions Violation for Subscription to \"foo\"".into())
        );
    }

    #[test]
    fn info_op() {
        let json = br#"{"server_id":"X","version":"2.10.0","max_payload":1048576}"#;
        let mut input = b"INFO ".to_vec();
        input.extend_from_slice(json);
        input.extend_from_slice(b"\r\n");
        check_all_splits(&input, &[ServerOp::Info(Bytes::from_static(json))]);
        assert_eq!(
            one(b"info \t {}  \r\n"),
            ServerOp::Info(Bytes::from_static(b"{}"))
        );
        assert!(matches!(
            parse_all(b"INFO\r\n"),
            Err(ProtoError::InvalidInfo(_))
        ));
        assert!(matches!(
            parse_all(b"INFO   \r\n"),
            Err(ProtoError::InvalidInfo(_))
        ));
    }

    #[test]
    fn msg_without_reply() {
        let input = b"MSG foo.bar 9 5\r\nhello\r\n";
        let op = one(input);
        let m = msg_of(&op);
        assert_eq!(m.sid, 9);
        assert_eq!(m.subject(), b"foo.bar");
        assert_eq!(m.reply(), None);
        assert_eq!(m.headers(), b"");
        assert_eq!(m.data(), b"hello");
        assert_eq!(m.total_len(), 5);
        assert_eq!(m.buf.len(), input.len());
        assert_eq!(m.buf[m.subject.1 as usize], 0);
        assert_eq!(m.buf[m.data.1 as usize], 0);
        assert_eq!(m.subject_with_nul(), b"foo.bar\0");
        assert_eq!(m.data_with_nul(), b"hello\0");
        check_all_splits(input, std::slice::from_ref(&op));
    }

    #[test]
    fn msg_with_reply() {
        let input = b"MSG foo 1 _INBOX.abc 3\r\nabc\r\n";
        let op = one(input);
        let m = msg_of(&op);
        assert_eq!(m.sid, 1);
        assert_eq!(m.subject(), b"foo");
        assert_eq!(m.reply(), Some(&b"_INBOX.abc"[..]));
        assert_eq!(m.reply_with_nul(), Some(&b"_INBOX.abc\0"[..]));
        assert_eq!(m.data(), b"abc");
        assert_eq!(m.buf[m.subject.1 as usize], 0);
        assert_eq!(m.buf[m.reply.unwrap().1 as usize], 0);
        assert_eq!(m.buf[m.data.1 as usize], 0);
        check_all_splits(input, std::slice::from_ref(&op));
    }

    #[test]
    fn msg_tabs_spaces_and_case() {
        let op = one(b"msg\t foo \t 22 \t bar  \t 2 \r\nhi\r\n");
        let m = msg_of(&op);
        assert_eq!(
            (m.subject(), m.sid, m.reply(), m.data()),
            (&b"foo"[..], 22, Some(&b"bar"[..]), &b"hi"[..])
        );
        assert_eq!(m.buf[m.subject.1 as usize], 0);
        assert_eq!(m.buf[m.reply.unwrap().1 as usize], 0);
    }

    #[test]
    fn msg_payload_with_crlf_inside() {
        let op = one(b"MSG a 1 6\r\n\r\nPING\r\n");
        assert_eq!(msg_of(&op).data(), b"\r\nPING");
    }

    #[test]
    fn zero_length_payloads() {
        let input = b"MSG foo 1 0\r\n\r\n";
        let op = one(input);
        let m = msg_of(&op);
        assert_eq!(m.data(), b"");
        assert_eq!(m.total_len(), 0);
        assert_eq!(m.buf[m.data.1 as usize], 0);
        check_all_splits(input, std::slice::from_ref(&op));

        let op = one(b"HMSG foo 1 0 0\r\n\r\n");
        let m = msg_of(&op);
        assert_eq!((m.headers(), m.data()), (&b""[..], &b""[..]));
    }

    #[test]
    fn hmsg() {
        let hdr = b"NATS/1.0\r\nFoo: Bar\r\n\r\n";
        let mut input =
            format!("HMSG foo.x 7 reply.y {} {}\r\n", hdr.len(), hdr.len() + 5).into_bytes();
        input.extend_from_slice(hdr);
        input.extend_from_slice(b"hello\r\n");
        let op = one(&input);
        let m = msg_of(&op);
        assert_eq!(m.sid, 7);
        assert_eq!(m.subject(), b"foo.x");
        assert_eq!(m.reply(), Some(&b"reply.y"[..]));
        assert_eq!(m.headers(), hdr);
        assert_eq!(m.data(), b"hello");
        assert_eq!(m.total_len(), hdr.len() + 5);
        assert_eq!(m.buf[m.data.1 as usize], 0);
        check_all_splits(&input, std::slice::from_ref(&op));

        // No reply, headers only (no responders).
        let input = b"HMSG _INBOX.x 3 16 16\r\nNATS/1.0 503\r\n\r\n\r\n";
        let op = one(input);
        let m = msg_of(&op);
        assert_eq!(m.reply(), None);
        assert_eq!(m.headers(), b"NATS/1.0 503\r\n\r\n");
        assert_eq!(m.data(), b"");
        check_all_splits(input, std::slice::from_ref(&op));
    }

    #[test]
    fn several_ops_in_one_buffer() {
        let input: &[u8] = b"INFO {}\r\nPING\r\nMSG a 1 2\r\nhi\r\n+OK\r\nHMSG b 2 r 12 14\r\nNATS/1.0\r\n\r\nyo\r\nPONG\r\n-ERR 'x'\r\n";
        let ops = parse_all(input).unwrap();
        assert_eq!(ops.len(), 7);
        assert_eq!(ops[0], ServerOp::Info(Bytes::from_static(b"{}")));
        assert_eq!(ops[1], ServerOp::Ping);
        assert_eq!(msg_of(&ops[2]).data(), b"hi");
        assert_eq!(ops[3], ServerOp::Ok);
        let h = msg_of(&ops[4]);
        assert_eq!(
            (h.subject(), h.reply(), h.headers(), h.data()),
            (
                &b"b"[..],
                Some(&b"r"[..]),
                &b"NATS/1.0\r\n\r\n"[..],
                &b"yo"[..]
            )
        );
        assert_eq!(ops[5], ServerOp::Pong);
        assert_eq!(ops[6], ServerOp::Err("x".into()));
        check_all_splits(input, &ops);
    }

    #[test]
    fn incomplete_leaves_buffer_untouched() {
        for partial in [
            &b"P"[..],
            b"PIN",
            b"PING\r",
            b"MSG foo 1 5\r\nhel",
            b"MSG foo 1 5\r\nhello",
            b"MSG foo 1 5\r\nhello\r",
            b"HMSG foo 1 12 12\r\nNATS/1.0\r\n",
            b"INFO {\"a\":",
            b"-ERR 'x",
        ] {
            let mut buf = bm(partial);
            assert_eq!(parse(&mut buf).unwrap(), None, "{partial:?}");
            assert_eq!(&buf[..], partial);
        }
    }

    #[test]
    fn large_payload_in_pieces() {
        let payload = vec![b'x'; 1 << 20];
        let mut input = format!("MSG big 1 {}\r\n", payload.len()).into_bytes();
        input.extend_from_slice(&payload);
        input.extend_from_slice(b"\r\n");
        let mut parser = Parser::new();
        let mut buf = BytesMut::new();
        let mut got = None;
        for chunk in input.chunks(1000) {
            buf.extend_from_slice(chunk);
            if let Some(op) = parser.parse(&mut buf).unwrap() {
                got = Some(op);
            }
        }
        let op = got.unwrap();
        assert_eq!(msg_of(&op).data(), &payload[..]);
        assert!(buf.is_empty());
    }

    fn err_of(input: &[u8]) -> ProtoError {
        let mut buf = bm(input);
        loop {
            match parse(&mut buf) {
                Ok(Some(_)) => continue,
                Ok(None) => panic!("no error for {input:?}"),
                Err(e) => return e,
            }
        }
    }

    #[test]
    fn errors() {
        assert!(matches!(err_of(b"FOO\r\n"), ProtoError::UnknownOp(_)));
        assert!(
            matches!(err_of(b"X"), ProtoError::UnknownOp(_)),
            "fails fast"
        );
        assert!(matches!(err_of(b"PINGX\r\n"), ProtoError::UnknownOp(_)));
        assert!(matches!(err_of(b"PIX"), ProtoError::UnknownOp(_)));
        assert!(matches!(err_of(b"\r\n"), ProtoError::UnknownOp(_)));
        assert!(matches!(err_of(b" PING\r\n"), ProtoError::UnknownOp(_)));
        assert!(matches!(err_of(b"PUB foo 1\r\n"), ProtoError::UnknownOp(_)));
        assert!(matches!(
            err_of(b"MSGfoo 1 2\r\n"),
            ProtoError::UnknownOp(_)
        ));

        for bad in [
            &b"MSG\r\n"[..],
            b"MSG foo\r\n",
            b"MSG foo 1\r\n",
            b"MSG foo 1 r x 3\r\n",
            b"HMSG foo 1 3\r\n",
            b"HMSG foo 1 r x 3 3\r\n",
        ] {
            let e = err_of(bad);
            assert!(matches!(e, ProtoError::MalformedMsg(_)), "{bad:?}: {e:?}");
            assert!(e.to_string().contains("wrong number of arguments"), "{e}");
        }
        for bad in [
            &b"MSG foo x 3\r\n"[..],
            b"MSG foo -1 3\r\n",
            b"MSG foo 99999999999999999999999 3\r\n",
        ] {
            assert!(err_of(bad).to_string().contains("sid"), "{bad:?}");
        }
        for bad in [
            &b"MSG foo 1 x\r\n"[..],
            b"MSG foo 1 -3\r\n",
            b"MSG foo 1 3a\r\n",
            b"MSG foo 1 r 3.0\r\n",
        ] {
            assert!(err_of(bad).to_string().contains("size"), "{bad:?}");
        }
        assert!(err_of(b"HMSG foo 1 x 3\r\n")
            .to_string()
            .contains("header size"));
        assert_eq!(
            err_of(b"HMSG foo 1 5 3\r\n"),
            ProtoError::HeaderLenTooLarge {
                hdr_len: 5,
                total_len: 3
            }
        );
        assert!(err_of(b"HMSG foo 1 5 3\r\n")
            .to_string()
            .starts_with("header length larger than total"));
        assert!(matches!(
            err_of(b"MSG foo 1 67108865\r\n"),
            ProtoError::PayloadTooLarge { size: 67108865, .. }
        ));
        assert!(matches!(
            err_of(b"MSG foo 1 18446744073709551615\r\n"),
            ProtoError::PayloadTooLarge { .. }
        ));
        assert_eq!(
            err_of(b"MSG foo 1 3\r\nabcXY"),
            ProtoError::MissingPayloadCrlf
        );
        assert_eq!(
            err_of(b"MSG foo 1 3\r\nabc\n\r"),
            ProtoError::MissingPayloadCrlf
        );
        assert_eq!(
            err_of(b"MSG foo 1 3\r\nabcd\r\n"),
            ProtoError::MissingPayloadCrlf
        );
        assert!(err_of(b"MSG foo x 3\r\n")
            .to_string()
            .starts_with("malformed MSG control line: "));
    }

    #[test]
    fn control_line_limit() {
        // A MSG line right under the limit is fine.
        let subj = vec![b'a'; MAX_CONTROL_LINE - 16];
        let mut input = b"MSG ".to_vec();
        input.extend_from_slice(&subj);
        input.extend_from_slice(b" 1 1\r\nx\r\n");
        assert!(input.len() - 3 <= MAX_CONTROL_LINE);
        assert_eq!(msg_of(&one(&input)).subject(), &subj[..]);

        // No CRLF within the limit: error even before a CRLF ever arrives.
        let mut long = b"MSG ".to_vec();
        long.resize(MAX_CONTROL_LINE, b'a');
        let mut buf = bm(&long[..MAX_CONTROL_LINE - 1]);
        assert_eq!(parse(&mut buf).unwrap(), None);
        let mut buf = bm(&long);
        let e = parse(&mut buf).unwrap_err();
        assert_eq!(
            e,
            ProtoError::ControlLineTooLong {
                limit: MAX_CONTROL_LINE
            }
        );
        assert!(e.to_string().contains("control line too long"));
        // Same through the stateful parser fed in chunks.
        let mut p = Parser::new();
        let mut buf = BytesMut::new();
        let mut failed = false;
        for c in long.chunks(100) {
            buf.extend_from_slice(c);
            match p.parse(&mut buf) {
                Ok(None) => {}
                Err(ProtoError::ControlLineTooLong { .. }) => failed = true,
                other => panic!("{other:?}"),
            }
        }
        assert!(failed);
    }

    #[test]
    fn huge_info() {
        // Big INFO (well over the normal control line limit) is accepted.
        let mut json = b"{\"connect_urls\":[".to_vec();
        while json.len() < 3 * 1024 * 1024 {
            json.extend_from_slice(b"\"10.0.0.1:4222\",");
        }
        json.extend_from_slice(b"\"x:1\"]}");
        let mut input = b"INFO ".to_vec();
        input.extend_from_slice(&json);
        input.extend_from_slice(b"\r\n");
        let mut p = Parser::new();
        let mut buf = BytesMut::new();
        let mut got = None;
        for c in input.chunks(64 * 1024) {
            buf.extend_from_slice(c);
            if let Some(op) = p.parse(&mut buf).unwrap() {
                got = Some(op);
            }
        }
        assert_eq!(got, Some(ServerOp::Info(Bytes::from(json.clone()))));
        // And via the stateless parser.
        assert_eq!(one(&input), ServerOp::Info(Bytes::from(json)));

        // Exactly at the limit (CRLF being the last 2 bytes): ok.
        let mut at = b"info ".to_vec();
        at.resize(MAX_INFO_LINE - 2, b'x');
        at.extend_from_slice(b"\r\n");
        assert!(matches!(one(&at), ServerOp::Info(_)));

        // Beyond the limit without CRLF: error without waiting for the end.
        let mut over = b"INFO ".to_vec();
        over.resize(MAX_INFO_LINE, b'x');
        let e = err_of(&over);
        assert_eq!(
            e,
            ProtoError::ControlLineTooLong {
                limit: MAX_INFO_LINE
            }
        );
        // A short partial INFO prefix uses the INFO limit.
        let mut buf = bm(b"IN");
        assert_eq!(parse(&mut buf).unwrap(), None);
    }

    #[test]
    fn frame_is_zero_copy_slice_of_read_buffer() {
        let mut buf = BytesMut::with_capacity(1024);
        buf.extend_from_slice(b"MSG foo 1 3\r\nabc\r\nPING\r\n");
        let base = buf.as_ptr();
        let op = parse(&mut buf).unwrap().unwrap();
        assert_eq!(msg_of(&op).buf.as_ptr(), base);
        assert_eq!(&buf[..], b"PING\r\n");
    }

    /// Everything parsed from `input` until it needs more or fails.
    fn outcome(input: &[u8]) -> (Vec<ServerOp>, Option<std::mem::Discriminant<ProtoError>>, usize) {
        let mut buf = bm(input);
        let mut ops = Vec::new();
        loop {
            match parse(&mut buf) {
                Ok(Some(op)) => ops.push(op),
                Ok(None) => return (ops, None, buf.len()),
                Err(e) => return (ops, Some(std::mem::discriminant(&e)), buf.len()),
            }
        }
    }

    #[test]
    fn msg_lines_read_in_one_pass_as_the_general_reader_reads_them() {
        // Every combination of arguments and separators, whole and cut short: a `MSG` line
        // (read in one pass when canonical) gives what the same line spelled `msg` gives
        // (always read by the general reader).
        let args: &[&[u8]] = &[b"foo", b"a.b.c", b"_INBOX.x.y", b"7", b"22", b"0", b"99999999999999999999", b"-1", b"\xc3\xa9", b"x\x00y"];
        let seps: &[&[u8]] = &[b" ", b"  ", b"\t"];
        let ends: &[&[u8]] = &[b"\r\n", b"\n", b" \r\n", b"\r", b"\rx\n"];
        let mut canonical = 0;
        for n in 2..=5 {
            for pick in 0..args.len().pow(n as u32) {
                let mut line: Vec<u8> = b"MSG".to_vec();
                let mut k = pick;
                for j in 0..n {
                    line.extend_from_slice(if (pick + j) % 7 == 6 { seps[1 + (k % 2)] } else { seps[0] });
                    line.extend_from_slice(args[k % args.len()]);
                    k /= args.len();
                }
                for end in ends {
                    let mut input = line.clone();
                    input.extend_from_slice(end);
                    input.extend_from_slice(b"hello\r\nPING\r\n");
                    let fast = outcome(&input);
                    input[..3].copy_from_slice(b"msg");
                    let general = outcome(&input);
                    assert_eq!(fast, general, "{:?}", String::from_utf8_lossy(&input));
                    if parse_msg_canonical(&mut bm(&line.iter().chain(*end).copied().collect::<Vec<u8>>())).is_some() {
                        canonical += 1;
                    }
                    // Cut anywhere in the line: both need more.
                    for cut in 4..line.len() {
                        assert_eq!(outcome(&input[..cut]).2, cut);
                    }
                }
            }
        }
        // The one-pass reader took the lines in the form servers write.
        assert!(canonical > 100, "{canonical}");
        let mut buf = bm(b"MSG a.b 12 _INBOX.r 5\r\nhello\r\n");
        match parse_msg_canonical(&mut buf) {
            Some(Ok(Step::Done(ServerOp::Msg(m)))) => {
                assert_eq!((m.subject(), m.sid, m.reply(), m.data()), (&b"a.b"[..], 12, Some(&b"_INBOX.r"[..]), &b"hello"[..]))
            }
            _ => panic!("a canonical line is read in one pass"),
        }
    }

    #[test]
    fn find_byte_matches_naive() {
        let data: Vec<u8> = (0..300u32).map(|i| (i * 7 % 251) as u8).collect();
        for start in 0..40 {
            for needle in [0u8, 10, 13, 200, 250, 255] {
                let hay = &data[start..];
                assert_eq!(
                    find_byte(hay, needle),
                    hay.iter().position(|&b| b == needle)
                );
            }
        }
        assert_eq!(find_byte(b"", b'\n'), None);
        assert_eq!(find_byte(b"\x8a\x0a", b'\n'), Some(1));
    }
}
