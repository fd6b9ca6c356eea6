//! EXTERNAL (RFC 4422 Appendix A): the client's identity is the one established outside SASL,
//! here the TLS client certificate. The only message is the authorization identity: empty
//! (sent as `AUTH EXTERNAL =`) to act as the identity the certificate gives, or the profile's
//! user name to ask for that one. Nothing secret crosses the wire.

use zeroize::Zeroizing;

use super::{Credentials, Exchange, Mechanism, config_error, protocol_error};
use crate::error::Result;

pub(crate) struct External {
    authzid: Vec<u8>,
}

impl External {
    pub(crate) fn new(creds: &Credentials) -> Result<Self> {
        if creds.username().chars().any(char::is_control) {
            return Err(config_error(Mechanism::External, "the authorization identity contains a control character"));
        }
        Ok(External { authzid: creds.username().as_bytes().to_vec() })
    }
}

impl Exchange for External {
    fn initial_response(&mut self) -> Result<Option<Zeroizing<Vec<u8>>>> {
        Ok(Some(Zeroizing::new(self.authzid.clone())))
    }

    fn respond(&mut self, _challenge: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        // The initial response is the whole exchange; a further challenge is a server error.
        Err(protocol_error(Mechanism::External, "server sent a challenge after the authorization identity"))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn the_message_is_the_authzid() {
        let mut e = External::new(&Credentials::new("", Zeroizing::new(String::new()))).unwrap();
        assert_eq!(e.initial_response().unwrap().unwrap().as_slice(), b"");
        let mut e = External::new(&Credentials::new("alice@relaykit.test", Zeroizing::new(String::new()))).unwrap();
        assert_eq!(e.initial_response().unwrap().unwrap().as_slice(), b"alice@relaykit.test");
        assert!(e.respond(b"more?").is_err());
        assert!(External::new(&Credentials::new("a\nb", Zeroizing::new(String::new()))).is_err());
    }
}
