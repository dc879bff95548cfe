//! Scheduling-policy helpers for the tests of delivery threads' wake-ups (`src/core/sched.rs`).

use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nats::core::conn::Conn;
use nats::core::msg::Msg;
use nats::core::sub::Sub;

const WAIT: Duration = Duration::from_secs(5);

/// The calling thread's scheduling policy.
pub fn policy() -> i32 {
    // SAFETY: no pointers; 0 names the calling thread.
    unsafe { libc::sched_getscheduler(0) }
}

/// Whether this kernel lets a thread switch to SCHED_BATCH (a seccomp filter may not); says
/// so when it does not.
pub fn batch_permitted() -> bool {
    let ok = std::thread::spawn(|| {
        let p = libc::sched_param { sched_priority: 0 };
        // SAFETY: `p` is a live local; 0 names the calling thread.
        unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &p) == 0 }
    })
    .join()
    .unwrap();
    if !ok {
        eprintln!("skipped: SCHED_BATCH is refused here");
    }
    ok
}

/// Subscribes to `subject` with a callback that sends each message's data and the policy its
/// thread ran under, holds the first message (`first`) until `n` more (`backlog`) are queued
/// behind it, and releases it. The receiver then yields `first` and the backlog, in order.
pub fn gated_backlog(nc: &Arc<Conn>, subject: &str, n: usize) -> (Arc<Sub>, Receiver<(Vec<u8>, i32)>) {
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let (tx, rx) = mpsc::channel::<(Vec<u8>, i32)>();
    let sub = nc
        .subscribe(
            subject,
            None,
            Some(Arc::new(move |_c: &Arc<Conn>, _s: &Arc<Sub>, m: Option<Box<Msg>>| {
                let m = m.expect("message");
                let p = policy();
                if m.data() == b"first" {
                    release_rx.lock().unwrap().recv_timeout(WAIT).expect("released");
                }
                tx.send((m.data().to_vec(), p)).unwrap();
            })),
            0,
        )
        .unwrap();
    nc.publish(subject.as_bytes(), None, None, b"first").unwrap();
    for _ in 0..n {
        nc.publish(subject.as_bytes(), None, None, b"backlog").unwrap();
    }
    nc.flush_timeout(5_000).expect("flush");
    release_tx.send(()).unwrap();
    (sub, rx)
}
