//! Test and Send (§5, §6): `_test`/`_send` (blocking, GIL released) and
//! `_test_async`/`_send_async` (an `asyncio.Future`). The package `relaykit` wraps them into
//! `relaykit.test`, `send`, `test_async` and `send_async`, which turn the core's §8 JSON into
//! the typed results of `relaykit.results`.
//!
//! Options arrive in their JSON form (`{"relay_check": {"from", "to"}, "ntlm_helper": [...]}`)
//! so that the core checks them and names the key of a bad one.

use pyo3::prelude::*;
use pyo3::types::PyString;
use relaykit::session::TraceSink;
use relaykit::{Keyring, Message, Profile, RrtContext, SendOptions, SendResult, TestOptions, TestReport};

use crate::convert;
use crate::error::{IntoPy, err};
use crate::message::PyMessage;
use crate::profile::PyProfile;
use crate::rrt::PyRrtContext;
use crate::runtime;
use crate::secret::PyKeyring;

/// A sink that calls `callback(direction, line)` with the GIL, on the runtime thread that runs
/// the session. An exception in the callback cannot reach the caller; it goes to
/// `sys.unraisablehook` and the session goes on.
fn trace_sink(callback: Option<Py<PyAny>>) -> Option<TraceSink> {
    let callback = callback?;
    Some(TraceSink::new(move |ev| {
        Python::attach(|py| {
            if let Err(e) = callback.call1(py, (ev.direction.as_str(), ev.text)) {
                e.write_unraisable(py, Some(callback.bind(py)));
            }
        });
    }))
}

fn json_of(options: Option<&Bound<'_, PyAny>>) -> PyResult<serde_json::Value> {
    options.map_or(Ok(serde_json::Value::Null), convert::from_py)
}

/// What a Test or Send needs, owned (the task outlives the call that starts it).
struct Inputs {
    profile: Profile,
    keyring: Keyring,
    ctx: RrtContext,
}

fn inputs(profile: &PyProfile, keyring: Option<&PyKeyring>, context: Option<&PyRrtContext>) -> Inputs {
    Inputs {
        profile: profile.inner.clone(),
        keyring: keyring.map_or_else(Keyring::new, |k| k.inner.clone()),
        ctx: context.map_or_else(RrtContext::new, |c| c.inner.clone()),
    }
}

fn test_options(options: Option<&Bound<'_, PyAny>>, trace: Option<Py<PyAny>>) -> PyResult<TestOptions> {
    let mut o = TestOptions::from_json_value(&json_of(options)?).py_err()?;
    o.trace = trace_sink(trace);
    Ok(o)
}

fn send_options(options: Option<&Bound<'_, PyAny>>, trace: Option<Py<PyAny>>) -> PyResult<SendOptions> {
    let mut o = SendOptions::from_json_value(&json_of(options)?).py_err()?;
    o.trace = trace_sink(trace);
    Ok(o)
}

/// The report as `(json_text, error)`: the §8 JSON and, when the Test failed, the exception of
/// its error (the same class and fields Send would raise).
fn report_out(py: Python<'_>, report: &TestReport) -> PyResult<Py<PyAny>> {
    let error = report.error.as_ref().map(|e| err(e).into_value(py));
    Ok((PyString::new(py, &report.to_json()), error).into_pyobject(py)?.into_any().unbind())
}

fn result_out(py: Python<'_>, result: &SendResult) -> Py<PyAny> {
    PyString::new(py, &result.to_json()).into_any().unbind()
}

/// Test, blocking; returns `(json_text, error_or_None)`.
#[pyfunction(name = "_test")]
#[pyo3(signature = (profile, keyring=None, context=None, options=None, trace=None))]
pub(crate) fn test(
    py: Python<'_>,
    profile: &PyProfile,
    keyring: Option<&PyKeyring>,
    context: Option<&PyRrtContext>,
    options: Option<&Bound<'_, PyAny>>,
    trace: Option<Py<PyAny>>,
) -> PyResult<Py<PyAny>> {
    let options = test_options(options, trace)?;
    let i = inputs(profile, keyring, context);
    let report =
        runtime::block_on(py, async move { relaykit::test_async(&i.profile, &i.keyring, &i.ctx, &options).await })?
            .py_err()?;
    report_out(py, &report)
}

/// Test on the runtime; an `asyncio.Future` of `event_loop` for `(json_text, error_or_None)`.
#[pyfunction(name = "_test_async")]
#[pyo3(signature = (event_loop, profile, keyring=None, context=None, options=None, trace=None))]
pub(crate) fn test_async<'py>(
    py: Python<'py>,
    event_loop: &Bound<'py, PyAny>,
    profile: &PyProfile,
    keyring: Option<&PyKeyring>,
    context: Option<&PyRrtContext>,
    options: Option<&Bound<'py, PyAny>>,
    trace: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let options = test_options(options, trace)?;
    let i = inputs(profile, keyring, context);
    let fut = async move { relaykit::test_async(&i.profile, &i.keyring, &i.ctx, &options).await };
    runtime::spawn_future(py, event_loop, fut, |py, report| report_out(py, &report))
}

/// Send, blocking; returns the §8 JSON text of the result or raises the error of its kind.
#[pyfunction(name = "_send")]
#[pyo3(signature = (profile, message, keyring=None, context=None, options=None, trace=None))]
pub(crate) fn send(
    py: Python<'_>,
    profile: &PyProfile,
    message: &PyMessage,
    keyring: Option<&PyKeyring>,
    context: Option<&PyRrtContext>,
    options: Option<&Bound<'_, PyAny>>,
    trace: Option<Py<PyAny>>,
) -> PyResult<Py<PyAny>> {
    let options = send_options(options, trace)?;
    let i = inputs(profile, keyring, context);
    let m: Message = message.inner.clone();
    let result =
        runtime::block_on(py, async move { relaykit::send_async(&i.profile, &i.keyring, &i.ctx, &m, &options).await })?
            .py_err()?;
    Ok(result_out(py, &result))
}

/// Send on the runtime; an `asyncio.Future` of `event_loop` for the §8 JSON text.
#[pyfunction(name = "_send_async")]
#[pyo3(signature = (event_loop, profile, message, keyring=None, context=None, options=None, trace=None))]
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
) -> PyResult<Bound<'py, PyAny>> {
    let options = send_options(options, trace)?;
    let i = inputs(profile, keyring, context);
    let m: Message = message.inner.clone();
    let fut = async move { relaykit::send_async(&i.profile, &i.keyring, &i.ctx, &m, &options).await };
    runtime::spawn_future(py, event_loop, fut, |py, result| Ok(result_out(py, &result)))
}
