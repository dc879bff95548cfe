//! Subscriptions, their pending queues and limits, and message delivery threads.
//!
//! A synchronous subscription keeps its messages in its own queue for `next_msg`. An
//! asynchronous one hands each message to a [`Dispatcher`]: its own thread by default, or a
//! thread of the shared pool when global delivery is chosen. A dispatcher calls the user's
//! handler for one message at a time per subscription, in arrival order, never under a lock.

use std::collections::VecDeque;
use std::ffi::CString;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use crate::core::lock::{Condvar, Mutex, MutexGuard};

use super::conn::{Conn, Kicker};
use super::msg::Msg;
use super::runtime::{self, PerProcess};
use super::sched::WakePolicy;
use super::status::{Error, Result, Status};

/// How long an idle dedicated dispatcher reads its connection before it goes back to waiting
/// for the reader's hand-over (it reads again after its next message).
const READ_WAIT_SLICE: Duration = Duration::from_secs(30);

/// Message handler: connection, subscription, and the message (`None` when a subscription
/// created with a timeout saw no message in time). Runs on the subscription's dispatcher.
pub type MsgCallback = Arc<dyn Fn(&Arc<Conn>, &Arc<Sub>, Option<Box<Msg>>) + Send + Sync>;
/// Called once, after the last message callback, when an async subscription is done.
pub type CompleteCallback = Box<dyn FnOnce() + Send>;

pub struct Sub {
    pub sid: u64,
    pub subject: String,
    pub subject_c: CString,
    pub queue: Option<String>,
    pub conn: Arc<Conn>,
    handler: Option<MsgCallback>,
    dispatcher: Option<Arc<Dispatcher>>,
    /// Subscribe-with-timeout: idle time after which the handler gets `None` (ms, 0 = none).
    pub timeout_ms: i64,
    pub(crate) state: Mutex<SubState>,
    pub(crate) cond: Condvar,
    /// The reader's verdict on the last read with messages for this subscription: it got
    /// under 1/SPARSE_SHARE of them (see UNSHARED_AFTER).
    sparse: AtomicBool,
}

pub struct SubState {
    msgs: VecDeque<Msg>,
    pub pending_msgs: i32,
    pub pending_bytes: i64,
    pub limit_msgs: i32,
    pub limit_bytes: i64,
    pub max_pending_msgs: i32,
    pub max_pending_bytes: i64,
    pub delivered: u64,
    pub dropped: i64,
    /// Auto-unsubscribe limit (0: none).
    pub max: u64,
    pub closed: bool,
    pub conn_closed: bool,
    slow: bool,
    in_callback: bool,
    /// Drain started: UNSUB sent, no new subscription traffic expected after the flush.
    pub draining: bool,
    /// The drain's flush is done: once the queue is empty, the drain is complete.
    drain_flushed: bool,
    /// Stop queueing new messages (the drain's flush failed).
    drain_skip: bool,
    pub drain_done: bool,
    /// The drain ran its course (not cut short by a close or a timeout).
    drain_natural: bool,
    pub drain_status: Status,
    on_complete: Option<CompleteCallback>,
    /// Set while a `next_msg` caller reads the connection instead of waiting on `cond`.
    poller: Option<Kicker>,
}

impl Sub {
    pub(crate) fn new(
        conn: Arc<Conn>,
        sid: u64,
        subject: &str,
        queue: Option<&str>,
        handler: Option<MsgCallback>,
        timeout_ms: i64,
        limits: (i32, i64),
    ) -> Result<Arc<Sub>> {
        let subject_c = CString::new(subject).map_err(|_| Error::new(Status::InvalidSubject))?;
        let dispatcher = match &handler {
            None => None,
            Some(_) if conn.opts.global_delivery && timeout_ms <= 0 => Some(pool_dispatcher()?),
            Some(_) => Some(Dispatcher::start_dedicated((timeout_ms <= 0).then(|| Arc::downgrade(&conn)))?),
        };
        Ok(Arc::new(Sub {
            sid,
            subject: subject.to_string(),
            subject_c,
            queue: queue.map(str::to_string),
            conn,
            handler,
            dispatcher,
            timeout_ms,
            sparse: AtomicBool::new(false),
            state: Mutex::new(SubState {
                msgs: VecDeque::new(),
                pending_msgs: 0,
                pending_bytes: 0,
                limit_msgs: limits.0,
                limit_bytes: limits.1,
                max_pending_msgs: 0,
                max_pending_bytes: 0,
                delivered: 0,
                dropped: 0,
                max: 0,
                closed: false,
                conn_closed: false,
                slow: false,
                in_callback: false,
                draining: false,
                drain_flushed: false,
                drain_skip: false,
                drain_done: false,
                drain_natural: false,
                drain_status: Status::Ok,
                on_complete: None,
                poller: None,
            }),
            cond: Condvar::new(),
        }))
    }

    pub fn is_async(&self) -> bool {
        self.handler.is_some()
    }

    /// Queues messages received for this subscription, in order, enforcing the pending
    /// limits message by message under one lock. Called by the connection's reader only
    /// (through [`Wakeups::add`]), so per-subscription order is kept.
    fn enqueue_all(self: &Arc<Sub>, msgs: Run, sparse: bool, wake: &mut Wakeups) {
        let mut st = self.state.lock();
        if st.closed || st.drain_skip {
            return;
        }
        // Each run of drops (a slow-consumer episode) is reported once.
        let mut episodes = 0;
        let msgs = msgs.retain_mut(|msg| {
            let len = msg.wire_len() as i64;
            let over_msgs = st.limit_msgs > 0 && st.pending_msgs >= st.limit_msgs;
            let over_bytes = st.limit_bytes > 0 && st.pending_bytes + len > st.limit_bytes;
            if over_msgs || over_bytes {
                st.dropped += 1;
                if !st.slow {
                    episodes += 1;
                }
                st.slow = true;
                return false;
            }
            st.slow = false;
            if sparse && st.pending_msgs >= UNSHARED_AFTER {
                // Waiting behind others while other subscriptions consume most of its read
                // buffer: a copy, so that it does not keep that buffer alive.
                msg.unshare();
            }
            st.pending_msgs += 1;
            st.pending_bytes += len;
            st.max_pending_msgs = st.max_pending_msgs.max(st.pending_msgs);
            st.max_pending_bytes = st.max_pending_bytes.max(st.pending_bytes);
            true
        });
        if let Some(msgs) = msgs {
            match &self.dispatcher {
                None => {
                    st.msgs.extend(msgs);
                    drop(st);
                    wake.sub(self);
                }
                Some(d) => {
                    drop(st);
                    wake.dispatch(d, Item::Msgs(self.clone(), msgs));
                }
            }
        } else {
            drop(st);
        }
        for _ in 0..episodes {
            self.conn.report_async_error(Some(self.clone()), Error::new(Status::SlowConsumer));
        }
    }

    /// Next message of a synchronous subscription (cnats' `natsSubscription_NextMsg`).
    pub fn next_msg(self: &Arc<Sub>, timeout_ms: i64) -> Result<Box<Msg>> {
        let mut st = self.state.lock();
        if st.conn_closed {
            return Err(Status::ConnectionClosed.into());
        }
        if st.closed {
            let s = if st.max > 0 && st.delivered >= st.max { Status::MaxDeliveredMsgs } else { Status::InvalidSubscription };
            return Err(s.into());
        }
        if self.handler.is_some() {
            return Err(Error::with_text(Status::IllegalState, "cannot call NextMsg on an asynchronous subscription"));
        }
        if st.slow {
            st.slow = false;
            return Err(Status::SlowConsumer.into());
        }
        if timeout_ms > 0 {
            let deadline = Instant::now() + Duration::from_millis(timeout_ms as u64);
            let mut may_read = true;
            while st.msgs.is_empty() && !st.closed && !st.draining {
                if may_read {
                    // Read the connection while waiting, if no one else does (see
                    // `Conn::read_while_waiting`); once per wake-up.
                    may_read = false;
                    MutexGuard::unlocked(&mut st, || {
                        self.conn.read_while_waiting(
                            deadline,
                            &|| {
                                let st = self.state.lock();
                                !st.msgs.is_empty() || st.closed || st.draining
                            },
                            &|k| self.state.lock().poller = k,
                        );
                    });
                    continue;
                }
                may_read = true;
                if self.cond.wait_until(&mut st, deadline).timed_out() {
                    break;
                }
            }
            if st.conn_closed {
                return Err(Status::ConnectionClosed.into());
            }
            if st.closed {
                return Err(Status::InvalidSubscription.into());
            }
        }
        let Some(mut msg) = st.msgs.pop_front() else {
            return Err(Status::Timeout.into());
        };
        st.pending_msgs -= 1;
        st.pending_bytes -= msg.wire_len() as i64;
        st.delivered += 1;
        let mut remove = false;
        let mut result = Ok(());
        if st.max > 0 {
            if st.delivered > st.max {
                result = Err(Error::new(Status::MaxDeliveredMsgs));
            } else if st.delivered == st.max {
                remove = true;
            }
        }
        let drained = st.draining && st.drain_flushed && st.msgs.is_empty();
        drop(st);
        self.cond.notify_all();
        if remove {
            self.conn.remove_sub(self);
        } else if drained {
            self.finish_drain();
        }
        result?;
        if msg.is_no_responders() {
            return Err(Status::NoResponders.into());
        }
        // Boxed by the thread that takes it, out of the subscription's lock.
        Ok(Box::new(msg))
    }

    /// Wakes whoever waits on this subscription's state: on `cond`, or reading the
    /// connection in `next_msg`.
    fn wake_waiters(&self) {
        self.cond.notify_all();
        let poller = self.state.lock().poller.clone();
        if let Some(k) = poller {
            k.kick();
        }
    }

    /// Marks the subscription closed and lets its dispatcher finish. Idempotent.
    pub(crate) fn close_local(self: &Arc<Sub>, conn_closed: bool) {
        let mut st = self.state.lock();
        if conn_closed {
            st.conn_closed = true;
        }
        if st.closed {
            drop(st);
            self.wake_waiters();
            return;
        }
        st.closed = true;
        if !self.is_async() {
            // Messages left in a closed sync subscription are released now.
            st.msgs.clear();
            st.pending_msgs = 0;
            st.pending_bytes = 0;
            if st.draining {
                set_drain_complete(&mut st);
            }
        }
        drop(st);
        self.wake_waiters();
        if let Some(d) = &self.dispatcher {
            d.push(Item::Close(self.clone()));
        }
    }

    /// Sets an auto-unsubscribe maximum; returns false if already delivered that many.
    pub(crate) fn set_max(&self, max: u64) -> bool {
        let mut st = self.state.lock();
        if st.delivered >= max {
            return false;
        }
        st.max = max;
        true
    }

    pub fn is_valid(&self) -> bool {
        !self.state.lock().closed
    }

    pub fn set_on_complete(&self, cb: Option<CompleteCallback>) -> Result<()> {
        let mut st = self.state.lock();
        if st.closed || !self.is_async() {
            return Err(Status::InvalidSubscription.into());
        }
        st.on_complete = cb;
        Ok(())
    }

    pub fn with_state<R>(&self, f: impl FnOnce(&mut SubState) -> R) -> Result<R> {
        let mut st = self.state.lock();
        if st.closed {
            return Err(Status::InvalidSubscription.into());
        }
        Ok(f(&mut st))
    }

    /// Marks the drain as started (the caller has queued UNSUB). Returns false if it
    /// already was.
    pub(crate) fn mark_drain_started(&self) -> Result<bool> {
        let mut st = self.state.lock();
        if st.closed {
            return Err(Status::InvalidSubscription.into());
        }
        if st.draining {
            return Ok(false);
        }
        st.draining = true;
        Ok(true)
    }

    /// The drain's flush is done (`flush` is its outcome): from now on the drain completes
    /// when the queue is empty, and at once if it already is.
    pub(crate) fn drain_flushed(self: &Arc<Sub>, flush: Result<()>) {
        let idle = {
            let mut st = self.state.lock();
            if let Err(e) = flush {
                update_drain_status(&mut st, e.status);
                st.drain_skip = true;
            }
            st.drain_flushed = true;
            st.pending_msgs == 0 && !st.in_callback
        };
        self.wake_waiters();
        if idle {
            self.finish_drain();
        }
    }

    /// Records a drain failure (kept only if no earlier one was).
    pub(crate) fn set_drain_status(&self, status: Status) {
        update_drain_status(&mut self.state.lock(), status);
    }

    /// Drains this subscription alone: the caller has queued UNSUB. A library thread
    /// flushes, then waits; with a timeout, a drain still running at the deadline ends with
    /// NATS_TIMEOUT and the subscription is closed.
    pub(crate) fn start_drain(self: &Arc<Sub>, timeout_ms: i64) -> Result<()> {
        if !self.mark_drain_started()? {
            return Ok(());
        }
        let sub = self.clone();
        runtime::spawn_thread("nats-drain", move || {
            let deadline = (timeout_ms > 0).then(|| Instant::now() + Duration::from_millis(timeout_ms as u64));
            let flush_ms = deadline.map_or(10_000, |d| d.saturating_duration_since(Instant::now()).as_millis() as i64);
            let res = sub.conn.flush_timeout(flush_ms.max(1));
            sub.drain_flushed(res);
            let Some(deadline) = deadline else { return };
            let mut st = sub.state.lock();
            while !st.drain_done {
                if sub.cond.wait_until(&mut st, deadline).timed_out() {
                    break;
                }
            }
            if !st.drain_done {
                update_drain_status(&mut st, Status::Timeout);
                drop(st);
                sub.conn.remove_sub(&sub);
            }
        })
        .map_err(|e| Error::with_text(Status::SysError, format!("cannot start drain thread: {e}")))?;
        Ok(())
    }

    /// A drain that ran its course: the subscription is removed, and the drain completes
    /// with NATS_OK once removed (for an async subscription, after its last callback).
    pub(crate) fn finish_drain(self: &Arc<Sub>) {
        {
            let mut st = self.state.lock();
            if st.drain_done || st.drain_natural {
                return;
            }
            st.drain_natural = true;
        }
        self.conn.remove_sub(self);
        if !self.is_async() {
            let mut st = self.state.lock();
            set_drain_complete(&mut st);
        }
        self.wake_waiters();
    }

    pub fn wait_drain(&self, timeout_ms: i64) -> Result<()> {
        let mut st = self.state.lock();
        if !st.draining {
            return Err(Error::with_text(Status::IllegalState, "Subscription not in draining mode"));
        }
        let deadline = (timeout_ms > 0).then(|| Instant::now() + Duration::from_millis(timeout_ms as u64));
        while !st.drain_done {
            match deadline {
                Some(d) => {
                    if self.cond.wait_until(&mut st, d).timed_out() {
                        return Err(Status::Timeout.into());
                    }
                }
                None => self.cond.wait(&mut st),
            }
        }
        Ok(())
    }

    pub fn drain_completion_status(&self) -> Status {
        let st = self.state.lock();
        if !st.drain_done {
            Status::IllegalState
        } else {
            st.drain_status
        }
    }

    pub fn is_draining(&self) -> bool {
        self.state.lock().draining
    }

    /// The dispatcher's side of a run of messages: each is counted out of the pending ones
    /// and handed to the callback, in order. The end of one callback and the start of the
    /// next share one lock of the state. `may_write_last`: the last callback may write its
    /// first publish itself (nothing else is queued behind it).
    fn deliver_all(self: &Arc<Sub>, msgs: Run, may_write_last: bool) {
        let n = msgs.len();
        let mut st = self.state.lock();
        for (i, msg) in msgs.into_iter().enumerate() {
            st.pending_msgs -= 1;
            st.pending_bytes -= msg.wire_len() as i64;
            if st.closed {
                continue;
            }
            st.delivered += 1;
            let (d, max) = (st.delivered, st.max);
            if max > 0 && d > max {
                continue;
            }
            st.in_callback = true;
            drop(st);
            if let Some(h) = &self.handler {
                // The grant is off outside this window (a publish only ever clears it), and
                // the thread-local is a call in a shared library: set only when granted.
                let grant = may_write_last && i + 1 == n;
                if grant {
                    super::conn::set_direct_budget(true);
                }
                // Boxed here, so that a callback that destroys its message frees memory
                // this thread allocated.
                let msg = Box::new(msg);
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| h(&self.conn, self, Some(msg))));
                if grant {
                    super::conn::set_direct_budget(false);
                }
            }
            st = self.state.lock();
            st.in_callback = false;
            let drained = st.draining && st.drain_flushed && st.pending_msgs == 0;
            self.cond.notify_all();
            if max > 0 && d == max {
                drop(st);
                self.conn.remove_sub(self);
                st = self.state.lock();
            } else if drained {
                drop(st);
                self.finish_drain();
                st = self.state.lock();
            }
        }
        drop(st);
        self.cond.notify_all();
    }

    fn deliver_timeout(self: &Arc<Sub>) {
        if self.state.lock().closed {
            return;
        }
        if let Some(h) = &self.handler {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| h(&self.conn, self, None)));
        }
    }

    fn complete(&self) {
        let cb = {
            let mut st = self.state.lock();
            if st.draining {
                set_drain_complete(&mut st);
            }
            st.on_complete.take()
        };
        self.cond.notify_all();
        if let Some(cb) = cb {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(cb));
        }
    }
}

/// Messages of one subscription in arrival order. A single message (the common case when
/// several subscriptions' messages interleave) needs no allocation.
pub(crate) enum Run {
    One(Msg),
    Many(Vec<Msg>),
}

impl Run {
    fn len(&self) -> usize {
        match self {
            Run::One(_) => 1,
            Run::Many(v) => v.len(),
        }
    }

    fn push(&mut self, msg: Msg) {
        match self {
            Run::Many(v) => v.push(msg),
            Run::One(_) => {
                if let Run::One(first) = std::mem::replace(self, Run::Many(Vec::with_capacity(16))) {
                    if let Run::Many(v) = self {
                        v.push(first);
                        v.push(msg);
                    }
                }
            }
        }
    }

    /// Keeps the messages `keep` accepts (in order); `None` when none is left.
    fn retain_mut(self, mut keep: impl FnMut(&mut Msg) -> bool) -> Option<Run> {
        match self {
            Run::One(mut m) => keep(&mut m).then_some(Run::One(m)),
            Run::Many(mut v) => {
                v.retain_mut(keep);
                (!v.is_empty()).then_some(Run::Many(v))
            }
        }
    }
}

impl IntoIterator for Run {
    type Item = Msg;
    type IntoIter = RunIter;
    fn into_iter(self) -> RunIter {
        match self {
            Run::One(m) => RunIter::One(Some(m)),
            Run::Many(v) => RunIter::Many(v.into_iter()),
        }
    }
}

pub(crate) enum RunIter {
    One(Option<Msg>),
    Many(std::vec::IntoIter<Msg>),
}

impl Iterator for RunIter {
    type Item = Msg;
    fn next(&mut self) -> Option<Msg> {
        match self {
            RunIter::One(m) => m.take(),
            RunIter::Many(it) => it.next(),
        }
    }
}

enum Item {
    /// Messages of one subscription, in order (one read's worth at most).
    Msgs(Arc<Sub>, Run),
    /// Installs the idle timer of a subscribe-with-timeout (dedicated dispatchers only).
    Arm(Arc<Sub>),
    /// Ends a pool dispatcher (library close).
    Stop,
    Close(Arc<Sub>),
}

/// A queue drained by one library thread.
pub struct Dispatcher {
    q: Mutex<DispatchQueue>,
    cond: Condvar,
    /// A dedicated dispatcher's connection: while idle, the thread reads it itself (see
    /// [`Conn::read_while_waiting`]), so that a message for its subscription is handled
    /// without a hand-over from another thread.
    conn: Option<Weak<Conn>>,
}

struct DispatchQueue {
    items: VecDeque<Item>,
    /// The thread has ended (a dedicated dispatcher after its close marker): later items
    /// are dropped instead of queued, so none keeps its subscription alive.
    stopped: bool,
    /// Set while the thread reads its connection instead of waiting on `cond`: whoever
    /// queues something kicks it.
    poller: Option<Kicker>,
}

/// A received message shares the read buffer it was parsed from, which stays allocated
/// until every message in it is destroyed. A subscription that gets a small part of what a
/// connection reads (under 1/SPARSE_SHARE of the messages of a read) and falls behind
/// would keep alive buffers the other subscriptions already consumed, so its messages
/// queued behind UNSHARED_AFTER others get their own copy: such a subscription keeps at
/// most that many read buffers alive. Subscriptions that share reads evenly (fan-out,
/// queue groups) or alone keep sharing: they free their buffers in order.
const UNSHARED_AFTER: i32 = 8;
const SPARSE_SHARE: usize = 8;

/// Most items a delivery thread takes from its queue under one lock.
const DISPATCH_BATCH: usize = 256;

impl Dispatcher {
    fn new(conn: Option<Weak<Conn>>) -> Arc<Dispatcher> {
        Arc::new(Dispatcher {
            q: Mutex::new(DispatchQueue { items: VecDeque::new(), stopped: false, poller: None }),
            cond: Condvar::new(),
            conn,
        })
    }

    fn push(&self, item: Item) {
        let mut q = self.q.lock();
        if q.stopped {
            return;
        }
        q.items.push_back(item);
        let poller = q.poller.clone();
        drop(q);
        self.cond.notify_one();
        if let Some(k) = poller {
            k.kick();
        }
    }

    /// Queues a batch under one lock and wakes the thread.
    fn push_all(&self, items: &mut Vec<Item>) {
        let mut q = self.q.lock();
        if q.stopped {
            drop(q);
            items.clear();
            return;
        }
        q.items.extend(items.drain(..));
        let poller = q.poller.clone();
        drop(q);
        self.cond.notify_one();
        if let Some(k) = poller {
            k.kick();
        }
    }

    /// Marks the thread as ended and releases whatever is still queued.
    fn stop(&self) {
        let rest = {
            let mut q = self.q.lock();
            q.stopped = true;
            std::mem::take(&mut q.items)
        };
        drop(rest);
    }

    fn start_dedicated(conn: Option<Weak<Conn>>) -> Result<Arc<Dispatcher>> {
        let d = Dispatcher::new(conn);
        let d2 = d.clone();
        runtime::spawn_thread("nats-sub", move || d2.run(true))
            .map_err(|e| Error::with_text(Status::SysError, format!("cannot start delivery thread: {e}")))?;
        Ok(d)
    }

    /// Delivery loop. A dedicated dispatcher ends after its subscription's close marker; a
    /// pool dispatcher runs for the life of the process.
    fn run(&self, dedicated: bool) {
        let mut idle_timeout: Option<(Arc<Sub>, Duration)> = None;
        // Items are taken a batch at a time: one lock for up to DISPATCH_BATCH of them. The
        // batch is bounded so that a backlog is held once (in the queue), not twice.
        let mut batch: VecDeque<Item> = VecDeque::with_capacity(DISPATCH_BATCH);
        // Whether more items were queued behind the current batch when it was taken.
        let mut more = false;
        // Messages handed over since the queue was last found empty, which tells the thread
        // whether it works through backlogs (see `sched`).
        let mut handled = 0;
        let mut wake = WakePolicy::for_current_thread();
        loop {
            if batch.is_empty() {
                let mut q = self.q.lock();
                let mut may_read = true;
                loop {
                    if !q.items.is_empty() {
                        let n = q.items.len().min(DISPATCH_BATCH);
                        batch.extend(q.items.drain(..n));
                        more = !q.items.is_empty();
                        break;
                    }
                    if let Some(b) = wake.caught_up(std::mem::take(&mut handled)) {
                        MutexGuard::unlocked(&mut q, || wake.switch(b));
                        continue;
                    }
                    if may_read && idle_timeout.is_none() {
                        // Once per wake-up: when the role is taken or the session ended,
                        // wait for the reader's hand-over instead.
                        may_read = false;
                        if let Some(conn) = self.conn.as_ref().and_then(Weak::upgrade) {
                            MutexGuard::unlocked(&mut q, || {
                                conn.read_while_waiting(
                                    Instant::now() + READ_WAIT_SLICE,
                                    &|| !self.q.lock().items.is_empty(),
                                    &|k| self.q.lock().poller = k,
                                );
                            });
                            continue;
                        }
                    }
                    may_read = true;
                    match &idle_timeout {
                        Some((_, t)) => {
                            if self.cond.wait_for(&mut q, *t).timed_out() && q.items.is_empty() {
                                break;
                            }
                        }
                        None => self.cond.wait(&mut q),
                    }
                }
            }
            match batch.pop_front() {
                None => {
                    if let Some((sub, _)) = &idle_timeout {
                        sub.deliver_timeout();
                    }
                }
                Some(Item::Msgs(sub, msgs)) => {
                    handled += msgs.len();
                    // When nothing else is queued here, a reply from the last callback may
                    // be written at once by this thread.
                    sub.deliver_all(msgs, batch.is_empty() && !more);
                }
                Some(Item::Arm(sub)) => {
                    if dedicated && sub.timeout_ms > 0 {
                        idle_timeout = Some((sub.clone(), Duration::from_millis(sub.timeout_ms as u64)));
                    }
                }
                Some(Item::Close(sub)) => {
                    sub.complete();
                    if dedicated {
                        self.stop();
                        return;
                    }
                }
                Some(Item::Stop) => {
                    self.stop();
                    return;
                }
            }
        }
    }
}

/// Starts the idle timer of a subscribe-with-timeout at subscribe time, before any message.
pub(crate) fn arm_timeout(sub: &Arc<Sub>) {
    if let Some(d) = &sub.dispatcher {
        if sub.timeout_ms > 0 {
            d.push(Item::Arm(Arc::clone(sub)));
        }
    }
}

/// Per process: the pool threads of the parent do not exist in the child of a fork().
static POOL: PerProcess<Mutex<Vec<Arc<Dispatcher>>>> = PerProcess::new(|| Mutex::new(Vec::new()));
static POOL_MAX: AtomicUsize = AtomicUsize::new(1);
static POOL_NEXT: AtomicUsize = AtomicUsize::new(0);

/// cnats' `nats_SetMessageDeliveryPoolSize`: the pool may grow but never shrinks.
pub fn set_pool_size(max: usize) {
    let cur = POOL_MAX.load(Ordering::Relaxed);
    if max > cur {
        POOL_MAX.store(max, Ordering::Relaxed);
    }
}

fn pool_dispatcher() -> Result<Arc<Dispatcher>> {
    let mut pool = POOL.get().lock();
    let max = POOL_MAX.load(Ordering::Relaxed).max(1);
    let idx = POOL_NEXT.fetch_add(1, Ordering::Relaxed) % max;
    if idx >= pool.len() {
        let d = Dispatcher::new(None);
        let d2 = d.clone();
        runtime::spawn_thread("nats-pool", move || d2.run(false))
            .map_err(|e| Error::with_text(Status::SysError, format!("cannot start delivery thread: {e}")))?;
        pool.push(d);
        return Ok(pool[pool.len() - 1].clone());
    }
    Ok(pool[idx].clone())
}

/// Stops the pool's threads once they have delivered what is queued (library close).
pub fn shutdown_pool() {
    let pool: Vec<_> = POOL.get().lock().drain(..).collect();
    for d in pool {
        d.push(Item::Stop);
    }
}

/// The pool size in force (for tests and nats_OpenWithConfig).
pub fn pool_size() -> usize {
    POOL_MAX.load(Ordering::Relaxed)
}

fn update_drain_status(st: &mut SubState, status: Status) {
    if st.drain_status == Status::Ok {
        st.drain_status = status;
    }
}

/// cnats: a drain ended by a close reports how the subscription was closed.
fn set_drain_complete(st: &mut SubState) {
    if st.drain_done {
        return;
    }
    if st.drain_status == Status::Ok && !st.drain_natural {
        if st.conn_closed {
            st.drain_status = Status::ConnectionClosed;
        } else if st.closed {
            st.drain_status = Status::InvalidSubscription;
        }
    }
    st.drain_done = true;
}

/// Work owed by the reader for the messages it parsed from one read: messages for each
/// delivery thread are handed over under one lock, and each delivery thread or sync
/// subscription is woken once per batch, not once per message.
#[derive(Default)]
pub struct Wakeups {
    /// Consecutive messages of one subscription, queued together when the subscription
    /// changes or the batch is flushed: one lock of the subscription and one hand-over per
    /// run of messages instead of per message.
    run: Option<(Arc<Sub>, Run)>,
    /// Messages handed over since the last flush, in all and per subscription (up to MAX
    /// subscriptions), to tell a subscription that gets a small part of a read.
    seen_total: usize,
    seen: Vec<(Arc<Sub>, usize)>,
    subs: Vec<Arc<Sub>>,
    dispatchers: Vec<(Arc<Dispatcher>, Vec<Item>)>,
    /// Batches not in use, kept for their capacity.
    spare: Vec<Vec<Item>>,
}

impl Wakeups {
    const MAX: usize = 32;

    /// Queues a message received for `s` (see [`Sub::enqueue_all`]).
    pub(crate) fn add(&mut self, s: &Arc<Sub>, msg: Msg) {
        if let Some((cur, msgs)) = &mut self.run {
            if Arc::ptr_eq(cur, s) {
                msgs.push(msg);
                return;
            }
        }
        self.end_run();
        self.run = Some((s.clone(), Run::One(msg)));
    }

    fn end_run(&mut self) {
        let Some((s, msgs)) = self.run.take() else { return };
        self.seen_total += msgs.len();
        let count = match self.seen.iter().position(|(x, _)| Arc::ptr_eq(x, &s)) {
            Some(i) => {
                self.seen[i].1 += msgs.len();
                self.seen[i].1
            }
            None if self.seen.len() < Self::MAX => {
                self.seen.push((s.clone(), msgs.len()));
                msgs.len()
            }
            // Beyond MAX subscriptions in one read, each has a small part of it on average:
            // this run is the estimate.
            None => msgs.len(),
        };
        // Early in a read the share is not known yet: the last read's verdict stands in.
        let sparse = count * SPARSE_SHARE < self.seen_total || s.sparse.load(Ordering::Relaxed);
        s.enqueue_all(msgs, sparse, self);
    }

    fn sub(&mut self, s: &Arc<Sub>) {
        if self.subs.iter().rev().any(|x| Arc::ptr_eq(x, s)) {
            return;
        }
        if self.subs.len() >= Self::MAX {
            s.cond.notify_all();
            return;
        }
        self.subs.push(s.clone());
    }

    fn dispatch(&mut self, d: &Arc<Dispatcher>, item: Item) {
        if let Some((_, items)) = self.dispatchers.iter_mut().rev().find(|(x, _)| Arc::ptr_eq(x, d)) {
            items.push(item);
            return;
        }
        if self.dispatchers.len() >= Self::MAX {
            d.push(item);
            return;
        }
        let mut items = self.spare.pop().unwrap_or_default();
        items.push(item);
        self.dispatchers.push((d.clone(), items));
    }

    /// Hands over and wakes everything owed.
    pub fn flush(&mut self) {
        self.end_run();
        let total = std::mem::take(&mut self.seen_total);
        for (s, count) in self.seen.drain(..) {
            s.sparse.store(count * SPARSE_SHARE < total, Ordering::Relaxed);
        }
        for s in self.subs.drain(..) {
            s.cond.notify_all();
        }
        for (d, mut items) in self.dispatchers.drain(..) {
            d.push_all(&mut items);
            self.spare.push(items);
        }
    }
}

impl Drop for Wakeups {
    fn drop(&mut self) {
        self.flush();
    }
}
