//! The one step that turns a [`Profile`], a [`Keyring`] and an [`RrtContext`] into the effective
//! settings Test and Send use. It is the only place where a password is decrypted or a tag in
//! the profile expanded, and it happens at the moment of Test or Send: nothing is written back.

use std::fmt;
use std::time::Duration;

use rustls_pki_types::CertificateDer;

use crate::auth::Mechanism;
use crate::error::{Error, Result, Stage};
use crate::profile::{AuthOrder, Host, Password, Profile, StarttlsPolicy, TlsChoice, parse_host};
use crate::rrt::{Field, RrtContext};
use crate::secret::{Keyring, SecretString};
use crate::session::{SessionConfig, TlsMode, TraceSink, tls};

/// Who to authenticate as.
#[derive(Clone)]
pub enum Identity {
    /// A user name and a password (or, for XOAUTH2, a bearer token).
    Password {
        /// The expanded user name.
        username: String,
        /// Whether a protected value went into the user name (then it is never shown).
        username_sensitive: bool,
        /// The decrypted or expanded password.
        password: SecretString,
    },
    /// The user running the process, through NTLM (`use_ntlm_current_user`).
    NtlmCurrentUser,
    /// The TLS client certificate, through SASL EXTERNAL (an allow-list of EXTERNAL alone).
    Certificate {
        /// The authorization identity: empty for the one the certificate gives, or the
        /// expanded user name.
        authzid: String,
    },
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Identity::Password { username, username_sensitive, .. } => f
                .debug_struct("Password")
                .field("username", if *username_sensitive { &"<protected>" } else { username })
                .field("password", &"<redacted>")
                .finish(),
            Identity::NtlmCurrentUser => f.write_str("NtlmCurrentUser"),
            Identity::Certificate { authzid } => f.debug_struct("Certificate").field("authzid", authzid).finish(),
        }
    }
}

/// Authentication settings in effect.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// Who to authenticate as.
    pub identity: Identity,
    /// The profile's allow-list in its own order, or `None` for every mechanism of §4.
    pub allowed: Option<Vec<Mechanism>>,
    /// Try `allowed` in its own order (`auth_order: as_listed`) rather than §4's.
    pub as_listed: bool,
    /// Permit PLAIN and LOGIN without TLS.
    pub allow_plaintext_password: bool,
}

/// The effective settings of one Test or Send.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The server after expansion.
    pub host: Host,
    /// The port in effect.
    pub port: u16,
    /// How TLS is used, decided from `encrypted_connection`, `tls_mode`, `starttls` and the port.
    pub tls: TlsMode,
    /// Verify certificates (for [`TlsMode::StartTlsOpportunistic`], a failure is only reported).
    pub tls_verify: bool,
    /// Extra trust anchors from `tls_ca_file` and `tls_ca_pem`, parsed and checked.
    pub trust_anchors: Vec<CertificateDer<'static>>,
    /// The EHLO argument.
    pub helo_name: String,
    /// The bound on each stage.
    pub timeout: Duration,
    /// Authentication, when required.
    pub auth: Option<AuthSettings>,
    /// The client certificate (mutual TLS), read and checked against its key.
    pub client_certificate: Option<tls::ClientCertificate>,
    /// The proxy to go through, with its password decrypted or expanded.
    pub proxy: Option<crate::proxy::Proxy>,
    /// The Unix domain socket to connect to (`server` = `unix:/path`), checked to exist.
    pub socket: Option<std::path::PathBuf>,
    /// SMTP or LMTP.
    pub protocol: crate::profile::Protocol,
}

impl AuthSettings {
    /// The mechanisms to consider, in the order of the profile's choice (before intersecting
    /// with what the server offers and the rules of §4).
    pub fn mechanisms(&self) -> Vec<Mechanism> {
        match &self.allowed {
            None => Mechanism::PREFERENCE.to_vec(),
            Some(list) if self.as_listed => list.clone(),
            Some(list) => Mechanism::ALL.into_iter().filter(|m| list.contains(m)).collect(),
        }
    }
}

impl Settings {
    /// The session layer's configuration for these settings.
    pub fn session_config(&self, trace: Option<TraceSink>) -> SessionConfig {
        SessionConfig {
            host: self.host.to_string(),
            port: self.port,
            tls_mode: self.tls,
            tls_verify: self.tls_verify,
            trust_anchors: self.trust_anchors.clone(),
            helo_name: self.helo_name.clone(),
            timeout: self.timeout,
            trace,
            client_certificate: self.client_certificate.clone(),
            proxy: self.proxy.clone(),
            socket: self.socket.clone(),
            lmtp: self.protocol == crate::profile::Protocol::Lmtp,
        }
    }

    /// A one-line description with the password masked, for demos and logs.
    pub fn describe(&self) -> String {
        let auth = match &self.auth {
            None => "no authentication".to_owned(),
            Some(AuthSettings { identity: Identity::NtlmCurrentUser, .. }) => "NTLM as the current user".to_owned(),
            Some(AuthSettings { identity: Identity::Certificate { .. }, .. }) => {
                "EXTERNAL with the client certificate".to_owned()
            }
            Some(a @ AuthSettings { identity: Identity::Password { username, username_sensitive, .. }, .. }) => {
                let via: Vec<&str> = a.mechanisms().iter().map(|m| m.name()).collect();
                format!(
                    "user {} with password ******** via {}",
                    if *username_sensitive { "<protected>" } else { username },
                    via.join(", ")
                )
            }
        };
        let server = match &self.socket {
            Some(path) => format!("unix:{}", path.display()),
            None => format!("{}:{}", self.host, self.port),
        };
        let mut via = String::new();
        if let Some(p) = &self.proxy {
            via = format!(" via {} proxy {}", p.scheme_name(), p.authority());
        }
        if self.protocol == crate::profile::Protocol::Lmtp {
            via.push_str(" lmtp");
        }
        format!(
            "{server}{via} tls={} verify={} helo={} timeout={}s {}",
            self.tls.as_str(),
            self.tls_verify,
            self.helo_name,
            self.timeout.as_secs_f64(),
            auth
        )
    }
}

/// The machine's host name, for EHLO; `localhost` if it has none that is usable.
pub fn local_hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: buf is valid for writes of buf.len() bytes; gethostname NUL-terminates on success
    // when the name fits, and we only read up to the first NUL within buf.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc == 0 {
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        if let Ok(name) = std::str::from_utf8(&buf[..end]) {
            if matches!(parse_host(name, "hostname"), Ok(Host::Name(_))) {
                return name.to_owned();
            }
        }
    }
    "localhost".to_owned()
}

impl Profile {
    /// Resolves the profile for one Test or Send: validates it, expands RRTs in the server and
    /// user name (and the password unless it is encrypted), decrypts an encrypted password
    /// (whose plaintext is literal), reads the CA file, and decides the TLS policy.
    ///
    /// Errors carry [`Stage::Resolve`].
    pub fn resolve(&self, keyring: &Keyring, ctx: &RrtContext) -> Result<Settings> {
        self.resolve_for(keyring, ctx, false)
    }

    /// [`Profile::resolve`] for a Test, Send or mailer that has a token provider
    /// (`token_provider`): the password may then be absent (the provider gives the token).
    pub fn resolve_for(&self, keyring: &Keyring, ctx: &RrtContext, token_provider: bool) -> Result<Settings> {
        self.resolve_inner(keyring, ctx, token_provider).map_err(|e| e.with_stage(Stage::Resolve))
    }

    fn resolve_inner(&self, keyring: &Keyring, ctx: &RrtContext, tokens: bool) -> Result<Settings> {
        // A provider stands in for the password only where tokens may be used: an allow-list
        // that names no token mechanism still needs its password.
        let tokens = tokens
            && self
                .auth_mechanisms
                .as_ref()
                .is_none_or(|l| l.iter().any(|n| Mechanism::from_name(n).is_some_and(Mechanism::takes_token)));
        if tokens && self.password().is_none() && self.requires_authentication && !self.use_ntlm_current_user {
            // Every other rule still holds: check them as if a password were given.
            let mut with = self.clone();
            with.set_password("");
            with.validate()?;
        } else {
            self.validate()?;
        }
        let socket = self.resolve_socket(ctx)?;
        let host = if socket.is_some() {
            // The name TLS verifies over a socket (and messages show): the local machine.
            Host::Name("localhost".to_owned())
        } else {
            let (server, _) = ctx.expand_tracked(&self.server, Field::Server)?;
            parse_host(server.expose().trim(), "$.server (after RRT expansion)")?
        };
        let proxy = self.resolve_proxy(keyring, ctx)?;
        let port = self.effective_port();
        let tls = if self.encrypted_connection {
            match self.tls_mode.unwrap_or_default() {
                TlsChoice::Implicit => TlsMode::Implicit,
                TlsChoice::Auto if port == 465 => TlsMode::Implicit,
                TlsChoice::Starttls | TlsChoice::Auto => TlsMode::StartTlsRequired,
            }
        } else {
            match self.starttls.unwrap_or_default() {
                StarttlsPolicy::Opportunistic => TlsMode::StartTlsOpportunistic,
                StarttlsPolicy::Never => TlsMode::Plain,
            }
        };
        // The one place the CA file is read: its errors name `$.tls_ca_file`.
        let mut trust_anchors = Vec::new();
        if let Some(path) = &self.tls_ca_file {
            let bytes =
                std::fs::read(path).map_err(|e| Error::config("$.tls_ca_file", format!("cannot read {path}: {e}")))?;
            trust_anchors.extend(tls::trust_anchors(&bytes, "$.tls_ca_file", path)?);
        }
        if let Some(pem) = &self.tls_ca_pem {
            trust_anchors.extend(tls::trust_anchors(pem.as_bytes(), "$.tls_ca_pem", "")?);
        }
        let auth = if self.requires_authentication { Some(self.resolve_auth(keyring, ctx, tokens)?) } else { None };
        let client_certificate = self.client_certificate(keyring)?;
        Ok(Settings {
            host,
            port,
            tls,
            tls_verify: self.tls_verify,
            trust_anchors,
            helo_name: self.helo_name.clone().unwrap_or_else(local_hostname),
            timeout: Duration::from_secs_f64(self.timeout_secs),
            auth,
            client_certificate,
            proxy,
            socket,
            protocol: self.protocol,
        })
    }

    fn resolve_auth(&self, keyring: &Keyring, ctx: &RrtContext, tokens: bool) -> Result<AuthSettings> {
        let mut allowed: Option<Vec<Mechanism>> =
            self.auth_mechanisms.as_ref().map(|l| l.iter().filter_map(|n| Mechanism::from_name(n)).collect());
        let identity = if self.use_ntlm_current_user {
            allowed = Some(vec![Mechanism::Ntlm]);
            Identity::NtlmCurrentUser
        } else if self.external_only() {
            let (authzid, _) = ctx.expand_tracked(self.username.as_deref().unwrap_or_default(), Field::Username)?;
            Identity::Certificate { authzid: authzid.expose().trim().to_owned() }
        } else {
            let (username, username_sensitive) =
                ctx.expand_tracked(self.username.as_deref().unwrap_or_default(), Field::Username)?;
            let username = username.expose().to_owned();
            if username.is_empty() {
                return Err(Error::config("$.username", "is empty after RRT expansion"));
            }
            if username.chars().any(char::is_control) {
                return Err(Error::config("$.username", "contains a control character after RRT expansion"));
            }
            let password = match self.password() {
                Some(Password::Plain(p)) => ctx.expand(p.expose(), Field::Password)?,
                Some(Password::Encrypted(env)) => {
                    keyring.decrypt(env, crate::secret::PASSWORD_FIELD, self.id.as_deref())?
                }
                None if tokens => SecretString::default(),
                None => {
                    return Err(Error::config(
                        "$.password",
                        "required when requires_authentication is true (or give a token provider for OAUTHBEARER/XOAUTH2)",
                    ));
                }
            };
            Identity::Password { username, username_sensitive, password }
        };
        Ok(AuthSettings {
            identity,
            allowed,
            as_listed: self.auth_order == AuthOrder::AsListed,
            allow_plaintext_password: self.allow_plaintext_password,
        })
    }
}
