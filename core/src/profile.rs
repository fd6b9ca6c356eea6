//! The SMTP server profile of the "SMTP Server Configuration" dialog: one JSON object, validated
//! on the way in, written back with the password as an envelope when it is encrypted.
//!
//! ```
//! use relaykit::Profile;
//! let p = Profile::from_json(r#"{"server": "smtp.example.com", "encrypted_connection": true}"#).unwrap();
//! assert_eq!(p.effective_port(), 465);
//! let e = Profile::from_json(r#"{"server": "smtp.example.com", "prot": 25}"#).unwrap_err();
//! assert_eq!(e.message(), "$.prot: unknown key");
//! ```

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::rrt;
use crate::secret::{self, Keyring, SecretString};

/// The profile format version this relaykit reads and writes.
pub const FORMAT_VERSION: u64 = 1;

/// The largest `timeout_secs` accepted (one hour).
pub const MAX_TIMEOUT_SECS: f64 = 3600.0;

/// The mechanism names `auth_mechanisms` accepts, in relaykit's order of preference (§4);
/// XOAUTH2 is used only when listed.
pub const MECHANISM_NAMES: [&str; 7] =
    ["SCRAM-SHA-256", "SCRAM-SHA-1", "NTLM", "CRAM-MD5", "PLAIN", "LOGIN", "XOAUTH2"];

/// How TLS is used when `encrypted_connection` is true.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsMode {
    /// Implicit TLS on port 465, STARTTLS (required) on any other port.
    #[default]
    Auto,
    /// TLS from the first byte (SMTPS).
    Implicit,
    /// STARTTLS, required.
    Starttls,
}

impl TlsMode {
    /// The JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            TlsMode::Auto => "auto",
            TlsMode::Implicit => "implicit",
            TlsMode::Starttls => "starttls",
        }
    }
}

/// What to do about STARTTLS when `encrypted_connection` is false.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StarttlsPolicy {
    /// Upgrade when the server offers STARTTLS; an unverifiable certificate is tolerated
    /// (RFC 7435) and reported by Test as a warning.
    #[default]
    Opportunistic,
    /// Stay in plain text.
    Never,
}

impl StarttlsPolicy {
    /// The JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            StarttlsPolicy::Opportunistic => "opportunistic",
            StarttlsPolicy::Never => "never",
        }
    }
}

/// The order in which allowed mechanisms are tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthOrder {
    /// Most secure first (§4), whatever the order of `auth_mechanisms`.
    #[default]
    Preference,
    /// The order of `auth_mechanisms`.
    AsListed,
}

impl AuthOrder {
    /// The JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthOrder::Preference => "preference",
            AuthOrder::AsListed => "as_listed",
        }
    }
}

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
    /// Host name, IPv4 or IPv6 address (with or without brackets); RRTs allowed.
    pub server: String,
    /// The port; `None` means 25, or 465 when `encrypted_connection` is true.
    pub port: Option<u16>,
    /// "This server requires an encrypted connection": TLS is then mandatory and verified.
    pub encrypted_connection: bool,
    /// Only with `encrypted_connection`; `None` means [`TlsMode::Auto`].
    pub tls_mode: Option<TlsMode>,
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
            timeout_secs: 30.0,
            id: None,
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
        let env = keyring.encrypt(plaintext, "password", self.id.as_deref())?;
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

    /// Re-encrypts an encrypted password under the keyring's newest key (rotation). Returns
    /// whether anything changed.
    pub fn rotate_password(&mut self, keyring: &Keyring) -> Result<bool> {
        let Some(Password::Encrypted(env)) = &self.password else { return Ok(false) };
        let newest = keyring.newest_key_id().ok_or_else(|| Error::crypto("the keyring has no key to rotate to"))?;
        if env.strip_prefix(secret::ENVELOPE_PREFIX).and_then(|r| r.split(':').next()) == Some(newest) {
            // Decrypt anyway, so a broken envelope is reported now rather than at send time.
            keyring.decrypt(env, "password", self.id.as_deref())?;
            return Ok(false);
        }
        let new = keyring.reencrypt(env, "password", self.id.as_deref())?;
        self.password = Some(Password::Encrypted(new));
        Ok(true)
    }

    /// Parses and validates profile JSON. Unknown keys, wrong types and invalid values are
    /// [`crate::ErrorKind::Config`] errors naming the JSON path.
    pub fn from_json(json: &str) -> Result<Self> {
        let value: Value =
            serde_json::from_str(json).map_err(|e| Error::config("$", format!("not valid JSON: {e}")))?;
        Profile::from_json_value(&value)
    }

    /// Like [`Profile::from_json`], from a parsed value.
    pub fn from_json_value(value: &Value) -> Result<Self> {
        let Value::Object(obj) = value else {
            return Err(Error::config("$", format!("expected an object, found {}", type_name(value))));
        };
        let mut p = Profile::new(String::new());
        let mut server = None;
        let mut password_text: Option<String> = None;
        let mut password_encrypted = false;
        for (key, v) in obj {
            let path = format!("$.{key}");
            match key.as_str() {
                "version" => {
                    let n = as_u64(v, &path, "the number 1")?;
                    if n != FORMAT_VERSION {
                        return Err(Error::config(
                            &path,
                            format!("unsupported format version {n}; this relaykit reads version 1"),
                        ));
                    }
                }
                "server" => server = Some(as_str(v, &path)?.to_owned()),
                "port" => {
                    let n = as_u64(v, &path, "an integer from 1 to 65535")?;
                    p.port =
                        Some(u16::try_from(n).ok().filter(|&n| n != 0).ok_or_else(|| {
                            Error::config(&path, format!("{n} is out of range: a port is 1 to 65535"))
                        })?);
                }
                "encrypted_connection" => p.encrypted_connection = as_bool(v, &path)?,
                "tls_mode" => {
                    p.tls_mode = Some(match as_str(v, &path)? {
                        "auto" => TlsMode::Auto,
                        "implicit" => TlsMode::Implicit,
                        "starttls" => TlsMode::Starttls,
                        other => return Err(one_of(&path, other, &["auto", "implicit", "starttls"])),
                    });
                }
                "starttls" => {
                    p.starttls = Some(match as_str(v, &path)? {
                        "opportunistic" => StarttlsPolicy::Opportunistic,
                        "never" => StarttlsPolicy::Never,
                        other => return Err(one_of(&path, other, &["opportunistic", "never"])),
                    });
                }
                "requires_authentication" => p.requires_authentication = as_bool(v, &path)?,
                "username" => p.username = Some(as_str(v, &path)?.to_owned()),
                "password" => password_text = Some(as_str(v, &path)?.to_owned()),
                "password_encrypted" => password_encrypted = as_bool(v, &path)?,
                "use_ntlm_current_user" => p.use_ntlm_current_user = as_bool(v, &path)?,
                "auth_mechanisms" => {
                    let Value::Array(items) = v else {
                        return Err(Error::config(
                            &path,
                            format!("expected a list of mechanism names, found {}", type_name(v)),
                        ));
                    };
                    let mut names = Vec::with_capacity(items.len());
                    for (i, item) in items.iter().enumerate() {
                        names.push(as_str(item, &format!("{path}[{i}]"))?.to_ascii_uppercase());
                    }
                    p.auth_mechanisms = Some(names);
                }
                "auth_order" => {
                    p.auth_order = match as_str(v, &path)? {
                        "preference" => AuthOrder::Preference,
                        "as_listed" => AuthOrder::AsListed,
                        other => return Err(one_of(&path, other, &["preference", "as_listed"])),
                    };
                }
                "allow_plaintext_password" => p.allow_plaintext_password = as_bool(v, &path)?,
                "tls_verify" => p.tls_verify = as_bool(v, &path)?,
                "tls_ca_file" => p.tls_ca_file = Some(as_str(v, &path)?.to_owned()),
                "tls_ca_pem" => p.tls_ca_pem = Some(as_str(v, &path)?.to_owned()),
                "helo_name" => p.helo_name = Some(as_str(v, &path)?.to_owned()),
                "timeout_secs" => {
                    p.timeout_secs = v.as_f64().ok_or_else(|| {
                        Error::config(&path, format!("expected a number of seconds, found {}", type_name(v)))
                    })?;
                }
                "id" => p.id = Some(as_str(v, &path)?.to_owned()),
                _ => return Err(Error::config(&path, "unknown key")),
            }
        }
        p.server = server.ok_or_else(|| Error::config("$.server", "required"))?;
        p.password = match (password_text, password_encrypted) {
            (None, false) => None,
            (None, true) => return Err(Error::config("$.password_encrypted", "is true but there is no password")),
            (Some(t), false) => Some(Password::Plain(SecretString::from(t))),
            (Some(t), true) => Some(Password::Encrypted(t)),
        };
        p.validate()?;
        Ok(p)
    }

    /// Checks every key, naming the JSON path and the reason of the first problem.
    pub fn validate(&self) -> Result<()> {
        validate_server(&self.server)?;
        if self.port == Some(0) {
            return Err(Error::config("$.port", "0 is out of range: a port is 1 to 65535"));
        }
        if self.tls_mode.is_some() && !self.encrypted_connection {
            return Err(Error::config("$.tls_mode", "applies only when encrypted_connection is true"));
        }
        if self.starttls.is_some() && self.encrypted_connection {
            return Err(Error::config(
                "$.starttls",
                "applies only when encrypted_connection is false (an encrypted connection always requires TLS)",
            ));
        }
        if let Some(u) = &self.username {
            if u.chars().any(char::is_control) {
                return Err(Error::config("$.username", "contains a control character"));
            }
        }
        match &self.password {
            Some(Password::Plain(p)) if p.expose().contains('\0') => {
                return Err(Error::config("$.password", "contains a NUL character"));
            }
            Some(Password::Encrypted(env)) if !env.starts_with(secret::ENVELOPE_PREFIX) => {
                return Err(Error::config(
                    "$.password",
                    "password_encrypted is true but the password is not an `enc:v1:<key-id>:<data>` envelope",
                ));
            }
            _ => {}
        }
        if self.use_ntlm_current_user && !self.requires_authentication {
            return Err(Error::config("$.use_ntlm_current_user", "needs requires_authentication to be true"));
        }
        if self.requires_authentication && !self.use_ntlm_current_user {
            if self.username.as_deref().is_none_or(str::is_empty) {
                return Err(Error::config("$.username", "required when requires_authentication is true"));
            }
            if self.password.is_none() {
                return Err(Error::config("$.password", "required when requires_authentication is true"));
            }
        }
        if let Some(list) = &self.auth_mechanisms {
            if list.is_empty() {
                return Err(Error::config("$.auth_mechanisms", "is empty: leave it out to allow every mechanism"));
            }
            for (i, name) in list.iter().enumerate() {
                let path = format!("$.auth_mechanisms[{i}]");
                let upper = name.to_ascii_uppercase();
                if !MECHANISM_NAMES.contains(&upper.as_str()) {
                    return Err(Error::config(
                        &path,
                        format!("unknown mechanism `{name}`; supported: {}", MECHANISM_NAMES.join(", ")),
                    ));
                }
                if list[..i].iter().any(|n| n.eq_ignore_ascii_case(name)) {
                    return Err(Error::config(&path, format!("`{name}` is listed twice")));
                }
            }
            if self.use_ntlm_current_user && !list.iter().any(|n| n.eq_ignore_ascii_case("NTLM")) {
                return Err(Error::config("$.auth_mechanisms", "must include NTLM when use_ntlm_current_user is true"));
            }
        } else if self.auth_order == AuthOrder::AsListed {
            return Err(Error::config("$.auth_order", "`as_listed` needs auth_mechanisms"));
        }
        if let Some(pem) = &self.tls_ca_pem {
            if !pem.contains("-----BEGIN CERTIFICATE-----") {
                return Err(Error::config("$.tls_ca_pem", "contains no PEM certificate (-----BEGIN CERTIFICATE-----)"));
            }
        }
        if self.tls_ca_file.as_deref() == Some("") {
            return Err(Error::config("$.tls_ca_file", "is empty"));
        }
        if let Some(h) = &self.helo_name {
            validate_helo(h)?;
        }
        if !self.timeout_secs.is_finite() || self.timeout_secs <= 0.0 || self.timeout_secs > MAX_TIMEOUT_SECS {
            return Err(Error::config(
                "$.timeout_secs",
                format!(
                    "{} is out of range: give more than 0 and at most {MAX_TIMEOUT_SECS} seconds",
                    self.timeout_secs
                ),
            ));
        }
        if let Some(id) = &self.id {
            if id.is_empty() || id.len() > 256 || id.chars().any(char::is_control) {
                return Err(Error::config("$.id", "must be 1 to 256 characters without control characters"));
            }
        }
        Ok(())
    }

    /// The profile as a JSON value. An encrypted password is written as its envelope, never as
    /// plaintext; a plain password is written as typed (the dialog stores it so).
    pub fn to_json_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("version".into(), FORMAT_VERSION.into());
        if let Some(id) = &self.id {
            m.insert("id".into(), id.clone().into());
        }
        m.insert("server".into(), self.server.clone().into());
        if let Some(p) = self.port {
            m.insert("port".into(), p.into());
        }
        m.insert("encrypted_connection".into(), self.encrypted_connection.into());
        if let Some(t) = self.tls_mode {
            m.insert("tls_mode".into(), t.as_str().into());
        }
        if let Some(s) = self.starttls {
            m.insert("starttls".into(), s.as_str().into());
        }
        m.insert("requires_authentication".into(), self.requires_authentication.into());
        if let Some(u) = &self.username {
            m.insert("username".into(), u.clone().into());
        }
        match &self.password {
            Some(Password::Plain(p)) => {
                m.insert("password".into(), p.expose().into());
            }
            Some(Password::Encrypted(env)) => {
                m.insert("password".into(), env.clone().into());
            }
            None => {}
        }
        m.insert("password_encrypted".into(), self.password_encrypted().into());
        m.insert("use_ntlm_current_user".into(), self.use_ntlm_current_user.into());
        if let Some(list) = &self.auth_mechanisms {
            m.insert("auth_mechanisms".into(), list.iter().map(|n| Value::from(n.to_ascii_uppercase())).collect());
        }
        if self.auth_order != AuthOrder::Preference {
            m.insert("auth_order".into(), self.auth_order.as_str().into());
        }
        m.insert("allow_plaintext_password".into(), self.allow_plaintext_password.into());
        m.insert("tls_verify".into(), self.tls_verify.into());
        if let Some(f) = &self.tls_ca_file {
            m.insert("tls_ca_file".into(), f.clone().into());
        }
        if let Some(p) = &self.tls_ca_pem {
            m.insert("tls_ca_pem".into(), p.clone().into());
        }
        if let Some(h) = &self.helo_name {
            m.insert("helo_name".into(), h.clone().into());
        }
        m.insert("timeout_secs".into(), self.timeout_secs.into());
        Value::Object(m)
    }

    /// The profile as pretty-printed JSON (see [`Profile::to_json_value`]).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(&self.to_json_value()).unwrap_or_default()
    }
}

/// Builds a [`Profile`] for Rust callers; [`ProfileBuilder::build`] validates it.
///
/// ```
/// let p = relaykit::Profile::builder("smtp.example.com")
///     .port(587)
///     .encrypted_connection(true)
///     .credentials("alice", "pa~ss")
///     .build()
///     .unwrap();
/// assert!(p.requires_authentication);
/// ```
#[derive(Debug, Clone)]
pub struct ProfileBuilder(Profile);

impl ProfileBuilder {
    /// Sets the port.
    #[must_use]
    pub fn port(mut self, port: u16) -> Self {
        self.0.port = Some(port);
        self
    }
    /// Sets "This server requires an encrypted connection".
    #[must_use]
    pub fn encrypted_connection(mut self, on: bool) -> Self {
        self.0.encrypted_connection = on;
        self
    }
    /// Sets the TLS mode of an encrypted connection.
    #[must_use]
    pub fn tls_mode(mut self, mode: TlsMode) -> Self {
        self.0.tls_mode = Some(mode);
        self
    }
    /// Sets the STARTTLS policy of an unencrypted connection.
    #[must_use]
    pub fn starttls(mut self, policy: StarttlsPolicy) -> Self {
        self.0.starttls = Some(policy);
        self
    }
    /// Requires authentication with `username` and a plain-text `password` (RRTs allowed).
    #[must_use]
    pub fn credentials(mut self, username: impl Into<String>, password: impl Into<String>) -> Self {
        self.0.requires_authentication = true;
        self.0.username = Some(username.into());
        self.0.set_password(password);
        self
    }
    /// Requires authentication as the user running the process (NTLM).
    #[must_use]
    pub fn ntlm_current_user(mut self) -> Self {
        self.0.requires_authentication = true;
        self.0.use_ntlm_current_user = true;
        self
    }
    /// Restricts the mechanisms.
    #[must_use]
    pub fn auth_mechanisms<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.0.auth_mechanisms = Some(names.into_iter().map(|n| n.into().to_ascii_uppercase()).collect());
        self
    }
    /// Sets the order in which mechanisms are tried.
    #[must_use]
    pub fn auth_order(mut self, order: AuthOrder) -> Self {
        self.0.auth_order = order;
        self
    }
    /// Permits PLAIN and LOGIN without TLS.
    #[must_use]
    pub fn allow_plaintext_password(mut self, on: bool) -> Self {
        self.0.allow_plaintext_password = on;
        self
    }
    /// Turns certificate verification on or off.
    #[must_use]
    pub fn tls_verify(mut self, on: bool) -> Self {
        self.0.tls_verify = on;
        self
    }
    /// Adds trust anchors from a PEM file.
    #[must_use]
    pub fn tls_ca_file(mut self, path: impl Into<String>) -> Self {
        self.0.tls_ca_file = Some(path.into());
        self
    }
    /// Adds trust anchors from PEM text.
    #[must_use]
    pub fn tls_ca_pem(mut self, pem: impl Into<String>) -> Self {
        self.0.tls_ca_pem = Some(pem.into());
        self
    }
    /// Sets the EHLO name.
    #[must_use]
    pub fn helo_name(mut self, name: impl Into<String>) -> Self {
        self.0.helo_name = Some(name.into());
        self
    }
    /// Sets the per-stage timeout.
    #[must_use]
    pub fn timeout_secs(mut self, secs: f64) -> Self {
        self.0.timeout_secs = secs;
        self
    }
    /// Sets the profile id.
    #[must_use]
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.0.id = Some(id.into());
        self
    }
    /// Validates and returns the profile.
    pub fn build(self) -> Result<Profile> {
        self.0.validate()?;
        Ok(self.0)
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn as_str<'a>(v: &'a Value, path: &str) -> Result<&'a str> {
    v.as_str().ok_or_else(|| Error::config(path, format!("expected a string, found {}", type_name(v))))
}

fn as_bool(v: &Value, path: &str) -> Result<bool> {
    v.as_bool().ok_or_else(|| Error::config(path, format!("expected true or false, found {}", type_name(v))))
}

fn as_u64(v: &Value, path: &str, expected: &str) -> Result<u64> {
    match v {
        Value::Number(n) => n.as_u64().ok_or_else(|| Error::config(path, format!("expected {expected}, found {n}"))),
        _ => Err(Error::config(path, format!("expected {expected}, found {}", type_name(v)))),
    }
}

fn one_of(path: &str, got: &str, allowed: &[&str]) -> Error {
    Error::config(
        path,
        format!("`{got}` is not one of {}", allowed.iter().map(|a| format!("`{a}`")).collect::<Vec<_>>().join(", ")),
    )
}

/// A server address after RRT expansion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// A DNS name.
    Name(String),
    /// An IPv4 address.
    V4(Ipv4Addr),
    /// An IPv6 address (written without brackets).
    V6(Ipv6Addr),
}

impl Host {
    /// The host as it is given to the resolver and to TLS (IPv6 without brackets).
    pub fn as_string(&self) -> String {
        match self {
            Host::Name(n) => n.clone(),
            Host::V4(a) => a.to_string(),
            Host::V6(a) => a.to_string(),
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(n) => f.write_str(n),
            Host::V4(a) => write!(f, "{a}"),
            Host::V6(a) => write!(f, "[{a}]"),
        }
    }
}

/// Parses an expanded server value into a [`Host`], naming `path` in errors.
pub fn parse_host(s: &str, path: &str) -> Result<Host> {
    if s.is_empty() {
        return Err(Error::config(path, "is empty: give a host name or an IP address"));
    }
    if let Some(c) = s.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::config(
            path,
            format!("contains {}: a host name has no spaces or control characters", describe_char(c)),
        ));
    }
    if let Some(inner) = s.strip_prefix('[') {
        let inner = inner.strip_suffix(']').ok_or_else(|| Error::config(path, "has `[` without a closing `]`"))?;
        return inner
            .parse::<Ipv6Addr>()
            .map(Host::V6)
            .map_err(|_| Error::config(path, format!("`{inner}` in brackets is not an IPv6 address")));
    }
    if let Ok(a) = s.parse::<Ipv6Addr>() {
        return Ok(Host::V6(a));
    }
    if let Ok(a) = s.parse::<Ipv4Addr>() {
        return Ok(Host::V4(a));
    }
    if s.contains(':') {
        return Err(Error::config(
            path,
            format!("`{s}` is not a host name or IP address (give the port in `port`, not after a colon)"),
        ));
    }
    let name = s.strip_suffix('.').unwrap_or(s);
    if name.len() > 253 {
        return Err(Error::config(path, "is longer than 253 characters"));
    }
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(Error::config(path, format!("`{s}` has an empty label or one longer than 63 characters")));
        }
        if !label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') || !label.is_ascii() {
            return Err(Error::config(
                path,
                format!("`{s}` is not a valid host name (letters, digits, `-` and `.` only)"),
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(Error::config(path, format!("`{s}`: a host name label cannot start or end with `-`")));
        }
    }
    if name.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(Error::config(path, format!("`{s}` is not a valid IPv4 address")));
    }
    Ok(Host::Name(name.to_owned()))
}

fn describe_char(c: char) -> String {
    if c == ' ' { "a space".to_owned() } else { format!("the character U+{:04X}", c as u32) }
}

/// Validates the server field before expansion: required, and where it has no tags, a host.
/// With tags, the literal parts may not contain spaces or control characters; the expanded
/// value is checked again at Test or Send.
fn validate_server(server: &str) -> Result<()> {
    if server.trim().is_empty() {
        return Err(Error::config("$.server", "is required and cannot be empty"));
    }
    let pieces = rrt::parse(server);
    if pieces.iter().all(|p| matches!(p, rrt::Piece::Literal { .. })) {
        return parse_host(server, "$.server").map(|_| ());
    }
    for p in pieces {
        if let rrt::Piece::Literal { text, .. } = p {
            if let Some(c) = text.chars().find(|c| c.is_whitespace() || c.is_control()) {
                return Err(Error::config(
                    "$.server",
                    format!("contains {}: a host name has no spaces or control characters", describe_char(c)),
                ));
            }
        }
    }
    Ok(())
}

fn validate_helo(h: &str) -> Result<()> {
    // An address literal ([192.0.2.1], [IPv6:…]) or a host name.
    if let Some(inner) = h.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        let ok = inner.parse::<Ipv4Addr>().is_ok()
            || inner.strip_prefix("IPv6:").is_some_and(|a| a.parse::<Ipv6Addr>().is_ok());
        return if ok {
            Ok(())
        } else {
            Err(Error::config(
                "$.helo_name",
                format!("`{h}` is not an address literal like [192.0.2.1] or [IPv6:2001:db8::1]"),
            ))
        };
    }
    match parse_host(h, "$.helo_name")? {
        Host::Name(_) => Ok(()),
        _ => Err(Error::config("$.helo_name", format!("an IP address must be written as an address literal: [{h}]"))),
    }
}
