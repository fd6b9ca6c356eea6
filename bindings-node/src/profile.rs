//! `Profile` and `encryptPassword`: the core's profile with camelCase accessors. The options
//! object of the constructor is the saved JSON with camelCase keys (`js.rs`); the saved JSON
//! (`fromJSON`, `toJSON`) is the core's snake_case format, the same file in every language.
//! Every rule (ranges, names, what a check box implies) is the core's.

use napi::Env;
use napi::bindgen_prelude::Unknown;
use napi_derive::napi;
use relaykit::profile::{AuthOrder, StarttlsPolicy, TlsChoice, parse_choice};
use serde_json::Value;

use crate::error::JsResult;
use crate::keyring::Keyring;

/// An SMTP server profile (§1). Setters do not validate: call `validate()` (Test and Send will
/// too), as the dialog checks when it is closed.
#[derive(Debug)] // the core's Debug, which hides secrets
#[napi]
pub struct Profile {
    pub(crate) inner: relaykit::Profile,
}

#[napi]
impl Profile {
    /// A validated profile from camelCase options (`undefined` and `null` mean "not given").
    #[napi(constructor, ts_args_type = "options: ProfileOptions")]
    pub fn new(env: Env, options: Unknown<'_>) -> napi::Result<Self> {
        let json = crate::js::core_json(env, options)?;
        Ok(Profile { inner: relaykit::Profile::from_json_value(&json).js(env)? })
    }

    /// A validated profile from saved JSON (snake_case keys, as `toJSON()` writes), given as text
    /// or as an already parsed object.
    #[napi(factory, js_name = "fromJSON", ts_args_type = "json: string | Record<string, unknown>")]
    pub fn from_json(env: Env, json: Value) -> napi::Result<Self> {
        let inner = match json {
            Value::String(text) => relaykit::Profile::from_json(&text),
            value => relaykit::Profile::from_json_value(&value),
        };
        Ok(Profile { inner: inner.js(env)? })
    }

    /// The saved form: snake_case keys, an encrypted password as its envelope. `JSON.stringify`
    /// calls this.
    #[napi(js_name = "toJSON", ts_return_type = "ProfileJSON")]
    pub fn to_json(&self) -> Value {
        self.inner.to_json_value()
    }

    /// Checks every key; throws a `CONFIG` error naming the JSON path of the first problem.
    #[napi]
    pub fn validate(&self, env: Env) -> napi::Result<()> {
        self.inner.validate().js(env)
    }

    #[napi(getter)]
    pub fn server(&self) -> String {
        self.inner.server.clone()
    }
    #[napi(setter, js_name = "server")]
    pub fn set_server(&mut self, server: String) {
        self.inner.server = server;
    }

    /// The port as given; `null` means the default (see `effectivePort`).
    #[napi(getter)]
    pub fn port(&self) -> Option<u32> {
        self.inner.port.map(u32::from)
    }
    #[napi(setter, js_name = "port", ts_args_type = "port: number | null")]
    pub fn set_port(&mut self, env: Env, port: Option<i64>) -> napi::Result<()> {
        self.inner.set_port(port).js(env)
    }

    /// The port in effect: the given one, else 465 when encrypted, else 25.
    #[napi(getter)]
    pub fn effective_port(&self) -> u32 {
        u32::from(self.inner.effective_port())
    }

    #[napi(getter)]
    pub fn encrypted_connection(&self) -> bool {
        self.inner.encrypted_connection
    }
    #[napi(setter, js_name = "encryptedConnection")]
    pub fn set_encrypted_connection(&mut self, on: bool) {
        self.inner.encrypted_connection = on;
    }

    #[napi(getter, ts_return_type = "TlsChoice | null")]
    pub fn tls_mode(&self) -> Option<&'static str> {
        self.inner.tls_mode.map(TlsChoice::as_str)
    }
    #[napi(setter, js_name = "tlsMode", ts_args_type = "mode: TlsChoice | null")]
    pub fn set_tls_mode(&mut self, env: Env, mode: Option<String>) -> napi::Result<()> {
        self.inner.tls_mode = mode.map(|m| parse_choice("$.tls_mode", &m)).transpose().js(env)?;
        Ok(())
    }

    #[napi(getter, ts_return_type = "StarttlsPolicy | null")]
    pub fn starttls(&self) -> Option<&'static str> {
        self.inner.starttls.map(StarttlsPolicy::as_str)
    }
    #[napi(setter, js_name = "starttls", ts_args_type = "policy: StarttlsPolicy | null")]
    pub fn set_starttls(&mut self, env: Env, policy: Option<String>) -> napi::Result<()> {
        self.inner.starttls = policy.map(|p| parse_choice("$.starttls", &p)).transpose().js(env)?;
        Ok(())
    }

    #[napi(getter)]
    pub fn requires_authentication(&self) -> bool {
        self.inner.requires_authentication
    }
    #[napi(setter, js_name = "requiresAuthentication")]
    pub fn set_requires_authentication(&mut self, on: bool) {
        self.inner.requires_authentication = on;
    }

    #[napi(getter)]
    pub fn username(&self) -> Option<String> {
        self.inner.username.clone()
    }
    #[napi(setter, js_name = "username", ts_args_type = "username: string | null")]
    pub fn set_username(&mut self, username: Option<String>) {
        self.inner.username = username;
    }

    /// Sets a plain-text password (RRTs in it are expanded at Test or Send).
    #[napi]
    pub fn set_password(&mut self, password: String) {
        self.inner.set_password(password);
    }

    /// Sets an already encrypted `enc:v1:` envelope (as read from saved configuration).
    #[napi]
    pub fn set_password_envelope(&mut self, env: Env, envelope: String) -> napi::Result<()> {
        self.inner.set_password_envelope(envelope).js(env)
    }

    /// Removes the password.
    #[napi]
    pub fn clear_password(&mut self) {
        self.inner.clear_password();
    }

    /// Whether the password is stored as an envelope (the dialog's "Encrypted").
    #[napi(getter)]
    pub fn password_encrypted(&self) -> bool {
        self.inner.password_encrypted()
    }

    /// The password as the dialog shows it: asterisks when encrypted, else as typed.
    #[napi(getter)]
    pub fn password_display(&self) -> Option<String> {
        self.inner.password_display().map(str::to_owned)
    }

    /// Encrypts `plaintext` under the keyring's newest key and stores the envelope, bound to this
    /// profile's `id`. The plaintext is literal: an RRT in it is never expanded.
    #[napi]
    pub fn encrypt_password(&mut self, env: Env, plaintext: String, keyring: &Keyring) -> napi::Result<()> {
        self.inner.encrypt_password(&plaintext, &keyring.inner).js(env)
    }

    /// Encrypts the current plain-text password in place; nothing happens if it is already
    /// encrypted or absent.
    #[napi]
    pub fn encrypt_current_password(&mut self, env: Env, keyring: &Keyring) -> napi::Result<()> {
        self.inner.encrypt_current_password(&keyring.inner).js(env)
    }

    /// Re-encrypts an encrypted password (and an encrypted `tls_client_key`) under the
    /// keyring's newest key; returns whether anything changed.
    #[napi]
    pub fn rotate_password(&mut self, env: Env, keyring: &Keyring) -> napi::Result<bool> {
        self.inner.rotate_password(&keyring.inner).js(env)
    }

    #[napi(getter)]
    pub fn use_ntlm_current_user(&self) -> bool {
        self.inner.use_ntlm_current_user
    }
    /// Turning it on also sets `requiresAuthentication` (the core's rule).
    #[napi(setter, js_name = "useNtlmCurrentUser")]
    pub fn set_use_ntlm_current_user(&mut self, on: bool) {
        self.inner.set_ntlm_current_user(on);
    }

    #[napi(getter)]
    pub fn auth_mechanisms(&self) -> Option<Vec<String>> {
        self.inner.auth_mechanisms.clone()
    }
    #[napi(setter, js_name = "authMechanisms", ts_args_type = "names: Array<string> | null")]
    pub fn set_auth_mechanisms(&mut self, names: Option<Vec<String>>) {
        self.inner.set_auth_mechanisms(names.as_deref());
    }

    #[napi(getter, ts_return_type = "AuthOrder")]
    pub fn auth_order(&self) -> &'static str {
        self.inner.auth_order.as_str()
    }
    #[napi(setter, js_name = "authOrder", ts_args_type = "order: AuthOrder")]
    pub fn set_auth_order(&mut self, env: Env, order: String) -> napi::Result<()> {
        self.inner.auth_order = parse_choice::<AuthOrder>("$.auth_order", &order).js(env)?;
        Ok(())
    }

    #[napi(getter)]
    pub fn allow_plaintext_password(&self) -> bool {
        self.inner.allow_plaintext_password
    }
    #[napi(setter, js_name = "allowPlaintextPassword")]
    pub fn set_allow_plaintext_password(&mut self, on: bool) {
        self.inner.allow_plaintext_password = on;
    }

    #[napi(getter)]
    pub fn tls_verify(&self) -> bool {
        self.inner.tls_verify
    }
    #[napi(setter, js_name = "tlsVerify")]
    pub fn set_tls_verify(&mut self, on: bool) {
        self.inner.tls_verify = on;
    }

    #[napi(getter)]
    pub fn tls_ca_file(&self) -> Option<String> {
        self.inner.tls_ca_file.clone()
    }
    #[napi(setter, js_name = "tlsCaFile", ts_args_type = "path: string | null")]
    pub fn set_tls_ca_file(&mut self, path: Option<String>) {
        self.inner.tls_ca_file = path;
    }

    #[napi(getter)]
    pub fn tls_ca_pem(&self) -> Option<String> {
        self.inner.tls_ca_pem.clone()
    }
    #[napi(setter, js_name = "tlsCaPem", ts_args_type = "pem: string | null")]
    pub fn set_tls_ca_pem(&mut self, pem: Option<String>) {
        self.inner.tls_ca_pem = pem;
    }

    #[napi(getter)]
    pub fn helo_name(&self) -> Option<String> {
        self.inner.helo_name.clone()
    }
    #[napi(setter, js_name = "heloName", ts_args_type = "name: string | null")]
    pub fn set_helo_name(&mut self, name: Option<String>) {
        self.inner.helo_name = name;
    }

    #[napi(getter)]
    pub fn timeout_secs(&self) -> f64 {
        self.inner.timeout_secs
    }
    #[napi(setter, js_name = "timeoutSecs")]
    pub fn set_timeout_secs(&mut self, secs: f64) {
        self.inner.timeout_secs = secs;
    }

    #[napi(getter)]
    pub fn id(&self) -> Option<String> {
        self.inner.id.clone()
    }
    #[napi(setter, js_name = "id", ts_args_type = "id: string | null")]
    pub fn set_id(&mut self, id: Option<String>) {
        self.inner.id = id;
    }

    // Client certificate (mutual TLS, #15).
    #[napi(getter)]
    pub fn tls_client_cert_file(&self) -> Option<String> {
        self.inner.tls_client_cert_file.clone()
    }
    #[napi(setter, js_name = "tlsClientCertFile", ts_args_type = "path: string | null")]
    pub fn set_tls_client_cert_file(&mut self, path: Option<String>) {
        self.inner.tls_client_cert_file = path;
    }

    #[napi(getter)]
    pub fn tls_client_cert_pem(&self) -> Option<String> {
        self.inner.tls_client_cert_pem.clone()
    }
    #[napi(setter, js_name = "tlsClientCertPem", ts_args_type = "pem: string | null")]
    pub fn set_tls_client_cert_pem(&mut self, pem: Option<String>) {
        self.inner.tls_client_cert_pem = pem;
    }

    #[napi(getter)]
    pub fn tls_client_key_file(&self) -> Option<String> {
        self.inner.tls_client_key_file.clone()
    }
    #[napi(setter, js_name = "tlsClientKeyFile", ts_args_type = "path: string | null")]
    pub fn set_tls_client_key_file(&mut self, path: Option<String>) {
        self.inner.tls_client_key_file = path;
    }

    /// Sets the inline client key: PEM text, or an `enc:v1:` envelope read from saved
    /// configuration. Like the password, it has no getter (`toJSON()` writes it).
    #[napi]
    pub fn set_tls_client_key(&mut self, key: String) {
        self.inner.set_tls_client_key(&key);
    }

    /// Removes the inline client key.
    #[napi]
    pub fn clear_tls_client_key(&mut self) {
        self.inner.clear_tls_client_key();
    }

    /// Whether the inline client key is stored as an envelope.
    #[napi(getter)]
    pub fn tls_client_key_encrypted(&self) -> bool {
        self.inner.tls_client_key_encrypted()
    }

    /// Encrypts the PEM key `plaintext` under the keyring's newest key and stores the envelope
    /// as `tls_client_key`, bound to that field and this profile's `id`.
    #[napi]
    pub fn encrypt_tls_client_key(&mut self, env: Env, plaintext: String, keyring: &Keyring) -> napi::Result<()> {
        self.inner.encrypt_tls_client_key(&plaintext, &keyring.inner).js(env)
    }

    /// Encrypts the current plain inline client key in place; nothing happens if it is
    /// already encrypted or absent.
    #[napi]
    pub fn encrypt_current_tls_client_key(&mut self, env: Env, keyring: &Keyring) -> napi::Result<()> {
        self.inner.encrypt_current_tls_client_key(&keyring.inner).js(env)
    }

    // ---- #15 "reach": proxy, proxyPassword, protocol ----
    /// The proxy URL (`socks5://`, `socks5h://` or `http://`), as saved (tags unexpanded).
    #[napi(getter)]
    pub fn proxy(&self) -> Option<String> {
        self.inner.proxy.clone()
    }
    #[napi(setter, js_name = "proxy", ts_args_type = "url: string | null")]
    pub fn set_proxy(&mut self, url: Option<String>) {
        self.inner.proxy = url;
    }

    /// Sets a plain-text proxy password (RRTs in it are expanded at Test or Send); it overrides
    /// a password in the proxy URL.
    #[napi]
    pub fn set_proxy_password(&mut self, password: String) {
        self.inner.set_proxy_password(password);
    }

    /// Sets an already encrypted `enc:v1:` envelope as the proxy password.
    #[napi]
    pub fn set_proxy_password_envelope(&mut self, env: Env, envelope: String) -> napi::Result<()> {
        self.inner.set_proxy_password_envelope(envelope).js(env)
    }

    /// Removes the proxy password.
    #[napi]
    pub fn clear_proxy_password(&mut self) {
        self.inner.clear_proxy_password();
    }

    /// Whether the proxy password is stored as an envelope.
    #[napi(getter)]
    pub fn proxy_password_encrypted(&self) -> bool {
        self.inner.proxy_password_encrypted()
    }

    /// Encrypts `plaintext` as the proxy password, bound to the field `proxy_password` and this
    /// profile's `id`. The plaintext is literal.
    #[napi]
    pub fn encrypt_proxy_password(&mut self, env: Env, plaintext: String, keyring: &Keyring) -> napi::Result<()> {
        self.inner.encrypt_proxy_password(&plaintext, &keyring.inner).js(env)
    }

    /// `'smtp'` (the default) or `'lmtp'`.
    #[napi(getter, ts_return_type = "Protocol")]
    pub fn protocol(&self) -> &'static str {
        self.inner.protocol.as_str()
    }
    #[napi(setter, js_name = "protocol", ts_args_type = "protocol: Protocol")]
    pub fn set_protocol(&mut self, env: Env, protocol: String) -> napi::Result<()> {
        self.inner.protocol = parse_choice("$.protocol", &protocol).js(env)?;
        Ok(())
    }
}

/// §8's `encrypt_password(profile, plaintext, keyring)`: gives the profile its envelope and sets
/// `passwordEncrypted`. The same as `profile.encryptPassword(plaintext, keyring)`.
#[napi]
pub fn encrypt_password(env: Env, profile: &mut Profile, plaintext: String, keyring: &Keyring) -> napi::Result<()> {
    profile.encrypt_password(env, plaintext, keyring)
}
