//! PLAIN (RFC 4616): `authzid NUL authcid NUL passwd`, with an empty authorization identity.

use zeroize::Zeroizing;

use super::{Credentials, Exchange, Mechanism, config_error, protocol_error};
use crate::error::Result;

pub(crate) struct Plain {
    message: Zeroizing<Vec<u8>>,
    sent: bool,
}

impl Plain {
    pub(crate) fn new(creds: &Credentials) -> Result<Self> {
        if creds.username().contains('\0') {
            return Err(config_error(
                Mechanism::Plain,
                "the user name contains a NUL character, which PLAIN cannot carry",
            ));
        }
        if creds.secret().contains('\0') {
            return Err(config_error(
                Mechanism::Plain,
                "the password contains a NUL character, which PLAIN cannot carry",
            ));
        }
        let mut message = Zeroizing::new(Vec::with_capacity(2 + creds.username().len() + creds.secret().len()));
        message.push(0);
        message.extend_from_slice(creds.username().as_bytes());
        message.push(0);
        message.extend_from_slice(creds.secret().as_bytes());
        Ok(Plain { message, sent: false })
    }
}

impl Exchange for Plain {
    fn initial_response(&mut self) -> Result<Option<Zeroizing<Vec<u8>>>> {
        self.sent = true;
        Ok(Some(self.message.clone()))
    }

    fn respond(&mut self, _challenge: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        Err(protocol_error(
            Mechanism::Plain,
            "server sent a challenge after the credentials (PLAIN has a single message)",
        ))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test that cannot unwrap has failed
mod tests {
    use super::*;

    #[test]
    fn plain_message() {
        let c = Credentials::new("tim", Zeroizing::new("tanstaaftanstaaf".into()));
        let mut p = Plain::new(&c).unwrap();
        let r = p.initial_response().unwrap().unwrap();
        assert_eq!(&r[..], b"\0tim\0tanstaaftanstaaf");
        assert!(p.respond(b"x").is_err());
    }

    #[test]
    fn plain_rejects_nul() {
        let c = Credentials::new("t\0m", Zeroizing::new("p".into()));
        let e = Plain::new(&c).err().unwrap();
        assert_eq!(e.kind(), crate::ErrorKind::Config);
        let c = Credentials::new("tim", Zeroizing::new("p\0".into()));
        assert!(Plain::new(&c).is_err());
    }
}
