//! `Keyring`: the keys that encrypt and decrypt password envelopes (§3).

use napi::Env;
use napi::bindgen_prelude::Uint8Array;
use napi_derive::napi;

use crate::error::JsResult;

/// The keys that encrypt and decrypt password envelopes. The newest key (the last added)
/// encrypts; any key decrypts the envelopes made under it. Key material never shows in
/// `util.inspect`, errors or `keyIds`.
#[derive(Debug)] // the core's Debug, which hides secrets
#[napi]
pub struct Keyring {
    pub(crate) inner: relaykit::Keyring,
}

#[napi]
impl Keyring {
    /// An empty keyring.
    #[napi(constructor)]
    #[allow(clippy::new_without_default)] // a JavaScript constructor, not a Rust API
    pub fn new() -> Self {
        Keyring { inner: relaykit::Keyring::new() }
    }

    /// The keyring of the environment: `RELAYKIT_KEY`, else the file `RELAYKIT_KEY_FILE` names,
    /// else the default key file if it exists, else an empty keyring.
    #[napi(factory)]
    pub fn from_env(env: Env) -> napi::Result<Self> {
        Ok(Keyring { inner: relaykit::Keyring::from_env().js(env)? })
    }

    /// A keyring from a key file, refused unless it is owned by the user and mode 0600 or 0400.
    #[napi(factory)]
    pub fn from_file(env: Env, path: String) -> napi::Result<Self> {
        Ok(Keyring { inner: relaykit::Keyring::from_key_file(path).js(env)? })
    }

    /// A keyring from key text: one base64 key, or `kid:base64` entries separated by commas or
    /// new lines (later ones are newer).
    #[napi(factory)]
    pub fn from_text(env: Env, text: String) -> napi::Result<Self> {
        Ok(Keyring { inner: relaykit::Keyring::from_text(&text).js(env)? })
    }

    /// A keyring with one freshly generated random key.
    #[napi(factory)]
    pub fn generate(env: Env) -> napi::Result<Self> {
        Ok(Keyring { inner: relaykit::Keyring::generate().js(env)? })
    }

    /// Adds a 32-byte key as the newest; returns its id (derived from the key when not given).
    #[napi]
    pub fn add_key(&mut self, env: Env, key: Uint8Array, key_id: Option<String>) -> napi::Result<String> {
        self.inner.add_key(key_id.as_deref(), &key).js(env)
    }

    /// Generates a random key, adds it as the newest, and returns its id.
    #[napi]
    pub fn generate_key(&mut self, env: Env) -> napi::Result<String> {
        self.inner.generate_key().js(env)
    }

    /// The key ids, oldest first.
    #[napi(getter)]
    pub fn key_ids(&self) -> Vec<String> {
        self.inner.key_ids().into_iter().map(str::to_owned).collect()
    }

    /// The id of the newest key, which encrypts; `null` when the keyring is empty.
    #[napi(getter)]
    pub fn newest_key_id(&self) -> Option<String> {
        self.inner.newest_key_id().map(str::to_owned)
    }

    /// Whether the keyring has no key.
    #[napi(getter)]
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// The keys as text (`kid:base64url,...`), for `RELAYKIT_KEY` or a key file. This is key
    /// material: store it as a secret.
    #[napi]
    pub fn export(&self) -> String {
        self.inner.export().to_string()
    }

    /// Writes the keys to a new file with mode 0600 (the file must not exist yet).
    #[napi]
    pub fn write_file(&self, env: Env, path: String) -> napi::Result<()> {
        self.inner.write_key_file(path).js(env)
    }

    /// Encrypts `plaintext` for `field` (default `'password'`) of the profile `profileId` under
    /// the newest key; returns the `enc:v1:` envelope.
    #[napi]
    pub fn encrypt(
        &self,
        env: Env,
        plaintext: String,
        field: Option<String>,
        profile_id: Option<String>,
    ) -> napi::Result<String> {
        self.inner
            .encrypt(&plaintext, field.as_deref().unwrap_or(relaykit::secret::PASSWORD_FIELD), profile_id.as_deref())
            .js(env)
    }

    /// Decrypts an envelope made for `field` (default `'password'`) of the profile `profileId`.
    #[napi]
    pub fn decrypt(
        &self,
        env: Env,
        envelope: String,
        field: Option<String>,
        profile_id: Option<String>,
    ) -> napi::Result<String> {
        let plain = self
            .inner
            .decrypt(&envelope, field.as_deref().unwrap_or(relaykit::secret::PASSWORD_FIELD), profile_id.as_deref())
            .js(env)?;
        Ok(plain.expose().to_owned())
    }

    /// Decrypts `envelope` and encrypts it again under the newest key (rotation).
    #[napi]
    pub fn reencrypt(
        &self,
        env: Env,
        envelope: String,
        field: Option<String>,
        profile_id: Option<String>,
    ) -> napi::Result<String> {
        self.inner
            .reencrypt(&envelope, field.as_deref().unwrap_or(relaykit::secret::PASSWORD_FIELD), profile_id.as_deref())
            .js(env)
    }

    /// For the shared test vectors only: `encrypt` with a given 12-byte nonce. Never use a nonce
    /// twice with one key.
    #[napi(js_name = "_encryptWithNonce")]
    pub fn encrypt_with_nonce(
        &self,
        env: Env,
        plaintext: String,
        field: String,
        profile_id: Option<String>,
        nonce: Uint8Array,
    ) -> napi::Result<String> {
        let nonce: [u8; 12] = nonce.as_ref().try_into().map_err(|_| {
            crate::error::to_js(env, &relaykit::Error::crypto(format!("a nonce is 12 bytes, not {}", nonce.len())))
        })?;
        self.inner.encrypt_with_nonce(&plaintext, &field, profile_id.as_deref(), nonce).js(env)
    }
}
