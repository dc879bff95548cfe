//! `NATS_SCHED_BATCH=0` keeps every delivery thread under its default policy, backlog or
//! not. A test binary of its own: the setting is read once per process, before the first
//! delivery thread starts.

mod common;

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
    let (_sub, rx) = common::sched::gated_backlog(&nc, "sched.off", N);
    // The first message, the backlog, then single messages that come after the catch-up
    // that followed it.
    for i in 0..N + 1 {
        let (_, p) = rx.recv_timeout(WAIT).unwrap_or_else(|_| panic!("message {i} not delivered"));
        assert_eq!(p, libc::SCHED_OTHER, "message {i}");
    }
    for i in 0..3 {
        nc.publish(b"sched.off", None, None, b"one").unwrap();
        let (_, p) = rx.recv_timeout(WAIT).unwrap_or_else(|_| panic!("single message {i} not delivered"));
        assert_eq!(p, libc::SCHED_OTHER, "single message {i} after the backlog");
    }
    nc.close();
}
