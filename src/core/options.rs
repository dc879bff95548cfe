//! Connection options: plain data with cnats' defaults. Callbacks are Rust closures; the FFI
//! layer wraps the C function pointer and closure into them.

use std::sync::Arc;

use super::conn::Conn;
use super::status::Status;
use super::sub::Sub;

/// Called on the connection's event thread with the connection.
pub type ConnCallback = Arc<dyn Fn(&Arc<Conn>) + Send + Sync>;
/// Asynchronous error report: connection, subscription when the error is about one, status.
pub type ErrCallback = Arc<dyn Fn(&Arc<Conn>, Option<&Arc<Sub>>, Status) + Send + Sync>;
/// Produces the token sent in CONNECT, called each time the client connects.
pub type TokenCallback = Arc<dyn Fn() -> Option<String> + Send + Sync>;
/// Makes the TCP connection itself (through a proxy, say) for a host and port, and returns
/// the connected socket, whose ownership passes to the library.
pub type ProxyConnCallback = Arc<dyn Fn(&str, i32) -> Result<std::os::fd::RawFd, super::status::Error> + Send + Sync>;
/// An external event loop that polls the connection's socket (cnats'
/// natsOptions_SetEventLoop). The library reads and writes the socket only when the loop
/// reports it ready (`Conn::el_read_event`, `Conn::el_write_event`); `data` is the
/// connection's own value, set by `attach` and handed back to the other calls.
pub trait EventLoop: Send + Sync {
    /// Starts polling `fd` for input after each connect; `data` keeps what the previous
    /// attach of this connection left in it (0 the first time).
    fn attach(&self, data: &mut usize, conn: &Arc<Conn>, fd: std::os::fd::RawFd) -> Result<(), super::status::Error>;
    /// Starts (`add`) or stops polling for input; stopping it means the session is over
    /// and the socket is to be closed by the loop.
    fn read(&self, data: usize, add: bool) -> Result<(), super::status::Error>;
    /// Starts or stops polling for room to write.
    fn write(&self, data: usize, add: bool) -> Result<(), super::status::Error>;
    /// The connection is closed: the loop lets go of it (and tells the library when done).
    fn detach(&self, data: usize);
}

/// Returns how long to wait (ms) before the next pass over the server pool.
pub type ReconnectDelayCallback = Arc<dyn Fn(&Arc<Conn>, i32) -> i64 + Send + Sync>;

pub const DEFAULT_URL: &str = "nats://localhost:4222";
pub const DEFAULT_MAX_RECONNECT: i32 = 60;
pub const DEFAULT_TIMEOUT_MS: i64 = 2_000;
pub const DEFAULT_RECONNECT_WAIT_MS: i64 = 2_000;
pub const DEFAULT_PING_INTERVAL_MS: i64 = 120_000;
pub const DEFAULT_MAX_PINGS_OUT: i32 = 2;
pub const DEFAULT_IO_BUF_SIZE: i32 = 32 * 1024;
pub const DEFAULT_MAX_PENDING_MSGS: i32 = 65_536;
pub const DEFAULT_RECONNECT_BUF_SIZE: i32 = 8 * 1024 * 1024;
pub const DEFAULT_RECONNECT_JITTER_MS: i64 = 100;
pub const DEFAULT_RECONNECT_JITTER_TLS_MS: i64 = 1_000;
pub const DEFAULT_INBOX_PREFIX: &str = "_INBOX.";

#[derive(Clone)]
pub struct Options {
    pub url: Option<String>,
    pub servers: Vec<String>,
    pub no_randomize: bool,
    pub timeout_ms: i64,
    pub name: Option<String>,
    pub verbose: bool,
    pub pedantic: bool,
    pub ping_interval_ms: i64,
    pub max_pings_out: i32,
    pub ignore_auth_error_abort: bool,
    pub io_buf_size: i32,
    pub allow_reconnect: bool,
    pub max_reconnect: i32,
    pub reconnect_wait_ms: i64,
    pub reconnect_jitter_ms: i64,
    pub reconnect_jitter_tls_ms: i64,
    pub reconnect_delay_cb: Option<ReconnectDelayCallback>,
    pub reconnect_buf_size: i32,
    pub max_pending_msgs: i32,
    pub max_pending_bytes: i64,
    /// `None` means cnats' default handler, which prints to stderr.
    pub err_handler: Option<ErrCallback>,
    pub closed_cb: Option<ConnCallback>,
    pub disconnected_cb: Option<ConnCallback>,
    pub reconnected_cb: Option<ConnCallback>,
    pub discovered_servers_cb: Option<ConnCallback>,
    pub lame_duck_cb: Option<ConnCallback>,
    pub connected_cb: Option<ConnCallback>,
    pub retry_on_failed_connect: bool,
    pub ignore_discovered_servers: bool,
    pub global_delivery: bool,
    pub ip_resolution_order: i32,
    pub send_asap: bool,
    pub old_request_style: bool,
    pub fail_requests_on_disconnect: bool,
    pub no_echo: bool,
    pub user: Option<String>,
    pub password: Option<String>,
    pub token: Option<String>,
    pub token_cb: Option<TokenCallback>,
    pub proxy_conn: Option<ProxyConnCallback>,
    pub event_loop: Option<Arc<dyn EventLoop>>,
    pub write_deadline_ms: i64,
    pub disable_no_responders: bool,
    /// Always ends with '.'.
    pub inbox_prefix: String,
    pub secure: bool,
    pub secure_explicitly_set: bool,
    /// TLS settings (cnats' SSL context): set by any TLS option, dropped by SetSecure(false).
    /// `None` with `secure` means the defaults: the system's trusted roots. Shared with the
    /// connections made from these options, which is how cnats refuses to change TLS settings
    /// while connections use them.
    pub tls: Option<Arc<super::tls::TlsOptions>>,
    /// Start TLS before the server's INFO (natsOptions_TLSHandshakeFirst); implies `secure`.
    pub tls_handshake_first: bool,
    /// natsOptions_AllowConcurrentTLSHandshakes: an OpenSSL locking matter in cnats; rustls
    /// handshakes never share state that needs it, so this only records the choice.
    pub tls_concurrent_handshakes: bool,
    pub message_buffer_padding: i32,
    /// JWT credentials or NKey authentication.
    pub auth: super::auth::Auth,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            url: None,
            servers: Vec::new(),
            no_randomize: false,
            timeout_ms: DEFAULT_TIMEOUT_MS,
            name: None,
            verbose: false,
            pedantic: false,
            ping_interval_ms: DEFAULT_PING_INTERVAL_MS,
            max_pings_out: DEFAULT_MAX_PINGS_OUT,
            ignore_auth_error_abort: false,
            io_buf_size: DEFAULT_IO_BUF_SIZE,
            allow_reconnect: true,
            max_reconnect: DEFAULT_MAX_RECONNECT,
            reconnect_wait_ms: DEFAULT_RECONNECT_WAIT_MS,
            reconnect_jitter_ms: DEFAULT_RECONNECT_JITTER_MS,
            reconnect_jitter_tls_ms: DEFAULT_RECONNECT_JITTER_TLS_MS,
            reconnect_delay_cb: None,
            reconnect_buf_size: DEFAULT_RECONNECT_BUF_SIZE,
            max_pending_msgs: DEFAULT_MAX_PENDING_MSGS,
            // Unset: subscriptions then allow 1 KB per allowed pending message.
            max_pending_bytes: -1,
            err_handler: None,
            closed_cb: None,
            disconnected_cb: None,
            reconnected_cb: None,
            discovered_servers_cb: None,
            lame_duck_cb: None,
            connected_cb: None,
            retry_on_failed_connect: false,
            ignore_discovered_servers: false,
            global_delivery: false,
            ip_resolution_order: 0,
            send_asap: false,
            old_request_style: false,
            fail_requests_on_disconnect: false,
            no_echo: false,
            user: None,
            password: None,
            token: None,
            token_cb: None,
            proxy_conn: None,
            event_loop: None,
            write_deadline_ms: 0,
            disable_no_responders: false,
            inbox_prefix: DEFAULT_INBOX_PREFIX.to_string(),
            secure: false,
            secure_explicitly_set: false,
            tls: None,
            tls_handshake_first: false,
            tls_concurrent_handshakes: false,
            message_buffer_padding: 0,
            auth: super::auth::Auth::None,
        }
    }
}

/// True when the URL asks for TLS through its scheme.
pub fn has_tls_scheme(url: &str) -> bool {
    url.trim().get(..6).is_some_and(|p| p.eq_ignore_ascii_case("tls://"))
}
