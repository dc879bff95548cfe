//! natsMsg, natsMsgHeader_*, natsHeader_* and natsMsgList.

use std::ffi::{c_char, c_int, CString};

use super::types::*;
use super::{check_arg, data_slice, guard, guard_or, malloc_array, opt_str};
use crate::core::headers::Headers;
use crate::core::msg::Msg;
use crate::core::status::{Error, Status};

/// Gives the caller ownership of a message.
pub(crate) fn msg_into_raw(m: Box<Msg>) -> *mut natsMsg {
    Box::into_raw(m) as *mut natsMsg
}

/// Borrows the message behind a handle.
///
/// # Safety
/// `msg` is NULL or a live message handle not used concurrently by another thread.
pub(crate) unsafe fn msg_mut<'a>(msg: *mut natsMsg) -> Result<&'a mut Msg, Error> {
    if msg.is_null() {
        return Err(Error::new(Status::InvalidArg));
    }
    // SAFETY: per the contract, `msg` came from Box::into_raw of a Box<Msg>.
    Ok(unsafe { &mut *(msg as *mut Msg) })
}

/// NUL-terminated copies of the headers, handed out to C; rebuilt after any change.
struct HeaderView {
    entries: Vec<(CString, Vec<Option<CString>>)>,
}

impl HeaderView {
    fn build(h: &Headers) -> HeaderView {
        let entries = h
            .iter()
            .map(|(k, vals)| {
                let vs = vals
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        if h.is_null_value(k, i) {
                            None
                        } else {
                            Some(CString::new(v.replace('\0', " ")).unwrap_or_default())
                        }
                    })
                    .collect();
                (CString::new(k.replace('\0', " ")).unwrap_or_default(), vs)
            })
            .collect();
        HeaderView { entries }
    }

    fn find(&self, key: &str) -> Option<&Vec<Option<CString>>> {
        self.entries.iter().find(|(k, _)| k.as_bytes() == key.as_bytes()).map(|(_, v)| v)
    }
}

fn vptr(v: &Option<CString>) -> *const c_char {
    v.as_ref().map_or(std::ptr::null(), |c| c.as_ptr())
}

/// The C view of a message's headers (None when it has none).
fn msg_view(m: &mut Msg) -> Option<&HeaderView> {
    let h = m.headers()?.clone();
    let cache = m.ffi_cache_mut();
    if cache.as_ref().is_none_or(|c| !c.is::<HeaderView>()) {
        *cache = Some(Box::new(HeaderView::build(&h)));
    }
    cache.as_ref().and_then(|c| c.downcast_ref::<HeaderView>())
}

fn key_arg<'a>(key: *const c_char) -> Result<&'a str, Error> {
    // SAFETY: NULL or a NUL-terminated string from the caller.
    match unsafe { opt_str(key) }? {
        Some(k) if !k.is_empty() => Ok(k),
        _ => Err(Error::with_text(Status::InvalidArg, "key cannot be NULL nor empty")),
    }
}

/// Creates a message to publish; `reply` may be NULL, `data` may be NULL with 0.
/// The caller releases it with natsMsg_Destroy.
#[no_mangle]
pub unsafe extern "C" fn natsMsg_Create(
    newMsg: *mut *mut natsMsg,
    subj: *const c_char,
    reply: *const c_char,
    data: *const c_char,
    dataLen: c_int,
) -> natsStatus {
    guard("natsMsg_Create", || {
        check_arg!(!newMsg.is_null());
        // SAFETY: NULL or NUL-terminated strings from the caller.
        let s = unsafe { super::opt_bytes(subj) };
        // SAFETY: as above.
        let r = unsafe { super::opt_bytes(reply) };
        check_arg!(s.is_some_and(|s| !s.is_empty()) && r.is_none_or(|r| !r.is_empty()));
        // SAFETY: `data` has `dataLen` readable bytes when non-NULL.
        let d = unsafe { data_slice(data as *const _, dataLen) }?;
        let m = Msg::new(s.unwrap_or_default(), r, d);
        // SAFETY: checked non-NULL out-pointer.
        unsafe { *newMsg = msg_into_raw(m) };
        Ok(())
    })
}

/// The subject (owned by the message; NULL for NULL).
#[no_mangle]
pub unsafe extern "C" fn natsMsg_GetSubject(msg: *const natsMsg) -> *const c_char {
    guard_or("natsMsg_GetSubject", std::ptr::null(), || {
        // SAFETY: NULL or a live message.
        match unsafe { (msg as *const Msg).as_ref() } {
            Some(m) => m.subject_ptr() as *const c_char,
            None => std::ptr::null(),
        }
    })
}

/// The reply subject, or NULL if the message has none.
#[no_mangle]
pub unsafe extern "C" fn natsMsg_GetReply(msg: *const natsMsg) -> *const c_char {
    guard_or("natsMsg_GetReply", std::ptr::null(), || {
        // SAFETY: NULL or a live message.
        match unsafe { (msg as *const Msg).as_ref() } {
            Some(m) => m.reply_ptr().map_or(std::ptr::null(), |p| p as *const c_char),
            None => std::ptr::null(),
        }
    })
}

/// The payload, followed by a NUL byte (owned by the message; NULL for NULL).
#[no_mangle]
pub unsafe extern "C" fn natsMsg_GetData(msg: *const natsMsg) -> *const c_char {
    guard_or("natsMsg_GetData", std::ptr::null(), || {
        // SAFETY: NULL or a live message.
        match unsafe { (msg as *const Msg).as_ref() } {
            Some(m) => m.data_ptr() as *const c_char,
            None => std::ptr::null(),
        }
    })
}

/// The payload length in bytes (0 for NULL).
#[no_mangle]
pub unsafe extern "C" fn natsMsg_GetDataLength(msg: *const natsMsg) -> c_int {
    guard_or("natsMsg_GetDataLength", 0, || {
        // SAFETY: NULL or a live message.
        unsafe { (msg as *const Msg).as_ref() }.map_or(0, |m| m.data().len() as c_int)
    })
}

/// True when the message is the server's "no responders" notice (status 503, no data).
#[no_mangle]
pub unsafe extern "C" fn natsMsg_IsNoResponders(msg: *mut natsMsg) -> bool {
    // SAFETY: NULL or a live message.
    guard_or("natsMsg_IsNoResponders", false, || unsafe { msg_mut(msg) }.is_ok_and(|m| m.is_no_responders()))
}

/// Releases a message (NULL is ignored).
#[no_mangle]
pub unsafe extern "C" fn natsMsg_Destroy(msg: *mut natsMsg) {
    guard_or("natsMsg_Destroy", (), || {
        if !msg.is_null() {
            // SAFETY: created by this library with Box::into_raw.
            drop(unsafe { Box::from_raw(msg as *mut Msg) });
        }
    })
}

/// Sets a header, replacing its values. `value` may be NULL.
#[no_mangle]
pub unsafe extern "C" fn natsMsgHeader_Set(msg: *mut natsMsg, key: *const c_char, value: *const c_char) -> natsStatus {
    guard("natsMsgHeader_Set", || {
        // SAFETY: NULL or a live message.
        let m = unsafe { msg_mut(msg) }?;
        let k = key_arg(key)?;
        // SAFETY: NULL or a NUL-terminated string.
        let v = unsafe { opt_str(value) }?;
        m.headers_mut().set_opt(k, v);
        Ok(())
    })
}

/// Adds a value to a header. `value` may be NULL.
#[no_mangle]
pub unsafe extern "C" fn natsMsgHeader_Add(msg: *mut natsMsg, key: *const c_char, value: *const c_char) -> natsStatus {
    guard("natsMsgHeader_Add", || {
        // SAFETY: NULL or a live message.
        let m = unsafe { msg_mut(msg) }?;
        let k = key_arg(key)?;
        // SAFETY: NULL or a NUL-terminated string.
        let v = unsafe { opt_str(value) }?;
        m.headers_mut().add_opt(k, v);
        Ok(())
    })
}

/// The first value of a header (owned by the message, valid until the header changes or
/// the message is destroyed). NATS_NOT_FOUND when absent (not recorded as an error).
#[no_mangle]
pub unsafe extern "C" fn natsMsgHeader_Get(msg: *mut natsMsg, key: *const c_char, value: *mut *const c_char) -> natsStatus {
    let mut nf = false;
    let s = guard("natsMsgHeader_Get", || {
        // SAFETY: NULL or a live message.
        let m = unsafe { msg_mut(msg) }?;
        let k = key_arg(key)?;
        check_arg!(!value.is_null(), "value cannot be NULL");
        // SAFETY: checked non-NULL out-pointer.
        unsafe { *value = std::ptr::null() };
        match msg_view(m).and_then(|v| v.find(k)).and_then(|vs| vs.first()) {
            Some(v) => {
                // SAFETY: checked non-NULL out-pointer.
                unsafe { *value = vptr(v) };
                Ok(())
            }
            None => {
                nf = true;
                Ok(())
            }
        }
    });
    if nf {
        Status::NotFound as natsStatus
    } else {
        s
    }
}

/// All values of a header in an array the caller frees with free() (not the strings).
/// NATS_NOT_FOUND when absent.
#[no_mangle]
pub unsafe extern "C" fn natsMsgHeader_Values(
    msg: *mut natsMsg,
    key: *const c_char,
    values: *mut *mut *const c_char,
    count: *mut c_int,
) -> natsStatus {
    let mut nf = false;
    let s = guard("natsMsgHeader_Values", || {
        // SAFETY: NULL or a live message.
        let m = unsafe { msg_mut(msg) }?;
        let k = key_arg(key)?;
        check_arg!(!values.is_null() && !count.is_null());
        // SAFETY: checked non-NULL out-pointers.
        unsafe {
            *values = std::ptr::null_mut();
            *count = 0;
        }
        let Some(vs) = msg_view(m).and_then(|v| v.find(k)) else {
            nf = true;
            return Ok(());
        };
        let ptrs: Vec<*const c_char> = vs.iter().map(vptr).collect();
        let arr = malloc_array(&ptrs)?;
        // SAFETY: checked non-NULL out-pointers.
        unsafe {
            *values = arr;
            *count = ptrs.len() as c_int;
        }
        Ok(())
    });
    if nf {
        Status::NotFound as natsStatus
    } else {
        s
    }
}

/// All header keys in an array the caller frees with free() (not the strings).
/// NATS_NOT_FOUND when the message has no headers.
#[no_mangle]
pub unsafe extern "C" fn natsMsgHeader_Keys(msg: *mut natsMsg, keys: *mut *mut *const c_char, count: *mut c_int) -> natsStatus {
    let mut nf = false;
    let s = guard("natsMsgHeader_Keys", || {
        // SAFETY: NULL or a live message.
        let m = unsafe { msg_mut(msg) }?;
        check_arg!(!keys.is_null() && !count.is_null());
        // SAFETY: checked non-NULL out-pointers.
        unsafe {
            *keys = std::ptr::null_mut();
            *count = 0;
        }
        let ptrs: Vec<*const c_char> = match msg_view(m) {
            Some(v) if !v.entries.is_empty() => v.entries.iter().map(|(k, _)| k.as_ptr()).collect(),
            _ => {
                nf = true;
                return Ok(());
            }
        };
        let arr = malloc_array(&ptrs)?;
        // SAFETY: checked non-NULL out-pointers.
        unsafe {
            *keys = arr;
            *count = ptrs.len() as c_int;
        }
        Ok(())
    });
    if nf {
        Status::NotFound as natsStatus
    } else {
        s
    }
}

/// Removes a header. NATS_NOT_FOUND when absent.
#[no_mangle]
pub unsafe extern "C" fn natsMsgHeader_Delete(msg: *mut natsMsg, key: *const c_char) -> natsStatus {
    let mut nf = false;
    let s = guard("natsMsgHeader_Delete", || {
        // SAFETY: NULL or a live message.
        let m = unsafe { msg_mut(msg) }?;
        let k = key_arg(key)?;
        let present = m.headers().is_some_and(|h| h.values(k).is_some());
        if !present {
            nf = true;
            return Ok(());
        }
        m.headers_mut().delete(k);
        Ok(())
    });
    if nf {
        Status::NotFound as natsStatus
    } else {
        s
    }
}

/// Releases the messages of a list and its array, and resets the list (NULL is ignored).
#[no_mangle]
pub unsafe extern "C" fn natsMsgList_Destroy(list: *mut natsMsgList) {
    guard_or("natsMsgList_Destroy", (), || {
        // SAFETY: NULL or a list filled by this library.
        let Some(l) = (unsafe { list.as_mut() }) else { return };
        if !l.Msgs.is_null() {
            for i in 0..l.Count.max(0) as usize {
                // SAFETY: the array holds `Count` message handles (or NULLs).
                unsafe { natsMsg_Destroy(*l.Msgs.add(i)) };
            }
            // SAFETY: the array was allocated with malloc by this library.
            unsafe { libc::free(l.Msgs as *mut libc::c_void) };
        }
        l.Msgs = std::ptr::null_mut();
        l.Count = 0;
    })
}

/// A standalone header set.
struct HeaderHandle {
    headers: Headers,
    view: Option<HeaderView>,
}

impl HeaderHandle {
    fn view(&mut self) -> &HeaderView {
        if self.view.is_none() {
            self.view = Some(HeaderView::build(&self.headers));
        }
        self.view.get_or_insert_with(|| HeaderView { entries: Vec::new() })
    }
}

unsafe fn hdr_mut<'a>(h: *mut natsHeader) -> Result<&'a mut HeaderHandle, Error> {
    if h.is_null() {
        return Err(Error::new(Status::InvalidArg));
    }
    // SAFETY: created by natsHeader_New with Box::into_raw.
    Ok(unsafe { &mut *(h as *mut HeaderHandle) })
}

/// Creates an empty header set; release it with natsHeader_Destroy.
#[no_mangle]
pub unsafe extern "C" fn natsHeader_New(new_header: *mut *mut natsHeader) -> natsStatus {
    guard("natsHeader_New", || {
        check_arg!(!new_header.is_null());
        let h = Box::new(HeaderHandle { headers: Headers::new(), view: None });
        // SAFETY: checked non-NULL out-pointer.
        unsafe { *new_header = Box::into_raw(h) as *mut natsHeader };
        Ok(())
    })
}

/// Sets a header, replacing its values (`value` may be empty, not NULL).
#[no_mangle]
pub unsafe extern "C" fn natsHeader_Set(h: *mut natsHeader, key: *const c_char, value: *const c_char) -> natsStatus {
    guard("natsHeader_Set", || {
        // SAFETY: NULL or a live header set.
        let hh = unsafe { hdr_mut(h) }?;
        let k = key_arg(key)?;
        // cnats: the value may be empty but not NULL.
        check_arg!(!value.is_null());
        // SAFETY: a NUL-terminated string.
        let v = unsafe { opt_str(value) }?;
        hh.headers.set_opt(k, v);
        hh.view = None;
        Ok(())
    })
}

/// Adds a value to a header (`value` may be empty, not NULL).
#[no_mangle]
pub unsafe extern "C" fn natsHeader_Add(h: *mut natsHeader, key: *const c_char, value: *const c_char) -> natsStatus {
    guard("natsHeader_Add", || {
        // SAFETY: NULL or a live header set.
        let hh = unsafe { hdr_mut(h) }?;
        let k = key_arg(key)?;
        // cnats: the value may be empty but not NULL.
        check_arg!(!value.is_null());
        // SAFETY: a NUL-terminated string.
        let v = unsafe { opt_str(value) }?;
        hh.headers.add_opt(k, v);
        hh.view = None;
        Ok(())
    })
}

/// The first value of a header (owned by the set). NATS_NOT_FOUND when absent.
#[no_mangle]
pub unsafe extern "C" fn natsHeader_Get(h: *mut natsHeader, key: *const c_char, value: *mut *const c_char) -> natsStatus {
    let mut nf = false;
    let s = guard("natsHeader_Get", || {
        // SAFETY: NULL or a live header set.
        let hh = unsafe { hdr_mut(h) }?;
        let k = key_arg(key)?;
        check_arg!(!value.is_null(), "value cannot be NULL");
        // SAFETY: checked non-NULL out-pointer.
        unsafe { *value = std::ptr::null() };
        match hh.view().find(k).and_then(|vs| vs.first()) {
            // SAFETY: checked non-NULL out-pointer.
            Some(v) => unsafe { *value = vptr(v) },
            None => nf = true,
        }
        Ok(())
    });
    if nf {
        Status::NotFound as natsStatus
    } else {
        s
    }
}

/// All values of a header in an array the caller frees with free(). NATS_NOT_FOUND when
/// absent.
#[no_mangle]
pub unsafe extern "C" fn natsHeader_Values(
    h: *mut natsHeader,
    key: *const c_char,
    values: *mut *mut *const c_char,
    count: *mut c_int,
) -> natsStatus {
    let mut nf = false;
    let s = guard("natsHeader_Values", || {
        // SAFETY: NULL or a live header set.
        let hh = unsafe { hdr_mut(h) }?;
        let k = key_arg(key)?;
        check_arg!(!values.is_null() && !count.is_null());
        let Some(vs) = hh.view().find(k) else {
            nf = true;
            return Ok(());
        };
        let ptrs: Vec<*const c_char> = vs.iter().map(vptr).collect();
        let arr = malloc_array(&ptrs)?;
        // SAFETY: checked non-NULL out-pointers.
        unsafe {
            *values = arr;
            *count = ptrs.len() as c_int;
        }
        Ok(())
    });
    if nf {
        Status::NotFound as natsStatus
    } else {
        s
    }
}

/// All keys in an array the caller frees with free(). NATS_NOT_FOUND when empty.
#[no_mangle]
pub unsafe extern "C" fn natsHeader_Keys(h: *mut natsHeader, keys: *mut *mut *const c_char, count: *mut c_int) -> natsStatus {
    let mut nf = false;
    let s = guard("natsHeader_Keys", || {
        // SAFETY: NULL or a live header set.
        let hh = unsafe { hdr_mut(h) }?;
        check_arg!(!keys.is_null() && !count.is_null());
        let v = hh.view();
        if v.entries.is_empty() {
            nf = true;
            return Ok(());
        }
        let ptrs: Vec<*const c_char> = v.entries.iter().map(|(k, _)| k.as_ptr()).collect();
        let arr = malloc_array(&ptrs)?;
        // SAFETY: checked non-NULL out-pointers.
        unsafe {
            *keys = arr;
            *count = ptrs.len() as c_int;
        }
        Ok(())
    });
    if nf {
        Status::NotFound as natsStatus
    } else {
        s
    }
}

/// Number of keys (0 for NULL).
#[no_mangle]
pub unsafe extern "C" fn natsHeader_KeysCount(h: *mut natsHeader) -> c_int {
    // SAFETY: NULL or a live header set.
    guard_or("natsHeader_KeysCount", 0, || unsafe { hdr_mut(h) }.map_or(0, |hh| hh.headers.len() as c_int))
}

/// Removes a header. NATS_NOT_FOUND when absent.
#[no_mangle]
pub unsafe extern "C" fn natsHeader_Delete(h: *mut natsHeader, key: *const c_char) -> natsStatus {
    let mut nf = false;
    let s = guard("natsHeader_Delete", || {
        // SAFETY: NULL or a live header set.
        let hh = unsafe { hdr_mut(h) }?;
        let k = key_arg(key)?;
        if !hh.headers.delete(k) {
            nf = true;
        }
        hh.view = None;
        Ok(())
    });
    if nf {
        Status::NotFound as natsStatus
    } else {
        s
    }
}

/// Releases a header set (NULL is ignored).
#[no_mangle]
pub unsafe extern "C" fn natsHeader_Destroy(h: *mut natsHeader) {
    guard_or("natsHeader_Destroy", (), || {
        if !h.is_null() {
            // SAFETY: created by natsHeader_New with Box::into_raw.
            drop(unsafe { Box::from_raw(h as *mut HeaderHandle) });
        }
    })
}
