//! `relaykit.RrtContext`: the core [`relaykit::RrtContext`] (runtime replacement tags, §2).

use std::collections::HashMap;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use relaykit::RrtContext;
use relaykit::rrt::{Field, Missing};

use crate::error::IntoPy;

/// The values tags expand to: host values by owner id and name (plain, protected `$`,
/// restricted `@`) plus `WIN` (the environment, or the mapping given). `repr()` shows tag
/// names, never values.
#[pyclass(name = "RrtContext", module = "relaykit._native")]
#[derive(Clone)]
pub(crate) struct PyRrtContext {
    pub(crate) inner: RrtContext,
    // The core sets this but has no getter; kept for the `missing` property.
    missing: Missing,
}

fn missing_from(name: &str) -> PyResult<Missing> {
    name.parse()
        .map_err(|_| PyValueError::new_err(format!("missing must be one of {:?}, not {name:?}", Missing::NAMES)))
}

#[pymethods]
impl PyRrtContext {
    /// `environment` replaces the process environment for `~WIN::NAME~` (for tests and
    /// sandboxed hosts); `missing="empty"` expands undefined tags to "" instead of raising.
    #[new]
    #[pyo3(signature = (environment=None, *, missing="error"))]
    fn new(environment: Option<HashMap<String, String>>, missing: &str) -> PyResult<Self> {
        let missing = missing_from(missing)?;
        let mut inner = match environment {
            Some(env) => RrtContext::new().with_environment(env),
            None => RrtContext::new(),
        };
        inner.set_missing(missing);
        Ok(PyRrtContext { inner, missing })
    }

    /// `"error"` (an undefined tag raises `RrtError`) or `"empty"`.
    #[getter]
    fn get_missing(&self) -> &'static str {
        self.missing.as_str()
    }

    #[setter]
    fn set_missing(&mut self, missing: &str) -> PyResult<()> {
        self.missing = missing_from(missing)?;
        self.inner.set_missing(self.missing);
        Ok(())
    }

    /// Registers a plain value for `~ID::%name%~` (and `~ID::name~`).
    fn set(&mut self, id: &str, name: &str, value: &str) -> PyResult<()> {
        self.inner.set(id, name, value).py_err()
    }

    /// Registers a protected value for `~ID::%$name%~`, held encrypted in memory.
    fn set_protected(&mut self, id: &str, name: &str, value: &str) -> PyResult<()> {
        self.inner.set_protected(id, name, value).py_err()
    }

    /// Registers a restricted value for `~ID::%@name%~`, accepted only in the password.
    fn set_restricted(&mut self, id: &str, name: &str, value: &str) -> PyResult<()> {
        self.inner.set_restricted(id, name, value).py_err()
    }

    /// Removes a value (`name` with its `$`/`@` sigil for protected/restricted ones); returns
    /// whether there was one.
    fn remove(&mut self, id: &str, name: &str) -> bool {
        self.inner.remove(id, name)
    }

    /// Expands every tag in `value` as the field `field` (`server`, `username`, `password`,
    /// `helo_name`, or a message field such as `subject`). The result may hold protected
    /// values in an ordinary Python str: keep it short-lived and never log it.
    #[pyo3(signature = (value, field="username"))]
    fn expand(&self, value: &str, field: &str) -> PyResult<String> {
        Ok(self.inner.expand(value, Field::from_name(field)).py_err()?.expose().to_owned())
    }

    fn __repr__(&self) -> String {
        format!("<relaykit.RrtContext {:?}>", self.inner)
    }
}
