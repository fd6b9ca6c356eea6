//! The core's serde forms to and from plain Python objects (dict, list, str, int, float, bool,
//! None) through pythonize: a value reaches Python as the core serialized it, keys in the
//! core's order, and no field is named here.

use pyo3::prelude::*;
use serde::Serialize;

/// A core value (a report, an error, a JSON value) as plain Python objects.
pub(crate) fn to_py<'py, T: Serialize + ?Sized>(py: Python<'py>, value: &T) -> PyResult<Bound<'py, PyAny>> {
    Ok(pythonize::pythonize(py, value)?)
}

/// Plain Python objects as a JSON value, for the core's `from_json_value` readers.
pub(crate) fn from_py(obj: &Bound<'_, PyAny>) -> PyResult<serde_json::Value> {
    Ok(pythonize::depythonize(obj)?)
}
