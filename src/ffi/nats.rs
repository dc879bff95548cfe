//! Library-wide calls: open/close, version, time, last error, statistics, inboxes.

use std::ffi::{c_char, c_int, CString};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use once_cell::sync::Lazy;

use super::types::*;
use super::{check_arg, error, guard, guard_or};
use crate::core::status::{Error, Status};
use crate::core::{events, nuid, runtime, sub};

pub(crate) const VERSION_STRING: &str = "3.13.0\0";
pub(crate) const VERSION_NUMBER: u32 = (3 << 16) | (13 << 8);
pub(crate) const VERSION_REQUIRED_NUMBER: u32 = 0x030D00;

/// Library settings applied to options created afterwards (nats_OpenWithConfig).
pub(crate) static DEFAULT_TO_POOL: AtomicBool = AtomicBool::new(false);
pub(crate) static DEFAULT_WRITE_DEADLINE: AtomicI64 = AtomicI64::new(0);
static OPEN: AtomicBool = AtomicBool::new(false);

/// Marks the library open, as every cnats entry point does through nats_Open(-1).
#[inline]
pub(crate) fn ensure_open() {
    if !OPEN.load(Ordering::Relaxed) {
        OPEN.store(true, Ordering::SeqCst);
    }
}
static MONO_START: Lazy<Instant> = Lazy::new(Instant::now);

/// Initializes the library with the given settings. Other calls open the library with
/// defaults on first use, so calling this is needed only to change those settings, and only
/// before anything else.
#[no_mangle]
pub unsafe extern "C" fn nats_OpenWithConfig(config: *mut natsClientConfig) -> natsStatus {
    // cnats: a NULL config opens the library with the defaults, as nats_Open(-1) does.
    if config.is_null() {
        return nats_Open(-1);
    }
    let was_open = OPEN.load(Ordering::SeqCst);
    guard("nats_OpenWithConfig", || {
        // SAFETY: checked non-NULL; the caller passes a valid natsClientConfig.
        let c = unsafe { &*config };
        if was_open {
            return Err(Error::with_text(Status::IllegalState, "the library is already open"));
        }
        DEFAULT_TO_POOL.store(c.DefaultToThreadPool, Ordering::Relaxed);
        DEFAULT_WRITE_DEADLINE.store(c.DefaultWriteDeadline.max(0), Ordering::Relaxed);
        if c.ThreadPoolMax > 0 {
            sub::set_pool_size(c.ThreadPoolMax as usize);
        }
        match c.ThreadStartedHandler {
            Some(f) => {
                let closure = c.ThreadStartedHandlerClosure as usize;
                // SAFETY (in the hook): the user's function with the user's closure.
                runtime::set_thread_started_hook(Some(Arc::new(move || unsafe { f(closure as *mut _) })));
            }
            None => runtime::set_thread_started_hook(None),
        }
        Ok(())
    })
}

/// Initializes the library. `lockSpinCount` is accepted for compatibility (-1: default).
#[no_mangle]
pub extern "C" fn nats_Open(lockSpinCount: i64) -> natsStatus {
    let _ = lockSpinCount;
    OPEN.store(true, Ordering::SeqCst);
    NATS_OK
}

/// The library version as a string ("3.13.0"); static, never freed.
#[no_mangle]
pub extern "C" fn nats_GetVersion() -> *const c_char {
    VERSION_STRING.as_ptr() as *const c_char
}

/// The library version as a number: (major << 16) | (minor << 8) | patch.
#[no_mangle]
pub extern "C" fn nats_GetVersionNumber() -> u32 {
    VERSION_NUMBER
}

/// Used by the nats_CheckCompatibility() macro: when the header the program was built with
/// and this library are incompatible, prints both versions and exits the process, as cnats.
#[no_mangle]
pub unsafe extern "C" fn nats_CheckCompatibilityImpl(reqVerNumber: u32, verNumber: u32, verString: *const c_char) -> bool {
    guard_or("nats_CheckCompatibilityImpl", true, || check_compatibility(reqVerNumber, verNumber, verString))
}

fn check_compatibility(reqVerNumber: u32, verNumber: u32, verString: *const c_char) -> bool {
    if verNumber < VERSION_REQUIRED_NUMBER || reqVerNumber > VERSION_NUMBER {
        // SAFETY: the macro passes the header's NUL-terminated version string.
        let hv = unsafe { super::opt_str(verString) }.ok().flatten().unwrap_or("?");
        let v = |n: u32| format!("{}.{}.{}", (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff);
        // print! would panic on a closed stdout; the report is best effort before exiting.
        use std::io::Write;
        let _ = writeln!(
            std::io::stdout(),
            "Incompatible versions:\nHeader : {} (requires {})\nLibrary: {} (requires {})",
            hv,
            v(reqVerNumber),
            &VERSION_STRING[..VERSION_STRING.len() - 1],
            v(VERSION_REQUIRED_NUMBER)
        );
        std::process::exit(1);
    }
    true
}

/// Milliseconds since the Unix epoch.
#[no_mangle]
pub extern "C" fn nats_Now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Nanoseconds since the Unix epoch.
#[no_mangle]
pub extern "C" fn nats_NowInNanoSeconds() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i64)
}

/// Nanoseconds from a monotonic clock (for measuring intervals).
#[no_mangle]
pub extern "C" fn nats_NowMonotonicInNanoSeconds() -> i64 {
    // Offset by one second so the value is never zero.
    MONO_START.elapsed().as_nanos() as i64 + 1_000_000_000
}

/// Sleeps for `sleepTime` milliseconds.
#[no_mangle]
pub extern "C" fn nats_Sleep(sleepTime: i64) {
    if sleepTime > 0 {
        std::thread::sleep(Duration::from_millis(sleepTime as u64));
    }
}

/// The text of this thread's last error, and its status through `status` (may be NULL).
/// Returns NULL when no error was recorded. The text belongs to the library and stays valid
/// until the next failing call on this thread.
#[no_mangle]
pub unsafe extern "C" fn nats_GetLastError(status: *mut natsStatus) -> *const c_char {
    guard_or("nats_GetLastError", std::ptr::null(), || {
        let (s, text) = error::last();
        if !status.is_null() {
            // SAFETY: non-NULL pointer from the caller to a natsStatus.
            unsafe { *status = s };
        }
        text
    })
}

/// Writes the function stack of this thread's last error into `buffer`, one name a line.
/// NATS_INSUFFICIENT_BUFFER when it does not fit.
#[no_mangle]
pub unsafe extern "C" fn nats_GetLastErrorStack(buffer: *mut c_char, bufLen: usize) -> natsStatus {
    if buffer.is_null() || bufLen == 0 {
        return Status::InvalidArg as natsStatus;
    }
    guard_or("nats_GetLastErrorStack", Status::Err as natsStatus, || {
        // SAFETY: at least one byte is writable at `buffer`.
        unsafe { *buffer = 0 };
        let Some((_, _, stack)) = error::stack_text() else { return NATS_OK };
        let text = stack.join("\n");
        // SAFETY: `buffer` has `bufLen` writable bytes.
        match unsafe { super::copy_to_buf(&text, buffer, bufLen) } {
            Ok(()) => NATS_OK,
            Err(_) => {
                // Like cnats: as much as fits, NUL-terminated, and the error status.
                let n = bufLen - 1;
                // SAFETY: n + 1 <= bufLen bytes are writable.
                unsafe {
                    std::ptr::copy_nonoverlapping(text.as_ptr(), buffer as *mut u8, n);
                    *buffer.add(n) = 0;
                }
                Status::InsufficientBuffer as natsStatus
            }
        }
    })
}

/// Prints this thread's last error and its function stack to `file`.
#[no_mangle]
pub unsafe extern "C" fn nats_PrintLastErrorStack(file: *mut libc::FILE) {
    guard_or("nats_PrintLastErrorStack", (), || {
        if file.is_null() {
            return;
        }
        let Some((status, text, stack)) = error::stack_text() else { return };
        let mut out = format!("Error: {} - {}", status as i32, status.text());
        if !text.is_empty() {
            out.push_str(" - ");
            out.push_str(&text);
        }
        out.push('\n');
        out.push_str(&format!("Stack: (library version: {})\n", &VERSION_STRING[..VERSION_STRING.len() - 1]));
        for (i, f) in stack.iter().enumerate() {
            out.push_str(&format!("  {:02} - {}\n", i + 1, f));
        }
        // SAFETY: `file` is a valid FILE* from the caller; we write a byte buffer to it.
        unsafe {
            libc::fwrite(out.as_ptr() as *const _, 1, out.len(), file);
            libc::fflush(file);
        }
    })
}

/// Sets the maximum number of threads of the shared delivery pool used by connections with
/// global message delivery. The pool may grow, never shrink.
#[no_mangle]
pub extern "C" fn nats_SetMessageDeliveryPoolSize(max: c_int) -> natsStatus {
    guard("nats_SetMessageDeliveryPoolSize", || {
        check_arg!(max > 0);
        sub::set_pool_size(max as usize);
        Ok(())
    })
}

/// Releases the memory the library keeps for the calling thread (its last error).
#[no_mangle]
pub extern "C" fn nats_ReleaseThreadMemory() {
    guard_or("nats_ReleaseThreadMemory", (), error::clear)
}

/// Lets the library release its resources once every connection has been destroyed.
#[no_mangle]
pub extern "C" fn nats_Close() {
    guard_or("nats_Close", (), || {
        close_lib();
    })
}

/// Returns false when the library was not open.
fn close_lib() -> bool {
    if !OPEN.swap(false, Ordering::SeqCst) {
        return false;
    }
    sub::shutdown_pool();
    events::shutdown();
    error::clear();
    true
}

/// Like nats_Close, then waits up to `timeout` ms (forever if <= 0) for the library's
/// threads to exit. NATS_NOT_INITIALIZED when the library is not open;
/// NATS_ILLEGAL_STATE when called from a library thread (a callback); NATS_TIMEOUT when
/// threads are still running at the deadline (for example because a connection was not
/// destroyed). As in cnats, these outcomes are returned without being recorded as the
/// thread's last error.
#[no_mangle]
pub extern "C" fn nats_CloseAndWait(timeout: i64) -> natsStatus {
    guard_or("nats_CloseAndWait", Status::Err as natsStatus, || {
        if !OPEN.load(Ordering::SeqCst) {
            return Status::NotInitialized as natsStatus;
        }
        if runtime::is_library_thread() {
            return Status::IllegalState as natsStatus;
        }
        if !close_lib() {
            return Status::NotInitialized as natsStatus;
        }
        let deadline = (timeout > 0).then(|| Instant::now() + Duration::from_millis(timeout as u64));
        if runtime::wait_threads(0, deadline) {
            NATS_OK
        } else {
            Status::Timeout as natsStatus
        }
    })
}

/// The text for a status code (static; never freed). Unknown codes give "Unknown Status".
#[no_mangle]
pub extern "C" fn natsStatus_GetText(s: natsStatus) -> *const c_char {
    match Status::from_raw(s) {
        Some(st) => st.text_with_nul().as_ptr() as *const c_char,
        None => c"Unknown Status".as_ptr(),
    }
}

/// Statistics object: counters copied by natsConnection_GetStats.
#[derive(Default)]
pub(crate) struct Statistics {
    pub in_msgs: u64,
    pub in_bytes: u64,
    pub out_msgs: u64,
    pub out_bytes: u64,
    pub reconnects: u64,
}

/// Creates a statistics object; release it with natsStatistics_Destroy.
#[no_mangle]
pub unsafe extern "C" fn natsStatistics_Create(newStats: *mut *mut natsStatistics) -> natsStatus {
    guard("natsStatistics_Create", || {
        check_arg!(!newStats.is_null());
        let b = Box::new(Statistics::default());
        // SAFETY: checked non-NULL out-pointer.
        unsafe { *newStats = Box::into_raw(b) as *mut natsStatistics };
        Ok(())
    })
}

/// Reads the counters; any out-pointer may be NULL.
#[no_mangle]
pub unsafe extern "C" fn natsStatistics_GetCounts(
    stats: *const natsStatistics,
    inMsgs: *mut u64,
    inBytes: *mut u64,
    outMsgs: *mut u64,
    outBytes: *mut u64,
    reconnects: *mut u64,
) -> natsStatus {
    guard("natsStatistics_GetCounts", || {
        check_arg!(!stats.is_null());
        // SAFETY: a natsStatistics pointer is a Box<Statistics> from natsStatistics_Create.
        let s = unsafe { &*(stats as *const Statistics) };
        for (p, v) in [(inMsgs, s.in_msgs), (inBytes, s.in_bytes), (outMsgs, s.out_msgs), (outBytes, s.out_bytes), (reconnects, s.reconnects)] {
            if !p.is_null() {
                // SAFETY: non-NULL out-pointer from the caller.
                unsafe { *p = v };
            }
        }
        Ok(())
    })
}

/// Releases a statistics object (NULL is ignored).
#[no_mangle]
pub unsafe extern "C" fn natsStatistics_Destroy(stats: *mut natsStatistics) {
    guard_or("natsStatistics_Destroy", (), || {
        if !stats.is_null() {
            // SAFETY: created by natsStatistics_Create with Box::into_raw.
            drop(unsafe { Box::from_raw(stats as *mut Statistics) });
        }
    })
}

/// Creates a unique inbox subject ("_INBOX." + a NUID); release with natsInbox_Destroy.
#[no_mangle]
pub unsafe extern "C" fn natsInbox_Create(newInbox: *mut *mut natsInbox) -> natsStatus {
    guard("natsInbox_Create", || {
        check_arg!(!newInbox.is_null());
        let s = format!("_INBOX.{}", nuid::next_string());
        let c = CString::new(s).map_err(|_| Error::new(Status::Err))?;
        // SAFETY: checked non-NULL out-pointer.
        unsafe { *newInbox = c.into_raw() };
        Ok(())
    })
}

/// Releases an inbox created by natsInbox_Create (NULL is ignored).
#[no_mangle]
pub unsafe extern "C" fn natsInbox_Destroy(inbox: *mut natsInbox) {
    guard_or("natsInbox_Destroy", (), || {
        if !inbox.is_null() {
            // SAFETY: created by natsInbox_Create with CString::into_raw.
            drop(unsafe { CString::from_raw(inbox) });
        }
    })
}

/// Signs the NUL-terminated `input` with the NKey `encodedSeed`. `*signature` (64 bytes,
/// from malloc) belongs to the caller, who frees it with free().
#[no_mangle]
pub unsafe extern "C" fn nats_Sign(
    encodedSeed: *const c_char,
    input: *const c_char,
    signature: *mut *mut std::ffi::c_uchar,
    signatureLength: *mut c_int,
) -> natsStatus {
    guard("nats_Sign", || {
        // SAFETY: NULL or a NUL-terminated string.
        let seed = unsafe { super::opt_str(encodedSeed) }?.filter(|s| !s.is_empty());
        let seed = seed.ok_or_else(|| Error::with_text(Status::InvalidArg, "seed cannot be empty"))?;
        // SAFETY: NULL or a NUL-terminated string.
        let inp = unsafe { super::opt_bytes(input) }.filter(|s| !s.is_empty());
        let inp = inp.ok_or_else(|| Error::with_text(Status::InvalidArg, "input cannot be empty"))?;
        check_arg!(!signature.is_null() && !signatureLength.is_null(), "signature and/or signatureLength cannot be NULL");
        let sig = crate::core::auth::sign_with_seed(seed, inp)?;
        let p = super::malloc_array(&sig)?;
        // SAFETY: checked non-NULL out-pointers.
        unsafe {
            *signature = p;
            *signatureLength = sig.len() as c_int;
        }
        Ok(())
    })
}
