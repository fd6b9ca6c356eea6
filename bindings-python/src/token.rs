//! The token provider of `token_provider=`: the package (`relaykit._token_provider`) hands over
//! a callable `(username, reason) -> str` that already runs a coroutine function's coroutine
//! (on the caller's loop for the async API, through `asyncio.run` otherwise); this side calls
//! it off the runtime's I/O threads (a blocking thread, with the GIL) and checks that it gave a
//! `str`. An exception or another type is the core's token provider error (`AuthFailedError`
//! at stage auth naming the token provider); the core bounds the wait by the profile timeout.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::PyString;
use relaykit::SecretString;
use relaykit::token::{SharedTokenProvider, TokenFuture, TokenProvider, TokenRequest};

struct PyTokenProvider(Arc<Py<PyAny>>);

impl TokenProvider for PyTokenProvider {
    fn token(&self, req: TokenRequest) -> TokenFuture<'_> {
        let callback = Arc::clone(&self.0);
        Box::pin(async move {
            let called = tokio::task::spawn_blocking(move || {
                Python::try_attach(|py| call(py, &callback, &req))
                    .unwrap_or_else(|| Err("the Python interpreter is shutting down".to_owned()))
            })
            .await;
            called.unwrap_or_else(|e| Err(format!("the Python call failed: {e}")))
        })
    }
}

fn call(py: Python<'_>, callback: &Py<PyAny>, req: &TokenRequest) -> Result<SecretString, String> {
    let out = callback.call1(py, (req.username.as_str(), req.reason.as_str())).map_err(|e| {
        // `TypeName: message`, as Python prints it.
        let name = e.get_type(py).name().map_or_else(|_| "Exception".to_owned(), |n| n.to_string());
        let value = e.value(py).str().map_or_else(|_| String::new(), |s| s.to_string());
        if value.is_empty() { name } else { format!("{name}: {value}") }
    })?;
    let out = out.bind(py);
    if out.cast::<PyString>().is_err() {
        let ty = out.get_type().name().map_or_else(|_| "an object".to_owned(), |n| n.to_string());
        return Err(format!("token_provider returned {ty}, not str"));
    }
    out.extract::<String>()
        .map(SecretString::from)
        .map_err(|_| "token_provider returned a str that is not valid UTF-8".to_owned())
}

/// The core's provider for the package's callable, if one was given.
pub(crate) fn provider(callback: Option<Py<PyAny>>) -> Option<SharedTokenProvider> {
    callback.map(|c| SharedTokenProvider(Arc::new(PyTokenProvider(Arc::new(c)))))
}
