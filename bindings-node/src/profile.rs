//! `Profile` and `encryptPassword`: the core's profile with camelCase accessors. The options
//! object of the constructor uses camelCase keys; the saved JSON (`fromJSON`, `toJSON`) is the
//! core's snake_case format, the same file in every language.

use napi::Env;
use napi_derive::napi;
use relaykit::profile::{AuthOrder, StarttlsPolicy, TlsMode};
use serde_json::{Map, Value};

use crate::error::JsResult;
use crate::keyring::Keyring;

/// The options of `new Profile(...)`: §1's keys in camelCase. `undefined` and `null` mean
/// "not given". Unknown keys are an error naming the key.
#[napi(object, object_to_js = false)]
#[allow(dead_code)] // only describes the TypeScript type; the constructor reads a plain object
pub struct ProfileOptions {
    pub server: String,
    pub port: Option<u32>,
    pub encrypted_connection: Option<bool>,
    #[napi(ts_type = "'auto' | 'implicit' | 'starttls'")]
    pub tls_mode: Option<String>,
    #[napi(ts_type = "'opportunistic' | 'never'")]
    pub starttls: Option<String>,
    pub requires_authentication: Option<bool>,
    pub username: Option<String>,
    /// Plain text (RRTs allowed), or an `enc:v1:` envelope when `passwordEncrypted` is true.
    pub password: Option<String>,
    pub password_encrypted: Option<bool>,
    pub use_ntlm_current_user: Option<bool>,
    pub auth_mechanisms: Option<Vec<String>>,
    #[napi(ts_type = "'preference' | 'as_listed'")]
    pub auth_order: Option<String>,
    pub allow_plaintext_password: Option<bool>,
    pub tls_verify: Option<bool>,
    pub tls_ca_file: Option<String>,
    pub tls_ca_pem: Option<String>,
    pub helo_name: Option<String>,
    pub timeout_secs: Option<f64>,
    pub id: Option<String>,
    /// The format version; only 1 exists.
    #[napi(ts_type = "1")]
    pub version: Option<u32>,
}

/// camelCase option keys to the core's snake_case names. A key with an underscore is refused, so
/// each option has one spelling.
fn snake_case_options(env: Env, options: Value) -> napi::Result<Value> {
    let Value::Object(obj) = options else {
        return relaykit::Profile::from_json_value(&options).map(|_| Value::Null).js(env);
    };
    let mut out = Map::with_capacity(obj.len());
    for (key, value) in obj {
        if key.contains('_') {
            return Err(relaykit::Error::config(&format!("$.{key}"), "unknown key (options use camelCase)")).js(env);
        }
        let mut snake = String::with_capacity(key.len() + 4);
        for c in key.chars() {
            if c.is_ascii_uppercase() {
                snake.push('_');
                snake.push(c.to_ascii_lowercase());
            } else {
                snake.push(c);
            }
        }
        if !value.is_null() {
            out.insert(snake, value);
        }
    }
    Ok(Value::Object(out))
}

fn tls_mode(env: Env, name: &str) -> napi::Result<TlsMode> {
    match name {
        "auto" => Ok(TlsMode::Auto),
        "implicit" => Ok(TlsMode::Implicit),
        "starttls" => Ok(TlsMode::Starttls),
        _ => {
            Err(relaykit::Error::config("$.tls_mode", format!("`{name}` is not one of `auto`, `implicit`, `starttls`")))
                .js(env)
        }
    }
}

fn starttls_policy(env: Env, name: &str) -> napi::Result<StarttlsPolicy> {
    match name {
        "opportunistic" => Ok(StarttlsPolicy::Opportunistic),
        "never" => Ok(StarttlsPolicy::Never),
        _ => Err(relaykit::Error::config("$.starttls", format!("`{name}` is not one of `opportunistic`, `never`")))
            .js(env),
    }
}

fn auth_order(env: Env, name: &str) -> napi::Result<AuthOrder> {
    match name {
        "preference" => Ok(AuthOrder::Preference),
        "as_listed" => Ok(AuthOrder::AsListed),
        _ => Err(relaykit::Error::config("$.auth_order", format!("`{name}` is not one of `preference`, `as_listed`")))
            .js(env),
    }
}

/// An SMTP server profile (§1). Setters do not validate: call `validate()` (Test and Send will
/// too), as the dialog checks when it is closed.
#[derive(Debug)] // the core's Debug, which hides secrets
#[napi]
pub struct Profile {
    pub(crate) inner: relaykit::Profile,
}

#[napi]
impl Profile {
    /// A validated profile from camelCase options.
    #[napi(constructor, ts_args_type = "options: ProfileOptions")]
    pub fn new(env: Env, options: Value) -> napi::Result<Self> {
        let json = snake_case_options(env, options)?;
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
    #[napi(js_name = "toJSON", ts_return_type = "Record<string, unknown>")]
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
    pub fn set_port(&mut self, env: Env, port: Option<u32>) -> napi::Result<()> {
        self.inner.port = match port {
            None => None,
            Some(p) => Some(u16::try_from(p).ok().filter(|&p| p != 0).ok_or_else(|| {
                crate::error::to_js(
                    env,
                    &relaykit::Error::config("$.port", format!("{p} is out of range: a port is 1 to 65535")),
                )
            })?),
        };
        Ok(())
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

    #[napi(getter, ts_return_type = "'auto' | 'implicit' | 'starttls' | null")]
    pub fn tls_mode(&self) -> Option<&'static str> {
        self.inner.tls_mode.map(TlsMode::as_str)
    }
    #[napi(setter, js_name = "tlsMode", ts_args_type = "mode: 'auto' | 'implicit' | 'starttls' | null")]
    pub fn set_tls_mode(&mut self, env: Env, mode: Option<String>) -> napi::Result<()> {
        self.inner.tls_mode = mode.map(|m| tls_mode(env, &m)).transpose()?;
        Ok(())
    }

    #[napi(getter, ts_return_type = "'opportunistic' | 'never' | null")]
    pub fn starttls(&self) -> Option<&'static str> {
        self.inner.starttls.map(StarttlsPolicy::as_str)
    }
    #[napi(setter, js_name = "starttls", ts_args_type = "policy: 'opportunistic' | 'never' | null")]
    pub fn set_starttls(&mut self, env: Env, policy: Option<String>) -> napi::Result<()> {
        self.inner.starttls = policy.map(|p| starttls_policy(env, &p)).transpose()?;
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

    /// Re-encrypts an encrypted password under the keyring's newest key; returns whether it
    /// changed.
    #[napi]
    pub fn rotate_password(&mut self, env: Env, keyring: &Keyring) -> napi::Result<bool> {
        self.inner.rotate_password(&keyring.inner).js(env)
    }

    #[napi(getter)]
    pub fn use_ntlm_current_user(&self) -> bool {
        self.inner.use_ntlm_current_user
    }
    #[napi(setter, js_name = "useNtlmCurrentUser")]
    pub fn set_use_ntlm_current_user(&mut self, on: bool) {
        self.inner.use_ntlm_current_user = on;
    }

    #[napi(getter)]
    pub fn auth_mechanisms(&self) -> Option<Vec<String>> {
        self.inner.auth_mechanisms.clone()
    }
    #[napi(setter, js_name = "authMechanisms", ts_args_type = "names: Array<string> | null")]
    pub fn set_auth_mechanisms(&mut self, names: Option<Vec<String>>) {
        self.inner.auth_mechanisms = names.map(|n| n.into_iter().map(|m| m.to_ascii_uppercase()).collect());
    }

    #[napi(getter, ts_return_type = "'preference' | 'as_listed'")]
    pub fn auth_order(&self) -> &'static str {
        self.inner.auth_order.as_str()
    }
    #[napi(setter, js_name = "authOrder", ts_args_type = "order: 'preference' | 'as_listed'")]
    pub fn set_auth_order(&mut self, env: Env, order: String) -> napi::Result<()> {
        self.inner.auth_order = auth_order(env, &order)?;
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
}

/// §8's `encrypt_password(profile, plaintext, keyring)`: gives the profile its envelope and sets
/// `passwordEncrypted`. The same as `profile.encryptPassword(plaintext, keyring)`.
#[napi]
pub fn encrypt_password(env: Env, profile: &mut Profile, plaintext: String, keyring: &Keyring) -> napi::Result<()> {
    profile.encrypt_password(env, plaintext, keyring)
}
