//! A connection whose socket an external event loop polls (cnats' natsOptions_SetEventLoop).
//!
//! The connect handshake, reconnects, PINGs and message delivery work as usual. Only the
//! socket of an established session is left to the loop: after each connect the loop is
//! asked to watch it for input (`attach`), and the library reads it only when the loop
//! reports input ([`Conn::el_read_event`]) and writes it only when the loop reports room
//! ([`Conn::el_write_event`]), asking for write events while anything is buffered. When a
//! session ends, the loop is told to stop polling both ways and closes the socket itself
//! (natsConnection_ProcessCloseEvent); when the connection is closed it is detached, and
//! the loop hands the connection back (natsConnection_ProcessDetachedEvent).

use std::io::{self, Read, Write};
use std::os::fd::{IntoRawFd, RawFd};

use bytes::{BufMut, BytesMut};

use super::{closed_by_server, io_err, Conn, ReadSide, SessionEnd, READ_CHUNK_MIN, OUT_SHRINK_ABOVE};
use crate::core::status::{Error, Result, Status};
use crate::core::tls::NatsStream;

/// A session's socket while a loop polls it. The descriptor belongs to the loop's adapter
/// once attached: it is shut down here, never closed.
pub(super) struct ElIo {
    fd: RawFd,
    tls: Option<Box<rustls::ClientConnection>>,
    /// Decrypted input is copied from rustls' buffer through here.
    scratch: Vec<u8>,
}

/// Raw reads and writes on a descriptor this module does not own.
struct FdIo(RawFd);

impl Read for FdIo {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: reads into a live, writable slice of the given length.
        let n = unsafe { libc::read(self.0, buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }
}

impl Write for FdIo {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // SAFETY: sends from a live slice; MSG_NOSIGNAL: a closed peer is an error, not a
        // SIGPIPE for the host program.
        let n = unsafe { libc::send(self.0, buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl ElIo {
    /// Takes the session's socket out of the runtime (non-blocking, as the loop needs it).
    /// Input rustls already decrypted goes to the end of `rbuf`. Must run on the runtime.
    pub(super) fn from_stream(stream: NatsStream, rbuf: &mut BytesMut) -> io::Result<ElIo> {
        let (tcp, tls) = match stream {
            NatsStream::Plain(s) => (s, None),
            NatsStream::Tls(s) => {
                let (tcp, conn) = s.into_inner();
                (tcp, Some(Box::new(conn)))
            }
        };
        let std = tcp.into_std()?;
        std.set_nonblocking(true)?;
        let mut io = ElIo { fd: std.into_raw_fd(), tls, scratch: Vec::new() };
        if io.tls.is_some() {
            io.scratch = vec![0; 64 * 1024];
            match io.drain_plaintext(rbuf) {
                Err(e) if e.kind() != io::ErrorKind::WouldBlock => {
                    io.close();
                    return Err(e);
                }
                _ => {}
            }
        }
        Ok(io)
    }

    pub(super) fn fd(&self) -> RawFd {
        self.fd
    }

    /// Closes the descriptor: only for a socket the loop never got.
    pub(super) fn close(self) {
        // SAFETY: the descriptor is still ours (never attached) and closed once.
        unsafe { libc::close(self.fd) };
    }

    /// Stops both directions, so the server sees the session end even before the loop
    /// closes the socket.
    fn shutdown(&self) {
        // SAFETY: shutdown takes no pointers; the descriptor is open until the loop closes it.
        unsafe { libc::shutdown(self.fd, libc::SHUT_RDWR) };
    }

    /// Moves what rustls has decrypted to `buf`; `Ok(0)` after the server's close_notify.
    fn drain_plaintext(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        let Some(tls) = self.tls.as_mut() else { return Ok(0) };
        let mut total = 0;
        loop {
            match tls.reader().read(&mut self.scratch) {
                Ok(0) => return Ok(total),
                Ok(n) => {
                    buf.extend_from_slice(&self.scratch[..n]);
                    total += n;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return if total > 0 { Ok(total) } else { Err(e) };
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// One read of what the socket has (decrypted for TLS) to the end of `buf`. `Ok(0)` is
    /// the end of the stream; `WouldBlock` means nothing (complete) arrived.
    fn read_into(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        if self.tls.is_none() {
            let spare = buf.spare_capacity_mut();
            // SAFETY: reads into the buffer's unused capacity; only what the kernel filled
            // is marked as initialised below.
            let n = unsafe { libc::read(self.fd, spare.as_mut_ptr().cast(), spare.len()) };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: the kernel initialised these `n` bytes.
            unsafe { buf.advance_mut(n as usize) };
            return Ok(n as usize);
        }
        let tls = self.tls.as_mut().expect("checked above");
        let n = tls.read_tls(&mut FdIo(self.fd))?;
        if n == 0 {
            return Ok(0);
        }
        tls.process_new_packets().map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        // Alerts or key updates rustls wants to send go out now, as far as the socket takes.
        self.flush_tls()?;
        self.drain_plaintext(buf)
    }

    /// Hands as much of `data` as the socket (or rustls) takes now; returns how much.
    fn write_from(&mut self, data: &[u8]) -> io::Result<usize> {
        match self.tls.as_mut() {
            None => FdIo(self.fd).write(data),
            Some(tls) => {
                let n = tls.writer().write(data)?;
                self.flush_tls()?;
                Ok(n)
            }
        }
    }

    /// Sends TLS records rustls holds until the socket is full (not an error).
    fn flush_tls(&mut self) -> io::Result<()> {
        let Some(tls) = self.tls.as_mut() else { return Ok(()) };
        while tls.wants_write() {
            match tls.write_tls(&mut FdIo(self.fd)) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// TLS records wait for room in the socket.
    fn records_pending(&self) -> bool {
        self.tls.as_ref().is_some_and(|t| t.wants_write())
    }

    /// Writes from the front of `data` until the socket is full; returns how much went.
    fn write_some(&mut self, data: &[u8]) -> io::Result<usize> {
        let mut written = 0;
        while written < data.len() {
            match self.write_from(&data[written..]) {
                Ok(0) => break,
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(written)
    }
}

/// The connection's side of its event loop.
#[derive(Default)]
pub(super) struct ElState {
    /// What the loop's attach left for this connection, handed back on every call.
    data: usize,
    /// The loop holds a reference to the connection (taken at the first attach), released
    /// by natsConnection_ProcessDetachedEvent after the detach.
    retained: bool,
    /// Attached to the loop and not detached yet.
    attached: bool,
    /// The session's socket; `None` between sessions (the loop closes the old one).
    io: Option<ElIo>,
    side: Option<ReadSide>,
    /// The loop is asked for write events.
    write_added: bool,
    /// How the session ended, for its task to act on.
    failed: Option<Error>,
    /// A reconnect is to be announced once its socket is attached.
    pub(super) announce_reconnect: bool,
    /// The first session's socket, until the caller of Connect attaches it.
    pub(super) first: Option<(NatsStream, BytesMut)>,
}

impl Conn {
    fn el_hooks(&self) -> &dyn crate::core::options::EventLoop {
        self.opts.event_loop.as_deref().expect("event-loop session without an event loop")
    }

    /// Hands a new session's socket to the loop (on the thread that connected: the caller
    /// of Connect for the first session, the reconnecting task after that).
    pub(super) fn el_attach(&self, stream: NatsStream, mut rbuf: BytesMut) -> Result<()> {
        let hooks = self.el_hooks();
        let io = ElIo::from_stream(stream, &mut rbuf).map_err(io_err)?;
        let fd = io.fd();
        let chunk = (self.opts.io_buf_size.max(4096) as usize).max(READ_CHUNK_MIN);
        let me = self.arc();
        let (mut data, was_attached) = {
            let mut el = self.el.lock();
            self.state.lock().session_id += 1;
            el.io = Some(io);
            el.side = Some(ReadSide::new(rbuf, chunk));
            el.failed = None;
            el.write_added = false;
            // Input the loop reports while attach runs is read at once.
            (el.data, std::mem::replace(&mut el.attached, true))
        };
        // Not under the lock: an adapter may wait in attach for the loop's thread (libevent
        // frees the previous session's events there), which may be about to report input
        // for this connection.
        let res = hooks.attach(&mut data, &me, fd);
        let mut el = self.el.lock();
        if let Err(e) = res {
            el.attached = was_attached;
            el.side = None;
            if let Some(io) = el.io.take() {
                io.close();
            }
            return Err(Error::with_text(
                e.status,
                format!("Error attaching to the event loop: {} - {}", e.status as i32, e.status.text()),
            ));
        }
        el.data = data;
        // What arrived with the handshake's last read is handled now: the loop reports only
        // new input. (A read during attach handled it already, in order.)
        if el.failed.is_none() {
            if let Some(side) = el.side.as_mut() {
                if let Err(e) = self.process_buffer(side) {
                    el.failed = Some(e);
                    self.el_end.notify_one();
                }
            }
        }
        if !el.retained {
            el.retained = true;
            // Released by natsConnection_ProcessDetachedEvent.
            std::mem::forget(me);
        }
        if std::mem::take(&mut el.announce_reconnect) {
            self.post_event(self.opts.reconnected_cb.clone());
        }
        // What waits to go out (subscriptions after a reconnect, publishes meanwhile).
        let pending = {
            let mut st = self.state.lock();
            st.write_scheduled = true;
            !st.out.is_empty()
        };
        if pending {
            el.write_added = true;
            if let Err(e) = hooks.write(el.data, true) {
                el.failed = Some(e);
                drop(el);
                self.el_end.notify_one();
            }
        } else {
            self.state.lock().write_scheduled = false;
        }
        Ok(())
    }

    /// A session on the loop: ends when a read or write reported by the loop failed, on a
    /// stale connection, on a forced reconnect, or on close.
    pub(super) async fn el_session(&self) -> SessionEnd {
        let end = tokio::select! {
            e = self.el_failure() => SessionEnd::Failed(e),
            w = self.el_write_requests() => w,
            p = self.ping_loop() => p,
            _ = self.reconnect_notify.notified() => {
                SessionEnd::Failed(Error::with_text(Status::ConnectionDisconnected, "reconnect requested"))
            }
        };
        self.el_stop_polling(matches!(end, SessionEnd::Closed));
        end
    }

    async fn el_failure(&self) -> Error {
        loop {
            if let Some(e) = self.el.lock().failed.take() {
                return e;
            }
            self.el_end.notified().await;
        }
    }

    /// Asks the loop for write events whenever something is buffered and it is not asked
    /// already; ends on close.
    async fn el_write_requests(&self) -> SessionEnd {
        loop {
            {
                let mut el = self.el.lock();
                let (pending, closing) = {
                    let mut st = self.state.lock();
                    if !st.out.is_empty() {
                        st.write_scheduled = true;
                    }
                    (!st.out.is_empty(), st.closing)
                };
                if closing {
                    return SessionEnd::Closed;
                }
                if pending && !el.write_added && el.io.is_some() {
                    el.write_added = true;
                    if let Err(e) = self.el_hooks().write(el.data, true) {
                        return SessionEnd::Failed(e);
                    }
                }
            }
            self.write_notify.notified().await;
        }
    }

    /// Input was reported: one read, and everything complete in the buffer is handled.
    pub fn el_read_event(&self) {
        let mut el = self.el.lock();
        if !el.attached || el.failed.is_some() {
            return;
        }
        let ElState { io: Some(io), side: Some(side), .. } = &mut *el else { return };
        side.reserve();
        let err = match io.read_into(&mut side.rbuf) {
            Ok(0) => Some(closed_by_server()),
            Ok(_) => self.process_buffer(side).err(),
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => None,
            Err(e) => Some(io_err(e)),
        };
        if let Some(e) = err {
            el.failed = Some(e);
            drop(el);
            self.el_end.notify_one();
        }
    }

    /// Room to write was reported: what is buffered goes out as far as the socket takes
    /// it; once all of it is out, the loop stops polling for writes.
    pub fn el_write_event(&self) {
        let mut el = self.el.lock();
        if !el.attached || el.failed.is_some() {
            return;
        }
        let Some(io) = el.io.as_mut() else { return };
        let (mut data, prev_torn) = {
            let mut st = self.state.lock();
            st.pings_in_out = 0;
            (std::mem::take(&mut st.out), std::mem::take(&mut st.torn))
        };
        let (written, mut err) = match io.write_some(&data).and_then(|n| io.flush_tls().map(|_| n)) {
            Ok(n) => (n, None),
            Err(e) => (0, Some(io_err(e))),
        };
        let records = io.records_pending();
        let done = {
            let mut st = self.state.lock();
            let _ = data.split_to(written.min(data.len()));
            if !data.is_empty() {
                // As with a direct write: what follows a frame the socket began stays
                // with this session.
                st.torn = if written > 0 { data.len() } else { prev_torn.min(data.len()) };
                data.extend_from_slice(&st.out);
                st.out = data;
            } else if st.out.is_empty() && data.capacity() <= OUT_SHRINK_ABOVE {
                data.clear();
                st.out = data;
            }
            let done = st.out.is_empty() && !records && err.is_none();
            if done {
                st.write_scheduled = false;
            }
            done
        };
        if done && el.write_added {
            el.write_added = false;
            if let Err(e) = self.el_hooks().write(el.data, false) {
                err = Some(e);
            }
        }
        if let Some(e) = err {
            el.failed = Some(e);
            drop(el);
            self.el_end.notify_one();
        }
    }

    /// Ends the session's part of the loop: on close, what is buffered goes out as far as
    /// the socket takes it now; the socket is shut down, and the loop stops polling it
    /// both ways (removing the read side tells its adapter to close the socket).
    pub(super) fn el_stop_polling(&self, closing: bool) {
        let Some(hooks) = self.opts.event_loop.as_deref() else { return };
        let mut el = self.el.lock();
        let Some(mut io) = el.io.take() else { return };
        if closing {
            let out = std::mem::take(&mut self.state.lock().out);
            let _ = io.write_some(&out).and_then(|_| io.flush_tls());
        }
        io.shutdown();
        drop(io);
        el.side = None;
        el.write_added = false;
        el.failed = None;
        let data = el.data;
        let _ = hooks.write(data, false);
        let _ = hooks.read(data, false);
    }

    /// The connection is closed: the loop is told to let go of it.
    pub(super) fn el_detach(&self) {
        let Some(hooks) = self.opts.event_loop.as_deref() else { return };
        self.el_stop_polling(false);
        let data = {
            let mut el = self.el.lock();
            if !el.retained || !el.attached {
                return;
            }
            el.attached = false;
            el.data
        };
        hooks.detach(data);
    }

    /// The loop is done with the detached connection (natsConnection_ProcessDetachedEvent):
    /// releases the reference the loop held since the first attach. Only once, and only
    /// after the detach; otherwise nothing happens.
    ///
    /// # Safety
    /// This may drop the last reference: the caller must not use the connection afterwards
    /// unless it holds a reference of its own.
    pub unsafe fn el_release(&self) {
        let release = {
            let mut el = self.el.lock();
            !el.attached && std::mem::take(&mut el.retained)
        };
        if release {
            // SAFETY: a Conn only lives in an Arc (Conn::connect), and the first attach
            // leaked one strong reference to it (std::mem::forget), released here once.
            unsafe { std::sync::Arc::decrement_strong_count(self as *const Conn) };
        }
    }
}
