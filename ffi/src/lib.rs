//! C ABI for relaykit. A placeholder until the C ABI issue lands: it only reports the version.

/// The relaykit version as a NUL-terminated static string.
#[unsafe(no_mangle)]
pub extern "C" fn rk_version() -> *const std::ffi::c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}
