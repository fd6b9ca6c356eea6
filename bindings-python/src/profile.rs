//! `relaykit.Profile`: the core [`relaykit::Profile`] with keyword construction, properties and
//! JSON. Construction goes through the core's JSON reader and the setters through the core's
//! setters and name parser, so every rule, default and error message (naming the JSON path) is
//! the core's.

use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::types::PyDict;
use relaykit::profile::{Password, StarttlsPolicy, TlsChoice, parse_choice};
use relaykit::{Error, Profile};

use crate::convert;
use crate::error::{IntoPy, err};
use crate::secret::PyKeyring;

/// An SMTP server profile (§1). Build it from keywords or `Profile.from_json`; it is validated
/// on construction and by `validate()`. Setting a property does not validate (the dialog lets
/// fields be inconsistent while editing); `validate()` does, and so will Test and Send.
#[pyclass(name = "Profile", module = "relaykit._native")]
#[derive(Clone)]
pub(crate) struct PyProfile {
    pub(crate) inner: Profile,
}

fn path_str(path: PathBuf, key: &str) -> PyResult<String> {
    path.into_os_string()
        .into_string()
        .map_err(|_| err(&Error::config(&format!("$.{key}"), "the path is not valid UTF-8")))
}

#[pymethods]
impl PyProfile {
    /// `server` and any key of the profile's JSON form (§1) as a keyword of the same name, read
    /// by the core's JSON reader exactly as `from_json` reads them: the core's defaults, its
    /// checks, and its error for an unknown keyword (`$.prot: unknown field ...`).
    #[new]
    #[pyo3(signature = (server, **keys))]
    fn new(server: &Bound<'_, PyAny>, keys: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let py = server.py();
        let json = PyDict::new(py);
        json.set_item("server", server)?;
        let path_like = py.import("os")?.getattr("PathLike")?;
        for (key, value) in keys.map(PyDictMethods::iter).into_iter().flatten() {
            // A path (tls_ca_file) may be given as an os.PathLike; its JSON form is the str.
            let value = if value.is_instance(&path_like)? { value.call_method0("__fspath__")? } else { value };
            json.set_item(key, value)?;
        }
        Ok(PyProfile { inner: Profile::from_json_value(&convert::from_py(&json)?).py_err()? })
    }

    /// Parses and validates profile JSON (unknown keys are errors naming the key).
    #[staticmethod]
    fn from_json(text: &str) -> PyResult<Self> {
        Ok(PyProfile { inner: Profile::from_json(text).py_err()? })
    }

    /// Like `from_json`, from a dict of the same shape.
    #[staticmethod]
    fn from_dict(data: &Bound<'_, PyAny>) -> PyResult<Self> {
        Ok(PyProfile { inner: Profile::from_json_value(&convert::from_py(data)?).py_err()? })
    }

    /// The profile as JSON text. An encrypted password is written as its envelope; a plain
    /// password as typed.
    fn to_json(&self) -> String {
        self.inner.to_json()
    }

    /// The profile as a dict (the JSON form).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        convert::to_py(py, &self.inner.to_json_value())
    }

    /// Checks every key; raises `ConfigError` naming the JSON path of the first problem.
    fn validate(&self) -> PyResult<()> {
        self.inner.validate().py_err()
    }

    /// Encrypts `plaintext` under the keyring's newest key and stores the envelope (bound to the
    /// field `password` and this profile's `id`). The plaintext is literal: tags in it are not
    /// expanded.
    fn encrypt_password(&mut self, plaintext: &str, keyring: &PyKeyring) -> PyResult<()> {
        self.inner.encrypt_password(plaintext, &keyring.inner).py_err()
    }

    /// Encrypts the current plain-text password in place (the dialog's "Encrypted" box).
    fn encrypt_current_password(&mut self, keyring: &PyKeyring) -> PyResult<()> {
        self.inner.encrypt_current_password(&keyring.inner).py_err()
    }

    /// Re-encrypts an encrypted password (and an encrypted `tls_client_key`) under the
    /// keyring's newest key; returns whether anything changed.
    fn rotate_password(&mut self, keyring: &PyKeyring) -> PyResult<bool> {
        self.inner.rotate_password(&keyring.inner).py_err()
    }

    /// Stores an envelope read from saved configuration as the (encrypted) password.
    fn set_password_envelope(&mut self, envelope: String) -> PyResult<()> {
        self.inner.set_password_envelope(envelope).py_err()
    }

    /// The port in effect: the given one, else 465 when encrypted, else 25.
    #[getter]
    fn effective_port(&self) -> u16 {
        self.inner.effective_port()
    }

    /// Whether the password is stored as an envelope.
    #[getter]
    fn password_encrypted(&self) -> bool {
        self.inner.password_encrypted()
    }

    /// The password as the dialog shows it: asterisks when encrypted, the text otherwise.
    #[getter]
    fn password_display(&self) -> Option<&str> {
        self.inner.password_display()
    }

    /// The password as saved: the plain text (tags unexpanded) or the `enc:v1:` envelope.
    #[getter]
    fn get_password(&self) -> Option<&str> {
        self.inner.password().map(|p| match p {
            Password::Plain(s) => s.expose(),
            Password::Encrypted(env) => env.as_str(),
        })
    }

    /// Setting a str stores it as a plain-text password; `None` removes the password.
    #[setter]
    fn set_password(&mut self, password: Option<String>) {
        match password {
            Some(p) => self.inner.set_password(p),
            None => self.inner.clear_password(),
        }
    }

    #[getter]
    fn get_server(&self) -> &str {
        &self.inner.server
    }
    #[setter]
    fn set_server(&mut self, v: String) {
        self.inner.server = v;
    }
    /// The port as given (`None`: the default, see `effective_port`).
    #[getter]
    fn get_port(&self) -> Option<u16> {
        self.inner.port
    }
    #[setter]
    fn set_port(&mut self, v: Option<i64>) -> PyResult<()> {
        self.inner.set_port(v).py_err()
    }
    #[getter]
    fn get_encrypted_connection(&self) -> bool {
        self.inner.encrypted_connection
    }
    #[setter]
    fn set_encrypted_connection(&mut self, v: bool) {
        self.inner.encrypted_connection = v;
    }
    #[getter]
    fn get_tls_mode(&self) -> Option<&'static str> {
        self.inner.tls_mode.map(TlsChoice::as_str)
    }
    #[setter]
    fn set_tls_mode(&mut self, v: Option<&str>) -> PyResult<()> {
        self.inner.tls_mode = v.map(|name| parse_choice("$.tls_mode", name)).transpose().py_err()?;
        Ok(())
    }
    #[getter]
    fn get_starttls(&self) -> Option<&'static str> {
        self.inner.starttls.map(StarttlsPolicy::as_str)
    }
    #[setter]
    fn set_starttls(&mut self, v: Option<&str>) -> PyResult<()> {
        self.inner.starttls = v.map(|name| parse_choice("$.starttls", name)).transpose().py_err()?;
        Ok(())
    }
    #[getter]
    fn get_requires_authentication(&self) -> bool {
        self.inner.requires_authentication
    }
    #[setter]
    fn set_requires_authentication(&mut self, v: bool) {
        self.inner.requires_authentication = v;
    }
    #[getter]
    fn get_username(&self) -> Option<&str> {
        self.inner.username.as_deref()
    }
    #[setter]
    fn set_username(&mut self, v: Option<String>) {
        self.inner.username = v;
    }
    #[getter]
    fn get_use_ntlm_current_user(&self) -> bool {
        self.inner.use_ntlm_current_user
    }
    /// Turning it on also turns on `requires_authentication` (the core's rule).
    #[setter]
    fn set_use_ntlm_current_user(&mut self, v: bool) {
        self.inner.set_ntlm_current_user(v);
    }
    #[getter]
    fn get_auth_mechanisms(&self) -> Option<Vec<String>> {
        self.inner.auth_mechanisms.clone()
    }
    #[setter]
    #[allow(clippy::needless_pass_by_value)] // pyo3 hands the list over owned
    fn set_auth_mechanisms(&mut self, v: Option<Vec<String>>) {
        self.inner.set_auth_mechanisms(v.as_deref());
    }
    #[getter]
    fn get_auth_order(&self) -> &'static str {
        self.inner.auth_order.as_str()
    }
    #[setter]
    fn set_auth_order(&mut self, v: &str) -> PyResult<()> {
        self.inner.auth_order = parse_choice("$.auth_order", v).py_err()?;
        Ok(())
    }
    #[getter]
    fn get_allow_plaintext_password(&self) -> bool {
        self.inner.allow_plaintext_password
    }
    #[setter]
    fn set_allow_plaintext_password(&mut self, v: bool) {
        self.inner.allow_plaintext_password = v;
    }
    #[getter]
    fn get_tls_verify(&self) -> bool {
        self.inner.tls_verify
    }
    #[setter]
    fn set_tls_verify(&mut self, v: bool) {
        self.inner.tls_verify = v;
    }
    #[getter]
    fn get_tls_ca_file(&self) -> Option<&str> {
        self.inner.tls_ca_file.as_deref()
    }
    #[setter]
    fn set_tls_ca_file(&mut self, v: Option<PathBuf>) -> PyResult<()> {
        self.inner.tls_ca_file = v.map(|p| path_str(p, "tls_ca_file")).transpose()?;
        Ok(())
    }
    #[getter]
    fn get_tls_ca_pem(&self) -> Option<&str> {
        self.inner.tls_ca_pem.as_deref()
    }
    #[setter]
    fn set_tls_ca_pem(&mut self, v: Option<String>) {
        self.inner.tls_ca_pem = v;
    }
    #[getter]
    fn get_helo_name(&self) -> Option<&str> {
        self.inner.helo_name.as_deref()
    }
    #[setter]
    fn set_helo_name(&mut self, v: Option<String>) {
        self.inner.helo_name = v;
    }
    #[getter]
    fn get_timeout_secs(&self) -> f64 {
        self.inner.timeout_secs
    }
    #[setter]
    fn set_timeout_secs(&mut self, v: f64) {
        self.inner.timeout_secs = v;
    }
    #[getter]
    fn get_id(&self) -> Option<&str> {
        self.inner.id.as_deref()
    }
    #[setter]
    fn set_id(&mut self, v: Option<String>) {
        self.inner.id = v;
    }
    // ---- #15 "reach": proxy, proxy_password, protocol ----
    /// The proxy URL (`socks5://`, `socks5h://` or `http://`), as saved (tags unexpanded).
    #[getter]
    fn get_proxy(&self) -> Option<&str> {
        self.inner.proxy.as_deref()
    }
    #[setter]
    fn set_proxy(&mut self, v: Option<String>) {
        self.inner.proxy = v;
    }
    /// The proxy password as saved: the plain text (tags unexpanded) or the `enc:v1:` envelope.
    #[getter]
    fn get_proxy_password(&self) -> Option<&str> {
        self.inner.proxy_password().map(|p| match p {
            Password::Plain(s) => s.expose(),
            Password::Encrypted(env) => env.as_str(),
        })
    }
    /// Setting a str stores it as a plain-text proxy password; `None` removes it.
    #[setter]
    fn set_proxy_password(&mut self, v: Option<String>) {
        match v {
            Some(p) => self.inner.set_proxy_password(p),
            None => self.inner.clear_proxy_password(),
        }
    }
    /// Whether the proxy password is stored as an envelope.
    #[getter]
    fn proxy_password_encrypted(&self) -> bool {
        self.inner.proxy_password_encrypted()
    }
    /// Encrypts `plaintext` as the proxy password (bound to the field `proxy_password` and this
    /// profile's `id`). The plaintext is literal.
    fn encrypt_proxy_password(&mut self, plaintext: &str, keyring: &PyKeyring) -> PyResult<()> {
        self.inner.encrypt_proxy_password(plaintext, &keyring.inner).py_err()
    }
    /// Stores an envelope read from saved configuration as the (encrypted) proxy password.
    fn set_proxy_password_envelope(&mut self, envelope: String) -> PyResult<()> {
        self.inner.set_proxy_password_envelope(envelope).py_err()
    }
    /// `"smtp"` (the default) or `"lmtp"`.
    #[getter]
    fn get_protocol(&self) -> &'static str {
        self.inner.protocol.as_str()
    }
    #[setter]
    fn set_protocol(&mut self, v: &str) -> PyResult<()> {
        self.inner.protocol = parse_choice("$.protocol", v).py_err()?;
        Ok(())
    }

    // Client certificate (mutual TLS, #15).
    #[getter]
    fn get_tls_client_cert_file(&self) -> Option<&str> {
        self.inner.tls_client_cert_file.as_deref()
    }
    #[setter]
    fn set_tls_client_cert_file(&mut self, v: Option<PathBuf>) -> PyResult<()> {
        self.inner.tls_client_cert_file = v.map(|p| path_str(p, "tls_client_cert_file")).transpose()?;
        Ok(())
    }
    #[getter]
    fn get_tls_client_cert_pem(&self) -> Option<&str> {
        self.inner.tls_client_cert_pem.as_deref()
    }
    #[setter]
    fn set_tls_client_cert_pem(&mut self, v: Option<String>) {
        self.inner.tls_client_cert_pem = v;
    }
    #[getter]
    fn get_tls_client_key_file(&self) -> Option<&str> {
        self.inner.tls_client_key_file.as_deref()
    }
    #[setter]
    fn set_tls_client_key_file(&mut self, v: Option<PathBuf>) -> PyResult<()> {
        self.inner.tls_client_key_file = v.map(|p| path_str(p, "tls_client_key_file")).transpose()?;
        Ok(())
    }
    /// The inline client key as saved: the PEM text or the `enc:v1:` envelope.
    #[getter]
    fn get_tls_client_key(&self) -> Option<&str> {
        self.inner.tls_client_key().map(|p| match p {
            Password::Plain(s) => s.expose(),
            Password::Encrypted(env) => env.as_str(),
        })
    }
    /// PEM text, or an `enc:v1:` envelope read from saved configuration; `None` removes it.
    #[setter]
    fn set_tls_client_key(&mut self, v: Option<String>) {
        match v {
            Some(k) => self.inner.set_tls_client_key(&k),
            None => self.inner.clear_tls_client_key(),
        }
    }
    /// Whether the inline client key is stored as an envelope.
    #[getter]
    fn tls_client_key_encrypted(&self) -> bool {
        self.inner.tls_client_key_encrypted()
    }
    /// Encrypts the PEM key `plaintext` under the keyring's newest key and stores the envelope
    /// as `tls_client_key` (bound to that field and this profile's `id`).
    fn encrypt_tls_client_key(&mut self, plaintext: &str, keyring: &PyKeyring) -> PyResult<()> {
        self.inner.encrypt_tls_client_key(plaintext, &keyring.inner).py_err()
    }
    /// Encrypts the current plain inline client key in place.
    fn encrypt_current_tls_client_key(&mut self, keyring: &PyKeyring) -> PyResult<()> {
        self.inner.encrypt_current_tls_client_key(&keyring.inner).py_err()
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other.cast::<PyProfile>().is_ok_and(|o| o.borrow().inner == self.inner)
    }

    fn __copy__(&self) -> Self {
        self.clone()
    }

    fn __deepcopy__(&self, _memo: &Bound<'_, PyAny>) -> Self {
        self.clone()
    }

    /// Never shows the password: `'********'` stands for any password, plain or encrypted.
    fn __repr__(&self) -> String {
        let p = &self.inner;
        let opt = |v: Option<&str>| v.map_or_else(|| "None".to_owned(), |s| format!("{s:?}"));
        format!(
            "Profile(id={}, server={:?}, port={}, encrypted_connection={}, requires_authentication={}, \
             username={}, password={}, password_encrypted={})",
            opt(p.id.as_deref()),
            p.server,
            p.effective_port(),
            py_bool(p.encrypted_connection),
            py_bool(p.requires_authentication),
            opt(p.username.as_deref()),
            if p.password().is_some() { "'********'" } else { "None" },
            py_bool(p.password_encrypted()),
        )
    }
}

pub(crate) fn py_bool(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}
