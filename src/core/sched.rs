//! How a delivery thread is woken: at once, or without preempting what runs.
//!
//! A delivery thread that keeps finding a backlog when it wakes (a stream of messages) is a
//! throughput thread: whatever it preempts on waking, often the nats-server it reads from
//! on a small machine, loses its CPU for a moment, and the next backlog comes sooner and
//! smaller. On Linux such a thread switches itself to `SCHED_BATCH`: the same share of CPU
//! as before (its nice value is kept), but a wake-up no longer preempts the running thread;
//! it runs on an idle CPU at once, else at the running thread's next scheduling point. A
//! thread that goes back to handling a message or two per wake-up (requests, sparse
//! events) switches back to `SCHED_OTHER`, where wake-ups keep their latency.
//!
//! Only threads that start under `SCHED_OTHER` change (a real-time or batch policy set by
//! the application is left alone), a thread whose policy someone else changed is left alone
//! from then on, and `NATS_SCHED_BATCH=0` in the environment when the first delivery thread
//! starts turns this off. A library thread started from one in batch mode goes back to
//! `SCHED_OTHER` (see [`undo_inherited`]); a thread the user's callback creates meanwhile
//! inherits `SCHED_BATCH`, as any policy is inherited.

use std::cell::Cell;
use std::sync::OnceLock;

thread_local! {
    /// This thread is in batch mode by our doing.
    static BATCHED: Cell<bool> = const { Cell::new(false) };
}

/// Messages handled between two catch-ups that make a backlog (about 10 µs of work or more).
const BACKLOG: usize = 64;
/// At most this many per catch-up is handling messages one by one ...
const FEW: usize = 2;
/// ... and this many such catch-ups in a row end batch mode.
const FEW_IN_A_ROW: u32 = 8;

/// Whether a delivery thread wakes without preemption, decided from what it finds.
pub(crate) struct WakePolicy {
    /// The thread may switch (Linux, started under SCHED_OTHER, not turned off, no failure).
    enabled: bool,
    batch: bool,
    few: u32,
}

impl WakePolicy {
    /// The policy of the calling thread, which starts in normal mode.
    pub(crate) fn for_current_thread() -> WakePolicy {
        WakePolicy { enabled: allowed() && current_is_normal(), batch: false, few: 0 }
    }

    /// The thread has handled `handled` messages since it last caught up with its queue,
    /// and has caught up again: the mode to [`switch`](Self::switch) to, if it should
    /// change (rarely: the caller may release its locks for that). With nothing handled
    /// (the thread looked again without waking) it is no catch-up.
    pub(crate) fn caught_up(&mut self, handled: usize) -> Option<bool> {
        if self.enabled && handled > 0 {
            self.decide(handled)
        } else {
            None
        }
    }

    /// Switches the calling thread to batch mode or back.
    pub(crate) fn switch(&mut self, batch: bool) {
        // The policy must still be the one we left (a callback may have set its own), and
        // the switch may not be permitted (a seccomp filter, an RLIMIT_NICE): in either case
        // the thread stays as it is from then on.
        if current_policy() == Some(policy_of(self.batch)) && set_current(batch) {
            self.batch = batch;
            BATCHED.with(|b| b.set(batch));
        } else {
            self.enabled = false;
        }
    }

    /// The mode to switch to after a catch-up with `handled` messages, if any.
    fn decide(&mut self, handled: usize) -> Option<bool> {
        if handled >= BACKLOG {
            self.few = 0;
            return (!self.batch).then_some(true);
        }
        if handled > FEW {
            self.few = 0;
            return None;
        }
        self.few += 1;
        (self.batch && self.few >= FEW_IN_A_ROW).then_some(false)
    }
}

/// `NATS_SCHED_BATCH=0` turns the switching off; read once.
fn allowed() -> bool {
    static ALLOWED: OnceLock<bool> = OnceLock::new();
    *ALLOWED.get_or_init(|| std::env::var_os("NATS_SCHED_BATCH").is_none_or(|v| v != "0"))
}

/// Whether the calling thread is in batch mode by our doing; a thread it starts inherits
/// that, so [`undo_inherited`] is to run first thing in the new thread.
pub(crate) fn batched_here() -> bool {
    BATCHED.with(Cell::get)
}

/// Puts a new library thread, started from one in batch mode, back under `SCHED_OTHER`.
pub(crate) fn undo_inherited() {
    if current_policy() == Some(policy_of(true)) {
        set_current(false);
    }
}

fn current_is_normal() -> bool {
    current_policy() == Some(policy_of(false))
}

#[cfg(target_os = "linux")]
fn policy_of(batch: bool) -> i32 {
    if batch {
        libc::SCHED_BATCH
    } else {
        libc::SCHED_OTHER
    }
}

#[cfg(not(target_os = "linux"))]
fn policy_of(_batch: bool) -> i32 {
    0
}

#[cfg(target_os = "linux")]
fn current_policy() -> Option<i32> {
    // SAFETY: no pointers; 0 names the calling thread.
    let p = unsafe { libc::sched_getscheduler(0) };
    (p >= 0).then_some(p)
}

#[cfg(not(target_os = "linux"))]
fn current_policy() -> Option<i32> {
    None
}

#[cfg(target_os = "linux")]
fn set_current(batch: bool) -> bool {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `param` is a live local; 0 names the calling thread (the nice value is kept).
    unsafe { libc::sched_setscheduler(0, policy_of(batch), &param) == 0 }
}

#[cfg(not(target_os = "linux"))]
fn set_current(_batch: bool) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> WakePolicy {
        WakePolicy { enabled: true, batch: false, few: 0 }
    }

    /// Feeds catch-ups through `decide` as `caught_up` would, returning the mode after each.
    fn modes(p: &mut WakePolicy, handled: &[usize]) -> Vec<bool> {
        handled
            .iter()
            .map(|&n| {
                if let Some(b) = p.decide(n) {
                    p.batch = b;
                }
                p.batch
            })
            .collect()
    }

    #[test]
    fn a_backlog_starts_batch_mode_and_only_a_run_of_sparse_wakeups_ends_it() {
        let mut p = policy();
        // Small and middling catch-ups leave normal mode alone.
        assert_eq!(modes(&mut p, &[1, 2, 3, 63, 1]), vec![false; 5]);
        // One backlog switches.
        assert_eq!(modes(&mut p, &[64]), vec![true]);
        // Seven sparse catch-ups are not enough; a middling one restarts the count.
        assert_eq!(modes(&mut p, &[1, 1, 1, 1, 1, 1, 1, 10]), vec![true; 8]);
        // A backlog restarts it too.
        assert_eq!(modes(&mut p, &[1, 1, 1, 1, 1, 1, 1, 500]), vec![true; 8]);
        // Eight in a row switch back, once.
        let m = modes(&mut p, &[1, 1, 2, 1, 1, 1, 1, 1, 1]);
        assert_eq!(m, vec![true, true, true, true, true, true, true, false, false]);
        assert_eq!(p.decide(1), None);
    }

    #[test]
    fn looking_again_with_nothing_handled_is_no_catch_up() {
        let mut p = policy();
        p.batch = true;
        for _ in 0..100 {
            assert_eq!(p.caught_up(0), None);
        }
        assert_eq!(p.few, 0);
    }

    #[test]
    fn a_switch_is_asked_for_only_on_a_change() {
        let mut p = policy();
        assert_eq!(p.decide(100), Some(true));
        p.batch = true;
        assert_eq!(p.decide(100), None);
        assert_eq!(p.decide(1000), None);
    }

    /// What the delivery loop does at a catch-up.
    fn feed(p: &mut WakePolicy, handled: usize) {
        if let Some(b) = p.caught_up(handled) {
            p.switch(b);
        }
    }

    /// Whether this kernel lets a thread switch to SCHED_BATCH (a seccomp filter may not).
    #[cfg(target_os = "linux")]
    fn permitted() -> bool {
        let ok = std::thread::spawn(|| set_current(true)).join().unwrap();
        if !ok {
            eprintln!("skipped: SCHED_BATCH is refused here");
        }
        ok
    }

    /// Runs `f` on a new thread that a backlog has just put in batch mode (where the kernel
    /// permits SCHED_BATCH at all).
    #[cfg(target_os = "linux")]
    fn after_a_backlog(f: impl FnOnce(&mut WakePolicy) + Send + 'static) {
        if !permitted() {
            return;
        }
        std::thread::spawn(move || {
            let mut p = WakePolicy::for_current_thread();
            assert!(p.enabled, "a test thread starts under SCHED_OTHER");
            feed(&mut p, BACKLOG);
            assert_eq!(current_policy(), Some(libc::SCHED_BATCH));
            f(&mut p);
        })
        .join()
        .unwrap();
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_calling_thread_switches_both_ways() {
        after_a_backlog(|p| {
            assert!(batched_here());
            // A library thread started from here goes back to the default policy.
            let child = crate::core::runtime::spawn_thread("nats-test", || {
                assert_eq!(current_policy(), Some(libc::SCHED_OTHER));
                assert!(!batched_here());
            })
            .unwrap();
            assert!(child.join().is_ok(), "the child thread ran under SCHED_BATCH");
            for _ in 0..FEW_IN_A_ROW {
                feed(p, 1);
            }
            assert_eq!(current_policy(), Some(libc::SCHED_OTHER));
            assert!(!batched_here());
        });
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_policy_changed_by_someone_else_is_left_alone() {
        after_a_backlog(|p| {
            // A callback sets its thread back to the default itself: no further switching.
            assert!(set_current(false));
            for _ in 0..FEW_IN_A_ROW {
                feed(p, 1);
            }
            feed(p, BACKLOG);
            assert!(!p.enabled);
            assert_eq!(current_policy(), Some(libc::SCHED_OTHER));
        });
    }
}
