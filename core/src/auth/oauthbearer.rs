//! OAUTHBEARER (RFC 7628): `n,a=<user>,^Ahost=<host>^Aport=<port>^Aauth=Bearer <token>^A^A`.
//!
//! The GS2 header names the authorization identity (`a=`, with `,` and `=` escaped as `=2C`
//! and `=3D`, RFC 5801 §4). On failure the server answers the initial response with a `334`
//! whose payload is a JSON error (`{"status":"invalid_token","schemes":"bearer",...}`); the
//! client must answer it with a single `^A` (0x01, RFC 7628 §3.2.3), after which the server
//! sends the final `535`. The JSON is kept for the error message
//! ([`super::SaslClient::server_error`]).

use zeroize::Zeroizing;

use super::{Credentials, Exchange, Mechanism, config_error};
use crate::error::Result;

pub(crate) struct OAuthBearer {
    message: Zeroizing<Vec<u8>>,
    server_error: Option<String>,
}

/// RFC 5801 `saslname`: `,` as `=2C` and `=` as `=3D`.
fn saslname(user: &str) -> String {
    let mut out = String::with_capacity(user.len());
    for c in user.chars() {
        match c {
            ',' => out.push_str("=2C"),
            '=' => out.push_str("=3D"),
            c => out.push(c),
        }
    }
    out
}

impl OAuthBearer {
    /// The exchange for `creds` (the secret is the bearer token) on a connection to
    /// `host`:`port` (sent in the `host` and `port` key-values).
    pub(crate) fn new(creds: &Credentials, host: &str, port: u16) -> Result<Self> {
        if creds.username().contains(['\x01', '\0']) {
            return Err(config_error(Mechanism::OAuthBearer, "the user name contains a control character"));
        }
        if creds.secret().contains(['\x01', '\r', '\n', '\0']) {
            return Err(config_error(Mechanism::OAuthBearer, "the bearer token contains a control character"));
        }
        if host.contains(['\x01', '\r', '\n', '\0']) {
            return Err(config_error(Mechanism::OAuthBearer, "the host name contains a control character"));
        }
        let user = saslname(creds.username());
        let port = port.to_string();
        // Sized up front so that no reallocation leaves a copy of the token behind.
        let mut message =
            Zeroizing::new(Vec::with_capacity(40 + user.len() + host.len() + port.len() + creds.secret().len()));
        message.extend_from_slice(b"n,a=");
        message.extend_from_slice(user.as_bytes());
        message.extend_from_slice(b",\x01host=");
        message.extend_from_slice(host.as_bytes());
        message.extend_from_slice(b"\x01port=");
        message.extend_from_slice(port.as_bytes());
        message.extend_from_slice(b"\x01auth=Bearer ");
        message.extend_from_slice(creds.secret().as_bytes());
        message.extend_from_slice(b"\x01\x01");
        Ok(OAuthBearer { message, server_error: None })
    }
}

impl Exchange for OAuthBearer {
    fn initial_response(&mut self) -> Result<Option<Zeroizing<Vec<u8>>>> {
        Ok(Some(self.message.clone()))
    }

    fn respond(&mut self, challenge: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        super::xoauth2::keep_server_error(&mut self.server_error, Mechanism::OAuthBearer, challenge)?;
        // RFC 7628 §3.2.3: the client answers the error with a single %x01.
        Ok(Zeroizing::new(vec![0x01]))
    }

    fn server_error(&self) -> Option<&str> {
        self.server_error.as_deref()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test that cannot unwrap has failed
mod tests {
    use super::*;

    #[test]
    fn message_and_error() {
        // RFC 7628 §4.1's example, with the port and token of its figure.
        let c =
            Credentials::new("user@example.com", Zeroizing::new("vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==".into()));
        let mut x = OAuthBearer::new(&c, "server.example.com", 143).unwrap();
        let r = x.initial_response().unwrap().unwrap();
        assert_eq!(
            &r[..],
            &b"n,a=user@example.com,\x01host=server.example.com\x01port=143\x01auth=Bearer \
               vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01"[..]
        );
        let json = br#"{"status":"invalid_token","scope":"example_scope","openid-configuration":"https://example.com/.well-known/openid-configuration"}"#;
        assert_eq!(&x.respond(json).unwrap()[..], b"\x01");
        assert_eq!(x.server_error(), Some(std::str::from_utf8(json).unwrap()));
        assert!(x.respond(b"again").is_err());
    }

    #[test]
    fn escapes_the_authzid() {
        let c = Credentials::new("a,b=c", Zeroizing::new("t".into()));
        let r = OAuthBearer::new(&c, "h", 25).unwrap().initial_response().unwrap().unwrap();
        assert!(r.starts_with(b"n,a=a=2Cb=3Dc,\x01"), "{:?}", String::from_utf8_lossy(&r));
    }

    #[test]
    fn rejects_control_characters() {
        let c = Credentials::new("u\x01", Zeroizing::new("t".into()));
        assert!(OAuthBearer::new(&c, "h", 25).is_err());
        let c = Credentials::new("u", Zeroizing::new("t\x01".into()));
        assert!(OAuthBearer::new(&c, "h", 25).is_err());
        let c = Credentials::new("u", Zeroizing::new("t\r\n".into()));
        assert!(OAuthBearer::new(&c, "h", 25).is_err());
    }
}
