//! XOAUTH2 (Google, Microsoft): `user=<user>^Aauth=Bearer <token>^A^A`.
//!
//! On failure the server answers the initial response with a `334` whose payload is a JSON
//! error (`{"status":"400","schemes":"Bearer","scope":"..."}`); the client must answer it with
//! an empty response, after which the server sends the final `535`/`454`. The JSON is kept
//! for the error message ([`super::SaslClient::server_error`]).

use zeroize::Zeroizing;

use super::{Credentials, Exchange, Mechanism, config_error, protocol_error};
use crate::error::Result;

/// The longest server error text kept (a misbehaving server could send megabytes).
const MAX_ERROR_LEN: usize = 1000;

pub(crate) struct Xoauth2 {
    message: Zeroizing<Vec<u8>>,
    server_error: Option<String>,
}

impl Xoauth2 {
    pub(crate) fn new(creds: &Credentials) -> Result<Self> {
        if creds.username().contains('\x01') {
            return Err(config_error(Mechanism::Xoauth2, "the user name contains a ^A (0x01) character"));
        }
        if creds.secret().contains(['\x01', '\r', '\n']) {
            return Err(config_error(Mechanism::Xoauth2, "the bearer token contains a control character"));
        }
        // Sized up front so that no reallocation leaves a copy of the token behind.
        let mut message = Zeroizing::new(Vec::with_capacity(24 + creds.username().len() + creds.secret().len()));
        message.extend_from_slice(b"user=");
        message.extend_from_slice(creds.username().as_bytes());
        message.extend_from_slice(b"\x01auth=Bearer ");
        message.extend_from_slice(creds.secret().as_bytes());
        message.extend_from_slice(b"\x01\x01");
        Ok(Xoauth2 { message, server_error: None })
    }
}

/// The bearer-token mechanisms' one challenge: the server's JSON error (XOAUTH2, and OAUTHBEARER
/// of RFC 7628 §3.2.2), kept for the error message (at most [`MAX_ERROR_LEN`] bytes); a second
/// challenge is a protocol error.
pub(super) fn keep_server_error(slot: &mut Option<String>, mech: Mechanism, challenge: &[u8]) -> Result<()> {
    if slot.is_some() {
        return Err(protocol_error(mech, "server sent another challenge after its error"));
    }
    let end = challenge.len().min(MAX_ERROR_LEN);
    let text = String::from_utf8_lossy(&challenge[..end]).trim().to_owned();
    *slot = Some(if text.is_empty() { "(empty error)".to_owned() } else { text });
    Ok(())
}

impl Exchange for Xoauth2 {
    fn initial_response(&mut self) -> Result<Option<Zeroizing<Vec<u8>>>> {
        Ok(Some(self.message.clone()))
    }

    fn respond(&mut self, challenge: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        keep_server_error(&mut self.server_error, Mechanism::Xoauth2, challenge)?;
        Ok(Zeroizing::new(Vec::new()))
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
        let c = Credentials::new("someuser@example.com", Zeroizing::new("ya29.vF9dft4q".into()));
        let mut x = Xoauth2::new(&c).unwrap();
        let r = x.initial_response().unwrap().unwrap();
        assert_eq!(&r[..], b"user=someuser@example.com\x01auth=Bearer ya29.vF9dft4q\x01\x01");
        let json = br#"{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}"#;
        assert!(x.respond(json).unwrap().is_empty());
        assert_eq!(x.server_error(), Some(std::str::from_utf8(json).unwrap()));
        assert!(x.respond(b"again").is_err());
    }

    #[test]
    fn rejects_control_characters() {
        let c = Credentials::new("u\x01", Zeroizing::new("t".into()));
        assert!(Xoauth2::new(&c).is_err());
        let c = Credentials::new("u", Zeroizing::new("t\x01".into()));
        assert!(Xoauth2::new(&c).is_err());
    }
}
