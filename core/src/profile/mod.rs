//! The SMTP server profile of the "SMTP Server Configuration" dialog: one JSON object, validated
//! on the way in, written back with the password as an envelope when it is encrypted.
//!
//! ```
//! use relaykit::Profile;
//! let p = Profile::from_json(r#"{"server": "smtp.example.com", "encrypted_connection": true}"#).unwrap();
//! assert_eq!(p.effective_port(), 465);
//! let e = Profile::from_json(r#"{"server": "smtp.example.com", "prot": 25}"#).unwrap_err();
//! assert!(e.message().starts_with("$.prot: unknown field `prot`"));
//! ```

use std::fmt;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::json::{self, Root};
use crate::secret::{self, Keyring, SecretString};

mod builder;
mod choices;
mod file;
mod host;
mod mtls;
mod reach;
mod validate;

pub use builder::ProfileBuilder;
pub use choices::{AuthOrder, StarttlsPolicy, TlsChoice, parse_choice};
pub use host::{Host, parse_host};
pub use reach::{PROXY_PASSWORD_FIELD, Protocol, SOCKET_PREFIX};

/// The profile format version this relaykit reads and writes.
pub const FORMAT_VERSION: u64 = 1;

/// The largest `timeout_secs` accepted (one hour).
pub const MAX_TIMEOUT_SECS: f64 = 3600.0;

/// `timeout_secs` when the profile does not say.
pub const DEFAULT_TIMEOUT_SECS: f64 = 30.0;

/// The password of a profile: plain text (which may contain RRTs) or an encrypted envelope
/// (whose plaintext is literal).
#[derive(Clone, PartialEq, Eq)]
pub enum Password {
    /// Plain text, in zeroizing memory; RRTs in it are expanded at Test or Send.
    Plain(SecretString),
    /// An `enc:v1:` envelope; decrypted only when used, never RRT-expanded.
    Encrypted(String),
}

impl Password {
    /// The form the dialog shows: asterisks for an encrypted password, the text otherwise
    /// (the dialog shows an unencrypted password as typed).
    pub fn display_form(&self) -> &str {
        match self {
            Password::Plain(s) => s.expose(),
            Password::Encrypted(_) => secret::MASK,
        }
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Password::Plain(_) => f.write_str("Plain(<redacted>)"),
            Password::Encrypted(_) => f.write_str("Encrypted(<envelope>)"),
        }
    }
}

/// An SMTP server profile (§1 of the specification).
///
/// Fields are public so hosts can edit a profile like the dialog does; [`Profile::validate`]
/// (run by [`Profile::from_json`], [`ProfileBuilder::build`] and before every Test or Send)
/// checks them, naming the JSON path of the first problem.
#[derive(Clone, PartialEq)]
#[allow(clippy::struct_excessive_bools)] // the dialog's check boxes, one bool each
pub struct Profile {
    /// Host name, IPv4 or IPv6 address (with or without brackets), or `unix:/absolute/path` for
    /// a Unix domain socket (no DNS; the port is unused; TLS over it verifies the name
    /// `localhost`); RRTs allowed.
    pub server: String,
    /// The port; `None` means 25, or 465 when `encrypted_connection` is true.
    pub port: Option<u16>,
    /// "This server requires an encrypted connection": TLS is then mandatory and verified.
    pub encrypted_connection: bool,
    /// Only with `encrypted_connection`; `None` means [`TlsChoice::Auto`].
    pub tls_mode: Option<TlsChoice>,
    /// Only without `encrypted_connection`; `None` means [`StarttlsPolicy::Opportunistic`].
    pub starttls: Option<StarttlsPolicy>,
    /// "Requires authentication".
    pub requires_authentication: bool,
    /// The user name; RRTs allowed.
    pub username: Option<String>,
    password: Option<Password>,
    /// "Log on using NTLM authentication" as the user running the host process.
    pub use_ntlm_current_user: bool,
    /// An allow-list of mechanism names (upper case), or `None` for all supported.
    pub auth_mechanisms: Option<Vec<String>>,
    /// The order in which allowed mechanisms are tried.
    pub auth_order: AuthOrder,
    /// Permit PLAIN and LOGIN on a connection without TLS.
    pub allow_plaintext_password: bool,
    /// Verify the server's certificate and host name.
    pub tls_verify: bool,
    /// A PEM file of extra trust anchors.
    pub tls_ca_file: Option<String>,
    /// PEM text of extra trust anchors.
    pub tls_ca_pem: Option<String>,
    /// The EHLO/HELO argument; `None` means the machine's host name.
    pub helo_name: Option<String>,
    /// Bound on each stage (connect, TLS, every command, DATA), in seconds.
    pub timeout_secs: f64,
    /// The profile id, bound into the password ciphertext.
    pub id: Option<String>,
    /// A PEM file with the client certificate chain, end-entity first (mutual TLS).
    pub tls_client_cert_file: Option<String>,
    /// The client certificate chain as PEM text.
    pub tls_client_cert_pem: Option<String>,
    /// A PEM file with the client certificate's private key.
    pub tls_client_key_file: Option<String>,
    tls_client_key: Option<Password>,
    /// A proxy URL (`socks5://`, `socks5h://` or `http://`, with `user:pass@` if it needs
    /// them); RRTs allowed.
    pub proxy: Option<String>,
    proxy_password: Option<Password>,
    /// SMTP (the default) or LMTP.
    pub protocol: Protocol,
}

impl fmt::Debug for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Profile")
            .field("id", &self.id)
            .field("server", &self.server)
            .field("port", &self.effective_port())
            .field("encrypted_connection", &self.encrypted_connection)
            .field("tls_mode", &self.tls_mode)
            .field("starttls", &self.starttls)
            .field("requires_authentication", &self.requires_authentication)
            .field("username", &self.username)
            .field("password", &self.password)
            .field("use_ntlm_current_user", &self.use_ntlm_current_user)
            .field("auth_mechanisms", &self.auth_mechanisms)
            .field("auth_order", &self.auth_order)
            .field("allow_plaintext_password", &self.allow_plaintext_password)
            .field("tls_verify", &self.tls_verify)
            .field("tls_ca_file", &self.tls_ca_file)
            .field("tls_ca_pem", &self.tls_ca_pem.as_ref().map(|_| "<pem>"))
            .field("helo_name", &self.helo_name)
            .field("timeout_secs", &self.timeout_secs)
            .field("tls_client_cert_file", &self.tls_client_cert_file)
            .field("tls_client_cert_pem", &self.tls_client_cert_pem.as_ref().map(|_| "<pem>"))
            .field("tls_client_key_file", &self.tls_client_key_file)
            .field("tls_client_key", &self.tls_client_key)
            .field("proxy", &self.proxy.as_deref().map(reach::masked_proxy))
            .field("proxy_password", &self.proxy_password)
            .field("protocol", &self.protocol)
            .finish()
    }
}

impl Profile {
    /// A profile for `server` with every other key at its default. Not yet validated.
    pub fn new(server: impl Into<String>) -> Self {
        Profile {
            server: server.into(),
            port: None,
            encrypted_connection: false,
            tls_mode: None,
            starttls: None,
            requires_authentication: false,
            username: None,
            password: None,
            use_ntlm_current_user: false,
            auth_mechanisms: None,
            auth_order: AuthOrder::Preference,
            allow_plaintext_password: false,
            tls_verify: true,
            tls_ca_file: None,
            tls_ca_pem: None,
            helo_name: None,
            timeout_secs: DEFAULT_TIMEOUT_SECS,
            id: None,
            tls_client_cert_file: None,
            tls_client_cert_pem: None,
            tls_client_key_file: None,
            tls_client_key: None,
            proxy: None,
            proxy_password: None,
            protocol: Protocol::Smtp,
        }
    }

    /// A builder for Rust callers.
    pub fn builder(server: impl Into<String>) -> ProfileBuilder {
        ProfileBuilder(Profile::new(server))
    }

    /// The port in effect: the given one, else 465 when encrypted, else 25.
    pub fn effective_port(&self) -> u16 {
        self.port.unwrap_or(if self.encrypted_connection { 465 } else { 25 })
    }

    /// The password, if any.
    pub fn password(&self) -> Option<&Password> {
        self.password.as_ref()
    }

    /// Whether the password is stored as an envelope (the dialog's "Encrypted").
    pub fn password_encrypted(&self) -> bool {
        matches!(self.password, Some(Password::Encrypted(_)))
    }

    /// The password as the dialog shows it: asterisks when encrypted.
    pub fn password_display(&self) -> Option<&str> {
        self.password.as_ref().map(Password::display_form)
    }

    /// Sets the port; `None` returns to the default (25, or 465 when encrypted). Any integer a
    /// caller has is accepted here and checked once: 0 and numbers above 65535 are the same
    /// `$.port` error in every binding.
    pub fn set_port(&mut self, port: Option<i64>) -> Result<()> {
        self.port = port.map(validate::port_number).transpose()?;
        Ok(())
    }

    /// The dialog's "Log on using NTLM authentication" check box: authenticating as the user
    /// running the process is authenticating, so turning it on also sets
    /// `requires_authentication` (turning it off leaves that as it is).
    pub fn set_ntlm_current_user(&mut self, on: bool) {
        self.use_ntlm_current_user = on;
        if on {
            self.requires_authentication = true;
        }
    }

    /// Sets the allow-list of mechanisms (`None`: every mechanism of §4), in the one spelling
    /// the profile keeps (upper case); [`Profile::validate`] checks the names.
    pub fn set_auth_mechanisms<S: AsRef<str>>(&mut self, names: Option<&[S]>) {
        self.auth_mechanisms = names.map(mechanism_spelling);
    }

    /// Sets a plain-text password (RRTs in it are expanded at Test or Send).
    pub fn set_password(&mut self, password: impl Into<String>) {
        self.password = Some(Password::Plain(SecretString::new(password)));
    }

    /// Sets an already encrypted password envelope (as read from saved configuration).
    pub fn set_password_envelope(&mut self, envelope: impl Into<String>) -> Result<()> {
        let envelope = envelope.into();
        if !secret::is_envelope(&envelope) {
            return Err(Error::config("$.password", "not an `enc:v1:` envelope"));
        }
        self.password = Some(Password::Encrypted(envelope));
        Ok(())
    }

    /// Removes the password.
    pub fn clear_password(&mut self) {
        self.password = None;
    }

    /// Encrypts `plaintext` under the keyring's newest key and stores the envelope, bound to
    /// the field `password` and this profile's `id`. The plaintext is literal: an RRT in it is
    /// encrypted as text and never expanded.
    pub fn encrypt_password(&mut self, plaintext: &str, keyring: &Keyring) -> Result<()> {
        let env = keyring.encrypt(plaintext, secret::PASSWORD_FIELD, self.id.as_deref())?;
        self.password = Some(Password::Encrypted(env));
        Ok(())
    }

    /// Encrypts the current plain-text password in place (the dialog's "Encrypted" check box).
    /// Does nothing if it is already encrypted or absent.
    pub fn encrypt_current_password(&mut self, keyring: &Keyring) -> Result<()> {
        if let Some(Password::Plain(p)) = &self.password {
            let p = p.clone();
            self.encrypt_password(p.expose(), keyring)?;
        }
        Ok(())
    }

    /// Re-encrypts every secret of the profile kept as an envelope — the password, the proxy
    /// password and the client certificate's key — under the keyring's newest key (rotation).
    /// Returns whether anything changed. All or nothing: on an error nothing is changed.
    pub fn rotate_password(&mut self, keyring: &Keyring) -> Result<bool> {
        let id = self.id.clone();
        let password = rotated(self.password.as_ref(), secret::PASSWORD_FIELD, id.as_deref(), keyring)?;
        let proxy = rotated(self.proxy_password.as_ref(), reach::PROXY_PASSWORD_FIELD, id.as_deref(), keyring)?;
        let key = rotated(self.tls_client_key.as_ref(), secret::TLS_CLIENT_KEY_FIELD, id.as_deref(), keyring)?;
        let changed = password.is_some() || proxy.is_some() || key.is_some();
        for (slot, new) in
            [(&mut self.password, password), (&mut self.proxy_password, proxy), (&mut self.tls_client_key, key)]
        {
            if let Some(env) = new {
                *slot = Some(Password::Encrypted(env));
            }
        }
        Ok(changed)
    }

    /// Parses and validates profile JSON. Unknown keys, wrong types and invalid values are
    /// [`crate::ErrorKind::Config`] errors naming the JSON path.
    pub fn from_json(text: &str) -> Result<Self> {
        Profile::from_json_value(&json::parse_text(text, Root::Profile)?)
    }

    /// Like [`Profile::from_json`], from a parsed value.
    pub fn from_json_value(value: &Value) -> Result<Self> {
        if !value.is_object() {
            return Err(Error::config("$", format!("expected an object, found {}", json::type_name(value))));
        }
        json::from_value::<file::ProfileFile>(value, Root::Profile)?.try_into()
    }

    /// The profile as a JSON value. An encrypted password is written as its envelope, never as
    /// plaintext; a plain password is written as typed (the dialog stores it so).
    pub fn to_json_value(&self) -> Value {
        serde_json::to_value(file::ProfileFile::from(self)).unwrap_or(Value::Null)
    }

    /// The profile as pretty-printed JSON (see [`Profile::to_json_value`]).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(&file::ProfileFile::from(self)).unwrap_or_default()
    }
}

/// The envelope `held` re-encrypted under the keyring's newest key, bound to `field` and
/// `id`; `None` when it is not an envelope or already under the newest key (then it is still
/// decrypted, so a broken envelope is reported now rather than at send time).
fn rotated(held: Option<&Password>, field: &str, id: Option<&str>, keyring: &Keyring) -> Result<Option<String>> {
    let Some(Password::Encrypted(env)) = held else { return Ok(None) };
    let newest = keyring.newest_key_id().ok_or_else(|| Error::crypto("the keyring has no key to rotate to"))?;
    if env.strip_prefix(secret::ENVELOPE_PREFIX).and_then(|r| r.split(':').next()) == Some(newest) {
        keyring.decrypt(env, field, id)?;
        return Ok(None);
    }
    keyring.reencrypt(env, field, id).map(Some)
}

/// Mechanism names in the one spelling a profile keeps and writes (upper case).
fn mechanism_spelling<S: AsRef<str>>(names: &[S]) -> Vec<String> {
    names.iter().map(|n| n.as_ref().to_ascii_uppercase()).collect()
}
