//! A connection: shared state behind one mutex, one I/O task per socket on the private
//! runtime, and blocking calls for C callers.
//!
//! Publishing encodes straight into the shared outbound buffer under a short lock and wakes
//! the writer only when it is idle; the writer swaps the buffer out and writes it whole, so
//! whatever accumulated while it was busy goes out in one write (no timer, no fixed delay).
//! A caller about to wait for an answer (a request, a flush, a delivery thread's reply)
//! writes from its own thread when the writer is idle.
//!
//! Reading a plain TCP socket is a role (see `SharedReader`): the session's task holds it
//! by default, and a thread about to block until something arrives (a request's reply, a
//! flush's PONG, an idle subscription thread's next message) takes it and reads for itself,
//! so that the kernel wakes that thread directly when its answer comes.

use std::collections::{HashMap, VecDeque};
use std::ffi::CString;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use crate::core::lock::{Condvar, Mutex, MutexGuard};
use std::cell::Cell;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;

use super::events;
use super::msg::Msg;
use super::nuid;
use super::options::{has_tls_scheme, Options};
use super::proto::{self, ServerInfo, ServerOp};
use super::runtime;
use super::server_pool::{ServerPool, ServerUrl};
use super::status::{ConnStatus, Error, Result, Status};
use super::sub::{self, MsgCallback, Sub, Wakeups};
use super::subject::{self, PublishSubject};
use super::sync::{deadline_in, Waiter};
use super::tls::{NatsStream, PlainSocket, StreamReader, StreamWriter, TlsOptions};

mod evloop;

/// The read half of a TLS session's stream.
type TlsReadHalf = tokio::io::ReadHalf<tokio_rustls::client::TlsStream<TcpStream>>;

/// Above this many buffered bytes (while connected) a publisher waits for whoever is writing:
/// the writer task, or on a plain socket another publisher (a plain socket that no one is
/// writing is written by the publisher itself from [`DIRECT_WRITE_AT`] on). The buffer is
/// swapped out whole, so other publishers can fill another while it is written, and buffers
/// keep their capacity.
const OUT_HIGH_WATER: usize = 512 * 1024;
/// What a publish buffer grows to at once: the high-water mark and a frame beyond it.
const OUT_CAPACITY: usize = OUT_HIGH_WATER + 64 * 1024;
/// A publisher on a plain socket writes its buffer itself once it holds this much and no
/// one else is writing. Writes of about this size kept the server's cost per message lowest:
/// 512 KB writes, into a socket the server drains 64 KB at a time, cost it about 5% more
/// CPU per 1 KB message (and as much throughput); 128 KB writes were no better than 512 KB.
const DIRECT_WRITE_AT: usize = 64 * 1024;
/// A write buffer grown past this (a huge message) is released after use.
const OUT_SHRINK_ABOVE: usize = 4 * 1024 * 1024;
/// Messages of at least this many bytes are sent from the caller's memory when nothing is
/// buffered (see [`Conn::publish_from_caller`]) instead of being copied into the buffer.
const ZERO_COPY_MIN: usize = 32 * 1024;
/// How long a blocking direct write waits for room before it looks at the connection again.
const WRITE_WAIT_SLICE_MS: i32 = 50;
/// How long Close waits for the writer to push out what is buffered.
const CLOSE_FLUSH_WAIT: Duration = Duration::from_secs(2);

type PongWaiter = Arc<Waiter<Result<()>>>;

thread_local! {
    /// Set while this thread holds a connection's reading role (see
    /// [`Conn::read_while_waiting`]).
    static READING: Cell<bool> = const { Cell::new(false) };
    /// Set by a delivery thread while it runs a callback for the last message it has queued:
    /// the callback's first publish may then be written from that thread (see
    /// [`Conn::write_direct`]), so a reply does not wait for the writer task to wake up.
    static DIRECT_BUDGET: Cell<bool> = const { Cell::new(false) };
}

/// Grants or withdraws the calling delivery thread's direct write (see [`DIRECT_BUDGET`]).
pub(crate) fn set_direct_budget(on: bool) {
    DIRECT_BUDGET.with(|c| c.set(on));
}
type ReplyWaiter = Arc<Waiter<Result<Box<Msg>>>>;

pub struct Conn {
    pub opts: Options,
    me: Weak<Conn>,
    state: Mutex<State>,
    state_cond: Condvar,
    write_notify: Notify,
    close_notify: Notify,
    reconnect_notify: Notify,
    /// Connect returned with the first connection still being retried in the background.
    pub connect_pending: std::sync::atomic::AtomicBool,
    subs: Mutex<HashMap<u64, Arc<Sub>>>,
    resp: Mutex<RespMux>,
    resp_sid: AtomicU64,
    in_msgs: AtomicU64,
    in_bytes: AtomicU64,
    /// The current plain-TCP session's reading state, shared with threads that wait for an
    /// answer (see [`Conn::read_while_waiting`]).
    reader: Mutex<Option<Arc<SharedReader>>>,
    /// With an external event loop: the session's socket and the loop's state.
    el: Mutex<evloop::ElState>,
    /// Wakes an event-loop session's task when a read or write on the loop failed.
    el_end: Notify,
    /// The last error's text for C callers (written under the state lock).
    last_err_text: ErrText,
    pub name_c: Option<CString>,
}

/// Size of [`ErrText`], as cnats' `errStr`.
const ERR_TEXT_LEN: usize = 256;

/// A connection's last error text as C callers read it: a NUL-terminated buffer at a fixed
/// address, overwritten in place by the next error (as cnats' `errStr`), so the pointer that
/// `natsConnection_GetLastError` hands out never dangles, even when another thread records
/// an error while the caller reads. Longer texts are cut at a character boundary.
pub struct ErrText([AtomicU8; ERR_TEXT_LEN]);

impl ErrText {
    fn new() -> ErrText {
        ErrText(std::array::from_fn(|_| AtomicU8::new(0)))
    }

    fn set(&self, text: &str) {
        let mut end = text.len().min(ERR_TEXT_LEN - 1);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        for (slot, &b) in self.0.iter().zip(text.as_bytes()[..end].iter()) {
            slot.store(if b == 0 { b' ' } else { b }, Ordering::Relaxed);
        }
        self.0[end].store(0, Ordering::Release);
    }

    /// The buffer, NUL-terminated, valid as long as the connection.
    pub fn as_ptr(&self) -> *const std::ffi::c_char {
        self.0.as_ptr() as *const std::ffi::c_char
    }

    /// A copy of the current text.
    pub fn read(&self) -> Vec<u8> {
        let mut v = Vec::new();
        for slot in self.0.iter() {
            let b = slot.load(Ordering::Acquire);
            if b == 0 {
                break;
            }
            v.push(b);
        }
        v
    }
}

struct State {
    status: ConnStatus,
    out: BytesMut,
    write_scheduled: bool,
    /// One entry per PING in flight: `Some` for a flush waiting on it, `None` for a keepalive.
    pongs: VecDeque<Option<PongWaiter>>,
    pings_out: i32,
    /// PINGs sitting in `out`, not yet handed to the socket.
    pings_in_out: usize,
    info: ServerInfo,
    pool: ServerPool,
    cur: Option<usize>,
    next_sid: u64,
    last_err: Option<Error>,
    out_msgs: u64,
    out_bytes: u64,
    reconnects: u64,
    closing: bool,
    io_running: bool,
    local_addr: Option<SocketAddr>,
    io_task: Option<tokio::task::JoinHandle<()>>,
    /// The current session's plain socket, for direct writes.
    direct_wr: Option<Arc<PlainSocket>>,
    /// A thread is writing to the socket directly; the writer task must not write.
    direct_active: bool,
    /// The buffer swapped in for `out` when a direct write or the writer task takes it,
    /// kept for its capacity.
    direct_spare: BytesMut,
    /// Bytes at the front of `out` that a direct write handed back after sending part of
    /// them: they may end a frame the socket has begun, so they mean something only to this
    /// session and are dropped, not replayed, when it ends.
    torn: usize,
    /// The writer task is sending a buffer it took from `out`.
    task_writing: bool,
    /// The writer task found `out` empty right after a send and yields its thread once
    /// before giving up the writer's role (see [`Conn::write_loop`]). A caller about to wait
    /// for an answer may take the role meanwhile.
    writer_lingering: bool,
    /// Publishers waiting to write a full buffer themselves (see [`Conn::publish_inner`]);
    /// the writer task leaves `out` to them.
    pub_waiting: u32,
    /// Counts sessions, so a direct write can tell that a reconnect happened meanwhile.
    session_id: u64,
}

#[derive(Default)]
struct RespMux {
    prefix: Option<String>,
    next: u64,
    /// Keyed by the number at the end of each request's reply subject.
    waiters: HashMap<u64, ReplyWaiter>,
}

/// What the reader accumulates while parsing one read, published by [`Conn::settle`].
#[derive(Default)]
struct ReadBatch {
    wake: Wakeups,
    msgs: u64,
    bytes: u64,
    last_sub: Option<Arc<Sub>>,
}

/// Where the reader is in the byte stream of one session.
struct ReadSide {
    rbuf: BytesMut,
    parser: proto::Parser,
    batch: ReadBatch,
    /// Read size: the configured I/O buffer size, at least [`READ_CHUNK_MIN`].
    chunk: usize,
    /// Set when a waiting thread met the end of the session (EOF, a socket error, a protocol
    /// error, a server error that ends it); the session's task ends with it.
    failed: Option<Error>,
    /// Buffers read into before, kept when the reader moved on while messages still held
    /// them. Once those messages are gone, a spare is read into again: its pages are already
    /// mapped, where a new allocation of this size is often fresh memory that faults page by
    /// page as it is filled (and is handed back to the system when freed). Oldest first.
    spares: Vec<Spare>,
    /// The size `rbuf` was allocated with.
    rbuf_size: usize,
    /// Buffers allocated so far.
    #[cfg(test)]
    allocated: usize,
    /// Bytes of incomplete messages carried over into another buffer so far.
    #[cfg(test)]
    carried: usize,
}

struct Spare {
    buf: BytesMut,
    size: usize,
    since: Instant,
}

/// How many bytes of spare read buffers a reader keeps, at most. A subscriber that lags a
/// little holds a few megabytes of read buffers in its queue: with 1 MB of spares, the
/// buffers it released were mostly freed (and handed back to the system by malloc) and new
/// ones faulted in page by page: at 1 KB messages, three times the page faults and 5-12%
/// more CPU than with 4 MB, for no lower peak RSS (the backlog sets it).
const READ_SPARE_BYTES: usize = 4 << 20;
/// A spare not read into for this long is let go (when the reader next reads), so that a
/// connection keeps them only while messages stream in.
const READ_SPARE_TTL: Duration = Duration::from_secs(1);
/// The least a reader reads at a time. A stream of small messages arrives in the server's
/// writes of about 100 KB: read in 32 KB pieces, it took twice the reads and hand-overs of
/// the reading role, and 4-14% more CPU at 128 B. Only the part read into takes memory.
const READ_CHUNK_MIN: usize = 128 * 1024;
/// A message larger than this is read into a buffer of its own.
const LARGE_FRAME: usize = 32 * 1024;
/// The least room a buffer made for a large message has beyond it.
const LARGE_SLACK: usize = 256;

impl ReadSide {
    fn new(rbuf: BytesMut, chunk: usize) -> ReadSide {
        let rbuf_size = rbuf.capacity();
        ReadSide {
            rbuf,
            parser: proto::Parser::new(),
            batch: ReadBatch::default(),
            chunk,
            failed: None,
            spares: Vec::new(),
            rbuf_size,
            #[cfg(test)]
            allocated: 0,
            #[cfg(test)]
            carried: 0,
        }
    }

    /// Room for the rest of a large incomplete message in one go (no reassembly copies)
    /// and for more like it, else for at least an eighth of a chunk. Received messages keep
    /// the buffer they were read into alive, so its tail is filled before another one is
    /// taken: the same one when its messages are all gone, else a spare whose messages are,
    /// else a new one.
    fn reserve(&mut self) {
        self.drop_stale_spares();
        // The end of a large message is read into the room left for it, however little.
        let need = self.parser.frame_len_needed();
        let rest = need.saturating_sub(self.rbuf.len());
        let large = need > LARGE_FRAME;
        let want = if large { rest.min(4 << 20) } else { rest.max(self.chunk / 8) };
        if self.rbuf.capacity() - self.rbuf.len() >= want {
            return;
        }
        // A buffer made for a large message is its size rounded up to whole pages, with room
        // to spare: the next ones of about that size fit in it when it is a spare (their
        // control lines differ by a few bytes: a reply subject's counter, a longer sid).
        // A message smaller than a chunk also gets room past it for whole messages of its
        // size that add up to a chunk, so the read that ends it goes on into what follows as
        // any read does: in a stream of 64 KB messages, a read per message took 9% more
        // client CPU (pub + async sub, and sync) and 1.5-2.4% of the rate. Room for a part
        // of a message would have that part copied into a buffer of its own once its size
        // is read; a larger message is read a chunk or more at a time anyway.
        let pending = self.rbuf.len();
        let room = if large {
            let past = if need < self.chunk { need * self.chunk.div_ceil(need) } else { 0 };
            (pending + want + LARGE_SLACK + past).next_multiple_of(4096) - pending
        } else {
            want.max(self.chunk)
        };
        if self.rbuf.try_reclaim(room) {
            return;
        }
        // A spare is taken whole: the largest free one, the oldest of those about that size
        // (within a page). One made for a large message often takes the next message exactly,
        // before its size is known, where a smaller one would take a piece of it to be copied
        // into a larger buffer once the size is read.
        let fits = pending + if large { room } else { want };
        let mut best: Option<(usize, usize)> = None;
        for (i, s) in self.spares.iter_mut().enumerate() {
            if s.size >= fits && best.is_none_or(|(_, size)| s.size >= size + 4096) && s.buf.try_reclaim(s.size) {
                best = Some((i, s.size));
            }
        }
        // The buffer at hand counts as one of them when nothing in it is pending (it is smaller
        // than a chunk, or it would have been reclaimed above).
        if pending == 0
            && self.rbuf_size >= fits
            && best.is_none_or(|(_, size)| self.rbuf_size >= size)
            && self.rbuf.try_reclaim(self.rbuf_size)
        {
            return;
        }
        let (next, size) = match best.map(|(i, _)| i) {
            Some(i) => {
                let s = self.spares.remove(i);
                (s.buf, s.size)
            }
            None => {
                #[cfg(test)]
                {
                    self.allocated += 1;
                }
                (BytesMut::with_capacity(pending + room), pending + room)
            }
        };
        let mut old = std::mem::replace(&mut self.rbuf, next);
        let old_size = std::mem::replace(&mut self.rbuf_size, size);
        #[cfg(test)]
        {
            self.carried += old.len();
        }
        self.rbuf.extend_from_slice(&old);
        old.clear();
        self.spares.push(Spare { buf: old, size: old_size, since: Instant::now() });
        // The oldest go first: the messages holding them are the likeliest to be gone.
        let mut total: usize = self.spares.iter().map(|s| s.size).sum();
        while total > READ_SPARE_BYTES {
            total -= self.spares.remove(0).size;
        }
    }
}

impl ReadSide {
    /// When the oldest spare goes stale, if there are spares: a reader with nothing to read
    /// lets them go then instead of keeping them until its next read.
    fn spares_stale_at(&self) -> Option<Instant> {
        self.spares.iter().map(|s| s.since).min().map(|t| t + READ_SPARE_TTL)
    }

    /// Lets go of the spares not read into for READ_SPARE_TTL.
    fn drop_stale_spares(&mut self) {
        if self.spares_stale_at().is_some_and(|t| t < Instant::now()) {
            self.spares.retain(|s| s.since.elapsed() <= READ_SPARE_TTL);
        }
    }
}

/// The reading role of a plain-TCP session. Whoever holds `side` reads the socket: the
/// session's task, or a thread that is about to block until an answer arrives (a reply, a
/// PONG, a message for its subscription). A thread reading for itself is woken by the
/// kernel when the answer comes, instead of waiting for the task to be woken and then to
/// wake it: one thread wake-up per answer instead of two. While it reads, the socket is out
/// of the set the task watches, so the data it consumes wakes no one else. Everything read
/// is handled the same way whoever reads it.
struct SharedReader {
    side: Mutex<ReadSide>,
    sock: Arc<PlainSocket>,
    /// An eventfd that interrupts a reading thread's poll (the session ended, or what it
    /// waits for changed).
    kick: OwnedFd,
    /// The session ended: no one reads any more.
    over: AtomicBool,
    /// Tells the task that a thread met the end of the session (see `ReadSide::failed`).
    failed: Notify,
}

/// Interrupts a thread that reads while it waits (see [`Conn::read_while_waiting`]), when
/// what it waits for changed without data arriving.
#[derive(Clone)]
pub(crate) struct Kicker(Arc<SharedReader>);

impl Kicker {
    pub(crate) fn kick(&self) {
        // A thread that reads a connection only ever finds itself registered here: the
        // role is exclusive, and what it queues goes to subscriptions of that connection.
        // It looks at what it waits for after each read anyway.
        if !READING.with(Cell::get) {
            self.0.kick();
        }
    }
}

impl SharedReader {
    fn new(sock: Arc<PlainSocket>, side: ReadSide) -> std::io::Result<SharedReader> {
        // SAFETY: eventfd takes no pointers; a valid descriptor is owned from here on.
        let kick = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if kick < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(SharedReader {
            side: Mutex::new(side),
            sock,
            // SAFETY: `kick` was just created and is owned by nothing else.
            kick: unsafe { OwnedFd::from_raw_fd(kick) },
            over: AtomicBool::new(false),
            failed: Notify::new(),
        })
    }

    fn kick(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to our own eventfd.
        unsafe { libc::write(self.kick.as_raw_fd(), &one as *const u64 as *const libc::c_void, 8) };
    }

    fn drain_kick(&self) {
        let mut v: u64 = 0;
        // SAFETY: reads 8 bytes into a live u64 from our own non-blocking eventfd.
        unsafe { libc::read(self.kick.as_raw_fd(), &mut v as *mut u64 as *mut libc::c_void, 8) };
    }

    /// Ends the session's reading: a thread polling gives the role back at once.
    fn end(&self) {
        self.over.store(true, Ordering::SeqCst);
        self.kick();
    }
}

pub struct Stats {
    pub in_msgs: u64,
    pub in_bytes: u64,
    pub out_msgs: u64,
    pub out_bytes: u64,
    pub reconnects: u64,
}

enum SessionEnd {
    /// The user closed the connection and everything buffered was written.
    Closed,
    Failed(Error),
}

impl Conn {
    /// Connects to the first server of the pool that accepts us (cnats' natsConnection_Connect).
    pub fn connect(opts: Options) -> Result<Arc<Conn>> {
        let pool = ServerPool::from_options(&opts)?;
        let name_c = opts.name.as_deref().and_then(|n| CString::new(n).ok());
        let conn = Arc::new_cyclic(|me| Conn {
            opts,
            me: me.clone(),
            state: Mutex::new(State {
                status: ConnStatus::Connecting,
                out: BytesMut::with_capacity(64 * 1024),
                write_scheduled: false,
                writer_lingering: false,
                pongs: VecDeque::new(),
                pings_out: 0,
                pings_in_out: 0,
                info: ServerInfo::default(),
                pool,
                cur: None,
                next_sid: 1,
                last_err: None,
                out_msgs: 0,
                out_bytes: 0,
                reconnects: 0,
                closing: false,
                io_running: false,
                local_addr: None,
                io_task: None,
                direct_wr: None,
                direct_active: false,
                direct_spare: BytesMut::new(),
                torn: 0,
                task_writing: false,
                pub_waiting: 0,
                session_id: 0,
            }),
            state_cond: Condvar::new(),
            write_notify: Notify::new(),
            close_notify: Notify::new(),
            reconnect_notify: Notify::new(),
            connect_pending: std::sync::atomic::AtomicBool::new(false),
            subs: Mutex::new(HashMap::new()),
            resp: Mutex::new(RespMux::default()),
            resp_sid: AtomicU64::new(0),
            in_msgs: AtomicU64::new(0),
            in_bytes: AtomicU64::new(0),
            reader: Mutex::new(None),
            el: Mutex::new(evloop::ElState::default()),
            el_end: Notify::new(),
            last_err_text: ErrText::new(),
            name_c,
        });
        let c = conn.clone();
        let res = runtime::block_on(async move { c.initial_connect().await }).and_then(|()| conn.attach_first());
        match res {
            Ok(()) => Ok(conn),
            Err(e) => {
                conn.finalize_close(false);
                Err(e)
            }
        }
    }

    fn arc(&self) -> Arc<Conn> {
        self.me.upgrade().expect("connection used after its last reference was dropped")
    }

    async fn initial_connect(self: Arc<Self>) -> Result<()> {
        let n = self.state.lock().pool.len();
        let mut last = Error::new(Status::NoServer);
        for idx in 0..n {
            let url = {
                let mut st = self.state.lock();
                st.pool.servers[idx].last_attempt = Some(Instant::now());
                st.pool.servers[idx].url.clone()
            };
            match self.connect_one(&url).await {
                Ok((stream, info, rbuf)) => {
                    self.on_connected(idx, &stream, info, false);
                    self.start_io(stream, rbuf);
                    return Ok(());
                }
                Err(e) => {
                    last = e;
                }
            }
        }
        if self.opts.retry_on_failed_connect {
            self.set_last_error(last.clone());
            self.state.lock().status = ConnStatus::Reconnecting;
            if self.opts.connected_cb.is_some() {
                // Keep trying in the background; the connected callback reports success,
                // the closed callback failure.
                self.connect_pending.store(true, Ordering::SeqCst);
                let me = self.clone();
                let h = runtime::handle().spawn(async move {
                    match me.connect_loop(false, true).await {
                        Ok((stream, rbuf)) => {
                            me.post_event(me.opts.connected_cb.clone());
                            me.io_main(Some((stream, rbuf))).await;
                        }
                        Err(e) => {
                            if !me.state.lock().closing {
                                me.set_last_error(e);
                            }
                            me.finish_io();
                            me.finalize_close(true);
                        }
                    }
                });
                let mut st = self.state.lock();
                st.io_running = true;
                st.io_task = Some(h);
                return Ok(());
            }
            let (stream, rbuf) = self.connect_loop(false, false).await?;
            self.start_io(stream, rbuf);
            return Ok(());
        }
        // cnats: when no server could even be reached the answer is "no server"; an error
        // after the TCP connection was made (timeout, authentication, TLS, bad INFO, ...)
        // is returned as it is.
        match last.status {
            Status::NoServer | Status::AddressMissing => {
                Err(Error::with_text(Status::NoServer, last.text.unwrap_or_else(|| Status::NoServer.text().into())))
            }
            _ => Err(last),
        }
    }

    /// TCP connect, INFO (with a TLS handshake before or after it), CONNECT, PING/PONG.
    /// Returns the socket, the server's INFO, and whatever was read past the PONG.
    async fn connect_one(&self, url: &ServerUrl) -> Result<(NatsStream, ServerInfo, BytesMut)> {
        let timeout = Duration::from_millis(self.opts.timeout_ms.max(1) as u64);
        let deadline = tokio::time::Instant::now() + timeout;
        // cnats: a server that cannot be reached in time is "no server"; a timeout after the
        // TCP connection was made (no INFO, no PONG) is NATS_TIMEOUT.
        let stream = match tokio::time::timeout_at(deadline, tcp_connect(url, self.opts.ip_resolution_order, self.opts.proxy_conn.clone())).await {
            Ok(r) => r?,
            Err(_) => return Err(Error::with_text(Status::NoServer, format!("timeout connecting to {}", url.host_port()))),
        };
        let fut = async {
            let _ = stream.set_nodelay(true);
            let res = self.handshake(NatsStream::Plain(stream), url).await;
            // With TLS 1.3 a server refusing our certificate says so after the handshake:
            // report why the dynamic certificate files could not be used, if that is the cause.
            match (res, self.opts.tls.as_ref().and_then(|t| t.take_dynamic_cert_error())) {
                (Err(_), Some(text)) => Err(Error::with_text(Status::SslError, text)),
                (r, _) => r,
            }
        };
        match tokio::time::timeout_at(deadline, fut).await {
            Ok(r) => r,
            Err(_) => Err(Error::with_text(Status::Timeout, format!("timeout connecting to {}", url.host_port()))),
        }
    }

    /// The TLS handshake over a plain socket, with the options' TLS settings (or the defaults:
    /// the system's trusted roots).
    async fn tls_upgrade(&self, stream: NatsStream, url: &ServerUrl) -> Result<NatsStream> {
        let tcp = match stream.into_tcp() {
            Ok(t) => t,
            Err(s) => return Ok(s),
        };
        let tls: &TlsOptions = match self.opts.tls.as_deref() {
            Some(t) => t,
            None => TlsOptions::defaults(),
        };
        tls.connect(tcp, &url.host).await
    }

    async fn handshake(&self, mut stream: NatsStream, url: &ServerUrl) -> Result<(NatsStream, ServerInfo, BytesMut)> {
        // cnats: TLS handshake first implies secure; a tls:// URL asks for TLS unless
        // SetSecure(false) was called.
        let handshake_first = self.opts.tls_handshake_first;
        let mut secure = self.opts.secure
            || handshake_first
            || (!self.opts.secure_explicitly_set && has_tls_scheme(&url.full));
        if secure && handshake_first {
            stream = self.tls_upgrade(stream, url).await?;
        }
        let mut rbuf = BytesMut::with_capacity(self.opts.io_buf_size.max(4096) as usize);
        let info = loop {
            if let Some(op) = proto::parse(&mut rbuf).map_err(proto_err)? {
                match op {
                    ServerOp::Info(json) => {
                        break proto::parse_info(&json).map_err(|e| Error::with_text(Status::Err, e.to_string()))?
                    }
                    _ => return Err(Error::with_text(Status::ProtocolError, "expected INFO from the server")),
                }
            }
            read_more(&mut stream, &mut rbuf).await?;
        };
        // cnats' _checkForSecure: wanting TLS from a server that offers none fails; a server
        // that requires TLS switches the connection to TLS.
        if secure && !info.tls_required && !info.tls_available {
            return Err(Error::new(Status::SecureConnectionWanted));
        }
        if info.tls_required {
            secure = true;
        }
        if secure && !stream.is_tls() {
            stream = self.tls_upgrade(stream, url).await?;
        }
        // The token handler and credential callbacks are user code: they run on a blocking
        // pool thread, never on an I/O worker.
        let connect = {
            let (me, url2, info2) = (self.arc(), url.clone(), info.clone());
            tokio::task::spawn_blocking(move || me.connect_json(&url2, &info2, secure))
                .await
                .map_err(|_| Error::with_text(Status::Err, "credentials callback failed"))??
        };
        let mut out = BytesMut::with_capacity(connect.len() + 32);
        proto::encode_connect(&mut out, &connect);
        out.extend_from_slice(proto::PING);
        stream.write_all(&out).await.map_err(io_err)?;
        loop {
            while let Some(op) = proto::parse(&mut rbuf).map_err(proto_err)? {
                match op {
                    ServerOp::Pong => return Ok((stream, info, rbuf)),
                    ServerOp::Ok | ServerOp::Info(_) => {}
                    ServerOp::Ping => stream.write_all(proto::PONG).await.map_err(io_err)?,
                    ServerOp::Err(e) => return Err(server_err(&e)),
                    ServerOp::Msg(_) => return Err(Error::with_text(Status::ProtocolError, "unexpected MSG before PONG")),
                }
            }
            read_more(&mut stream, &mut rbuf).await?;
        }
    }

    fn connect_json(&self, url: &ServerUrl, info: &ServerInfo, secure: bool) -> Result<Vec<u8>> {
        let o = &self.opts;
        let mut ci = proto::ConnectInfo {
            verbose: o.verbose,
            pedantic: o.pedantic,
            tls_required: secure,
            name: o.name.clone(),
            echo: !o.no_echo,
            headers: true,
            no_responders: !o.disable_no_responders && info.headers,
            ..Default::default()
        };
        match (&url.user, &url.password) {
            (Some(u), Some(p)) => {
                ci.user = Some(u.clone());
                ci.pass = Some(p.clone());
            }
            (Some(tok), None) => ci.auth_token = Some(tok.clone()),
            _ => {
                if let Some(u) = &o.user {
                    ci.user = Some(u.clone());
                    ci.pass = o.password.clone();
                }
                if let Some(cb) = &o.token_cb {
                    ci.auth_token = cb();
                } else if o.token.is_some() {
                    ci.auth_token = o.token.clone();
                }
            }
        }
        if ci.auth_token.is_some() && o.token_cb.is_some() && o.token.is_some() {
            return Err(Error::with_text(Status::IllegalState, "Token and token handler options cannot be both set"));
        }
        let a = o.auth.connect_fields(&info.nonce)?;
        ci.jwt = a.jwt;
        ci.nkey = a.nkey;
        ci.sig = a.sig;
        serde_json::to_vec(&ci).map_err(|e| Error::with_text(Status::Err, format!("cannot encode CONNECT: {e}")))
    }

    fn on_connected(&self, idx: usize, stream: &NatsStream, info: ServerInfo, reconnect: bool) {
        let mut st = self.state.lock();
        let discovered = if !self.opts.ignore_discovered_servers && !info.connect_urls.is_empty() {
            st.pool.add_discovered(&info.connect_urls, false)
        } else {
            false
        };
        st.info = info;
        st.cur = Some(idx);
        if let Some(s) = st.pool.servers.get_mut(idx) {
            s.did_connect = true;
            s.reconnects = 0;
            s.last_auth_error = None;
        }
        st.local_addr = stream.local_addr().ok();
        st.pings_out = 0;
        st.status = ConnStatus::Connected;
        if reconnect {
            st.reconnects += 1;
            // A successful reconnect clears the connection's last error, as in cnats.
            st.last_err = None;
            self.last_err_text.set("");
        }
        {
            // Subscriptions first, then what was published while disconnected (both empty
            // on a first connect).
            let pending = std::mem::take(&mut st.out);
            let mut out = BytesMut::with_capacity(pending.len() + 4096);
            for sub in self.subs.lock().values() {
                let s = sub.state.lock();
                if s.closed {
                    continue;
                }
                proto::encode_sub(&mut out, sub.subject.as_bytes(), sub.queue.as_deref().map(str::as_bytes), sub.sid);
                if s.max > 0 {
                    proto::encode_unsub(&mut out, sub.sid, Some(s.max - s.delivered.min(s.max)));
                }
            }
            if let Some(p) = &self.resp.lock().prefix {
                let mut subj = p.clone().into_bytes();
                subj.push(b'*');
                proto::encode_sub(&mut out, &subj, None, self.resp_sid.load(Ordering::Relaxed));
            }
            out.extend_from_slice(&pending);
            st.out = out;
        }
        st.write_scheduled = false;
        drop(st);
        if discovered {
            self.post_event(self.opts.discovered_servers_cb.clone());
        }
        if reconnect {
            if self.opts.event_loop.is_some() {
                // Announced once the new socket is attached to the loop, as cnats does.
                self.el.lock().announce_reconnect = true;
            } else {
                self.post_event(self.opts.reconnected_cb.clone());
            }
        }
    }

    /// Starts the first session's task. With an event loop, the socket waits for the caller
    /// of Connect to attach it (see [`Conn::attach_first`]).
    fn start_io(&self, stream: NatsStream, rbuf: BytesMut) {
        if self.opts.event_loop.is_some() {
            self.el.lock().first = Some((stream, rbuf));
            return;
        }
        self.spawn_io(Some((stream, rbuf)));
    }

    fn spawn_io(&self, link: Option<(NatsStream, BytesMut)>) {
        let me = self.arc();
        let mut st = self.state.lock();
        st.io_running = true;
        let h = runtime::handle().spawn(async move { me.io_main(link).await });
        st.io_task = Some(h);
    }

    /// With an event loop, the first session's socket is attached by the thread that called
    /// Connect, before Connect returns, as in cnats: an adapter may need to know the thread
    /// (libuv's makes its wake-up handle only on the loop's thread).
    fn attach_first(&self) -> Result<()> {
        let Some((stream, rbuf)) = self.el.lock().first.take() else { return Ok(()) };
        let _rt = runtime::handle().enter();
        self.el_attach(stream, rbuf)?;
        self.spawn_io(None);
        Ok(())
    }

    /// Runs sessions until the connection closes. `link` is the next session's socket,
    /// `None` when it is already attached to the event loop.
    async fn io_main(self: Arc<Self>, mut link: Option<(NatsStream, BytesMut)>) {
        loop {
            let end = match link.take() {
                Some((stream, rbuf)) => self.session(stream, rbuf).await,
                None => self.el_session().await,
            };
            let err = match end {
                SessionEnd::Closed => break,
                SessionEnd::Failed(e) => e,
            };
            if self.state.lock().closing {
                break;
            }
            let allow = self.opts.allow_reconnect && self.state.lock().status == ConnStatus::Connected;
            if !allow {
                // cnats: an authentication error (an expired JWT) is recorded, then the server
                // closes the socket and the connection ends with NATS_CONNECTION_CLOSED,
                // keeping the server's text.
                let err = if err.status == Status::ConnectionAuthFailed {
                    Error::with_text(Status::ConnectionClosed, err.message().to_string())
                } else {
                    err
                };
                self.set_last_error(err.clone());
                self.finish_io();
                self.finalize_close(true);
                return;
            }
            match self.reconnect(err).await {
                Ok((s, b)) => link = Some((s, b)),
                Err(e) => {
                    if !self.state.lock().closing {
                        self.set_last_error(e);
                        self.finish_io();
                        self.finalize_close(true);
                        return;
                    }
                    break;
                }
            }
        }
        self.finish_io();
    }

    fn finish_io(&self) {
        let mut st = self.state.lock();
        st.io_running = false;
        drop(st);
        self.state_cond.notify_all();
    }

    async fn session(&self, stream: NatsStream, rbuf: BytesMut) -> SessionEnd {
        if self.opts.event_loop.is_some() {
            if let Err(e) = self.el_attach(stream, rbuf) {
                return SessionEnd::Failed(e);
            }
            return self.el_session().await;
        }
        let (rd, wr) = match stream.into_split() {
            Ok(h) => h,
            Err(e) => return SessionEnd::Failed(io_err(e)),
        };
        {
            let mut st = self.state.lock();
            st.direct_wr = wr.direct();
            st.session_id += 1;
        }
        let chunk = (self.opts.io_buf_size.max(4096) as usize).max(READ_CHUNK_MIN);
        let side = ReadSide::new(rbuf, chunk);
        let end = match rd {
            StreamReader::Plain(sock) => match SharedReader::new(sock, side) {
                Ok(sh) => {
                    let sh = Arc::new(sh);
                    *self.reader.lock() = Some(sh.clone());
                    let end = self.session_io(self.read_loop_shared(&sh), wr).await;
                    self.end_shared_reader().await;
                    end
                }
                Err(e) => SessionEnd::Failed(io_err(e)),
            },
            StreamReader::Tls(rd) => self.session_io(self.read_loop(rd, side), wr).await,
        };
        self.state.lock().direct_wr = None;
        end
    }

    /// Takes the reading role back from a thread that may hold it, so that nothing of this
    /// session is handled once the next one starts.
    async fn end_shared_reader(&self) {
        let Some(sh) = self.reader.lock().take() else { return };
        sh.end();
        while sh.side.try_lock().is_none() {
            sh.kick();
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    async fn session_io(&self, read: impl std::future::Future<Output = SessionEnd>, wr: StreamWriter) -> SessionEnd {
        tokio::select! {
            r = read => r,
            w = self.write_loop(wr) => w,
            p = self.ping_loop() => p,
            _ = self.reconnect_notify.notified() => {
                SessionEnd::Failed(Error::with_text(Status::ConnectionDisconnected, "reconnect requested"))
            }
        }
    }

    /// Handles every complete operation in the buffer, then hands over what was queued.
    fn process_buffer(&self, side: &mut ReadSide) -> Result<()> {
        let ReadSide { parser, rbuf, batch, .. } = side;
        loop {
            match parser.parse_with(rbuf, |frame| self.process_msg(frame, batch)) {
                Ok(Some(op)) => {
                    if let Err(e) = self.process_op(op, batch) {
                        self.settle(batch);
                        return Err(e);
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    self.settle(batch);
                    return Err(proto_err(e));
                }
            }
        }
        // Everything parsed from this read is queued: hand it over and wake each consumer
        // once.
        self.settle(batch);
        Ok(())
    }

    /// The reader of a TLS session.
    async fn read_loop(&self, mut rd: TlsReadHalf, mut side: ReadSide) -> SessionEnd {
        loop {
            if let Err(e) = self.process_buffer(&mut side) {
                return SessionEnd::Failed(e);
            }
            side.reserve();
            let stale_at = side.spares_stale_at();
            let res = tokio::select! {
                r = rd.read_buf(&mut side.rbuf) => r,
                _ = sleep_until_some(stale_at) => {
                    side.drop_stale_spares();
                    continue;
                }
            };
            match res {
                Ok(0) => return SessionEnd::Failed(closed_by_server()),
                Ok(_) => {}
                Err(e) => return SessionEnd::Failed(io_err(e)),
            }
        }
    }

    /// The reader of a plain-TCP session: reads whenever no waiting thread holds the role.
    async fn read_loop_shared(&self, sh: &SharedReader) -> SessionEnd {
        loop {
            // When a thread holds the role, the socket is out of the watched set until it
            // is done, and goes back in signalling if anything is left.
            if let Some(Err(e)) = self.read_available(sh) {
                return SessionEnd::Failed(e);
            }
            // Spares are let go once stale even when nothing more arrives (a thread that
            // holds the role meanwhile lets them go at its next read).
            let stale_at = sh.side.try_lock().and_then(|side| side.spares_stale_at());
            tokio::select! {
                r = sh.sock.input_ready() => {
                    if let Err(e) = r {
                        return SessionEnd::Failed(io_err(e));
                    }
                }
                _ = sh.failed.notified() => {}
                _ = sleep_until_some(stale_at) => {
                    if let Some(mut side) = sh.side.try_lock() {
                        side.drop_stale_spares();
                    }
                }
            }
        }
    }

    /// Reads and handles everything the socket has now, unless a thread holds the role
    /// (`None`). `Some(Err)` ends the session.
    fn read_available(&self, sh: &SharedReader) -> Option<Result<()>> {
        let mut side = sh.side.try_lock()?;
        if let Some(e) = side.failed.take() {
            return Some(Err(e));
        }
        loop {
            if let Err(e) = self.process_buffer(&mut side) {
                return Some(Err(e));
            }
            side.reserve();
            match sh.sock.try_read(&mut side.rbuf) {
                Ok(0) => return Some(Err(closed_by_server())),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Some(Ok(())),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Some(Err(io_err(e))),
            }
        }
    }

    /// Called by a thread about to block until `done()` holds (its reply, its PONG, a message
    /// for its subscription): if no one is reading this connection's plain socket, the
    /// thread reads and handles what arrives itself until then, until `deadline`, or until
    /// the session ends. `register` gets a [`Kicker`] while the thread reads, and `None`
    /// before it stops, so that others can interrupt it when `done()` changes without data
    /// arriving. Returns whether `done()` held when it stopped; when the role is taken, the
    /// session is TLS or ended, it returns at once and the caller waits as usual.
    pub(crate) fn read_while_waiting(
        &self,
        deadline: Instant,
        done: &dyn Fn() -> bool,
        register: &dyn Fn(Option<Kicker>),
    ) -> bool {
        let Some(sh) = self.reader.lock().clone() else { return done() };
        let Some(mut side) = sh.side.try_lock() else { return done() };
        sh.sock.watch_input(false);
        register(Some(Kicker(sh.clone())));
        READING.with(|r| r.set(true));
        let mut ok = false;
        // Wait first: the caller has just sent what it waits an answer to, and whoever read
        // last handled everything complete in the buffer.
        let mut readable = false;
        loop {
            if done() {
                ok = true;
                break;
            }
            if side.failed.is_some() || sh.over.load(Ordering::SeqCst) {
                break;
            }
            if !readable {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                let mut fds = [
                    libc::pollfd { fd: sh.sock.fd(), events: libc::POLLIN, revents: 0 },
                    libc::pollfd { fd: sh.kick.as_raw_fd(), events: libc::POLLIN, revents: 0 },
                ];
                // Rounded up, so a deadline less than a millisecond away is not a busy loop.
                let ms = left.as_micros().div_ceil(1000).min(i32::MAX as u128) as libc::c_int;
                // SAFETY: polls two live descriptors described by a local array.
                let r = unsafe { libc::poll(fds.as_mut_ptr(), 2, ms) };
                if r > 0 && fds[1].revents != 0 {
                    sh.drain_kick();
                }
                // Input, end of stream or an error: a read tells which.
                readable = r > 0 && fds[0].revents != 0;
                continue;
            }
            readable = false;
            side.reserve();
            let room = side.rbuf.capacity() - side.rbuf.len();
            match sh.sock.try_read(&mut side.rbuf) {
                Ok(0) => side.failed = Some(closed_by_server()),
                Ok(n) => {
                    if let Err(e) = self.process_buffer(&mut side) {
                        side.failed = Some(e);
                    }
                    // A read that filled all the room it had likely left more behind (the
                    // rest of a large message): read again before polling.
                    readable = n == room;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => readable = true,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => side.failed = Some(io_err(e)),
            }
        }
        READING.with(|r| r.set(false));
        register(None);
        let failed = side.failed.is_some();
        drop(side);
        if failed {
            sh.failed.notify_one();
        }
        // Back in the watched set: the task is signalled at once if anything is left
        // unread (or the socket failed).
        sh.sock.watch_input(true);
        ok
    }

    async fn write_loop(&self, mut wr: StreamWriter) -> SessionEnd {
        // The buffer being written. Once written it goes back as the connection's spare,
        // which direct writes use too: a stream of publishes keeps two buffers in turn.
        let mut buf = BytesMut::new();
        // Whether the last pass sent something, and whether the task has since yielded.
        let (mut wrote, mut lingered) = (false, false);
        loop {
            // 0: data taken, 1: wait for work, 2: closing and everything written, 3: yield.
            let next = {
                let mut st = self.state.lock();
                st.task_writing = false;
                st.writer_lingering = false;
                if buf.capacity() > st.direct_spare.capacity() {
                    std::mem::swap(&mut buf, &mut st.direct_spare);
                }
                if st.pub_waiting > 0 {
                    // Publishers wait for the socket to be free: it is, for now.
                    self.state_cond.notify_all();
                }
                if st.direct_active {
                    // A thread is writing directly; it wakes us when it is done.
                    1
                } else if st.pub_waiting > 0 && !st.out.is_empty() && !st.closing {
                    // A publisher found the buffer full and writes it itself; it wakes us
                    // if anything is left.
                    1
                } else if !st.out.is_empty() {
                    let spare = std::mem::take(&mut st.direct_spare);
                    buf = std::mem::replace(&mut st.out, spare);
                    st.pings_in_out = 0;
                    st.torn = 0;
                    st.write_scheduled = true;
                    st.task_writing = true;
                    0
                } else if st.closing {
                    2
                } else if wrote && !lingered {
                    // A publisher adding messages one by one keeps up with the sends, so
                    // that each of its publishes would find the role free and wake this task
                    // again: a wake-up per message. The thread yields once first, keeping
                    // the role; what is published meanwhile waits only until it runs again.
                    st.writer_lingering = true;
                    3
                } else {
                    st.write_scheduled = false;
                    1
                }
            };
            if next == 3 {
                lingered = true;
                std::thread::yield_now();
                continue;
            }
            (wrote, lingered) = (next == 0, false);
            if next == 2 {
                self.state.lock().direct_wr = None;
                let _ = wr.shutdown().await;
                return SessionEnd::Closed;
            }
            if next == 1 {
                self.write_notify.notified().await;
                continue;
            }
            self.state_cond.notify_all();
            let res = if self.opts.write_deadline_ms > 0 {
                let d = Duration::from_millis(self.opts.write_deadline_ms as u64);
                match tokio::time::timeout(d, wr.write_all(&buf)).await {
                    Ok(r) => r,
                    Err(_) => Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "write deadline exceeded")),
                }
            } else {
                wr.write_all(&buf).await
            };
            if let Err(e) = res {
                return SessionEnd::Failed(io_err(e));
            }
            if buf.capacity() > OUT_SHRINK_ABOVE {
                buf = BytesMut::new();
            } else {
                buf.clear();
            }
        }
    }

    async fn ping_loop(&self) -> SessionEnd {
        let ms = self.opts.ping_interval_ms;
        if ms <= 0 {
            return std::future::pending().await;
        }
        let mut iv = tokio::time::interval(Duration::from_millis(ms as u64));
        iv.tick().await;
        loop {
            iv.tick().await;
            let mut st = self.state.lock();
            st.pings_out += 1;
            if st.pings_out > self.opts.max_pings_out {
                return SessionEnd::Failed(Error::new(Status::StaleConnection));
            }
            st.pongs.push_back(None);
            st.out.extend_from_slice(proto::PING);
            st.pings_in_out += 1;
            let wake = self.schedule_write(&mut st);
            drop(st);
            if wake {
                self.write_notify.notify_one();
            }
        }
    }

    /// Publishes what the reader has batched: statistics, queued messages and wake-ups.
    fn settle(&self, b: &mut ReadBatch) {
        if b.msgs > 0 {
            self.in_msgs.fetch_add(b.msgs, Ordering::Relaxed);
            self.in_bytes.fetch_add(b.bytes, Ordering::Relaxed);
            b.msgs = 0;
            b.bytes = 0;
        }
        b.wake.flush();
    }

    /// Counts a received message and hands it on.
    #[inline]
    fn process_msg(&self, frame: proto::MsgFrame, b: &mut ReadBatch) {
        let sid = frame.sid;
        let msg = Msg::from_frame(frame);
        b.msgs += 1;
        b.bytes += msg.wire_len() as u64;
        self.route(msg, sid, b);
    }

    /// An operation other than a message (the parser hands those to [`Conn::process_msg`]
    /// as it reads them).
    fn process_op(&self, op: ServerOp, b: &mut ReadBatch) -> Result<()> {
        // It (a PONG that releases a flush, an error that ends the session) comes after the
        // messages before it are visible.
        self.settle(b);
        match op {
            ServerOp::Msg(frame) => {
                self.process_msg(frame, b);
                Ok(())
            }
            ServerOp::Ping => {
                let mut st = self.state.lock();
                st.out.extend_from_slice(proto::PONG);
                let wake = self.schedule_write(&mut st);
                drop(st);
                if wake {
                    self.write_notify.notify_one();
                }
                Ok(())
            }
            ServerOp::Pong => {
                let mut st = self.state.lock();
                st.pings_out = 0;
                let w = st.pongs.pop_front().flatten();
                drop(st);
                if let Some(w) = w {
                    w.set(Ok(()));
                }
                Ok(())
            }
            ServerOp::Info(json) => {
                let info = proto::parse_info(&json).map_err(proto_err)?;
                self.process_info(info);
                Ok(())
            }
            ServerOp::Ok => Ok(()),
            ServerOp::Err(text) => self.process_err(&text),
        }
    }

    fn process_info(&self, info: ServerInfo) {
        let mut st = self.state.lock();
        let discovered = !self.opts.ignore_discovered_servers
            && !info.connect_urls.is_empty()
            && st.pool.add_discovered(&info.connect_urls, false);
        let ldm = info.ldm;
        // An async INFO may be partial; keep what the first one said about the server.
        if !info.connect_urls.is_empty() {
            st.info.connect_urls = info.connect_urls;
        }
        st.info.ldm = ldm;
        drop(st);
        if discovered {
            self.post_event(self.opts.discovered_servers_cb.clone());
        }
        if ldm {
            self.post_event(self.opts.lame_duck_cb.clone());
        }
    }

    fn process_err(&self, text: &str) -> Result<()> {
        let lower = text.to_ascii_lowercase();
        if lower.contains("stale connection") {
            return Err(Error::new(Status::StaleConnection));
        }
        if lower.contains("permissions violation") {
            self.report_async_error(None, Error::with_text(Status::NotPermitted, text.to_string()));
            return Ok(());
        }
        let e = server_err(text);
        if e.status == Status::ConnectionAuthFailed {
            // cnats: an authentication error on a live connection (an expired JWT, a
            // revoked user) reaches the error handler and counts for the "same error twice
            // from the same server" rule; the connection then reconnects.
            self.report_async_error(None, e.clone());
            let mut st = self.state.lock();
            if let Some(cur) = st.cur {
                if let Some(s) = st.pool.servers.get_mut(cur) {
                    s.last_auth_error = Some(e.message().to_string());
                }
            }
            return Err(e);
        }
        // Any other server error closes the connection, as cnats does.
        self.set_last_error(Error::with_text(Status::Err, text.to_string()));
        let me = self.arc();
        // Close waits for this I/O task to end, so it runs on another thread.
        let _ = runtime::spawn_thread("nats-close", move || me.close());
        Ok(())
    }

    /// Hands a received message to its subscription or to the request multiplexer.
    fn route(&self, msg: Msg, sid: u64, b: &mut ReadBatch) {
        if sid == self.resp_sid.load(Ordering::Relaxed) && sid != 0 {
            self.route_reply(msg);
            return;
        }
        // Subscription ids are never reused, and a subscription removed from the map is
        // closed (it drops what it is given), so the last one looked up can be reused.
        let sub = match &b.last_sub {
            Some(s) if s.sid == sid => s,
            _ => {
                let Some(s) = self.subs.lock().get(&sid).cloned() else { return };
                b.last_sub.insert(s)
            }
        };
        let pad = self.opts.message_buffer_padding;
        b.wake.add(sub, if pad > 0 { msg.with_padding(pad as usize) } else { msg });
    }

    fn route_reply(&self, mut msg: Msg) {
        let waiter = {
            let mut r = self.resp.lock();
            let Some(prefix) = &r.prefix else { return };
            let subj = msg.subject();
            if subj.len() <= prefix.len() {
                return;
            }
            let Some(token) = parse_base62(&subj[prefix.len()..]) else { return };
            r.waiters.remove(&token)
        };
        if let Some(w) = waiter {
            if msg.is_no_responders() {
                w.set(Err(Error::new(Status::NoResponders)));
            } else {
                w.set(Ok(Box::new(msg)));
            }
        }
    }

    async fn reconnect(self: &Arc<Self>, cause: Error) -> Result<(NatsStream, BytesMut)> {
        {
            let mut st = self.state.lock();
            st.status = ConnStatus::Reconnecting;
            st.pings_out = 0;
            st.write_scheduled = false;
            st.task_writing = false;
            st.writer_lingering = false;
            // The rest of a frame the broken socket began must not reach the next server.
            let torn = std::mem::take(&mut st.torn).min(st.out.len());
            let _ = st.out.split_to(torn);
            for w in st.pongs.drain(..).flatten() {
                w.set(Err(Error::new(Status::ConnectionDisconnected)));
            }
            // The PINGs still buffered go out after the reconnect: their PONGs must not
            // release flushes made later, so each gets an empty place in the FIFO.
            for _ in 0..st.pings_in_out {
                st.pongs.push_back(None);
            }
        }
        self.set_last_error(cause);
        if self.opts.fail_requests_on_disconnect {
            let ws: Vec<_> = self.resp.lock().waiters.drain().map(|(_, w)| w).collect();
            for w in ws {
                w.set(Err(Error::new(Status::ConnectionDisconnected)));
            }
        }
        self.post_event(self.opts.disconnected_cb.clone());
        self.connect_loop(true, true).await
    }

    /// Tries the servers of the pool in turn, as cnats' reconnect loop does: before the
    /// attempt that completes a pass over the usable servers it sleeps the reconnect wait
    /// (plus jitter when `jitter`), or what the custom delay callback says; a server is
    /// dropped from the rotation once it has used its `max_reconnect` attempts.
    async fn connect_loop(self: &Arc<Self>, reconnecting: bool, jitter: bool) -> Result<(NatsStream, BytesMut)> {
        let mut i = 0usize;
        let mut passes: i32 = 0;
        let mut last_idx = self.state.lock().cur;
        loop {
            let (idx, url, usable) = {
                let st = self.state.lock();
                if st.closing {
                    return Err(Error::new(Status::ConnectionClosed));
                }
                let max = self.opts.max_reconnect;
                let usable: Vec<usize> =
                    (0..st.pool.len()).filter(|&k| max < 0 || st.pool.servers[k].reconnects < max).collect();
                if usable.is_empty() {
                    let last = self.last_error_locked(&st);
                    return Err(Error::with_text(Status::NoServer, last.unwrap_or_else(|| Status::NoServer.text().into())));
                }
                // The next usable server after the last one tried, round robin.
                let idx = match last_idx {
                    Some(l) => *usable.iter().find(|&&k| k > l).unwrap_or(&usable[0]),
                    None => usable[0],
                };
                (idx, st.pool.servers[idx].url.clone(), usable.len())
            };
            last_idx = Some(idx);
            if i + 1 >= usable {
                i = 0;
                passes += 1;
                let d = match &self.opts.reconnect_delay_cb {
                    Some(cb) => cb(self, passes).max(0) as u64,
                    None => {
                        let tls = self.opts.secure || url.scheme == "tls";
                        let jit_ms = if tls { self.opts.reconnect_jitter_tls_ms } else { self.opts.reconnect_jitter_ms };
                        let j = if jitter && jit_ms > 0 { fastrand::u64(0..jit_ms as u64) } else { 0 };
                        self.opts.reconnect_wait_ms.max(0) as u64 + j
                    }
                };
                if self.sleep_or_close(Duration::from_millis(d)).await {
                    return Err(Error::new(Status::ConnectionClosed));
                }
            } else {
                i += 1;
            }
            {
                let mut st = self.state.lock();
                if st.closing {
                    return Err(Error::new(Status::ConnectionClosed));
                }
                if let Some(s) = st.pool.servers.get_mut(idx) {
                    s.reconnects += 1;
                    s.last_attempt = Some(Instant::now());
                }
            }
            match self.connect_one(&url).await {
                Ok((stream, info, rbuf)) => {
                    if self.state.lock().closing {
                        return Err(Error::new(Status::ConnectionClosed));
                    }
                    self.on_connected(idx, &stream, info, reconnecting);
                    return Ok((stream, rbuf));
                }
                Err(e) => {
                    if e.status == Status::ConnectionAuthFailed {
                        // cnats reports each authentication failure through the error
                        // handler; the same error twice in a row from the same server
                        // closes the connection, unless told to ignore it.
                        self.report_async_error(None, e.clone());
                        let mut st = self.state.lock();
                        let text = e.message().to_string();
                        if let Some(s) = st.pool.servers.get_mut(idx) {
                            let again = s.last_auth_error.as_deref() == Some(text.as_str());
                            s.last_auth_error = Some(text);
                            if again && !self.opts.ignore_auth_error_abort {
                                drop(st);
                                return Err(e);
                            }
                        }
                    }
                    self.set_last_error(e);
                }
            }
        }
    }

    fn last_error_locked(&self, st: &State) -> Option<String> {
        st.last_err.as_ref().and_then(|e| e.text.clone())
    }

    /// Forces a reconnect (cnats' natsConnection_Reconnect): the current socket is dropped
    /// and the usual reconnect logic runs.
    pub fn force_reconnect(&self) -> Result<()> {
        let st = self.state.lock();
        if st.status == ConnStatus::Closed || st.closing {
            return Err(Error::new(Status::ConnectionClosed));
        }
        drop(st);
        self.reconnect_notify.notify_one();
        Ok(())
    }

    /// Sleeps; returns true if the connection was closed meanwhile.
    async fn sleep_or_close(&self, d: Duration) -> bool {
        let closed = self.close_notify.notified();
        tokio::pin!(closed);
        closed.as_mut().enable();
        if self.state.lock().closing {
            return true;
        }
        tokio::select! {
            _ = tokio::time::sleep(d) => self.state.lock().closing,
            _ = closed => true,
        }
    }

    // ----- calls made by users (on their threads) -----

    /// Takes the writer's role from a writer task that lingers (see `writer_lingering`),
    /// for a direct write.
    fn take_lingering_role(st: &mut State) -> bool {
        if st.writer_lingering && !st.task_writing && !st.direct_active && st.status == ConnStatus::Connected && !st.closing {
            st.writer_lingering = false;
            true
        } else {
            false
        }
    }

    fn schedule_write(&self, st: &mut State) -> bool {
        if !st.write_scheduled && st.status != ConnStatus::Reconnecting && st.status != ConnStatus::Connecting {
            st.write_scheduled = true;
            true
        } else {
            false
        }
    }

    /// Publishes a message (cnats' natsConnection_Publish family).
    pub fn publish(&self, subj: &[u8], reply: Option<&[u8]>, hdrs: Option<&[u8]>, data: &[u8]) -> Result<()> {
        self.publish_inner(publish_subject(subj)?, reply, hdrs, data, false)
    }

    /// [`Conn::publish`] of an already checked subject, without headers.
    pub fn publish_checked(&self, subj: PublishSubject<'_>, reply: Option<&[u8]>, data: &[u8]) -> Result<()> {
        self.publish_inner(subj, reply, None, data, false)
    }

    fn publish_inner(
        &self,
        subj: PublishSubject<'_>,
        reply: Option<&[u8]>,
        hdrs: Option<&[u8]>,
        data: &[u8],
        direct: bool,
    ) -> Result<()> {
        let subj = subj.as_bytes();
        if let Some(r) = reply {
            if !subject::valid_reply(r) {
                return Err(Error::with_text(Status::InvalidArg, "invalid reply subject"));
            }
        }
        let hdr_len = hdrs.map_or(0, |h| h.len());
        let total = hdr_len + data.len();
        let mut st = self.state.lock();
        match st.status {
            ConnStatus::Closed => return Err(Error::new(Status::ConnectionClosed)),
            _ if st.closing => return Err(Error::new(Status::ConnectionClosed)),
            _ => {}
        }
        if hdr_len > 0 && !st.info.headers {
            return Err(Error::with_text(Status::NoServerSupport, "the server does not support headers"));
        }
        if st.info.max_payload > 0 && total as i64 > st.info.max_payload {
            return Err(Error::with_text(
                Status::MaxPayload,
                format!("Payload {} greater than maximum allowed: {}", total, st.info.max_payload),
            ));
        }
        if st.status == ConnStatus::Reconnecting {
            // cnats refuses a publish only once the buffer already holds the limit.
            if self.opts.reconnect_buf_size >= 0 && st.out.len() >= self.opts.reconnect_buf_size as usize {
                return Err(Error::with_text(Status::InsufficientBuffer, "reconnect buffer is full"));
            }
        } else if st.direct_wr.is_none() && self.opts.event_loop.is_none() {
            // (With an event loop the buffer grows instead, as in cnats: the publisher may be
            // the loop's own thread, which alone writes it.)
            while st.out.len() >= OUT_HIGH_WATER && st.status == ConnStatus::Connected && !st.closing {
                self.state_cond.wait_for(&mut st, Duration::from_millis(100));
            }
        }
        if total >= ZERO_COPY_MIN && st.out.is_empty() && !st.write_scheduled && st.status == ConnStatus::Connected && !st.closing {
            if let Some(wr) = st.direct_wr.clone() {
                self.publish_from_caller(st, &wr, subj, reply, hdrs.unwrap_or_default(), data);
                return Ok(());
            }
        }
        // At least the frame's length (its control line is at most 64 bytes more than the
        // subject and reply), without computing it exactly on every publish.
        let frame_max = subj.len() + reply.map_or(0, <[u8]>::len) + total + 64;
        if st.out.capacity() - st.out.len() < frame_max {
            grow_out(&mut st.out, frame_max);
        }
        proto::encode_pub(&mut st.out, subj, reply, hdrs.filter(|h| !h.is_empty()), data);
        st.out_msgs += 1;
        st.out_bytes += total as u64;
        // A full buffer on a plain socket is written by the publisher itself, blocking until
        // the socket took it (as cnats does): a fast publisher then pays for its own sends
        // instead of handing each buffer to the writer task on another thread.
        while st.out.len() >= DIRECT_WRITE_AT && st.direct_wr.is_some() && st.status == ConnStatus::Connected && !st.closing {
            if !st.write_scheduled || (!st.task_writing && !st.direct_active) {
                // The role is free, or claimed by a writer task that has not taken the
                // buffer yet (it waits while `direct_active` is set).
                st.write_scheduled = true;
                self.write_direct(st, true);
                return Ok(());
            }
            if st.out.len() < OUT_HIGH_WATER {
                // Someone is writing: keep filling the buffer up to the high-water mark.
                break;
            }
            st.pub_waiting += 1;
            self.state_cond.wait_for(&mut st, Duration::from_millis(100));
            st.pub_waiting -= 1;
        }
        if !self.schedule_write(&mut st) {
            // A caller about to wait (or a reply) does not wait for a lingering writer task.
            // (The flag first: a stream of publishes mostly finds the writer busy, and the
            // thread-local is a call in a shared library.)
            if st.writer_lingering && (direct || DIRECT_BUDGET.with(Cell::get)) && Self::take_lingering_role(&mut st) {
                DIRECT_BUDGET.with(|c| c.set(false));
                self.write_direct(st, false);
            }
            return Ok(());
        }
        // A delivery thread's first publish from a callback (a reply, typically) may write.
        if direct || DIRECT_BUDGET.with(|c| c.replace(false)) {
            self.write_direct(st, false);
        } else {
            drop(st);
            self.write_notify.notify_one();
        }
        Ok(())
    }

    /// Writes what is buffered from the calling thread, without waking the writer task, when
    /// the caller is about to wait for an answer (a request, a flush) or is a delivery thread
    /// replying. The caller has just taken the writer's role (`schedule_write` said so). Only
    /// what the socket takes without blocking is written, unless `block` is set (a publisher
    /// with a full buffer): then it waits for room, and gives up only on a failure, a close,
    /// a new session or the write deadline. The writer task gets the rest.
    fn write_direct(&self, mut st: MutexGuard<'_, State>, block: bool) {
        let wr = match &st.direct_wr {
            Some(w) if st.status == ConnStatus::Connected => w.clone(),
            _ => {
                drop(st);
                self.write_notify.notify_one();
                return;
            }
        };
        st.direct_active = true;
        st.pings_in_out = 0;
        let prev_torn = std::mem::take(&mut st.torn);
        // A blocking write is a publisher's full buffer: other publishers start a new one,
        // and a lone publisher gets this one back afterwards, so a stream of publishes keeps
        // a single buffer instead of two.
        let spare = if block { BytesMut::new() } else { std::mem::take(&mut st.direct_spare) };
        let mut data = std::mem::replace(&mut st.out, spare);
        let session = st.session_id;
        drop(st);
        self.state_cond.notify_all();
        let written = self.send_direct(&wr, &[&data], block, session);
        drop(wr);
        let mut st = self.state.lock();
        st.direct_active = false;
        // What is left may begin with the rest of a frame this session's socket began: all
        // of it when this write stopped inside `data`, else the torn bytes it was handed.
        let _ = data.split_to(written);
        let mut torn = if written > 0 { data.len() } else { prev_torn.min(data.len()) };
        if st.session_id != session || st.status != ConnStatus::Connected {
            // That session is over: no other server may see those bytes.
            let _ = data.split_to(torn);
            torn = 0;
        }
        if !data.is_empty() {
            // The rest goes in front of what was buffered meanwhile.
            st.torn = torn;
            data.extend_from_slice(&st.out);
            let mut queued = std::mem::replace(&mut st.out, data);
            queued.clear();
            st.direct_spare = queued;
        } else {
            data.clear();
            if data.capacity() <= OUT_SHRINK_ABOVE {
                if st.out.is_empty() {
                    std::mem::swap(&mut st.out, &mut data);
                }
                if data.capacity() > st.direct_spare.capacity() {
                    st.direct_spare = data;
                }
            }
        }
        self.end_direct_write(st, session);
    }

    /// Ends a direct write (the caller has cleared `direct_active` and put back what it did
    /// not write): wakes waiting publishers, and hands what is buffered (or a close) to the
    /// writer task, or gives the writer's role back.
    fn end_direct_write(&self, mut st: MutexGuard<'_, State>, session: u64) {
        if st.pub_waiting > 0 {
            // A publisher waits with a full buffer to write it: the socket is free.
            self.state_cond.notify_all();
        }
        // The writer task may have been woken while we wrote and gone back to waiting without
        // taking anything, so it is always told; a permit left for the next session's task
        // only makes it look at the buffer.
        let notify = !st.out.is_empty() || st.closing;
        if !notify && st.session_id == session && st.status == ConnStatus::Connected {
            // Still this session's writer, with nothing left: give the role back.
            st.write_scheduled = false;
        }
        drop(st);
        if notify {
            self.write_notify.notify_one();
        }
    }

    /// Sends a large message straight from the caller's memory (plain socket, nothing
    /// buffered, the writer's role free): the control line, headers, payload and CRLF go out
    /// in gathering sends, blocking while the socket is full, as [`Conn::write_direct`] does
    /// with a full buffer. Only what the socket did not take (a close, a new session, the
    /// write deadline or a failure ended the wait) is copied into the buffer, in front of
    /// what other publishers added meanwhile, for the writer task.
    fn publish_from_caller(
        &self,
        mut st: MutexGuard<'_, State>,
        wr: &PlainSocket,
        subj: &[u8],
        reply: Option<&[u8]>,
        hdrs: &[u8],
        data: &[u8],
    ) {
        st.write_scheduled = true;
        st.direct_active = true;
        st.out_msgs += 1;
        st.out_bytes += (hdrs.len() + data.len()) as u64;
        let session = st.session_id;
        drop(st);
        let mut head = BytesMut::with_capacity(subj.len() + reply.map_or(0, |r| r.len()) + 48);
        proto::encode_pub_head(&mut head, subj, reply, hdrs.len(), data.len());
        let parts: [&[u8]; 4] = [&head, hdrs, data, b"\r\n"];
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let written = self.send_direct(wr, &parts, true, session);
        let mut st = self.state.lock();
        st.direct_active = false;
        // A frame the socket began is finished by this session or by no one.
        let gone = st.session_id != session || st.status != ConnStatus::Connected;
        if written < len && !(written > 0 && gone) {
            if written > 0 {
                st.torn = len - written;
            }
            let mut out = BytesMut::with_capacity(len - written + st.out.len());
            for p in parts_from(&parts, written) {
                out.extend_from_slice(p);
            }
            out.extend_from_slice(&st.out);
            st.out = out;
        }
        self.end_direct_write(st, session);
    }

    /// Sends `parts` in order from the calling thread (the caller holds the writer's role
    /// with `direct_active` set); returns how many bytes the socket took. Without `block` it
    /// stops when the socket is full; with it, it waits for room and stops only on a failure,
    /// a close, a new session or the write deadline. A failure is left for the writer task
    /// to meet and report.
    fn send_direct(&self, wr: &PlainSocket, parts: &[&[u8]], block: bool, session: u64) -> usize {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let started = std::time::Instant::now();
        let mut written = 0;
        while written < len {
            let res = if parts.len() == 1 {
                wr.try_write(&parts[0][written..])
            } else {
                let iov: Vec<std::io::IoSlice<'_>> = parts_from(parts, written).map(std::io::IoSlice::new).collect();
                wr.try_write_vectored(&iov)
            };
            match res {
                Ok(n) if n > 0 => written += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if block && e.kind() == std::io::ErrorKind::WouldBlock => {
                    if !wr.wait_writable(WRITE_WAIT_SLICE_MS) && !self.keep_writing(session, started) {
                        break;
                    }
                }
                _ => break,
            }
        }
        written
    }

    /// Whether a blocking direct write may go on waiting for room in the socket.
    fn keep_writing(&self, session: u64, started: std::time::Instant) -> bool {
        let st = self.state.lock();
        let d = self.opts.write_deadline_ms;
        st.session_id == session
            && st.status == ConnStatus::Connected
            && !st.closing
            && (d <= 0 || started.elapsed() < Duration::from_millis(d as u64))
    }

    /// Publishes a message object, with its headers.
    pub fn publish_msg(&self, msg: &Msg) -> Result<()> {
        let hdrs = msg.encoded_headers();
        self.publish(msg.subject(), msg.reply(), hdrs.as_deref(), msg.data())
    }

    /// PING/PONG round trip (cnats' natsConnection_FlushTimeout).
    pub fn flush_timeout(&self, timeout_ms: i64) -> Result<()> {
        if timeout_ms <= 0 {
            return Err(Error::new(Status::InvalidTimeout));
        }
        let w: PongWaiter = Arc::new(Waiter::new());
        {
            let mut st = self.state.lock();
            if st.status == ConnStatus::Closed || st.closing {
                return Err(Error::new(Status::ConnectionClosed));
            }
            st.pongs.push_back(Some(w.clone()));
            st.out.extend_from_slice(proto::PING);
            st.pings_in_out += 1;
            if self.schedule_write(&mut st) || Self::take_lingering_role(&mut st) {
                // The caller waits for the PONG anyway: write from here.
                self.write_direct(st, false);
            }
        }
        let deadline = deadline_in(timeout_ms);
        self.read_while_waiting(deadline, &|| w.is_set(), &|_| {});
        match w.wait(Some(deadline)) {
            Some(r) => r,
            None => {
                let mut st = self.state.lock();
                for e in st.pongs.iter_mut() {
                    if e.as_ref().is_some_and(|x| Arc::ptr_eq(x, &w)) {
                        *e = None;
                    }
                }
                Err(Error::new(Status::Timeout))
            }
        }
    }

    /// Creates a subscription (sync when `handler` is None).
    pub fn subscribe(
        &self,
        subj: &str,
        queue: Option<&str>,
        handler: Option<MsgCallback>,
        timeout_ms: i64,
    ) -> Result<Arc<Sub>> {
        if !subject::valid_subscribe_subject(subj.as_bytes()) {
            return Err(Error::new(Status::InvalidSubject));
        }
        if let Some(q) = queue {
            if !subject::valid_queue(q.as_bytes()) {
                return Err(Error::new(Status::InvalidQueueName));
            }
        }
        let sid = {
            let mut st = self.state.lock();
            self.check_can_subscribe(&st)?;
            let sid = st.next_sid;
            st.next_sid += 1;
            sid
        };
        // cnats: without an explicit bytes limit, it is 1 KB per allowed message.
        let bytes = if self.opts.max_pending_bytes > 0 {
            self.opts.max_pending_bytes
        } else {
            self.opts.max_pending_msgs as i64 * 1024
        };
        let limits = (self.opts.max_pending_msgs, bytes);
        let sub = Sub::new(self.arc(), sid, subj, queue, handler, timeout_ms, limits)?;
        let mut st = self.state.lock();
        if let Err(e) = self.check_can_subscribe(&st) {
            drop(st);
            sub.close_local(true);
            return Err(e);
        }
        self.subs.lock().insert(sid, sub.clone());
        let mut wake = false;
        if st.status != ConnStatus::Reconnecting {
            proto::encode_sub(&mut st.out, subj.as_bytes(), queue.map(str::as_bytes), sid);
            wake = self.schedule_write(&mut st);
        }
        drop(st);
        if wake {
            self.write_notify.notify_one();
        }
        sub::arm_timeout(&sub);
        Ok(sub)
    }

    fn check_can_subscribe(&self, st: &State) -> Result<()> {
        if st.status == ConnStatus::Closed || st.closing {
            return Err(Error::new(Status::ConnectionClosed));
        }
        if matches!(st.status, ConnStatus::DrainingSubs | ConnStatus::DrainingPubs) {
            return Err(Error::new(Status::Draining));
        }
        Ok(())
    }

    /// Unsubscribes now (`max == 0`) or after `max` messages in total.
    pub fn unsubscribe(&self, sub: &Arc<Sub>, max: u64) -> Result<()> {
        let mut st = self.state.lock();
        if st.status == ConnStatus::Closed || st.closing {
            return Err(Error::new(Status::ConnectionClosed));
        }
        let known = self.subs.lock().contains_key(&sub.sid);
        if !known || !sub.is_valid() {
            return Err(Error::new(Status::InvalidSubscription));
        }
        let mut max = max;
        if max > 0 && !sub.set_max(max) {
            max = 0;
        }
        if max == 0 {
            self.remove_sub(sub);
        }
        let mut wake = false;
        if st.status != ConnStatus::Reconnecting {
            proto::encode_unsub(&mut st.out, sub.sid, (max > 0).then_some(max));
            wake = self.schedule_write(&mut st);
        }
        drop(st);
        if wake {
            self.write_notify.notify_one();
        }
        Ok(())
    }

    /// Starts draining one subscription.
    pub fn drain_sub(&self, sub: &Arc<Sub>, timeout_ms: i64) -> Result<()> {
        let mut st = self.state.lock();
        if st.status == ConnStatus::Closed || st.closing {
            return Err(Error::new(Status::ConnectionClosed));
        }
        if matches!(st.status, ConnStatus::DrainingSubs | ConnStatus::DrainingPubs) {
            return Err(Error::with_text(
                Status::Draining,
                "Illegal to drain a subscription while its connection is draining",
            ));
        }
        let known = self.subs.lock().contains_key(&sub.sid);
        if !known || !sub.is_valid() {
            return Err(Error::new(Status::InvalidSubscription));
        }
        if sub.is_draining() {
            return Ok(());
        }
        let mut wake = false;
        if st.status != ConnStatus::Reconnecting {
            proto::encode_unsub(&mut st.out, sub.sid, None);
            wake = self.schedule_write(&mut st);
        }
        drop(st);
        if wake {
            self.write_notify.notify_one();
        }
        sub.start_drain(timeout_ms)
    }

    /// Removes a subscription from the connection and closes it locally.
    pub(crate) fn remove_sub(&self, sub: &Arc<Sub>) {
        self.subs.lock().remove(&sub.sid);
        sub.close_local(false);
    }

    /// Request/reply over the shared wildcard reply subscription (or old style).
    pub fn request(&self, subj: &[u8], hdrs: Option<&[u8]>, data: &[u8], timeout_ms: i64) -> Result<Box<Msg>> {
        if timeout_ms <= 0 {
            return Err(Error::new(Status::InvalidTimeout));
        }
        if self.opts.old_request_style {
            return self.old_request(subj, hdrs, data, timeout_ms);
        }
        let subj = publish_subject(subj)?;
        let (reply, token, w) = self.register_reply()?;
        if let Err(e) = self.publish_inner(subj, Some(reply.as_bytes()), hdrs, data, true) {
            self.resp.lock().waiters.remove(&token);
            return Err(e);
        }
        let deadline = deadline_in(timeout_ms);
        self.read_while_waiting(deadline, &|| w.is_set(), &|_| {});
        match w.wait(Some(deadline)) {
            Some(r) => r,
            None => {
                self.resp.lock().waiters.remove(&token);
                Err(Error::new(Status::Timeout))
            }
        }
    }

    fn register_reply(&self) -> Result<(String, u64, ReplyWaiter)> {
        let mut r = self.resp.lock();
        if r.prefix.is_none() {
            let prefix = format!("{}{}.", self.opts.inbox_prefix, nuid::next_string());
            let mut st = self.state.lock();
            self.check_can_subscribe(&st)?;
            let sid = st.next_sid;
            st.next_sid += 1;
            self.resp_sid.store(sid, Ordering::Relaxed);
            let mut wake = false;
            if st.status != ConnStatus::Reconnecting {
                let mut subj = prefix.clone().into_bytes();
                subj.push(b'*');
                proto::encode_sub(&mut st.out, &subj, None, sid);
                wake = self.schedule_write(&mut st);
            }
            drop(st);
            if wake {
                self.write_notify.notify_one();
            }
            r.prefix = Some(prefix);
        }
        r.next += 1;
        let token = r.next;
        let prefix = r.prefix.as_deref().unwrap_or_default();
        let mut reply = String::with_capacity(prefix.len() + 11);
        reply.push_str(prefix);
        push_base62(&mut reply, token);
        let w: ReplyWaiter = Arc::new(Waiter::new());
        r.waiters.insert(token, w.clone());
        Ok((reply, token, w))
    }

    fn old_request(&self, subj: &[u8], hdrs: Option<&[u8]>, data: &[u8], timeout_ms: i64) -> Result<Box<Msg>> {
        let inbox = self.new_inbox();
        let sub = self.subscribe(&inbox, None, None, 0)?;
        let res = (|| {
            self.unsubscribe(&sub, 1)?;
            self.publish(subj, Some(inbox.as_bytes()), hdrs, data)?;
            sub.next_msg(timeout_ms)
        })();
        if sub.is_valid() {
            let _ = self.unsubscribe(&sub, 0);
        }
        res
    }

    pub fn new_inbox(&self) -> String {
        format!("{}{}", self.opts.inbox_prefix, nuid::next_string())
    }

    /// Drains every subscription, then publishes, then closes (cnats' natsConnection_Drain).
    /// Returns at once; a library thread does the work. Calling it again while draining
    /// does nothing.
    pub fn drain(&self, timeout_ms: i64) -> Result<()> {
        let subs: Vec<Arc<Sub>> = {
            let mut st = self.state.lock();
            if st.status == ConnStatus::Closed || st.closing {
                return Err(Error::new(Status::ConnectionClosed));
            }
            if matches!(st.status, ConnStatus::Reconnecting | ConnStatus::Connecting) {
                return Err(Error::with_text(
                    Status::IllegalState,
                    "Illegal to call Drain while the connection is reconnecting",
                ));
            }
            if matches!(st.status, ConnStatus::DrainingSubs | ConnStatus::DrainingPubs) {
                return Ok(());
            }
            st.status = ConnStatus::DrainingSubs;
            let subs: Vec<_> = self.subs.lock().values().cloned().collect();
            for s in &subs {
                if let Ok(true) = s.mark_drain_started() {
                    proto::encode_unsub(&mut st.out, s.sid, None);
                }
            }
            let wake = self.schedule_write(&mut st);
            drop(st);
            if wake {
                self.write_notify.notify_one();
            }
            subs
        };
        let me = self.arc();
        runtime::spawn_thread("nats-drain", move || {
            let deadline = (timeout_ms > 0).then(|| Instant::now() + Duration::from_millis(timeout_ms as u64));
            let left = |d: Option<Instant>| d.map_or(0, |d| d.saturating_duration_since(Instant::now()).as_millis() as i64);
            let flush = if deadline.is_some() && left(deadline) <= 0 {
                Err(Error::new(Status::Timeout))
            } else {
                me.flush_timeout(if deadline.is_some() { left(deadline).max(1) } else { 10_000 })
            };
            if let Err(e) = &flush {
                me.report_async_error(None, Error::with_text(e.status, "unable to flush all subscriptions UNSUB protocols"));
            }
            for s in &subs {
                s.drain_flushed(flush.clone());
            }
            let mut timed_out = false;
            for s in &subs {
                if deadline.is_some() && left(deadline) <= 0 && s.drain_completion_status() == Status::IllegalState {
                    timed_out = true;
                    break;
                }
                if s.wait_drain(if deadline.is_some() { left(deadline).max(1) } else { 0 }).is_err() {
                    timed_out = true;
                    break;
                }
            }
            if timed_out {
                for s in &subs {
                    s.set_drain_status(Status::Timeout);
                }
                me.report_async_error(None, Error::with_text(Status::Timeout, "timeout waiting for subscriptions to drain"));
            }
            {
                let mut st = me.state.lock();
                if st.status == ConnStatus::DrainingSubs {
                    st.status = ConnStatus::DrainingPubs;
                }
            }
            if !timed_out {
                let ms = if deadline.is_some() { left(deadline) } else { 10_000 };
                if ms > 0 {
                    let _ = me.flush_timeout(ms);
                }
            }
            me.close();
        })
        .map_err(|e| Error::with_text(Status::SysError, format!("cannot start drain thread: {e}")))?;
        Ok(())
    }

    /// Closes the connection: writes what is buffered, stops the I/O task, releases every
    /// waiter and subscription, and posts the disconnected and closed events.
    pub fn close(&self) {
        let (was_io, task) = {
            let mut st = self.state.lock();
            if st.status == ConnStatus::Closed || st.closing {
                return;
            }
            st.closing = true;
            (st.io_running, st.io_task.take())
        };
        self.close_notify.notify_waiters();
        self.write_notify.notify_one();
        if was_io {
            let deadline = Instant::now() + CLOSE_FLUSH_WAIT;
            let mut st = self.state.lock();
            while st.io_running {
                if self.state_cond.wait_until(&mut st, deadline).timed_out() {
                    break;
                }
            }
            let still = st.io_running;
            drop(st);
            if still {
                if let Some(t) = &task {
                    t.abort();
                }
            }
        }
        // Wait until the I/O task has really ended, so that it no longer holds the
        // connection (and its options' TLS settings) once Close or Destroy returns.
        if let Some(t) = task {
            runtime::block_on(async move {
                let _ = tokio::time::timeout(Duration::from_secs(1), t).await;
            });
        }
        self.finalize_close(true);
    }

    /// Final state change to CLOSED. Idempotent.
    fn finalize_close(&self, events: bool) {
        let (pongs, was_connected) = {
            let mut st = self.state.lock();
            if st.status == ConnStatus::Closed {
                return;
            }
            let was = matches!(st.status, ConnStatus::Connected | ConnStatus::DrainingSubs | ConnStatus::DrainingPubs);
            st.status = ConnStatus::Closed;
            st.closing = true;
            st.out = BytesMut::new();
            let p: Vec<_> = st.pongs.drain(..).flatten().collect();
            (p, was)
        };
        if let Some(sh) = self.reader.lock().take() {
            sh.end();
        }
        self.el_detach();
        self.state_cond.notify_all();
        self.close_notify.notify_waiters();
        for w in pongs {
            w.set(Err(Error::new(Status::ConnectionClosed)));
        }
        let waiters: Vec<_> = self.resp.lock().waiters.drain().map(|(_, w)| w).collect();
        for w in waiters {
            w.set(Err(Error::new(Status::ConnectionClosed)));
        }
        let subs: Vec<_> = self.subs.lock().drain().map(|(_, s)| s).collect();
        for s in subs {
            s.close_local(true);
        }
        if events {
            if was_connected {
                self.post_event(self.opts.disconnected_cb.clone());
            }
            self.post_event(self.opts.closed_cb.clone());
        }
    }

    // ----- events and errors -----

    fn post_event(&self, cb: Option<super::options::ConnCallback>) {
        if let Some(cb) = cb {
            let me = self.arc();
            events::post(Box::new(move || cb(&me)));
        }
    }

    /// Records an asynchronous error and reports it through the error handler (or cnats'
    /// default handler, which prints to stderr) on the event thread.
    pub(crate) fn report_async_error(&self, sub: Option<Arc<Sub>>, err: Error) {
        let status = err.status;
        self.set_last_error(err);
        let me = self.arc();
        let handler = self.opts.err_handler.clone();
        events::post(Box::new(move || match handler {
            Some(h) => h(&me, sub.as_ref(), status),
            None => me.default_error_handler(sub.as_deref(), status),
        }));
    }

    fn default_error_handler(&self, sub: Option<&Sub>, status: Status) {
        let cid = self.state.lock().info.client_id;
        let text = match self.last_error() {
            (_, Some(t)) if !t.is_empty() => t,
            _ => status.text().to_string(),
        };
        match sub {
            Some(s) => eprintln!("Error {} - {} on connection [{}] on \"{}\"", status as i32, text, cid, s.subject),
            None => eprintln!("Error {} - {} on connection [{}]", status as i32, text, cid),
        }
    }

    pub(crate) fn set_last_error(&self, e: Error) {
        let mut st = self.state.lock();
        self.last_err_text.set(e.text.as_deref().unwrap_or_default());
        st.last_err = Some(e);
    }

    /// The connection's last error status and text (cnats' natsConnection_GetLastError).
    pub fn last_error(&self) -> (Status, Option<String>) {
        let st = self.state.lock();
        match &st.last_err {
            Some(e) => (e.status, e.text.clone()),
            None => (Status::Ok, None),
        }
    }

    /// The last error status and the connection's C text buffer (see [`ErrText`]).
    pub fn last_error_c(&self) -> (Status, &ErrText) {
        let st = self.state.lock();
        (st.last_err.as_ref().map_or(Status::Ok, |e| e.status), &self.last_err_text)
    }

    /// The last error status and a copy of its C text, both of the same error (errors are
    /// recorded under the same lock).
    pub fn last_error_c_copy(&self) -> (Status, Vec<u8>) {
        let st = self.state.lock();
        (st.last_err.as_ref().map_or(Status::Ok, |e| e.status), self.last_err_text.read())
    }

    // ----- accessors -----

    pub fn status(&self) -> ConnStatus {
        self.state.lock().status
    }
    pub fn is_closed(&self) -> bool {
        self.status() == ConnStatus::Closed
    }
    pub fn is_reconnecting(&self) -> bool {
        self.status() == ConnStatus::Reconnecting
    }
    pub fn is_draining(&self) -> bool {
        matches!(self.status(), ConnStatus::DrainingSubs | ConnStatus::DrainingPubs)
    }
    pub fn buffered(&self) -> usize {
        self.state.lock().out.len()
    }
    pub fn max_payload(&self) -> i64 {
        self.state.lock().info.max_payload
    }
    pub fn stats(&self) -> Stats {
        let st = self.state.lock();
        Stats {
            in_msgs: self.in_msgs.load(Ordering::Relaxed),
            in_bytes: self.in_bytes.load(Ordering::Relaxed),
            out_msgs: st.out_msgs,
            out_bytes: st.out_bytes,
            reconnects: st.reconnects,
        }
    }
    /// The URL of the server we are connected to, if connected.
    pub fn connected_url(&self) -> Option<String> {
        let st = self.state.lock();
        if st.status != ConnStatus::Connected && !matches!(st.status, ConnStatus::DrainingSubs | ConnStatus::DrainingPubs) {
            return None;
        }
        st.cur.and_then(|i| st.pool.servers.get(i)).map(|s| s.url.full.clone())
    }
    pub fn connected_server_id(&self) -> Option<String> {
        let st = self.state.lock();
        if st.status != ConnStatus::Connected && !matches!(st.status, ConnStatus::DrainingSubs | ConnStatus::DrainingPubs) {
            return None;
        }
        Some(st.info.server_id.clone())
    }
    pub fn servers(&self, implicit_only: bool) -> Vec<String> {
        self.state.lock().pool.urls(implicit_only)
    }
    pub fn client_id(&self) -> Result<u64> {
        let st = self.state.lock();
        if st.status == ConnStatus::Closed {
            return Err(Error::new(Status::ConnectionClosed));
        }
        if st.info.client_id == 0 {
            return Err(Error::new(Status::NoServerSupport));
        }
        Ok(st.info.client_id)
    }
    pub fn client_ip(&self) -> Result<String> {
        let st = self.state.lock();
        if st.status == ConnStatus::Closed {
            return Err(Error::new(Status::ConnectionClosed));
        }
        if st.info.client_ip.is_empty() {
            Err(Error::new(Status::NoServerSupport))
        } else {
            Ok(st.info.client_ip.clone())
        }
    }
    pub fn local_addr(&self) -> Result<SocketAddr> {
        let st = self.state.lock();
        match st.status {
            ConnStatus::Closed => Err(Error::new(Status::ConnectionClosed)),
            ConnStatus::Connected | ConnStatus::DrainingSubs | ConnStatus::DrainingPubs => {
                st.local_addr.ok_or_else(|| Error::new(Status::ConnectionDisconnected))
            }
            _ => Err(Error::new(Status::ConnectionDisconnected)),
        }
    }
    pub fn header_support(&self) -> Result<()> {
        let st = self.state.lock();
        if st.status == ConnStatus::Closed {
            return Err(Error::new(Status::ConnectionClosed));
        }
        if st.info.headers {
            Ok(())
        } else {
            Err(Error::new(Status::NoServerSupport))
        }
    }
    /// Round trip time of one PING/PONG, in nanoseconds.
    pub fn rtt(&self) -> Result<i64> {
        if self.is_reconnecting() {
            return Err(Error::new(Status::ConnectionDisconnected));
        }
        let start = Instant::now();
        self.flush_timeout(self.opts.timeout_ms.max(1))?;
        Ok(start.elapsed().as_nanos() as i64)
    }
}

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Appends `n` in base 62 (most significant digit first, no leading zeros).
fn push_base62(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 11];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = BASE62[(n % 62) as usize];
        n /= 62;
        if n == 0 {
            break;
        }
    }
    out.extend(digits[i..].iter().map(|&d| d as char));
}

/// The number [`push_base62`] wrote as `s`; `None` for anything it cannot have written
/// (empty, another character, a leading zero, more than a u64).
fn parse_base62(s: &[u8]) -> Option<u64> {
    if s.is_empty() || (s.len() > 1 && s[0] == b'0') {
        return None;
    }
    s.iter().try_fold(0u64, |n, &c| {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'A'..=b'Z' => c - b'A' + 10,
            b'a'..=b'z' => c - b'a' + 36,
            _ => return None,
        };
        n.checked_mul(62)?.checked_add(d as u64)
    })
}

async fn read_more(stream: &mut NatsStream, buf: &mut BytesMut) -> Result<()> {
    buf.reserve(4096);
    match stream.read_buf(buf).await {
        Ok(0) => Err(Error::with_text(Status::ConnectionClosed, "connection closed by the server during handshake")),
        Ok(_) => Ok(()),
        Err(e) => Err(io_err(e)),
    }
}

async fn tcp_connect(url: &ServerUrl, order: i32, proxy: Option<super::options::ProxyConnCallback>) -> Result<TcpStream> {
    if let Some(cb) = proxy {
        // cnats' natsOptions_SetProxyConnHandler: the user's callback connects (it may block,
        // so it runs on a blocking thread) and hands over the socket.
        let (host, port) = (url.host.clone(), url.port as i32);
        let fd = tokio::task::spawn_blocking(move || cb(&host, port))
            .await
            .map_err(|_| Error::with_text(Status::Err, "the proxy connection handler failed"))??;
        if fd < 0 {
            return Err(Error::with_text(Status::NoServer, "the proxy connection handler returned no socket"));
        }
        // SAFETY: the handler returned NATS_OK with a socket it created: ownership passes to
        // us (cnats closes it too), and nothing else uses the descriptor from now on.
        let std = unsafe { <std::net::TcpStream as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        std.set_nonblocking(true)
            .map_err(|e| Error::with_text(Status::SysError, format!("proxy socket: {e}")))?;
        return TcpStream::from_std(std).map_err(|e| Error::with_text(Status::SysError, format!("proxy socket: {e}")));
    }
    let mut addrs: Vec<SocketAddr> = tokio::net::lookup_host(url.host_port())
        .await
        .map_err(|e| Error::with_text(Status::AddressMissing, format!("cannot resolve {}: {e}", url.host)))?
        .collect();
    match order {
        4 => addrs.retain(|a| a.is_ipv4()),
        6 => addrs.retain(|a| a.is_ipv6()),
        46 => addrs.sort_by_key(|a| a.is_ipv6()),
        64 => addrs.sort_by_key(|a| a.is_ipv4()),
        _ => {}
    }
    let mut last = Error::new(Status::NoServer);
    for a in addrs {
        match TcpStream::connect(a).await {
            Ok(s) => return Ok(s),
            Err(e) => last = Error::with_text(Status::NoServer, format!("connect to {a} failed: {e}")),
        }
    }
    Err(last)
}

/// The parts from byte `from` of their concatenation on.
fn parts_from<'a>(parts: &'a [&'a [u8]], from: usize) -> impl Iterator<Item = &'a [u8]> + 'a {
    let mut skip = from;
    parts.iter().filter_map(move |p| {
        if skip >= p.len() {
            skip -= p.len();
            None
        } else {
            let s = &p[skip..];
            skip = 0;
            Some(s)
        }
    })
}

/// Sleeps until `t`, or forever without one.
async fn sleep_until_some(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}

/// The subject of a publish, checked (NATS_INVALID_SUBJECT when it is not valid).
fn publish_subject(subj: &[u8]) -> Result<PublishSubject<'_>> {
    PublishSubject::new(subj).ok_or_else(|| Error::new(Status::InvalidSubject))
}

fn closed_by_server() -> Error {
    Error::with_text(Status::ConnectionClosed, "connection closed by the server")
}

fn io_err(e: std::io::Error) -> Error {
    // A TLS failure (a bad record, an alert such as the server refusing our certificate).
    if let Some(t) = super::tls::rustls_error(&e) {
        return Error::with_text(Status::SslError, format!("SSL error: {}", super::tls::describe(t)));
    }
    Error::with_text(Status::IoError, e.to_string())
}

fn proto_err(e: proto::ProtoError) -> Error {
    Error::with_text(Status::ProtocolError, e.to_string())
}

/// Maps a -ERR text to cnats' status.
fn server_err(text: &str) -> Error {
    let lower = text.to_ascii_lowercase();
    let status = if lower.contains("authorization violation")
        || lower.contains("authentication")
        || lower.contains("user authentication expired")
        || lower.contains("account authentication expired")
    {
        Status::ConnectionAuthFailed
    } else if lower.contains("permissions violation") {
        Status::NotPermitted
    } else if lower.contains("secure connection") && lower.contains("required") {
        Status::SecureConnectionRequired
    } else if lower.contains("stale connection") {
        Status::StaleConnection
    } else {
        Status::Err
    };
    Error::with_text(status, text.to_string())
}

/// Room for `more` bytes in a publish buffer. A small buffer grows to [`OUT_CAPACITY`] at
/// once rather than by doubling: doubling took it from 512 KB to 1 MB for the one frame that
/// crossed the high-water mark, and all of it stayed resident. Only what is filled is
/// touched, so a connection that publishes little keeps little.
fn grow_out(out: &mut BytesMut, more: usize) {
    if out.try_reclaim(more) {
        return;
    }
    if out.len() + more > OUT_CAPACITY {
        // A message larger than the buffer.
        out.reserve(more);
        return;
    }
    let mut bigger = BytesMut::with_capacity(OUT_CAPACITY);
    bigger.extend_from_slice(out);
    *out = bigger;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(sid: u64, len: usize) -> Vec<u8> {
        let mut v = format!("MSG big {sid} {len}\r\n").into_bytes();
        v.resize(v.len() + len, b'x');
        v.extend_from_slice(b"\r\n");
        v
    }

    /// Hands `bytes` to the reader in 16 KB reads, reserving before each as the read loops
    /// do, and returns the complete frames.
    fn feed(side: &mut ReadSide, bytes: &[u8]) -> Vec<proto::MsgFrame> {
        let mut out = Vec::new();
        let mut rest = bytes;
        while !rest.is_empty() {
            side.reserve();
            let n = rest.len().min(side.rbuf.capacity() - side.rbuf.len()).min(16 * 1024);
            assert!(n > 0, "reserve left no room");
            side.rbuf.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            while let Some(op) = side.parser.parse(&mut side.rbuf).unwrap() {
                if let ServerOp::Msg(f) = op {
                    out.push(f);
                }
            }
        }
        out
    }

    #[test]
    fn a_publish_buffer_filled_to_the_high_water_mark_stays_within_its_capacity() {
        // As publish_inner fills it: room made before each frame, written out at the mark.
        for frame_len in [32, 145, 1_050, 20_000, 64 * 1024] {
            let mut out = BytesMut::new();
            let frame = vec![b'x'; frame_len];
            while out.len() < OUT_HIGH_WATER {
                if out.capacity() - out.len() < frame_len {
                    grow_out(&mut out, frame_len);
                }
                out.extend_from_slice(&frame);
            }
            assert_eq!(out.capacity(), OUT_CAPACITY, "frames of {frame_len} bytes");
        }
        // A message larger than the buffer still fits.
        let mut out = BytesMut::new();
        out.extend_from_slice(b"PUB a 1\r\n");
        grow_out(&mut out, 2 * OUT_CAPACITY);
        assert!(out.capacity() - out.len() >= 2 * OUT_CAPACITY);
        assert_eq!(&out[..], b"PUB a 1\r\n");
    }

    #[test]
    fn a_large_message_buffer_is_read_into_again_once_released() {
        let mut side = ReadSide::new(BytesMut::with_capacity(32 * 1024), READ_CHUNK_MIN);
        // Larger than a chunk: no room is left past its end for another one.
        let a = feed(&mut side, &frame(1, 300_000)).pop().unwrap();
        let a_ptr = a.buf.as_ptr();
        let b = feed(&mut side, &frame(2, 300_000)).pop().unwrap();
        assert_ne!(b.buf.as_ptr(), a_ptr, "the first message still holds its buffer");
        assert_eq!(b.buf.len(), frame(2, 300_000).len());
        drop(a);
        let c = feed(&mut side, &frame(3, 300_000)).pop().unwrap();
        assert_eq!(c.buf.as_ptr(), a_ptr, "the released buffer is read into again");
        assert_eq!(c.sid, 3);
        assert!(c.buf[c.data.0 as usize..c.data.1 as usize].iter().all(|&x| x == b'x'));
    }

    /// Hands `bytes` to the reader as a socket holding all of them would (each read takes
    /// all the room offered), and returns the complete frames and the reads it took.
    fn feed_whole(side: &mut ReadSide, bytes: &[u8]) -> (Vec<proto::MsgFrame>, usize) {
        let (mut out, mut reads) = (Vec::new(), 0);
        let mut rest = bytes;
        while !rest.is_empty() {
            side.reserve();
            let n = rest.len().min(side.rbuf.capacity() - side.rbuf.len());
            assert!(n > 0, "reserve left no room");
            side.rbuf.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            reads += 1;
            while let Some(op) = side.parser.parse(&mut side.rbuf).unwrap() {
                if let ServerOp::Msg(f) = op {
                    out.push(f);
                }
            }
        }
        (out, reads)
    }

    #[test]
    fn large_replies_of_varying_length_are_each_read_whole_once_buffers_are_spare() {
        // A request loop: each reply is released before the next arrives, and their control
        // lines differ by a byte or two (sids of one, two and three digits).
        let mut side = ReadSide::new(BytesMut::with_capacity(32 * 1024), READ_CHUNK_MIN);
        let mut reads_after_warmup = Vec::new();
        for sid in 1..200 {
            let (msgs, reads) = feed_whole(&mut side, &frame(sid, 65_536));
            assert_eq!(msgs.len(), 1);
            assert_eq!(msgs[0].sid, sid);
            if sid > 3 {
                reads_after_warmup.push(reads);
            }
        }
        assert!(reads_after_warmup.iter().all(|&r| r == 1), "reads per reply: {reads_after_warmup:?}");
    }

    #[test]
    fn a_stream_of_large_messages_is_read_past_each_ones_end() {
        // A subscriber behind a burst: the socket holds many large messages, and each one
        // is still held (queued for delivery) when the next read is made.
        for size in [40_000, 65_536, 100_000, 300_000] {
            let mut side = ReadSide::new(BytesMut::with_capacity(32 * 1024), READ_CHUNK_MIN);
            let burst: Vec<u8> = (0..60).flat_map(|sid| frame(sid, size)).collect();
            let (msgs, reads) = feed_whole(&mut side, &burst);
            assert_eq!(msgs.len(), 60);
            for (i, m) in msgs.iter().enumerate() {
                assert_eq!(m.sid, i as u64);
                assert_eq!(m.buf.len(), frame(m.sid, size).len());
                assert!(m.buf[m.data.0 as usize..m.data.1 as usize].iter().all(|&x| x == b'x'));
            }
            // Messages smaller than a chunk are read several at a time (reading each to
            // its end only takes a read per message or more).
            if size < READ_CHUNK_MIN {
                assert!(reads <= 30, "{size} B: {reads} reads for 60 messages");
            }
            // What is read past a message's end is mostly whole messages: little of it is
            // copied into another buffer.
            assert!(side.carried * 100 <= burst.len() * 3, "{size} B: {} of {} bytes carried over", side.carried, burst.len());
        }
    }

    #[test]
    fn reply_tokens_read_back_as_the_numbers_written() {
        for n in [0, 1, 61, 62, 3843, 3844, 1 << 40, u64::MAX - 1, u64::MAX] {
            let mut s = String::from("_INBOX.x.");
            push_base62(&mut s, n);
            let token = &s.as_bytes()["_INBOX.x.".len()..];
            assert!(token.len() <= 11);
            assert_eq!(parse_base62(token), Some(n), "{s}");
        }
        assert_eq!(parse_base62(b"Z"), Some(35));
        assert_eq!(parse_base62(b"10"), Some(62));
        // Nothing push_base62 cannot have written matches a request.
        for bad in [&b""[..], b"01", b"00", b"1.2", b"a-b", b"*", b"LygHa16AHYG", b"zzzzzzzzzzzz"] {
            assert_eq!(parse_base62(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn spare_read_buffers_stay_within_their_budget() {
        let mut side = ReadSide::new(BytesMut::with_capacity(32 * 1024), READ_CHUNK_MIN);
        let mut held = Vec::new();
        for sid in 0..100 {
            held.extend(feed(&mut side, &frame(sid, 100_000)));
            let total: usize = side.spares.iter().map(|s| s.size).sum();
            assert!(total <= READ_SPARE_BYTES, "{total} bytes of spares");
        }
        assert_eq!(held.len(), 100);
        assert!(!side.spares.is_empty());
    }

    #[test]
    fn small_message_buffers_are_reused_once_released_and_let_go_when_unused() {
        let mut side = ReadSide::new(BytesMut::with_capacity(32 * 1024), READ_CHUNK_MIN);
        let small: Vec<u8> = (0..5000).flat_map(|i| frame(i, 100)).collect();
        let held = feed(&mut side, &small);
        assert_eq!(held.len(), 5000);
        assert!(!side.spares.is_empty());
        assert!(side.spares.iter().map(|s| s.size).sum::<usize>() <= READ_SPARE_BYTES);
        assert!(side.allocated > 2);
        // Released: the reader reads into the buffers it read into before.
        drop(held);
        let allocated = side.allocated;
        let half: Vec<u8> = (0..2500).flat_map(|i| frame(i, 100)).collect();
        let again = feed(&mut side, &half);
        assert_eq!(again.len(), 2500);
        assert_eq!(side.allocated, allocated, "buffers were allocated with spares free");
        drop(again);
        // Spares unused for longer than READ_SPARE_TTL go at the next read...
        let long_ago = Instant::now().checked_sub(READ_SPARE_TTL * 2).unwrap();
        let young = side.spares.len();
        assert!(young > 1);
        for s in &mut side.spares {
            s.since = long_ago;
        }
        side.reserve();
        assert!(side.spares.is_empty());
        assert_eq!(side.spares_stale_at(), None);
        // ... or, on a reader with nothing to read, when the oldest goes stale: the young
        // ones stay until then.
        let more = feed(&mut side, &small);
        drop(more);
        assert!(side.spares.len() > 1);
        let first_stale = side.spares_stale_at().unwrap();
        assert!(first_stale > Instant::now() && first_stale <= Instant::now() + READ_SPARE_TTL);
        side.drop_stale_spares();
        assert!(side.spares.len() > 1, "young spares were dropped");
        let kept = side.spares.len();
        side.spares[0].since = long_ago;
        assert!(side.spares_stale_at().unwrap() < Instant::now());
        side.drop_stale_spares();
        assert_eq!(side.spares.len(), kept - 1);
    }
}
