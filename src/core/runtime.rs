//! The library's private tokio runtime and the bookkeeping of library-owned threads.

use std::cell::Cell;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use once_cell::sync::Lazy;
use parking_lot::{Condvar, Mutex};

use super::sync::Waiter;

static RUNTIME: Lazy<tokio::runtime::Runtime> = Lazy::new(|| {
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
static THREADS: Lazy<(Mutex<usize>, Condvar)> = Lazy::new(|| (Mutex::new(0), Condvar::new()));

/// Called at the start of every library std thread (nats_OpenWithConfig's
/// ThreadStartedHandler).
pub type ThreadStartedHook = Arc<dyn Fn() + Send + Sync>;
static THREAD_STARTED: Lazy<Mutex<Option<ThreadStartedHook>>> = Lazy::new(|| Mutex::new(None));

pub fn set_thread_started_hook(h: Option<ThreadStartedHook>) {
    *THREAD_STARTED.lock() = h;
}

pub fn handle() -> tokio::runtime::Handle {
    RUNTIME.handle().clone()
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
    RUNTIME.spawn(async move {
        // The future (and whatever it owns) is dropped before the caller is released.
        let out = fut.await;
        w2.set(out);
    });
    w.wait(None).expect("waiter without deadline always yields a value")
}

/// Starts a library-owned thread; its body runs with the library-thread mark set.
pub fn spawn_thread<F: FnOnce() + Send + 'static>(name: &str, f: F) -> std::io::Result<std::thread::JoinHandle<()>> {
    {
        let mut n = THREADS.0.lock();
        *n += 1;
    }
    let hook = THREAD_STARTED.lock().clone();
    let r = std::thread::Builder::new().name(name.to_string()).spawn(move || {
        LIB_THREAD.with(|c| c.set(true));
        if let Some(h) = hook {
            h();
        }
        let _guard = ThreadExit;
        f();
    });
    if r.is_err() {
        thread_exited();
    }
    r
}

struct ThreadExit;
impl Drop for ThreadExit {
    fn drop(&mut self) {
        thread_exited();
    }
}

fn thread_exited() {
    let mut n = THREADS.0.lock();
    *n -= 1;
    THREADS.1.notify_all();
}

/// Waits until at most `keep` library std threads are alive, or the deadline passes.
pub fn wait_threads(keep: usize, deadline: Option<Instant>) -> bool {
    let mut n = THREADS.0.lock();
    while *n > keep {
        match deadline {
            None => THREADS.1.wait(&mut n),
            Some(d) => {
                if THREADS.1.wait_until(&mut n, d).timed_out() {
                    return *n <= keep;
                }
            }
        }
    }
    true
}
