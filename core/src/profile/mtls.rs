//! The client certificate of mutual TLS (#15): `tls_client_cert_file` / `tls_client_cert_pem`
//! (the chain, end-entity first) and `tls_client_key_file` / `tls_client_key` (its private key).
//!
//! The inline key is a secret kept like the password: PEM text in zeroizing memory, or an
//! `enc:v1:` envelope bound to the field [`secret::TLS_CLIENT_KEY_FIELD`] and the profile id,
//! decrypted only at Test or Send. The JSON form needs no `_encrypted` flag: a PEM key always
//! starts with `-----BEGIN`, never with the envelope prefix. Neither form is ever written to
//! `Debug`, an error or a trace.
//!
//! Cheap rules (both halves given, each once, inline text that looks like what it claims) are
//! checked by [`Profile::validate`]; files are read, the key decrypted and parsed, and the pair
//! checked to belong together at resolve time ([`Profile::client_certificate`]).

use zeroize::Zeroizing;

use super::{Password, Profile};
use crate::error::{Error, Result};
use crate::secret::{self, Keyring, SecretString};
use crate::session::{ClientCertificate, PemSource};

/// The in-memory form of the JSON `tls_client_key`.
pub(super) fn key_from_text(text: &str) -> Password {
    if secret::is_envelope(text) {
        Password::Encrypted(text.to_owned())
    } else {
        Password::Plain(SecretString::new(text))
    }
}

fn not_empty(v: Option<&String>, field: &str) -> Result<()> {
    if v.is_some_and(|s| s.trim().is_empty()) {
        return Err(Error::config(field, "is empty"));
    }
    Ok(())
}

impl Profile {
    /// The inline client key, if any (plain PEM or an envelope; `Debug` redacts both).
    pub fn tls_client_key(&self) -> Option<&Password> {
        self.tls_client_key.as_ref()
    }

    /// Whether the inline client key is stored as an envelope.
    pub fn tls_client_key_encrypted(&self) -> bool {
        matches!(self.tls_client_key, Some(Password::Encrypted(_)))
    }

    /// Sets the inline client key: PEM text, or an `enc:v1:` envelope (as read from saved
    /// configuration). [`Profile::validate`] checks it.
    pub fn set_tls_client_key(&mut self, text: &str) {
        self.tls_client_key = Some(key_from_text(text));
    }

    /// Removes the inline client key.
    pub fn clear_tls_client_key(&mut self) {
        self.tls_client_key = None;
    }

    /// Encrypts the PEM key `plaintext` under the keyring's newest key and stores the envelope
    /// as `tls_client_key`, bound to that field and this profile's `id`.
    pub fn encrypt_tls_client_key(&mut self, plaintext: &str, keyring: &Keyring) -> Result<()> {
        let env = keyring.encrypt(plaintext, secret::TLS_CLIENT_KEY_FIELD, self.id.as_deref())?;
        self.tls_client_key = Some(Password::Encrypted(env));
        Ok(())
    }

    /// Encrypts the current plain inline key in place; does nothing if it is already
    /// encrypted or absent.
    pub fn encrypt_current_tls_client_key(&mut self, keyring: &Keyring) -> Result<()> {
        if let Some(Password::Plain(p)) = &self.tls_client_key {
            let p = p.clone();
            self.encrypt_tls_client_key(p.expose(), keyring)?;
        }
        Ok(())
    }

    /// The JSON text of the inline key: the envelope, or the PEM as given.
    pub(super) fn tls_client_key_text(&self) -> Option<Zeroizing<String>> {
        self.tls_client_key.as_ref().map(|k| {
            Zeroizing::new(match k {
                Password::Plain(s) => s.expose().to_owned(),
                Password::Encrypted(env) => env.clone(),
            })
        })
    }

    /// Whether the profile has a client certificate (either form).
    pub fn has_client_certificate(&self) -> bool {
        self.tls_client_cert_file.is_some() || self.tls_client_cert_pem.is_some()
    }

    /// The rules that need no file and no key: each half given once, both or neither, inline
    /// text that holds what its field says.
    pub(super) fn validate_client_certificate(&self) -> Result<()> {
        not_empty(self.tls_client_cert_file.as_ref(), "$.tls_client_cert_file")?;
        not_empty(self.tls_client_key_file.as_ref(), "$.tls_client_key_file")?;
        if self.tls_client_cert_file.is_some() && self.tls_client_cert_pem.is_some() {
            return Err(Error::config(
                "$.tls_client_cert_pem",
                "give the client certificate once: tls_client_cert_file or tls_client_cert_pem",
            ));
        }
        if self.tls_client_key_file.is_some() && self.tls_client_key.is_some() {
            return Err(Error::config(
                "$.tls_client_key",
                "give the client key once: tls_client_key_file or tls_client_key",
            ));
        }
        if let Some(pem) = &self.tls_client_cert_pem {
            if !pem.contains("-----BEGIN CERTIFICATE-----") {
                return Err(Error::config(
                    "$.tls_client_cert_pem",
                    "contains no PEM certificate (-----BEGIN CERTIFICATE-----)",
                ));
            }
        }
        if let Some(Password::Plain(k)) = &self.tls_client_key {
            let k = k.expose();
            if !(k.contains("-----BEGIN") && k.contains("PRIVATE KEY-----")) {
                return Err(Error::config(
                    "$.tls_client_key",
                    "is not a private key: no -----BEGIN PRIVATE KEY----- block (nor an `enc:v1:` envelope)",
                ));
            }
        }
        let has_key = self.tls_client_key_file.is_some() || self.tls_client_key.is_some();
        match (self.has_client_certificate(), has_key) {
            (true, false) => Err(Error::config(
                "$.tls_client_key",
                "required with a client certificate: give tls_client_key or tls_client_key_file",
            )),
            (false, true) => Err(Error::config(
                "$.tls_client_cert_file",
                "required with a client key: give tls_client_cert_file or tls_client_cert_pem",
            )),
            _ => Ok(()),
        }
    }

    /// Whether the allow-list is SASL EXTERNAL alone: the client certificate is then the
    /// credential, and neither a user name (the optional authorization identity) nor a
    /// password is required.
    pub fn external_only(&self) -> bool {
        self.auth_mechanisms
            .as_ref()
            .is_some_and(|l| !l.is_empty() && l.iter().all(|n| n.eq_ignore_ascii_case("EXTERNAL")))
    }

    /// EXTERNAL is the client certificate: listing it without one is a mistake.
    pub(super) fn validate_external(&self) -> Result<()> {
        let listed =
            self.auth_mechanisms.as_ref().is_some_and(|l| l.iter().any(|n| n.eq_ignore_ascii_case("EXTERNAL")));
        if listed && !self.has_client_certificate() {
            return Err(Error::config(
                "$.auth_mechanisms",
                "EXTERNAL needs a client certificate: give tls_client_cert_file or tls_client_cert_pem",
            ));
        }
        if listed && self.use_ntlm_current_user {
            return Err(Error::config("$.auth_mechanisms", "EXTERNAL does not go with use_ntlm_current_user"));
        }
        Ok(())
    }

    /// The client certificate, read, decrypted, parsed and checked to match its key; `None`
    /// when the profile has none. Errors name the field (`$.tls_client_key: does not match the
    /// certificate`) and never quote the key.
    pub fn client_certificate(&self, keyring: &Keyring) -> Result<Option<ClientCertificate>> {
        self.validate_client_certificate()?;
        let chain = match (&self.tls_client_cert_file, &self.tls_client_cert_pem) {
            (Some(path), _) => (read(path, "$.tls_client_cert_file")?, path.as_str(), "$.tls_client_cert_file"),
            (None, Some(pem)) => (Zeroizing::new(pem.as_bytes().to_vec()), "", "$.tls_client_cert_pem"),
            (None, None) => return Ok(None),
        };
        let key = match (&self.tls_client_key_file, &self.tls_client_key) {
            (Some(path), _) => (read(path, "$.tls_client_key_file")?, path.as_str(), "$.tls_client_key_file"),
            (None, Some(Password::Plain(k))) => {
                (Zeroizing::new(k.expose().as_bytes().to_vec()), "", "$.tls_client_key")
            }
            (None, Some(Password::Encrypted(env))) => {
                let k = keyring.decrypt(env, secret::TLS_CLIENT_KEY_FIELD, self.id.as_deref())?;
                (Zeroizing::new(k.expose().as_bytes().to_vec()), "", "$.tls_client_key")
            }
            (None, None) => return Err(Error::config("$.tls_client_key", "required with a client certificate")),
        };
        ClientCertificate::from_pem(
            &chain.0,
            PemSource { field: chain.2, origin: chain.1 },
            &key.0,
            PemSource { field: key.2, origin: key.1 },
        )
        .map(Some)
    }
}

/// A file's bytes, in zeroizing memory (it may be a key), or the error naming `field`.
fn read(path: &str, field: &str) -> Result<Zeroizing<Vec<u8>>> {
    std::fs::read(path).map(Zeroizing::new).map_err(|e| Error::config(field, format!("cannot read {path}: {e}")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    fn pair() -> (String, String) {
        let c = rcgen::generate_simple_self_signed(vec!["client.test".into()]).unwrap();
        (c.cert.pem(), c.signing_key.serialize_pem())
    }

    fn profile(cert: &str, key: &str) -> Profile {
        let mut p = Profile::new("smtp.example.com");
        p.tls_client_cert_pem = Some(cert.to_owned());
        p.set_tls_client_key(key);
        p
    }

    #[test]
    fn matching_pair_resolves_and_mismatch_names_the_key() {
        let (cert, key) = pair();
        let (_, other_key) = pair();
        let k = Keyring::generate().unwrap();
        let c = profile(&cert, &key).client_certificate(&k).unwrap().unwrap();
        assert!(c.subject().contains("rcgen"), "{}", c.subject());
        let e = profile(&cert, &other_key).client_certificate(&k).unwrap_err();
        assert_eq!(e.message(), "$.tls_client_key: does not match the certificate");
    }

    #[test]
    fn encrypted_key_round_trips_and_rotates() {
        let (cert, key) = pair();
        let mut p = profile(&cert, "-----BEGIN PRIVATE KEY-----\n");
        let mut k = Keyring::generate().unwrap();
        p.encrypt_tls_client_key(&key, &k).unwrap();
        assert!(p.tls_client_key_encrypted());
        let json = p.to_json();
        assert!(!json.contains("PRIVATE KEY"), "{json}");
        let back = Profile::from_json(&json).unwrap();
        assert!(back.tls_client_key_encrypted());
        assert!(back.client_certificate(&k).unwrap().is_some());
        k.generate_key().unwrap();
        let mut rotated = back.clone();
        assert!(rotated.rotate_password(&k).unwrap());
        assert_ne!(rotated.tls_client_key_text(), back.tls_client_key_text());
        assert!(rotated.client_certificate(&k).unwrap().is_some());
        // Bound to its own field: the envelope is not a password.
        let env = rotated.tls_client_key_text().unwrap();
        assert!(k.decrypt(&env, secret::PASSWORD_FIELD, None).is_err());
    }

    #[test]
    fn debug_and_errors_never_show_the_key() {
        let (cert, key) = pair();
        let p = profile(&cert, &key);
        let body: String = key.lines().nth(1).unwrap().to_owned();
        let dbg = format!("{p:?}");
        assert!(!dbg.contains(&body) && !dbg.contains("PRIVATE"), "{dbg}");
        let broken = key.replace("-----END PRIVATE KEY-----", "");
        let e = profile(&cert, &broken).client_certificate(&Keyring::generate().unwrap()).unwrap_err();
        assert!(e.message().starts_with("$.tls_client_key: is not a private key"), "{e}");
        assert!(!e.message().contains(&body), "{e}");
        let c = profile(&cert, &key).client_certificate(&Keyring::generate().unwrap()).unwrap().unwrap();
        assert!(!format!("{c:?}").contains(&body));
    }

    #[test]
    fn static_rules_name_the_field() {
        let (cert, key) = pair();
        let mut p = Profile::new("smtp.example.com");
        p.tls_client_cert_pem = Some(cert.clone());
        assert!(p.validate().unwrap_err().message().starts_with("$.tls_client_key: required"));
        let p = profile("not pem", &key);
        assert!(p.validate().unwrap_err().message().starts_with("$.tls_client_cert_pem: contains no PEM"));
        let p = profile(&cert, "hello");
        assert!(p.validate().unwrap_err().message().starts_with("$.tls_client_key: is not a private key"));
        let mut p = profile(&cert, &key);
        p.tls_client_key_file = Some("/k.pem".into());
        assert!(p.validate().unwrap_err().message().starts_with("$.tls_client_key: give the client key once"));
        let mut p = profile(&cert, &key);
        p.tls_client_cert_pem = None;
        p.tls_client_cert_file = Some("/nonexistent/c.pem".into());
        let e = p.client_certificate(&Keyring::generate().unwrap()).unwrap_err();
        assert!(e.message().starts_with("$.tls_client_cert_file: cannot read /nonexistent/c.pem"), "{e}");
    }
}
