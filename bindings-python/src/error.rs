//! The one error file: a core [`relaykit::Error`] becomes an instance of the exception class
//! `relaykit.errors` defines for its kind (the classes live in Python, minijinja style, so that
//! they can also subclass `ValueError`, `TimeoutError` and `OSError`).

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyModule;
use relaykit::{Error, ErrorKind};

use crate::convert;

/// The Python class of each kind, by name in `relaykit.errors`. Exhaustive: a new kind in the
/// core fails this build until it has its class.
pub(crate) fn class_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Config => "ConfigError",
        ErrorKind::Rrt => "RrtError",
        ErrorKind::Crypto => "CryptoError",
        ErrorKind::Dns => "DnsError",
        ErrorKind::Connect => "ConnectError",
        ErrorKind::Timeout => "SmtpTimeoutError",
        ErrorKind::Tls => "TlsError",
        ErrorKind::Protocol => "ProtocolError",
        ErrorKind::AuthUnsupported => "AuthUnsupportedError",
        ErrorKind::AuthFailed => "AuthFailedError",
        ErrorKind::SenderRejected => "SenderRejectedError",
        ErrorKind::RecipientRejected => "RecipientRejectedError",
        ErrorKind::MessageRejected => "MessageRejectedError",
        ErrorKind::Io => "RelayKitIOError",
        ErrorKind::Internal => "InternalError",
    }
}

static ERRORS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

/// The exception for `e`: `cls(str(e), <the core's §8 JSON of e>)`; its attributes are read
/// from that JSON. The core's messages never contain secrets, so neither does the exception.
fn to_pyerr(py: Python<'_>, e: &Error) -> PyResult<PyErr> {
    let module = ERRORS.get_or_try_init(py, || py.import("relaykit.errors").map(Bound::unbind))?;
    let cls = module.bind(py).getattr(class_name(e.kind()))?;
    Ok(PyErr::from_value(cls.call1((e.to_string(), convert::to_py(py, e)?))?))
}

/// Converts a core error into the Python exception of its kind.
pub(crate) fn err(e: &Error) -> PyErr {
    Python::attach(|py| to_pyerr(py, e).unwrap_or_else(|lookup| lookup))
}

/// `?` on a core `Result` in a `#[pymethods]` body.
pub(crate) trait IntoPy<T> {
    fn py_err(self) -> PyResult<T>;
}

impl<T> IntoPy<T> for relaykit::Result<T> {
    fn py_err(self) -> PyResult<T> {
        self.map_err(|e| err(&e))
    }
}

/// Every kind with its class name: `relaykit.errors` sets each class's `kind` from it, and the
/// Python tests check the mapping.
#[pyfunction(name = "_error_classes")]
pub(crate) fn error_classes() -> Vec<(&'static str, &'static str)> {
    ErrorKind::ALL.iter().map(|&k| (k.as_str(), class_name(k))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_own_class() {
        let mut seen = std::collections::HashSet::new();
        for &k in ErrorKind::ALL {
            assert!(seen.insert(class_name(k)), "{k} shares the class {}", class_name(k));
        }
    }
}
