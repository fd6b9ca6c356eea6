//! CRAM-MD5 (RFC 2195): `user SP hex(HMAC-MD5(password, challenge))`.

use hmac::{Hmac, KeyInit, Mac};
use md5::Md5;
use zeroize::Zeroizing;

use super::{Credentials, Exchange, Mechanism, config_error, protocol_error};
use crate::error::{Error, Result};

pub(crate) struct CramMd5 {
    username: String,
    password: Zeroizing<String>,
    done: bool,
}

impl CramMd5 {
    pub(crate) fn new(creds: &Credentials) -> Result<Self> {
        // The response is `user SP digest` on one line: a space would still parse (the digest is
        // the last word) but a line break cannot be carried.
        if creds.username().contains(['\r', '\n']) {
            return Err(config_error(Mechanism::CramMd5, "the user name contains a line break"));
        }
        Ok(CramMd5 {
            username: creds.username().to_owned(),
            password: Zeroizing::new(creds.secret().to_owned()),
            done: false,
        })
    }
}

/// `hex(HMAC-MD5(key, data))` in lower case, as ASCII bytes.
pub(crate) fn hmac_md5_hex(key: &[u8], data: &[u8]) -> Result<Zeroizing<[u8; 32]>> {
    let mut mac =
        <Hmac<Md5> as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(data);
    let tag = Zeroizing::new(<[u8; 16]>::from(mac.finalize().into_bytes()));
    let mut out = Zeroizing::new([0u8; 32]);
    // Fails only on a length mismatch, which the array types rule out.
    hex::encode_to_slice(tag.as_ref(), out.as_mut()).map_err(|_| Error::internal("CRAM-MD5 digest length"))?;
    Ok(out)
}

impl Exchange for CramMd5 {
    fn initial_response(&mut self) -> Result<Option<Zeroizing<Vec<u8>>>> {
        Ok(None)
    }

    fn respond(&mut self, challenge: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        if self.done {
            return Err(protocol_error(Mechanism::CramMd5, "server sent a second challenge (CRAM-MD5 has one)"));
        }
        if challenge.is_empty() {
            return Err(protocol_error(
                Mechanism::CramMd5,
                "server sent an empty challenge (expected a message id such as <1896.697170952@host>)",
            ));
        }
        self.done = true;
        let digest = hmac_md5_hex(self.password.as_bytes(), challenge)?;
        let mut out = Zeroizing::new(Vec::with_capacity(self.username.len() + 33));
        out.extend_from_slice(self.username.as_bytes());
        out.push(b' ');
        out.extend_from_slice(digest.as_ref());
        Ok(out)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test that cannot unwrap has failed
mod tests {
    use super::*;

    #[test]
    fn rfc2195_example() {
        let c = Credentials::new("tim", Zeroizing::new("tanstaaftanstaaf".into()));
        let mut m = CramMd5::new(&c).unwrap();
        assert!(m.initial_response().unwrap().is_none());
        let r = m.respond(b"<1896.697170952@postoffice.reston.mci.net>").unwrap();
        assert_eq!(&r[..], b"tim b913a602c7eda7a495b4e6e7334d3890");
        assert!(m.respond(b"<x@y>").is_err());
    }

    #[test]
    fn empty_challenge_is_protocol_error() {
        let c = Credentials::new("tim", Zeroizing::new("x".into()));
        let e = CramMd5::new(&c).unwrap().respond(b"").unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Protocol);
        assert!(e.message().contains("CRAM-MD5"));
    }
}
