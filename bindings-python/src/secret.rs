//! `relaykit.Keyring`: the core [`relaykit::Keyring`] (password envelopes, §3).

use std::path::PathBuf;

use pyo3::prelude::*;
use relaykit::Keyring;
use relaykit::secret::PASSWORD_FIELD;

use crate::error::IntoPy;

/// The keys that encrypt and decrypt password envelopes. The newest key (the last added)
/// encrypts; any key decrypts the envelopes made under it. `repr()` lists key ids only.
#[pyclass(name = "Keyring", module = "relaykit._native")]
#[derive(Clone)]
pub(crate) struct PyKeyring {
    pub(crate) inner: Keyring,
}

#[pymethods]
impl PyKeyring {
    /// An empty keyring.
    #[new]
    fn new() -> Self {
        PyKeyring { inner: Keyring::new() }
    }

    /// `RELAYKIT_KEY`, else the file `RELAYKIT_KEY_FILE` names, else the default key file, else
    /// an empty keyring.
    #[staticmethod]
    fn from_env() -> PyResult<Self> {
        Ok(PyKeyring { inner: Keyring::from_env().py_err()? })
    }

    /// Keys from a key file, refused unless it is owned by the user and mode 0600 (or 0400).
    #[staticmethod]
    fn from_file(path: PathBuf) -> PyResult<Self> {
        Ok(PyKeyring { inner: Keyring::from_key_file(path).py_err()? })
    }

    /// Keys from text: one base64 key, or `kid:base64` entries separated by commas or lines.
    #[staticmethod]
    fn from_text(text: &str) -> PyResult<Self> {
        Ok(PyKeyring { inner: Keyring::from_text(text).py_err()? })
    }

    /// A keyring with one freshly generated random key.
    #[staticmethod]
    fn generate() -> PyResult<Self> {
        Ok(PyKeyring { inner: Keyring::generate().py_err()? })
    }

    /// Adds a 32-byte key as the newest; returns its id (derived from the key when not given).
    #[pyo3(signature = (key, key_id=None))]
    fn add_key(&mut self, key: &[u8], key_id: Option<&str>) -> PyResult<String> {
        self.inner.add_key(key_id, key).py_err()
    }

    /// Adds keys from text (see `from_text`).
    #[pyo3(signature = (text, source="key text"))]
    fn add_keys_from_text(&mut self, text: &str, source: &str) -> PyResult<()> {
        self.inner.add_keys_from_text(text, source).py_err()
    }

    /// Generates a random key, adds it as the newest, returns its id.
    fn generate_key(&mut self) -> PyResult<String> {
        self.inner.generate_key().py_err()
    }

    /// The key ids, oldest first.
    #[getter]
    fn key_ids(&self) -> Vec<String> {
        self.inner.key_ids().into_iter().map(str::to_owned).collect()
    }

    /// The id of the newest key (the one that encrypts), or None.
    #[getter]
    fn newest_key_id(&self) -> Option<String> {
        self.inner.newest_key_id().map(str::to_owned)
    }

    /// The keys as text (`kid:base64url,…`) for `RELAYKIT_KEY` or a key file. This is key
    /// material in an ordinary (not zeroized) Python str: prefer `write_file`.
    fn export(&self) -> String {
        self.inner.export().to_string()
    }

    /// Writes the keys to a new file with mode 0600 (it must not exist yet).
    fn write_file(&self, path: PathBuf) -> PyResult<()> {
        self.inner.write_key_file(path).py_err()
    }

    /// Encrypts `plaintext` for `field` (default: the password field) of profile `profile_id`
    /// under the newest key.
    #[pyo3(signature = (plaintext, field=None, profile_id=None))]
    fn encrypt(&self, plaintext: &str, field: Option<&str>, profile_id: Option<&str>) -> PyResult<String> {
        self.inner.encrypt(plaintext, field.unwrap_or(PASSWORD_FIELD), profile_id).py_err()
    }

    /// Decrypts an envelope. The result is an ordinary Python str: Python cannot zeroize it, so
    /// keep it short-lived and never log it.
    #[pyo3(signature = (envelope, field=None, profile_id=None))]
    fn decrypt(&self, envelope: &str, field: Option<&str>, profile_id: Option<&str>) -> PyResult<String> {
        Ok(self.inner.decrypt(envelope, field.unwrap_or(PASSWORD_FIELD), profile_id).py_err()?.expose().to_owned())
    }

    /// Decrypts with whichever key made the envelope and encrypts again under the newest key.
    #[pyo3(signature = (envelope, field=None, profile_id=None))]
    fn reencrypt(&self, envelope: &str, field: Option<&str>, profile_id: Option<&str>) -> PyResult<String> {
        self.inner.reencrypt(envelope, field.unwrap_or(PASSWORD_FIELD), profile_id).py_err()
    }

    fn __len__(&self) -> usize {
        self.inner.key_ids().len()
    }

    fn __repr__(&self) -> String {
        format!("Keyring(key_ids={:?})", self.inner.key_ids())
    }
}

/// `Keyring.encrypt` with a fixed nonce, for the shared test vectors only: a nonce must never
/// be used twice with one key.
#[pyfunction(name = "_encrypt_with_nonce")]
#[pyo3(signature = (keyring, plaintext, field, profile_id, nonce))]
pub(crate) fn encrypt_with_nonce(
    keyring: &PyKeyring,
    plaintext: &str,
    field: &str,
    profile_id: Option<&str>,
    nonce: [u8; 12],
) -> PyResult<String> {
    keyring.inner.encrypt_with_nonce(plaintext, field, profile_id, nonce).py_err()
}
