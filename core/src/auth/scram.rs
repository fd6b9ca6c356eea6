//! SCRAM-SHA-1 (RFC 5802) and SCRAM-SHA-256 (RFC 7677), without channel binding
//! (GS2 header `n,,`).
//!
//! The exchange: client-first `n,,n=<user>,r=<cnonce>` → server-first `r=<nonce>,s=<salt>,i=<n>`
//! → client-final `c=biws,r=<nonce>,p=<proof>` → server-final `v=<signature>` (in SMTP, as a
//! `334` challenge, answered with an empty response) → `235`. [`Scram::finish`] fails unless
//! the server's signature was verified, so a server that does not know the password (or a
//! man in the middle) cannot make the login look successful; the client then reports
//! [`Outcome::ServerNotProven`], which ends authentication (no other mechanism is tried).
//!
//! # SASLprep
//!
//! RFC 5802 asks for the user name and password to be prepared with SASLprep (RFC 4013): map
//! non-ASCII spaces to SPACE, delete "commonly mapped to nothing" characters, normalise with
//! NFKC, refuse prohibited characters, bidi violations and unassigned code points. That is the
//! `stringprep` crate's [`stringprep::saslprep`], whose Unicode tables relaykit does not keep
//! itself. The user name is then escaped (`=` → `=3D`, `,` → `=2C`) as RFC 5802 requires.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::outcome::{Outcome, server_not_proven_error};
use super::salted::{self, Derivation};
use super::{Credentials, Exchange, Mechanism, config_error, protocol_error, random_bytes};
use crate::error::{Error, ErrorKind, Result, Stage};

/// The highest iteration count accepted. RFC 7677 recommends 4096 and common servers use
/// 4096–15000; a hostile server could otherwise make the client burn minutes of CPU.
pub(crate) const MAX_ITERATIONS: u32 = 1_000_000;

/// The hash behind the mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hash {
    Sha1,
    Sha256,
}

impl Hash {
    fn mechanism(self) -> Mechanism {
        match self {
            Hash::Sha1 => Mechanism::ScramSha1,
            Hash::Sha256 => Mechanism::ScramSha256,
        }
    }

    fn hmac(self, key: &[u8], data: &[u8]) -> Zeroizing<Vec<u8>> {
        match self {
            Hash::Sha1 => {
                Zeroizing::new(hmac_new::<Hmac<Sha1>>(key).chain_update(data).finalize().into_bytes().to_vec())
            }
            Hash::Sha256 => {
                Zeroizing::new(hmac_new::<Hmac<Sha256>>(key).chain_update(data).finalize().into_bytes().to_vec())
            }
        }
    }

    /// Whether `HMAC(key, data) == tag`, compared in constant time.
    fn hmac_verify(self, key: &[u8], data: &[u8], tag: &[u8]) -> bool {
        match self {
            Hash::Sha1 => hmac_new::<Hmac<Sha1>>(key).chain_update(data).verify_slice(tag).is_ok(),
            Hash::Sha256 => hmac_new::<Hmac<Sha256>>(key).chain_update(data).verify_slice(tag).is_ok(),
        }
    }

    fn hash(self, data: &[u8]) -> Zeroizing<Vec<u8>> {
        match self {
            Hash::Sha1 => Zeroizing::new(Sha1::digest(data).to_vec()),
            Hash::Sha256 => Zeroizing::new(Sha256::digest(data).to_vec()),
        }
    }
}

fn hmac_new<M: KeyInit>(key: &[u8]) -> M {
    M::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"))
}

/// A checked server-first message, waiting for the salted password.
struct ServerFirst {
    text: String,
    nonce: String,
}

enum State {
    Initial,
    SentFirst,
    SentFinal { server_key: Zeroizing<Vec<u8>>, auth_message: String },
    Verified,
    Failed,
}

pub(crate) struct Scram {
    hash: Hash,
    /// The prepared and escaped user name.
    username: String,
    /// The prepared password.
    password: Zeroizing<String>,
    client_nonce: String,
    state: State,
    server_error: Option<String>,
    /// Set when the server failed its proof: what it did instead.
    unproven: Option<&'static str>,
}

impl Scram {
    /// A SCRAM client; `nonce` is for tests (a random 24-byte nonce otherwise).
    pub(crate) fn new(hash: Hash, creds: &Credentials, nonce: Option<&str>) -> Result<Self> {
        let mech = hash.mechanism();
        let username = saslprep(creds.username()).map_err(|why| config_error(mech, format!("the user name {why}")))?;
        if username.is_empty() {
            return Err(config_error(mech, "the user name is empty"));
        }
        let password =
            Zeroizing::new(saslprep(creds.secret()).map_err(|why| config_error(mech, format!("the password {why}")))?);
        let client_nonce = match nonce {
            Some(n) => n.to_owned(),
            None => B64.encode(random_bytes::<24>()?.as_ref()),
        };
        Ok(Scram {
            hash,
            username: escape_username(&username),
            password,
            client_nonce,
            state: State::Initial,
            server_error: None,
            unproven: None,
        })
    }

    fn mech(&self) -> Mechanism {
        self.hash.mechanism()
    }

    fn client_first_bare(&self) -> String {
        format!("n={},r={}", self.username, self.client_nonce)
    }

    fn fail(&mut self, e: Error) -> Error {
        self.state = State::Failed;
        e
    }

    /// The server-first message, checked, and the key derivation it asks for.
    fn parse_server_first(&mut self, challenge: &[u8]) -> Result<(ServerFirst, Derivation)> {
        let mech = self.mech();
        let text =
            std::str::from_utf8(challenge).map_err(|_| protocol_error(mech, "server-first-message is not UTF-8"))?;
        if let Some(err) = text.strip_prefix("e=") {
            self.server_error = Some(err.to_owned());
            return Err(Error::new(
                ErrorKind::AuthFailed,
                format!("{mech}: server refused the client-first message: {err}"),
            )
            .with_stage(Stage::Auth));
        }
        let mut attrs = text.split(',');
        if text.starts_with("m=") {
            return Err(protocol_error(
                mech,
                "server-first-message requires an extension (m=) relaykit does not support",
            ));
        }
        let nonce = attrs
            .next()
            .and_then(|a| a.strip_prefix("r="))
            .ok_or_else(|| protocol_error(mech, "server-first-message does not start with r="))?;
        let salt = attrs
            .next()
            .and_then(|a| a.strip_prefix("s="))
            .ok_or_else(|| protocol_error(mech, "server-first-message has no s= after r="))?;
        let iterations = attrs
            .next()
            .and_then(|a| a.strip_prefix("i="))
            .ok_or_else(|| protocol_error(mech, "server-first-message has no i= after s="))?;
        // Further attributes are extensions (RFC 5802 §5.1) and are ignored.

        if !nonce.starts_with(&self.client_nonce) || nonce.len() <= self.client_nonce.len() {
            return Err(protocol_error(
                mech,
                "server nonce does not extend the client nonce (possible replay or broken server)",
            ));
        }
        if !nonce.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b',') {
            return Err(protocol_error(mech, "server nonce contains characters outside printable ASCII"));
        }
        let salt = B64.decode(salt).map_err(|_| protocol_error(mech, "server salt (s=) is not valid base64"))?;
        if salt.is_empty() {
            return Err(protocol_error(mech, "server salt (s=) is empty"));
        }
        let iterations: u32 =
            iterations.parse().map_err(|_| protocol_error(mech, "iteration count (i=) is not a number"))?;
        if iterations == 0 || iterations > MAX_ITERATIONS {
            return Err(protocol_error(mech, format!("iteration count {iterations} is outside 1..={MAX_ITERATIONS}")));
        }

        let first = ServerFirst { text: text.to_owned(), nonce: nonce.to_owned() };
        Ok((first, Derivation { hash: self.hash, password: self.password.clone(), salt, iterations }))
    }

    /// The client-final message, from the server-first message and the salted password.
    fn complete_server_first(&mut self, first: &ServerFirst, salted: &[u8]) -> Zeroizing<Vec<u8>> {
        let (text, nonce) = (&first.text, &first.nonce);
        let h = self.hash;
        let client_key = h.hmac(salted, b"Client Key");
        let stored_key = h.hash(&client_key);
        let server_key = h.hmac(salted, b"Server Key");
        // "biws" is base64("n,,"): no channel binding, no authzid.
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{text},{without_proof}", self.client_first_bare());
        let client_signature = h.hmac(&stored_key, auth_message.as_bytes());
        let proof: Zeroizing<Vec<u8>> =
            Zeroizing::new(client_key.iter().zip(client_signature.iter()).map(|(a, b)| a ^ b).collect());
        let proof_b64 = Zeroizing::new(B64.encode(&proof[..]));
        let mut out = Zeroizing::new(Vec::with_capacity(without_proof.len() + 3 + proof_b64.len()));
        out.extend_from_slice(without_proof.as_bytes());
        out.extend_from_slice(b",p=");
        out.extend_from_slice(proof_b64.as_bytes());
        self.state = State::SentFinal { server_key, auth_message };
        out
    }

    fn server_first(&mut self, challenge: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let (first, d) = self.parse_server_first(challenge)?;
        Ok(self.complete_server_first(&first, &salted::derive_now(&d)))
    }

    /// [`Exchange::respond`], with the key derivation of the server-first message run off the
    /// runtime's I/O threads (and stopped if this future is dropped when the stage times out).
    pub(crate) async fn respond_async(&mut self, challenge: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        if !matches!(self.state, State::SentFirst) {
            return self.respond(challenge);
        }
        let result = match self.parse_server_first(challenge) {
            Ok((first, d)) => match salted::derive(d).await {
                Ok(salted) => Ok(self.complete_server_first(&first, &salted)),
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        result.map_err(|e| self.fail(e))
    }

    fn server_final(&mut self, challenge: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let mech = self.mech();
        let State::SentFinal { server_key, auth_message } = &self.state else {
            return Err(Error::internal("SCRAM state").with_stage(Stage::Auth));
        };
        let text =
            std::str::from_utf8(challenge).map_err(|_| protocol_error(mech, "server-final-message is not UTF-8"))?;
        let first = text.split(',').next().unwrap_or("");
        if let Some(err) = first.strip_prefix("e=") {
            self.server_error = Some(err.to_owned());
            return Err(Error::new(ErrorKind::AuthFailed, format!("{mech}: server rejected the proof: {err}"))
                .with_stage(Stage::Auth));
        }
        let v = first
            .strip_prefix("v=")
            .ok_or_else(|| protocol_error(mech, "server-final-message has neither v= nor e="))?;
        let signature = B64.decode(v).map_err(|_| protocol_error(mech, "server signature (v=) is not valid base64"))?;
        if self.hash.hmac_verify(server_key, auth_message.as_bytes(), &signature) {
            self.state = State::Verified;
            self.unproven = None;
            Ok(Zeroizing::new(Vec::new()))
        } else {
            let why = "its SCRAM server signature is wrong";
            self.unproven = Some(why);
            Err(server_not_proven_error(mech, why))
        }
    }
}

impl Exchange for Scram {
    fn initial_response(&mut self) -> Result<Option<Zeroizing<Vec<u8>>>> {
        if !matches!(self.state, State::Initial) {
            return Err(Error::internal("SCRAM initial response sent twice").with_stage(Stage::Auth));
        }
        self.state = State::SentFirst;
        Ok(Some(Zeroizing::new(format!("n,,{}", self.client_first_bare()).into_bytes())))
    }

    fn respond(&mut self, challenge: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let r = match self.state {
            State::SentFirst => self.server_first(challenge),
            State::SentFinal { .. } => self.server_final(challenge),
            State::Initial => {
                Err(protocol_error(self.mech(), "server sent a challenge before the client-first message"))
            }
            State::Verified => Err(protocol_error(self.mech(), "server sent a challenge after its final message")),
            State::Failed => Err(protocol_error(self.mech(), "server sent a challenge after the exchange failed")),
        };
        r.map_err(|e| self.fail(e))
    }

    /// Called on 235: without a verified signature the server has not proven anything.
    fn finish(&mut self) -> Result<()> {
        if matches!(self.state, State::Verified) {
            return Ok(());
        }
        let why = *self.unproven.get_or_insert("it accepted the login without a verified SCRAM server signature");
        Err(server_not_proven_error(self.mech(), why))
    }

    fn server_error(&self) -> Option<&str> {
        self.server_error.as_deref()
    }

    fn outcome(&self) -> Option<Outcome> {
        if self.unproven.is_some() {
            Some(Outcome::ServerNotProven)
        } else {
            self.server_error.as_deref().map(Outcome::of_scram_error)
        }
    }
}

/// `=` → `=3D`, `,` → `=2C` (RFC 5802 §5.1 `saslname`).
fn escape_username(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '=' => out.push_str("=3D"),
            ',' => out.push_str("=2C"),
            c => out.push(c),
        }
    }
    out
}

/// SASLprep (RFC 4013). Returns why the text is refused, in words that never quote it (the
/// crate's own error names the offending character, which may be part of a password). The
/// crate's intermediate buffers are not zeroized; the result is, by the caller.
pub(crate) fn saslprep(s: &str) -> std::result::Result<String, &'static str> {
    stringprep::saslprep(s).map(std::borrow::Cow::into_owned).map_err(|_| {
        "contains a character SASLprep (RFC 4013) prohibits (a control, private-use or unassigned \
         code point, or mixed-direction text)"
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test that cannot unwrap has failed
mod tests {
    use super::*;

    fn client(hash: Hash, user: &str, pw: &str, nonce: &str) -> Scram {
        let c = Credentials::new(user, Zeroizing::new(pw.into()));
        Scram::new(hash, &c, Some(nonce)).unwrap()
    }

    #[test]
    fn rfc5802_scram_sha1() {
        let mut s = client(Hash::Sha1, "user", "pencil", "fyko+d2lbbFgONRv9qkxdawL");
        let first = s.initial_response().unwrap().unwrap();
        assert_eq!(&first[..], b"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL");
        let fin = s.respond(b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096").unwrap();
        assert_eq!(
            &fin[..],
            b"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=".as_slice()
        );
        // A 235 before the signature (the server may send it as the 235's text) is not proof
        // yet, and the signature arriving after it still counts.
        let e = s.finish().unwrap_err();
        assert!(e.message().contains("without a verified SCRAM server signature"), "{e}");
        assert_eq!(s.outcome(), Some(Outcome::ServerNotProven));
        let empty = s.respond(b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=").unwrap();
        assert!(empty.is_empty());
        s.finish().unwrap();
        assert_eq!(s.outcome(), None);
    }

    #[test]
    fn rfc7677_scram_sha256() {
        let mut s = client(Hash::Sha256, "user", "pencil", "rOprNGfwEbeRWgbNEkqO");
        let first = s.initial_response().unwrap().unwrap();
        assert_eq!(&first[..], b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let fin = s
            .respond(b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
            .unwrap();
        assert_eq!(
            &fin[..],
            b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=".as_slice()
        );
        assert!(s.respond(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=").unwrap().is_empty());
        s.finish().unwrap();
    }

    #[test]
    fn tampered_server_signature_fails() {
        for (hash, nonce, server_first, sig) in [
            (
                Hash::Sha1,
                "fyko+d2lbbFgONRv9qkxdawL",
                &b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096"[..],
                &b"v=rmF9pqV8S7suAoZWja4dJRkFsKU="[..],
            ),
            (
                Hash::Sha256,
                "rOprNGfwEbeRWgbNEkqO",
                &b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"[..],
                &b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G8="[..],
            ),
        ] {
            let mut s = client(hash, "user", "pencil", nonce);
            s.initial_response().unwrap();
            s.respond(server_first).unwrap();
            let e = s.respond(sig).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::AuthFailed);
            assert!(e.message().contains("could not prove it knows the password"), "{e}");
            assert!(e.message().contains("signature is wrong"), "{e}");
            assert_eq!(s.outcome(), Some(Outcome::ServerNotProven));
            // A 235 after that does not make it right.
            let e = s.finish().unwrap_err();
            assert_eq!(e.kind(), ErrorKind::AuthFailed);
            assert!(e.message().contains("signature is wrong"), "{e}");
        }
    }

    #[test]
    fn server_error_attribute() {
        let mut s = client(Hash::Sha256, "user", "pencil", "abc");
        s.initial_response().unwrap();
        s.respond(b"r=abcdef,s=c2FsdA==,i=4096").unwrap();
        let e = s.respond(b"e=invalid-proof").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AuthFailed);
        assert_eq!(s.server_error(), Some("invalid-proof"));
        assert_eq!(s.outcome(), Some(Outcome::CredentialsRejected));
    }

    #[test]
    fn malformed_server_first() {
        for (bad, what) in [
            (&b"r=xyzdef,s=c2FsdA==,i=4096"[..], "nonce"),
            (b"r=abc,s=c2FsdA==,i=4096", "nonce"),
            (b"r=abcdef,s=!!,i=4096", "base64"),
            (b"r=abcdef,s=,i=4096", "empty"),
            (b"r=abcdef,s=c2FsdA==,i=0", "outside"),
            (b"r=abcdef,s=c2FsdA==,i=1000001", "outside"),
            (b"r=abcdef,s=c2FsdA==,i=-1", "number"),
            (b"r=abcdef,s=c2FsdA==", "i="),
            (b"s=c2FsdA==,r=abcdef,i=1", "r="),
            (b"m=ext,r=abcdef,s=c2FsdA==,i=1", "extension"),
            (b"\xff", "UTF-8"),
        ] {
            let mut s = client(Hash::Sha256, "user", "pencil", "abc");
            s.initial_response().unwrap();
            let e = s.respond(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Protocol, "{bad:?}");
            assert!(e.message().starts_with("SCRAM-SHA-256:"), "{e}");
            assert!(e.message().contains(what), "{e} should mention {what}");
        }
    }

    #[test]
    fn username_escaping_and_saslprep() {
        let s = client(Hash::Sha256, "a=b,c", "p", "n");
        assert_eq!(s.client_first_bare(), "n=a=3Db=2Cc,r=n");
        // RFC 4013 §3, every example.
        assert_eq!(saslprep("I\u{00AD}X").unwrap(), "IX");
        assert_eq!(saslprep("user").unwrap(), "user");
        assert_eq!(saslprep("USER").unwrap(), "USER");
        assert_eq!(saslprep("\u{00AA}").unwrap(), "a");
        assert_eq!(saslprep("\u{2168}").unwrap(), "IX");
        assert!(saslprep("\u{0007}").is_err());
        assert!(saslprep("\u{0627}\u{0031}").is_err());
        // NFKC, which the in-house version lacked: full-width forms and ligatures.
        assert_eq!(saslprep("\u{FF50}\u{FF41}\u{FF53}\u{FF53}").unwrap(), "pass");
        assert_eq!(saslprep("\u{FB01}x").unwrap(), "fix");
        assert_eq!(saslprep("cafe\u{0301}").unwrap(), "café");
        assert_eq!(saslprep("a\u{00A0}b").unwrap(), "a b");
        assert!(saslprep("\u{E000}").is_err());
        let why = saslprep("secret\u{0007}").unwrap_err();
        assert!(!why.contains('\u{0007}') && !why.contains("secret"), "{why}");
        let c = Credentials::new("user", Zeroizing::new("bad\u{7}".into()));
        let e = Scram::new(Hash::Sha1, &c, None).err().unwrap();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(!e.message().contains("bad"));
    }

    #[test]
    fn random_nonce_is_long() {
        let c = Credentials::new("u", Zeroizing::new("p".into()));
        let a = Scram::new(Hash::Sha256, &c, None).unwrap();
        let b = Scram::new(Hash::Sha256, &c, None).unwrap();
        assert_eq!(a.client_nonce.len(), 32);
        assert_ne!(a.client_nonce, b.client_nonce);
        assert!(!a.client_nonce.contains(','));
    }

    proptest::proptest! {
        /// Server-first messages that extend the client nonce reach the key derivation (with
        /// small iteration counts) and the server-final check: Ok or Err, never a panic.
        #[test]
        fn near_valid_exchanges_never_panic(
            tail in "[!-+--~]{0,12}",
            salt in "[A-Za-z0-9+/=]{0,12}",
            iters in "[0-9]{0,3}",
            ext in "(,[a-z]=[!-+--~]{0,4}){0,2}",
            last in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
        ) {
            let mut s = client(Hash::Sha1, "user", "pencil", "abc");
            s.initial_response().unwrap();
            let first = format!("r=abc{tail},s={salt},i={iters}{ext}");
            if s.respond(first.as_bytes()).is_ok() {
                let mut v = b"v=".to_vec();
                v.extend_from_slice(&last);
                let _ = s.respond(&v);
            }
            let _ = s.finish();
        }
    }
}
