//! The profile's JSON form (§1), derived with serde. [`ProfileFile`] is the file format; the
//! in-memory [`Profile`] differs only where the file's flat keys carry one concept (the
//! password and `password_encrypted` are one [`Password`]).

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::validate::port_number;
use super::{AuthOrder, FORMAT_VERSION, Password, Profile, StarttlsPolicy, TlsChoice};
use crate::error::{Error, Result};
use crate::secret::SecretString;

fn format_version() -> u64 {
    FORMAT_VERSION
}

fn yes() -> bool {
    true
}

fn default_timeout() -> f64 {
    super::DEFAULT_TIMEOUT_SECS
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// The JSON keys of §1, in the order they are written.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(clippy::struct_excessive_bools)] // the dialog's check boxes, one bool each
pub(super) struct ProfileFile {
    #[serde(default = "format_version")]
    version: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    // Absent is the same as empty: validation then names `$.server` as required.
    #[serde(default)]
    server: String,
    // Wider than u16 so that validation, not serde, words the range error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    port: Option<u64>,
    #[serde(default)]
    encrypted_connection: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tls_mode: Option<TlsChoice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    starttls: Option<StarttlsPolicy>,
    #[serde(default)]
    requires_authentication: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    password: Option<Zeroizing<String>>,
    #[serde(default)]
    password_encrypted: bool,
    #[serde(default)]
    use_ntlm_current_user: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    auth_mechanisms: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "is_default")]
    auth_order: AuthOrder,
    #[serde(default)]
    allow_plaintext_password: bool,
    #[serde(default = "yes")]
    tls_verify: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tls_ca_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tls_ca_pem: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    helo_name: Option<String>,
    #[serde(default = "default_timeout")]
    timeout_secs: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tls_client_cert_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tls_client_cert_pem: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tls_client_key_file: Option<String>,
    // PEM text, or an `enc:v1:` envelope (a PEM key never starts with that prefix).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tls_client_key: Option<Zeroizing<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    proxy: Option<String>,
    // An `enc:v1:` envelope is the encrypted form; anything else is plain text (RRTs allowed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    proxy_password: Option<Zeroizing<String>>,
    #[serde(default, skip_serializing_if = "is_default")]
    protocol: super::Protocol,
}

impl TryFrom<ProfileFile> for Profile {
    type Error = Error;

    /// The in-memory profile, validated.
    fn try_from(f: ProfileFile) -> Result<Profile> {
        if f.version != FORMAT_VERSION {
            return Err(Error::config(
                "$.version",
                format!("unsupported format version {}; this relaykit reads version {FORMAT_VERSION}", f.version),
            ));
        }
        let password = match (f.password, f.password_encrypted) {
            (None, false) => None,
            (None, true) => return Err(Error::config("$.password_encrypted", "is true but there is no password")),
            (Some(t), false) => Some(Password::Plain(SecretString::new(t.as_str()))),
            (Some(t), true) => Some(Password::Encrypted(t.to_string())),
        };
        let mut p = Profile {
            server: f.server,
            port: f.port.map(port_number).transpose()?,
            encrypted_connection: f.encrypted_connection,
            tls_mode: f.tls_mode,
            starttls: f.starttls,
            requires_authentication: f.requires_authentication,
            username: f.username,
            password,
            use_ntlm_current_user: f.use_ntlm_current_user,
            auth_mechanisms: None,
            auth_order: f.auth_order,
            allow_plaintext_password: f.allow_plaintext_password,
            tls_verify: f.tls_verify,
            tls_ca_file: f.tls_ca_file,
            tls_ca_pem: f.tls_ca_pem,
            helo_name: f.helo_name,
            timeout_secs: f.timeout_secs,
            id: f.id,
            tls_client_cert_file: f.tls_client_cert_file,
            tls_client_cert_pem: f.tls_client_cert_pem,
            tls_client_key_file: f.tls_client_key_file,
            tls_client_key: f.tls_client_key.map(|k| super::mtls::key_from_text(&k)),
            proxy: f.proxy,
            proxy_password: f.proxy_password.map(|t| {
                if crate::secret::is_envelope(&t) {
                    Password::Encrypted(t.to_string())
                } else {
                    Password::Plain(SecretString::new(t.as_str()))
                }
            }),
            protocol: f.protocol,
        };
        p.set_auth_mechanisms(f.auth_mechanisms.as_deref());
        p.validate()?;
        Ok(p)
    }
}

impl From<&Profile> for ProfileFile {
    /// The file form; an encrypted password is its envelope, a plain one is written as typed.
    fn from(p: &Profile) -> ProfileFile {
        ProfileFile {
            version: FORMAT_VERSION,
            id: p.id.clone(),
            server: p.server.clone(),
            port: p.port.map(u64::from),
            encrypted_connection: p.encrypted_connection,
            tls_mode: p.tls_mode,
            starttls: p.starttls,
            requires_authentication: p.requires_authentication,
            username: p.username.clone(),
            password: p.password.as_ref().map(|pw| {
                Zeroizing::new(match pw {
                    Password::Plain(s) => s.expose().to_owned(),
                    Password::Encrypted(env) => env.clone(),
                })
            }),
            password_encrypted: p.password_encrypted(),
            use_ntlm_current_user: p.use_ntlm_current_user,
            auth_mechanisms: p.auth_mechanisms.as_deref().map(super::mechanism_spelling),
            auth_order: p.auth_order,
            allow_plaintext_password: p.allow_plaintext_password,
            tls_verify: p.tls_verify,
            tls_ca_file: p.tls_ca_file.clone(),
            tls_ca_pem: p.tls_ca_pem.clone(),
            helo_name: p.helo_name.clone(),
            timeout_secs: p.timeout_secs,
            tls_client_cert_file: p.tls_client_cert_file.clone(),
            tls_client_cert_pem: p.tls_client_cert_pem.clone(),
            tls_client_key_file: p.tls_client_key_file.clone(),
            tls_client_key: p.tls_client_key_text(),
            proxy: p.proxy.clone(),
            proxy_password: p.proxy_password.as_ref().map(|pw| {
                Zeroizing::new(match pw {
                    Password::Plain(s) => s.expose().to_owned(),
                    Password::Encrypted(env) => env.clone(),
                })
            }),
            protocol: p.protocol,
        }
    }
}
