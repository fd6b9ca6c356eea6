//! The version-1 envelope: `enc:v1:<key-id>:<base64url(nonce ‖ ciphertext ‖ tag)>`, sealed with
//! AES-256-GCM under associated data that names the key, the field and the profile.

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{AeadInOut, KeyInit};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use zeroize::{Zeroize, Zeroizing};

use super::SecretString;
use super::keyring::{KEY_LEN, valid_key_id};
use crate::error::{Error, Result};

/// The envelope prefix of format version 1.
pub const ENVELOPE_PREFIX: &str = "enc:v1:";

pub(crate) const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// Whether `s` has the shape of a version-1 envelope (it may still fail to decrypt).
pub fn is_envelope(s: &str) -> bool {
    s.starts_with("enc:")
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
pub(super) struct Envelope<'a> {
    pub(super) key_id: &'a str,
    data: Zeroizing<Vec<u8>>,
}

pub(super) fn parse(envelope: &str) -> Result<Envelope<'_>> {
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

/// Seals `plaintext` for `field` of `profile_id` under the key `key_id` with `nonce`.
pub(super) fn seal(
    key_id: &str,
    key: &[u8; KEY_LEN],
    plaintext: &str,
    field: &str,
    profile_id: Option<&str>,
    nonce: [u8; NONCE_LEN],
) -> Result<String> {
    let cipher = Aes256Gcm::new_from_slice(key).map_err(|_| Error::internal("AES key length"))?;
    let aad = associated_data(key_id, field, profile_id);
    let mut buf = Zeroizing::new(Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN));
    buf.extend_from_slice(&nonce);
    buf.extend_from_slice(plaintext.as_bytes());
    let tag = cipher
        .encrypt_inout_detached(&nonce.into(), &aad, (&mut buf[NONCE_LEN..]).into())
        .map_err(|_| Error::crypto("the password is too long to encrypt"))?;
    buf.extend_from_slice(&tag);
    Ok(format!("{ENVELOPE_PREFIX}{key_id}:{}", URL_SAFE_NO_PAD.encode(&buf)))
}

/// Opens `env` (made for `field` of `profile_id`) with `key`, the key its id names.
pub(super) fn open(
    env: &Envelope<'_>,
    key: &[u8; KEY_LEN],
    field: &str,
    profile_id: Option<&str>,
) -> Result<SecretString> {
    let cipher = Aes256Gcm::new_from_slice(key).map_err(|_| Error::internal("AES key length"))?;
    let aad = associated_data(env.key_id, field, profile_id);
    let (nonce, rest) = env.data.split_at(NONCE_LEN);
    let (ct, tag) = rest.split_at(rest.len() - TAG_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| Error::internal("nonce length"))?;
    let tag: [u8; TAG_LEN] = tag.try_into().map_err(|_| Error::internal("tag length"))?;
    let mut pt = Zeroizing::new(ct.to_vec());
    cipher.decrypt_inout_detached(&nonce.into(), &aad, pt.as_mut_slice().into(), &tag.into()).map_err(|_| {
        Error::crypto(format!(
            "the password envelope under key `{}` failed authentication: it was modified, relabelled, \
                 or made for another field or profile than `{field}` of profile `{}`",
            env.key_id,
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
