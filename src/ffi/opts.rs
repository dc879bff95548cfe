//! natsOptions: created, set and destroyed by the user; a connection takes a copy.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::core::lock::Mutex;

use super::conn::conn_ptr;
use super::sub::sub_ptr;
use super::types::*;
use super::{check_arg, guard, guard_or, opt_str};
use crate::core::options::{has_tls_scheme, Options};
use crate::core::status::{Error, Status};
use crate::core::subject;
use crate::core::tls::TlsOptions;

/// The object behind a `natsOptions*`.
pub(crate) struct OptionsHandle {
    pub inner: Mutex<Options>,
}

/// A C function pointer with the user's closure, called back on library threads.
#[derive(Clone, Copy)]
pub(crate) struct CCallback<F: Copy> {
    pub f: F,
    pub closure: *mut c_void,
}
// SAFETY: cnats hands the user's closure back on library threads; the user is responsible
// for it being usable there. We never dereference it.
unsafe impl<F: Copy> Send for CCallback<F> {}
// SAFETY: as above; the callback struct itself is immutable.
unsafe impl<F: Copy> Sync for CCallback<F> {}

impl<F: Copy> CCallback<F> {
    /// The function (a method, so closures capture the whole Send + Sync struct).
    pub fn func(&self) -> F {
        self.f
    }
    pub fn closure(&self) -> *mut c_void {
        self.closure
    }
}

/// Runs `f` on the options behind `opts` when `ok` holds, else NATS_INVALID_ARG.
fn with_opts(
    func: &'static str,
    opts: *mut natsOptions,
    ok: bool,
    f: impl FnOnce(&mut Options) -> Result<(), Error>,
) -> natsStatus {
    guard(func, || {
        check_arg!(!opts.is_null() && ok);
        // SAFETY: a natsOptions pointer is a Box<OptionsHandle> from natsOptions_Create.
        let h = unsafe { &*(opts as *const OptionsHandle) };
        let mut o = h.inner.lock();
        f(&mut o)
    })
}

/// A copy of the options behind a handle.
///
/// # Safety
/// `opts` is NULL or a live handle from natsOptions_Create.
pub(crate) unsafe fn snapshot(opts: *mut natsOptions) -> Option<Options> {
    if opts.is_null() {
        return None;
    }
    // SAFETY: per the contract above.
    let h = unsafe { &*(opts as *const OptionsHandle) };
    let o = h.inner.lock().clone();
    Some(o)
}

/// Options with cnats' defaults and the library-wide settings of nats_OpenWithConfig.
pub(crate) fn default_options() -> Options {
    Options {
        global_delivery: super::nats::DEFAULT_TO_POOL.load(Ordering::Relaxed),
        write_deadline_ms: super::nats::DEFAULT_WRITE_DEADLINE.load(Ordering::Relaxed),
        ..Options::default()
    }
}

fn trimmed(p: *const c_char) -> Result<Option<String>, Error> {
    // SAFETY: callers pass NULL or a NUL-terminated string.
    Ok(unsafe { opt_str(p) }?.map(|s| s.trim().to_string()))
}

fn set_secure_from_urls(o: &mut Options) {
    if o.secure_explicitly_set {
        return;
    }
    if o.url.as_deref().is_some_and(has_tls_scheme) || o.servers.iter().any(|s| has_tls_scheme(s)) {
        o.secure = true;
        if o.tls.is_none() {
            o.tls = Some(Arc::new(TlsOptions::new()));
        }
    }
}

/// Creates options with cnats' defaults; release them with natsOptions_Destroy.
#[no_mangle]
pub unsafe extern "C" fn natsOptions_Create(newOpts: *mut *mut natsOptions) -> natsStatus {
    guard("natsOptions_Create", || {
        check_arg!(!newOpts.is_null());
        let h = Box::new(OptionsHandle { inner: Mutex::new(default_options()) });
        // SAFETY: checked non-NULL out-pointer.
        unsafe { *newOpts = Box::into_raw(h) as *mut natsOptions };
        Ok(())
    })
}

/// Releases options (NULL is ignored). Connections made with them keep their own copy.
#[no_mangle]
pub unsafe extern "C" fn natsOptions_Destroy(opts: *mut natsOptions) {
    guard_or("natsOptions_Destroy", (), || {
        if !opts.is_null() {
            // SAFETY: created by natsOptions_Create with Box::into_raw.
            drop(unsafe { Box::from_raw(opts as *mut OptionsHandle) });
        }
    })
}

/// Sets the server URL, tried first (NULL clears it). Several URLs may be given separated
/// by commas when used with natsConnection_ConnectTo; here one URL is expected.
#[no_mangle]
pub unsafe extern "C" fn natsOptions_SetURL(opts: *mut natsOptions, url: *const c_char) -> natsStatus {
    with_opts("natsOptions_SetURL", opts, true, |o| {
        o.url = trimmed(url)?.filter(|s| !s.is_empty());
        set_secure_from_urls(o);
        Ok(())
    })
}

/// Sets the list of servers (copied). NULL with a count of 0 clears it.
#[no_mangle]
pub unsafe extern "C" fn natsOptions_SetServers(opts: *mut natsOptions, servers: *mut *const c_char, serversCount: c_int) -> natsStatus {
    let ok = !((!servers.is_null() && serversCount <= 0) || (servers.is_null() && serversCount != 0));
    with_opts("natsOptions_SetServers", opts, ok, |o| {
        let mut v = Vec::new();
        for i in 0..serversCount.max(0) as usize {
            // SAFETY: `servers` holds `serversCount` entries.
            let p = unsafe { *servers.add(i) };
            check_arg!(!p.is_null());
            v.push(trimmed(p)?.unwrap_or_default());
        }
        o.servers = v;
        set_secure_from_urls(o);
        Ok(())
    })
}

/// Sets user name and password sent when the URL carries none (NULL clears).
#[no_mangle]
pub unsafe extern "C" fn natsOptions_SetUserInfo(opts: *mut natsOptions, user: *const c_char, password: *const c_char) -> natsStatus {
    with_opts("natsOptions_SetUserInfo", opts, true, |o| {
        // SAFETY: NULL or NUL-terminated strings from the caller.
        o.user = unsafe { opt_str(user) }?.map(str::to_string);
        // SAFETY: as above.
        o.password = unsafe { opt_str(password) }?.map(str::to_string);
        Ok(())
    })
}

/// Sets the authentication token (NULL clears). Not allowed together with a token handler.
#[no_mangle]
pub unsafe extern "C" fn natsOptions_SetToken(opts: *mut natsOptions, token: *const c_char) -> natsStatus {
    with_opts("natsOptions_SetToken", opts, true, |o| {
        // SAFETY: NULL or a NUL-terminated string from the caller.
        let t = unsafe { opt_str(token) }?.map(str::to_string);
        if t.is_some() && o.token_cb.is_some() {
            return Err(Error::with_text(Status::IllegalState, "Cannot set a token if a token handler has already been set"));
        }
        o.token = t;
        Ok(())
    })
}

/// Sets a callback returning the token at each connect (NULL clears). Not allowed together
/// with a token.
#[no_mangle]
pub unsafe extern "C" fn natsOptions_SetTokenHandler(opts: *mut natsOptions, tokenCb: natsTokenHandler, closure: *mut c_void) -> natsStatus {
    with_opts("natsOptions_SetTokenHandler", opts, true, |o| {
        match tokenCb {
            None => o.token_cb = None,
            Some(f) => {
                if o.token.is_some() {
                    return Err(Error::with_text(Status::IllegalState, "Cannot set a token handler if a token has already been set"));
                }
                let cb = CCallback { f, closure };
                o.token_cb = Some(Arc::new(move || {
                    // SAFETY: the user's callback with the user's closure; the result is NULL or a string we copy at once.
                    let p = unsafe { (cb.func())(cb.closure()) };
                    // SAFETY: as above.
                    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
                }));
            }
        }
        Ok(())
    })
}

/// Keeps the server list in the given order instead of shuffling it.
#[no_mangle]
pub unsafe extern "C" fn natsOptions_SetNoRandomize(opts: *mut natsOptions, noRandomize: bool) -> natsStatus {
    with_opts("natsOptions_SetNoRandomize", opts, true, |o| {
        o.no_randomize = noRandomize;
        Ok(())
    })
}

/// Sets the connect timeout in milliseconds (default 2000). Negative is invalid.
#[no_mangle]
pub unsafe extern "C" fn natsOptions_SetTimeout(opts: *mut natsOptions, timeout: i64) -> natsStatus {
    with_opts("natsOptions_SetTimeout", opts, timeout >= 0, |o| {
        o.timeout_ms = timeout;
        Ok(())
    })
}

/// Sets the connection name sent to the server (NULL clears).
#[no_mangle]
pub unsafe extern "C" fn natsOptions_SetName(opts: *mut natsOptions, name: *const c_char) -> natsStatus {
    with_opts("natsOptions_SetName", opts, true, |o| {
        // SAFETY: NULL or a NUL-terminated string from the caller.
        o.name = unsafe { opt_str(name) }?.map(str::to_string);
        Ok(())
    })
}

/// Asks the server to acknowledge each protocol message with +OK.
#[no_mangle]
pub unsafe extern "C" fn natsOptions_SetVerbose(opts: *mut natsOptions, verbose: bool) -> natsStatus {
    with_opts("natsOptions_SetVerbose", opts, true, |o| {
        o.verbose = verbose;
        Ok(())
    })
}

/// Asks the server for strict protocol checking.
#[no_mangle]
pub unsafe extern "C" fn natsOptions_SetPedantic(opts: *mut natsOptions, pedantic: bool) -> natsStatus {
    with_opts("natsOptions_SetPedantic", opts, true, |o| {
        o.pedantic = pedantic;
        Ok(())
    })
}

/// Sets the interval between client PINGs in milliseconds (default 2 minutes; <= 0 disables).
#[no_mangle]
pub unsafe extern "C" fn natsOptions_SetPingInterval(opts: *mut natsOptions, interval: i64) -> natsStatus {
    with_opts("natsOptions_SetPingInterval", opts, true, |o| {
        o.ping_interval_ms = interval;
        Ok(())
    })
}

/// Sets how many PINGs may go unanswered before the connection is stale (default 2).
#[no_mangle]
pub unsafe extern "C" fn natsOptions_SetMaxPingsOut(opts: *mut natsOptions, maxPingsOut: c_int) -> natsStatus {
    with_opts("natsOptions_SetMaxPingsOut", opts, true, |o| {
        o.max_pings_out = maxPingsOut;
        Ok(())
    })
}

/// Keeps reconnecting even after the same authentication error twice in a row.
#[no_mangle]
pub unsafe extern "C" fn natsOptions_SetIgnoreAuthErrorAbort(opts: *mut natsOptions, ignore: bool) -> natsStatus {
    with_opts("natsOptions_SetIgnoreAuthErrorAbort", opts, true, |o| {
        o.ignore_auth_error_abort = ignore;
        Ok(())
    })
}

/// Sets the socket read buffer size in bytes (default 32 KB; 0 means default). Negative is
/// invalid.
#[no_mangle]
pub unsafe extern "C" fn natsOptions_SetIOBufSize(opts: *mut natsOptions, ioBufSize: c_int) -> natsStatus {
    with_opts("natsOptions_SetIOBufSize", opts, ioBufSize >= 0, |o| {
        o.io_buf_size = if ioBufSize == 0 { crate::core::options::DEFAULT_IO_BUF_SIZE } else { ioBufSize };
        Ok(())
    })
}

/// Allows or forbids reconnecting after a disconnect (default allowed).
#[no_mangle]
pub unsafe extern "C" fn natsOptions_SetAllowReconnect(opts: *mut natsOptions, allow: bool) -> natsStatus {
    with_opts("natsOptions_SetAllowReconnect", opts, true, |o| {
        o.allow_reconnect = allow;
        Ok(())
    })
}

/// Sets the reconnect attempts per server (default 60; negative: no limit).
#[no_mangle]
pub unsafe extern "C" fn natsOptions_SetMaxReconnect(opts: *mut natsOptions, maxReconnect: c_int) -> natsStatus {
    with_opts("natsOptions_SetMaxReconnect", opts, true, |o| {
        o.max_reconnect = maxReconnect;
        Ok(())
    })
}

/// Sets the wait between attempts to the same server in milliseconds (default 2000).
#[no_mangle]
pub unsafe extern "C" fn natsOptions_SetReconnectWait(opts: *mut natsOptions, reconnectWait: i64) -> natsStatus {
    with_opts("natsOptions_SetReconnectWait", opts, reconnectWait >= 0, |o| {
        o.reconnect_wait_ms = reconnectWait;
        Ok(())
    })
}

/// Sets the random extra wait for reconnects, for plain and TLS connections (ms).
#[no_mangle]
pub unsafe extern "C" fn natsOptions_SetReconnectJitter(opts: *mut natsOptions, jitter: i64, jitterTLS: i64) -> natsStatus {
    with_opts("natsOptions_SetReconnectJitter", opts, jitter >= 0 && jitterTLS >= 0, |o| {
        o.reconnect_jitter_ms = jitter;
        o.reconnect_jitter_tls_ms = jitterTLS;
        Ok(())
    })
}

/// Sets a callback that decides the wait after each pass over the server list.
#[no_mangle]
pub unsafe extern "C" fn natsOptions_SetCustomReconnectDelay(
    opts: *mut natsOptions,
    cb: natsCustomReconnectDelayHandler,
    closure: *mut c_void,
) -> natsStatus {
    with_opts("natsOptions_SetCustomReconnectDelay", opts, true, |o| {
        o.reconnect_delay_cb = cb.map(|f| {
            let cb = CCallback { f, closure };
            let h: crate::core::options::ReconnectDelayCallback =
                // SAFETY: the user's callback with the user's closure and the connection handle.
                Arc::new(move |c, attempts| unsafe { (cb.func())(conn_ptr(c), attempts, cb.closure()) });
            h
        });
        Ok(())
    })
}

/// Sets how many bytes may be buffered while reconnecting (default 8 MB). Negative is
/// invalid.
#[no_mangle]
pub unsafe extern "C" fn natsOptions_SetReconnectBufSize(opts: *mut natsOptions, reconnectBufSize: c_int) -> natsStatus {
    with_opts("natsOptions_SetReconnectBufSize", opts, reconnectBufSize >= 0, |o| {
        o.reconnect_buf_size =
            if reconnectBufSize == 0 { crate::core::options::DEFAULT_RECONNECT_BUF_SIZE } else { reconnectBufSize };
        Ok(())
    })
}

/// Sets the default limit of pending messages per subscription (default 65536; must be > 0).
#[no_mangle]
pub unsafe extern "C" fn natsOptions_SetMaxPendingMsgs(opts: *mut natsOptions, maxPending: c_int) -> natsStatus {
    with_opts("natsOptions_SetMaxPendingMsgs", opts, maxPending > 0, |o| {
        o.max_pending_msgs = maxPending;
        Ok(())
    })
}

/// Sets the default limit of pending bytes per subscription (must be > 0; when not set, a
/// subscription allows 1 KB per allowed pending message, 64 MB by default).
#[no_mangle]
pub unsafe extern "C" fn natsOptions_SetMaxPendingBytes(opts: *mut natsOptions, maxPending: i64) -> natsStatus {
    with_opts("natsOptions_SetMaxPendingBytes", opts, maxPending > 0, |o| {
        o.max_pending_bytes = maxPending;
        Ok(())
    })
}

fn conn_handler(f: natsConnectionHandler, closure: *mut c_void) -> Option<crate::core::options::ConnCallback> {
    f.map(|f| {
        let cb = CCallback { f, closure };
        let h: crate::core::options::ConnCallback =
            // SAFETY: the user's callback with the user's closure and the connection handle.
            Arc::new(move |c| unsafe { (cb.func())(conn_ptr(c), cb.closure()) });
        h
    })
}

/// Sets the asynchronous error callback; NULL restores the default, which prints to stderr.
#[no_mangle]
pub unsafe extern "C" fn natsOptions_SetErrorHandler(opts: *mut natsOptions, errHandler: natsErrHandler, closure: *mut c_void) -> natsStatus {
    with_opts("natsOptions_SetErrorHandler", opts, true, |o| {
        o.err_handler = errHandler.map(|f| {
            let cb = CCallback { f, closure };
            let h: crate::core::options::ErrCallback = Arc::new(move |c, s, st| {
                let sp = s.map_or(std::ptr::null_mut(), sub_ptr);
                // SAFETY: the user's callback with the user's closure and live handles.
                unsafe { (cb.func())(conn_ptr(c), sp, st as natsStatus, cb.closure()) }
            });
            h
        });
        Ok(())
    })
}

/// Sets the callback for when the connection is closed: its last event, delivered once.
#[no_mangle]
pub unsafe extern "C" fn natsOptions_SetClosedCB(opts: *mut natsOptions, closedCb: natsConnectionHandler, closure: *mut c_void) -> natsStatus {
    with_opts("natsOptions_SetClosedCB", opts, true, |o| {
        o.closed_cb = conn_handler(closedCb, closure);
        Ok(())
    })
}

/// Sets the callback for when the connection loses its server.
#[no_mangle]
pub unsafe extern "C" fn natsOptions_SetDisconnectedCB(
    opts: *mut natsOptions,
    disconnectedCb: natsConnectionHandler,
    closure: *mut c_void,
) -> natsStatus {
    with_opts("natsOptions_SetDisconnectedCB", opts, true, |o| {
        o.disconnected_cb = conn_handler(disconnectedCb, closure);
        Ok(())
    })
}

/// Sets the callback for when the connection has reconnected.
#[no_mangle]
pub unsafe extern "C" fn natsOptions_SetReconnectedCB(
    opts: *mut natsOptions,
    reconnectedCb: natsConnectionHandler,
    closure: *mut c_void,
) -> natsStatus {
    with_opts("natsOptions_SetReconnectedCB", opts, true, |o| {
        o.reconnected_cb = conn_handler(reconnectedCb, closure);
        Ok(())
    })
}

/// Sets the callback for when servers learned from the cluster are added to the pool.
#[no_mangle]
pub unsafe extern "C" fn natsOptions_SetDiscoveredServersCB(
    opts: *mut natsOptions,
    discoveredServersCb: natsConnectionHandler,
    closure: *mut c_void,
) -> natsStatus {
    with_opts("natsOptions_SetDiscoveredServersCB", opts, true, |o| {
        o.discovered_servers_cb = conn_handler(discoveredServersCb, closure);
        Ok(())
    })
}

/// Ignores servers advertised by the cluster.
#[no_mangle]
pub unsafe extern "C" fn natsOptions_SetIgnoreDiscoveredServers(opts: *mut natsOptions, ignore: bool) -> natsStatus {
    with_opts("natsOptions_SetIgnoreDiscoveredServers", opts, true, |o| {
        o.ignore_discovered_servers = ignore;
        Ok(())
    })
}

/// Sets the callback for when the server enters lame duck mode.
#[no_mangle]
pub unsafe extern "C" fn natsOptions_SetLameDuckModeCB(opts: *mut natsOptions, lameDuckCb: natsConnectionHandler, closure: *mut c_void) -> natsStatus {
    with_opts("natsOptions_SetLameDuckModeCB", opts, true, |o| {
        o.lame_duck_cb = conn_handler(lameDuckCb, closure);
        Ok(())
    })
}

/// Delivers asynchronous subscriptions' messages from the shared thread pool instead of a
/// thread per subscription.
#[no_mangle]
pub unsafe extern "C" fn natsOptions_UseGlobalMessageDelivery(opts: *mut natsOptions, global: bool) -> natsStatus {
    with_opts("natsOptions_UseGlobalMessageDelivery", opts, true, |o| {
        o.global_delivery = global;
        Ok(())
    })
}

/// Sets the address family order for host name resolution: 0 (any), 4, 6, 46 or 64.
#[no_mangle]
pub unsafe extern "C" fn natsOptions_IPResolutionOrder(opts: *mut natsOptions, order: c_int) -> natsStatus {
    with_opts("natsOptions_IPResolutionOrder", opts, matches!(order, 0 | 4 | 6 | 46 | 64), |o| {
        o.ip_resolution_order = order;
        Ok(())
    })
}

/// Sends each publish right away. This library always writes as soon as its writer is free,
/// so the setting is kept for compatibility and changes nothing.
#[no_mangle]
pub unsafe extern "C" fn natsOptions_SetSendAsap(opts: *mut natsOptions, sendAsap: bool) -> natsStatus {
    with_opts("natsOptions_SetSendAsap", opts, true, |o| {
        o.send_asap = sendAsap;
        Ok(())
    })
}

/// Uses a new inbox subscription per request instead of the shared reply subscription.
#[no_mangle]
pub unsafe extern "C" fn natsOptions_UseOldRequestStyle(opts: *mut natsOptions, useOldStyle: bool) -> natsStatus {
    with_opts("natsOptions_UseOldRequestStyle", opts, true, |o| {
        o.old_request_style = useOldStyle;
        Ok(())
    })
}

/// Fails pending requests as soon as the connection is lost.
#[no_mangle]
pub unsafe extern "C" fn natsOptions_SetFailRequestsOnDisconnect(opts: *mut natsOptions, failRequests: bool) -> natsStatus {
    with_opts("natsOptions_SetFailRequestsOnDisconnect", opts, true, |o| {
        o.fail_requests_on_disconnect = failRequests;
        Ok(())
    })
}

/// Asks the server not to deliver this connection's own publishes to its subscriptions.
#[no_mangle]
pub unsafe extern "C" fn natsOptions_SetNoEcho(opts: *mut natsOptions, noEcho: bool) -> natsStatus {
    with_opts("natsOptions_SetNoEcho", opts, true, |o| {
        o.no_echo = noEcho;
        Ok(())
    })
}

/// Sets the write deadline in milliseconds: a socket write that takes longer fails the
/// connection (0: none). Negative is invalid.
#[no_mangle]
pub unsafe extern "C" fn natsOptions_SetWriteDeadline(opts: *mut natsOptions, deadline: i64) -> natsStatus {
    with_opts("natsOptions_SetWriteDeadline", opts, deadline >= 0, |o| {
        o.write_deadline_ms = deadline;
        Ok(())
    })
}

/// Disables the server's no-responders notice (requests then time out instead of failing
/// fast with NATS_NO_RESPONDERS).
#[no_mangle]
pub unsafe extern "C" fn natsOptions_DisableNoResponders(opts: *mut natsOptions, disabled: bool) -> natsStatus {
    with_opts("natsOptions_DisableNoResponders", opts, true, |o| {
        o.disable_no_responders = disabled;
        Ok(())
    })
}

/// Sets the prefix of inboxes used for requests (default "_INBOX"); NULL or "" restores it.
/// The prefix must be a valid subject without wildcards.
#[no_mangle]
pub unsafe extern "C" fn natsOptions_SetCustomInboxPrefix(opts: *mut natsOptions, inboxPrefix: *const c_char) -> natsStatus {
    with_opts("natsOptions_SetCustomInboxPrefix", opts, true, |o| {
        // SAFETY: NULL or a NUL-terminated string from the caller.
        match unsafe { opt_str(inboxPrefix) }? {
            None | Some("") => o.inbox_prefix = crate::core::options::DEFAULT_INBOX_PREFIX.to_string(),
            Some(p) => {
                if !subject::is_subject_valid(p.as_bytes(), false) {
                    return Err(Error::with_text(Status::InvalidArg, format!("Invalid inbox prefix '{p}'")));
                }
                o.inbox_prefix = format!("{p}.");
            }
        }
        Ok(())
    })
}

/// Keeps trying to connect when the first attempt fails. Without a connected callback,
/// natsConnection_Connect blocks until it connects or the reconnect attempts run out; with
/// one, it returns NATS_NOT_YET_CONNECTED at once and the callback reports the connection.
#[no_mangle]
pub unsafe extern "C" fn natsOptions_SetRetryOnFailedConnect(
    opts: *mut natsOptions,
    retry: bool,
    connectedCb: natsConnectionHandler,
    closure: *mut c_void,
) -> natsStatus {
    with_opts("natsOptions_SetRetryOnFailedConnect", opts, true, |o| {
        o.retry_on_failed_connect = retry;
        o.connected_cb = if retry { conn_handler(connectedCb, closure) } else { None };
        Ok(())
    })
}

/// Wraps a C signature handler: it signs the nonce into a malloc'ed buffer that the library
/// frees; a failure may come with a malloc'ed error text.
fn sign_callback(f: natsSignatureHandler, closure: *mut c_void) -> Option<crate::core::auth::SignCallback> {
    let f = f?;
    let cb = CCallback { f, closure };
    let h: crate::core::auth::SignCallback = Arc::new(move |nonce: &str| {
        let nonce_c = std::ffi::CString::new(nonce).unwrap_or_default();
        let mut err: *mut c_char = std::ptr::null_mut();
        let mut sig: *mut u8 = std::ptr::null_mut();
        let mut len: c_int = 0;
        // SAFETY: the user's callback with valid out-pointers, the nonce and its closure.
        let st = unsafe { (cb.func())(&mut err, &mut sig, &mut len, nonce_c.as_ptr(), cb.closure()) };
        let out = take_callback_result(st, err);
        let bytes = if !sig.is_null() && len > 0 {
            // SAFETY: the callback returned `len` bytes at `sig`.
            Some(unsafe { std::slice::from_raw_parts(sig, len as usize) }.to_vec())
        } else {
            None
        };
        if !sig.is_null() {
            // SAFETY: the callback allocated the signature with malloc.
            unsafe { libc::free(sig as *mut c_void) };
        }
        out?;
        bytes.ok_or_else(|| Error::with_text(Status::Err, "signature handler returned no signature"))
    });
    Some(h)
}

/// Turns a callback's status and optional malloc'ed error text into a result.
fn take_callback_result(st: natsStatus, err: *mut c_char) -> Result<(), Error> {
    let text = if err.is_null() {
        None
    } else {
        // SAFETY: the callback returned a NUL-terminated malloc'ed string.
        let t = unsafe { CStr::from_ptr(err) }.to_string_lossy().into_owned();
        // SAFETY: allocated with malloc by the callback; ours to free.
        unsafe { libc::free(err as *mut c_void) };
        Some(t)
    };
    if st == NATS_OK {
        return Ok(());
    }
    let status = Status::from_raw(st).unwrap_or(Status::Err);
    Err(match text {
        Some(t) => Error::with_text(status, t),
        None => Error::new(status),
    })
}

/// Authenticates with user credentials from files: a chained `.creds` file (JWT and seed),
/// or a JWT file and a seed file. The files are read at every connect and reconnect. NULL
/// and NULL clear the setting.
#[no_mangle]
pub unsafe extern "C" fn natsOptions_SetUserCredentialsFromFiles(
    opts: *mut natsOptions,
    userOrChainedFile: *const c_char,
    seedFile: *const c_char,
) -> natsStatus {
    with_opts("natsOptions_SetUserCredentialsFromFiles", opts, true, |o| {
        // SAFETY: NULL or NUL-terminated strings from the caller.
        let (has_user, has_seed) = unsafe { (!userOrChainedFile.is_null() && *userOrChainedFile != 0, !seedFile.is_null() && *seedFile != 0) };
        if !has_user && has_seed {
            return Err(Error::with_text(Status::InvalidArg, "user or chained file need to be specified"));
        }
        if !has_user {
            o.auth = crate::core::auth::Auth::None;
            return Ok(());
        }
        // SAFETY: NUL-terminated strings from the caller (checked non-NULL above).
        let user_or_chained = unsafe { opt_str(userOrChainedFile) }?.unwrap_or_default().to_string();
        let seed_file = if has_seed {
            // SAFETY: as above.
            Some(unsafe { opt_str(seedFile) }?.unwrap_or_default().to_string())
        } else {
            None
        };
        o.auth = crate::core::auth::Auth::Creds(crate::core::auth::UserCreds::Files { user_or_chained, seed_file });
        Ok(())
    })
}

/// Authenticates with the content of a chained `.creds` file (copied; NULL clears).
#[no_mangle]
pub unsafe extern "C" fn natsOptions_SetUserCredentialsFromMemory(opts: *mut natsOptions, jwtAndSeedContent: *const c_char) -> natsStatus {
    with_opts("natsOptions_SetUserCredentialsFromMemory", opts, true, |o| {
        // SAFETY: NULL or a NUL-terminated string from the caller.
        o.auth = match unsafe { opt_str(jwtAndSeedContent) }? {
            None => crate::core::auth::Auth::None,
            Some(c) => crate::core::auth::Auth::Creds(crate::core::auth::UserCreds::Memory(Arc::new(
                zeroize::Zeroizing::new(c.to_string()),
            ))),
        };
        Ok(())
    })
}

/// Authenticates with callbacks: one returns the user JWT, the other signs the server's
/// nonce. Both or neither (to clear) must be given. They run on a library thread at each
/// connect.
#[no_mangle]
pub unsafe extern "C" fn natsOptions_SetUserCredentialsCallbacks(
    opts: *mut natsOptions,
    ujwtCB: natsUserJWTHandler,
    ujwtClosure: *mut c_void,
    sigCB: natsSignatureHandler,
    sigClosure: *mut c_void,
) -> natsStatus {
    with_opts("natsOptions_SetUserCredentialsCallbacks", opts, ujwtCB.is_some() == sigCB.is_some(), |o| {
        o.auth = match (ujwtCB, sign_callback(sigCB, sigClosure)) {
            (Some(f), Some(sign)) => {
                let cb = CCallback { f, closure: ujwtClosure };
                let jwt: crate::core::auth::JwtCallback = Arc::new(move || {
                    let mut jwt: *mut c_char = std::ptr::null_mut();
                    let mut err: *mut c_char = std::ptr::null_mut();
                    // SAFETY: the user's callback with valid out-pointers and its closure.
                    let st = unsafe { (cb.func())(&mut jwt, &mut err, cb.closure()) };
                    let value = if jwt.is_null() {
                        None
                    } else {
                        // SAFETY: a NUL-terminated malloc'ed string from the callback.
                        let v = unsafe { CStr::from_ptr(jwt) }.to_string_lossy().into_owned();
                        // SAFETY: allocated with malloc by the callback; ours to free.
                        unsafe { libc::free(jwt as *mut c_void) };
                        Some(v)
                    };
                    take_callback_result(st, err)?;
                    value.ok_or_else(|| Error::with_text(Status::Err, "user JWT handler returned no JWT"))
                });
                crate::core::auth::Auth::CredsCallbacks { jwt, sign }
            }
            _ => crate::core::auth::Auth::None,
        };
        Ok(())
    })
}

/// Authenticates with an NKey: `pubKey` is the public key, `sigCB` signs the server's
/// nonce. An empty `pubKey` clears the setting.
#[no_mangle]
pub unsafe extern "C" fn natsOptions_SetNKey(
    opts: *mut natsOptions,
    pubKey: *const c_char,
    sigCB: natsSignatureHandler,
    sigClosure: *mut c_void,
) -> natsStatus {
    // SAFETY: NULL or a NUL-terminated string.
    let has_key = !pubKey.is_null() && unsafe { *pubKey } != 0;
    with_opts("natsOptions_SetNKey", opts, !has_key || sigCB.is_some(), |o| {
        if !has_key {
            if matches!(o.auth, crate::core::auth::Auth::NKey { .. }) {
                o.auth = crate::core::auth::Auth::None;
            }
            return Ok(());
        }
        // SAFETY: a NUL-terminated string from the caller.
        let pk = unsafe { opt_str(pubKey) }?.unwrap_or_default().to_string();
        let sign = sign_callback(sigCB, sigClosure).ok_or_else(|| Error::new(Status::InvalidArg))?;
        o.auth = crate::core::auth::Auth::NKey { public_key: pk, sign: crate::core::auth::NKeySigner::Callback(sign) };
        Ok(())
    })
}

/// Authenticates with an NKey whose seed is read from `seedFile` at each connect (and wiped
/// after use). An empty `pubKey` clears the setting.
#[no_mangle]
pub unsafe extern "C" fn natsOptions_SetNKeyFromSeed(opts: *mut natsOptions, pubKey: *const c_char, seedFile: *const c_char) -> natsStatus {
    // SAFETY: NULL or NUL-terminated strings.
    let has_key = !pubKey.is_null() && unsafe { *pubKey } != 0;
    // SAFETY: as above.
    let has_seed = !seedFile.is_null() && unsafe { *seedFile } != 0;
    with_opts("natsOptions_SetNKeyFromSeed", opts, !has_key || has_seed, |o| {
        if !has_key {
            if matches!(o.auth, crate::core::auth::Auth::NKey { .. }) {
                o.auth = crate::core::auth::Auth::None;
            }
            return Ok(());
        }
        // SAFETY: NUL-terminated strings from the caller.
        let pk = unsafe { opt_str(pubKey) }?.unwrap_or_default().to_string();
        // SAFETY: as above.
        let sf = unsafe { opt_str(seedFile) }?.unwrap_or_default().to_string();
        o.auth = crate::core::auth::Auth::NKey { public_key: pk, sign: crate::core::auth::NKeySigner::SeedFile(sf) };
        Ok(())
    })
}

/// Adds `paddingSize` zeroed bytes after the data of every received message (0: none),
/// for code that reads past the payload. Negative is invalid.
#[no_mangle]
pub unsafe extern "C" fn natsOptions_SetMessageBufferPadding(opts: *mut natsOptions, paddingSize: c_int) -> natsStatus {
    with_opts("natsOptions_SetMessageBufferPadding", opts, paddingSize >= 0, |o| {
        o.message_buffer_padding = paddingSize;
        Ok(())
    })
}

// ----- TLS -----

/// cnats' _getSSLCtx: the TLS settings to change, created (system roots only) when absent.
/// Like cnats, they cannot change while connections made with these options use them.
fn tls_settings(o: &mut Options) -> Result<&mut TlsOptions, Error> {
    let t = o.tls.get_or_insert_with(|| Arc::new(TlsOptions::new()));
    Arc::get_mut(t).ok_or_else(|| {
        Error::with_text(
            Status::IllegalState,
            "This natsOptions object can't be modified because it is configured for SSL and is currently used by connection(s)!",
        )
    })
}

/// True for NULL or "".
///
/// # Safety
/// `p` is NULL or a NUL-terminated string.
unsafe fn empty(p: *const c_char) -> bool {
    // SAFETY: per the contract above; only the first byte is read.
    p.is_null() || unsafe { *p } == 0
}

/// A NUL-terminated string from the caller, checked non-empty by the caller.
///
/// # Safety
/// `p` is a NUL-terminated string.
unsafe fn text<'a>(p: *const c_char) -> Result<&'a str, Error> {
    // SAFETY: per the contract above.
    Ok(unsafe { opt_str(p) }?.unwrap_or_default())
}

/// Requires (true) or stops requiring (false) a TLS connection. False also drops every TLS
/// setting made on these options, as cnats does.
#[no_mangle]
pub unsafe extern "C" fn natsOptions_SetSecure(opts: *mut natsOptions, secure: bool) -> natsStatus {
    with_opts("natsOptions_SetSecure", opts, true, |o| {
        if secure {
            if o.tls.is_none() {
                o.tls = Some(Arc::new(TlsOptions::new()));
            }
        } else {
            o.tls = None;
        }
        o.secure = secure;
        o.secure_explicitly_set = true;
        Ok(())
    })
}

/// Performs the TLS handshake as soon as the TCP connection is made, before the server's
/// INFO (the server must be configured with `handshake_first`). Implies a secure connection.
#[no_mangle]
pub unsafe extern "C" fn natsOptions_TLSHandshakeFirst(opts: *mut natsOptions) -> natsStatus {
    with_opts("natsOptions_TLSHandshakeFirst", opts, true, |o| {
        tls_settings(o)?;
        o.secure = true;
        o.tls_handshake_first = true;
        Ok(())
    })
}

/// Allows TLS handshakes of several connections at the same time. Handshakes never share
/// state here, so they always may; the choice is only recorded.
#[no_mangle]
pub unsafe extern "C" fn natsOptions_AllowConcurrentTLSHandshakes(opts: *mut natsOptions) -> natsStatus {
    with_opts("natsOptions_AllowConcurrentTLSHandshakes", opts, true, |o| {
        tls_settings(o)?;
        o.tls_concurrent_handshakes = true;
        Ok(())
    })
}

/// Trusts the CA certificates of a PEM file (read now; the name is not kept), in addition to
/// the system's. NULL or "" is NATS_INVALID_ARG; an unreadable file NATS_SSL_ERROR.
#[no_mangle]
pub unsafe extern "C" fn natsOptions_LoadCATrustedCertificates(opts: *mut natsOptions, fileName: *const c_char) -> natsStatus {
    // SAFETY: NULL or a NUL-terminated string from the caller.
    let ok = !unsafe { empty(fileName) };
    with_opts("natsOptions_LoadCATrustedCertificates", opts, ok, |o| {
        // SAFETY: checked non-empty, NUL-terminated.
        let name = unsafe { text(fileName) }?;
        tls_settings(o)?.load_ca_file(name)
    })
}

/// Trusts the CA certificates of the PEM files in a directory (read now; the name is not
/// kept). NULL or "" is NATS_INVALID_ARG; an unreadable directory NATS_SSL_ERROR.
#[no_mangle]
pub unsafe extern "C" fn natsOptions_LoadCATrustedCertificatesPath(opts: *mut natsOptions, path: *const c_char) -> natsStatus {
    // SAFETY: NULL or a NUL-terminated string from the caller.
    let ok = !unsafe { empty(path) };
    with_opts("natsOptions_LoadCATrustedCertificatesPath", opts, ok, |o| {
        // SAFETY: checked non-empty, NUL-terminated.
        let p = unsafe { text(path) }?;
        tls_settings(o)?.load_ca_dir(p)
    })
}

/// Trusts the CA certificates of a PEM text (copied), with any revocation lists it holds.
/// NULL or "" is NATS_INVALID_ARG; text without a certificate NATS_SSL_ERROR.
#[no_mangle]
pub unsafe extern "C" fn natsOptions_SetCATrustedCertificates(opts: *mut natsOptions, certificates: *const c_char) -> natsStatus {
    // SAFETY: NULL or a NUL-terminated string from the caller.
    if unsafe { empty(certificates) } {
        return guard("natsOptions_SetCATrustedCertificates", || {
            Err(Error::with_text(Status::InvalidArg, "CA certificates can't be NULL nor empty"))
        });
    }
    with_opts("natsOptions_SetCATrustedCertificates", opts, true, |o| {
        // SAFETY: checked non-empty, NUL-terminated.
        let pem = unsafe { text(certificates) }?;
        tls_settings(o)?.add_ca_pem(pem)
    })
}

/// Presents the certificate chain and private key of these PEM files (read now; the names
/// are not kept) when the server asks for a client certificate. NULL or "" for either is
/// NATS_INVALID_ARG; unreadable or mismatched files NATS_SSL_ERROR.
#[no_mangle]
pub unsafe extern "C" fn natsOptions_LoadCertificatesChain(
    opts: *mut natsOptions,
    certsFileName: *const c_char,
    keyFileName: *const c_char,
) -> natsStatus {
    // SAFETY: NULL or NUL-terminated strings from the caller.
    if unsafe { empty(certsFileName) || empty(keyFileName) } {
        return guard("natsOptions_LoadCertificatesChain", || {
            Err(Error::with_text(Status::InvalidArg, "certificate and key file names can't be NULL nor empty"))
        });
    }
    with_opts("natsOptions_LoadCertificatesChain", opts, true, |o| {
        // SAFETY: checked non-empty, NUL-terminated.
        let (c, k) = unsafe { (text(certsFileName)?, text(keyFileName)?) };
        tls_settings(o)?.load_cert_chain_files(c, k)
    })
}

/// Like natsOptions_LoadCertificatesChain, but the files (names copied) are read at every
/// TLS handshake, so that certificates renewed on disk are used on reconnect. They are not
/// read now.
#[no_mangle]
pub unsafe extern "C" fn natsOptions_LoadCertificatesChainDynamic(
    opts: *mut natsOptions,
    certsFileName: *const c_char,
    keyFileName: *const c_char,
) -> natsStatus {
    // SAFETY: NULL or NUL-terminated strings from the caller.
    if unsafe { empty(certsFileName) || empty(keyFileName) } {
        return guard("natsOptions_LoadCertificatesChainDynamic", || {
            Err(Error::with_text(Status::InvalidArg, "certificate and key file names can't be NULL nor empty"))
        });
    }
    with_opts("natsOptions_LoadCertificatesChainDynamic", opts, true, |o| {
        // SAFETY: checked non-empty, NUL-terminated.
        let (c, k) = unsafe { (text(certsFileName)?, text(keyFileName)?) };
        tls_settings(o)?.load_cert_chain_dynamic(c, k);
        Ok(())
    })
}

/// Presents this PEM certificate (chain) and private key (both copied) when the server asks
/// for a client certificate. NULL or "" for either is NATS_INVALID_ARG; invalid PEM or a key
/// that does not match the certificate NATS_SSL_ERROR.
#[no_mangle]
pub unsafe extern "C" fn natsOptions_SetCertificatesChain(opts: *mut natsOptions, cert: *const c_char, key: *const c_char) -> natsStatus {
    // SAFETY: NULL or NUL-terminated strings from the caller.
    if unsafe { empty(cert) || empty(key) } {
        return guard("natsOptions_SetCertificatesChain", || {
            Err(Error::with_text(Status::InvalidArg, "certificate and key can't be NULL nor empty"))
        });
    }
    with_opts("natsOptions_SetCertificatesChain", opts, true, |o| {
        // SAFETY: checked non-empty, NUL-terminated.
        let (c, k) = unsafe { (text(cert)?, text(key)?) };
        tls_settings(o)?.set_cert_chain_pem(c, k)
    })
}

/// Restricts the TLS 1.2 cipher suites with an OpenSSL cipher list (copied), such as
/// "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305" or "-ALL:HIGH"; IANA names
/// are accepted too. Names that match nothing are ignored; a list that selects no cipher
/// is NATS_SSL_ERROR. Only ECDHE with AES-GCM or ChaCha20-Poly1305 is ever offered. NULL or
/// "" is NATS_INVALID_ARG.
#[no_mangle]
pub unsafe extern "C" fn natsOptions_SetCiphers(opts: *mut natsOptions, ciphers: *const c_char) -> natsStatus {
    // SAFETY: NULL or a NUL-terminated string from the caller.
    let ok = !unsafe { empty(ciphers) };
    with_opts("natsOptions_SetCiphers", opts, ok, |o| {
        // SAFETY: checked non-empty, NUL-terminated.
        let list = unsafe { text(ciphers) }?;
        tls_settings(o)?.set_ciphers(list)
    })
}

/// Sets the TLS 1.3 cipher suites, colon separated (copied): TLS_AES_128_GCM_SHA256,
/// TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256. "" disables TLS 1.3. Unknown names
/// are ignored; a list with no known name is NATS_SSL_ERROR. NULL is NATS_INVALID_ARG.
#[no_mangle]
pub unsafe extern "C" fn natsOptions_SetCipherSuites(opts: *mut natsOptions, ciphers: *const c_char) -> natsStatus {
    with_opts("natsOptions_SetCipherSuites", opts, !ciphers.is_null(), |o| {
        // SAFETY: checked non-NULL, NUL-terminated.
        let list = unsafe { text(ciphers) }?;
        tls_settings(o)?.set_cipher_suites(list)
    })
}

/// Sets the name the server's certificate must be valid for (copied), instead of the host
/// of the URL. NULL restores the URL's host; "" verifies the certificate chain but no name.
#[no_mangle]
pub unsafe extern "C" fn natsOptions_SetExpectedHostname(opts: *mut natsOptions, hostname: *const c_char) -> natsStatus {
    with_opts("natsOptions_SetExpectedHostname", opts, true, |o| {
        // SAFETY: NULL or a NUL-terminated string from the caller.
        let h = unsafe { opt_str(hostname) }?;
        tls_settings(o)?.set_expected_hostname(h);
        Ok(())
    })
}

/// Accepts the server's certificate without verifying it (chain or name). For tests only.
#[no_mangle]
pub unsafe extern "C" fn natsOptions_SkipServerVerification(opts: *mut natsOptions, skip: bool) -> natsStatus {
    with_opts("natsOptions_SkipServerVerification", opts, true, |o| {
        tls_settings(o)?.set_skip_verify(skip);
        Ok(())
    })
}

/// The C adapter of an external event loop: the loop and the four callbacks.
struct CEventLoop {
    evloop: *mut c_void,
    attach: unsafe extern "C" fn(*mut *mut c_void, *mut c_void, *mut natsConnection, natsSock) -> natsStatus,
    read: unsafe extern "C" fn(*mut c_void, bool) -> natsStatus,
    write: unsafe extern "C" fn(*mut c_void, bool) -> natsStatus,
    detach: unsafe extern "C" fn(*mut c_void) -> natsStatus,
}
// SAFETY: as cnats, the library calls the adapter from its own threads; the adapter is
// responsible for being callable there. The pointers are only handed back to it.
unsafe impl Send for CEventLoop {}
// SAFETY: as above; the struct is immutable.
unsafe impl Sync for CEventLoop {}

fn adapter_result(st: natsStatus) -> Result<(), Error> {
    if st == NATS_OK {
        Ok(())
    } else {
        Err(Error::new(Status::from_raw(st).unwrap_or(Status::Err)))
    }
}

impl crate::core::options::EventLoop for CEventLoop {
    fn attach(&self, data: &mut usize, conn: &Arc<crate::core::conn::Conn>, fd: std::os::fd::RawFd) -> Result<(), Error> {
        let mut ud = *data as *mut c_void;
        let nc = Arc::as_ptr(conn) as *mut natsConnection;
        // SAFETY: the adapter's attach with its loop, a place for its per-connection data,
        // the connection handle (kept alive by the loop's reference) and the socket.
        let st = unsafe { (self.attach)(&mut ud, self.evloop, nc, fd) };
        *data = ud as usize;
        adapter_result(st)
    }
    fn read(&self, data: usize, add: bool) -> Result<(), Error> {
        // SAFETY: the adapter's callback with the data its attach returned.
        adapter_result(unsafe { (self.read)(data as *mut c_void, add) })
    }
    fn write(&self, data: usize, add: bool) -> Result<(), Error> {
        // SAFETY: as above.
        adapter_result(unsafe { (self.write)(data as *mut c_void, add) })
    }
    fn detach(&self, data: usize) {
        // SAFETY: as above; the adapter calls natsConnection_ProcessDetachedEvent when done.
        let _ = unsafe { (self.detach)(data as *mut c_void) };
    }
}

/// Lets an external event loop poll the connection's socket: after each connect `attachCb`
/// gets the socket to watch for input, `readCb` and `writeCb` start and stop polling, and
/// `detachCb` is called once the connection is closed. The adapter reports events with
/// natsConnection_ProcessReadEvent / ProcessWriteEvent, closes sockets with
/// natsConnection_ProcessCloseEvent and finishes with natsConnection_ProcessDetachedEvent.
/// Every argument is required.
#[no_mangle]
pub unsafe extern "C" fn natsOptions_SetEventLoop(
    opts: *mut natsOptions,
    r#loop: *mut c_void,
    attachCb: natsEvLoop_Attach,
    readCb: natsEvLoop_ReadAddRemove,
    writeCb: natsEvLoop_WriteAddRemove,
    detachCb: natsEvLoop_Detach,
) -> natsStatus {
    let cbs = match (attachCb, readCb, writeCb, detachCb) {
        (Some(a), Some(r), Some(w), Some(d)) if !r#loop.is_null() => Some((a, r, w, d)),
        _ => None,
    };
    with_opts("natsOptions_SetEventLoop", opts, cbs.is_some(), |o| {
        let (attach, read, write, detach) = cbs.expect("checked by with_opts");
        o.event_loop = Some(Arc::new(CEventLoop { evloop: r#loop, attach, read, write, detach }));
        Ok(())
    })
}

/// Sets a callback that makes the TCP connection (to go through a proxy, say): it gets the
/// server's host and port, connects, and returns the socket in `*fd` with `NATS_OK`; the
/// library then owns the socket. NULL removes it.
#[no_mangle]
pub unsafe extern "C" fn natsOptions_SetProxyConnHandler(
    opts: *mut natsOptions,
    proxyConnHandler: natsProxyConnHandler,
    closure: *mut c_void,
) -> natsStatus {
    with_opts("natsOptions_SetProxyConnHandler", opts, true, |o| {
        o.proxy_conn = proxyConnHandler.map(|f| {
            let cb = CCallback { f, closure };
            let handler: crate::core::options::ProxyConnCallback = Arc::new(move |host: &str, port: i32| {
                let host = std::ffi::CString::new(host).map_err(|_| Error::new(Status::AddressMissing))?;
                let mut host = host.into_bytes_with_nul();
                let mut fd: natsSock = -1;
                // SAFETY: the user's callback with the user's closure; `fd` and `host` (a
                // NUL-terminated buffer it may modify) outlive the call.
                let st = unsafe { (cb.func())(&mut fd, host.as_mut_ptr().cast::<c_char>(), port, cb.closure()) };
                if st != NATS_OK {
                    let status = Status::from_raw(st).unwrap_or(Status::Err);
                    return Err(Error::with_text(
                        Status::NoServer,
                        format!("the proxy connection handler failed: {}", status.text()),
                    ));
                }
                Ok(fd)
            });
            handler
        });
        Ok(())
    })
}
