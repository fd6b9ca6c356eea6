//! LOGIN (draft-murchison-sasl-login): the server prompts `Username:` then `Password:`.
//!
//! The prompts are answered by their order, not their text: servers localise or vary them
//! (`VXNlcm5hbWU6`, `User Name`, empty), so the first challenge gets the user name and the
//! second the password, whatever they say.

use zeroize::Zeroizing;

use super::{Credentials, Exchange, Mechanism, protocol_error};
use crate::error::Result;

pub(crate) struct Login {
    username: String,
    password: Zeroizing<String>,
    step: u8,
}

impl Login {
    pub(crate) fn new(creds: &Credentials) -> Self {
        Login { username: creds.username().to_owned(), password: Zeroizing::new(creds.secret().to_owned()), step: 0 }
    }
}

impl Exchange for Login {
    fn initial_response(&mut self) -> Result<Option<Zeroizing<Vec<u8>>>> {
        Ok(None)
    }

    fn respond(&mut self, _challenge: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let out = match self.step {
            0 => Zeroizing::new(self.username.as_bytes().to_vec()),
            1 => Zeroizing::new(self.password.as_bytes().to_vec()),
            _ => {
                return Err(protocol_error(
                    Mechanism::Login,
                    "server sent a third challenge after the user name and password",
                ));
            }
        };
        self.step += 1;
        Ok(out)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test that cannot unwrap has failed
mod tests {
    use super::*;

    #[test]
    fn answers_by_order() {
        let c = Credentials::new("tim", Zeroizing::new("secret".into()));
        let mut l = Login::new(&c);
        assert!(l.initial_response().unwrap().is_none());
        // Prompt text is tolerated but not relied on (here deliberately swapped).
        assert_eq!(&l.respond(b"Password:").unwrap()[..], b"tim");
        assert_eq!(&l.respond(b"Username:").unwrap()[..], b"secret");
        let e = l.respond(b"Password:").unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Protocol);
        assert!(e.message().starts_with("LOGIN:"));
    }
}
