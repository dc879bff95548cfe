//! Status codes with cnats' numbering, and the core error type.

use std::fmt;

/// Outcome codes. The discriminants are cnats' `natsStatus` values and must never change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum Status {
    Ok = 0,
    Err,
    ProtocolError,
    IoError,
    LineTooLong,
    ConnectionClosed,
    NoServer,
    StaleConnection,
    SecureConnectionWanted,
    SecureConnectionRequired,
    ConnectionDisconnected,
    ConnectionAuthFailed,
    NotPermitted,
    NotFound,
    AddressMissing,
    InvalidSubject,
    InvalidArg,
    InvalidSubscription,
    InvalidTimeout,
    IllegalState,
    SlowConsumer,
    MaxPayload,
    MaxDeliveredMsgs,
    InsufficientBuffer,
    NoMemory,
    SysError,
    Timeout,
    FailedToInitialize,
    NotInitialized,
    SslError,
    NoServerSupport,
    NotYetConnected,
    Draining,
    InvalidQueueName,
    NoResponders,
    Mismatch,
    MissedHeartbeat,
    LimitReached,
    PinIdMismatch,
    InvalidConfig,
}

/// Texts indexed by status value; `natsStatus_GetText` hands these out as C strings,
/// so each one carries its terminating NUL.
const TEXTS: [&str; 40] = [
    "OK\0",
    "Error\0",
    "Protocol Error\0",
    "IO Error\0",
    "Line too long\0",
    "Connection Closed\0",
    "No server available for connection\0",
    "Stale Connection\0",
    "Secure Connection not available\0",
    "Secure Connection Required\0",
    "Connection Disconnected\0",
    "Authentication Violation\0",
    "Not Permitted\0",
    "Not Found\0",
    "TCP Address missing\0",
    "Invalid Subject\0",
    "Invalid Argument\0",
    "Invalid Subscription\0",
    "Invalid Timeout\0",
    "Illegal State\0",
    "Slow Consumer, messages dropped\0",
    "Maximum Payload Exceeded\0",
    "Maximum Messages Delivered\0",
    "Insufficient Buffer\0",
    "No Memory\0",
    "System Error\0",
    "Timeout\0",
    "Initialization Failed\0",
    "Not Initialized\0",
    "SSL Error\0",
    "Not Supported By Server\0",
    "Not Yet Connected\0",
    "Draining in progress\0",
    "Invalid queue name\0",
    "No responders available for request\0",
    "Mismatch\0",
    "Missed Server Heartbeat\0",
    "Limit reached\0",
    "Jetstream Consumer PinID Mismatch\0",
    "Invalid Configuration\0",
];

/// Number of defined status values (cnats' `NATS_MAX_STATUS_VALUE`).
pub const STATUS_COUNT: i32 = TEXTS.len() as i32;

impl Status {
    /// The status for a raw value, if it is one of the defined codes.
    pub fn from_raw(v: i32) -> Option<Status> {
        if (0..STATUS_COUNT).contains(&v) {
            // SAFETY: Status is repr(i32) with contiguous discriminants 0..STATUS_COUNT.
            Some(unsafe { std::mem::transmute::<i32, Status>(v) })
        } else {
            None
        }
    }

    /// The NUL-terminated text for this status.
    pub fn text_with_nul(self) -> &'static str {
        TEXTS[self as usize]
    }

    /// The text for this status, without the terminating NUL.
    pub fn text(self) -> &'static str {
        let t = self.text_with_nul();
        &t[..t.len() - 1]
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text())
    }
}

/// A failure from the core: a status code plus, when there is more to say, a text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    pub status: Status,
    pub text: Option<String>,
}

impl Error {
    pub fn new(status: Status) -> Error {
        Error { status, text: None }
    }
    pub fn with_text(status: Status, text: impl Into<String>) -> Error {
        Error { status, text: Some(text.into()) }
    }
    /// The text to report: the detail if any, the status text otherwise.
    pub fn message(&self) -> &str {
        self.text.as_deref().unwrap_or_else(|| self.status.text())
    }
}

impl From<Status> for Error {
    fn from(s: Status) -> Error {
        Error::new(s)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

/// Connection states with cnats' `natsConnStatus` numbering.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum ConnStatus {
    Disconnected = 0,
    Connecting = 1,
    Connected = 2,
    Closed = 3,
    Reconnecting = 4,
    DrainingSubs = 5,
    DrainingPubs = 6,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_line_up_with_values() {
        // cnats: natsStatus_GetText(NATS_NO_RESPONDERS) is the no-responders text.
        assert_eq!(Status::NoResponders as i32, 34);
        assert_eq!(Status::NoResponders.text(), "No responders available for request");
        assert_eq!(Status::InvalidConfig as i32, 39);
        assert_eq!(STATUS_COUNT, 40);
        for v in 0..STATUS_COUNT {
            let s = Status::from_raw(v).unwrap();
            assert_eq!(s as i32, v);
            assert!(s.text_with_nul().ends_with('\0'));
        }
        assert_eq!(Status::from_raw(40), None);
        assert_eq!(Status::from_raw(-1), None);
    }
}
