//! Integration tests of the pure Rust core (`nats::core`) against a real `nats-server`.
//!
//! Every test starts its own server on a free 127.0.0.1 port (see `common`), so tests run in
//! parallel. Each test names, in a comment, the cnats 3.13 behaviour it pins. Synchronisation
//! uses flushes (a PONG comes after every MSG the server sent before it), channels and
//! condition variables, never fixed sleeps; the only sleeps make a handler slow on purpose.

mod common;

use std::ops::Deref;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use common::NatsServer;
use nats::core::conn::Conn;
use nats::core::msg::Msg;
use nats::core::options::Options;
use nats::core::status::{ConnStatus, Result, Status};
use nats::core::sub::{MsgCallback, Sub};

/// Upper bound for anything that should happen "soon".
const WAIT: Duration = Duration::from_secs(5);
const FLUSH_MS: i64 = 5_000;

// ----- helpers -----

fn opts(srv: &NatsServer) -> Options {
    Options { url: Some(srv.url()), ..Default::default() }
}

/// A connection closed when the test ends (even when it fails), so that no reconnect loop
/// keeps running once the server is gone.
struct Client(Arc<Conn>);

impl Deref for Client {
    type Target = Arc<Conn>;
    fn deref(&self) -> &Arc<Conn> {
        &self.0
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.0.close();
    }
}

fn connect_with(o: Options) -> Client {
    match Conn::connect(o) {
        Ok(c) => Client(c),
        Err(e) => panic!("connect failed: {:?} {}", e.status, e.message()),
    }
}

fn connect(srv: &NatsServer) -> Client {
    connect_with(opts(srv))
}

/// The status of an expected failure.
fn status_of<T>(r: Result<T>) -> Status {
    match r {
        Ok(_) => panic!("expected an error, got Ok"),
        Err(e) => e.status,
    }
}

fn handler(f: impl Fn(&Arc<Conn>, &Arc<Sub>, Option<Box<Msg>>) + Send + Sync + 'static) -> Option<MsgCallback> {
    Some(Arc::new(f))
}

fn flush(nc: &Conn) {
    if let Err(e) = nc.flush_timeout(FLUSH_MS) {
        panic!("flush failed: {:?} {}", e.status, e.message());
    }
}

/// Waits until every event (closed/disconnected callbacks, async errors) posted so far has
/// run: events run one at a time in posting order, so once the closed callback of a fresh
/// connection closed now has run, everything posted before it has run too.
fn event_barrier(srv: &NatsServer) {
    let (tx, rx) = mpsc::channel();
    let mut o = opts(srv);
    o.closed_cb = Some(Arc::new(move |_c: &Arc<Conn>| {
        let _ = tx.send(());
    }));
    let c = Conn::connect(o).expect("connect barrier connection");
    c.close();
    rx.recv_timeout(WAIT).expect("closed callback of the barrier connection did not run");
}

/// A gate a handler can block on until the test opens it.
#[derive(Default)]
struct Gate {
    open: Mutex<bool>,
    cv: Condvar,
}

impl Gate {
    fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.cv.notify_all();
    }
    fn wait(&self) {
        let mut g = self.open.lock().unwrap();
        while !*g {
            g = self.cv.wait(g).unwrap();
        }
    }
}

/// Opens the gate when dropped, so a failing test never leaves a handler blocked.
struct OpenOnDrop(Arc<Gate>);

impl Drop for OpenOnDrop {
    fn drop(&mut self) {
        self.0.open();
    }
}

// ----- connection lifecycle -----

#[test]
fn connect_status_connected_then_close_is_closed() {
    // cnats: natsConnection_Connect returns a CONNECTED connection (GetConnectedUrl, client id
    // and server id known); natsConnection_Close moves it to CLOSED, after which
    // GetConnectedUrl returns nothing, and the closed callback runs exactly once (a second
    // Close is a no-op).
    let srv = NatsServer::start();
    let closed = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = mpsc::channel();
    let mut o = opts(&srv);
    let c2 = closed.clone();
    o.closed_cb = Some(Arc::new(move |_c: &Arc<Conn>| {
        c2.fetch_add(1, Ordering::SeqCst);
        let _ = tx.send(());
    }));
    let nc = connect_with(o);
    assert_eq!(nc.status(), ConnStatus::Connected);
    assert!(!nc.is_closed());
    let url = nc.connected_url().expect("connected URL while connected");
    assert!(url.contains(&format!("127.0.0.1:{}", srv.port())), "connected url {url}");
    assert!(nc.client_id().expect("client id") > 0);
    assert!(nc.connected_server_id().is_some_and(|s| !s.is_empty()));
    flush(&nc);

    nc.close();
    assert_eq!(nc.status(), ConnStatus::Closed);
    assert!(nc.is_closed());
    assert_eq!(nc.connected_url(), None);
    rx.recv_timeout(WAIT).expect("closed callback after Close");
    nc.close();
    event_barrier(&srv);
    assert_eq!(closed.load(Ordering::SeqCst), 1, "closed callback must run exactly once");
}

#[test]
fn connect_to_closed_port_fails_with_no_server() {
    // cnats: natsConnection_Connect to an address where nothing listens fails with
    // NATS_NO_SERVER ("No server available for connection").
    common::server_bin(); // the suite needs a server; fail clearly here too if there is none
    let port = common::free_port();
    let o = Options { url: Some(format!("nats://127.0.0.1:{port}")), ..Default::default() };
    let start = Instant::now();
    assert_eq!(status_of(Conn::connect(o)), Status::NoServer);
    assert!(start.elapsed() < Duration::from_secs(3), "refused connect took {:?}", start.elapsed());
}

// ----- publish / subscribe -----

#[test]
fn sync_subscription_receives_subject_reply_and_data() {
    // cnats: natsConnection_SubscribeSync + natsSubscription_NextMsg return each message with
    // the subject, reply and data it was published with; PendingMsgs counts what is queued;
    // NextMsg with nothing queued returns NATS_TIMEOUT.
    let srv = NatsServer::start();
    let nc = connect(&srv);
    let sub = nc.subscribe("sync.foo", None, None, 0).unwrap();
    assert!(sub.is_valid());
    nc.publish(b"sync.foo", Some(b"my.reply"), None, b"hello").unwrap();
    nc.publish(b"sync.foo", None, None, b"").unwrap();
    flush(&nc);
    assert_eq!(sub.with_state(|st| st.pending_msgs).unwrap(), 2);

    let m = sub.next_msg(2_000).unwrap();
    assert_eq!(m.subject(), b"sync.foo");
    assert_eq!(m.reply(), Some(&b"my.reply"[..]));
    assert_eq!(m.data(), b"hello");
    let m = sub.next_msg(2_000).unwrap();
    assert_eq!(m.subject(), b"sync.foo");
    assert_eq!(m.reply(), None);
    assert_eq!(m.data(), b"");
    assert!(!m.has_headers());

    let start = Instant::now();
    assert_eq!(status_of(sub.next_msg(100)), Status::Timeout);
    assert!(start.elapsed() >= Duration::from_millis(90));
    assert_eq!(sub.with_state(|st| (st.pending_msgs, st.delivered)).unwrap(), (0, 2));
}

#[test]
fn async_handler_delivers_in_order_on_a_library_thread() {
    // cnats: natsConnection_Subscribe calls the handler for every message, one at a time, in
    // the order received, on the subscription's own delivery thread (never the caller's).
    const N: usize = 200;
    let srv = NatsServer::start();
    let nc = connect(&srv);
    let test_thread = thread::current().id();
    let (tx, rx) = mpsc::channel::<(ThreadId, Vec<u8>)>();
    let sub = nc
        .subscribe(
            "async.foo",
            None,
            handler(move |_c, _s, m| {
                let m = m.expect("message");
                tx.send((thread::current().id(), m.data().to_vec())).unwrap();
            }),
            0,
        )
        .unwrap();
    for i in 0..N {
        nc.publish(b"async.foo", None, None, i.to_string().as_bytes()).unwrap();
    }
    flush(&nc);
    let mut tid = None;
    for i in 0..N {
        let (t, d) = rx.recv_timeout(WAIT).unwrap_or_else(|_| panic!("message {i} not delivered"));
        assert_ne!(t, test_thread, "handler ran on the test thread");
        assert_eq!(*tid.get_or_insert(t), t, "one delivery thread per subscription");
        assert_eq!(d, i.to_string().into_bytes(), "out of order at {i}");
    }
    flush(&nc);
    let (delivered, pending, dropped) = sub.with_state(|st| (st.delivered, st.pending_msgs, st.dropped)).unwrap();
    assert_eq!((delivered, pending, dropped), (N as u64, 0, 0));
    assert!(rx.try_recv().is_err(), "more than {N} messages delivered");
    assert_eq!(status_of(sub.next_msg(10)), Status::IllegalState, "NextMsg on an async subscription");
}

#[test]
fn a_backlog_larger_than_one_dispatch_batch_is_delivered_in_order_with_exact_pending_counts() {
    // The first callback holds the delivery thread until all N messages are queued behind it,
    // so the delivery thread then works through a backlog several dispatch batches long.
    // Each callback must see the pending count drop by exactly one per delivered message.
    const N: usize = 3000;
    let srv = NatsServer::start();
    let nc = connect(&srv);
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let (tx, rx) = mpsc::channel::<(Vec<u8>, i32)>();
    let sub = nc
        .subscribe(
            "backlog.foo",
            None,
            handler(move |_c, s, m| {
                let m = m.expect("message");
                if m.data() == b"0" {
                    release_rx.lock().unwrap().recv_timeout(WAIT).expect("released");
                }
                let pending = s.with_state(|st| st.pending_msgs).unwrap();
                tx.send((m.data().to_vec(), pending)).unwrap();
            }),
            0,
        )
        .unwrap();
    for i in 0..N {
        nc.publish(b"backlog.foo", None, None, i.to_string().as_bytes()).unwrap();
    }
    flush(&nc);
    let start = Instant::now();
    while sub.with_state(|st| st.pending_msgs).unwrap() < (N - 1) as i32 {
        assert!(start.elapsed() < WAIT, "the backlog never built up");
        thread::sleep(Duration::from_millis(5));
    }
    release_tx.send(()).unwrap();
    for i in 0..N {
        let (d, pending) = rx.recv_timeout(WAIT).unwrap_or_else(|_| panic!("message {i} not delivered"));
        assert_eq!(d, i.to_string().into_bytes(), "out of order at {i}");
        assert_eq!(pending, (N - 1 - i) as i32, "pending count in callback {i}");
    }
    assert!(rx.try_recv().is_err(), "more than {N} messages delivered");
}

#[cfg(target_os = "linux")]
#[test]
fn a_delivery_thread_that_works_through_a_backlog_wakes_without_preempting_until_messages_come_one_by_one() {
    // (This library's own: cnats' delivery threads keep the default policy.) A delivery
    // thread that caught up after a backlog runs under SCHED_BATCH; once it has handled
    // messages one at a time for a while, it is back under SCHED_OTHER.
    if std::env::var_os("NATS_SCHED_BATCH").is_some_and(|v| v == "0") || !common::sched::batch_permitted() {
        return;
    }
    const N: usize = 500;
    let srv = NatsServer::start();
    let nc = connect(&srv);
    let (_sub, rx) = common::sched::gated_backlog(&nc, "sched.foo", N);
    let (d, policy) = rx.recv_timeout(WAIT).expect("first message");
    assert_eq!(d, b"first");
    assert_eq!(policy, libc::SCHED_OTHER, "a new delivery thread starts under the default policy");
    for i in 0..N {
        let (d, _) = rx.recv_timeout(WAIT).unwrap_or_else(|_| panic!("backlog message {i} not delivered"));
        assert_eq!(d, b"backlog");
    }
    // One message at a time, each delivered before the next is sent: the first comes after
    // the catch-up that followed the backlog.
    let mut seen = Vec::new();
    for i in 0..100 {
        nc.publish(b"sched.foo", None, None, b"one").unwrap();
        let (_, policy) = rx.recv_timeout(WAIT).unwrap_or_else(|_| panic!("single message {i} not delivered"));
        seen.push(policy);
        if policy == libc::SCHED_OTHER {
            break;
        }
    }
    assert_eq!(seen[0], libc::SCHED_BATCH, "after the backlog: {seen:?}");
    assert_eq!(*seen.last().unwrap(), libc::SCHED_OTHER, "never back to the default policy: {seen:?}");
    assert!(seen.len() >= 8, "back to the default policy after too few single messages: {seen:?}");
}

#[test]
fn global_delivery_async_handlers_in_order_on_the_shared_pool_thread() {
    // cnats: with natsOptions_UseGlobalMessageDelivery(true) async subscriptions are served by
    // the library's delivery pool (default size 1, so one thread for all of them), still one
    // message at a time per subscription and in order, never on the caller's thread.
    const N: usize = 100;
    let srv = NatsServer::start();
    let mut o = opts(&srv);
    o.global_delivery = true;
    let nc = connect_with(o);
    let test_thread = thread::current().id();
    let (tx, rx) = mpsc::channel::<(usize, ThreadId, Vec<u8>)>();
    let mut subs = Vec::new();
    for k in 0..2 {
        let tx = tx.clone();
        let subj = format!("global.{k}");
        subs.push(
            nc.subscribe(
                &subj,
                None,
                handler(move |_c, _s, m| {
                    let m = m.expect("message");
                    tx.send((k, thread::current().id(), m.data().to_vec())).unwrap();
                }),
                0,
            )
            .unwrap(),
        );
    }
    drop(tx);
    for i in 0..N {
        for k in 0..2 {
            nc.publish(format!("global.{k}").as_bytes(), None, None, i.to_string().as_bytes()).unwrap();
        }
    }
    flush(&nc);
    let mut next = [0usize; 2];
    let mut tids = Vec::new();
    for _ in 0..2 * N {
        let (k, t, d) = rx.recv_timeout(WAIT).expect("message not delivered");
        assert_ne!(t, test_thread);
        tids.push(t);
        assert_eq!(d, next[k].to_string().into_bytes(), "subscription {k} out of order");
        next[k] += 1;
    }
    assert_eq!(next, [N, N]);
    assert!(tids.iter().all(|t| *t == tids[0]), "the default pool has a single delivery thread");
    flush(&nc);
    for s in &subs {
        assert_eq!(s.with_state(|st| (st.delivered, st.pending_msgs)).unwrap(), (N as u64, 0));
    }
}

#[test]
fn wildcard_subscriptions_match_tokens() {
    // cnats/server: '*' matches exactly one token, '>' one or more trailing tokens.
    let srv = NatsServer::start();
    let nc = connect(&srv);
    let star = nc.subscribe("wc.*", None, None, 0).unwrap();
    let gt = nc.subscribe("wc.>", None, None, 0).unwrap();
    let mid = nc.subscribe("wc.*.c", None, None, 0).unwrap();
    for s in ["wc.a", "wc.a.b", "wc", "wc.b.c", "other.a"] {
        nc.publish(s.as_bytes(), None, None, s.as_bytes()).unwrap();
    }
    flush(&nc);
    let got = |sub: &Arc<Sub>| {
        let mut v = Vec::new();
        loop {
            match sub.next_msg(20) {
                Ok(m) => {
                    assert_eq!(m.subject(), m.data());
                    v.push(String::from_utf8(m.subject().to_vec()).unwrap());
                }
                Err(e) => {
                    assert_eq!(e.status, Status::Timeout);
                    return v;
                }
            }
        }
    };
    assert_eq!(got(&star), ["wc.a"]);
    assert_eq!(got(&gt), ["wc.a", "wc.a.b", "wc.b.c"]);
    assert_eq!(got(&mid), ["wc.b.c"]);
}

#[test]
fn queue_group_delivers_each_message_exactly_once() {
    // cnats: natsConnection_QueueSubscribe: the server gives each message to exactly one
    // member of the queue group.
    const N: usize = 300;
    let srv = NatsServer::start();
    let sub_nc = connect(&srv);
    let pub_nc = connect(&srv);
    let counts: Arc<[AtomicUsize; 3]> = Arc::new(Default::default());
    let (tx, rx) = mpsc::channel::<()>();
    let mut subs = Vec::new();
    for i in 0..3 {
        let counts = counts.clone();
        let tx = tx.clone();
        subs.push(
            sub_nc
                .subscribe(
                    "q.work",
                    Some("workers"),
                    handler(move |_c, _s, _m| {
                        counts[i].fetch_add(1, Ordering::SeqCst);
                        let _ = tx.send(());
                    }),
                    0,
                )
                .unwrap(),
        );
    }
    flush(&sub_nc);
    for i in 0..N {
        pub_nc.publish(b"q.work", None, None, i.to_string().as_bytes()).unwrap();
    }
    flush(&pub_nc);
    for i in 0..N {
        rx.recv_timeout(WAIT).unwrap_or_else(|_| panic!("only {i} of {N} messages delivered"));
    }
    // Everything the server sent to the subscriber connection has been read once this returns.
    flush(&sub_nc);
    let received: u64 = subs.iter().map(|s| s.with_state(|st| st.delivered + st.pending_msgs as u64).unwrap()).sum();
    assert_eq!(received, N as u64, "messages received by the group");
    let c: Vec<usize> = counts.iter().map(|c| c.load(Ordering::SeqCst)).collect();
    assert_eq!(c.iter().sum::<usize>(), N, "per-member counts {c:?}");
    assert!(c.iter().all(|&n| n > 0), "every member should get some messages: {c:?}");
}

#[test]
fn headers_round_trip() {
    // cnats: a message published with headers goes out as HPUB; the receiver's
    // natsMsgHeader_Get/Values return what was set (keys case-sensitive, multiple values kept).
    let srv = NatsServer::start();
    let nc = connect(&srv);
    nc.header_support().expect("server supports headers");
    let sub = nc.subscribe("hdr.test", None, None, 0).unwrap();
    nc.publish(b"hdr.test", None, Some(b"NATS/1.0\r\nk: v\r\n\r\n"), b"body").unwrap();
    let mut out = Msg::new(b"hdr.test", Some(b"hdr.reply"), b"x");
    out.headers_mut().set("A", "1");
    out.headers_mut().add("A", "2");
    out.headers_mut().set("a", "lower");
    nc.publish_msg(&out).unwrap();
    flush(&nc);

    let mut m = sub.next_msg(2_000).unwrap();
    assert_eq!(m.data(), b"body");
    assert!(m.has_headers());
    let h = m.headers().expect("headers parsed");
    assert_eq!(h.get("k"), Some("v"));
    assert_eq!(h.get("K"), None);

    let mut m = sub.next_msg(2_000).unwrap();
    assert_eq!(m.data(), b"x");
    assert_eq!(m.reply(), Some(&b"hdr.reply"[..]));
    let h = m.headers().expect("headers parsed");
    assert_eq!(h.values("A").map(|v| v.to_vec()), Some(vec!["1".to_string(), "2".to_string()]));
    assert_eq!(h.get("a"), Some("lower"));
}

// ----- request / reply -----

fn start_echo_responder(nc: &Conn, subject: &str) -> Arc<Sub> {
    nc.subscribe(
        subject,
        None,
        handler(|c, _s, m| {
            let m = m.expect("message");
            let reply = m.reply().expect("request has a reply subject").to_vec();
            let mut data = b"re:".to_vec();
            data.extend_from_slice(m.data());
            c.publish(&reply, None, None, &data).expect("publish reply");
        }),
        0,
    )
    .unwrap()
}

#[test]
fn request_reply_with_a_responder() {
    // cnats: natsConnection_Request publishes with a reply subject under the connection's
    // shared _INBOX.<nuid>.* subscription and returns the first reply; concurrent requests
    // each get their own reply.
    let srv = NatsServer::start();
    let responder = connect(&srv);
    let _r = start_echo_responder(&responder, "svc.echo");
    flush(&responder);

    let nc = connect(&srv);
    let m = nc.request(b"svc.echo", None, b"ping", 2_000).unwrap();
    assert_eq!(m.data(), b"re:ping");
    let subj = String::from_utf8(m.subject().to_vec()).unwrap();
    assert!(subj.starts_with("_INBOX."), "reply subject {subj}");
    assert_eq!(subj.split('.').count(), 3, "new-style reply subject is _INBOX.<nuid>.<token>: {subj}");

    thread::scope(|s| {
        for t in 0..4 {
            let nc = &nc;
            s.spawn(move || {
                for i in 0..10 {
                    let body = format!("{t}-{i}");
                    let r = nc.request(b"svc.echo", None, body.as_bytes(), 2_000).unwrap();
                    assert_eq!(r.data(), format!("re:{body}").as_bytes());
                }
            });
        }
    });
}

#[test]
fn large_requests_and_replies_of_varying_size_arrive_intact_whether_kept_or_released() {
    // A thread waiting for a reply reads the socket itself; a large reply goes whole into a
    // buffer reused from an earlier one once the messages read into it are gone. Sizes here
    // straddle the page-rounded buffers (one byte over, a page over, half, double), and
    // every fourth reply is kept while the others are released at once: none may change.
    let srv = NatsServer::start();
    let responder = connect(&srv);
    let _r = start_echo_responder(&responder, "svc.big");
    flush(&responder);
    let nc = connect(&srv);
    let sizes = [65_536, 65_537, 65_536, 69_632, 32 * 1024 + 1, 65_536, 131_072, 300_000, 40_000, 65_530, 65_536, 100];
    let pattern = |i: usize, k: usize| ((i * 131 + k * 7) % 253) as u8;
    let mut kept = Vec::new();
    for round in 0..3 {
        for (j, &size) in sizes.iter().enumerate() {
            let i = round * sizes.len() + j;
            let body: Vec<u8> = (0..size).map(|k| pattern(i, k)).collect();
            let r = nc.request(b"svc.big", None, &body, 5_000).unwrap_or_else(|e| panic!("request {i}: {:?}", e.status));
            let data = r.data();
            assert_eq!(data.len(), size + 3, "reply {i}");
            assert_eq!(&data[..3], b"re:");
            assert!(data[3..] == body[..], "reply {i} ({size} bytes) arrived corrupted");
            if i % 4 == 0 {
                kept.push((i, r));
            }
        }
    }
    for (i, r) in &kept {
        assert!(r.data()[3..].iter().enumerate().all(|(k, &b)| b == pattern(*i, k)), "kept reply {i} changed");
    }
}

#[test]
fn request_without_responders_fails_fast_with_no_responders() {
    // cnats: natsConnection_Request returns NATS_NO_RESPONDERS as soon as the server answers
    // with a 503 status (no subscriber on the subject), well before the timeout.
    let srv = NatsServer::start();
    let nc = connect(&srv);
    let start = Instant::now();
    assert_eq!(status_of(nc.request(b"nobody.home", None, b"x", 5_000)), Status::NoResponders);
    assert!(start.elapsed() < Duration::from_secs(1), "no-responders took {:?}", start.elapsed());
    // The connection is still fine.
    assert_eq!(nc.status(), ConnStatus::Connected);
    flush(&nc);
}

#[test]
fn request_times_out_when_the_responder_is_silent() {
    // cnats: natsConnection_Request returns NATS_TIMEOUT after the timeout when a subscriber
    // exists (no 503) but never answers.
    let srv = NatsServer::start();
    let nc = connect(&srv);
    let _silent = nc.subscribe("svc.silent", None, None, 0).unwrap();
    flush(&nc);
    let start = Instant::now();
    assert_eq!(status_of(nc.request(b"svc.silent", None, b"x", 300)), Status::Timeout);
    let el = start.elapsed();
    assert!(el >= Duration::from_millis(290), "timed out too early: {el:?}");
    assert!(el < Duration::from_secs(3), "timed out too late: {el:?}");
    assert_eq!(nc.status(), ConnStatus::Connected);
}

#[test]
fn old_request_style_works() {
    // cnats: with natsOptions_UseOldRequestStyle each request uses its own _INBOX.<nuid>
    // subscription (auto-unsubscribed after 1 message) and still returns the reply, or
    // NATS_NO_RESPONDERS when nobody listens.
    let srv = NatsServer::start();
    let mut o = opts(&srv);
    o.old_request_style = true;
    let nc = connect_with(o);
    let _r = start_echo_responder(&nc, "svc.old");
    for i in 0..3 {
        let body = format!("old{i}");
        let m = nc.request(b"svc.old", None, body.as_bytes(), 2_000).unwrap();
        assert_eq!(m.data(), format!("re:{body}").as_bytes());
        let subj = String::from_utf8(m.subject().to_vec()).unwrap();
        assert!(subj.starts_with("_INBOX."), "reply subject {subj}");
        assert_eq!(subj.split('.').count(), 2, "old-style reply subject is a plain inbox: {subj}");
    }
    let start = Instant::now();
    assert_eq!(status_of(nc.request(b"nobody.old", None, b"x", 5_000)), Status::NoResponders);
    assert!(start.elapsed() < Duration::from_secs(1));
}

#[test]
fn handler_can_make_a_request_on_the_same_connection() {
    // cnats: message callbacks run on a delivery thread, not the reader, so a callback can
    // call natsConnection_Request (answered by another subscription's callback on the same
    // connection) without deadlocking.
    let srv = NatsServer::start();
    let nc = connect(&srv);
    let _r = start_echo_responder(&nc, "svc.inner");
    let (tx, rx) = mpsc::channel::<std::result::Result<Vec<u8>, Status>>();
    let _trigger = nc
        .subscribe(
            "trigger",
            None,
            handler(move |c, _s, m| {
                let m = m.expect("message");
                let r = c.request(b"svc.inner", None, m.data(), 3_000);
                let _ = tx.send(r.map(|r| r.data().to_vec()).map_err(|e| e.status));
            }),
            0,
        )
        .unwrap();
    for i in 0..3 {
        nc.publish(b"trigger", None, None, format!("t{i}").as_bytes()).unwrap();
    }
    flush(&nc);
    for i in 0..3 {
        let r = rx.recv_timeout(WAIT).expect("the handler's request did not complete (deadlock?)");
        assert_eq!(r, Ok(format!("re:t{i}").into_bytes()));
    }
}

// ----- unsubscribe -----

#[test]
fn auto_unsubscribe_async_delivers_exactly_max() {
    // cnats: natsSubscription_AutoUnsubscribe(sub, 5) delivers exactly 5 messages, then the
    // subscription is removed (invalid) and its completion callback runs.
    let srv = NatsServer::start();
    let nc = connect(&srv);
    let count = Arc::new(AtomicUsize::new(0));
    let c2 = count.clone();
    let sub = nc
        .subscribe(
            "auto.async",
            None,
            handler(move |_c, _s, _m| {
                c2.fetch_add(1, Ordering::SeqCst);
            }),
            0,
        )
        .unwrap();
    let (tx, rx) = mpsc::channel();
    sub.set_on_complete(Some(Box::new(move || {
        let _ = tx.send(());
    })))
    .unwrap();
    nc.unsubscribe(&sub, 5).unwrap();
    for i in 0..10 {
        nc.publish(b"auto.async", None, None, format!("{i}").as_bytes()).unwrap();
    }
    flush(&nc);
    rx.recv_timeout(WAIT).expect("completion callback after the 5th message");
    assert_eq!(count.load(Ordering::SeqCst), 5);
    assert!(!sub.is_valid());
    // The server stopped sending after 5 too (UNSUB <sid> 5).
    assert_eq!(nc.stats().in_msgs, 5);
}

#[test]
fn auto_unsubscribe_sync_then_max_delivered() {
    // cnats: after AutoUnsubscribe(sub, 5) NextMsg returns 5 messages, then
    // NATS_MAX_DELIVERED_MSGS (the subscription is closed because its max was reached).
    let srv = NatsServer::start();
    let nc = connect(&srv);
    let sub = nc.subscribe("auto.sync", None, None, 0).unwrap();
    nc.unsubscribe(&sub, 5).unwrap();
    for i in 0..10 {
        nc.publish(b"auto.sync", None, None, format!("{i}").as_bytes()).unwrap();
    }
    flush(&nc);
    for i in 0..5 {
        let m = sub.next_msg(2_000).unwrap();
        assert_eq!(m.data(), format!("{i}").as_bytes());
    }
    assert_eq!(status_of(sub.next_msg(100)), Status::MaxDeliveredMsgs);
    assert!(!sub.is_valid());
    assert_eq!(nc.stats().in_msgs, 5);
}

#[test]
fn handler_unsubscribes_its_own_subscription() {
    // cnats: natsSubscription_Unsubscribe called from the subscription's own callback
    // succeeds; no further message is delivered and the completion callback runs.
    let srv = NatsServer::start();
    let nc = connect(&srv);
    let count = Arc::new(AtomicUsize::new(0));
    let results = Arc::new(Mutex::new(Vec::new()));
    let (c2, r2) = (count.clone(), results.clone());
    let sub = nc
        .subscribe(
            "self.unsub",
            None,
            handler(move |c, s, _m| {
                c2.fetch_add(1, Ordering::SeqCst);
                r2.lock().unwrap().push(c.unsubscribe(s, 0).map_err(|e| e.status));
            }),
            0,
        )
        .unwrap();
    let (tx, rx) = mpsc::channel();
    sub.set_on_complete(Some(Box::new(move || {
        let _ = tx.send(());
    })))
    .unwrap();
    for i in 0..10 {
        nc.publish(b"self.unsub", None, None, format!("{i}").as_bytes()).unwrap();
    }
    flush(&nc);
    rx.recv_timeout(WAIT).expect("completion callback after the handler unsubscribed");
    assert_eq!(count.load(Ordering::SeqCst), 1);
    assert_eq!(*results.lock().unwrap(), vec![Ok(())]);
    assert!(!sub.is_valid());
    assert_eq!(status_of(nc.unsubscribe(&sub, 0)), Status::InvalidSubscription);
}

// ----- slow consumer -----

#[test]
fn slow_consumer_drops_and_reports_once_per_episode() {
    // cnats: a message arriving while the subscription already holds max_pending_msgs (10)
    // is dropped and counted in Dropped; the error handler gets NATS_SLOW_CONSUMER with the
    // subscription once for the episode (until a message is queued again). The message being
    // handled does not count as pending, so with the handler blocked on message 1, messages
    // 2..=11 are queued and 12..=100 dropped.
    let srv = NatsServer::start();
    let sc_calls = Arc::new(Mutex::new(Vec::<(Status, Option<u64>)>::new()));
    let mut o = opts(&srv);
    o.max_pending_msgs = 10;
    let calls = sc_calls.clone();
    o.err_handler = Some(Arc::new(move |_c: &Arc<Conn>, s: Option<&Arc<Sub>>, st: Status| {
        calls.lock().unwrap().push((st, s.map(|s| s.sid)));
    }));
    let nc = connect_with(o);
    let gate = Arc::new(Gate::default());
    let _guard = OpenOnDrop(gate.clone());
    let (entered_tx, entered_rx) = mpsc::channel::<()>();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let g2 = gate.clone();
    let sub = nc
        .subscribe(
            "slow",
            None,
            handler(move |_c, _s, _m| {
                let _ = entered_tx.send(());
                g2.wait();
                let _ = done_tx.send(());
            }),
            0,
        )
        .unwrap();
    nc.publish(b"slow", None, None, b"0").unwrap();
    flush(&nc);
    entered_rx.recv_timeout(WAIT).expect("handler got the first message");
    for i in 1..100 {
        nc.publish(b"slow", None, None, format!("{i}").as_bytes()).unwrap();
    }
    // All 99 MSGs were processed by the reader before the PONG.
    flush(&nc);
    let (pending, dropped) = sub.with_state(|st| (st.pending_msgs, st.dropped)).unwrap();
    assert_eq!(pending, 10, "pending while the handler is blocked");
    assert_eq!(dropped, 89, "dropped while the handler is blocked");

    gate.open();
    for i in 0..11 {
        done_rx.recv_timeout(WAIT).unwrap_or_else(|_| panic!("only {i} of 11 queued messages delivered"));
    }
    flush(&nc);
    let (delivered, pending, dropped) = sub.with_state(|st| (st.delivered, st.pending_msgs, st.dropped)).unwrap();
    assert!(dropped > 0);
    assert_eq!(delivered + pending as u64 + dropped as u64, 100, "delivered {delivered} pending {pending} dropped {dropped}");
    assert_eq!((delivered, pending, dropped), (11, 0, 89));
    assert!(done_rx.try_recv().is_err(), "more than 11 messages delivered");

    event_barrier(&srv);
    let calls = sc_calls.lock().unwrap().clone();
    let sc: Vec<_> = calls.iter().filter(|(st, _)| *st == Status::SlowConsumer).collect();
    assert_eq!(sc.len(), 1, "slow consumer reports: {calls:?}");
    assert_eq!(sc[0].1, Some(sub.sid), "the report names the subscription");
    assert_eq!(nc.last_error().0, Status::SlowConsumer);
}

// ----- drain -----

#[test]
fn subscription_drain_delivers_everything_already_received() {
    // cnats: natsSubscription_Drain sends UNSUB but still delivers every message already
    // received to the (slow) callback; WaitForDrainCompletion returns NATS_OK,
    // DrainCompletionStatus is NATS_OK (NATS_ILLEGAL_STATE before completion), and once the
    // on-complete callback ran the subscription is invalid (cnats marks the drain complete
    // just before removing the subscription, so IsValid is only guaranteed false after the
    // on-complete callback). Messages published after the UNSUB are not received.
    const N: usize = 50;
    let srv = NatsServer::start();
    let nc = connect(&srv);
    let count = Arc::new(AtomicUsize::new(0));
    let c2 = count.clone();
    let sub = nc
        .subscribe(
            "drain.sub",
            None,
            handler(move |_c, _s, _m| {
                thread::sleep(Duration::from_millis(2));
                c2.fetch_add(1, Ordering::SeqCst);
            }),
            0,
        )
        .unwrap();
    let (done_tx, done_rx) = mpsc::channel();
    sub.set_on_complete(Some(Box::new(move || {
        let _ = done_tx.send(());
    })))
    .unwrap();
    for i in 0..N {
        nc.publish(b"drain.sub", None, None, format!("{i}").as_bytes()).unwrap();
    }
    flush(&nc);
    assert_eq!(sub.drain_completion_status(), Status::IllegalState, "before drain");
    nc.drain_sub(&sub, 10_000).unwrap();
    assert!(sub.is_draining());
    // Published after UNSUB: the server does not deliver it.
    nc.publish(b"drain.sub", None, None, b"late").unwrap();
    sub.wait_drain(10_000).expect("drain completes");
    assert_eq!(sub.drain_completion_status(), Status::Ok);
    assert_eq!(count.load(Ordering::SeqCst), N);
    done_rx.recv_timeout(WAIT).expect("on-complete callback after the drain");
    assert!(!sub.is_valid());
    flush(&nc);
    assert_eq!(nc.stats().in_msgs, N as u64);
    assert_eq!(nc.status(), ConnStatus::Connected);
}

#[test]
fn connection_drain_then_closed_and_closed_cb_once() {
    // cnats: natsConnection_Drain first drains the subscriptions (status DRAINING_SUBS, new
    // subscriptions refused with NATS_DRAINING), delivers what was received, then flushes and
    // closes the connection: status CLOSED and the closed callback runs exactly once.
    const N: usize = 20;
    let srv = NatsServer::start();
    let closed = Arc::new(AtomicUsize::new(0));
    let (closed_tx, closed_rx) = mpsc::channel();
    let mut o = opts(&srv);
    let c2 = closed.clone();
    o.closed_cb = Some(Arc::new(move |_c: &Arc<Conn>| {
        c2.fetch_add(1, Ordering::SeqCst);
        let _ = closed_tx.send(());
    }));
    let nc = connect_with(o);
    let gate = Arc::new(Gate::default());
    let _guard = OpenOnDrop(gate.clone());
    let count = Arc::new(AtomicUsize::new(0));
    let (g2, n2) = (gate.clone(), count.clone());
    let _sub = nc
        .subscribe(
            "drain.conn",
            None,
            handler(move |_c, _s, _m| {
                g2.wait();
                n2.fetch_add(1, Ordering::SeqCst);
            }),
            0,
        )
        .unwrap();
    for i in 0..N {
        nc.publish(b"drain.conn", None, None, format!("{i}").as_bytes()).unwrap();
    }
    flush(&nc);
    nc.drain(10_000).unwrap();
    // The handler is blocked, so the subscription phase cannot be over.
    assert_eq!(nc.status(), ConnStatus::DrainingSubs);
    assert!(nc.is_draining());
    assert_eq!(status_of(nc.subscribe("drain.other", None, None, 0)), Status::Draining);
    // cnats: natsConnection_Drain while already draining returns NATS_OK and does nothing.
    assert!(nc.drain(1_000).is_ok());
    assert_eq!(nc.status(), ConnStatus::DrainingSubs);
    gate.open();
    closed_rx.recv_timeout(WAIT).expect("closed callback after drain");
    assert_eq!(count.load(Ordering::SeqCst), N);
    assert_eq!(nc.status(), ConnStatus::Closed);
    event_barrier(&srv);
    assert_eq!(closed.load(Ordering::SeqCst), 1, "closed callback must run exactly once");
}

// ----- stats, closed connection, validation -----

#[test]
fn stats_count_messages_and_bytes() {
    // cnats: natsConnection_GetStats counts every published (out) and received (in) message
    // and its payload bytes; after a flush the counts are exact.
    let srv = NatsServer::start();
    let nc = connect(&srv);
    let s0 = nc.stats();
    assert_eq!((s0.in_msgs, s0.in_bytes, s0.out_msgs, s0.out_bytes, s0.reconnects), (0, 0, 0, 0, 0));
    let _sub = nc.subscribe("stats.x", None, None, 0).unwrap();
    for _ in 0..7 {
        nc.publish(b"stats.x", None, None, b"12345").unwrap();
    }
    nc.publish(b"stats.none", None, None, b"abc").unwrap(); // nobody listens
    flush(&nc);
    let s = nc.stats();
    assert_eq!(s.out_msgs, 8);
    assert_eq!(s.out_bytes, 7 * 5 + 3);
    assert_eq!(s.in_msgs, 7);
    assert_eq!(s.in_bytes, 7 * 5);
    assert_eq!(s.reconnects, 0);
}

#[test]
fn operations_on_a_closed_connection_fail_with_connection_closed() {
    // cnats: FlushTimeout, Publish, Subscribe, Request and Drain on a closed connection return
    // NATS_CONNECTION_CLOSED; NextMsg on a subscription of a closed connection too.
    let srv = NatsServer::start();
    let nc = connect(&srv);
    let sub = nc.subscribe("closed.x", None, None, 0).unwrap();
    nc.close();
    assert_eq!(status_of(nc.flush_timeout(1_000)), Status::ConnectionClosed);
    assert_eq!(status_of(nc.publish(b"closed.x", None, None, b"x")), Status::ConnectionClosed);
    assert_eq!(status_of(nc.subscribe("closed.y", None, None, 0)), Status::ConnectionClosed);
    assert_eq!(status_of(nc.request(b"closed.x", None, b"x", 1_000)), Status::ConnectionClosed);
    assert_eq!(status_of(nc.drain(1_000)), Status::ConnectionClosed);
    assert_eq!(status_of(sub.next_msg(100)), Status::ConnectionClosed);
    assert!(!sub.is_valid());
}

#[test]
fn invalid_subjects_are_rejected() {
    // cnats: subscribe validates the subject (nats_IsSubjectValid: no empty token, no
    // whitespace) and returns NATS_INVALID_SUBJECT; an empty subject on publish/request is
    // NATS_INVALID_SUBJECT, and this library also refuses whitespace on publish so it cannot
    // corrupt the protocol line. Bad queue names give NATS_INVALID_QUEUE_NAME.
    let srv = NatsServer::start();
    let nc = connect(&srv);
    for s in ["foo bar", "foo\r\n", "", "foo..bar", ".foo", "foo.", "foo.>.bar", "foo\tbar"] {
        assert_eq!(status_of(nc.subscribe(s, None, None, 0)), Status::InvalidSubject, "subscribe {s:?}");
    }
    for s in ["foo bar", "foo\r\n", ""] {
        assert_eq!(status_of(nc.publish(s.as_bytes(), None, None, b"x")), Status::InvalidSubject, "publish {s:?}");
    }
    assert_eq!(status_of(nc.request(b"", None, b"x", 1_000)), Status::InvalidSubject);
    assert_eq!(status_of(nc.subscribe("ok.subj", Some("bad queue"), None, 0)), Status::InvalidQueueName);
    assert_eq!(status_of(nc.subscribe("ok.subj", Some(""), None, 0)), Status::InvalidQueueName);
    // Nothing bad reached the server: the connection is intact.
    flush(&nc);
    assert_eq!(nc.status(), ConnStatus::Connected);
    let ok = nc.subscribe("ok.*", Some("q"), None, 0).unwrap();
    nc.publish(b"ok.subj", None, None, b"fine").unwrap();
    flush(&nc);
    assert_eq!(ok.next_msg(1_000).unwrap().data(), b"fine");
}

#[test]
fn payload_over_max_payload_is_rejected() {
    // cnats: natsConnection_Publish with more data than the server's max_payload (INFO) fails
    // with NATS_MAX_PAYLOAD without sending anything; exactly max_payload is accepted.
    let srv = NatsServer::start();
    let nc = connect(&srv);
    let max = nc.max_payload();
    assert_eq!(max, 1024 * 1024, "nats-server default max_payload");
    let big = vec![b'a'; max as usize + 1];
    assert_eq!(status_of(nc.publish(b"big", None, None, &big)), Status::MaxPayload);
    assert_eq!(nc.stats().out_msgs, 0);

    let sub = nc.subscribe("big", None, None, 0).unwrap();
    nc.publish(b"big", None, None, &big[..max as usize]).unwrap();
    flush(&nc);
    assert_eq!(sub.next_msg(2_000).unwrap().data().len(), max as usize);
    assert_eq!(nc.status(), ConnStatus::Connected);
}

// ----- reconnect (uses the helper's restart) -----

#[test]
fn reconnects_after_server_restart_and_resends_subscriptions() {
    // cnats: when the server goes away the connection reconnects (disconnected then
    // reconnected callbacks), re-sends its subscriptions, counts the reconnect in the stats,
    // and messages flow again.
    let mut srv = NatsServer::start();
    let (disc_tx, disc_rx) = mpsc::channel();
    let (rec_tx, rec_rx) = mpsc::channel();
    let mut o = opts(&srv);
    o.reconnect_wait_ms = 50;
    o.reconnect_jitter_ms = 0;
    o.disconnected_cb = Some(Arc::new(move |_c: &Arc<Conn>| {
        let _ = disc_tx.send(());
    }));
    o.reconnected_cb = Some(Arc::new(move |_c: &Arc<Conn>| {
        let _ = rec_tx.send(());
    }));
    let nc = connect_with(o);
    let sub = nc.subscribe("rc.x", None, None, 0).unwrap();
    flush(&nc);

    srv.restart();
    disc_rx.recv_timeout(WAIT).expect("disconnected callback");
    rec_rx.recv_timeout(WAIT).expect("reconnected callback");
    assert_eq!(nc.status(), ConnStatus::Connected);
    assert_eq!(nc.stats().reconnects, 1);
    nc.publish(b"rc.x", None, None, b"again").unwrap();
    flush(&nc);
    assert_eq!(sub.next_msg(2_000).unwrap().data(), b"again");
}

// ----- threads that read the socket while they wait (leader/follower reading) -----

#[test]
fn requests_from_many_threads_while_other_traffic_flows_lose_nothing() {
    // Requesting threads take turns reading the requester's socket. Everything they read
    // for others (replies of other threads, messages of an async subscription on the same
    // connection) must still arrive, in order, and data they leave unread must be picked up
    // by the connection's own reader.
    let srv = NatsServer::start();
    let responder = connect(&srv);
    let _r = start_echo_responder(&responder, "svc.echo");
    flush(&responder);

    let nc = connect(&srv);
    const BG: usize = 20_000;
    let seen = Arc::new(Mutex::new(Vec::with_capacity(BG)));
    let gate = Arc::new(Gate::default());
    let (seen2, gate2) = (seen.clone(), gate.clone());
    let _bg = nc
        .subscribe(
            "bg",
            None,
            handler(move |_c, _s, m| {
                let m = m.expect("message");
                let n: usize = std::str::from_utf8(m.data()).unwrap().parse().unwrap();
                let mut v = seen2.lock().unwrap();
                v.push(n);
                if v.len() == BG {
                    gate2.open();
                }
            }),
            0,
        )
        .unwrap();
    flush(&nc);

    let publisher = connect(&srv);
    thread::scope(|s| {
        s.spawn(|| {
            for i in 0..BG {
                publisher.publish(b"bg", None, None, i.to_string().as_bytes()).unwrap();
                if i % 1000 == 999 {
                    thread::sleep(Duration::from_millis(2));
                }
            }
            flush(&publisher);
        });
        for t in 0..8 {
            let nc = &nc;
            s.spawn(move || {
                for i in 0..300 {
                    let body = format!("{t}-{i}");
                    let r = nc.request(b"svc.echo", None, body.as_bytes(), 5_000).unwrap();
                    assert_eq!(r.data(), format!("re:{body}").as_bytes());
                }
            });
        }
    });
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        gate.wait();
        let _ = tx.send(());
    });
    rx.recv_timeout(Duration::from_secs(20)).unwrap_or_else(|_| {
        panic!("async subscription got {} of {BG} messages", seen.lock().unwrap().len())
    });
    let v = seen.lock().unwrap();
    assert!(v.iter().enumerate().all(|(i, &n)| i == n), "messages out of order or duplicated");
}

#[test]
fn unsubscribe_wakes_an_idle_delivery_thread_that_reads_the_socket() {
    // An idle subscription thread reads its connection while it waits for messages. A
    // change that brings no data (the subscription is removed from another thread) must
    // still end it promptly: the completion callback runs and the thread goes away.
    let srv = NatsServer::start();
    let nc = connect(&srv);
    let got = Arc::new(AtomicUsize::new(0));
    let got2 = got.clone();
    let sub = nc
        .subscribe(
            "idle",
            None,
            handler(move |_c, _s, _m| {
                got2.fetch_add(1, Ordering::SeqCst);
            }),
            0,
        )
        .unwrap();
    flush(&nc);
    nc.publish(b"idle", None, None, b"x").unwrap();
    flush(&nc);
    let t0 = Instant::now();
    while got.load(Ordering::SeqCst) < 1 {
        assert!(t0.elapsed() < WAIT, "message not delivered");
        thread::sleep(Duration::from_millis(1));
    }
    // The delivery thread is idle now, reading the socket.
    thread::sleep(Duration::from_millis(50));
    let (tx, rx) = mpsc::channel();
    sub.set_on_complete(Some(Box::new(move || {
        let _ = tx.send(Instant::now());
    })))
    .unwrap();
    let t1 = Instant::now();
    nc.unsubscribe(&sub, 0).unwrap();
    let done = rx.recv_timeout(WAIT).expect("completion callback did not run");
    assert!(done.duration_since(t1) < Duration::from_secs(2), "completion took {:?}", done.duration_since(t1));
    // The connection still works for others.
    let s2 = nc.subscribe("after", None, None, 0).unwrap();
    flush(&nc);
    nc.publish(b"after", None, None, b"y").unwrap();
    assert_eq!(s2.next_msg(2_000).unwrap().data(), b"y");
}

#[test]
fn server_restart_while_a_thread_reads_for_its_request() {
    // A request in flight when the server goes away: the thread reading for it gives the
    // socket back, the request ends (timeout, no hang), the connection reconnects, and the
    // next request works.
    let mut srv = NatsServer::start();
    let responder = connect(&srv);
    let _r = start_echo_responder(&responder, "svc.echo");
    flush(&responder);
    let mut o = opts(&srv);
    o.reconnect_wait_ms = 50;
    o.max_reconnect = -1;
    let nc = connect_with(o);
    // A subject with a subscriber that never answers, so the request waits.
    let silent = nc.subscribe("svc.silent", None, None, 0).unwrap();
    flush(&nc);
    let started = Instant::now();
    let res = thread::scope(|s| {
        let h = s.spawn(|| nc.request(b"svc.silent", None, b"x", 1_500));
        thread::sleep(Duration::from_millis(200));
        srv.restart();
        h.join().unwrap()
    });
    assert!(res.is_err(), "a request nobody answers succeeded");
    assert!(started.elapsed() < Duration::from_secs(5), "request hung: {:?}", started.elapsed());
    drop(silent);
    let t0 = Instant::now();
    loop {
        match nc.request(b"svc.echo", None, b"again", 1_000) {
            Ok(m) => {
                assert_eq!(m.data(), b"re:again");
                break;
            }
            Err(e) => assert!(t0.elapsed() < Duration::from_secs(15), "no reply after restart: {:?}", e.status),
        }
    }
}

#[test]
fn large_messages_kept_by_the_user_stay_intact_while_later_ones_arrive() {
    // The reader reads a large message into a buffer of its own and, once the user has
    // destroyed every message read into such a buffer, may read a later one into it. A
    // message the user still holds must never change: every third one is kept here while
    // the others are destroyed as they arrive, then all kept ones are checked.
    let srv = NatsServer::start();
    let nc = connect(&srv);
    let sub = nc.subscribe("big.kept", None, None, 0).unwrap();
    flush(&nc);
    const N: usize = 90;
    let size_of = |i: usize| 40 * 1024 + (i * 7919) % (90 * 1024);
    let pattern = |i: usize, k: usize| ((i * 31 + k) % 251) as u8;
    let pub_nc = connect(&srv);
    let publisher = thread::spawn(move || {
        for i in 0..N {
            let d: Vec<u8> = (0..size_of(i)).map(|k| pattern(i, k)).collect();
            pub_nc.publish(b"big.kept", None, None, &d).unwrap();
        }
        flush(&pub_nc);
    });
    let mut kept = Vec::new();
    for i in 0..N {
        let m = sub.next_msg(5_000).unwrap_or_else(|e| panic!("message {i}: {:?}", e.status));
        assert_eq!(m.data().len(), size_of(i), "message {i}");
        assert!(m.data().iter().enumerate().all(|(k, &b)| b == pattern(i, k)), "message {i} arrived corrupted");
        if i % 3 == 0 {
            kept.push((i, m));
        }
    }
    publisher.join().unwrap();
    for (i, m) in &kept {
        assert!(m.data().iter().enumerate().all(|(k, &b)| b == pattern(*i, k)), "kept message {i} changed");
    }
}

#[test]
fn concurrent_publishers_of_large_and_small_messages_keep_each_publishers_order() {
    // cnats writes a publisher's full buffer from the publishing thread. Here too: on a
    // plain socket a publisher that fills the buffer writes it itself while the others
    // start a new one. Whoever writes, each publisher's messages must reach a subscriber
    // complete, once, and in the order that publisher sent them.
    let srv = NatsServer::start();
    let sub_nc = connect(&srv);
    const THREADS: usize = 4;
    const PER_THREAD: usize = 120;
    let got = Arc::new(Mutex::new(Vec::with_capacity(THREADS * PER_THREAD)));
    let gate = Arc::new(Gate::default());
    let (got2, gate2) = (got.clone(), gate.clone());
    let _s = sub_nc
        .subscribe(
            "big",
            None,
            handler(move |_c, _s, m| {
                let m = m.expect("message");
                let d = m.data();
                let t = d[0] as usize;
                let seq = u32::from_le_bytes(d[1..5].try_into().unwrap()) as usize;
                let intact = d[5..].iter().all(|&b| b == (seq % 251) as u8);
                let mut v = got2.lock().unwrap();
                v.push((t, seq, d.len(), intact));
                if v.len() == THREADS * PER_THREAD {
                    gate2.open();
                }
            }),
            0,
        )
        .unwrap();
    flush(&sub_nc);

    let nc = connect(&srv);
    let size_of = |seq: usize| if seq % 3 == 0 { 64 } else { 200 * 1024 + seq };
    thread::scope(|s| {
        for t in 0..THREADS {
            let nc = &nc;
            s.spawn(move || {
                for seq in 0..PER_THREAD {
                    let mut d = vec![(seq % 251) as u8; size_of(seq)];
                    d[0] = t as u8;
                    d[1..5].copy_from_slice(&(seq as u32).to_le_bytes());
                    nc.publish(b"big", None, None, &d).unwrap();
                }
            });
        }
    });
    flush(&nc);
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        gate.wait();
        let _ = tx.send(());
    });
    rx.recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| panic!("subscriber got {} of {} messages", got.lock().unwrap().len(), THREADS * PER_THREAD));
    let v = got.lock().unwrap();
    let mut next = [0usize; THREADS];
    for &(t, seq, len, intact) in v.iter() {
        assert!(t < THREADS, "unknown publisher {t}");
        assert_eq!(seq, next[t], "publisher {t}: message {seq} arrived when {} was due", next[t]);
        assert_eq!(len, size_of(seq), "publisher {t}: message {seq} has the wrong size");
        assert!(intact, "publisher {t}: message {seq} is corrupted");
        next[t] += 1;
    }
    assert_eq!(next, [PER_THREAD; THREADS]);
    assert_eq!(nc.stats().out_msgs, (THREADS * PER_THREAD) as u64);
}

#[test]
fn the_end_of_every_burst_is_sent_without_a_flush() {
    // cnats: published messages reach the server by themselves (its flusher writes them);
    // natsConnection_Flush only waits for that. Bursts of different lengths, each followed
    // by silence, end the writer's work in every state it can be in: nothing may be left
    // in the buffer.
    let srv = NatsServer::start();
    let sub_nc = connect(&srv);
    let sub = sub_nc.subscribe("burst.x", None, None, 0).unwrap();
    flush(&sub_nc);
    let nc = connect(&srv);
    let mut sent = 0u64;
    let mut got = 0u64;
    for round in 0..60 {
        let burst = [1, 2, 3, 50, 700, 4000][round % 6];
        for _ in 0..burst {
            nc.publish(b"burst.x", None, None, sent.to_string().as_bytes()).unwrap();
            sent += 1;
        }
        while got < sent {
            let m = sub
                .next_msg(WAIT.as_millis() as i64)
                .unwrap_or_else(|e| panic!("round {round}: message {got} of {sent} not received ({e:?})"));
            assert_eq!(m.data(), got.to_string().as_bytes(), "round {round}: out of order");
            got += 1;
        }
    }
    assert_eq!(nc.stats().out_msgs, sent);
}

// ----- a server that stops reading -----

/// Publishes 64 KB messages on `nc` from a new thread until a publish fails or `limit`
/// messages went out; returns the thread and a counter of successful publishes.
fn publish_until_blocked(nc: &Arc<Conn>, limit: usize) -> (thread::JoinHandle<Option<Status>>, Arc<AtomicUsize>) {
    let count = Arc::new(AtomicUsize::new(0));
    let (nc, c2) = (nc.clone(), count.clone());
    let h = thread::spawn(move || {
        let data = vec![7u8; 64 * 1024];
        for _ in 0..limit {
            if let Err(e) = nc.publish(b"fill", None, None, &data) {
                return Some(e.status);
            }
            c2.fetch_add(1, Ordering::SeqCst);
        }
        None
    });
    (h, count)
}

/// Waits until `count` has not moved for 300 ms (the publisher is blocked); false if it
/// kept moving (or never started) for `limit`.
fn wait_stalled(count: &AtomicUsize, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    let mut last = count.load(Ordering::SeqCst);
    let mut since = Instant::now();
    while Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
        let now = count.load(Ordering::SeqCst);
        if now != last {
            last = now;
            since = Instant::now();
        } else if last > 0 && since.elapsed() >= Duration::from_millis(300) {
            return true;
        }
    }
    false
}

/// Joins `h`, failing the test if it has not ended within `limit`.
fn join_within<T: Send + 'static>(h: thread::JoinHandle<T>, limit: Duration, what: &str) -> T {
    let deadline = Instant::now() + limit;
    while !h.is_finished() {
        assert!(Instant::now() < deadline, "{what}: still running after {limit:?}");
        thread::sleep(Duration::from_millis(10));
    }
    h.join().expect("thread panicked")
}

#[test]
fn close_releases_a_publisher_blocked_by_a_server_that_stopped_reading() {
    // cnats writes a full buffer from the publishing thread and blocks while the socket has
    // no room. With the server frozen (SIGSTOP) the socket fills up; closing the connection
    // from another thread must release that publisher: it returns, and its next publish
    // fails with NATS_CONNECTION_CLOSED.
    let srv = NatsServer::start();
    let mut o = opts(&srv);
    o.allow_reconnect = false;
    let nc = connect_with(o);
    flush(&nc);
    srv.pause();
    let (h, count) = publish_until_blocked(&nc, 100_000);
    let stalled = wait_stalled(&count, Duration::from_secs(10));
    let sent = count.load(Ordering::SeqCst);
    if !stalled {
        srv.resume();
        panic!("the publisher never blocked ({sent} messages of 64 KB sent)");
    }
    assert!(sent > 10, "blocked after only {sent} publishes of 64 KB");
    let t0 = Instant::now();
    nc.close();
    let end = join_within(h, WAIT, "publisher blocked on a frozen server");
    assert_eq!(end, Some(Status::ConnectionClosed));
    assert!(t0.elapsed() < Duration::from_secs(4), "close and release took {:?}", t0.elapsed());
    assert_eq!(nc.status(), ConnStatus::Closed);
    srv.resume();
}

#[test]
fn write_deadline_ends_a_session_whose_server_stopped_reading() {
    // cnats' natsOptions_SetWriteDeadline: a write that cannot complete within the deadline
    // fails and the connection is treated as broken: disconnected, then reconnected once
    // the server answers again. A publisher blocked in that write is released and goes on.
    let srv = NatsServer::start();
    let (dtx, disc) = mpsc::channel::<()>();
    let (rtx, recon) = mpsc::channel::<()>();
    let (dtx, rtx) = (Mutex::new(dtx), Mutex::new(rtx));
    let mut o = opts(&srv);
    o.write_deadline_ms = 200;
    o.reconnect_wait_ms = 50;
    o.timeout_ms = 500;
    o.max_reconnect = -1;
    o.disconnected_cb = Some(Arc::new(move |_c: &Arc<Conn>| {
        let _ = dtx.lock().unwrap().send(());
    }));
    o.reconnected_cb = Some(Arc::new(move |_c: &Arc<Conn>| {
        let _ = rtx.lock().unwrap().send(());
    }));
    let nc = connect_with(o);
    flush(&nc);
    srv.pause();
    let (h, count) = publish_until_blocked(&nc, 600);
    let t0 = Instant::now();
    let disconnected = disc.recv_timeout(Duration::from_secs(10));
    srv.resume();
    disconnected.expect("no disconnect while the frozen server read nothing");
    assert!(count.load(Ordering::SeqCst) > 10, "disconnected before the socket filled up");
    assert!(t0.elapsed() < Duration::from_secs(8), "the write deadline took {:?} to end the session", t0.elapsed());
    recon.recv_timeout(Duration::from_secs(10)).expect("no reconnect once the server runs again");
    // The publisher is not stuck: it finishes its loop (publishes that found the reconnect
    // buffer full fail, the rest succeed).
    let end = join_within(h, Duration::from_secs(10), "publisher after the reconnect");
    assert!(matches!(end, None | Some(Status::InsufficientBuffer)), "publisher ended with {end:?}");
    flush(&nc);
    assert_eq!(nc.status(), ConnStatus::Connected);
}

#[test]
fn event_loop_that_never_runs_buffers_publishes_and_lets_close_return() {
    // cnats: with an event loop only the loop writes; publishes buffer (without a limit)
    // and ask for write events, and Close does not wait for the loop: it stops polling,
    // the loop closes the socket, and the connection is detached.
    use common::evloop::PollLoop;
    let srv = NatsServer::start();
    let lp = PollLoop::idle();
    let mut o = opts(&srv);
    o.event_loop = Some(lp.clone());
    let nc = connect_with(o);
    assert_eq!(lp.counts.attach.load(Ordering::SeqCst), 1);
    let data = vec![b'x'; 1024];
    for _ in 0..2048 {
        nc.publish(b"evloop.idle", None, None, &data).unwrap();
    }
    assert!(nc.buffered() >= 2048 * 1024, "publishes are buffered for the loop");
    let t = Instant::now();
    nc.close();
    assert!(t.elapsed() < Duration::from_secs(3), "close waited for the loop: {:?}", t.elapsed());
    assert_eq!(nc.status(), ConnStatus::Closed);
    assert_eq!(lp.counts.detach.load(Ordering::SeqCst), 1);
    assert_eq!(lp.counts.closed.load(Ordering::SeqCst), 1);
    assert_eq!(lp.open_sockets(), 0);
}

#[test]
fn event_loop_session_ends_and_reconnects_when_the_server_goes_away() {
    // The loop reports the end of the stream; the library stops polling (the loop closes
    // the socket), reconnects, attaches the new socket, then announces the reconnect.
    use common::evloop::{wait_for, PollLoop};
    let mut srv = NatsServer::start();
    let lp = PollLoop::start();
    let (tx, rx) = mpsc::channel();
    let mut o = opts(&srv);
    o.event_loop = Some(lp.clone());
    o.allow_reconnect = true;
    o.reconnect_wait_ms = 50;
    let l2 = lp.clone();
    o.reconnected_cb = Some(Arc::new(move |_c: &Arc<Conn>| {
        let _ = tx.send(l2.counts.attach.load(Ordering::SeqCst));
    }));
    let nc = connect_with(o);
    let sub = nc.subscribe("evloop.rc", None, None, 0).unwrap();
    nc.flush_timeout(5_000).unwrap();
    srv.restart();
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), 2, "attached before the reconnected callback");
    assert_eq!(lp.counts.closed.load(Ordering::SeqCst), 1);
    nc.publish(b"evloop.rc", None, None, b"again").unwrap();
    assert_eq!(sub.next_msg(5_000).unwrap().data(), b"again");
    nc.close();
    assert!(wait_for(Duration::from_secs(5), || lp.open_sockets() == 0));
    assert_eq!(lp.counts.detach.load(Ordering::SeqCst), 1);
    lp.stop();
}
