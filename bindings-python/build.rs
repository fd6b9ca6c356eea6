//! Lets `cargo test` binaries find libpython (a pyenv or venv interpreter is not on the loader
//! path). Wheels built by maturin do not link libpython, so this adds nothing to them.
fn main() {
    pyo3_build_config::add_libpython_rpath_link_args();
}
