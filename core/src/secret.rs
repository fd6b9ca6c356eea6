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
//! let keyring = Keyring::generate();
//! let env = keyring.encrypt("s3cret~pass", "password", Some("prod")).unwrap();
//! assert!(env.starts_with("enc:v1:"));
//! assert_eq!(keyring.decrypt(&env, "password", Some("prod")).unwrap().expose(), "s3cret~pass");
//! assert!(keyring.decrypt(&env, "password", Some("test")).is_err());
//! ```

use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{AeadInOut, KeyInit};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, Result};

/// The envelope prefix of format version 1.
pub const ENVELOPE_PREFIX: &str = "enc:v1:";
/// What an encrypted password looks like wherever it is shown.
pub const MASK: &str = "********";
/// The environment variable holding keys as text (`base64` or `kid:base64,kid:base64`).
pub const KEY_ENV: &str = "RELAYKIT_KEY";
/// The environment variable naming the key file.
pub const KEY_FILE_ENV: &str = "RELAYKIT_KEY_FILE";

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const KEY_LEN: usize = 32;

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
fn valid_key_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

/// The id of a key given without one: `k` and the first 8 hex digits of a SHA-256 over it.
fn derived_key_id(bytes: &[u8; KEY_LEN]) -> String {
    let digest = Sha256::new().chain_update(b"relaykit key id\0").chain_update(bytes).finalize();
    format!("k{}", hex(&digest[..4]))
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

/// The associated data: format version, key id, field and profile id, each length-prefixed so
/// that no two different tuples give the same bytes.
fn associated_data(key_id: &str, field: &str, profile_id: Option<&str>) -> Vec<u8> {
    let mut aad = b"relaykit/enc/v1".to_vec();
    for part in [key_id, field, profile_id.unwrap_or("")] {
        aad.extend_from_slice(&u32::try_from(part.len()).unwrap_or(u32::MAX).to_be_bytes());
        aad.extend_from_slice(part.as_bytes());
    }
    aad
}

/// A parsed envelope.
struct Envelope<'a> {
    key_id: &'a str,
    data: Zeroizing<Vec<u8>>,
}

fn parse_envelope(envelope: &str) -> Result<Envelope<'_>> {
    let Some(rest) = envelope.strip_prefix("enc:") else {
        return Err(Error::crypto("malformed password envelope: it does not start with `enc:`"));
    };
    let Some((version, rest)) = rest.split_once(':') else {
        return Err(Error::crypto("malformed password envelope: expected `enc:v1:<key-id>:<data>`"));
    };
    if version != "v1" {
        return Err(Error::crypto(format!(
            "unsupported password envelope version `{}` (this relaykit reads v1)",
            version.chars().take(16).collect::<String>()
        )));
    }
    let Some((key_id, data)) = rest.split_once(':') else {
        return Err(Error::crypto("malformed password envelope: expected `enc:v1:<key-id>:<data>`"));
    };
    if !valid_key_id(key_id) {
        return Err(Error::crypto("malformed password envelope: the key id is not valid"));
    }
    let data = URL_SAFE_NO_PAD.decode(data).map_err(|_| {
        Error::crypto(format!("password envelope under key `{key_id}`: the data is not valid base64url"))
    })?;
    if data.len() < NONCE_LEN + TAG_LEN {
        return Err(Error::crypto(format!(
            "password envelope under key `{key_id}` is truncated: {} bytes of data, at least {} needed",
            data.len(),
            NONCE_LEN + TAG_LEN
        )));
    }
    Ok(Envelope { key_id, data: Zeroizing::new(data) })
}

/// Whether `s` has the shape of a version-1 envelope (it may still fail to decrypt).
pub fn is_envelope(s: &str) -> bool {
    s.starts_with("enc:")
}

impl Keyring {
    /// An empty keyring.
    pub fn new() -> Self {
        Keyring::default()
    }

    /// A keyring with one freshly generated random key.
    pub fn generate() -> Self {
        let mut k = Keyring::new();
        k.generate_key();
        k
    }

    /// Generates a random key, adds it as the newest, and returns its id.
    pub fn generate_key(&mut self) -> String {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        fill_random(bytes.as_mut());
        let id = derived_key_id(&bytes);
        self.keys.push(Key { id: id.clone(), bytes });
        id
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

    /// A keyring from a key file, refused unless the file is owned by the current user and
    /// readable by nobody else (mode 0600 or 0400).
    pub fn from_key_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        check_key_file(path)?;
        let text = Zeroizing::new(
            std::fs::read_to_string(path).map_err(|e| Error::crypto(format!("key file {}: {e}", path.display())))?,
        );
        let mut k = Keyring::new();
        k.add_keys_from_text(&text, &format!("key file {}", path.display()))?;
        Ok(k)
    }

    /// The keyring of the environment: `RELAYKIT_KEY` if set, else the file `RELAYKIT_KEY_FILE`
    /// names, else the default key file ([`default_key_file`]) if it exists, else an empty
    /// keyring (which fails with a clear error when a key is needed).
    pub fn from_env() -> Result<Self> {
        if let Some(text) = std::env::var_os(KEY_ENV) {
            let text =
                Zeroizing::new(text.into_string().map_err(|_| Error::crypto(format!("{KEY_ENV} is not valid UTF-8")))?);
            let mut k = Keyring::new();
            k.add_keys_from_text(&text, KEY_ENV)?;
            return Ok(k);
        }
        if let Some(path) = std::env::var_os(KEY_FILE_ENV) {
            return Keyring::from_key_file(PathBuf::from(path));
        }
        match default_key_file() {
            Some(p) if p.exists() => Keyring::from_key_file(p),
            _ => Ok(Keyring::new()),
        }
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

    /// Writes the keys to a new file `path` with mode 0600 (it must not exist yet).
    pub fn write_key_file(&self, path: impl AsRef<Path>) -> Result<()> {
        use std::io::Write as _;
        let path = path.as_ref();
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            opts.mode(0o600);
        }
        let mut f = opts.open(path).map_err(|e| Error::crypto(format!("key file {}: {e}", path.display())))?;
        let mut text = self.export();
        text.push('\n');
        f.write_all(text.as_bytes()).map_err(|e| Error::crypto(format!("key file {}: {e}", path.display())))
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
        fill_random(&mut nonce);
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
        let cipher = Aes256Gcm::new_from_slice(key.bytes.as_ref()).map_err(|_| Error::internal("AES key length"))?;
        let aad = associated_data(&key.id, field, profile_id);
        let mut buf = Zeroizing::new(Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN));
        buf.extend_from_slice(&nonce);
        buf.extend_from_slice(plaintext.as_bytes());
        let tag = cipher
            .encrypt_inout_detached(&nonce.into(), &aad, (&mut buf[NONCE_LEN..]).into())
            .map_err(|_| Error::crypto("the password is too long to encrypt"))?;
        buf.extend_from_slice(&tag);
        Ok(format!("{ENVELOPE_PREFIX}{}:{}", key.id, URL_SAFE_NO_PAD.encode(&buf)))
    }

    /// Decrypts an envelope made for `field` of the profile `profile_id`.
    pub fn decrypt(&self, envelope: &str, field: &str, profile_id: Option<&str>) -> Result<SecretString> {
        let env = parse_envelope(envelope)?;
        let key = self.keys.iter().find(|k| k.id == env.key_id).ok_or_else(|| {
            Error::crypto(format!(
                "the password envelope was made under key `{}`, which is not in the keyring (it has: {})",
                env.key_id,
                if self.keys.is_empty() { "no key".to_owned() } else { self.key_ids().join(", ") }
            ))
        })?;
        let cipher = Aes256Gcm::new_from_slice(key.bytes.as_ref()).map_err(|_| Error::internal("AES key length"))?;
        let aad = associated_data(&key.id, field, profile_id);
        let (nonce, rest) = env.data.split_at(NONCE_LEN);
        let (ct, tag) = rest.split_at(rest.len() - TAG_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| Error::internal("nonce length"))?;
        let tag: [u8; TAG_LEN] = tag.try_into().map_err(|_| Error::internal("tag length"))?;
        let mut pt = Zeroizing::new(ct.to_vec());
        cipher.decrypt_inout_detached(&nonce.into(), &aad, pt.as_mut_slice().into(), &tag.into()).map_err(|_| {
            Error::crypto(format!(
                "the password envelope under key `{}` failed authentication: it was modified, relabelled, \
                     or made for another field or profile than `{field}` of profile `{}`",
                key.id,
                profile_id.unwrap_or("")
            ))
        })?;
        let s = String::from_utf8(std::mem::take(&mut *pt)).map_err(|e| {
            let mut bytes = e.into_bytes();
            bytes.zeroize();
            Error::crypto("the decrypted password is not valid UTF-8")
        })?;
        Ok(SecretString::from(s))
    }

    /// Decrypts `envelope` with whichever key made it and encrypts it again under the newest key
    /// (key rotation). The plaintext never leaves zeroized memory.
    pub fn reencrypt(&self, envelope: &str, field: &str, profile_id: Option<&str>) -> Result<String> {
        let plain = self.decrypt(envelope, field, profile_id)?;
        self.encrypt(plain.expose(), field, profile_id)
    }
}

/// The default key file: `$XDG_CONFIG_HOME/relaykit/key`, else `~/.config/relaykit/key`
/// (`%APPDATA%\relaykit\key` on Windows).
pub fn default_key_file() -> Option<PathBuf> {
    let base = if cfg!(windows) {
        std::env::var_os("APPDATA").map(PathBuf::from)
    } else {
        std::env::var_os("XDG_CONFIG_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
    };
    base.map(|b| b.join("relaykit").join("key"))
}

#[cfg(unix)]
fn check_key_file(path: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt as _;
    let meta = std::fs::metadata(path).map_err(|e| Error::crypto(format!("key file {}: {e}", path.display())))?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    if meta.uid() != euid {
        return Err(Error::crypto(format!(
            "key file {} is refused: it is owned by uid {}, not by the current user (uid {euid})",
            path.display(),
            meta.uid()
        )));
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(Error::crypto(format!(
            "key file {} is refused: its mode is {mode:04o}; others may read it (run: chmod 600 {})",
            path.display(),
            path.display()
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_key_file(path: &Path) -> Result<()> {
    std::fs::metadata(path).map_err(|e| Error::crypto(format!("key file {}: {e}", path.display())))?;
    Ok(())
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Fills `buf` from the operating system's random source.
pub(crate) fn fill_random(buf: &mut [u8]) {
    // getrandom fails only where the OS has no random source at all; there, aborting is safer
    // than encrypting with a predictable nonce.
    if let Err(e) = getrandom::fill(buf) {
        panic!("the operating system's random source failed: {e}");
    }
}
