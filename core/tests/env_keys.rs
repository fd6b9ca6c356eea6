//! Keys from the environment. One test function, because the process environment is shared by
//! every thread of a test binary.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use relaykit::{ErrorKind, Keyring};

#[test]
fn keyring_from_environment() {
    let dir = tempfile::tempdir().unwrap();
    // SAFETY (for every set_var/remove_var below): this binary has this one test, so no other
    // thread reads the environment meanwhile.
    unsafe {
        std::env::remove_var("RELAYKIT_KEY");
        std::env::remove_var("RELAYKIT_KEY_FILE");
        std::env::set_var("XDG_CONFIG_HOME", dir.path());
    }
    // Nothing configured: an empty keyring, and a clear error when a key is needed.
    let k = Keyring::from_env().unwrap();
    assert!(k.is_empty());
    let e = k.encrypt("x", "password", None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Crypto);
    assert!(e.message().contains("RELAYKIT_KEY"), "{e}");

    // The default key file under XDG_CONFIG_HOME.
    std::fs::create_dir_all(dir.path().join("relaykit")).unwrap();
    let generated = Keyring::generate().unwrap();
    generated.write_key_file(dir.path().join("relaykit/key")).unwrap();
    assert_eq!(Keyring::from_env().unwrap().key_ids(), generated.key_ids());

    // RELAYKIT_KEY_FILE names another file; a world-readable one is refused.
    let other = dir.path().join("other.key");
    std::fs::write(&other, "k7:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n").unwrap();
    unsafe { std::env::set_var("RELAYKIT_KEY_FILE", &other) };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(Keyring::from_env().unwrap_err().message().contains("refused"));
        std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    assert_eq!(Keyring::from_env().unwrap().key_ids(), vec!["k7"]);

    // RELAYKIT_KEY wins over files: one bare key, or several with ids (the last is the newest).
    unsafe { std::env::set_var("RELAYKIT_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=") };
    let k = Keyring::from_env().unwrap();
    assert_eq!(k.key_ids().len(), 1);
    assert!(k.key_ids()[0].starts_with('k'));
    unsafe {
        std::env::set_var(
            "RELAYKIT_KEY",
            "old:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=,new:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=",
        );
    }
    let k = Keyring::from_env().unwrap();
    assert_eq!(k.key_ids(), vec!["old", "new"]);
    assert!(k.encrypt("x", "password", None).unwrap().starts_with("enc:v1:new:"));
    unsafe { std::env::set_var("RELAYKIT_KEY", "old:tooshort") };
    let e = Keyring::from_env().unwrap_err();
    assert!(e.message().contains("RELAYKIT_KEY") && e.message().contains("old"), "{e}");
    // The key never appears in the error.
    assert!(!e.to_string().contains("tooshort"));
}
