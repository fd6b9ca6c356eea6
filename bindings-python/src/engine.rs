//! Test and Send (§5, §6): `_test`/`_send` (blocking, GIL released) and
//! `_test_async`/`_send_async` (an `asyncio.Future`). The package `relaykit` wraps them into
//! `relaykit.test`, `send`, `test_async` and `send_async`, which give the core's §8 JSON
//! (handed over as Python objects and as text) typed attribute access (`relaykit.results`).
//!
//! Options arrive in their JSON form (`{"relay_check": {"from", "to"}, "ntlm_helper": [...]}`)
//! so that the core checks them and names the key of a bad one.

use pyo3::prelude::*;
use relaykit::session::TraceSink;
use relaykit::{Call, SendOptions, SendResult, TestOptions, TestReport};

use crate::convert;
use crate::error::{IntoPy, err};
use crate::message::PyMessage;
use crate::profile::PyProfile;
use crate::rrt::PyRrtContext;
use crate::runtime;
use crate::secret::PyKeyring;
use crate::token;

/// A sink that calls `callback(direction, line, connection)` with the GIL, on the runtime
/// thread that runs the session; `connection` is the mailer connection's id, `None` outside a
/// mailer (`relaykit._tracer` adapts it to the caller's callable). An exception in the
/// callback cannot reach the caller; it goes to `sys.unraisablehook` and the session goes on.
pub(crate) fn trace_sink(callback: Option<Py<PyAny>>) -> Option<TraceSink> {
    let callback = callback?;
    Some(TraceSink::new(move |ev| {
        // Not once the interpreter is finalizing (the process is exiting with a call in flight).
        Python::try_attach(|py| {
            if let Err(e) = callback.call1(py, (ev.direction.as_str(), ev.text, ev.connection)) {
                e.write_unraisable(py, Some(callback.bind(py)));
            }
        });
    }))
}

/// A progress sink that calls `callback(written, total)` with the GIL, at most every 64 KiB or
/// 100 ms and once at the end (#16). An exception in the callback goes to
/// `sys.unraisablehook` and the send goes on.
pub(crate) fn progress_sink(callback: Option<Py<PyAny>>) -> Option<relaykit::progress::ProgressSink> {
    let callback = callback?;
    Some(relaykit::progress::ProgressSink::new(move |written, total| {
        Python::try_attach(|py| {
            if let Err(e) = callback.call1(py, (written, total)) {
                e.write_unraisable(py, Some(callback.bind(py)));
            }
        });
    }))
}

/// The call's inputs, cloned (the task outlives the call that starts it), with the core's
/// defaults for a keyring or context not given.
pub(crate) fn call(profile: &PyProfile, keyring: Option<&PyKeyring>, context: Option<&PyRrtContext>) -> Call {
    Call::new(profile.inner.clone(), keyring.map(|k| k.inner.clone()), context.map(|c| c.inner.clone()))
}

pub(crate) fn options_json(options: Option<&Bound<'_, PyAny>>) -> PyResult<serde_json::Value> {
    options.map_or(Ok(serde_json::Value::Null), convert::from_py)
}

fn test_options(
    options: Option<&Bound<'_, PyAny>>,
    trace: Option<Py<PyAny>>,
    token_provider: Option<Py<PyAny>>,
) -> PyResult<TestOptions> {
    let mut o = TestOptions::from_json_value(&options_json(options)?).py_err()?;
    o.trace = trace_sink(trace);
    o.token_provider = token::provider(token_provider);
    Ok(o)
}

fn send_options(
    options: Option<&Bound<'_, PyAny>>,
    trace: Option<Py<PyAny>>,
    token_provider: Option<Py<PyAny>>,
    progress: Option<Py<PyAny>>,
) -> PyResult<SendOptions> {
    let mut o = SendOptions::from_json_value(&options_json(options)?).py_err()?;
    relaykit::capture::Transport::refuse_unreadable(o.transport.as_ref()).py_err()?;
    o.trace = trace_sink(trace);
    o.token_provider = token::provider(token_provider);
    o.progress = progress_sink(progress);
    Ok(o)
}

/// The report as `(json, json_text, error)`: the core's §8 JSON as Python objects and as text,
/// and, when the Test failed, the exception of its error (the same class Send would raise).
fn report_out(py: Python<'_>, report: &TestReport) -> PyResult<Py<PyAny>> {
    let error = report.error.as_ref().map(|e| err(e).into_value(py));
    let out = (convert::to_py(py, report)?, report.to_json(), error);
    Ok(out.into_pyobject(py)?.into_any().unbind())
}

/// The result as `(json, json_text)`.
pub(crate) fn result_out(py: Python<'_>, result: &SendResult) -> PyResult<Py<PyAny>> {
    Ok((convert::to_py(py, result)?, result.to_json()).into_pyobject(py)?.into_any().unbind())
}

/// Test, blocking; returns `(json, json_text, error_or_None)`.
#[pyfunction(name = "_test")]
#[pyo3(signature = (profile, keyring=None, context=None, options=None, trace=None, token_provider=None))]
pub(crate) fn test(
    py: Python<'_>,
    profile: &PyProfile,
    keyring: Option<&PyKeyring>,
    context: Option<&PyRrtContext>,
    options: Option<&Bound<'_, PyAny>>,
    trace: Option<Py<PyAny>>,
    token_provider: Option<Py<PyAny>>,
) -> PyResult<Py<PyAny>> {
    let options = test_options(options, trace, token_provider)?;
    let call = call(profile, keyring, context);
    let report = runtime::block_on(py, async move { call.test(&options).await })?.py_err()?;
    report_out(py, &report)
}

/// Test on the runtime; an `asyncio.Future` of `event_loop` for `(json, json_text, error_or_None)`.
#[pyfunction(name = "_test_async")]
#[allow(clippy::too_many_arguments)] // the public keywords plus the loop
#[pyo3(signature = (event_loop, profile, keyring=None, context=None, options=None, trace=None, token_provider=None))]
pub(crate) fn test_async<'py>(
    py: Python<'py>,
    event_loop: &Bound<'py, PyAny>,
    profile: &PyProfile,
    keyring: Option<&PyKeyring>,
    context: Option<&PyRrtContext>,
    options: Option<&Bound<'py, PyAny>>,
    trace: Option<Py<PyAny>>,
    token_provider: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let options = test_options(options, trace, token_provider)?;
    let call = call(profile, keyring, context);
    let fut = async move { call.test(&options).await };
    runtime::spawn_future(py, event_loop, fut, |py, report| report_out(py, &report))
}

/// Send, blocking; returns `(json, json_text)` of the result or raises the error of its kind.
#[pyfunction(name = "_send")]
#[allow(clippy::too_many_arguments)] // the public keywords
#[pyo3(signature = (profile, message, keyring=None, context=None, options=None, trace=None, token_provider=None, progress=None))]
pub(crate) fn send(
    py: Python<'_>,
    profile: &PyProfile,
    message: &PyMessage,
    keyring: Option<&PyKeyring>,
    context: Option<&PyRrtContext>,
    options: Option<&Bound<'_, PyAny>>,
    trace: Option<Py<PyAny>>,
    token_provider: Option<Py<PyAny>>,
    progress: Option<Py<PyAny>>,
) -> PyResult<Py<PyAny>> {
    let options = send_options(options, trace, token_provider, progress)?;
    let call = call(profile, keyring, context);
    let m = message.inner.clone();
    let result = runtime::block_on(py, async move { call.send(&m, &options).await })?.py_err()?;
    result_out(py, &result)
}

/// Send on the runtime; an `asyncio.Future` of `event_loop` for `(json, json_text)`.
#[pyfunction(name = "_send_async")]
#[pyo3(signature = (event_loop, profile, message, keyring=None, context=None, options=None, trace=None, token_provider=None, progress=None))]
#[allow(clippy::too_many_arguments)] // the public keywords plus the loop
pub(crate) fn send_async<'py>(
    py: Python<'py>,
    event_loop: &Bound<'py, PyAny>,
    profile: &PyProfile,
    message: &PyMessage,
    keyring: Option<&PyKeyring>,
    context: Option<&PyRrtContext>,
    options: Option<&Bound<'py, PyAny>>,
    trace: Option<Py<PyAny>>,
    token_provider: Option<Py<PyAny>>,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let options = send_options(options, trace, token_provider, progress)?;
    let call = call(profile, keyring, context);
    let m = message.inner.clone();
    let fut = async move { call.send(&m, &options).await };
    runtime::spawn_future(py, event_loop, fut, |py, result| result_out(py, &result))
}
