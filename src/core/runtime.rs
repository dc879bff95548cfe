//! The library's private tokio runtime, the bookkeeping of library-owned threads, and the
//! per-process globals that must be rebuilt in the child of a `fork()`.
//!
//! After `fork()` only the forking thread exists in the child: the runtime's workers, the
//! delivery pool, the event thread are gone, a lock one of them held stays locked, and the
//! I/O driver's epoll instance is shared with the parent. Every such global is therefore a
//! [`PerProcess`] value: a `pthread_atfork` child handler bumps a generation counter (an
//! atomic add, async-signal-safe) and the first use in the child builds a fresh value. The
//! parent's values are left alone, never dropped (their threads do not exist in the child),
//! and stay reachable. The child must not use connections made by the parent.

use std::cell::Cell;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::core::lock::{Condvar, Mutex};

use super::sync::Waiter;

/// Number of `fork()`s between the process that loaded the library and this one.
static FORK_GEN: AtomicU64 = AtomicU64::new(0);
static ATFORK_REGISTERED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_fork_child() {
    FORK_GEN.fetch_add(1, Ordering::SeqCst);
}

fn register_atfork() {
    if !ATFORK_REGISTERED.swap(true, Ordering::SeqCst) {
        // SAFETY: registers a handler that only performs an atomic add.
        unsafe {
            libc::pthread_atfork(None, None, Some(on_fork_child));
        }
    }
}

/// How many times this process is removed from the one that loaded the library by fork().
pub fn fork_generation() -> u64 {
    FORK_GEN.load(Ordering::Acquire)
}

/// A global built on first use in each process: the child of a `fork()` gets its own.
pub struct PerProcess<T: 'static> {
    cur: AtomicPtr<Slot<T>>,
    /// 0 when free, else 1 + the generation of the process that is building a value (a
    /// builder that was in another thread of the parent at the fork does not block the child).
    building: AtomicU64,
    init: fn() -> T,
}

struct Slot<T> {
    gen: u64,
    val: T,
    /// The value of the process this one was forked from: kept (reachable) but never used.
    _prev: *mut Slot<T>,
}

// SAFETY: the slots are shared read-only after publication; T itself is Send + Sync.
unsafe impl<T: Send + Sync> Sync for PerProcess<T> {}

impl<T: Send + Sync + 'static> PerProcess<T> {
    pub const fn new(init: fn() -> T) -> Self {
        PerProcess { cur: AtomicPtr::new(std::ptr::null_mut()), building: AtomicU64::new(0), init }
    }

    /// This process's value.
    #[inline]
    pub fn get(&'static self) -> &'static T {
        let gen = FORK_GEN.load(Ordering::Acquire);
        let p = self.cur.load(Ordering::Acquire);
        if !p.is_null() {
            // SAFETY: published slots are never freed.
            let s = unsafe { &*p };
            if s.gen == gen {
                return &s.val;
            }
        }
        self.renew(gen)
    }

    #[cold]
    fn renew(&'static self, gen: u64) -> &'static T {
        register_atfork();
        loop {
            let p = self.cur.load(Ordering::Acquire);
            // SAFETY: published slots are never freed.
            if !p.is_null() && unsafe { (*p).gen } == gen {
                return unsafe { &(*p).val };
            }
            let b = self.building.load(Ordering::Acquire);
            let stale = b != 0 && b != gen + 1;
            if (b == 0 || stale)
                && self.building.compare_exchange(b, gen + 1, Ordering::AcqRel, Ordering::Acquire).is_ok()
            {
                // Released even if `init` panics, so that other threads do not wait forever.
                struct Release<'a>(&'a AtomicU64);
                impl Drop for Release<'_> {
                    fn drop(&mut self) {
                        self.0.store(0, Ordering::Release);
                    }
                }
                let _release = Release(&self.building);
                let slot = Box::into_raw(Box::new(Slot { gen, val: (self.init)(), _prev: p }));
                self.cur.store(slot, Ordering::Release);
                // SAFETY: just published; never freed.
                return unsafe { &(*slot).val };
            }
            std::thread::yield_now();
        }
    }
}

static RUNTIME: PerProcess<tokio::runtime::Runtime> = PerProcess::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("nats-io")
        .enable_all()
        .on_thread_start(|| LIB_THREAD.with(|c| c.set(true)))
        .build()
        .expect("the NATS library could not start its I/O runtime")
});

thread_local! {
    static LIB_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// Live library-owned std threads (delivery, events, drains), so that `nats_CloseAndWait`
/// can wait for them.
type ThreadCount = (Mutex<usize>, Condvar);
static THREADS: PerProcess<ThreadCount> = PerProcess::new(|| (Mutex::new(0), Condvar::new()));

/// Called at the start of every library std thread (nats_OpenWithConfig's
/// ThreadStartedHandler).
pub type ThreadStartedHook = Arc<dyn Fn() + Send + Sync>;

/// The hook in force, read without a lock (a lock held by a thread of the parent at a fork
/// would never be released in the child). Replaced slots are kept, as readers may hold them.
static THREAD_STARTED: AtomicPtr<HookSlot> = AtomicPtr::new(std::ptr::null_mut());

struct HookSlot {
    hook: Option<ThreadStartedHook>,
    _prev: *mut HookSlot,
}

pub fn set_thread_started_hook(h: Option<ThreadStartedHook>) {
    let mut old = THREAD_STARTED.load(Ordering::Acquire);
    let slot = Box::into_raw(Box::new(HookSlot { hook: h, _prev: old }));
    loop {
        match THREAD_STARTED.compare_exchange(old, slot, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return,
            Err(now) => {
                old = now;
                // SAFETY: `slot` is not published yet; this thread owns it.
                unsafe { (*slot)._prev = now };
            }
        }
    }
}

fn thread_started_hook() -> Option<ThreadStartedHook> {
    let p = THREAD_STARTED.load(Ordering::Acquire);
    if p.is_null() {
        None
    } else {
        // SAFETY: published hook slots are never freed.
        unsafe { (*p).hook.clone() }
    }
}

pub fn handle() -> tokio::runtime::Handle {
    RUNTIME.get().handle().clone()
}

/// True on threads the library created (I/O runtime workers and callback threads).
pub fn is_library_thread() -> bool {
    LIB_THREAD.with(|c| c.get())
}

/// Runs a future on the runtime and blocks the calling (non-runtime) thread for its output.
pub fn block_on<F>(fut: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let w = Arc::new(Waiter::new());
    let w2 = w.clone();
    RUNTIME.get().spawn(async move {
        // The future (and whatever it owns) is dropped before the caller is released.
        let out = fut.await;
        w2.set(out);
    });
    w.wait(None).expect("waiter without deadline always yields a value")
}

/// Starts a library-owned thread; its body runs with the library-thread mark set.
pub fn spawn_thread<F: FnOnce() + Send + 'static>(name: &str, f: F) -> std::io::Result<std::thread::JoinHandle<()>> {
    // The thread is counted in (and, when it ends, removed from) this process's count.
    let count: &'static ThreadCount = THREADS.get();
    *count.0.lock() += 1;
    let hook = thread_started_hook();
    let undo_batch = super::sched::batched_here();
    let r = std::thread::Builder::new().name(name.to_string()).spawn(move || {
        if undo_batch {
            super::sched::undo_inherited();
        }
        LIB_THREAD.with(|c| c.set(true));
        if let Some(h) = hook {
            h();
        }
        let _guard = ThreadExit(count);
        f();
    });
    if r.is_err() {
        thread_exited(count);
    }
    r
}

struct ThreadExit(&'static ThreadCount);
impl Drop for ThreadExit {
    fn drop(&mut self) {
        thread_exited(self.0);
    }
}

fn thread_exited(count: &ThreadCount) {
    let mut n = count.0.lock();
    *n -= 1;
    count.1.notify_all();
}

/// Waits until at most `keep` library std threads are alive, or the deadline passes.
pub fn wait_threads(keep: usize, deadline: Option<Instant>) -> bool {
    let count = THREADS.get();
    let mut n = count.0.lock();
    while *n > keep {
        match deadline {
            None => count.1.wait(&mut n),
            Some(d) => {
                if count.1.wait_until(&mut n, d).timed_out() {
                    return *n <= keep;
                }
            }
        }
    }
    true
}
