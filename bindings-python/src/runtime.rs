//! How Test and Send run: on the core's tokio runtime ([`relaykit::runtime::handle`]), which is
//! made on first use and made again in a forked child (the parent's workers do not survive
//! `fork()`).
//!
//! - [`block_on`]: the waiting thread is detached from Python (the GIL is released) and wakes
//!   every [`POLL`] to run Python's signal handlers, so Ctrl-C interrupts a blocking call within
//!   a second, cancelling the task.
//! - [`spawn_future`]: an `asyncio.Future` of the given loop, completed from the runtime through
//!   `loop.call_soon_threadsafe` (asyncio futures are not thread-safe); cancelling the future
//!   aborts the task.

use std::future::Future;
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

/// `fut.set_result(value)` or `fut.set_exception(value)` unless the future is already done
/// (cancelled); run on the loop's thread.
fn settle(args: &Bound<'_, PyTuple>, _kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<()> {
    let (fut, ok, value): (Bound<'_, PyAny>, bool, Bound<'_, PyAny>) = args.extract()?;
    if fut.call_method0("done")?.is_truthy()? {
        return Ok(());
    }
    fut.call_method1(if ok { "set_result" } else { "set_exception" }, (value,))?;
    Ok(())
}

/// Runs `fut` on the runtime and returns an `asyncio.Future` of `event_loop` that gets its
/// output, converted by `convert` (with the GIL), or the exception of its error.
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
    let target = py_fut.clone().unbind();
    let loop_ref = event_loop.clone().unbind();
    let task = rt.spawn(async move {
        let out = fut.await;
        Python::attach(|py| {
            let (ok, value) = match out.map_err(|e| err(&e)).and_then(|v| convert(py, v)) {
                Ok(v) => (true, v),
                Err(e) => (false, e.into_value(py).into_any()),
            };
            let done = PyCFunction::new_closure(py, Some(c"relaykit_settle"), None, settle)
                .and_then(|settle| loop_ref.call_method1(py, "call_soon_threadsafe", (settle, target, ok, value)));
            // The loop is closed: nobody is waiting for the result any more.
            if let Err(e) = done {
                if !e.is_instance_of::<pyo3::exceptions::PyRuntimeError>(py) {
                    e.write_unraisable(py, Some(loop_ref.bind(py)));
                }
            }
        });
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

/// Sleeps `ms` milliseconds on the runtime through [`block_on`]; for the tests that prove the
/// GIL is released, Ctrl-C interrupts, and the runtime survives fork.
#[pyfunction(name = "_sleep")]
pub(crate) fn sleep(py: Python<'_>, ms: u64) -> PyResult<()> {
    // The timer is created inside the task, where the runtime's context is.
    block_on(py, async move { tokio::time::sleep(Duration::from_millis(ms)).await })
}
