//! Messages: received ones point into the frame the parser split off the read buffer and
//! are queued by value; the thread that hands one to the user boxes it (one allocation per
//! message, made and usually freed on that thread). User-created ones own a small buffer
//! laid out the same way. Subject, reply and data are NUL-terminated in place.

use bytes::{BufMut, Bytes, BytesMut};

use super::headers::Headers;
use super::proto::MsgFrame;

type Range = (u32, u32);

/// `reply.0` of a message without a reply subject.
const NO_REPLY: u32 = u32::MAX;

/// 72 bytes: a received message is one of these in its subscription's queue, then on the
/// heap until the user destroys it, so a backlog costs little more than its frames.
pub struct Msg {
    buf: Bytes,
    subject: Range,
    /// `(NO_REPLY, 0)` when there is none.
    reply: Range,
    /// The header block is `hdr_start..data.0`: the data follows it.
    hdr_start: u32,
    data: Range,
    /// What few messages need: parsed or user-set headers, FFI views. Boxed so that the
    /// common message stays small.
    extra: Option<Box<Extra>>,
}

#[derive(Default)]
struct Extra {
    /// Headers once parsed or set by the user; when `None` the raw block in `buf` is current.
    headers: Option<Headers>,
    /// True once `headers` differs from the raw block (set by the user).
    modified: bool,
    /// Opaque per-message state owned by the FFI layer (C views of the headers).
    ffi_cache: Option<Box<dyn std::any::Any + Send>>,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Msg")
            .field("subject", &String::from_utf8_lossy(self.subject()))
            .field("reply", &self.reply().map(String::from_utf8_lossy))
            .field("len", &self.data().len())
            .finish()
    }
}

impl Msg {
    /// A message received from the server.
    pub fn from_frame(f: MsgFrame) -> Msg {
        debug_assert_eq!(f.hdr.1, f.data.0);
        Msg {
            buf: f.buf,
            subject: f.subject,
            reply: f.reply.unwrap_or((NO_REPLY, 0)),
            hdr_start: f.hdr.0,
            data: f.data,
            extra: None,
        }
    }

    /// A message built by the user (or by the library for a request).
    pub fn new(subject: &[u8], reply: Option<&[u8]>, data: &[u8]) -> Box<Msg> {
        Box::new(Msg::build(subject, reply, &[], data, 1))
    }

    /// The same message in its own buffer with `pad` zero bytes after the data
    /// (natsOptions_SetMessageBufferPadding).
    pub fn with_padding(&self, pad: usize) -> Msg {
        let mut m = Msg::build(self.subject(), self.reply(), self.raw_headers(), self.data(), pad);
        if let Some(x) = &self.extra {
            if x.headers.is_some() {
                m.extra = Some(Box::new(Extra { headers: x.headers.clone(), modified: x.modified, ffi_cache: None }));
            }
        }
        m
    }

    /// Lays out `subject\0[reply\0]headers data` followed by `pad` (at least one) zero bytes.
    fn build(subject: &[u8], reply: Option<&[u8]>, hdr: &[u8], data: &[u8], pad: usize) -> Msg {
        let pad = pad.max(1);
        let rlen = reply.map_or(0, |r| r.len() + 1);
        let mut b = BytesMut::with_capacity(subject.len() + 1 + rlen + hdr.len() + data.len() + pad);
        b.put_slice(subject);
        b.put_u8(0);
        let reply_r = reply.map(|r| {
            let start = b.len() as u32;
            b.put_slice(r);
            b.put_u8(0);
            (start, start + r.len() as u32)
        });
        let reply_r = reply_r.unwrap_or((NO_REPLY, 0));
        let hs = b.len() as u32;
        b.put_slice(hdr);
        let ds = b.len() as u32;
        b.put_slice(data);
        b.put_bytes(0, pad);
        Msg {
            buf: b.freeze(),
            subject: (0, subject.len() as u32),
            reply: reply_r,
            hdr_start: hs,
            data: (ds, ds + data.len() as u32),
            extra: None,
        }
    }

    /// Moves the message into a buffer of its own (a copy of its frame), releasing its
    /// share of the read buffer it was parsed from.
    pub fn unshare(&mut self) {
        self.buf = Bytes::copy_from_slice(&self.buf);
    }

    #[inline]
    fn slice(&self, r: Range) -> &[u8] {
        &self.buf[r.0 as usize..r.1 as usize]
    }

    pub fn subject(&self) -> &[u8] {
        self.slice(self.subject)
    }
    /// Pointer to the NUL-terminated subject.
    pub fn subject_ptr(&self) -> *const u8 {
        self.buf[self.subject.0 as usize..].as_ptr()
    }
    pub fn reply(&self) -> Option<&[u8]> {
        (self.reply.0 != NO_REPLY).then(|| self.slice(self.reply))
    }
    pub fn reply_ptr(&self) -> Option<*const u8> {
        (self.reply.0 != NO_REPLY).then(|| self.buf[self.reply.0 as usize..].as_ptr())
    }
    pub fn data(&self) -> &[u8] {
        self.slice(self.data)
    }
    /// Pointer to the data, which is followed by a NUL byte.
    pub fn data_ptr(&self) -> *const u8 {
        self.buf[self.data.0 as usize..].as_ptr()
    }
    /// Header bytes plus data bytes, as counted for pending-bytes limits and statistics.
    pub fn wire_len(&self) -> usize {
        (self.data.1 - self.hdr_start) as usize
    }
    pub fn raw_headers(&self) -> &[u8] {
        self.slice((self.hdr_start, self.data.0))
    }
    fn has_raw_headers(&self) -> bool {
        self.data.0 > self.hdr_start
    }
    fn parsed_headers(&self) -> Option<&Headers> {
        self.extra.as_ref().and_then(|x| x.headers.as_ref())
    }
    fn modified(&self) -> bool {
        self.extra.as_ref().is_some_and(|x| x.modified)
    }
    fn extra_mut(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(Box::default)
    }
    pub fn has_headers(&self) -> bool {
        match self.parsed_headers() {
            Some(h) => !h.is_empty() || h.status().is_some(),
            None => self.has_raw_headers(),
        }
    }

    /// The headers, parsed on first use. A malformed block reads as no headers.
    pub fn headers(&mut self) -> Option<&Headers> {
        if self.parsed_headers().is_none() && self.has_raw_headers() {
            if let Ok(h) = Headers::parse(self.raw_headers()) {
                self.extra_mut().headers = Some(h);
            }
        }
        self.parsed_headers()
    }

    /// Mutable headers, created empty when the message has none.
    pub fn headers_mut(&mut self) -> &mut Headers {
        self.headers();
        let x = self.extra_mut();
        x.modified = true;
        x.ffi_cache = None;
        x.headers.get_or_insert_with(Headers::new)
    }

    /// Opaque per-message state of the FFI layer (C views of the headers); dropped when the
    /// headers change.
    pub fn ffi_cache_mut(&mut self) -> &mut Option<Box<dyn std::any::Any + Send>> {
        &mut self.extra_mut().ffi_cache
    }

    /// Encoded header block to publish with, if any.
    pub fn encoded_headers(&self) -> Option<std::borrow::Cow<'_, [u8]>> {
        if self.modified() {
            let h = self.parsed_headers()?;
            if h.is_empty() && h.status().is_none() {
                return None;
            }
            let mut v = Vec::with_capacity(h.encoded_len());
            h.encode(&mut v);
            Some(std::borrow::Cow::Owned(v))
        } else if self.has_raw_headers() {
            Some(std::borrow::Cow::Borrowed(self.raw_headers()))
        } else {
            None
        }
    }

    /// cnats: a reply with status 503 and no data means no responders.
    pub fn is_no_responders(&mut self) -> bool {
        self.data.1 == self.data.0 && self.headers().and_then(|h| h.status()) == Some(503)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_is_small() {
        assert!(std::mem::size_of::<Msg>() <= 72, "{}", std::mem::size_of::<Msg>());
    }

    #[test]
    fn user_message_is_nul_terminated() {
        let m = Msg::new(b"foo", Some(b"bar"), b"hello");
        assert_eq!(m.subject(), b"foo");
        assert_eq!(m.reply(), Some(&b"bar"[..]));
        assert_eq!(m.data(), b"hello");
        // SAFETY: the pointers point into m.buf, which holds a NUL after each part.
        unsafe {
            assert_eq!(*m.subject_ptr().add(3), 0);
            assert_eq!(*m.reply_ptr().unwrap().add(3), 0);
            assert_eq!(*m.data_ptr().add(5), 0);
        }
        assert!(!m.has_headers());
    }

    #[test]
    fn padding_adds_zeroed_bytes_after_the_data() {
        let m = Msg::new(b"foo", Some(b"r"), b"abc").with_padding(8);
        assert_eq!((m.subject(), m.reply(), m.data()), (&b"foo"[..], Some(&b"r"[..]), &b"abc"[..]));
        // SAFETY: with_padding guarantees 8 bytes after the data.
        let after = unsafe { std::slice::from_raw_parts(m.data_ptr().add(3), 8) };
        assert_eq!(after, &[0u8; 8]);
    }

    #[test]
    fn headers_set_then_encoded() {
        let mut m = Msg::new(b"foo", None, b"");
        m.headers_mut().set("A", "1");
        assert!(m.has_headers());
        let enc = m.encoded_headers().unwrap();
        assert!(enc.starts_with(b"NATS/1.0\r\n"));
    }
}
