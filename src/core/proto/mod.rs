//! The NATS client protocol.
//!
//! * [`parse`] / [`Parser`]: incremental, zero-copy parser of what a server
//!   sends (`INFO`, `MSG`, `HMSG`, `PING`, `PONG`, `+OK`, `-ERR`).
//! * `encode_*`: writers of what a client sends (`CONNECT`, `PUB`, `HPUB`,
//!   `SUB`, `UNSUB`, `PING`, `PONG`) straight into a [`bytes::BytesMut`].
//! * [`ServerInfo`] / [`parse_info`] and [`ConnectInfo`]: the JSON bodies of
//!   `INFO` and `CONNECT`.

mod encode;
mod info;
mod parse;

pub use encode::{
    dec_len, encode_connect, encode_pub, encode_pub_head, encode_sub, encode_unsub, pub_frame_len, PING, PONG,
};
pub use info::{parse_info, ConnectInfo, ServerInfo, CLIENT_LANG, CLIENT_PROTOCOL, CLIENT_VERSION};
pub use parse::{
    parse, MsgFrame, Parser, ProtoError, ServerOp, MAX_CONTROL_LINE, MAX_INFO_LINE, MAX_PAYLOAD,
};
