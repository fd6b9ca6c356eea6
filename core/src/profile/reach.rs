//! The profile's ways of reaching a server (#15): a proxy (`proxy`, `proxy_password`), a Unix
//! domain socket as the `server` (`unix:/path/to/socket`), and the protocol (`protocol`:
//! SMTP or LMTP). Their validation and resolution live here, beside the fields' setters.
//!
//! ```
//! use relaykit::Profile;
//! let p = Profile::from_json(r#"{"server": "unix:/run/dovecot/lmtp", "protocol": "lmtp"}"#).unwrap();
//! assert_eq!(p.socket_path(), Some("/run/dovecot/lmtp"));
//! let e = Profile::from_json(r#"{"server": "smtp.example.com", "proxy": "ftp://p:1"}"#).unwrap_err();
//! assert!(e.message().starts_with("$.proxy: "));
//! let e = Profile::from_json(r#"{"server": "unix:relative/sock"}"#).unwrap_err();
//! assert!(e.message().starts_with("$.server: "));
//! ```

use std::path::PathBuf;

use super::{Password, Profile};
use crate::error::{Error, Result};
use crate::names::named_enum;
use crate::proxy::Proxy;
use crate::rrt::{self, Field, RrtContext};
use crate::secret::{self, Keyring, SecretString};

/// What `server` starts with when it names a Unix domain socket: `unix:/run/smtp.sock`.
pub const SOCKET_PREFIX: &str = "unix:";

/// The field an encrypted proxy password is bound to (beside [`secret::PASSWORD_FIELD`]).
pub const PROXY_PASSWORD_FIELD: &str = "proxy_password";

named_enum! {
    /// The protocol spoken to the server (`protocol`).
    #[derive(Default)]
    pub enum Protocol {
        /// SMTP (RFC 5321): EHLO, one reply after the data.
        #[default]
        Smtp,
        /// LMTP (RFC 2033): LHLO, one reply per accepted recipient after the data.
        Lmtp,
    }
}

fn is_literal(text: &str) -> bool {
    rrt::parse(text).iter().all(|p| matches!(p, rrt::Piece::Literal { .. }))
}

/// Checks a socket path (the part after `unix:`), naming `$.server`.
pub(super) fn validate_socket(path: &str) -> Result<()> {
    if path.is_empty() {
        return Err(Error::config("$.server", "`unix:` needs a socket path after it, e.g. unix:/run/dovecot/lmtp"));
    }
    if path.chars().any(char::is_control) {
        return Err(Error::config("$.server", "the socket path contains a control character"));
    }
    if is_literal(path) && !path.starts_with('/') {
        return Err(Error::config(
            "$.server",
            format!("the socket path `{path}` is not absolute: write unix:/absolute/path"),
        ));
    }
    Ok(())
}

/// The proxy URL for messages: the password (if any) masked.
pub(super) fn masked_proxy(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return "<proxy>".to_owned() };
    match rest.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:********@{host}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

impl Profile {
    /// The socket path when `server` is `unix:<path>` (before RRT expansion).
    pub fn socket_path(&self) -> Option<&str> {
        self.server.trim().strip_prefix(SOCKET_PREFIX)
    }

    /// The proxy URL as shown to people: a password in it masked.
    pub fn proxy_display(&self) -> Option<String> {
        self.proxy.as_deref().map(masked_proxy)
    }

    /// The proxy password, if any.
    pub fn proxy_password(&self) -> Option<&Password> {
        self.proxy_password.as_ref()
    }

    /// Whether the proxy password is stored as an envelope.
    pub fn proxy_password_encrypted(&self) -> bool {
        matches!(self.proxy_password, Some(Password::Encrypted(_)))
    }

    /// Sets a plain-text proxy password (RRTs in it are expanded at Test or Send). It overrides
    /// a password in the proxy URL.
    pub fn set_proxy_password(&mut self, password: impl Into<String>) {
        self.proxy_password = Some(Password::Plain(SecretString::new(password)));
    }

    /// Sets an already encrypted proxy password envelope.
    pub fn set_proxy_password_envelope(&mut self, envelope: impl Into<String>) -> Result<()> {
        let envelope = envelope.into();
        if !secret::is_envelope(&envelope) {
            return Err(Error::config("$.proxy_password", "not an `enc:v1:` envelope"));
        }
        self.proxy_password = Some(Password::Encrypted(envelope));
        Ok(())
    }

    /// Removes the proxy password.
    pub fn clear_proxy_password(&mut self) {
        self.proxy_password = None;
    }

    /// Encrypts `plaintext` under the keyring's newest key and stores it as the proxy
    /// password, bound to the field `proxy_password` and this profile's `id`.
    pub fn encrypt_proxy_password(&mut self, plaintext: &str, keyring: &Keyring) -> Result<()> {
        let env = keyring.encrypt(plaintext, PROXY_PASSWORD_FIELD, self.id.as_deref())?;
        self.proxy_password = Some(Password::Encrypted(env));
        Ok(())
    }

    /// The rules of `proxy`, `proxy_password` and a `unix:` server.
    pub(super) fn validate_reach(&self) -> Result<()> {
        if let Some(url) = &self.proxy {
            if url.trim().is_empty() {
                return Err(Error::config("$.proxy", "is empty: leave it out to connect directly"));
            }
            if is_literal(url) {
                let mut p = Proxy::parse(url.trim())?;
                if let Some(Password::Plain(pw)) = &self.proxy_password {
                    if is_literal(pw.expose()) {
                        p.set_password(pw.clone())?;
                    }
                }
            }
            if self.socket_path().is_some() {
                return Err(Error::config("$.proxy", "a Unix socket server is not reached through a proxy"));
            }
        }
        match &self.proxy_password {
            Some(_) if self.proxy.is_none() => {
                return Err(Error::config("$.proxy_password", "applies only with a proxy"));
            }
            Some(Password::Plain(p)) if p.expose().contains('\0') => {
                return Err(Error::config("$.proxy_password", "contains a NUL character"));
            }
            Some(Password::Encrypted(env)) if !env.starts_with(secret::ENVELOPE_PREFIX) => {
                return Err(Error::config("$.proxy_password", "is not an `enc:v1:<key-id>:<data>` envelope"));
            }
            None | Some(_) => {}
        }
        Ok(())
    }

    /// The Unix socket path after RRT expansion, checked to exist; `None` for a TCP server.
    pub(crate) fn resolve_socket(&self, ctx: &RrtContext) -> Result<Option<PathBuf>> {
        let Some(path) = self.socket_path() else { return Ok(None) };
        let expanded = ctx.expand(path, Field::Server)?;
        let path = expanded.expose().trim();
        validate_socket(path)?;
        if !path.starts_with('/') {
            return Err(Error::config("$.server", "the socket path is not absolute after RRT expansion"));
        }
        let path = PathBuf::from(path);
        match std::fs::symlink_metadata(&path) {
            Err(e) => Err(Error::config("$.server", format!("no Unix socket at {}: {e}", path.display()))),
            Ok(m) if !std::os::unix::fs::FileTypeExt::is_socket(&m.file_type()) => {
                Err(Error::config("$.server", format!("{} exists but is not a Unix socket", path.display())))
            }
            Ok(_) => Ok(Some(path)),
        }
    }

    /// The proxy after RRT expansion, with `proxy_password` (decrypted or expanded) in place of
    /// any password in the URL.
    pub(crate) fn resolve_proxy(&self, keyring: &Keyring, ctx: &RrtContext) -> Result<Option<Proxy>> {
        let Some(url) = &self.proxy else { return Ok(None) };
        let expanded = ctx.expand(url, Field::Proxy)?;
        let mut proxy = Proxy::parse(expanded.expose().trim())?;
        let password = match &self.proxy_password {
            None => None,
            Some(Password::Plain(p)) => Some(ctx.expand(p.expose(), Field::ProxyPassword)?),
            Some(Password::Encrypted(env)) => Some(keyring.decrypt(env, PROXY_PASSWORD_FIELD, self.id.as_deref())?),
        };
        if let Some(p) = password {
            proxy.set_password(p)?;
        }
        Ok(Some(proxy))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn the_proxy_url_is_shown_with_its_password_masked() {
        assert_eq!(masked_proxy("socks5://u:hunter2@h:1"), "socks5://u:********@h:1");
        assert_eq!(masked_proxy("http://h:3128"), "http://h:3128");
        assert_eq!(masked_proxy("garbage"), "<proxy>");
    }

    #[test]
    fn rrts_expand_in_the_proxy_url_and_password_and_the_field_overrides_the_url() {
        let mut ctx = RrtContext::new();
        ctx.set("ACC", "proxyhost", "proxy.example.com").unwrap();
        ctx.set_protected("ACC", "pp", "from-a-protected-tag").unwrap();
        let p = Profile::from_json(
            r#"{"server": "smtp.example.com", "proxy": "socks5://u:in-url@~ACC::%proxyhost%~:1080",
                "proxy_password": "~ACC::%$pp%~"}"#,
        )
        .unwrap();
        let proxy = p.resolve_proxy(&Keyring::new(), &ctx).unwrap().unwrap();
        assert_eq!(proxy.authority(), "proxy.example.com:1080");
        assert_eq!(proxy.password().unwrap().expose(), "from-a-protected-tag");
        // An encrypted proxy password is bound to its own field name: the SMTP password's
        // field does not open it.
        let k = Keyring::from_text("k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").unwrap();
        let mut e = p.clone();
        e.encrypt_proxy_password("pw-1", &k).unwrap();
        assert_eq!(e.resolve_proxy(&k, &ctx).unwrap().unwrap().password().unwrap().expose(), "pw-1");
        let Some(Password::Encrypted(env)) = e.proxy_password() else { panic!("not encrypted") };
        assert!(k.decrypt(env, secret::PASSWORD_FIELD, None).is_err());
    }

    #[test]
    fn a_missing_socket_is_an_error_naming_the_server_field() {
        let p = Profile::from_json(r#"{"server": "unix:/nonexistent/relaykit.sock"}"#).unwrap();
        let e = p.resolve_socket(&RrtContext::new()).unwrap_err();
        assert!(e.message().starts_with("$.server: no Unix socket at /nonexistent/relaykit.sock"), "{e}");
    }
}
