//! The [`Keyring`]: AES-256 keys by id, the newest of which encrypts.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::SecretString;
use super::envelope::{self, NONCE_LEN};
use super::key_file::{KEY_ENV, KEY_FILE_ENV};
use super::random::fill_random;
use crate::error::{Error, Result};

pub(super) const KEY_LEN: usize = 32;

/// One AES-256 key with its id. `Debug` shows the id only.
#[derive(Clone)]
struct Key {
    id: String,
    bytes: Zeroizing<[u8; KEY_LEN]>,
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key").field("id", &self.id).finish_non_exhaustive()
    }
}

/// The keys that encrypt and decrypt password envelopes. The newest key (the last added)
/// encrypts; any key decrypts the envelopes made under it.
///
/// `Debug` lists the key ids only.
#[derive(Clone, Default)]
pub struct Keyring {
    keys: Vec<Key>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring").field("key_ids", &self.key_ids()).finish()
    }
}

/// Whether `id` is a valid key id: 1 to 64 characters of `A-Z a-z 0-9 _ . -`.
pub(super) fn valid_key_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

/// The id of a key given without one: `k` and the first 8 hex digits of a SHA-256 over it.
fn derived_key_id(bytes: &[u8; KEY_LEN]) -> String {
    let digest = Sha256::new().chain_update(b"relaykit key id\0").chain_update(bytes).finalize();
    format!("k{}", hex::encode(&digest[..4]))
}

fn decode_key(text: &str, what: &str) -> Result<Zeroizing<[u8; KEY_LEN]>> {
    let text = text.trim();
    let decoded = [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD]
        .iter()
        .find_map(|e| e.decode(text).ok())
        .map(Zeroizing::new)
        .ok_or_else(|| Error::crypto(format!("{what}: the key is not valid base64")))?;
    let arr: [u8; KEY_LEN] = decoded
        .as_slice()
        .try_into()
        .map_err(|_| Error::crypto(format!("{what}: a key must be {KEY_LEN} bytes, this one has {}", decoded.len())))?;
    Ok(Zeroizing::new(arr))
}

impl Keyring {
    /// An empty keyring.
    pub fn new() -> Self {
        Keyring::default()
    }

    /// A keyring with one freshly generated random key. Fails only when the operating
    /// system's random source does.
    pub fn generate() -> Result<Self> {
        let mut k = Keyring::new();
        k.generate_key()?;
        Ok(k)
    }

    /// Generates a random key, adds it as the newest, and returns its id. Fails only when the
    /// operating system's random source does.
    pub fn generate_key(&mut self) -> Result<String> {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        fill_random(bytes.as_mut())?;
        let id = derived_key_id(&bytes);
        self.keys.push(Key { id: id.clone(), bytes });
        Ok(id)
    }

    /// Adds `bytes` (32 bytes) under `id` as the newest key. With `id` `None`, the id is derived
    /// from the key. Adding the same key twice is a no-op; a different key under a known id is
    /// an error.
    pub fn add_key(&mut self, id: Option<&str>, bytes: &[u8]) -> Result<String> {
        let arr: [u8; KEY_LEN] = bytes
            .try_into()
            .map_err(|_| Error::crypto(format!("a key must be {KEY_LEN} bytes, this one has {}", bytes.len())))?;
        self.push(id, Zeroizing::new(arr))
    }

    fn push(&mut self, id: Option<&str>, bytes: Zeroizing<[u8; KEY_LEN]>) -> Result<String> {
        let id = match id {
            Some(id) if valid_key_id(id) => id.to_owned(),
            Some(id) => {
                return Err(Error::crypto(format!(
                    "key id `{}` is not valid: use 1 to 64 of A-Z a-z 0-9 _ . -",
                    id.chars().take(64).collect::<String>()
                )));
            }
            None => derived_key_id(&bytes),
        };
        if let Some(existing) = self.keys.iter().find(|k| k.id == id) {
            if existing.bytes.as_ref() == bytes.as_ref() {
                return Ok(id);
            }
            return Err(Error::crypto(format!("two different keys have the id `{id}`")));
        }
        self.keys.push(Key { id: id.clone(), bytes });
        Ok(id)
    }

    /// Adds the keys in `text`: one base64 key (its id derived), or `kid:base64` entries
    /// separated by commas or new lines (later ones are newer). Blank lines and lines starting
    /// with `#` are skipped. `source` names where the text came from, for errors.
    pub fn add_keys_from_text(&mut self, text: &str, source: &str) -> Result<()> {
        let entries: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .flat_map(|l| l.split(','))
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .collect();
        if entries.is_empty() {
            return Err(Error::crypto(format!("{source}: no key found")));
        }
        for entry in entries {
            if let Some((id, key)) = entry.split_once(':') {
                let bytes = decode_key(key, &format!("{source}, key `{id}`"))?;
                self.push(Some(id.trim()), bytes).map_err(|e| Error::crypto(format!("{source}: {}", e.message())))?;
            } else {
                let bytes = decode_key(entry, source)?;
                self.push(None, bytes)?;
            }
        }
        Ok(())
    }

    /// A keyring from key text (see [`Keyring::add_keys_from_text`]).
    pub fn from_text(text: &str) -> Result<Self> {
        let mut k = Keyring::new();
        k.add_keys_from_text(text, "key text")?;
        Ok(k)
    }

    /// The key ids, oldest first.
    pub fn key_ids(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.id.as_str()).collect()
    }

    /// The id of the newest key, which encrypts.
    pub fn newest_key_id(&self) -> Option<&str> {
        self.keys.last().map(|k| k.id.as_str())
    }

    /// Whether the keyring has no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The keys as text (`kid:base64url,…`, oldest first), to store in `RELAYKIT_KEY` or a key file.
    pub fn export(&self) -> Zeroizing<String> {
        let mut out = Zeroizing::new(String::new());
        for (i, k) in self.keys.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&k.id);
            out.push(':');
            let b64 = Zeroizing::new(URL_SAFE_NO_PAD.encode(k.bytes.as_ref()));
            out.push_str(&b64);
        }
        out
    }

    fn newest(&self) -> Result<&Key> {
        self.keys.last().ok_or_else(|| {
            Error::crypto(format!(
                "the keyring has no key: give one through the API, {KEY_ENV}, or a key file ({KEY_FILE_ENV})"
            ))
        })
    }

    /// Encrypts `plaintext` for `field` of the profile `profile_id` under the newest key.
    pub fn encrypt(&self, plaintext: &str, field: &str, profile_id: Option<&str>) -> Result<String> {
        let mut nonce = [0u8; NONCE_LEN];
        fill_random(&mut nonce)?;
        self.encrypt_with_nonce(plaintext, field, profile_id, nonce)
    }

    /// [`Keyring::encrypt`] with a given nonce. Only for deterministic test vectors: a nonce must
    /// never be used twice with one key.
    #[doc(hidden)]
    pub fn encrypt_with_nonce(
        &self,
        plaintext: &str,
        field: &str,
        profile_id: Option<&str>,
        nonce: [u8; NONCE_LEN],
    ) -> Result<String> {
        let key = self.newest()?;
        envelope::seal(&key.id, &key.bytes, plaintext, field, profile_id, nonce)
    }

    /// Decrypts an envelope made for `field` of the profile `profile_id`.
    pub fn decrypt(&self, envelope: &str, field: &str, profile_id: Option<&str>) -> Result<SecretString> {
        let env = envelope::parse(envelope)?;
        let key = self.keys.iter().find(|k| k.id == env.key_id).ok_or_else(|| {
            Error::crypto(format!(
                "the password envelope was made under key `{}`, which is not in the keyring (it has: {})",
                env.key_id,
                if self.keys.is_empty() { "no key".to_owned() } else { self.key_ids().join(", ") }
            ))
        })?;
        envelope::open(&env, &key.bytes, field, profile_id)
    }

    /// Decrypts `envelope` with whichever key made it and encrypts it again under the newest key
    /// (key rotation). The plaintext never leaves zeroized memory.
    pub fn reencrypt(&self, envelope: &str, field: &str, profile_id: Option<&str>) -> Result<String> {
        let plain = self.decrypt(envelope, field, profile_id)?;
        self.encrypt(plain.expose(), field, profile_id)
    }
}
