//! The pooled mailer (`relaykit.Mailer` wraps `_Mailer`): the core's [`relaykit::Mailer`],
//! shared by every thread that holds it (it is `Send + Sync` and its clones share one pool).
//!
//! Options arrive in their JSON form (`max_connections`, `max_messages_per_connection`,
//! `idle_timeout_secs`, `ntlm_helper`) and go to the core's reader, which owns defaults and
//! ranges and names `options.<key>` in its errors. Results and errors are converted as Send's
//! are ([`engine::result_out`]); `send`/`close` block through [`runtime::block_on`] (GIL
//! released, Ctrl-C cancels), `send_async`/`close_async` are futures of
//! [`runtime::spawn_future`]. Both run on the core's one runtime, so the forms can be mixed.

use pyo3::prelude::*;
use relaykit::{Mailer, MailerOptions};

use crate::convert;
use crate::engine::{self, options_json, trace_sink};
use crate::error::IntoPy;
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
    #[pyo3(signature = (profile, keyring=None, context=None, options=None, trace=None))]
    fn new(
        py: Python<'_>,
        profile: &PyProfile,
        keyring: Option<&PyKeyring>,
        context: Option<&PyRrtContext>,
        options: Option<&Bound<'_, PyAny>>,
        trace: Option<Py<PyAny>>,
    ) -> PyResult<Self> {
        let mut o = MailerOptions::from_json_value(&options_json(options)?).py_err()?;
        o.trace = trace_sink(trace);
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

    /// Closes the mailer (idle connections QUIT now), blocking; later sends raise at once.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let m = self.inner.clone();
        runtime::block_on(py, async move { m.close().await })
    }

    /// Close on the runtime; an `asyncio.Future` of `event_loop` for `None`.
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
