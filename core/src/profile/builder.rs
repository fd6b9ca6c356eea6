//! [`ProfileBuilder`]: a profile for Rust callers, validated by [`ProfileBuilder::build`].

use super::{AuthOrder, Profile, StarttlsPolicy, TlsChoice};
use crate::error::Result;

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
pub struct ProfileBuilder(pub(super) Profile);

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
    pub fn tls_mode(mut self, mode: TlsChoice) -> Self {
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
        self.0.set_ntlm_current_user(true);
        self
    }
    /// Restricts the mechanisms.
    #[must_use]
    pub fn auth_mechanisms<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        let names: Vec<String> = names.into_iter().map(Into::into).collect();
        self.0.set_auth_mechanisms(Some(&names));
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
    /// Presents a client certificate (mutual TLS): the chain and its private key, as PEM files
    /// read at Test or Send.
    #[must_use]
    pub fn tls_client_cert_files(mut self, cert: impl Into<String>, key: impl Into<String>) -> Self {
        self.0.tls_client_cert_file = Some(cert.into());
        self.0.tls_client_key_file = Some(key.into());
        self
    }
    /// Presents a client certificate given as PEM text (the key plain, or an `enc:v1:`
    /// envelope bound to the field `tls_client_key`).
    #[must_use]
    pub fn tls_client_cert_pem(mut self, cert: impl Into<String>, key: &str) -> Self {
        self.0.tls_client_cert_pem = Some(cert.into());
        self.0.set_tls_client_key(key);
        self
    }
    /// Validates and returns the profile.
    pub fn build(self) -> Result<Profile> {
        self.0.validate()?;
        Ok(self.0)
    }
}
