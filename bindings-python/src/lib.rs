//! The native module `relaykit._native`. It translates the core's types and errors and holds no
//! logic of its own; the public API is the Python package `relaykit`, which re-exports these
//! classes and defines the exceptions.
//!
//! Test and Send are `_test`/`_send` (blocking, through [`runtime::block_on`]) and
//! `_test_async`/`_send_async` (asyncio futures, through [`runtime::spawn_future`]); the package
//! wraps them into `relaykit.test`, `send`, `test_async` and `send_async`. `_Mailer` is the
//! pooled mailer that `relaykit.Mailer` wraps.

use pyo3::prelude::*;

mod convert;
mod engine;
mod error;
mod mailer;
mod message;
mod profile;
mod rrt;
mod runtime;
mod secret;
mod token;

#[pymodule]
#[pyo3(name = "_native")]
fn native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<profile::PyProfile>()?;
    m.add_class::<secret::PyKeyring>()?;
    m.add_class::<rrt::PyRrtContext>()?;
    m.add_class::<message::PyAttachment>()?;
    m.add_class::<message::PyMessage>()?;
    m.add_class::<message::PreparedMessage>()?;
    m.add_class::<mailer::PyMailer>()?;
    m.add_function(wrap_pyfunction!(secret::encrypt_with_nonce, m)?)?;
    m.add_function(wrap_pyfunction!(error::error_classes, m)?)?;
    m.add_function(wrap_pyfunction!(engine::test, m)?)?;
    m.add_function(wrap_pyfunction!(engine::test_async, m)?)?;
    m.add_function(wrap_pyfunction!(engine::send, m)?)?;
    m.add_function(wrap_pyfunction!(engine::send_async, m)?)?;
    m.add_function(wrap_pyfunction!(runtime::sleep, m)?)?;
    Ok(())
}
