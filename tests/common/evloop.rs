//! A small poll(2) event loop on its own thread, implementing the core's `EventLoop` the
//! way an adapter does: it watches each attached socket for input (and for room to write
//! when asked), reports events to the connection, closes a socket when the library stops
//! polling its input, and releases the connection after the detach.

use std::collections::HashMap;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use nats::core::conn::Conn;
use nats::core::options::EventLoop;
use nats::core::status::Error;

struct Watched {
    conn: Weak<Conn>,
    fd: RawFd,
    read: bool,
    write: bool,
}

#[derive(Default)]
pub struct Counts {
    pub attach: AtomicUsize,
    pub detach: AtomicUsize,
    pub closed: AtomicUsize,
    pub read_events: AtomicUsize,
    pub write_events: AtomicUsize,
}

pub struct PollLoop {
    watched: Mutex<HashMap<usize, Watched>>,
    next: AtomicUsize,
    stop: AtomicBool,
    pub counts: Counts,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl PollLoop {
    /// A loop whose thread never runs: nothing is read or written by it.
    pub fn idle() -> Arc<PollLoop> {
        Arc::new(PollLoop {
            watched: Mutex::new(HashMap::new()),
            next: AtomicUsize::new(1),
            stop: AtomicBool::new(false),
            counts: Counts::default(),
            thread: Mutex::new(None),
        })
    }

    /// Starts the loop's thread.
    pub fn start() -> Arc<PollLoop> {
        let l = PollLoop::idle();
        let me = l.clone();
        *l.thread.lock().unwrap() = Some(std::thread::spawn(move || me.run()));
        l
    }

    /// Sockets still watched (attached and not closed).
    pub fn open_sockets(&self) -> usize {
        self.watched.lock().unwrap().values().filter(|w| w.fd >= 0).count()
    }

    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.lock().unwrap().take() {
            t.join().unwrap();
        }
    }

    fn run(&self) {
        while !self.stop.load(Ordering::SeqCst) {
            let (mut fds, who): (Vec<libc::pollfd>, Vec<usize>) = {
                let w = self.watched.lock().unwrap();
                w.iter()
                    .filter(|(_, e)| e.fd >= 0 && (e.read || e.write))
                    .map(|(k, e)| {
                        let mut events = 0;
                        if e.read {
                            events |= libc::POLLIN;
                        }
                        if e.write {
                            events |= libc::POLLOUT;
                        }
                        (libc::pollfd { fd: e.fd, events, revents: 0 }, *k)
                    })
                    .unzip()
            };
            // Short waits: a change of the watched set is seen within a few milliseconds.
            // SAFETY: polls a local array of live descriptors.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 5) };
            if n <= 0 {
                continue;
            }
            for (p, k) in fds.iter().zip(who) {
                if p.revents == 0 {
                    continue;
                }
                let conn = match self.watched.lock().unwrap().get(&k) {
                    Some(e) if e.fd == p.fd => e.conn.upgrade(),
                    _ => None,
                };
                let Some(conn) = conn else { continue };
                if p.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
                    self.counts.read_events.fetch_add(1, Ordering::SeqCst);
                    conn.el_read_event();
                }
                if p.revents & libc::POLLOUT != 0 {
                    self.counts.write_events.fetch_add(1, Ordering::SeqCst);
                    conn.el_write_event();
                }
            }
        }
    }
}

impl EventLoop for PollLoop {
    fn attach(&self, data: &mut usize, conn: &Arc<Conn>, fd: RawFd) -> Result<(), Error> {
        self.counts.attach.fetch_add(1, Ordering::SeqCst);
        if *data == 0 {
            *data = self.next.fetch_add(1, Ordering::SeqCst);
        }
        self.watched
            .lock()
            .unwrap()
            .insert(*data, Watched { conn: Arc::downgrade(conn), fd, read: true, write: false });
        Ok(())
    }

    fn read(&self, data: usize, add: bool) -> Result<(), Error> {
        let mut w = self.watched.lock().unwrap();
        let e = w.get_mut(&data).expect("read for an unknown connection");
        e.read = add;
        if !add && e.fd >= 0 {
            // The session is over: the adapter closes the socket.
            // SAFETY: the descriptor was handed to this loop and is closed once.
            unsafe { libc::close(e.fd) };
            e.fd = -1;
            self.counts.closed.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    }

    fn write(&self, data: usize, add: bool) -> Result<(), Error> {
        self.watched.lock().unwrap().get_mut(&data).expect("write for an unknown connection").write = add;
        Ok(())
    }

    fn detach(&self, data: usize) {
        self.counts.detach.fetch_add(1, Ordering::SeqCst);
        let e = self.watched.lock().unwrap().remove(&data).expect("detach of an unknown connection");
        if e.fd >= 0 {
            // SAFETY: as in `read`.
            unsafe { libc::close(e.fd) };
            self.counts.closed.fetch_add(1, Ordering::SeqCst);
        }
        if let Some(c) = e.conn.upgrade() {
            // SAFETY: our own reference `c` keeps the connection alive through the call.
            unsafe { c.el_release() };
        }
    }
}

/// Waits up to `d` for `f` to hold.
pub fn wait_for(d: Duration, f: impl Fn() -> bool) -> bool {
    let end = std::time::Instant::now() + d;
    while std::time::Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    f()
}
