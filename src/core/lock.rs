//! The library's mutex and condition variable, each made of its own futex word.
//!
//! Why not a parking-lot style lock: those park waiting threads in one process-wide table
//! whose buckets are locked and relinked while a thread enqueues itself. A `fork()` taken
//! while some thread of the parent is inside that table leaves it half-updated in the child,
//! and a wait in the child that meets that state crashes or hangs (with parking_lot and a
//! busy parent, about one forked child in ten died of SIGSEGV in its first waits). A lock or
//! condition variable whose whole state is one word inside the object has no such shared
//! state: the child only touches the objects it uses itself.
//!
//! Why not std's, which are built the same way: two things we measured on the publish path.
//! - A contended lock spins briefly and then yields the core a few times before it sleeps:
//!   the holder is often the writer task or a publisher on the same core, and releases the
//!   lock as soon as it runs. (std spins only, then sleeps; the publisher and the writer then
//!   wake each other through the kernel and the writer sends many small pieces.)
//! - A condition variable counts its waiters, so a notify with nobody waiting makes no system
//!   call (std's always makes one). Waiters register while they hold the mutex, so a notifier
//!   that changed the waited-for state under the same mutex always sees them.
//!
//! Also: no poisoning (a panic is caught at the C boundary and the data it left stays
//! usable), waits take the guard by `&mut`, and [`MutexGuard::unlocked`] runs code with the
//! lock released.

use std::cell::UnsafeCell;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const UNLOCKED: u32 = 0;
const LOCKED: u32 = 1;
/// Locked, and a thread may sleep in the kernel waiting for it: the unlock must wake one.
const CONTENDED: u32 = 2;

/// A mutual-exclusion lock.
pub struct Mutex<T: ?Sized> {
    state: AtomicU32,
    data: UnsafeCell<T>,
}

// SAFETY: the data is reached only through a guard, and one guard exists at a time.
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}

/// Holds a [`Mutex`] locked until dropped. It stays on the thread that locked.
pub struct MutexGuard<'a, T: ?Sized> {
    lock: &'a Mutex<T>,
    _not_send: PhantomData<*const ()>,
}

// SAFETY: sharing a guard shares `&T` only.
unsafe impl<T: ?Sized + Sync> Sync for MutexGuard<'_, T> {}

impl<T> Mutex<T> {
    pub const fn new(v: T) -> Self {
        Mutex { state: AtomicU32::new(UNLOCKED), data: UnsafeCell::new(v) }
    }
}

impl<T: ?Sized> Mutex<T> {
    #[inline]
    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.raw_lock();
        MutexGuard { lock: self, _not_send: PhantomData }
    }

    /// The lock if it is free right now.
    #[inline]
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        self.state
            .compare_exchange(UNLOCKED, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| MutexGuard { lock: self, _not_send: PhantomData })
    }

    #[inline]
    fn raw_lock(&self) {
        if self.state.compare_exchange(UNLOCKED, LOCKED, Ordering::Acquire, Ordering::Relaxed).is_err() {
            self.lock_contended();
        }
    }

    /// A lock held by another thread is usually released within a few hundred cycles or,
    /// when that thread shares this core, as soon as it runs: spin a little, then yield the
    /// core a few times, and only then sleep in the kernel.
    #[cold]
    fn lock_contended(&self) {
        for i in 0..10u32 {
            // (A `CONTENDED` mark does not stop the spinning: it outlives the sleepers, since
            // whoever takes the lock after sleeping keeps it.)
            if self.state.load(Ordering::Relaxed) == UNLOCKED
                && self.state.compare_exchange(UNLOCKED, LOCKED, Ordering::Acquire, Ordering::Relaxed).is_ok()
            {
                return;
            }
            if i < 3 {
                for _ in 0..(2u32 << i) {
                    std::hint::spin_loop();
                }
            } else {
                std::thread::yield_now();
            }
        }
        // Marked contended while this thread may sleep, so that the holder's unlock wakes
        // one sleeper; a thread that takes the lock this way keeps the mark (others may still
        // sleep), at the cost of one wake call at its unlock.
        while self.state.swap(CONTENDED, Ordering::Acquire) != UNLOCKED {
            futex_wait(&self.state, CONTENDED, None);
        }
    }

    #[inline]
    fn raw_unlock(&self) {
        if self.state.swap(UNLOCKED, Ordering::Release) == CONTENDED {
            futex_wake(&self.state, 1);
        }
    }
}

/// Shows the data when the lock is free (a `Debug` of a type that holds one, such as the TLS
/// verifier), without waiting for it.
impl<T: ?Sized + std::fmt::Debug> std::fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.try_lock() {
            Some(g) => f.debug_struct("Mutex").field("data", &&*g).finish(),
            None => f.write_str("Mutex { <locked> }"),
        }
    }
}

impl<T: ?Sized> MutexGuard<'_, T> {
    /// Runs `f` with the lock released and takes it again before returning (also when `f`
    /// unwinds, so that the guard never outlives its lock).
    pub fn unlocked<R>(g: &mut Self, f: impl FnOnce() -> R) -> R {
        struct Relock<'g, T: ?Sized>(&'g Mutex<T>);
        impl<T: ?Sized> Drop for Relock<'_, T> {
            fn drop(&mut self) {
                self.0.raw_lock();
            }
        }
        g.lock.raw_unlock();
        let _relock = Relock(g.lock);
        f()
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.lock.raw_unlock();
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: this guard holds the lock.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: this guard holds the lock, and `&mut self` makes this the only access.
        unsafe { &mut *self.lock.data.get() }
    }
}

/// Whether a timed wait returned because its time ran out.
#[derive(Clone, Copy, Debug)]
pub struct WaitTimeoutResult(bool);

impl WaitTimeoutResult {
    pub fn timed_out(&self) -> bool {
        self.0
    }
}

/// A condition variable: a sequence number that every notify changes, and a count of the
/// threads waiting on it.
#[derive(Default)]
pub struct Condvar {
    seq: AtomicU32,
    /// Threads inside a wait; changed only by waiters holding the mutex.
    waiters: AtomicU32,
}

impl Condvar {
    pub const fn new() -> Self {
        Condvar { seq: AtomicU32::new(0), waiters: AtomicU32::new(0) }
    }

    /// Wakes one waiting thread, if any.
    #[inline]
    pub fn notify_one(&self) {
        if self.waiters.load(Ordering::SeqCst) != 0 {
            self.seq.fetch_add(1, Ordering::SeqCst);
            futex_wake(&self.seq, 1);
        }
    }

    /// Wakes every waiting thread.
    #[inline]
    pub fn notify_all(&self) {
        if self.waiters.load(Ordering::SeqCst) != 0 {
            self.seq.fetch_add(1, Ordering::SeqCst);
            futex_wake(&self.seq, i32::MAX);
        }
    }

    /// Releases the lock and sleeps until notified (or spuriously woken), then relocks.
    pub fn wait<T: ?Sized>(&self, g: &mut MutexGuard<'_, T>) {
        self.wait_inner(g, None);
    }

    /// As [`Condvar::wait`], for at most `dur`.
    pub fn wait_for<T: ?Sized>(&self, g: &mut MutexGuard<'_, T>, dur: Duration) -> WaitTimeoutResult {
        WaitTimeoutResult(!self.wait_inner(g, Some(dur)))
    }

    /// As [`Condvar::wait`], until `deadline`.
    pub fn wait_until<T: ?Sized>(&self, g: &mut MutexGuard<'_, T>, deadline: Instant) -> WaitTimeoutResult {
        let now = Instant::now();
        if deadline <= now {
            return WaitTimeoutResult(true);
        }
        self.wait_for(g, deadline - now)
    }

    /// Returns false when the time ran out.
    fn wait_inner<T: ?Sized>(&self, g: &mut MutexGuard<'_, T>, timeout: Option<Duration>) -> bool {
        // Both under the lock: a notifier that changes the state after we release it sees
        // the count, and changes `seq` after we read it (so the futex wait returns at once).
        self.waiters.fetch_add(1, Ordering::SeqCst);
        let seq = self.seq.load(Ordering::SeqCst);
        g.lock.raw_unlock();
        let woken = futex_wait(&self.seq, seq, timeout);
        g.lock.raw_lock();
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        woken
    }
}

/// Sleeps while `*word == expected`, for at most `timeout`. Returns false when the time ran
/// out; true when woken, when the word differs, when a signal interrupted the sleep, or
/// spuriously (every caller checks its condition again and recomputes what time is left).
fn futex_wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> bool {
    let ts = timeout.map(|d| libc::timespec {
        tv_sec: d.as_secs().min(libc::time_t::MAX as u64) as libc::time_t,
        tv_nsec: d.subsec_nanos() as _,
    });
    let ts_ptr = ts.as_ref().map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: the word lives as long as `word`'s borrow, the timespec as long as `ts`.
    // FUTEX_WAIT takes a relative time.
    let r = unsafe {
        libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG, expected, ts_ptr)
    };
    !(r != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ETIMEDOUT))
}

/// Wakes up to `n` threads sleeping on `word`.
#[inline]
fn futex_wake(word: &AtomicU32, n: i32) {
    // SAFETY: only the address is passed; the kernel does not read or write through it here.
    unsafe {
        libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG, n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_notify_reaches_a_thread_that_registered_under_the_lock() {
        // Many rounds of: a waiter that waits for a flag, a notifier that sets it under the
        // lock and notifies after unlocking. A lost wake-up hangs (the test's timeout).
        for _ in 0..2000 {
            let p = Arc::new((Mutex::new(false), Condvar::new()));
            let p2 = p.clone();
            let t = std::thread::spawn(move || {
                let mut g = p2.0.lock();
                while !*g {
                    p2.1.wait(&mut g);
                }
            });
            *p.0.lock() = true;
            p.1.notify_one();
            t.join().unwrap();
        }
    }

    #[test]
    fn contended_increments_are_all_kept() {
        // More threads than cores, so that holders are preempted and waiters go through
        // every stage: spinning, yielding and sleeping in the kernel.
        let m = Arc::new(Mutex::new(0u64));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let m = m.clone();
                std::thread::spawn(move || {
                    for _ in 0..50_000 {
                        *m.lock() += 1;
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(*m.lock(), 8 * 50_000);
    }

    #[test]
    fn a_bounded_queue_hands_every_item_over() {
        // Producers and consumers that wait on two condition variables of one mutex, with
        // notify_one only: a lost wake-up hangs the test, a double hand-over breaks the sum.
        struct Q {
            items: std::collections::VecDeque<u64>,
            done: bool,
        }
        let p = Arc::new((Mutex::new(Q { items: Default::default(), done: false }), Condvar::new(), Condvar::new()));
        let consumers: Vec<_> = (0..3)
            .map(|_| {
                let p = p.clone();
                std::thread::spawn(move || {
                    let mut sum = 0u64;
                    let mut g = p.0.lock();
                    loop {
                        if let Some(v) = g.items.pop_front() {
                            sum += v;
                            p.2.notify_one();
                        } else if g.done {
                            return sum;
                        } else {
                            p.1.wait(&mut g);
                        }
                    }
                })
            })
            .collect();
        let producers: Vec<_> = (0..3)
            .map(|k| {
                let p = p.clone();
                std::thread::spawn(move || {
                    for i in 1..=20_000u64 {
                        let mut g = p.0.lock();
                        while g.items.len() >= 16 {
                            p.2.wait(&mut g);
                        }
                        g.items.push_back(i * 3 + k);
                        drop(g);
                        p.1.notify_one();
                    }
                })
            })
            .collect();
        for t in producers {
            t.join().unwrap();
        }
        p.0.lock().done = true;
        p.1.notify_all();
        let total: u64 = consumers.into_iter().map(|t| t.join().unwrap()).sum();
        let expect: u64 = (0..3u64).map(|k| (1..=20_000u64).map(|i| i * 3 + k).sum::<u64>()).sum();
        assert_eq!(total, expect);
    }

    #[test]
    fn timed_waits_report_timeouts_and_relock() {
        let m = Mutex::new(5);
        let c = Condvar::new();
        let mut g = m.lock();
        assert!(c.wait_for(&mut g, Duration::from_millis(5)).timed_out());
        assert!(c.wait_until(&mut g, Instant::now() - Duration::from_millis(1)).timed_out());
        *g += 1;
        assert_eq!(*g, 6);
        assert!(m.try_lock().is_none());
        let r = MutexGuard::unlocked(&mut g, || m.try_lock().map(|v| *v));
        assert_eq!(r, Some(6));
        assert!(m.try_lock().is_none());
        drop(g);
        assert!(m.try_lock().is_some());
    }

    #[test]
    fn a_panic_inside_unlocked_leaves_the_guard_locked_and_usable() {
        let m = Mutex::new(1);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut g = m.lock();
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                MutexGuard::unlocked(&mut g, || panic!("inside"))
            }));
            *g += 1;
            *g
        }));
        assert_eq!(r.ok(), Some(2));
        // The lock is free again and not poisoned for later users.
        assert_eq!(*m.lock(), 2);
    }
}
