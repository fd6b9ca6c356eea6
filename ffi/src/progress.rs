//! The progress callback of the C ABI (#16): process-wide, like the trace callback.

use std::ffi::c_void;
use std::sync::{Mutex, PoisonError};

use relaykit::progress::ProgressSink;

use crate::error::{guard, rk_status};

/// Told, during a Send (and for each message of a mailer), how many bytes of the message's
/// content are written (`written`) of how many (`total`): at most every 64 KiB or 100 ms and
/// once at the end, with `written == total`. Called on the thread running the send (a relaykit
/// thread for the `_async` forms and mailers), possibly on several threads at once, so it must
/// be thread-safe and quick. Set with `rk_set_progress_callback`.
#[allow(non_camel_case_types)]
pub type rk_progress_callback = Option<extern "C" fn(user: *mut c_void, written: u64, total: u64)>;

#[derive(Clone, Copy)]
struct Hook {
    cb: extern "C" fn(*mut c_void, u64, u64),
    user: *mut c_void,
}

// SAFETY: the header requires the callback and its user pointer to be usable from any thread;
// relaykit only passes the pointer back.
unsafe impl Send for Hook {}
// SAFETY: as above.
unsafe impl Sync for Hook {}

impl Hook {
    // A method, so that closures capture the whole (Send + Sync) hook, not its raw fields.
    fn call(self, written: u64, total: u64) {
        (self.cb)(self.user, written, total);
    }
}

static PROGRESS: Mutex<Option<Hook>> = Mutex::new(None);

/// Sets the process-wide progress callback (NULL turns it off). Every Send and mailer that
/// starts afterwards reports its progress to `cb` with `user`; one already running keeps the
/// callback it started with. `user` must stay valid until the callback is replaced and every
/// call and mailer that started before has finished.
#[unsafe(no_mangle)]
pub extern "C" fn rk_set_progress_callback(cb: rk_progress_callback, user: *mut c_void) -> rk_status {
    guard(|| {
        *PROGRESS.lock().unwrap_or_else(PoisonError::into_inner) = cb.map(|cb| Hook { cb, user });
        Ok(())
    })
}

pub(crate) fn sink() -> Option<ProgressSink> {
    let hook = (*PROGRESS.lock().unwrap_or_else(PoisonError::into_inner))?;
    Some(ProgressSink::new(move |written, total| hook.call(written, total)))
}
