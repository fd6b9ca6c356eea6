//! Gives the shared library an ELF SONAME carrying the major version (`librelaykit.so.0`), so a
//! program linked against one release keeps loading any compatible later one, and the C SDK can
//! install it the way Linux distributions do (`.so.X.Y.Z`, `.so.X`, `.so`).
fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap_or_default();
    if os == "linux" || os == "freebsd" {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,librelaykit.so.{major}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
