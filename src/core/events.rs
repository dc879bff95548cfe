//! The library's single event thread: connection events (disconnected, reconnected, closed,
//! discovered servers, lame duck) and asynchronous errors run here, one at a time, in the
//! order they were posted. It never runs on a tokio worker and never under a core lock.

use std::collections::VecDeque;

use crate::core::lock::{Condvar, Mutex};

use super::runtime::{self, PerProcess};

type Job = Box<dyn FnOnce() + Send>;

struct Queue {
    jobs: VecDeque<Job>,
    running: bool,
    shutdown: bool,
}

/// Per process: the event thread of the parent does not exist in the child of a fork().
static QUEUE: PerProcess<(Mutex<Queue>, Condvar)> =
    PerProcess::new(|| (Mutex::new(Queue { jobs: VecDeque::new(), running: false, shutdown: false }), Condvar::new()));

/// Queues a job for the event thread, starting the thread if needed.
pub fn post(job: Job) {
    let queue = QUEUE.get();
    let mut q = queue.0.lock();
    q.jobs.push_back(job);
    q.shutdown = false;
    if !q.running {
        q.running = true;
        if runtime::spawn_thread("nats-events", move || run(queue)).is_err() {
            q.running = false;
        }
    }
    queue.1.notify_one();
}

fn run(queue: &'static (Mutex<Queue>, Condvar)) {
    loop {
        let job = {
            let mut q = queue.0.lock();
            loop {
                if let Some(j) = q.jobs.pop_front() {
                    break j;
                }
                if q.shutdown {
                    q.running = false;
                    return;
                }
                queue.1.wait(&mut q);
            }
        };
        // A panicking user callback must not take the event thread down.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
    }
}

/// Asks the event thread to exit once its queue is empty (library close).
pub fn shutdown() {
    let queue = QUEUE.get();
    let mut q = queue.0.lock();
    q.shutdown = true;
    queue.1.notify_all();
}
