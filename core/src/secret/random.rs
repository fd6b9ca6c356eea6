//! The operating system's random source.

use crate::error::{Error, Result};

/// Fills `buf` from the operating system's random source.
///
/// getrandom fails only where the OS has no usable random source; there, every key, nonce and
/// id made from it fails with a [`crate::ErrorKind::Crypto`] error, which is safer than
/// encrypting with a predictable nonce and kinder than a panic across a binding.
pub(crate) fn fill_random(buf: &mut [u8]) -> Result<()> {
    getrandom::fill(buf).map_err(|e| Error::crypto(format!("the operating system's random source failed: {e}")))
}
