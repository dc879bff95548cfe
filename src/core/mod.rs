//! Pure Rust core: no C types, no raw pointers, no `#[no_mangle]`.

pub mod headers;
pub mod lock;
pub mod nuid;
pub mod proto;
pub mod subject;
pub mod auth;
pub mod conn;
pub mod events;
pub mod msg;
pub mod options;
pub mod runtime;
pub mod sched;
pub mod server_pool;
pub mod status;
pub mod sub;
pub mod sync;
pub mod tls;
