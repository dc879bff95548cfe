//! The C ABI: thin wrappers that check their arguments, call the core and map errors.
//!
//! Every exported body runs inside [`guard`] (or [`guard_or`]) so that no panic crosses into
//! C; every failure is recorded in the calling thread's last error, as cnats does.
#![allow(non_snake_case, non_camel_case_types, clippy::missing_safety_doc)]

pub mod conn;
pub mod error;
pub mod msg;
pub mod nats;
pub mod opts;
pub mod sub;
pub mod types;

use std::ffi::{c_char, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::core::status::{Error, Status};
pub use types::*;

/// Runs an exported body that returns a status. Errors are recorded as the thread's last
/// error with `func` as the stack frame; a panic becomes `NATS_ERR`.
pub(crate) fn guard(func: &'static str, f: impl FnOnce() -> Result<(), Error>) -> natsStatus {
    nats::ensure_open();
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => NATS_OK,
        Ok(Err(e)) => error::record(func, &e),
        Err(_) => error::record(func, &Error::with_text(Status::Err, "internal error (panic) in the NATS library")),
    }
}

/// Runs an exported body that returns a plain value; a panic yields `fallback`.
pub(crate) fn guard_or<R>(func: &'static str, fallback: R, f: impl FnOnce() -> R) -> R {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(_) => {
            error::record(func, &Error::with_text(Status::Err, "internal error (panic) in the NATS library"));
            fallback
        }
    }
}

/// Fails with `NATS_INVALID_ARG` unless the condition holds.
macro_rules! check_arg {
    ($cond:expr) => {
        if !($cond) {
            return Err($crate::core::status::Error::new($crate::core::status::Status::InvalidArg));
        }
    };
    ($cond:expr, $text:expr) => {
        if !($cond) {
            return Err($crate::core::status::Error::with_text($crate::core::status::Status::InvalidArg, $text));
        }
    };
}
pub(crate) use check_arg;

/// Borrows a C string as UTF-8 text; NULL gives `None`.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string that outlives the returned borrow.
pub(crate) unsafe fn opt_str<'a>(p: *const c_char) -> Result<Option<&'a str>, Error> {
    if p.is_null() {
        return Ok(None);
    }
    // SAFETY: the caller guarantees a NUL-terminated string.
    let c = unsafe { CStr::from_ptr(p) };
    c.to_str().map(Some).map_err(|_| Error::with_text(Status::InvalidArg, "string is not valid UTF-8"))
}

/// Borrows a C string as bytes; NULL gives `None`.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string that outlives the returned borrow.
pub(crate) unsafe fn opt_bytes<'a>(p: *const c_char) -> Option<&'a [u8]> {
    if p.is_null() {
        None
    } else {
        // SAFETY: the caller guarantees a NUL-terminated string.
        Some(unsafe { CStr::from_ptr(p) }.to_bytes())
    }
}

/// Borrows `(data, len)` as a byte slice; a zero length (data NULL or not) gives an empty
/// slice. A negative length, or NULL data with a positive length, is `NATS_INVALID_ARG`
/// (cnats would read `len` bytes from NULL).
///
/// # Safety
/// When `len > 0` and `data` is not NULL, `data` points to `len` readable bytes.
pub(crate) unsafe fn data_slice<'a>(data: *const std::ffi::c_void, len: std::ffi::c_int) -> Result<&'a [u8], Error> {
    if len < 0 {
        return Err(Error::with_text(Status::InvalidArg, "data length cannot be negative"));
    }
    if len == 0 {
        return Ok(&[]);
    }
    if data.is_null() {
        return Err(Error::with_text(Status::InvalidArg, "data cannot be NULL when its length is not 0"));
    }
    // SAFETY: the caller guarantees `len` readable bytes at `data`.
    Ok(unsafe { std::slice::from_raw_parts(data as *const u8, len as usize) })
}

/// Copies `s` with a terminating NUL into `buf` of `cap` bytes, cnats-style: too small a
/// buffer gives `NATS_INSUFFICIENT_BUFFER`.
///
/// # Safety
/// `buf` points to `cap` writable bytes.
pub(crate) unsafe fn copy_to_buf(s: &str, buf: *mut c_char, cap: usize) -> Result<(), Error> {
    if s.len() >= cap {
        return Err(Error::new(Status::InsufficientBuffer));
    }
    // SAFETY: `s.len() + 1 <= cap` bytes are writable at `buf`.
    unsafe {
        std::ptr::copy_nonoverlapping(s.as_ptr(), buf as *mut u8, s.len());
        *buf.add(s.len()) = 0;
    }
    Ok(())
}

/// Duplicates a string into memory from `malloc`, for strings the caller frees with `free()`.
pub(crate) fn malloc_str(s: &str) -> Result<*mut c_char, Error> {
    // SAFETY: malloc with a non-zero size; the result is checked for NULL before use.
    let p = unsafe { libc::malloc(s.len() + 1) } as *mut c_char;
    if p.is_null() {
        return Err(Error::new(Status::NoMemory));
    }
    // SAFETY: `p` has `s.len() + 1` writable bytes.
    unsafe {
        std::ptr::copy_nonoverlapping(s.as_ptr(), p as *mut u8, s.len());
        *p.add(s.len()) = 0;
    }
    Ok(p)
}

/// An array from `malloc` holding `ptrs`, for arrays the caller frees with `free()`.
pub(crate) fn malloc_array<T: Copy>(items: &[T]) -> Result<*mut T, Error> {
    let n = items.len().max(1);
    // SAFETY: malloc with a non-zero size; checked for NULL before use.
    let p = unsafe { libc::malloc(n * std::mem::size_of::<T>()) } as *mut T;
    if p.is_null() {
        return Err(Error::new(Status::NoMemory));
    }
    // SAFETY: `p` has room for `items.len()` elements.
    unsafe { std::ptr::copy_nonoverlapping(items.as_ptr(), p, items.len()) };
    Ok(p)
}
