//! The C ABI of relaykit. Every function is declared in `include/relaykit.h`, generated from
//! this crate by cbindgen. Only translation lives here: the logic is in the `relaykit` crate.
//!
//! Conventions (after rustls-ffi): functions are `rk_<type>_<verb>`; handles are opaque and
//! made by `_new`/`_from_*`, released by `_free` (which accepts NULL); fallible calls return an
//! `rk_status` and write their `*_out` parameters only on success; on failure
//! `rk_last_error()` describes the error on the calling thread; strings in are NUL-terminated
//! UTF-8, strings out are freed with `rk_string_free`. No call unwinds into C: a panic becomes
//! `RK_PANIC`.

// Exported functions take raw pointers from C; each is checked (NULL, UTF-8) by the helpers in
// `error` before use, which is what this lint asks for.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

mod engine;
mod error;
mod handles;
mod mailer;
mod progress;
mod token;

pub use engine::*;
pub use error::*;
pub use handles::*;
pub use mailer::*;
pub use progress::*;
pub use token::*;

/// The major version of the relaykit this header belongs to.
pub const RK_VERSION_MAJOR: u32 = 0;
/// The minor version.
pub const RK_VERSION_MINOR: u32 = 1;
/// The patch version.
pub const RK_VERSION_PATCH: u32 = 0;

/// The relaykit version as a static NUL-terminated string (do not free).
#[unsafe(no_mangle)]
pub extern "C" fn rk_version() -> *const std::ffi::c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_constants_and_header_match_cargo() {
        let v = |s: &str| s.parse::<u32>().unwrap();
        assert_eq!(RK_VERSION_MAJOR, v(env!("CARGO_PKG_VERSION_MAJOR")));
        assert_eq!(RK_VERSION_MINOR, v(env!("CARGO_PKG_VERSION_MINOR")));
        assert_eq!(RK_VERSION_PATCH, v(env!("CARGO_PKG_VERSION_PATCH")));
        let header = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../include/relaykit.h")).unwrap();
        for (name, value) in [
            ("RK_VERSION_MAJOR", env!("CARGO_PKG_VERSION_MAJOR")),
            ("RK_VERSION_MINOR", env!("CARGO_PKG_VERSION_MINOR")),
            ("RK_VERSION_PATCH", env!("CARGO_PKG_VERSION_PATCH")),
        ] {
            assert!(header.contains(&format!("#define {name} {value}\n")), "{name} in relaykit.h is not {value}");
        }
        // SAFETY: rk_version returns a static NUL-terminated string.
        let s = unsafe { std::ffi::CStr::from_ptr(rk_version()) };
        assert_eq!(s.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    }

    #[test]
    fn every_error_kind_has_its_own_status() {
        let mut seen = std::collections::HashSet::new();
        for &k in relaykit::ErrorKind::ALL {
            let st = status_of(k);
            assert!(seen.insert(st as i32), "{k} shares a status");
            assert!(k == relaykit::ErrorKind::Internal || st != rk_status::RK_INTERNAL, "{k} is not mapped");
        }
    }
}
