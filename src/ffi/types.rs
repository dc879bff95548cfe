//! The C types of the API: opaque handles, callback typedefs and the public structs, laid
//! out exactly as cnats declares them. `natsStatus` and `natsConnStatus` are the enums of
//! `status.h`; here they are plain C ints (same size and passing convention), so that any
//! value a C caller passes is defined behaviour.

use std::ffi::{c_char, c_int, c_uchar, c_void};

/// cnats' `natsStatus` (an enum declared in status.h).
pub type natsStatus = c_int;
/// cnats' `natsConnStatus` (an enum declared in status.h).
pub type natsConnStatus = c_int;

pub(crate) const NATS_OK: natsStatus = 0;

/// A socket handle, as the platform defines it.
pub type natsSock = c_int;

/// An inbox is a NUL-terminated string; create with natsInbox_Create, free with
/// natsInbox_Destroy.
pub type natsInbox = c_char;

/// A connection to a NATS server (or cluster). Created by natsConnection_Connect, released
/// with natsConnection_Destroy. Safe to use from several threads at once.
pub struct natsConnection {
    _opaque: [u8; 0],
}

/// A subscription. Created by the natsConnection_Subscribe family; released with
/// natsSubscription_Destroy (which does not unsubscribe).
pub struct natsSubscription {
    _opaque: [u8; 0],
}

/// A message. Messages given to a callback or returned by NextMsg/Request belong to the
/// caller, who releases them with natsMsg_Destroy.
pub struct natsMsg {
    _opaque: [u8; 0],
}

/// Connection options. Created by natsOptions_Create, released with natsOptions_Destroy;
/// a connection keeps its own copy, so options may be destroyed right after connecting.
pub struct natsOptions {
    _opaque: [u8; 0],
}

/// Connection statistics, filled by natsConnection_GetStats.
pub struct natsStatistics {
    _opaque: [u8; 0],
}

/// A standalone set of message headers (natsHeader_New / natsHeader_Destroy).
pub struct natsHeader {
    _opaque: [u8; 0],
}

/// Library configuration for nats_OpenWithConfig.
pub type natsThreadStartedHandler = Option<unsafe extern "C" fn(closure: *mut c_void)>;

/// Message callback. Runs on a library thread; the callback owns `msg` and must release it
/// with natsMsg_Destroy. Calls for one subscription never overlap.
pub type natsMsgHandler =
    Option<unsafe extern "C" fn(nc: *mut natsConnection, sub: *mut natsSubscription, msg: *mut natsMsg, closure: *mut c_void)>;

/// Connection event callback (closed, disconnected, reconnected, discovered servers, lame
/// duck, connected). Runs on the library's event thread, one event at a time, in order.
pub type natsConnectionHandler = Option<unsafe extern "C" fn(nc: *mut natsConnection, closure: *mut c_void)>;

/// Asynchronous error callback (slow consumer, permission violation, ...). Runs on the
/// library's event thread; `subscription` may be NULL.
pub type natsErrHandler = Option<
    unsafe extern "C" fn(nc: *mut natsConnection, subscription: *mut natsSubscription, err: natsStatus, closure: *mut c_void),
>;

/// Proxy connection callback.
pub type natsProxyConnHandler =
    Option<unsafe extern "C" fn(fd: *mut natsSock, host: *mut c_char, port: c_int, closure: *mut c_void) -> natsStatus>;

/// Event loop adapter: attach.
pub type natsEvLoop_Attach = Option<
    unsafe extern "C" fn(userData: *mut *mut c_void, r#loop: *mut c_void, nc: *mut natsConnection, socket: natsSock) -> natsStatus,
>;
/// Event loop adapter: start or stop polling for reads.
pub type natsEvLoop_ReadAddRemove = Option<unsafe extern "C" fn(userData: *mut c_void, add: bool) -> natsStatus>;
/// Event loop adapter: start or stop polling for writes.
pub type natsEvLoop_WriteAddRemove = Option<unsafe extern "C" fn(userData: *mut c_void, add: bool) -> natsStatus>;
/// Event loop adapter: detach.
pub type natsEvLoop_Detach = Option<unsafe extern "C" fn(userData: *mut c_void) -> natsStatus>;

/// Returns the user JWT (allocated with malloc; the library frees it).
pub type natsUserJWTHandler =
    Option<unsafe extern "C" fn(userJWT: *mut *mut c_char, customErrTxt: *mut *mut c_char, closure: *mut c_void) -> natsStatus>;

/// Signs the server's nonce (the signature is allocated with malloc; the library frees it).
pub type natsSignatureHandler = Option<
    unsafe extern "C" fn(
        customErrTxt: *mut *mut c_char,
        signature: *mut *mut c_uchar,
        signatureLength: *mut c_int,
        nonce: *const c_char,
        closure: *mut c_void,
    ) -> natsStatus,
>;

/// Returns the token to send when connecting; the library copies it.
pub type natsTokenHandler = Option<unsafe extern "C" fn(closure: *mut c_void) -> *const c_char>;

/// Called once when an asynchronous subscription is done, after its last message callback.
pub type natsOnCompleteCB = Option<unsafe extern "C" fn(closure: *mut c_void)>;

/// Returns the delay in milliseconds before the next reconnect pass.
pub type natsCustomReconnectDelayHandler =
    Option<unsafe extern "C" fn(nc: *mut natsConnection, attempts: c_int, closure: *mut c_void) -> i64>;

/// TLS verification callback (OpenSSL-style; `ctx` is opaque).
pub type natsSSLVerifyCb = Option<unsafe extern "C" fn(preverifyOk: c_int, ctx: *mut c_void) -> c_int>;

/// Library settings for nats_OpenWithConfig; a copy is taken.
#[repr(C)]
pub struct natsClientConfig {
    pub DefaultWriteDeadline: i64,
    pub LockSpinCount: i64,
    pub DefaultToThreadPool: bool,
    pub ThreadPoolMax: c_int,
    pub DefaultRepliesToThreadPool: bool,
    pub UseSeparatePoolForReplies: bool,
    pub ReplyThreadPoolMax: c_int,
    pub ThreadStartedHandler: natsThreadStartedHandler,
    pub ThreadStartedHandlerClosure: *mut c_void,
}

/// A list of messages; natsMsgList_Destroy releases the messages and the array.
#[repr(C)]
pub struct natsMsgList {
    pub Msgs: *mut *mut natsMsg,
    pub Count: c_int,
}

/// Key/value metadata: `List` holds `2 * Count` strings, key then value.
#[repr(C)]
pub struct natsMetadata {
    pub List: *mut *const c_char,
    pub Count: c_int,
}
