//! JSON values to and from Python objects, through the standard `json` module (so a dict from
//! `to_dict()` is exactly what `json.loads(to_json())` gives).

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyModule;

static JSON: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

fn json_module(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    Ok(JSON.get_or_try_init(py, || py.import("json").map(Bound::unbind))?.bind(py))
}

/// A JSON value as plain Python objects (dict, list, str, int, float, bool, None).
pub(crate) fn to_py<'py>(py: Python<'py>, value: &serde_json::Value) -> PyResult<Bound<'py, PyAny>> {
    json_module(py)?.call_method1("loads", (value.to_string(),))
}

/// Plain Python objects as a JSON value.
pub(crate) fn from_py(obj: &Bound<'_, PyAny>) -> PyResult<serde_json::Value> {
    let text: String = json_module(obj.py())?.call_method1("dumps", (obj,))?.extract()?;
    serde_json::from_str(&text).map_err(|e| PyValueError::new_err(format!("not representable as JSON: {e}")))
}
