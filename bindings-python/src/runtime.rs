//! How Test and Send run: on the core's tokio runtime ([`relaykit::runtime::handle`]), which is
//! made on first use and made again in a forked child (the parent's workers do not survive
//! `fork()`).
//!
//! - [`block_on`]: the waiting thread is detached from Python (the GIL is released) and wakes
//!   every [`POLL`] to run Python's signal handlers, so Ctrl-C interrupts a blocking call within
//!   a second, cancelling the task.
//! - [`spawn_future`]: an `asyncio.Future` of the given loop, completed on the loop's thread
//!   when the task closes its end of a socket pair the loop watches (asyncio futures are not
//!   thread-safe, and the runtime threads never touch Python: see there); cancelling the future
//!   aborts the task.

use std::future::Future;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::{PyCFunction, PyDict, PyTuple};

use crate::error::{IntoPy, err};

/// How often a blocking call checks for signals.
const POLL: Duration = Duration::from_millis(100);

fn internal(msg: String) -> PyErr {
    err(&relaykit::Error::internal(msg))
}

/// Runs `fut` on the runtime and waits for it with the GIL released; Ctrl-C (or any signal
/// handler that raises) cancels it and raises in the caller.
pub(crate) fn block_on<F>(py: Python<'_>, fut: F) -> PyResult<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    // A trace callback runs on a runtime thread; blocking there would deadlock the runtime.
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(internal(
            "a blocking relaykit call was made on a relaykit runtime thread (from a trace callback?)".to_owned(),
        ));
    }
    let rt = relaykit::runtime::handle().py_err()?;
    let mut task = rt.spawn(fut);
    loop {
        let waited = py.detach(|| rt.block_on(async { tokio::time::timeout(POLL, &mut task).await }));
        match waited {
            Ok(Ok(out)) => return Ok(out),
            Ok(Err(join)) => return Err(internal(format!("a relaykit task failed: {join}"))),
            Err(_elapsed) => {
                if let Err(e) = py.check_signals() {
                    task.abort();
                    return Err(e);
                }
            }
        }
    }
}

/// Runs `fut` on the runtime and returns an `asyncio.Future` of `event_loop` that gets its
/// output, converted by `convert` (with the GIL), or the exception of its error.
///
/// The runtime side never touches Python (#12): a script that returns right after awaiting
/// the future starts finalizing the interpreter while the runtime thread would still be inside
/// `call_soon_threadsafe` or dropping its arguments, and a thread that takes or releases the
/// GIL then crashes the process (SIGSEGV, "PyGILState_Release ... finalizing"). So the task
/// only puts its output into a slot and closes its end of a socket pair; the loop watches the
/// other end (`add_reader`) and, on its own thread, converts the output and settles the future.
/// A task that ends without an output (aborted because the future was cancelled, or panicked)
/// closes the socket all the same, so the reader always runs and always cleans up.
pub(crate) fn spawn_future<'py, F, T, C>(
    py: Python<'py>,
    event_loop: &Bound<'py, PyAny>,
    fut: F,
    convert: C,
) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = relaykit::Result<T>> + Send + 'static,
    T: Send + 'static,
    C: FnOnce(Python<'_>, T) -> PyResult<Py<PyAny>> + Send + 'static,
{
    let rt = relaykit::runtime::handle().py_err()?;
    let py_fut = event_loop.call_method0("create_future")?;
    let (wake_rx, wake_tx) =
        UnixStream::pair().map_err(|e| internal(format!("cannot make the completion socket: {e}")))?;
    let fd = wake_rx.as_raw_fd();
    let slot: Arc<Mutex<Option<relaykit::Result<T>>>> = Arc::new(Mutex::new(None));

    let on_ready = {
        let slot = Arc::clone(&slot);
        let target = py_fut.clone().unbind();
        let loop_ref = event_loop.clone().unbind();
        let wake_rx = Mutex::new(Some(wake_rx));
        let convert = Mutex::new(Some(convert));
        PyCFunction::new_closure(
            py,
            Some(c"relaykit_deliver"),
            None,
            move |args: &Bound<'_, PyTuple>, _kwargs: Option<&Bound<'_, PyDict>>| -> PyResult<()> {
                let py = args.py();
                // Once: the socket stays readable (EOF) until it is closed.
                let Some(rx) = lock(&wake_rx).take() else { return Ok(()) };
                loop_ref.call_method1(py, "remove_reader", (fd,))?;
                drop(rx);
                let out = lock(&slot).take();
                let fut = target.bind(py);
                if fut.call_method0("done")?.is_truthy()? {
                    return Ok(()); // cancelled: nobody waits for the output
                }
                let converted = match (out, lock(&convert).take()) {
                    (Some(out), Some(convert)) => out.map_err(|e| err(&e)).and_then(|v| convert(py, v)),
                    _ => Err(internal("a relaykit task ended without a result".to_owned())),
                };
                match converted {
                    Ok(v) => fut.call_method1("set_result", (v,))?,
                    Err(e) => fut.call_method1("set_exception", (e.into_value(py),))?,
                };
                Ok(())
            },
        )?
    };
    event_loop.call_method1("add_reader", (fd, on_ready))?;

    let task = rt.spawn(async move {
        let out = fut.await;
        *lock(&slot) = Some(out);
        drop(wake_tx); // wakes the loop; no Python here
    });
    let abort = task.abort_handle();
    let on_done = PyCFunction::new_closure(
        py,
        Some(c"relaykit_abort_if_cancelled"),
        None,
        move |args: &Bound<'_, PyTuple>, _kwargs: Option<&Bound<'_, PyDict>>| -> PyResult<()> {
            if args.get_item(0)?.call_method0("cancelled")?.is_truthy()? {
                abort.abort();
            }
            Ok(())
        },
    )?;
    py_fut.call_method1("add_done_callback", (on_done,))?;
    Ok(py_fut)
}

/// The mutex's value; a panic while it was held cannot leave a slot half-written.
fn lock<V>(m: &Mutex<V>) -> std::sync::MutexGuard<'_, V> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Sleeps `ms` milliseconds on the runtime through [`block_on`]; for the tests that prove the
/// GIL is released, Ctrl-C interrupts, and the runtime survives fork.
#[pyfunction(name = "_sleep")]
pub(crate) fn sleep(py: Python<'_>, ms: u64) -> PyResult<()> {
    // The timer is created inside the task, where the runtime's context is.
    block_on(py, async move { tokio::time::sleep(Duration::from_millis(ms)).await })
}
