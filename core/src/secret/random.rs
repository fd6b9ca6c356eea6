//! The operating system's random source, and hex for the ids made from it.

use std::fmt::Write as _;

use crate::error::{Error, Result};

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Fills `buf` from the operating system's random source.
///
/// getrandom fails only where the OS has no usable random source; there, every key, nonce and
/// id made from it fails with a [`crate::ErrorKind::Crypto`] error, which is safer than
/// encrypting with a predictable nonce and kinder than a panic across a binding.
pub(crate) fn fill_random(buf: &mut [u8]) -> Result<()> {
    getrandom::fill(buf).map_err(|e| Error::crypto(format!("the operating system's random source failed: {e}")))
}
