//! `NATS_SCHED_BATCH=0` keeps every delivery thread under its default policy, backlog or
//! not. A test binary of its own: the setting is read once per process, before the first
//! delivery thread starts.

mod common;

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::NatsServer;
use nats::core::conn::Conn;
use nats::core::options::Options;

const WAIT: Duration = Duration::from_secs(5);

#[cfg(target_os = "linux")]
#[test]
fn with_nats_sched_batch_0_a_backlog_leaves_the_delivery_thread_under_its_default_policy() {
    // Set before anything of the library runs; this binary's only test.
    std::env::set_var("NATS_SCHED_BATCH", "0");
    const N: usize = 500;
    let srv = NatsServer::start();
    let nc = Conn::connect(Options { url: Some(srv.url()), ..Default::default() }).expect("connect");
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let (tx, rx) = mpsc::channel::<i32>();
    let _sub = nc
        .subscribe(
            "sched.off",
            None,
            Some(Arc::new(move |_c: &Arc<Conn>, _s: &Arc<nats::core::sub::Sub>, m: Option<Box<nats::core::msg::Msg>>| {
                let m = m.expect("message");
                // SAFETY: no pointers; 0 names the calling thread.
                let policy = unsafe { libc::sched_getscheduler(0) };
                if m.data() == b"first" {
                    release_rx.lock().unwrap().recv_timeout(WAIT).expect("released");
                }
                tx.send(policy).unwrap();
            })),
            0,
        )
        .unwrap();
    nc.publish(b"sched.off", None, None, b"first").unwrap();
    for _ in 0..N {
        nc.publish(b"sched.off", None, None, b"backlog").unwrap();
    }
    nc.flush_timeout(5000).expect("flush");
    release_tx.send(()).unwrap();
    // The backlog, then single messages that come after the catch-up that followed it.
    for i in 0..N + 1 {
        let p = rx.recv_timeout(WAIT).unwrap_or_else(|_| panic!("message {i} not delivered"));
        assert_eq!(p, libc::SCHED_OTHER, "message {i}");
    }
    for i in 0..3 {
        nc.publish(b"sched.off", None, None, b"one").unwrap();
        let p = rx.recv_timeout(WAIT).unwrap_or_else(|_| panic!("single message {i} not delivered"));
        assert_eq!(p, libc::SCHED_OTHER, "single message {i} after the backlog");
    }
    nc.close();
}
