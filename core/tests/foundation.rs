//! Profile, secrets and resolution: the properties of §1–§3 the vectors cannot express.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use relaykit::profile::{AuthOrder, Password, StarttlsPolicy, TlsChoice};
use relaykit::resolve::Identity;
use relaykit::rrt::RrtContext;
use relaykit::session::TlsMode;
use relaykit::{ErrorKind, Keyring, Profile, Stage};

const PLAINTEXT: &str = "Sup3r-secret-pw";
const PROTECTED: &str = "protected-value-4711";
const RESTRICTED: &str = "restricted-value-0815";

fn empty_ctx() -> RrtContext {
    RrtContext::new().with_environment(vec![("HOME", "/home/relay"), ("USER", "relay")])
}

#[test]
fn tls_policy_follows_the_dialog() {
    let k = Keyring::new();
    let c = empty_ctx();
    let policy = |p: Profile| p.resolve(&k, &c).unwrap();
    let s = policy(Profile::new("smtp.example.com"));
    assert_eq!((s.port, s.tls), (25, TlsMode::StartTlsOpportunistic));
    let s = policy(Profile::builder("smtp.example.com").encrypted_connection(true).build().unwrap());
    assert_eq!((s.port, s.tls), (465, TlsMode::Implicit));
    let s = policy(Profile::builder("smtp.example.com").encrypted_connection(true).port(587).build().unwrap());
    assert_eq!((s.port, s.tls), (587, TlsMode::StartTlsRequired));
    let s = policy(
        Profile::builder("smtp.example.com")
            .encrypted_connection(true)
            .port(2465)
            .tls_mode(TlsChoice::Implicit)
            .build()
            .unwrap(),
    );
    assert_eq!((s.port, s.tls), (2465, TlsMode::Implicit));
    let s = policy(
        Profile::builder("smtp.example.com").encrypted_connection(true).tls_mode(TlsChoice::Starttls).build().unwrap(),
    );
    assert_eq!((s.port, s.tls), (465, TlsMode::StartTlsRequired));
    let s = policy(Profile::builder("smtp.example.com").starttls(StarttlsPolicy::Never).build().unwrap());
    assert_eq!(s.tls, TlsMode::Plain);
    assert!(s.tls_verify);
    assert_eq!(s.timeout.as_secs(), 30);
    assert!(s.auth.is_none());
}

#[test]
fn builder_validates() {
    let e = Profile::builder("smtp.example.com").port(0).build().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(e.message().starts_with("$.port:"), "{e}");
    let e = Profile::builder("smtp.example.com").tls_mode(TlsChoice::Implicit).build().unwrap_err();
    assert!(e.message().starts_with("$.tls_mode:"), "{e}");
    let e = Profile::builder("bad host").build().unwrap_err();
    assert!(e.message().starts_with("$.server:"), "{e}");
}

#[test]
fn rrts_are_expanded_at_resolve_and_never_written_back() {
    let mut ctx = empty_ctx();
    ctx.set("ACC", "host", "mx1").unwrap();
    ctx.set_protected("ACC", "user", PROTECTED).unwrap();
    ctx.set_restricted("ACC", "pw", RESTRICTED).unwrap();
    let p = Profile::builder("~ACC::%host%~.example.com")
        .credentials("~ACC::%$user%~", "x-~ACC::%@pw%~-~WIN::USER~")
        .build()
        .unwrap();
    let before = p.to_json();
    let s = p.resolve(&Keyring::new(), &ctx).unwrap();
    assert_eq!(s.host.to_string(), "mx1.example.com");
    let Some(relaykit::resolve::AuthSettings {
        identity: Identity::Password { username, username_sensitive, password },
        ..
    }) = &s.auth
    else {
        panic!("expected password auth")
    };
    assert_eq!(username, PROTECTED);
    assert!(username_sensitive);
    assert_eq!(password.expose(), format!("x-{RESTRICTED}-relay"));
    assert_eq!(p.to_json(), before, "expansion must not change the profile");
    // Debug of the settings hides the protected user name and the password.
    let d = format!("{s:?} {}", s.describe());
    assert!(!d.contains(PROTECTED) && !d.contains(RESTRICTED), "{d}");
}

#[test]
fn expanded_server_is_validated() {
    let mut ctx = empty_ctx();
    ctx.set("ACC", "host", "bad host").unwrap();
    let p = Profile::new("~ACC::%host%~");
    let e = p.resolve(&Keyring::new(), &ctx).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert_eq!(e.stage(), Some(Stage::Resolve));
    assert!(e.message().starts_with("$.server (after RRT expansion):"), "{e}");
    let e = Profile::new("~ACC::%nohost%~").resolve(&Keyring::new(), &ctx).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Rrt);
    assert!(e.message().contains("~ACC::%nohost%~") && e.message().contains("server"), "{e}");
}

#[test]
fn restricted_tag_in_the_username_is_an_rrt_error() {
    let mut ctx = empty_ctx();
    ctx.set_restricted("ACC", "pw", RESTRICTED).unwrap();
    let p = Profile::builder("smtp.example.com").credentials("~ACC::%@pw%~", "x").build().unwrap();
    let e = p.resolve(&Keyring::new(), &ctx).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Rrt);
    assert!(e.message().contains("~ACC::%@pw%~") && e.message().contains("username"), "{e}");
    assert!(!e.to_string().contains(RESTRICTED));
}

#[test]
fn encrypted_password_with_a_tag_is_used_literally() {
    let keyring = Keyring::generate().unwrap();
    let mut p = Profile::builder("smtp.example.com").id("p1").credentials("alice", "unused").build().unwrap();
    p.encrypt_password("~WIN::HOME~", &keyring).unwrap();
    assert!(p.password_encrypted());
    let s = p.resolve(&keyring, &empty_ctx()).unwrap();
    let Some(relaykit::resolve::AuthSettings { identity: Identity::Password { password, .. }, .. }) = &s.auth else {
        panic!()
    };
    assert_eq!(password.expose(), "~WIN::HOME~");
    // Unencrypted, the same text expands.
    let p = Profile::builder("smtp.example.com").credentials("alice", "~WIN::HOME~").build().unwrap();
    let s = p.resolve(&keyring, &empty_ctx()).unwrap();
    let Some(relaykit::resolve::AuthSettings { identity: Identity::Password { password, .. }, .. }) = &s.auth else {
        panic!()
    };
    assert_eq!(password.expose(), "/home/relay");
}

#[test]
fn encrypted_profile_json_and_display_never_show_the_plaintext() {
    let keyring = Keyring::generate().unwrap();
    let mut p = Profile::builder("smtp.example.com").id("prod").credentials("alice", PLAINTEXT).build().unwrap();
    p.encrypt_current_password(&keyring).unwrap();
    let json = p.to_json();
    assert!(!json.contains(PLAINTEXT), "{json}");
    assert!(json.contains("\"password_encrypted\": true"));
    assert_eq!(p.password_display(), Some("********"));
    assert!(!format!("{p:?}").contains(PLAINTEXT));
    assert!(!format!("{keyring:?}").contains(&*keyring.export()));
    // Read back, it is still encrypted and decrypts to the same password.
    let back = Profile::from_json(&json).unwrap();
    assert_eq!(back, p);
    let Some(Password::Encrypted(env)) = back.password() else { panic!() };
    assert_eq!(keyring.decrypt(env, "password", Some("prod")).unwrap().expose(), PLAINTEXT);
    // A wrong key gives an error that does not contain the plaintext either.
    let e = back.resolve(&Keyring::generate().unwrap(), &empty_ctx()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Crypto);
    assert!(!format!("{e} {e:?}").contains(PLAINTEXT));
}

#[test]
fn unencrypted_password_is_hidden_from_debug() {
    let p = Profile::builder("smtp.example.com").credentials("alice", PLAINTEXT).build().unwrap();
    assert!(!format!("{p:?}").contains(PLAINTEXT));
    // The dialog shows an unencrypted password as typed.
    assert_eq!(p.password_display(), Some(PLAINTEXT));
}

#[test]
fn protected_values_never_leak_through_context_debug_or_errors() {
    let mut ctx = empty_ctx();
    ctx.set_protected("ACC", "$p", PROTECTED).unwrap();
    ctx.set_restricted("ACC", "@r", RESTRICTED).unwrap();
    let d = format!("{ctx:?}");
    assert!(!d.contains(PROTECTED) && !d.contains(RESTRICTED), "{d}");
    let e = ctx.expand("~ACC::%@r%~", relaykit::rrt::Field::Message("subject")).unwrap_err();
    assert!(!format!("{e} {e:?}").contains(RESTRICTED));
    let out = ctx.expand("~ACC::%$p%~", relaykit::rrt::Field::Username).unwrap();
    assert_eq!(format!("{out:?}"), "<redacted>");
}

#[test]
fn rotation_keeps_old_envelopes_readable_and_reencrypts_under_the_newest_key() {
    let mut keyring = Keyring::new();
    keyring.add_key(Some("2025"), &[7u8; 32]).unwrap();
    let mut p = Profile::builder("smtp.example.com").id("prod").credentials("alice", "x").build().unwrap();
    p.encrypt_password(PLAINTEXT, &keyring).unwrap();
    let old = p.clone();
    keyring.add_key(Some("2026"), &[9u8; 32]).unwrap();
    assert_eq!(keyring.newest_key_id(), Some("2026"));
    // The old envelope still decrypts with the grown keyring.
    assert!(old.resolve(&keyring, &empty_ctx()).is_ok());
    assert!(p.rotate_password(&keyring).unwrap());
    let Some(Password::Encrypted(env)) = p.password() else { panic!() };
    assert!(env.starts_with("enc:v1:2026:"), "{env}");
    assert_eq!(keyring.decrypt(env, "password", Some("prod")).unwrap().expose(), PLAINTEXT);
    // Rotating again changes nothing.
    assert!(!p.rotate_password(&keyring).unwrap());
    // A keyring with only the new key cannot read the old envelope, and says which key it needs.
    let mut only_new = Keyring::new();
    only_new.add_key(Some("2026"), &[9u8; 32]).unwrap();
    let e = old.resolve(&only_new, &empty_ctx()).unwrap_err();
    assert!(e.message().contains("`2025`") && e.message().contains("not in the keyring"), "{e}");
}

#[test]
fn every_encryption_uses_a_fresh_nonce() {
    let k = Keyring::generate().unwrap();
    let a = k.encrypt(PLAINTEXT, "password", None).unwrap();
    let b = k.encrypt(PLAINTEXT, "password", None).unwrap();
    assert_ne!(a, b);
}

#[cfg(unix)]
#[test]
fn key_files_must_be_private_and_owned_by_the_user() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("key");
    let k = Keyring::generate().unwrap();
    k.write_key_file(&path).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    let loaded = Keyring::from_key_file(&path).unwrap();
    assert_eq!(loaded.key_ids(), k.key_ids());
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = Keyring::from_key_file(&path).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Crypto);
    assert!(e.message().contains("0644") && e.message().contains("refused"), "{e}");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
    assert!(Keyring::from_key_file(&path).is_ok());
    // Owned by someone else: only root can arrange that, so only then is it checked.
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        std::os::unix::fs::chown(&path, Some(65534), None).unwrap();
        let e = Keyring::from_key_file(&path).unwrap_err();
        assert!(e.message().contains("owned by uid 65534"), "{e}");
    }
    // write_key_file never overwrites.
    assert!(k.write_key_file(&path).is_err());
}

#[test]
fn auth_settings_follow_the_allow_list_and_order() {
    let k = Keyring::new();
    let c = empty_ctx();
    let mechs = |p: Profile| -> Vec<&str> {
        p.resolve(&k, &c).unwrap().auth.unwrap().mechanisms().iter().map(|m| m.name()).collect()
    };
    let base = || Profile::builder("smtp.example.com").credentials("alice", "pw");
    // All supported, most secure first; XOAUTH2 only when listed.
    assert_eq!(mechs(base().build().unwrap()), ["SCRAM-SHA-256", "SCRAM-SHA-1", "NTLM", "CRAM-MD5", "PLAIN", "LOGIN"]);
    assert_eq!(mechs(base().auth_mechanisms(["login", "CRAM-MD5"]).build().unwrap()), ["CRAM-MD5", "LOGIN"]);
    assert_eq!(
        mechs(base().auth_mechanisms(["login", "CRAM-MD5"]).auth_order(AuthOrder::AsListed).build().unwrap()),
        ["LOGIN", "CRAM-MD5"]
    );
    assert_eq!(mechs(base().auth_mechanisms(["XOAUTH2"]).build().unwrap()), ["XOAUTH2"]);
    let s = base().allow_plaintext_password(true).build().unwrap().resolve(&k, &c).unwrap();
    assert!(s.auth.unwrap().allow_plaintext_password);
    let s = Profile::builder("smtp.example.com").ntlm_current_user().build().unwrap().resolve(&k, &c).unwrap();
    let auth = s.auth.unwrap();
    assert!(matches!(auth.identity, Identity::NtlmCurrentUser));
    assert_eq!(auth.mechanisms(), [relaykit::auth::Mechanism::Ntlm]);
}

#[test]
fn helo_ca_file_and_timeout_are_resolved() {
    let k = Keyring::new();
    let c = empty_ctx();
    let s = Profile::new("smtp.example.com").resolve(&k, &c).unwrap();
    assert!(!s.helo_name.is_empty(), "the default EHLO name is the machine's host name");
    let s = Profile::builder("[::1]").helo_name("client.example.com").timeout_secs(2.5).build().unwrap();
    let s = s.resolve(&k, &c).unwrap();
    assert_eq!(
        (s.helo_name.as_str(), s.timeout.as_millis(), s.host.to_string()),
        ("client.example.com", 2500, "[::1]".into())
    );
    let e = Profile::builder("smtp.example.com").tls_ca_file("/nonexistent/ca.pem").build().unwrap().resolve(&k, &c);
    let e = e.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(e.message().starts_with("$.tls_ca_file:") && e.message().contains("/nonexistent/ca.pem"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    // A broken certificate in the file is reported as the file's, not as tls_ca_pem's.
    std::fs::write(&ca, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n").unwrap();
    let broken = Profile::builder("smtp.example.com").tls_ca_file(ca.to_str().unwrap()).build().unwrap();
    let e = broken.resolve(&k, &c).unwrap_err();
    assert!(e.message().starts_with("$.tls_ca_file: "), "{e}");
    let cert = rcgen::generate_simple_self_signed(vec!["ca.test".into()]).unwrap();
    std::fs::write(&ca, cert.cert.pem()).unwrap();
    let s = Profile::builder("smtp.example.com")
        .tls_verify(false)
        .tls_ca_file(ca.to_str().unwrap())
        .build()
        .unwrap()
        .resolve(&k, &c)
        .unwrap();
    assert_eq!(s.trust_anchors.len(), 1);
    assert!(!s.tls_verify);
}

#[test]
fn rotation_covers_the_proxy_password_too_and_changes_nothing_on_an_error() {
    let mut keyring = Keyring::new();
    keyring.add_key(Some("2025"), &[7u8; 32]).unwrap();
    let mut p = Profile::from_json(
        r#"{"server": "smtp.example.com", "id": "prod", "requires_authentication": true, "username": "alice",
            "password": "x", "proxy": "socks5://relay@proxy.example.com:1080"}"#,
    )
    .unwrap();
    p.encrypt_password(PLAINTEXT, &keyring).unwrap();
    p.encrypt_proxy_password("proxy-secret-1", &keyring).unwrap();
    keyring.add_key(Some("2026"), &[9u8; 32]).unwrap();
    assert!(p.rotate_password(&keyring).unwrap());
    let saved = p.to_json_value();
    for field in ["password", "proxy_password"] {
        let env = saved[field].as_str().unwrap();
        assert!(env.starts_with("enc:v1:2026:"), "{field} was not rotated: {env}");
        assert!(keyring.decrypt(env, field, Some("prod")).is_ok());
    }
    // A keyring without the key of one envelope: an error, and neither secret is touched.
    let mut q = Profile::from_json_value(&saved).unwrap();
    let mut other = Keyring::new();
    other.add_key(Some("2027"), &[5u8; 32]).unwrap();
    q.encrypt_password(PLAINTEXT, &other).unwrap();
    let before = q.to_json_value();
    let mut both = other.clone();
    both.add_key(Some("2028"), &[6u8; 32]).unwrap();
    assert!(q.rotate_password(&both).is_err(), "the proxy password's key 2026 is not in that keyring");
    assert_eq!(q.to_json_value(), before, "a failed rotation changed the profile");
}
