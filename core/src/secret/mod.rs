//! Passwords at rest: the AES-256-GCM envelope `enc:v1:<key-id>:<base64url(nonce ‖ ciphertext ‖ tag)>`,
//! the [`Keyring`] that holds the keys, and [`SecretString`], the zeroizing container every
//! plaintext secret lives in.
//!
//! The associated data binds a ciphertext to the format version, the key id, the field
//! (`password`) and the profile `id`, so moving an envelope to another field or profile, editing
//! it, or relabelling its key id fails with a [`crate::ErrorKind::Crypto`] error, never garbage.
//!
//! ```
//! use relaykit::secret::Keyring;
//! let keyring = Keyring::generate().unwrap();
//! let env = keyring.encrypt("s3cret~pass", "password", Some("prod")).unwrap();
//! assert!(env.starts_with("enc:v1:"));
//! assert_eq!(keyring.decrypt(&env, "password", Some("prod")).unwrap().expose(), "s3cret~pass");
//! assert!(keyring.decrypt(&env, "password", Some("test")).is_err());
//! ```

use std::fmt;

use zeroize::Zeroizing;

// The envelope format and its AES-GCM; the keys; where keys come from; the OS random source;
// server text cleaned of the session's secrets.
mod envelope;
mod key_file;
mod keyring;
mod random;
mod scrub;

pub use envelope::{ENVELOPE_PREFIX, is_envelope};
pub use key_file::{KEY_ENV, KEY_FILE_ENV, default_key_file};
pub use keyring::Keyring;
pub(crate) use random::fill_random;
pub(crate) use scrub::Secrets;

/// What an encrypted password looks like wherever it is shown.
pub const MASK: &str = "********";

/// The field an encrypted password is bound to: the `field` of [`Keyring::encrypt`],
/// [`Keyring::decrypt`] and [`Keyring::reencrypt`] unless the host encrypts another field.
pub const PASSWORD_FIELD: &str = "password";

/// The field an encrypted client certificate key (`tls_client_key`) is bound to.
pub const TLS_CLIENT_KEY_FIELD: &str = "tls_client_key";

/// A secret string (a password, a protected RRT value, a decrypted envelope) in memory that is
/// zeroized when dropped. `Debug` prints `<redacted>`; there is no `Display`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretString(Zeroizing<String>);

impl SecretString {
    /// Wraps `s`.
    pub fn new(s: impl Into<String>) -> Self {
        SecretString(Zeroizing::new(s.into()))
    }

    /// The secret itself. Keep the borrow short and never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn push_str(&mut self, s: &str) {
        // Grow by hand so that no unzeroized copy of the old buffer is left behind.
        if self.0.capacity() - self.0.len() < s.len() {
            let mut bigger = Zeroizing::new(String::with_capacity((self.0.len() + s.len()).max(32) * 2));
            bigger.push_str(&self.0);
            self.0 = bigger;
        }
        self.0.push_str(s);
    }
}

impl From<String> for SecretString {
    fn from(s: String) -> Self {
        SecretString(Zeroizing::new(s))
    }
}

impl From<&str> for SecretString {
    fn from(s: &str) -> Self {
        SecretString::new(s)
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}
