//! Client certificates (mutual TLS) and SASL EXTERNAL against the real `ccert` role of
//! `tests/servers/` (README "ccert"): Postfix relays to `RK_RELAY_RCPT` only for the test
//! client certificate's fingerprint (STARTTLS on `RK_CCERT_PORT`, implicit TLS on
//! `RK_CCERT_IMPLICIT_PORT`), and a Dovecot submission server on `RK_CCERT_SUBMISSION_PORT`
//! offers only AUTH EXTERNAL. Every accepted message is found on arrival in
//! `RK_CCERT_MAIL_DIR`, and the relayed ones carry Postfix's "(verified OK)" for the
//! certificate in their Received header.

#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use relaykit::report::RelayCheck;
use relaykit::session::TraceSink;
use relaykit::{ErrorKind, Keyring, Mailer, MailerOptions, Message, Profile, RelayCheckRequest, RrtContext};
use relaykit::{SendOptions, Stage, TestOptions};
use serde_json::{Value, json};

mod servers_env;
use servers_env::var;

fn port(k: &str) -> u16 {
    var(k).parse().unwrap()
}

fn read(k: &str) -> String {
    std::fs::read_to_string(var(k)).unwrap()
}

/// A profile for the ccert listener `port_key` (`implicit` or STARTTLS required), trusting the
/// test CA, with `extra` laid over it (a `null` removes a key).
fn profile(port_key: &str, implicit: bool, extra: &Value) -> Profile {
    let mode = if implicit { "implicit" } else { "starttls" };
    let mut p = json!({
        "server": var("RK_HOST"), "port": port(port_key), "encrypted_connection": true, "tls_mode": mode,
        "tls_ca_file": var("RK_CA_FILE"), "timeout_secs": 15,
    });
    for (k, v) in extra.as_object().unwrap() {
        p[k] = v.clone();
    }
    p.as_object_mut().unwrap().retain(|_, v| !v.is_null());
    Profile::from_json_value(&p).unwrap()
}

/// The test client certificate and key, both as files.
fn right_cert() -> Value {
    json!({"tls_client_cert_file": var("RK_CLIENT_CERT"), "tls_client_key_file": var("RK_CLIENT_KEY")})
}

fn other_cert() -> Value {
    json!({"tls_client_cert_file": var("RK_OTHER_CLIENT_CERT"), "tls_client_key_file": var("RK_OTHER_CLIENT_KEY")})
}

fn unique(tag: &str) -> String {
    let n = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("<{tag}.{}.{n}@relaykit.test>", std::process::id())
}

fn message(to: &str, mid: &str) -> Message {
    let mut m = Message::new(var("RK_USER"));
    m.to = vec![to.to_owned()];
    m.subject = Some("mtls".to_owned());
    m.text = Some("sent with a client certificate\n".to_owned());
    m.message_id = Some(mid.to_owned());
    m
}

fn send(
    p: &Profile,
    keyring: &Keyring,
    m: &Message,
    trace: Option<TraceSink>,
) -> relaykit::Result<relaykit::SendResult> {
    relaykit::send(p, keyring, &RrtContext::new(), m, &SendOptions { trace, ..SendOptions::default() })
}

/// Waits (bounded, 20 s) for a delivered file under `dir` containing `needle`.
fn wait_for(dir: &Path, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let files: Vec<PathBuf> = std::fs::read_dir(dir).into_iter().flatten().flatten().map(|e| e.path()).collect();
        for f in files {
            if let Ok(text) = std::fs::read_to_string(&f) {
                if text.contains(needle) {
                    return text;
                }
            }
        }
        assert!(Instant::now() < deadline, "no message with {needle} arrived in {} within 20 s", dir.display());
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn relayed_dir() -> PathBuf {
    Path::new(var("RK_CCERT_MAIL_DIR")).join("_relayed/new")
}

fn carol_dir() -> PathBuf {
    let (user, domain) = var("RK_RCPT").split_once('@').unwrap();
    Path::new(var("RK_CCERT_MAIL_DIR")).join(domain).join(user).join("new")
}

/// Relays one message and checks it arrived, verified by Postfix as the test client.
fn relays(p: &Profile, keyring: &Keyring) {
    let mid = unique("mtls-relay");
    let r = send(p, keyring, &message(var("RK_RELAY_RCPT"), &mid), None).unwrap();
    assert_eq!(r.accepted, [var("RK_RELAY_RCPT")]);
    let text = wait_for(&relayed_dir(), &mid);
    assert!(text.contains("Client CN \"relaykit test client\"") && text.contains("(verified OK)"), "{text}");
}

/// A relay attempt that Postfix refuses: 554 5.7.1 Relay access denied for the recipient.
fn refused(p: &Profile) {
    let e = send(p, &Keyring::new(), &message(var("RK_RELAY_RCPT"), &unique("mtls-refused")), None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RecipientRejected, "{e}");
    let reply = e.reply().unwrap();
    assert_eq!((reply.code, reply.enhanced_code.as_deref()), (554, Some("5.7.1")), "{e}");
    assert!(reply.text.contains("Relay access denied"), "{e}");
}

#[test]
fn starttls_with_the_client_certificate_relays() {
    relays(&profile("RK_CCERT_PORT", false, &right_cert()), &Keyring::new());
    let built = Profile::builder(var("RK_HOST"))
        .port(port("RK_CCERT_PORT"))
        .encrypted_connection(true)
        .tls_mode(relaykit::profile::TlsChoice::Starttls)
        .tls_ca_file(var("RK_CA_FILE"))
        .tls_client_cert_files(var("RK_CLIENT_CERT"), var("RK_CLIENT_KEY"))
        .build()
        .unwrap();
    relays(&built, &Keyring::new());
}

#[test]
fn implicit_tls_with_the_chain_and_an_inline_key_relays() {
    let extra = json!({"tls_client_cert_file": var("RK_CLIENT_CHAIN"), "tls_client_key": read("RK_CLIENT_KEY")});
    relays(&profile("RK_CCERT_IMPLICIT_PORT", true, &extra), &Keyring::new());
}

#[test]
fn an_inline_certificate_with_an_encrypted_key_relays_and_the_json_keeps_only_the_envelope() {
    let keyring = Keyring::generate().unwrap();
    let mut p = profile(
        "RK_CCERT_PORT",
        false,
        &json!({"id": "mtls", "tls_client_cert_pem": read("RK_CLIENT_CERT"),
        "tls_client_key": read("RK_CLIENT_KEY")}),
    );
    p.encrypt_current_tls_client_key(&keyring).unwrap();
    assert!(p.tls_client_key_encrypted());
    let json = p.to_json();
    assert!(!json.contains("PRIVATE KEY"), "{json}");
    let p = Profile::from_json(&json).unwrap();
    relays(&p, &keyring);
    // The envelope is bound to the profile id and needs the keyring's key.
    let e = send(&p, &Keyring::new(), &message(var("RK_RELAY_RCPT"), &unique("mtls-nokey")), None).unwrap_err();
    assert_eq!((e.kind(), e.stage()), (ErrorKind::Crypto, Some(Stage::Resolve)), "{e}");
}

#[test]
fn the_other_certificate_or_none_is_refused_relay() {
    refused(&profile("RK_CCERT_PORT", false, &other_cert()));
    refused(&profile("RK_CCERT_IMPLICIT_PORT", true, &other_cert()));
    refused(&profile("RK_CCERT_PORT", false, &json!({})));
    // Local mail is accepted from anyone; the certificate is then only presented.
    let mid = unique("mtls-local");
    send(&profile("RK_CCERT_PORT", false, &other_cert()), &Keyring::new(), &message(var("RK_RCPT"), &mid), None)
        .unwrap();
    wait_for(&carol_dir(), &mid);
}

fn probe(p: &Profile) -> relaykit::TestReport {
    let to = var("RK_RELAY_RCPT").to_owned();
    let options = TestOptions {
        relay_check: Some(RelayCheckRequest { from: var("RK_USER").to_owned(), to }),
        ..TestOptions::default()
    };
    relaykit::test(p, &Keyring::new(), &RrtContext::new(), &options).unwrap()
}

#[test]
fn the_test_report_says_whether_a_client_certificate_was_sent() {
    for implicit in [false, true] {
        let key = if implicit { "RK_CCERT_IMPLICIT_PORT" } else { "RK_CCERT_PORT" };
        let r = probe(&profile(key, implicit, &right_cert()));
        let tls = r.tls.as_ref().unwrap();
        assert!(tls.client_certificate_sent, "{implicit}: {:?}", r.to_json());
        assert_eq!(r.to_json_value()["tls"]["client_certificate_sent"], true);
        assert!(matches!(r.relay, Some(RelayCheck { ok: true, .. })), "{:?}", r.relay);
        let r = probe(&profile(key, implicit, &json!({})));
        assert!(!r.tls.as_ref().unwrap().client_certificate_sent);
        assert_eq!(r.to_json_value()["tls"]["client_certificate_sent"], false);
        assert!(
            matches!(&r.relay, Some(RelayCheck { ok: false, reply, .. }) if reply.contains("554")),
            "{:?}",
            r.relay
        );
    }
}

#[test]
fn a_key_that_does_not_match_is_a_clear_error_naming_the_field() {
    let p = profile(
        "RK_CCERT_PORT",
        false,
        &json!({"tls_client_cert_file": var("RK_CLIENT_CERT"), "tls_client_key_file": var("RK_OTHER_CLIENT_KEY")}),
    );
    let e = send(&p, &Keyring::new(), &message(var("RK_RCPT"), &unique("mtls-mismatch")), None).unwrap_err();
    assert_eq!((e.kind(), e.stage()), (ErrorKind::Config, Some(Stage::Resolve)));
    assert_eq!(
        e.message(),
        format!("$.tls_client_key_file: {}: does not match the certificate", var("RK_OTHER_CLIENT_KEY"))
    );
    let p = profile(
        "RK_CCERT_PORT",
        false,
        &json!({"tls_client_cert_pem": read("RK_CLIENT_CERT"), "tls_client_key": read("RK_OTHER_CLIENT_KEY")}),
    );
    let e = relaykit::test(&p, &Keyring::new(), &RrtContext::new(), &TestOptions::default()).unwrap_err();
    assert_eq!(e.message(), "$.tls_client_key: does not match the certificate");
    let p = profile(
        "RK_CCERT_PORT",
        false,
        &json!({"tls_client_cert_file": "/nonexistent/client.crt", "tls_client_key_file": var("RK_CLIENT_KEY")}),
    );
    let e = send(&p, &Keyring::new(), &message(var("RK_RCPT"), &unique("mtls-unreadable")), None).unwrap_err();
    assert!(e.message().starts_with("$.tls_client_cert_file: cannot read /nonexistent/client.crt"), "{e}");
}

fn external(extra: &Value) -> Profile {
    let mut x = json!({"requires_authentication": true, "auth_mechanisms": ["EXTERNAL"]});
    for (k, v) in extra.as_object().unwrap() {
        x[k] = v.clone();
    }
    profile("RK_CCERT_SUBMISSION_PORT", false, &x)
}

#[test]
fn sasl_external_with_the_certificate_logs_in_and_delivers() {
    for username in [Value::Null, json!(var("RK_CCERT_EXTERNAL_USER"))] {
        let mut extra = right_cert();
        extra["username"] = username.clone();
        let p = external(&extra);
        let mid = unique("mtls-external");
        let trace: Arc<Mutex<Vec<String>>> = Arc::default();
        let t = trace.clone();
        let sink = TraceSink::new(move |e| t.lock().unwrap().push(e.text.clone()));
        let r = send(&p, &Keyring::new(), &message(var("RK_RCPT"), &mid), Some(sink)).unwrap();
        assert_eq!(r.accepted, [var("RK_RCPT")]);
        wait_for(&carol_dir(), &mid);
        let trace = trace.lock().unwrap().join("\n");
        assert!(trace.contains("AUTH EXTERNAL"), "{username}: {trace}");
        let report = relaykit::test(&p, &Keyring::new(), &RrtContext::new(), &TestOptions::default()).unwrap();
        let auth = report.auth.as_ref().unwrap();
        assert_eq!(auth.mechanism.as_deref(), Some("EXTERNAL"), "{:?}", report.to_json());
        assert_eq!((auth.attempts.len(), auth.attempts[0].code), (1, Some(235)));
        assert!(report.tls.as_ref().unwrap().client_certificate_sent);
    }
}

#[test]
fn sasl_external_is_refused_with_another_certificate_or_authzid() {
    for (extra, what) in [
        (other_cert(), "other certificate"),
        (
            {
                let mut x = right_cert();
                x["username"] = json!(var("RK_USER2"));
                x
            },
            "another authzid",
        ),
    ] {
        let p = external(&extra);
        let r = relaykit::test(&p, &Keyring::new(), &RrtContext::new(), &TestOptions::default()).unwrap();
        let e = r.error.as_ref().unwrap_or_else(|| panic!("{what}: {}", r.to_json()));
        assert_eq!(e.kind(), ErrorKind::AuthFailed, "{what}: {e}");
        let attempts = &r.auth.as_ref().unwrap().attempts;
        assert_eq!(attempts.len(), 1, "{what}");
        assert_eq!((attempts[0].mechanism.as_str(), attempts[0].ok, attempts[0].code), ("EXTERNAL", false, Some(535)));
    }
}

#[test]
fn the_mailer_presents_the_certificate_on_each_connection() {
    let p = profile("RK_CCERT_PORT", false, &right_cert());
    let mailer = Mailer::new(&p, &Keyring::new(), &RrtContext::new(), MailerOptions::default()).unwrap();
    let mids: Vec<String> = (0..2).map(|i| unique(&format!("mtls-mailer{i}"))).collect();
    for mid in &mids {
        let r = mailer.send_blocking(&message(var("RK_RELAY_RCPT"), mid)).unwrap();
        assert_eq!(r.accepted, [var("RK_RELAY_RCPT")]);
    }
    mailer.close_blocking().unwrap();
    for mid in &mids {
        assert!(wait_for(&relayed_dir(), mid).contains("(verified OK)"));
    }
}

#[test]
fn no_private_key_text_in_traces_errors_or_debug() {
    let key = read("RK_CLIENT_KEY");
    let body: Vec<&str> = key.lines().filter(|l| !l.starts_with("-----") && l.len() > 16).collect();
    assert!(body.len() > 5);
    let check = |what: &str, text: &str| {
        assert!(!text.contains("PRIVATE KEY"), "{what}: {text}");
        for l in &body {
            assert!(!text.contains(l), "{what} shows a line of the key: {text}");
        }
    };
    let p =
        profile("RK_CCERT_PORT", false, &json!({"tls_client_cert_pem": read("RK_CLIENT_CERT"), "tls_client_key": key}));
    check("Profile Debug", &format!("{p:?}"));
    let settings = p.resolve(&Keyring::new(), &RrtContext::new()).unwrap();
    check("Settings Debug", &format!("{settings:?}"));
    let trace: Arc<Mutex<Vec<String>>> = Arc::default();
    let t = trace.clone();
    let sink = TraceSink::new(move |e| t.lock().unwrap().push(e.text.clone()));
    let e = send(&p, &Keyring::new(), &message(var("RK_RELAY_RCPT"), &unique("mtls-redact")), None);
    drop(e);
    let r = send(&p, &Keyring::new(), &message(var("RK_RCPT"), &unique("mtls-redact")), Some(sink)).unwrap();
    check("send result", &format!("{r:?}"));
    check("trace", &trace.lock().unwrap().join("\n"));
    // A broken key: the error names the field and quotes nothing of it.
    let broken: String = key.lines().filter(|l| !l.starts_with("-----END")).collect::<Vec<_>>().join("\n");
    let p = profile(
        "RK_CCERT_PORT",
        false,
        &json!({"tls_client_cert_pem": read("RK_CLIENT_CERT"), "tls_client_key": broken}),
    );
    let e = relaykit::test(&p, &Keyring::new(), &RrtContext::new(), &TestOptions::default()).unwrap_err();
    assert!(e.message().starts_with("$.tls_client_key: is not a private key"), "{e}");
    check("error", &format!("{e} {e:?}"));
}
