//! The tokio runtime that blocking calls (Test and Send, when the core has them) run on.
//!
//! - The waiting thread is detached from Python (the GIL is released) and wakes every
//!   [`POLL`] to run Python's signal handlers, so Ctrl-C interrupts a blocking call within a
//!   second, cancelling the task.
//! - The runtime survives `fork()`: only the forking thread exists in the child, so the old
//!   runtime's workers are gone. A `pthread_atfork` child handler forgets (leaks) it and the
//!   next call builds a new one. (tokenizers and lancedb do the same.)

use std::future::Future;
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::time::Duration;

use pyo3::prelude::*;
use tokio::runtime::Runtime;

use crate::error::err;

/// How often a blocking call checks for signals.
const POLL: Duration = Duration::from_millis(100);

static RUNTIME: AtomicPtr<Runtime> = AtomicPtr::new(ptr::null_mut());

#[cfg(unix)]
extern "C" fn forget_runtime_in_child() {
    // Async-signal-safe: one atomic store. The old runtime is leaked on purpose; dropping it
    // would try to join worker threads that do not exist in the child.
    RUNTIME.store(ptr::null_mut(), Ordering::SeqCst);
}

/// Registers the fork handler (once per process).
pub(crate) fn init() {
    #[cfg(unix)]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            // SAFETY: the handler only stores to an atomic, which is allowed after fork.
            unsafe {
                libc::pthread_atfork(None, None, Some(forget_runtime_in_child));
            }
        });
    }
}

fn runtime() -> relaykit::Result<&'static Runtime> {
    let current = RUNTIME.load(Ordering::Acquire);
    if !current.is_null() {
        // SAFETY: a published runtime is leaked, never freed, so the pointer stays valid.
        return Ok(unsafe { &*current });
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("relaykit")
        .enable_all()
        .build()
        .map_err(|e| relaykit::Error::internal(format!("cannot start the I/O runtime: {e}")))?;
    let new = Box::into_raw(Box::new(rt));
    match RUNTIME.compare_exchange(ptr::null_mut(), new, Ordering::AcqRel, Ordering::Acquire) {
        // SAFETY: `new` is ours and now published; it is never freed.
        Ok(_) => Ok(unsafe { &*new }),
        Err(existing) => {
            // SAFETY: `new` was not published, so this is its only owner.
            drop(unsafe { Box::from_raw(new) });
            // SAFETY: as above, a published runtime is never freed.
            Ok(unsafe { &*existing })
        }
    }
}

/// Runs `fut` on the runtime and waits for it with the GIL released; Ctrl-C (or any signal
/// handler that raises) cancels it and raises in the caller.
pub(crate) fn block_on<F>(py: Python<'_>, fut: F) -> PyResult<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let rt = runtime().map_err(|e| err(&e))?;
    let mut task = rt.spawn(fut);
    loop {
        let waited = py.detach(|| rt.block_on(async { tokio::time::timeout(POLL, &mut task).await }));
        match waited {
            Ok(Ok(out)) => return Ok(out),
            Ok(Err(join)) => return Err(err(&relaykit::Error::internal(format!("a relaykit task failed: {join}")))),
            Err(_elapsed) => {
                if let Err(e) = py.check_signals() {
                    task.abort();
                    return Err(e);
                }
            }
        }
    }
}

/// Sleeps `ms` milliseconds on the runtime through [`block_on`]; for the tests that prove the
/// GIL is released, Ctrl-C interrupts, and the runtime survives fork.
#[pyfunction(name = "_sleep")]
pub(crate) fn sleep(py: Python<'_>, ms: u64) -> PyResult<()> {
    // The timer is created inside the task, where the runtime's context is.
    block_on(py, async move { tokio::time::sleep(Duration::from_millis(ms)).await })
}
