//! The tokio runtime behind the blocking API (and the bindings' blocking calls).
//!
//! One multi-threaded runtime per process, made on first use. After `fork()` the child cannot
//! use the parent's runtime (its worker threads did not survive), so the runtime remembers the
//! process id it was made in and a child makes its own on first use; the parent's copy is
//! leaked in the child rather than dropped, since dropping it would wait for threads that do
//! not exist there.

use std::future::Future;
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};

struct Shared {
    pid: u32,
    rt: Arc<tokio::runtime::Runtime>,
}

static RUNTIME: Mutex<Option<Shared>> = Mutex::new(None);

/// The process's runtime, made on first use (again after a fork).
pub fn handle() -> Result<Arc<tokio::runtime::Runtime>> {
    let pid = std::process::id();
    let mut guard = RUNTIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(s) = guard.as_ref() {
        if s.pid == pid {
            return Ok(Arc::clone(&s.rt));
        }
    }
    if let Some(stale) = guard.take() {
        // Forked child: the parent's worker threads are gone; never run its destructor here.
        std::mem::forget(stale);
    }
    let rt = Arc::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("relaykit")
            .enable_all()
            .build()
            .map_err(|e| Error::internal(format!("cannot start the I/O runtime: {e}")))?,
    );
    *guard = Some(Shared { pid, rt: Arc::clone(&rt) });
    Ok(rt)
}

/// Runs `fut` to completion on the shared runtime, blocking the calling thread. Must not be
/// called from inside an async context.
pub fn block_on<F: Future>(fut: F) -> Result<F::Output> {
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(Error::internal(
            "a blocking relaykit call was made from inside an async runtime; use the async API there",
        ));
    }
    Ok(handle()?.block_on(fut))
}

/// Runs file- or CPU-heavy work (reading attachments, encoding a large message) from async code
/// without holding up the other connections on this worker: on a multi-threaded runtime
/// `block_in_place` hands the worker's other tasks to another thread first; on a current-thread
/// runtime, or outside any, `f` runs as it is.
pub(crate) fn heavy<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}
