//! Small blocking primitives used by C-facing calls (which run on the caller's thread).

use std::time::{Duration, Instant};

use crate::core::lock::{Condvar, Mutex};

/// A one-shot slot a thread can block on until another thread fills it.
pub struct Waiter<T> {
    slot: Mutex<Option<T>>,
    cond: Condvar,
}

impl<T> Default for Waiter<T> {
    fn default() -> Self {
        Waiter { slot: Mutex::new(None), cond: Condvar::new() }
    }
}

impl<T> Waiter<T> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Fills the slot unless it is already full; returns whether this call filled it.
    pub fn set(&self, v: T) -> bool {
        let mut g = self.slot.lock();
        if g.is_some() {
            return false;
        }
        *g = Some(v);
        self.cond.notify_all();
        true
    }

    /// Whether the slot is filled (a value is waiting to be taken).
    pub fn is_set(&self) -> bool {
        self.slot.lock().is_some()
    }

    /// Waits until the slot is filled or the deadline passes (`None`: forever) and takes the value.
    pub fn wait(&self, deadline: Option<Instant>) -> Option<T> {
        let mut g = self.slot.lock();
        loop {
            if let Some(v) = g.take() {
                return Some(v);
            }
            match deadline {
                None => self.cond.wait(&mut g),
                Some(d) => {
                    if self.cond.wait_until(&mut g, d).timed_out() {
                        return g.take();
                    }
                }
            }
        }
    }
}

/// The deadline `ms` milliseconds from now; `None` when `ms` is not positive... callers
/// decide what a non-positive timeout means, so this only converts.
pub fn deadline_in(ms: i64) -> Instant {
    Instant::now() + Duration::from_millis(ms.max(0) as u64)
}
