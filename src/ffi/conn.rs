//! natsConnection: connect, publish, request, subscribe, flush, drain, close, and accessors.

use std::ffi::{c_char, c_int, c_void};
use std::sync::Arc;

use super::msg::{msg_mut, msg_into_raw};
use super::opts::{default_options, snapshot, CCallback};
use super::sub::{sub_into_raw, sub_ptr};
use super::types::*;
use super::{check_arg, copy_to_buf, data_slice, guard, guard_or, malloc_array, malloc_str, opt_bytes};
use crate::core::conn::Conn;
use crate::core::msg::Msg;
use crate::core::subject::PublishSubject;
use crate::core::status::{ConnStatus, Error, Status};
use crate::core::sub::MsgCallback;

/// The handle a C caller sees for a connection: the address of the shared `Conn`.
pub(crate) fn conn_ptr(c: &Arc<Conn>) -> *mut natsConnection {
    Arc::as_ptr(c) as *mut natsConnection
}

/// Borrows the connection behind a handle.
///
/// # Safety
/// `nc` is NULL or a handle from natsConnection_Connect not yet destroyed (or one passed to
/// a callback, which is valid for the callback's duration).
pub(crate) unsafe fn conn_ref<'a>(nc: *mut natsConnection) -> Result<&'a Conn, Error> {
    if nc.is_null() {
        return Err(Error::new(Status::InvalidArg));
    }
    // SAFETY: per the contract above, `nc` came from Arc::into_raw of an Arc<Conn>.
    Ok(unsafe { &*(nc as *const Conn) })
}

fn out_ptr<T>(p: *mut *mut T) -> Result<(), Error> {
    if p.is_null() {
        return Err(Error::new(Status::InvalidArg));
    }
    Ok(())
}

/// Connects with the given options (NULL: defaults, to nats://localhost:4222). On success
/// `*nc` is a new connection that the caller releases with natsConnection_Destroy. The
/// connection keeps its own copy of the options. With natsOptions_SetRetryOnFailedConnect
/// and a connected callback, NATS_NOT_YET_CONNECTED also sets `*nc`: the connection keeps
/// trying in the background.
#[no_mangle]
pub unsafe extern "C" fn natsConnection_Connect(nc: *mut *mut natsConnection, options: *mut natsOptions) -> natsStatus {
    guard("natsConnection_Connect", || {
        out_ptr(nc)?;
        // SAFETY: NULL or a live options handle.
        let opts = unsafe { snapshot(options) }.unwrap_or_else(default_options);
        let c = Conn::connect(opts)?;
        let pending = c.connect_pending.load(std::sync::atomic::Ordering::SeqCst);
        // SAFETY: checked non-NULL out-pointer.
        unsafe { *nc = Arc::into_raw(c) as *mut natsConnection };
        if pending {
            // With retry-on-failed-connect and a connected callback, the handle is valid and
            // the first connect goes on in the background.
            return Err(Error::new(Status::NotYetConnected));
        }
        Ok(())
    })
}

/// Connects with default options to the servers in `urls` (comma-separated; NULL: the
/// default URL).
#[no_mangle]
pub unsafe extern "C" fn natsConnection_ConnectTo(nc: *mut *mut natsConnection, urls: *const c_char) -> natsStatus {
    guard("natsConnection_ConnectTo", || {
        out_ptr(nc)?;
        let mut opts = default_options();
        // SAFETY: NULL or a NUL-terminated string from the caller.
        if let Some(u) = unsafe { super::opt_str(urls) }? {
            let list: Vec<String> = u.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
            opts.no_randomize = true;
            if list.len() == 1 {
                opts.url = list.into_iter().next();
            } else {
                opts.servers = list;
            }
            opts.secure = opts.url.iter().chain(opts.servers.iter()).any(|s| crate::core::options::has_tls_scheme(s));
        }
        let c = Conn::connect(opts)?;
        // SAFETY: checked non-NULL out-pointer.
        unsafe { *nc = Arc::into_raw(c) as *mut natsConnection };
        Ok(())
    })
}

/// True when the connection is closed (NULL counts as closed).
#[no_mangle]
pub unsafe extern "C" fn natsConnection_IsClosed(nc: *mut natsConnection) -> bool {
    // SAFETY: NULL or a live handle.
    guard_or("natsConnection_IsClosed", true, || unsafe { conn_ref(nc) }.map_or(true, |c| c.is_closed()))
}

/// True while the connection is reconnecting.
#[no_mangle]
pub unsafe extern "C" fn natsConnection_IsReconnecting(nc: *mut natsConnection) -> bool {
    // SAFETY: NULL or a live handle.
    guard_or("natsConnection_IsReconnecting", false, || unsafe { conn_ref(nc) }.is_ok_and(|c| c.is_reconnecting()))
}

/// True while the connection is draining.
#[no_mangle]
pub unsafe extern "C" fn natsConnection_IsDraining(nc: *mut natsConnection) -> bool {
    // SAFETY: NULL or a live handle.
    guard_or("natsConnection_IsDraining", false, || unsafe { conn_ref(nc) }.is_ok_and(|c| c.is_draining()))
}

/// The connection's state (NATS_CONN_STATUS_CLOSED for NULL).
#[no_mangle]
pub unsafe extern "C" fn natsConnection_Status(nc: *mut natsConnection) -> natsConnStatus {
    guard_or("natsConnection_Status", ConnStatus::Closed as natsConnStatus, || {
        // SAFETY: NULL or a live handle.
        unsafe { conn_ref(nc) }.map_or(ConnStatus::Closed as natsConnStatus, |c| c.status() as natsConnStatus)
    })
}

/// Bytes buffered and not yet written to the socket (-1 for NULL).
#[no_mangle]
pub unsafe extern "C" fn natsConnection_Buffered(nc: *mut natsConnection) -> c_int {
    guard_or("natsConnection_Buffered", -1, || {
        // SAFETY: NULL or a live handle.
        match unsafe { conn_ref(nc) } {
            Ok(c) if !c.is_closed() => c.buffered().min(c_int::MAX as usize) as c_int,
            _ => -1,
        }
    })
}

/// Flushes and waits for the server's acknowledgement, up to 10 seconds.
#[no_mangle]
pub unsafe extern "C" fn natsConnection_Flush(nc: *mut natsConnection) -> natsStatus {
    guard("natsConnection_Flush", || {
        // SAFETY: NULL or a live handle.
        unsafe { conn_ref(nc) }?.flush_timeout(10_000)
    })
}

/// Flushes and waits up to `timeout` ms for the server's acknowledgement (must be > 0).
#[no_mangle]
pub unsafe extern "C" fn natsConnection_FlushTimeout(nc: *mut natsConnection, timeout: i64) -> natsStatus {
    guard("natsConnection_FlushTimeout", || {
        // SAFETY: NULL or a live handle.
        let c = unsafe { conn_ref(nc) }?;
        if timeout <= 0 {
            return Err(Error::new(Status::InvalidTimeout));
        }
        c.flush_timeout(timeout)
    })
}

/// The largest payload the server accepts (0 for NULL).
#[no_mangle]
pub unsafe extern "C" fn natsConnection_GetMaxPayload(nc: *mut natsConnection) -> i64 {
    // SAFETY: NULL or a live handle.
    guard_or("natsConnection_GetMaxPayload", 0, || unsafe { conn_ref(nc) }.map_or(0, |c| c.max_payload()))
}

/// Copies the connection's counters into `stats`.
#[no_mangle]
pub unsafe extern "C" fn natsConnection_GetStats(nc: *mut natsConnection, stats: *mut natsStatistics) -> natsStatus {
    guard("natsConnection_GetStats", || {
        check_arg!(!stats.is_null());
        // SAFETY: NULL or a live handle.
        let s = unsafe { conn_ref(nc) }?.stats();
        // SAFETY: a natsStatistics handle is a Box<Statistics>.
        let out = unsafe { &mut *(stats as *mut super::nats::Statistics) };
        out.in_msgs = s.in_msgs;
        out.in_bytes = s.in_bytes;
        out.out_msgs = s.out_msgs;
        out.out_bytes = s.out_bytes;
        out.reconnects = s.reconnects;
        Ok(())
    })
}

/// Copies the URL of the connected server into `buffer` ("" when not connected).
#[no_mangle]
pub unsafe extern "C" fn natsConnection_GetConnectedUrl(nc: *mut natsConnection, buffer: *mut c_char, bufferSize: usize) -> natsStatus {
    guard("natsConnection_GetConnectedUrl", || {
        check_arg!(!buffer.is_null() && bufferSize > 0);
        // SAFETY: NULL or a live handle.
        let c = unsafe { conn_ref(nc) }?;
        let url = c.connected_url().unwrap_or_default();
        // SAFETY: `buffer` has `bufferSize` writable bytes.
        unsafe { copy_to_buf(&url, buffer, bufferSize) }
    })
}

/// Copies the connected server's id into `buffer` ("" when not connected).
#[no_mangle]
pub unsafe extern "C" fn natsConnection_GetConnectedServerId(
    nc: *mut natsConnection,
    buffer: *mut c_char,
    bufferSize: usize,
) -> natsStatus {
    guard("natsConnection_GetConnectedServerId", || {
        check_arg!(!buffer.is_null() && bufferSize > 0);
        // SAFETY: NULL or a live handle.
        let c = unsafe { conn_ref(nc) }?;
        let id = c.connected_server_id().unwrap_or_default();
        // SAFETY: `buffer` has `bufferSize` writable bytes.
        unsafe { copy_to_buf(&id, buffer, bufferSize) }
    })
}

fn string_array(list: &[String], servers: *mut *mut *mut c_char, count: *mut c_int) -> Result<(), Error> {
    let mut ptrs: Vec<*mut c_char> = Vec::with_capacity(list.len());
    for s in list {
        match malloc_str(s) {
            Ok(p) => ptrs.push(p),
            Err(e) => {
                for p in ptrs {
                    // SAFETY: allocated by malloc_str just above.
                    unsafe { libc::free(p as *mut c_void) };
                }
                return Err(e);
            }
        }
    }
    if ptrs.is_empty() {
        // SAFETY: checked non-NULL out-pointers.
        unsafe {
            *servers = std::ptr::null_mut();
            *count = 0;
        }
        return Ok(());
    }
    let arr = malloc_array(&ptrs)?;
    // SAFETY: checked non-NULL out-pointers.
    unsafe {
        *servers = arr;
        *count = ptrs.len() as c_int;
    }
    Ok(())
}

/// Every server URL in the pool. The caller frees each string and the array with free().
#[no_mangle]
pub unsafe extern "C" fn natsConnection_GetServers(nc: *mut natsConnection, servers: *mut *mut *mut c_char, count: *mut c_int) -> natsStatus {
    guard("natsConnection_GetServers", || {
        check_arg!(!servers.is_null() && !count.is_null());
        // SAFETY: NULL or a live handle.
        let c = unsafe { conn_ref(nc) }?;
        // cnats answers from the server pool, which a closed connection keeps.
        string_array(&c.servers(false), servers, count)
    })
}

/// The server URLs learned from the cluster. The caller frees each string and the array
/// with free().
#[no_mangle]
pub unsafe extern "C" fn natsConnection_GetDiscoveredServers(
    nc: *mut natsConnection,
    servers: *mut *mut *mut c_char,
    count: *mut c_int,
) -> natsStatus {
    guard("natsConnection_GetDiscoveredServers", || {
        check_arg!(!servers.is_null() && !count.is_null());
        // SAFETY: NULL or a live handle.
        let c = unsafe { conn_ref(nc) }?;
        // cnats answers from the server pool, which a closed connection keeps.
        string_array(&c.servers(true), servers, count)
    })
}

/// The connection's last error and a pointer to its text (owned by the connection, valid
/// until the next error on it). Deprecated in cnats in favour of natsConnection_ReadLastError.
#[no_mangle]
pub unsafe extern "C" fn natsConnection_GetLastError(nc: *mut natsConnection, lastError: *mut *const c_char) -> natsStatus {
    // A NULL `nc` or `lastError` is NATS_INVALID_ARG, recorded as the thread's last error
    // (cnats records it for `nc`, and writes through a NULL `lastError`).
    const FUNC: &str = "natsConnection_GetLastError";
    guard_or(FUNC, Status::Err as natsStatus, || {
        // SAFETY: NULL or a live handle.
        let c = match unsafe { conn_ref(nc) } {
            Ok(c) if !lastError.is_null() => c,
            _ => return super::error::record(FUNC, &Error::new(Status::InvalidArg)),
        };
        let (s, text) = c.last_error_c();
        // SAFETY: non-NULL out-pointer; the buffer lives as long as the connection.
        unsafe { *lastError = text.as_ptr() };
        s as natsStatus
    })
}

/// Copies the connection's last error text into `buf` and returns its status.
#[no_mangle]
pub unsafe extern "C" fn natsConnection_ReadLastError(nc: *mut natsConnection, buf: *mut c_char, n: usize) -> natsStatus {
    // A NULL `nc` is NATS_INVALID_ARG, recorded as the thread's last error (as cnats does);
    // a NULL `buf` or a 0 size only skips the copy.
    const FUNC: &str = "natsConnection_ReadLastError";
    guard_or(FUNC, Status::Err as natsStatus, || {
        // SAFETY: NULL or a live handle.
        let c = match unsafe { conn_ref(nc) } {
            Ok(c) => c,
            Err(e) => return super::error::record(FUNC, &e),
        };
        let (s, bytes) = c.last_error_c_copy();
        if !buf.is_null() && n > 0 {
            let k = bytes.len().min(n - 1);
            // SAFETY: `buf` has `n` writable bytes and k + 1 <= n.
            unsafe {
                std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf as *mut u8, k);
                *buf.add(k) = 0;
            }
        }
        s as natsStatus
    })
}

/// The client id the server gave this connection.
#[no_mangle]
pub unsafe extern "C" fn natsConnection_GetClientID(nc: *mut natsConnection, cid: *mut u64) -> natsStatus {
    guard("natsConnection_GetClientID", || {
        check_arg!(!cid.is_null());
        // SAFETY: NULL or a live handle.
        let id = unsafe { conn_ref(nc) }?.client_id()?;
        // SAFETY: checked non-NULL out-pointer.
        unsafe { *cid = id };
        Ok(())
    })
}

/// Drains the connection with a 30 second timeout: see natsConnection_DrainTimeout.
#[no_mangle]
pub unsafe extern "C" fn natsConnection_Drain(nc: *mut natsConnection) -> natsStatus {
    guard("natsConnection_Drain", || {
        // SAFETY: NULL or a live handle.
        unsafe { conn_ref(nc) }?.drain(30_000)
    })
}

/// Drains the connection: unsubscribes everything, delivers what was already received,
/// flushes publishes, then closes. Returns at once; the closed callback signals the end.
/// `timeout` <= 0 means no time limit.
#[no_mangle]
pub unsafe extern "C" fn natsConnection_DrainTimeout(nc: *mut natsConnection, timeout: i64) -> natsStatus {
    guard("natsConnection_DrainTimeout", || {
        // SAFETY: NULL or a live handle.
        unsafe { conn_ref(nc) }?.drain(timeout)
    })
}

/// The client IP address as the server sees it. The caller frees `*ip` with free().
#[no_mangle]
pub unsafe extern "C" fn natsConnection_GetClientIP(nc: *mut natsConnection, ip: *mut *mut c_char) -> natsStatus {
    guard("natsConnection_GetClientIP", || {
        check_arg!(!ip.is_null());
        // SAFETY: NULL or a live handle.
        let s = unsafe { conn_ref(nc) }?.client_ip()?;
        let p = malloc_str(&s)?;
        // SAFETY: checked non-NULL out-pointer.
        unsafe { *ip = p };
        Ok(())
    })
}

/// The connection name from the options (NULL if none); owned by the connection.
#[no_mangle]
pub unsafe extern "C" fn natsConnection_GetName(nc: *mut natsConnection) -> *const c_char {
    guard_or("natsConnection_GetName", std::ptr::null(), || {
        // SAFETY: NULL or a live handle.
        match unsafe { conn_ref(nc) } {
            Ok(c) => c.name_c.as_ref().map_or(std::ptr::null(), |n| n.as_ptr()),
            Err(_) => std::ptr::null(),
        }
    })
}

/// Measures one round trip to the server, in nanoseconds.
#[no_mangle]
pub unsafe extern "C" fn natsConnection_GetRTT(nc: *mut natsConnection, rtt: *mut i64) -> natsStatus {
    guard("natsConnection_GetRTT", || {
        check_arg!(!rtt.is_null());
        // SAFETY: NULL or a live handle.
        let v = unsafe { conn_ref(nc) }?.rtt()?;
        // SAFETY: checked non-NULL out-pointer.
        unsafe { *rtt = v };
        Ok(())
    })
}

/// NATS_OK when the server supports headers, NATS_NO_SERVER_SUPPORT otherwise.
#[no_mangle]
pub unsafe extern "C" fn natsConnection_HasHeaderSupport(nc: *mut natsConnection) -> natsStatus {
    guard("natsConnection_HasHeaderSupport", || {
        // SAFETY: NULL or a live handle.
        unsafe { conn_ref(nc) }?.header_support()
    })
}

/// The local IP address and port of the connection's socket. The caller frees `*ip` with
/// free().
#[no_mangle]
pub unsafe extern "C" fn natsConnection_GetLocalIPAndPort(nc: *mut natsConnection, ip: *mut *mut c_char, port: *mut c_int) -> natsStatus {
    guard("natsConnection_GetLocalIPAndPort", || {
        check_arg!(!ip.is_null() && !port.is_null());
        // SAFETY: NULL or a live handle.
        let a = unsafe { conn_ref(nc) }?.local_addr()?;
        let p = malloc_str(&a.ip().to_string())?;
        // SAFETY: checked non-NULL out-pointers.
        unsafe {
            *ip = p;
            *port = a.port() as c_int;
        }
        Ok(())
    })
}

/// Signs `messageLen` bytes of `message` with the user seed of the connection's credentials
/// (natsOptions_SetUserCredentialsFromFiles/FromMemory) into `sig` (64 bytes).
#[no_mangle]
pub unsafe extern "C" fn natsConnection_Sign(nc: *mut natsConnection, message: *const u8, messageLen: c_int, sig: *mut u8) -> natsStatus {
    guard("natsConnection_Sign", || {
        check_arg!(messageLen >= 0 && !sig.is_null());
        // SAFETY: NULL or a live handle.
        let c = unsafe { conn_ref(nc) }?;
        // SAFETY: `message` has `messageLen` readable bytes when non-NULL.
        let m = unsafe { data_slice(message as *const c_void, messageLen) }?;
        use crate::core::auth::{sign_with_seed_file, Auth, NKeySigner};
        // cnats signs with the user credentials, which natsOptions_SetNKeyFromSeed sets too.
        let s = match &c.opts.auth {
            Auth::Creds(uc) => uc.sign(m)?,
            Auth::NKey { sign: NKeySigner::SeedFile(path), .. } => sign_with_seed_file(path, m)?,
            _ => return Err(Error::with_text(Status::Err, "unable to sign since no user credentials have been set")),
        };
        check_arg!(s.len() == 64);
        // SAFETY: `sig` has room for 64 bytes, as the API declares.
        unsafe { std::ptr::copy_nonoverlapping(s.as_ptr(), sig, 64) };
        Ok(())
    })
}

/// Forces a reconnect: the current socket is dropped and the reconnect logic runs, as if
/// the server had gone away.
#[no_mangle]
pub unsafe extern "C" fn natsConnection_Reconnect(nc: *mut natsConnection) -> natsStatus {
    guard("natsConnection_Reconnect", || {
        // SAFETY: NULL or a live handle.
        unsafe { conn_ref(nc) }?.force_reconnect()
    })
}

/// Closes the connection: buffered data is written, subscriptions end, the closed callback
/// is posted. The handle stays valid until natsConnection_Destroy.
#[no_mangle]
pub unsafe extern "C" fn natsConnection_Close(nc: *mut natsConnection) {
    guard_or("natsConnection_Close", (), || {
        // SAFETY: NULL or a live handle.
        if let Ok(c) = unsafe { conn_ref(nc) } {
            c.close();
        }
    })
}

/// Closes the connection if needed and releases the caller's handle (NULL is ignored).
#[no_mangle]
pub unsafe extern "C" fn natsConnection_Destroy(nc: *mut natsConnection) {
    guard_or("natsConnection_Destroy", (), || {
        if nc.is_null() {
            return;
        }
        // SAFETY: `nc` came from Arc::into_raw in Connect; this releases the user's reference.
        let c = unsafe { Arc::from_raw(nc as *const Conn) };
        c.close();
        drop(c);
    })
}

/// Reports input on the connection's socket (called by an event-loop adapter): the library
/// reads once what arrived and handles it. Does nothing when the connection is not
/// attached to a loop (or NULL).
#[no_mangle]
pub unsafe extern "C" fn natsConnection_ProcessReadEvent(nc: *mut natsConnection) {
    guard_or("natsConnection_ProcessReadEvent", (), || {
        // SAFETY: NULL or a live handle (the loop's own reference keeps it alive until
        // natsConnection_ProcessDetachedEvent).
        if let Ok(c) = unsafe { conn_ref(nc) } {
            c.el_read_event();
        }
    })
}

/// Reports room to write on the connection's socket (called by an event-loop adapter):
/// what is buffered goes out as far as the socket takes it.
#[no_mangle]
pub unsafe extern "C" fn natsConnection_ProcessWriteEvent(nc: *mut natsConnection) {
    guard_or("natsConnection_ProcessWriteEvent", (), || {
        // SAFETY: as in natsConnection_ProcessReadEvent.
        if let Ok(c) = unsafe { conn_ref(nc) } {
            c.el_write_event();
        }
    })
}

/// Closes a socket the library handed to an event loop, once the loop stopped polling it,
/// and sets it to -1. NULL, or a negative socket, is ignored.
#[no_mangle]
pub unsafe extern "C" fn natsConnection_ProcessCloseEvent(socket: *mut natsSock) {
    guard_or("natsConnection_ProcessCloseEvent", (), || {
        if socket.is_null() {
            return;
        }
        // SAFETY: a non-NULL pointer to the caller's socket variable.
        let fd = unsafe { *socket };
        if fd < 0 {
            return;
        }
        // SAFETY: the adapter owns this descriptor now and closes it once.
        unsafe {
            libc::close(fd);
            *socket = -1;
        }
    })
}

/// The event loop is done with a detached connection: the reference it held since the
/// first attach is released (once; later calls, or calls before the detach, do nothing).
#[no_mangle]
pub unsafe extern "C" fn natsConnection_ProcessDetachedEvent(nc: *mut natsConnection) {
    guard_or("natsConnection_ProcessDetachedEvent", (), || {
        // SAFETY: as in natsConnection_ProcessReadEvent.
        let Ok(c) = (unsafe { conn_ref(nc) }) else { return };
        // SAFETY: `c` is not used after this call.
        unsafe { c.el_release() };
    })
}

fn publish_common(
    func: &'static str,
    nc: *mut natsConnection,
    subj: *const c_char,
    reply: *const c_char,
    data: *const c_void,
    len: c_int,
    reply_required: bool,
) -> natsStatus {
    guard(func, || {
        // SAFETY: NULL or a live handle.
        let c = unsafe { conn_ref(nc) }?;
        if subj.is_null() {
            return Err(Error::new(Status::InvalidSubject));
        }
        // The subject is read and checked in one pass (refused after the other arguments, as
        // before).
        // SAFETY: a non-NULL `subj` is a NUL-terminated string.
        let s = unsafe { PublishSubject::from_c(subj.cast()) };
        // SAFETY: NULL or a NUL-terminated string.
        let r = unsafe { opt_bytes(reply) };
        if reply_required && r.is_none_or(|r| r.is_empty()) {
            return Err(Error::new(Status::InvalidArg));
        }
        // SAFETY: `data` has `len` readable bytes when non-NULL.
        let d = unsafe { data_slice(data, len) }?;
        let s = s.ok_or_else(|| Error::new(Status::InvalidSubject))?;
        c.publish_checked(s, r.filter(|r| !r.is_empty()), d)
    })
}

/// Publishes `dataLen` bytes of `data` (NULL allowed with 0) on `subj`.
#[no_mangle]
pub unsafe extern "C" fn natsConnection_Publish(nc: *mut natsConnection, subj: *const c_char, data: *const c_void, dataLen: c_int) -> natsStatus {
    publish_common("natsConnection_Publish", nc, subj, std::ptr::null(), data, dataLen, false)
}

/// Publishes a NUL-terminated string (without its NUL) on `subj`.
#[no_mangle]
pub unsafe extern "C" fn natsConnection_PublishString(nc: *mut natsConnection, subj: *const c_char, str: *const c_char) -> natsStatus {
    // SAFETY: NULL or a NUL-terminated string.
    let len = if str.is_null() { 0 } else { unsafe { libc::strlen(str) }.min(c_int::MAX as usize) as c_int };
    publish_common("natsConnection_PublishString", nc, subj, std::ptr::null(), str as *const c_void, len, false)
}

fn publish_msg_common(func: &'static str, nc: *mut natsConnection, msg: *mut natsMsg) -> natsStatus {
    guard(func, || {
        // SAFETY: NULL or a live handle.
        let c = unsafe { conn_ref(nc) }?;
        // SAFETY: NULL or a live message handle.
        let m = unsafe { msg_mut(msg) }?;
        c.publish_msg(m)
    })
}

/// Publishes a message object, with its reply subject and headers. The caller keeps `msg`.
#[no_mangle]
pub unsafe extern "C" fn natsConnection_PublishMsg(nc: *mut natsConnection, msg: *mut natsMsg) -> natsStatus {
    publish_msg_common("natsConnection_PublishMsg", nc, msg)
}

/// Publishes with a reply subject (which must not be empty).
#[no_mangle]
pub unsafe extern "C" fn natsConnection_PublishRequest(
    nc: *mut natsConnection,
    subj: *const c_char,
    reply: *const c_char,
    data: *const c_void,
    dataLen: c_int,
) -> natsStatus {
    publish_common("natsConnection_PublishRequest", nc, subj, reply, data, dataLen, true)
}

/// Publishes a string with a reply subject (which must not be empty).
#[no_mangle]
pub unsafe extern "C" fn natsConnection_PublishRequestString(
    nc: *mut natsConnection,
    subj: *const c_char,
    reply: *const c_char,
    str: *const c_char,
) -> natsStatus {
    // SAFETY: NULL or a NUL-terminated string.
    let len = if str.is_null() { 0 } else { unsafe { libc::strlen(str) }.min(c_int::MAX as usize) as c_int };
    publish_common("natsConnection_PublishRequestString", nc, subj, reply, str as *const c_void, len, true)
}

/// Same as natsConnection_Publish: this library writes as soon as its writer is free.
#[no_mangle]
pub unsafe extern "C" fn natsConnection_Send(nc: *mut natsConnection, subj: *const c_char, data: *const c_void, dataLen: c_int) -> natsStatus {
    publish_common("natsConnection_Send", nc, subj, std::ptr::null(), data, dataLen, false)
}

/// Same as natsConnection_PublishMsg.
#[no_mangle]
pub unsafe extern "C" fn natsConnection_SendMsg(nc: *mut natsConnection, msg: *mut natsMsg) -> natsStatus {
    publish_msg_common("natsConnection_SendMsg", nc, msg)
}

/// Same as natsConnection_PublishRequest.
#[no_mangle]
pub unsafe extern "C" fn natsConnection_SendRequest(
    nc: *mut natsConnection,
    subj: *const c_char,
    reply: *const c_char,
    data: *const c_void,
    dataLen: c_int,
) -> natsStatus {
    publish_common("natsConnection_SendRequest", nc, subj, reply, data, dataLen, true)
}

fn request_common(
    func: &'static str,
    reply_msg: *mut *mut natsMsg,
    nc: *mut natsConnection,
    subj: *const c_char,
    data: *const c_void,
    len: c_int,
    timeout: i64,
) -> natsStatus {
    guard(func, || {
        out_ptr(reply_msg)?;
        // SAFETY: NULL or a live handle.
        let c = unsafe { conn_ref(nc) }?;
        // SAFETY: NULL or a NUL-terminated string.
        let s = unsafe { opt_bytes(subj) }.ok_or_else(|| Error::new(Status::InvalidSubject))?;
        // SAFETY: `data` has `len` readable bytes when non-NULL.
        let d = unsafe { data_slice(data, len) }?;
        let m = c.request(s, None, d, timeout)?;
        // SAFETY: checked non-NULL out-pointer.
        unsafe { *reply_msg = msg_into_raw(m) };
        Ok(())
    })
}

/// Sends a request and waits up to `timeout` ms for the first reply, which the caller owns.
/// NATS_NO_RESPONDERS when nobody is subscribed, NATS_TIMEOUT when no reply came in time.
#[no_mangle]
pub unsafe extern "C" fn natsConnection_Request(
    replyMsg: *mut *mut natsMsg,
    nc: *mut natsConnection,
    subj: *const c_char,
    data: *const c_void,
    dataLen: c_int,
    timeout: i64,
) -> natsStatus {
    request_common("natsConnection_Request", replyMsg, nc, subj, data, dataLen, timeout)
}

/// natsConnection_Request with a NUL-terminated string as data.
#[no_mangle]
pub unsafe extern "C" fn natsConnection_RequestString(
    replyMsg: *mut *mut natsMsg,
    nc: *mut natsConnection,
    subj: *const c_char,
    str: *const c_char,
    timeout: i64,
) -> natsStatus {
    // SAFETY: NULL or a NUL-terminated string.
    let len = if str.is_null() { 0 } else { unsafe { libc::strlen(str) }.min(c_int::MAX as usize) as c_int };
    request_common("natsConnection_RequestString", replyMsg, nc, subj, str as *const c_void, len, timeout)
}

/// natsConnection_Request with a message object (its subject, headers and data; its reply
/// subject is ignored). The caller keeps `requestMsg`.
#[no_mangle]
pub unsafe extern "C" fn natsConnection_RequestMsg(
    replyMsg: *mut *mut natsMsg,
    nc: *mut natsConnection,
    requestMsg: *mut natsMsg,
    timeout: i64,
) -> natsStatus {
    guard("natsConnection_RequestMsg", || {
        out_ptr(replyMsg)?;
        // SAFETY: NULL or a live handle.
        let c = unsafe { conn_ref(nc) }?;
        // SAFETY: NULL or a live message handle.
        let m = unsafe { msg_mut(requestMsg) }?;
        let hdrs = m.encoded_headers();
        let r = c.request(m.subject(), hdrs.as_deref(), m.data(), timeout)?;
        // SAFETY: checked non-NULL out-pointer.
        unsafe { *replyMsg = msg_into_raw(r) };
        Ok(())
    })
}

fn msg_handler(cb: natsMsgHandler, closure: *mut c_void) -> Option<MsgCallback> {
    cb.map(|f| {
        let cb = CCallback { f, closure };
        let h: MsgCallback = Arc::new(move |c, s, m: Option<Box<Msg>>| {
            let mp = m.map_or(std::ptr::null_mut(), msg_into_raw);
            // SAFETY: the user's callback, its closure, live handles, and a message the
            // callback now owns.
            unsafe { (cb.func())(conn_ptr(c), sub_ptr(s), mp, cb.closure()) }
        });
        h
    })
}

fn subscribe_common(
    func: &'static str,
    sub: *mut *mut natsSubscription,
    nc: *mut natsConnection,
    subject: *const c_char,
    queue: Option<*const c_char>,
    timeout: i64,
    cb: Option<(natsMsgHandler, *mut c_void)>,
) -> natsStatus {
    guard(func, || {
        // cnats checks the callback, the queue name's presence and the timeout before
        // anything else.
        if let Some((f, _)) = cb {
            check_arg!(f.is_some());
        }
        if let Some(q) = queue {
            // SAFETY: NULL or a NUL-terminated string.
            check_arg!(!q.is_null() && unsafe { *q } != 0);
        }
        check_arg!(timeout >= 0);
        out_ptr(sub)?;
        // SAFETY: NULL or a live handle.
        let c = unsafe { conn_ref(nc) }?;
        // SAFETY: NULL or a NUL-terminated string.
        let s = unsafe { super::opt_str(subject) }
            .map_err(|_| Error::new(Status::InvalidSubject))?
            .ok_or_else(|| Error::new(Status::InvalidSubject))?;
        let q = match queue {
            None => None,
            // SAFETY: NULL or a NUL-terminated string.
            Some(p) => Some(
                unsafe { super::opt_str(p) }
                    .map_err(|_| Error::new(Status::InvalidQueueName))?
                    .ok_or_else(|| Error::new(Status::InvalidQueueName))?,
            ),
        };
        let handler = cb.and_then(|(f, closure)| msg_handler(f, closure));
        let s = c.subscribe(s, q, handler, timeout)?;
        // SAFETY: checked non-NULL out-pointer.
        unsafe { *sub = sub_into_raw(s) };
        Ok(())
    })
}

/// Subscribes with a callback that receives each message on a library thread.
#[no_mangle]
pub unsafe extern "C" fn natsConnection_Subscribe(
    sub: *mut *mut natsSubscription,
    nc: *mut natsConnection,
    subject: *const c_char,
    cb: natsMsgHandler,
    cbClosure: *mut c_void,
) -> natsStatus {
    subscribe_common("natsConnection_Subscribe", sub, nc, subject, None, 0, Some((cb, cbClosure)))
}

/// Like natsConnection_Subscribe; the callback also runs with a NULL message whenever no
/// message arrived for `timeout` ms.
#[no_mangle]
pub unsafe extern "C" fn natsConnection_SubscribeTimeout(
    sub: *mut *mut natsSubscription,
    nc: *mut natsConnection,
    subject: *const c_char,
    timeout: i64,
    cb: natsMsgHandler,
    cbClosure: *mut c_void,
) -> natsStatus {
    if timeout <= 0 {
        return guard("natsConnection_SubscribeTimeout", || Err(Error::new(Status::InvalidArg)));
    }
    subscribe_common("natsConnection_SubscribeTimeout", sub, nc, subject, None, timeout, Some((cb, cbClosure)))
}

/// Subscribes for use with natsSubscription_NextMsg.
#[no_mangle]
pub unsafe extern "C" fn natsConnection_SubscribeSync(sub: *mut *mut natsSubscription, nc: *mut natsConnection, subject: *const c_char) -> natsStatus {
    subscribe_common("natsConnection_SubscribeSync", sub, nc, subject, None, 0, None)
}

/// Joins queue group `queueGroup`: each message goes to one member of the group.
#[no_mangle]
pub unsafe extern "C" fn natsConnection_QueueSubscribe(
    sub: *mut *mut natsSubscription,
    nc: *mut natsConnection,
    subject: *const c_char,
    queueGroup: *const c_char,
    cb: natsMsgHandler,
    cbClosure: *mut c_void,
) -> natsStatus {
    subscribe_common("natsConnection_QueueSubscribe", sub, nc, subject, Some(queueGroup), 0, Some((cb, cbClosure)))
}

/// natsConnection_QueueSubscribe with an idle timeout (see natsConnection_SubscribeTimeout).
#[no_mangle]
pub unsafe extern "C" fn natsConnection_QueueSubscribeTimeout(
    sub: *mut *mut natsSubscription,
    nc: *mut natsConnection,
    subject: *const c_char,
    queueGroup: *const c_char,
    timeout: i64,
    cb: natsMsgHandler,
    cbClosure: *mut c_void,
) -> natsStatus {
    if timeout <= 0 {
        return guard("natsConnection_QueueSubscribeTimeout", || Err(Error::new(Status::InvalidArg)));
    }
    subscribe_common("natsConnection_QueueSubscribeTimeout", sub, nc, subject, Some(queueGroup), timeout, Some((cb, cbClosure)))
}

/// Synchronous queue subscription.
#[no_mangle]
pub unsafe extern "C" fn natsConnection_QueueSubscribeSync(
    sub: *mut *mut natsSubscription,
    nc: *mut natsConnection,
    subject: *const c_char,
    queueGroup: *const c_char,
) -> natsStatus {
    subscribe_common("natsConnection_QueueSubscribeSync", sub, nc, subject, Some(queueGroup), 0, None)
}
