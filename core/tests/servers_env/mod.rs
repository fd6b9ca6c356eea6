//! The variables `tests/servers/start.sh` writes for the real test servers (`servers.env` under
//! `RELAYKIT_STATE`, default `tests/.state`), shared by the test files that use those servers.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Every `KEY=VALUE` of `servers.env`, read once.
pub fn env() -> &'static HashMap<String, String> {
    static ENV: std::sync::OnceLock<HashMap<String, String>> = std::sync::OnceLock::new();
    ENV.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let state = std::env::var("RELAYKIT_STATE").map_or_else(|_| root.join("tests/.state"), PathBuf::from);
        let file = state.join("servers.env");
        let text = std::fs::read_to_string(&file).unwrap_or_else(|e| {
            panic!("{}: {e}; start the test servers first: bash tests/servers/start.sh", file.display())
        });
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    })
}

/// One variable; a missing one fails the test, naming it.
pub fn var(k: &str) -> &'static str {
    env().get(k).unwrap_or_else(|| panic!("{k} missing from servers.env")).as_str()
}
