//! The pooled mailer (`relaykit.Mailer` wraps `_Mailer`): the core's [`relaykit::Mailer`],
//! shared by every thread that holds it (it is `Send + Sync` and its clones share one pool).
//!
//! Options arrive in their JSON form (`max_connections`, `max_messages_per_connection`,
//! `idle_timeout_secs`, `rate_limit`, `retry`, `retry_unknown`, `stream_window`, `max_queued`, `ntlm_helper`) and go to the
//! core's reader, which owns defaults and ranges and names `options.<key>` in its errors.
//! Results and errors are converted as Send's are ([`engine::result_out`]); `send_many` gives
//! one per message, a result's `(json, json_text)` or the exception instance of its error (not
//! raised). `send`/`send_many`/`close` block through [`runtime::block_on`] (GIL released,
//! Ctrl-C cancels), the `_async` forms are futures of [`runtime::spawn_future`]. All run on the
//! core's one runtime, so the forms can be mixed on one mailer.

use pyo3::prelude::*;
use pyo3::types::PyList;
use relaykit::{Mailer, MailerOptions, Message, SendResult};

use crate::convert;
use crate::engine::{self, options_json, trace_sink};
use crate::error::{IntoPy, err};
use crate::message::PyMessage;
use crate::profile::PyProfile;
use crate::rrt::PyRrtContext;
use crate::runtime;
use crate::secret::PyKeyring;

#[pyclass(name = "_Mailer", module = "relaykit._native", frozen)]
pub(crate) struct PyMailer {
    inner: Mailer,
}

#[pymethods]
impl PyMailer {
    /// Resolves the profile now (a bad profile or option raises `ConfigError` naming the field);
    /// no connection is opened until the first send.
    #[new]
    #[pyo3(signature = (profile, keyring=None, context=None, options=None, trace=None, token_provider=None))]
    fn new(
        py: Python<'_>,
        profile: &PyProfile,
        keyring: Option<&PyKeyring>,
        context: Option<&PyRrtContext>,
        options: Option<&Bound<'_, PyAny>>,
        trace: Option<Py<PyAny>>,
        token_provider: Option<Py<PyAny>>,
    ) -> PyResult<Self> {
        let mut o = MailerOptions::from_json_value(&options_json(options)?).py_err()?;
        relaykit::capture::Transport::refuse_unreadable(o.transport.as_ref()).py_err()?;
        o.trace = trace_sink(trace);
        o.token_provider = crate::token::provider(token_provider);
        // The core's defaults for a keyring or context not given, as Test and Send get them.
        let c = engine::call(profile, keyring, context);
        // Resolving may decrypt the password (a key derivation): other threads run meanwhile.
        let inner = py.detach(move || Mailer::new(&c.profile, &c.keyring, &c.rrt, o)).py_err()?;
        Ok(PyMailer { inner })
    }

    /// Send, blocking; returns `(json, json_text)` of the result or raises the error of its kind.
    fn send(&self, py: Python<'_>, message: &PyMessage) -> PyResult<Py<PyAny>> {
        let (m, msg) = (self.inner.clone(), message.inner.clone());
        let result = runtime::block_on(py, async move { m.send(&msg).await })?.py_err()?;
        engine::result_out(py, &result)
    }

    /// Send on the runtime; an `asyncio.Future` of `event_loop` for `(json, json_text)`.
    fn send_async<'py>(
        &self,
        py: Python<'py>,
        event_loop: &Bound<'py, PyAny>,
        message: &PyMessage,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (m, msg) = (self.inner.clone(), message.inner.clone());
        let fut = async move { m.send(&msg).await };
        runtime::spawn_future(py, event_loop, fut, |py, result| engine::result_out(py, &result))
    }

    /// Send many, blocking; a list with, per message in order, `(json, json_text)` of its
    /// result or the exception instance of its error.
    fn send_many(&self, py: Python<'_>, messages: Vec<PyRef<'_, PyMessage>>) -> PyResult<Py<PyAny>> {
        let (m, batch) = (self.inner.clone(), batch(messages));
        let outcomes = runtime::block_on(py, async move { m.send_many(&batch).await })?;
        outcomes_out(py, &outcomes)
    }

    /// Send many on the runtime; an `asyncio.Future` of `event_loop` for `send_many`'s list.
    fn send_many_async<'py>(
        &self,
        py: Python<'py>,
        event_loop: &Bound<'py, PyAny>,
        messages: Vec<PyRef<'py, PyMessage>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (m, batch) = (self.inner.clone(), batch(messages));
        let fut = async move { Ok(m.send_many(&batch).await) };
        runtime::spawn_future(py, event_loop, fut, |py, outcomes| outcomes_out(py, &outcomes))
    }

    /// Closes the mailer (waits for what is queued or in flight, then QUITs every
    /// connection), blocking; later sends raise at once.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let m = self.inner.clone();
        runtime::block_on(py, async move { m.close().await })
    }

    /// Close on the runtime; an `asyncio.Future` of `event_loop` for `None`, done when every
    /// connection is closed.
    fn close_async<'py>(&self, py: Python<'py>, event_loop: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let m = self.inner.clone();
        let fut = async move {
            m.close().await;
            Ok(())
        };
        runtime::spawn_future(py, event_loop, fut, |py, ()| Ok(py.None()))
    }

    /// The core's counters as a dict (its JSON form of `MailerStats`).
    #[getter]
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        convert::to_py(py, &self.inner.stats())
    }

    fn __repr__(&self) -> String {
        // The core's Debug shows where it sends to and its counters, never the password.
        format!("{:?}", self.inner)
    }
}

/// The messages, cloned for the task (it outlives the call that starts it).
fn batch(messages: Vec<PyRef<'_, PyMessage>>) -> Vec<Message> {
    messages.into_iter().map(|m| m.inner.clone()).collect()
}

/// Per message, in order: `(json, json_text)` of its result, or its exception instance.
fn outcomes_out(py: Python<'_>, outcomes: &[relaykit::Result<SendResult>]) -> PyResult<Py<PyAny>> {
    let items = outcomes
        .iter()
        .map(|r| match r {
            Ok(res) => engine::result_out(py, res),
            Err(e) => Ok(err(e).into_value(py).into_any()),
        })
        .collect::<PyResult<Vec<Py<PyAny>>>>()?;
    Ok(PyList::new(py, items)?.into_any().unbind())
}
