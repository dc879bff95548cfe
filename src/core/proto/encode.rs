//! Client -> server protocol encoder.
//!
//! Everything is appended straight to the caller's `BytesMut`, with the
//! exact size reserved up front and integers formatted on the stack.

use bytes::BytesMut;

/// `PING` operation.
pub const PING: &[u8] = b"PING\r\n";
/// `PONG` operation.
pub const PONG: &[u8] = b"PONG\r\n";

const CRLF: &[u8] = b"\r\n";

/// Pairs of decimal digits "00".."99", for formatting two digits at a time.
const DIGIT_PAIRS: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Number of decimal digits of `n`.
#[inline]
pub fn dec_len(mut n: u64) -> usize {
    let mut len = 1;
    while n >= 10_000 {
        n /= 10_000;
        len += 4;
    }
    while n >= 10 {
        n /= 10;
        len += 1;
    }
    len
}

/// Append `n` in decimal.
#[inline]
fn put_dec(out: &mut BytesMut, n: u64) {
    let mut tmp = [0u8; 20];
    let i = fmt_dec(&mut tmp, n);
    out.extend_from_slice(&tmp[i..]);
}

/// Formats `n` at the end of `tmp`; returns where the digits start.
#[inline]
fn fmt_dec(tmp: &mut [u8; 20], mut n: u64) -> usize {
    let mut i = tmp.len();
    while n >= 100 {
        let d = (n % 100) as usize * 2;
        n /= 100;
        i -= 2;
        tmp[i..i + 2].copy_from_slice(&DIGIT_PAIRS[d..d + 2]);
    }
    if n >= 10 {
        let d = n as usize * 2;
        i -= 2;
        tmp[i..i + 2].copy_from_slice(&DIGIT_PAIRS[d..d + 2]);
    } else {
        i -= 1;
        tmp[i] = b'0' + n as u8;
    }
    i
}

/// Exact size of the frame written by [`encode_pub`] for these lengths
/// (`reply_len == 0`: no reply; `hdr_len == 0`: `PUB`, else `HPUB`).
pub fn pub_frame_len(
    subject_len: usize,
    reply_len: usize,
    hdr_len: usize,
    payload_len: usize,
) -> usize {
    let reply = if reply_len > 0 { reply_len + 1 } else { 0 };
    if hdr_len > 0 {
        let total = hdr_len + payload_len;
        // "HPUB " subj " " [reply " "] hdr " " total CRLF hdrs payload CRLF
        5 + subject_len
            + 1
            + reply
            + dec_len(hdr_len as u64)
            + 1
            + dec_len(total as u64)
            + 2
            + total
            + 2
    } else {
        // "PUB " subj " " [reply " "] size CRLF payload CRLF
        4 + subject_len + 1 + reply + dec_len(payload_len as u64) + 2 + payload_len + 2
    }
}

/// Appends the control line of [`encode_pub`]'s frame alone (up to and including its CRLF),
/// for a caller that sends the headers, the payload and the final CRLF from where they are.
pub fn encode_pub_head(out: &mut BytesMut, subject: &[u8], reply: Option<&[u8]>, hdr_len: usize, payload_len: usize) {
    out.extend_from_slice(if hdr_len > 0 { b"HPUB " } else { b"PUB " });
    out.extend_from_slice(subject);
    out.extend_from_slice(b" ");
    if let Some(r) = reply.filter(|r| !r.is_empty()) {
        out.extend_from_slice(r);
        out.extend_from_slice(b" ");
    }
    if hdr_len > 0 {
        put_dec(out, hdr_len as u64);
        out.extend_from_slice(b" ");
    }
    put_dec(out, (hdr_len + payload_len) as u64);
    out.extend_from_slice(CRLF);
}

/// Append `PUB <subject> [reply] <#bytes>\r\n<payload>\r\n`, or, when
/// `headers` is present and non-empty,
/// `HPUB <subject> [reply] <#hdr bytes> <#total bytes>\r\n<headers><payload>\r\n`.
/// An empty reply is treated as no reply.
pub fn encode_pub(
    out: &mut BytesMut,
    subject: &[u8],
    reply: Option<&[u8]>,
    headers: Option<&[u8]>,
    payload: &[u8],
) {
    let reply = reply.filter(|r| !r.is_empty());
    let headers = headers.filter(|h| !h.is_empty());
    let hdr_len = headers.map_or(0, <[u8]>::len);
    let total = pub_frame_len(subject.len(), reply.map_or(0, <[u8]>::len), hdr_len, payload.len());
    out.reserve(total);
    // One pass into the reserved space (the hot path of every publish).
    let mut w = FrameWriter { buf: &mut out.spare_capacity_mut()[..total], pos: 0 };
    w.put(if headers.is_some() { b"HPUB " } else { b"PUB " });
    w.put(subject);
    w.put(b" ");
    if let Some(r) = reply {
        w.put(r);
        w.put(b" ");
    }
    if let Some(h) = headers {
        w.put_dec(h.len() as u64);
        w.put(b" ");
    }
    w.put_dec((hdr_len + payload.len()) as u64);
    w.put(CRLF);
    if let Some(h) = headers {
        w.put(h);
    }
    w.put(payload);
    w.put(CRLF);
    // Every byte of the `total` reserved ones was written: safe to expose them.
    assert_eq!(w.pos, total);
    // SAFETY: the first `total` spare bytes were initialised just above.
    unsafe { out.set_len(out.len() + total) };
}

/// Writes into uninitialised spare capacity, tracking how much is filled.
struct FrameWriter<'a> {
    buf: &'a mut [std::mem::MaybeUninit<u8>],
    pos: usize,
}

impl FrameWriter<'_> {
    #[inline]
    fn put(&mut self, b: &[u8]) {
        let dst = &mut self.buf[self.pos..self.pos + b.len()];
        // SAFETY: `dst` is exactly `b.len()` writable bytes (bounds checked above), and a
        // `&[u8]` cannot overlap the `&mut` spare capacity.
        unsafe { std::ptr::copy_nonoverlapping(b.as_ptr(), dst.as_mut_ptr().cast::<u8>(), b.len()) };
        self.pos += b.len();
    }

    #[inline]
    fn put_dec(&mut self, n: u64) {
        let mut tmp = [0u8; 20];
        let i = fmt_dec(&mut tmp, n);
        self.put(&tmp[i..]);
    }
}

/// Append `SUB <subject> [queue] <sid>\r\n`. An empty queue is treated as
/// no queue.
pub fn encode_sub(out: &mut BytesMut, subject: &[u8], queue: Option<&[u8]>, sid: u64) {
    let queue = queue.filter(|q| !q.is_empty());
    out.reserve(4 + subject.len() + 1 + queue.map_or(0, |q| q.len() + 1) + dec_len(sid) + 2);
    out.extend_from_slice(b"SUB ");
    out.extend_from_slice(subject);
    out.extend_from_slice(b" ");
    if let Some(q) = queue {
        out.extend_from_slice(q);
        out.extend_from_slice(b" ");
    }
    put_dec(out, sid);
    out.extend_from_slice(CRLF);
}

/// Append `UNSUB <sid> [max]\r\n`. Like cnats, a max of 0 means "no max".
pub fn encode_unsub(out: &mut BytesMut, sid: u64, max: Option<u64>) {
    let max = max.filter(|&m| m > 0);
    out.reserve(6 + dec_len(sid) + max.map_or(0, |m| dec_len(m) + 1) + 2);
    out.extend_from_slice(b"UNSUB ");
    put_dec(out, sid);
    if let Some(m) = max {
        out.extend_from_slice(b" ");
        put_dec(out, m);
    }
    out.extend_from_slice(CRLF);
}

/// Append `CONNECT <json>\r\n`.
pub fn encode_connect(out: &mut BytesMut, json: &[u8]) {
    out.reserve(8 + json.len() + 2);
    out.extend_from_slice(b"CONNECT ");
    out.extend_from_slice(json);
    out.extend_from_slice(CRLF);
}

#[cfg(test)]
mod tests {
    use super::super::parse::{parse, ServerOp};
    use super::*;

    fn enc_pub(s: &[u8], r: Option<&[u8]>, h: Option<&[u8]>, p: &[u8]) -> BytesMut {
        let mut out = BytesMut::new();
        encode_pub(&mut out, s, r, h, p);
        let rl = r.map_or(0, <[u8]>::len);
        let hl = h.map_or(0, <[u8]>::len);
        assert_eq!(out.len(), pub_frame_len(s.len(), rl, hl, p.len()));
        out
    }

    #[test]
    fn decimal_formatting() {
        for n in [
            0u64,
            1,
            9,
            10,
            11,
            99,
            100,
            101,
            999,
            1000,
            12345,
            99999,
            100000,
            1 << 32,
            u64::MAX - 1,
            u64::MAX,
        ] {
            let mut b = BytesMut::new();
            put_dec(&mut b, n);
            assert_eq!(&b[..], n.to_string().as_bytes());
            assert_eq!(dec_len(n), n.to_string().len());
        }
        for n in 0..100_000u64 {
            let mut b = BytesMut::new();
            put_dec(&mut b, n);
            assert_eq!(&b[..], n.to_string().as_bytes());
        }
    }

    #[test]
    fn pub_exact_bytes() {
        assert_eq!(
            &enc_pub(b"foo", None, None, b"hello")[..],
            b"PUB foo 5\r\nhello\r\n"
        );
        assert_eq!(
            &enc_pub(b"foo", Some(b"bar"), None, b"hi")[..],
            b"PUB foo bar 2\r\nhi\r\n"
        );
        assert_eq!(
            &enc_pub(b"foo", Some(b""), None, b"")[..],
            b"PUB foo 0\r\n\r\n"
        );
        assert_eq!(
            &enc_pub(b"foo", None, Some(b""), b"x")[..],
            b"PUB foo 1\r\nx\r\n"
        );
        let h = b"NATS/1.0\r\nA: B\r\n\r\n";
        assert_eq!(
            &enc_pub(b"foo", Some(b"_INBOX.1"), Some(h), b"data")[..],
            &b"HPUB foo _INBOX.1 18 22\r\nNATS/1.0\r\nA: B\r\n\r\ndata\r\n"[..]
        );
        assert_eq!(
            &enc_pub(b"foo", None, Some(h), b"")[..],
            &b"HPUB foo 18 18\r\nNATS/1.0\r\nA: B\r\n\r\n\r\n"[..]
        );
    }

    #[test]
    fn pub_head_then_parts_equals_the_whole_frame() {
        // (subject, reply, headers, payload length)
        type Case<'a> = (&'a [u8], Option<&'a [u8]>, Option<&'a [u8]>, usize);
        let cases: [Case; 5] = [
            (b"a", None, None, 0),
            (b"a.b", Some(b"in.1"), None, 40_000),
            (b"a", Some(b""), None, 7),
            (b"h", None, Some(b"NATS/1.0\r\nk: v\r\n\r\n"), 33_000),
            (b"h", Some(b"r"), Some(b"NATS/1.0\r\n\r\n"), 0),
        ];
        for (s, r, h, n) in cases {
            let payload = vec![b'x'; n];
            let whole = enc_pub(s, r, h, &payload);
            let mut parts = BytesMut::new();
            encode_pub_head(&mut parts, s, r, h.map_or(0, <[u8]>::len), n);
            parts.extend_from_slice(h.unwrap_or_default());
            parts.extend_from_slice(&payload);
            parts.extend_from_slice(CRLF);
            assert_eq!(parts, whole, "subject {s:?} reply {r:?} headers {h:?} payload {n}");
        }
    }

    #[test]
    fn pub_appends() {
        let mut out = BytesMut::from(&b"PING\r\n"[..]);
        encode_pub(&mut out, b"a", None, None, b"b");
        assert_eq!(&out[..], b"PING\r\nPUB a 1\r\nb\r\n");
    }

    #[test]
    fn pub_round_trip_through_parser() {
        // Rewrite "PUB s [r] ..." as "MSG s <sid> [r] ..." and parse it back.
        let h = b"NATS/1.0\r\nK: V\r\n\r\n";
        type Case<'a> = (&'a [u8], Option<&'a [u8]>, Option<&'a [u8]>, &'a [u8]);
        let cases: [Case; 4] = [
            (b"foo.bar", None, None, b"payload"),
            (b"foo", Some(b"reply.to"), None, b""),
            (b"foo", Some(b"r"), Some(h), b"data\r\nmore"),
            (b"x", None, Some(h), b""),
        ];
        for (s, r, hd, p) in cases {
            let out = enc_pub(s, r, hd, p);
            let (op_len, msg_op): (usize, &[u8]) = if out.starts_with(b"HPUB ") {
                (5, b"HMSG ")
            } else {
                (4, b"MSG ")
            };
            let mut wire = msg_op.to_vec();
            wire.extend_from_slice(s);
            wire.extend_from_slice(b" 42");
            wire.extend_from_slice(&out[op_len + s.len()..]);
            let mut buf = BytesMut::from(&wire[..]);
            let Some(ServerOp::Msg(m)) = parse(&mut buf).unwrap() else {
                panic!()
            };
            assert!(buf.is_empty());
            assert_eq!(m.sid, 42);
            assert_eq!(m.subject(), s);
            assert_eq!(m.reply(), r);
            assert_eq!(m.headers(), hd.unwrap_or(b""));
            assert_eq!(m.data(), p);
        }
    }

    #[test]
    fn sub_unsub_connect_ping_pong() {
        let mut out = BytesMut::new();
        encode_sub(&mut out, b"foo.*", None, 1);
        assert_eq!(&out[..], b"SUB foo.* 1\r\n");
        out.clear();
        encode_sub(&mut out, b"foo", Some(b"workers"), 18446744073709551615);
        assert_eq!(&out[..], b"SUB foo workers 18446744073709551615\r\n");
        out.clear();
        encode_sub(&mut out, b"foo", Some(b""), 7);
        assert_eq!(&out[..], b"SUB foo 7\r\n");
        out.clear();
        encode_unsub(&mut out, 3, None);
        assert_eq!(&out[..], b"UNSUB 3\r\n");
        out.clear();
        encode_unsub(&mut out, 3, Some(10));
        assert_eq!(&out[..], b"UNSUB 3 10\r\n");
        out.clear();
        encode_unsub(&mut out, 3, Some(0));
        assert_eq!(&out[..], b"UNSUB 3\r\n");
        out.clear();
        encode_connect(&mut out, b"{\"verbose\":false}");
        assert_eq!(&out[..], b"CONNECT {\"verbose\":false}\r\n");
        assert_eq!(PING, b"PING\r\n");
        assert_eq!(PONG, b"PONG\r\n");
    }

    #[test]
    fn every_short_length_is_copied_exactly() {
        // Each length around the word-sized copies, with distinct bytes so that a misplaced
        // or overlapping word shows.
        for sl in 1..=40usize {
            for pl in 0..=40usize {
                let s: Vec<u8> = (0..sl).map(|i| b'A' + (i % 26) as u8).collect();
                let p: Vec<u8> = (0..pl).map(|i| (i * 37 + 1) as u8).collect();
                let mut out = BytesMut::new();
                encode_pub(&mut out, &s, Some(&s[..sl / 2]), None, &p);
                let mut want = Vec::new();
                want.extend_from_slice(b"PUB ");
                want.extend_from_slice(&s);
                want.push(b' ');
                if sl / 2 > 0 {
                    want.extend_from_slice(&s[..sl / 2]);
                    want.push(b' ');
                }
                want.extend_from_slice(format!("{pl}\r\n").as_bytes());
                want.extend_from_slice(&p);
                want.extend_from_slice(b"\r\n");
                assert_eq!(&out[..], &want[..], "subject {sl}, payload {pl}");
            }
        }
    }

    #[test]
    fn frame_len_matches_for_many_sizes() {
        for sl in [1usize, 5, 100] {
            for rl in [0usize, 1, 30] {
                for hl in [0usize, 12, 999, 1000] {
                    for pl in [0usize, 9, 10, 99_999, 100_000] {
                        let s = vec![b's'; sl];
                        let r = vec![b'r'; rl];
                        let h = vec![b'h'; hl];
                        let p = vec![b'p'; pl];
                        enc_pub(&s, Some(&r), Some(&h), &p);
                    }
                }
            }
        }
    }
}
