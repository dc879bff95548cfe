//! The thread-local last error (`nats_GetLastError`, `nats_GetLastErrorStack`).
//!
//! As in cnats, a successful call leaves the last error alone: it describes the most recent
//! failure on this thread.

use std::cell::RefCell;
use std::ffi::{c_char, CString};

use super::types::natsStatus;
use crate::core::status::{Error, Status};

/// cnats keeps at most 256 bytes of error text (including the NUL).
const MAX_TEXT: usize = 255;

pub(crate) struct LastError {
    pub status: Status,
    pub text: CString,
    pub stack: Vec<&'static str>,
}

thread_local! {
    pub(crate) static LAST: RefCell<LastError> =
        RefCell::new(LastError { status: Status::Ok, text: CString::default(), stack: Vec::new() });
}

/// Records `e` as this thread's last error, raised in `func`; returns its status code.
pub(crate) fn record(func: &'static str, e: &Error) -> natsStatus {
    let mut text = e.message().replace('\0', " ");
    if text.len() > MAX_TEXT {
        let mut cut = MAX_TEXT - 3;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str("...");
    }
    let _ = LAST.try_with(|l| {
        let mut l = l.borrow_mut();
        l.status = e.status;
        l.text = CString::new(text).unwrap_or_default();
        l.stack.clear();
        l.stack.push(func);
    });
    e.status as natsStatus
}

/// The last error's status and a pointer to its text (NULL when there is none).
pub(crate) fn last() -> (natsStatus, *const c_char) {
    LAST.try_with(|l| {
        let l = l.borrow();
        if l.status == Status::Ok {
            (0, std::ptr::null())
        } else {
            (l.status as natsStatus, l.text.as_ptr())
        }
    })
    .unwrap_or((0, std::ptr::null()))
}

/// The stack as cnats formats it: one function name a line.
pub(crate) fn stack_text() -> Option<(Status, String, Vec<&'static str>)> {
    LAST.try_with(|l| {
        let l = l.borrow();
        if l.status == Status::Ok || l.stack.is_empty() {
            None
        } else {
            Some((l.status, l.text.to_string_lossy().into_owned(), l.stack.clone()))
        }
    })
    .ok()
    .flatten()
}

/// Forgets this thread's last error (nats_ReleaseThreadMemory).
pub(crate) fn clear() {
    let _ = LAST.try_with(|l| {
        let mut l = l.borrow_mut();
        l.status = Status::Ok;
        l.text = CString::default();
        l.stack = Vec::new();
    });
}
