//! natsSubscription: next message, unsubscribe, limits, statistics, drain, destroy.

use std::ffi::{c_char, c_int, c_void};
use std::mem::ManuallyDrop;
use std::sync::Arc;

use super::conn::conn_ptr;
use super::msg::msg_into_raw;
use super::opts::CCallback;
use super::types::*;
use super::{check_arg, guard, guard_or};
use crate::core::status::{Error, Status};
use crate::core::sub::Sub;

/// The handle a C caller sees for a subscription: the address of the shared `Sub`.
pub(crate) fn sub_ptr(s: &Arc<Sub>) -> *mut natsSubscription {
    Arc::as_ptr(s) as *mut natsSubscription
}

/// Gives the caller a reference of its own to `s`.
pub(crate) fn sub_into_raw(s: Arc<Sub>) -> *mut natsSubscription {
    Arc::into_raw(s) as *mut natsSubscription
}

/// Borrows the subscription behind a handle, as an `Arc` that must not be dropped.
///
/// # Safety
/// `sub` is NULL or a handle not yet destroyed (or one passed to a callback).
unsafe fn sub_ref(sub: *mut natsSubscription) -> Result<ManuallyDrop<Arc<Sub>>, Error> {
    if sub.is_null() {
        return Err(Error::new(Status::InvalidArg));
    }
    // SAFETY: per the contract, `sub` came from Arc::into_raw of an Arc<Sub>; ManuallyDrop
    // keeps the user's reference count untouched.
    Ok(ManuallyDrop::new(unsafe { Arc::from_raw(sub as *const Sub) }))
}

/// No effect: this library always delivers as soon as a message is read. Deprecated in cnats.
#[no_mangle]
pub unsafe extern "C" fn natsSubscription_NoDeliveryDelay(sub: *mut natsSubscription) -> natsStatus {
    guard("natsSubscription_NoDeliveryDelay", || {
        // SAFETY: NULL or a live handle.
        unsafe { sub_ref(sub) }.map(|_| ())
    })
}

/// Waits up to `timeout` ms for the next message of a synchronous subscription; the caller
/// owns the message. NATS_TIMEOUT when none came; NATS_MAX_DELIVERED_MSGS after an
/// auto-unsubscribe limit; NATS_SLOW_CONSUMER once after messages were dropped.
#[no_mangle]
pub unsafe extern "C" fn natsSubscription_NextMsg(nextMsg: *mut *mut natsMsg, sub: *mut natsSubscription, timeout: i64) -> natsStatus {
    guard("natsSubscription_NextMsg", || {
        check_arg!(!nextMsg.is_null());
        // SAFETY: NULL or a live handle.
        let s = unsafe { sub_ref(sub) }?;
        let m = s.next_msg(timeout)?;
        // SAFETY: checked non-NULL out-pointer.
        unsafe { *nextMsg = msg_into_raw(m) };
        Ok(())
    })
}

/// Removes interest; no message is delivered afterwards. The handle stays valid until
/// natsSubscription_Destroy.
#[no_mangle]
pub unsafe extern "C" fn natsSubscription_Unsubscribe(sub: *mut natsSubscription) -> natsStatus {
    guard("natsSubscription_Unsubscribe", || {
        // SAFETY: NULL or a live handle.
        let s = unsafe { sub_ref(sub) }?;
        s.conn.unsubscribe(&s, 0)
    })
}

/// Unsubscribes automatically once `max` messages in total have been received.
#[no_mangle]
pub unsafe extern "C" fn natsSubscription_AutoUnsubscribe(sub: *mut natsSubscription, max: c_int) -> natsStatus {
    guard("natsSubscription_AutoUnsubscribe", || {
        // SAFETY: NULL or a live handle.
        let s = unsafe { sub_ref(sub) }?;
        s.conn.unsubscribe(&s, max.max(0) as u64)
    })
}

/// Number of messages waiting to be delivered. Deprecated in cnats for GetPending.
#[no_mangle]
pub unsafe extern "C" fn natsSubscription_QueuedMsgs(sub: *mut natsSubscription, queuedMsgs: *mut u64) -> natsStatus {
    guard("natsSubscription_QueuedMsgs", || {
        check_arg!(!queuedMsgs.is_null());
        // SAFETY: NULL or a live handle.
        let n = unsafe { sub_ref(sub) }?.with_state(|st| st.pending_msgs)?;
        // SAFETY: checked non-NULL out-pointer.
        unsafe { *queuedMsgs = n.max(0) as u64 };
        Ok(())
    })
}

/// The connection the subscription belongs to (not a new reference).
#[no_mangle]
pub unsafe extern "C" fn natsSubscription_GetConnection(sub: *mut natsSubscription) -> *mut natsConnection {
    guard_or("natsSubscription_GetConnection", std::ptr::null_mut(), || {
        // SAFETY: NULL or a live handle.
        unsafe { sub_ref(sub) }.map_or(std::ptr::null_mut(), |s| conn_ptr(&s.conn))
    })
}

/// The subscription id (0 for NULL or a closed subscription).
#[no_mangle]
pub unsafe extern "C" fn natsSubscription_GetID(sub: *mut natsSubscription) -> i64 {
    guard_or("natsSubscription_GetID", 0, || {
        // SAFETY: NULL or a live handle.
        unsafe { sub_ref(sub) }.map_or(0, |s| if s.is_valid() { s.sid as i64 } else { 0 })
    })
}

/// The subject (owned by the subscription; NULL for NULL or a closed subscription).
#[no_mangle]
pub unsafe extern "C" fn natsSubscription_GetSubject(sub: *mut natsSubscription) -> *const c_char {
    guard_or("natsSubscription_GetSubject", std::ptr::null(), || {
        // SAFETY: NULL or a live handle; the string lives as long as the Sub.
        unsafe { sub_ref(sub) }.map_or(std::ptr::null(), |s| if s.is_valid() { s.subject_c.as_ptr() } else { std::ptr::null() })
    })
}

/// Sets the pending limits (messages, bytes): each must be > 0, or negative for no limit.
#[no_mangle]
pub unsafe extern "C" fn natsSubscription_SetPendingLimits(sub: *mut natsSubscription, msgLimit: c_int, bytesLimit: c_int) -> natsStatus {
    guard("natsSubscription_SetPendingLimits", || {
        // SAFETY: NULL or a live handle.
        let s = unsafe { sub_ref(sub) }?;
        check_arg!(msgLimit != 0 && bytesLimit != 0, "Limits must be either > 0 or negative to specify no limit");
        s.with_state(|st| {
            st.limit_msgs = msgLimit;
            st.limit_bytes = bytesLimit as i64;
        })
    })
}

/// Reads the pending limits; either out-pointer may be NULL.
#[no_mangle]
pub unsafe extern "C" fn natsSubscription_GetPendingLimits(sub: *mut natsSubscription, msgLimit: *mut c_int, bytesLimit: *mut c_int) -> natsStatus {
    guard("natsSubscription_GetPendingLimits", || {
        // SAFETY: NULL or a live handle.
        let (m, b) = unsafe { sub_ref(sub) }?.with_state(|st| (st.limit_msgs, st.limit_bytes))?;
        // SAFETY: non-NULL out-pointers from the caller.
        unsafe {
            if !msgLimit.is_null() {
                *msgLimit = m;
            }
            if !bytesLimit.is_null() {
                *bytesLimit = b.clamp(c_int::MIN as i64, c_int::MAX as i64) as c_int;
            }
        }
        Ok(())
    })
}

fn write_int(p: *mut c_int, v: i64) {
    if !p.is_null() {
        // SAFETY: non-NULL out-pointer from the caller.
        unsafe { *p = v.clamp(c_int::MIN as i64, c_int::MAX as i64) as c_int };
    }
}

fn write_i64(p: *mut i64, v: i64) {
    if !p.is_null() {
        // SAFETY: non-NULL out-pointer from the caller.
        unsafe { *p = v };
    }
}

/// Messages and bytes waiting to be delivered; either out-pointer may be NULL.
#[no_mangle]
pub unsafe extern "C" fn natsSubscription_GetPending(sub: *mut natsSubscription, msgs: *mut c_int, bytes: *mut c_int) -> natsStatus {
    guard("natsSubscription_GetPending", || {
        // SAFETY: NULL or a live handle.
        let (m, b) = unsafe { sub_ref(sub) }?.with_state(|st| (st.pending_msgs, st.pending_bytes))?;
        write_int(msgs, m as i64);
        write_int(bytes, b);
        Ok(())
    })
}

/// Messages delivered so far.
#[no_mangle]
pub unsafe extern "C" fn natsSubscription_GetDelivered(sub: *mut natsSubscription, msgs: *mut i64) -> natsStatus {
    guard("natsSubscription_GetDelivered", || {
        check_arg!(!msgs.is_null());
        // SAFETY: NULL or a live handle.
        let d = unsafe { sub_ref(sub) }?.with_state(|st| st.delivered)?;
        write_i64(msgs, d as i64);
        Ok(())
    })
}

/// Messages dropped because the pending limits were reached.
#[no_mangle]
pub unsafe extern "C" fn natsSubscription_GetDropped(sub: *mut natsSubscription, msgs: *mut i64) -> natsStatus {
    guard("natsSubscription_GetDropped", || {
        check_arg!(!msgs.is_null());
        // SAFETY: NULL or a live handle.
        let d = unsafe { sub_ref(sub) }?.with_state(|st| st.dropped)?;
        write_i64(msgs, d);
        Ok(())
    })
}

/// The highest pending messages and bytes seen; either out-pointer may be NULL.
#[no_mangle]
pub unsafe extern "C" fn natsSubscription_GetMaxPending(sub: *mut natsSubscription, msgs: *mut c_int, bytes: *mut c_int) -> natsStatus {
    guard("natsSubscription_GetMaxPending", || {
        // SAFETY: NULL or a live handle.
        let (m, b) = unsafe { sub_ref(sub) }?.with_state(|st| (st.max_pending_msgs, st.max_pending_bytes))?;
        write_int(msgs, m as i64);
        write_int(bytes, b);
        Ok(())
    })
}

/// Resets the highest pending values.
#[no_mangle]
pub unsafe extern "C" fn natsSubscription_ClearMaxPending(sub: *mut natsSubscription) -> natsStatus {
    guard("natsSubscription_ClearMaxPending", || {
        // SAFETY: NULL or a live handle.
        unsafe { sub_ref(sub) }?.with_state(|st| {
            st.max_pending_msgs = 0;
            st.max_pending_bytes = 0;
        })
    })
}

/// All statistics at once; any out-pointer may be NULL.
#[no_mangle]
pub unsafe extern "C" fn natsSubscription_GetStats(
    sub: *mut natsSubscription,
    pendingMsgs: *mut c_int,
    pendingBytes: *mut c_int,
    maxPendingMsgs: *mut c_int,
    maxPendingBytes: *mut c_int,
    deliveredMsgs: *mut i64,
    droppedMsgs: *mut i64,
) -> natsStatus {
    guard("natsSubscription_GetStats", || {
        // SAFETY: NULL or a live handle.
        let v = unsafe { sub_ref(sub) }?.with_state(|st| {
            (st.pending_msgs, st.pending_bytes, st.max_pending_msgs, st.max_pending_bytes, st.delivered, st.dropped)
        })?;
        write_int(pendingMsgs, v.0 as i64);
        write_int(pendingBytes, v.1);
        write_int(maxPendingMsgs, v.2 as i64);
        write_int(maxPendingBytes, v.3);
        write_i64(deliveredMsgs, v.4 as i64);
        write_i64(droppedMsgs, v.5);
        Ok(())
    })
}

/// True while the subscription can still receive messages.
#[no_mangle]
pub unsafe extern "C" fn natsSubscription_IsValid(sub: *mut natsSubscription) -> bool {
    // SAFETY: NULL or a live handle.
    guard_or("natsSubscription_IsValid", false, || unsafe { sub_ref(sub) }.is_ok_and(|s| s.is_valid()))
}

/// Drains the subscription with a 30 second timeout: see natsSubscription_DrainTimeout.
#[no_mangle]
pub unsafe extern "C" fn natsSubscription_Drain(sub: *mut natsSubscription) -> natsStatus {
    guard("natsSubscription_Drain", || {
        // SAFETY: NULL or a live handle.
        let s = unsafe { sub_ref(sub) }?;
        s.conn.drain_sub(&s, 30_000)
    })
}

/// Stops interest, keeps delivering what was already received, then closes the
/// subscription. Returns at once; see natsSubscription_WaitForDrainCompletion.
/// `timeout` <= 0 means no time limit.
#[no_mangle]
pub unsafe extern "C" fn natsSubscription_DrainTimeout(sub: *mut natsSubscription, timeout: i64) -> natsStatus {
    guard("natsSubscription_DrainTimeout", || {
        // SAFETY: NULL or a live handle.
        let s = unsafe { sub_ref(sub) }?;
        s.conn.drain_sub(&s, timeout)
    })
}

/// Waits up to `timeout` ms (forever if <= 0) for a drain to complete. NATS_ILLEGAL_STATE
/// when no drain was started; NATS_TIMEOUT when it is still running.
#[no_mangle]
pub unsafe extern "C" fn natsSubscription_WaitForDrainCompletion(sub: *mut natsSubscription, timeout: i64) -> natsStatus {
    guard_or("natsSubscription_WaitForDrainCompletion", Status::Err as natsStatus, || {
        // SAFETY: NULL or a live handle.
        let s = match unsafe { sub_ref(sub) } {
            Ok(s) => s,
            Err(e) => return super::error::record("natsSubscription_WaitForDrainCompletion", &e),
        };
        match s.wait_drain(timeout) {
            Ok(()) => NATS_OK,
            Err(e) if e.status == Status::IllegalState => super::error::record("natsSubscription_WaitForDrainCompletion", &e),
            Err(e) => e.status as natsStatus,
        }
    })
}

/// How the drain ended: NATS_OK, NATS_TIMEOUT, ...; NATS_ILLEGAL_STATE until it has ended.
#[no_mangle]
pub unsafe extern "C" fn natsSubscription_DrainCompletionStatus(sub: *mut natsSubscription) -> natsStatus {
    guard_or("natsSubscription_DrainCompletionStatus", Status::Err as natsStatus, || {
        // SAFETY: NULL or a live handle.
        match unsafe { sub_ref(sub) } {
            Ok(s) => s.drain_completion_status() as natsStatus,
            Err(e) => super::error::record("natsSubscription_DrainCompletionStatus", &e),
        }
    })
}

/// Sets a callback run once when an asynchronous subscription is done (after
/// unsubscribe, drain, auto-unsubscribe or close), after its last message callback, on the
/// subscription's delivery thread.
#[no_mangle]
pub unsafe extern "C" fn natsSubscription_SetOnCompleteCB(sub: *mut natsSubscription, cb: natsOnCompleteCB, closure: *mut c_void) -> natsStatus {
    guard("natsSubscription_SetOnCompleteCB", || {
        // SAFETY: NULL or a live handle.
        let s = unsafe { sub_ref(sub) }?;
        let h = cb.map(|f| {
            let cb = CCallback { f, closure };
            // SAFETY: the user's callback with the user's closure.
            let b: crate::core::sub::CompleteCallback = Box::new(move || unsafe { (cb.func())(cb.closure()) });
            b
        });
        s.set_on_complete(h)
    })
}

/// Unsubscribes if still active, then releases the caller's handle (NULL is ignored).
/// Safe to call from the subscription's own message callback.
#[no_mangle]
pub unsafe extern "C" fn natsSubscription_Destroy(sub: *mut natsSubscription) {
    guard_or("natsSubscription_Destroy", (), || {
        if sub.is_null() {
            return;
        }
        // SAFETY: `sub` came from Arc::into_raw; this releases the user's reference.
        let s = unsafe { Arc::from_raw(sub as *const Sub) };
        let active = s.with_state(|st| st.max == 0 || st.delivered < st.max).unwrap_or(false);
        if active {
            let _ = s.conn.unsubscribe(&s, 0);
        }
        drop(s);
    })
}
