//! Reaching servers the #15 way, against the real servers of tests/servers/ (roles `dovecot
//! socks httpproxy lmtp unixsmtp`): send, Test and the Mailer through Dante (SOCKS5 with
//! username/password) and Tinyproxy (HTTP CONNECT, open and with Basic auth) in front of
//! Postfix; LMTP to Dovecot over TCP and its Unix socket, with a recipient refused at RCPT and
//! one refused after the data beside a delivered one; SMTP to Postfix over a Unix socket. Every
//! delivery is read back from the Maildir it lands in.

#![allow(clippy::unwrap_used, clippy::missing_panics_doc)] // a failed unwrap is a failed test

mod servers_env;

use std::path::Path;
use std::time::Duration;

use relaykit::{ErrorKind, Keyring, Message, Profile, RrtContext, SendOptions, Stage, TestOptions, TestReport};
use serde_json::{Value, json};
use servers_env::{before_now, mailer, port, run_tag, var, wait_delivered};

const WITHIN: Duration = Duration::from_secs(30);

/// A profile from JSON, `timeout_secs` 10 unless given.
fn profile(mut v: Value) -> Profile {
    if v.get("timeout_secs").is_none() {
        v["timeout_secs"] = json!(10);
    }
    Profile::from_json_value(&v).unwrap()
}

/// The dovecot role's plain port (no TLS: STARTTLS is not what is tested here) through `proxy`.
fn via_proxy(proxy: &str, extra: &Value) -> Profile {
    let mut v =
        json!({"server": "127.0.0.1", "port": port("RK_DOVECOT_PLAIN_PORT"), "starttls": "never", "proxy": proxy});
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    profile(v)
}

fn socks_url(pass: Option<&str>) -> String {
    let user = var("RK_SOCKS_USER");
    match pass {
        Some(p) => format!("socks5://{user}:{p}@127.0.0.1:{}", port("RK_SOCKS_PORT")),
        None => format!("socks5://{user}@127.0.0.1:{}", port("RK_SOCKS_PORT")),
    }
}

fn message(to: &[&str], mid: &str) -> Message {
    let mut m = Message::new(var("RK_USER"));
    m.to = to.iter().map(|s| (*s).to_owned()).collect();
    m.subject = Some(format!("relaykit reach {mid}"));
    m.text = Some("sent by core/tests/reach.rs\n".to_owned());
    m.message_id = Some(mid.to_owned());
    m
}

fn mid(what: &str) -> String {
    format!("<reach.{what}.{}@relaykit.test>", run_tag())
}

fn send(p: &Profile, m: &Message) -> relaykit::Result<relaykit::SendResult> {
    relaykit::send(p, &Keyring::new(), &RrtContext::new(), m, &SendOptions::default())
}

fn test(p: &Profile) -> TestReport {
    relaykit::test(p, &Keyring::new(), &RrtContext::new(), &TestOptions::default()).unwrap()
}

fn stage_names(r: &TestReport) -> Vec<&'static str> {
    r.stages.iter().map(|s| s.stage.as_str()).collect()
}

/// Waits (bounded) for the message `mid` in `maildir` and returns its bytes.
fn delivered(maildir: &Path, mid: &str, since: std::time::SystemTime) -> Vec<u8> {
    let got = wait_delivered(maildir, mid, 1, since, WITHIN);
    assert!(got.duplicates().is_empty(), "{got:?}");
    std::fs::read(&got.files[0]).unwrap()
}

fn alice_at(root_key: &str) -> std::path::PathBuf {
    Path::new(var(root_key)).join(var("RK_DOMAIN")).join("alice")
}

#[test]
fn socks5_send_and_test_with_the_right_password_and_an_auth_error_at_stage_proxy_with_a_wrong_one() {
    // The password in its own field (overriding none in the URL), the URL without one.
    let good = via_proxy(&socks_url(None), &json!({"proxy_password": var("RK_SOCKS_PASS")}));
    let (id, since) = (mid("socks5"), before_now());
    let r = send(&good, &message(&[var("RK_USER")], &id)).unwrap();
    assert_eq!(r.accepted, [var("RK_USER")]);
    assert!(r.deliveries.is_empty() && r.to_json_value().get("deliveries").is_none(), "SMTP has no deliveries");
    let bytes = delivered(&alice_at("RK_DOVECOT_MAIL_DIR"), &id, since);
    assert!(String::from_utf8_lossy(&bytes).contains("sent by core/tests/reach.rs"));

    let report = test(&good);
    assert!(report.ok, "{}", report.to_json());
    // socks5: relaykit resolves (an IP literal here), then the proxy stage replaces connect.
    assert_eq!(stage_names(&report)[..3], ["dns", "proxy", "greeting"], "{}", report.to_json());
    assert!(report.stages[1].ms > 0.0);

    // A wrong password in the field overrides the right one in the URL.
    let bad = via_proxy(&socks_url(Some(var("RK_SOCKS_PASS"))), &json!({"proxy_password": var("RK_SOCKS_BAD_PASS")}));
    let report = test(&bad);
    let e = report.error.as_ref().expect("a wrong proxy password fails");
    assert_eq!((e.kind(), e.stage()), (ErrorKind::AuthFailed, Some(Stage::Proxy)), "{e}");
    assert!(e.hint().unwrap().starts_with("proxy authentication failed"), "{e}");
    assert_eq!(report.stages.last().map(|s| (s.stage, s.ok)), Some((Stage::Proxy, false)));
    let text = report.to_json();
    assert!(!text.contains(var("RK_SOCKS_BAD_PASS")) && !text.contains(var("RK_SOCKS_PASS")), "{text}");
    let e = send(&bad, &message(&[var("RK_USER")], &mid("socks5-bad"))).unwrap_err();
    assert_eq!((e.kind(), e.stage()), (ErrorKind::AuthFailed, Some(Stage::Proxy)), "{e}");
    assert!(!format!("{e:?} {e}").contains(var("RK_SOCKS_BAD_PASS")));
}

#[test]
fn socks5h_lets_the_proxy_resolve_localhost_and_test_has_no_dns_stage() {
    let mut p = via_proxy(&socks_url(Some(var("RK_SOCKS_PASS"))).replace("socks5:", "socks5h:"), &json!({}));
    p.server = "localhost".into();
    let report = test(&p);
    assert!(report.ok, "{}", report.to_json());
    assert_eq!(stage_names(&report)[..2], ["proxy", "greeting"], "{}", report.to_json());
    let (id, since) = (mid("socks5h"), before_now());
    send(&p, &message(&[var("RK_USER")], &id)).unwrap();
    delivered(&alice_at("RK_DOVECOT_MAIL_DIR"), &id, since);
}

#[test]
fn http_connect_open_and_with_basic_auth_delivers_and_a_wrong_password_is_proxy_auth() {
    let open = format!("http://127.0.0.1:{}", port("RK_HTTP_PROXY_PORT"));
    let auth_port = port("RK_HTTP_PROXY_AUTH_PORT");
    let authed = format!("http://{}:{}@127.0.0.1:{auth_port}", var("RK_HTTP_PROXY_USER"), var("RK_HTTP_PROXY_PASS"));
    let since = before_now();
    let mut ids = Vec::new();
    for (what, url) in [("http-open", &open), ("http-auth", &authed)] {
        let id = mid(what);
        let r = send(&via_proxy(url, &json!({})), &message(&[var("RK_USER")], &id)).unwrap();
        assert_eq!(r.accepted, [var("RK_USER")], "{what}");
        ids.push(id);
    }
    for id in &ids {
        delivered(&alice_at("RK_DOVECOT_MAIL_DIR"), id, since);
    }
    let report = test(&via_proxy(&open, &json!({})));
    assert_eq!(stage_names(&report)[..2], ["proxy", "greeting"], "{}", report.to_json());

    let bad = format!("http://{}@127.0.0.1:{auth_port}", var("RK_HTTP_PROXY_USER"));
    let report = test(&via_proxy(&bad, &json!({"proxy_password": var("RK_HTTP_PROXY_BAD_PASS")})));
    let e = report.error.unwrap();
    assert_eq!((e.kind(), e.stage()), (ErrorKind::AuthFailed, Some(Stage::Proxy)), "{e}");
    assert!(e.hint().unwrap().contains(&format!("proxy authentication failed at 127.0.0.1:{auth_port}")), "{e}");
}

#[test]
fn a_denied_port_and_an_absent_proxy_get_hints_naming_what_failed() {
    let denied = port("RK_PROXY_DENIED_PORT");
    for url in [socks_url(Some(var("RK_SOCKS_PASS"))), format!("http://127.0.0.1:{}", port("RK_HTTP_PROXY_PORT"))] {
        let mut p = via_proxy(&url, &json!({}));
        p.port = Some(denied);
        let e = test(&p).error.unwrap();
        assert_eq!((e.kind(), e.stage()), (ErrorKind::Connect, Some(Stage::Proxy)), "{url}: {e}");
        let want = format!("the proxy refused the connection to 127.0.0.1:{denied}");
        assert!(e.hint().unwrap().starts_with(&want), "{url}: {e}");
    }
    let e = test(&via_proxy("socks5://127.0.0.1:9", &json!({}))).error.unwrap();
    assert_eq!((e.kind(), e.stage()), (ErrorKind::Connect, Some(Stage::Proxy)), "{e}");
    assert!(e.hint().unwrap().starts_with("could not reach the proxy at 127.0.0.1:9"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mailer_sends_several_messages_over_pooled_connections_through_the_proxy() {
    let p = via_proxy(&socks_url(Some(var("RK_SOCKS_PASS"))), &json!({}));
    let m = mailer(&p, &json!({"max_connections": 2}));
    let (prefix, since) = (format!("<reach.pool.{}.", run_tag()), before_now());
    let msgs: Vec<Message> =
        (0..6).map(|i| message(&[var("RK_USER")], &format!("{prefix}{i}@relaykit.test>"))).collect();
    let results = tokio::time::timeout(WITHIN, m.send_many(&msgs)).await.expect("6 messages within 30 s");
    for r in &results {
        assert!(r.is_ok(), "{r:?}");
    }
    let s = m.stats();
    assert_eq!(s.sent, 6, "{s:?}");
    assert!((1..=2).contains(&s.connections_opened), "{s:?}");
    m.close().await;
    let got = wait_delivered(&alice_at("RK_DOVECOT_MAIL_DIR"), &prefix, 6, since, WITHIN);
    assert!(got.duplicates().is_empty(), "{got:?}");
}

/// LMTP to `server`: alice delivered, `RK_LMTP_REJECT_RCPT` refused at RCPT, `RK_LMTP_FULL_RCPT`
/// refused after the data: a partial result naming each recipient's reply.
fn lmtp_partial(server: &str, what: &str) {
    let mut v = json!({"server": server, "protocol": "lmtp", "starttls": "never"});
    if what == "tcp" {
        v["port"] = json!(port("RK_LMTP_PORT"));
    }
    let p = profile(v);
    let (id, since) = (mid(&format!("lmtp-{what}")), before_now());
    let (reject, full) = (var("RK_LMTP_REJECT_RCPT"), var("RK_LMTP_FULL_RCPT"));
    let r = send(&p, &message(&[var("RK_USER"), reject, full], &id)).unwrap();
    assert_eq!(r.accepted, [var("RK_USER")], "{}", r.to_json());
    let rejected: Vec<(&str, u16)> = r.rejected.iter().map(|x| (x.address.as_str(), x.reply.code)).collect();
    assert_eq!(rejected, [(reject, 550), (full, 552)], "{}", r.to_json());
    assert!(r.rejected[1].reply.text.contains("Quota exceeded"), "{}", r.to_json());
    assert!(r.reply.is_positive() && r.reply.text.contains(var("RK_USER")), "{}", r.to_json());
    // Which recipient got which reply after the data, in the result and its JSON.
    let deliveries: Vec<(&str, u16)> = r.deliveries.iter().map(|x| (x.address.as_str(), x.reply.code)).collect();
    assert_eq!(deliveries, [(var("RK_USER"), 250), (full, 552)], "{}", r.to_json());
    let json = r.to_json_value();
    assert_eq!(json["deliveries"][0]["address"], var("RK_USER"));
    assert_eq!(json["deliveries"][1]["code"], 552);
    assert_eq!(json["rejected"][1]["address"], full);
    assert_eq!(json["rejected"][1]["enhanced_code"], "5.2.2");
    let bytes = delivered(&alice_at("RK_LMTP_MAIL_DIR"), &id, since);
    assert!(String::from_utf8_lossy(&bytes).contains("sent by core/tests/reach.rs"));

    let report = test(&p);
    assert!(report.ok, "{}", report.to_json());
    let want: &[&str] =
        if what == "tcp" { &["dns", "connect", "greeting", "ehlo"] } else { &["connect", "greeting", "ehlo"] };
    assert_eq!(stage_names(&report)[..want.len()], *want, "{}", report.to_json());
}

#[test]
fn lmtp_over_tcp_maps_each_recipients_reply_to_a_partial_result() {
    lmtp_partial("127.0.0.1", "tcp");
}

#[test]
fn lmtp_over_the_unix_socket_maps_each_recipients_reply_to_a_partial_result() {
    lmtp_partial(&format!("unix:{}", var("RK_LMTP_SOCKET")), "unix");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mailer_streams_lmtp_messages_with_chunking_and_each_recipient_gets_its_reply() {
    // Dovecot LMTP offers PIPELINING and CHUNKING: the Mailer's chunked stream, where the
    // per-recipient replies follow the BDAT LAST of each message.
    let p = profile(json!({"server": format!("unix:{}", var("RK_LMTP_SOCKET")), "protocol": "lmtp"}));
    let m = mailer(&p, &json!({"max_connections": 1}));
    let (prefix, since) = (format!("<reach.lmtpstream.{}.", run_tag()), before_now());
    let full = var("RK_LMTP_FULL_RCPT");
    let msgs: Vec<Message> =
        (0..8).map(|i| message(&[var("RK_USER"), full], &format!("{prefix}{i}@relaykit.test>"))).collect();
    let results = tokio::time::timeout(WITHIN, m.send_many(&msgs)).await.expect("8 messages within 30 s");
    for r in &results {
        let r = r.as_ref().unwrap();
        assert_eq!(r.accepted, [var("RK_USER")]);
        assert_eq!(r.rejected.iter().map(|x| (x.address.as_str(), x.reply.code)).collect::<Vec<_>>(), [(full, 552)]);
    }
    m.close().await;
    let got = wait_delivered(&alice_at("RK_LMTP_MAIL_DIR"), &prefix, 8, since, WITHIN);
    assert!(got.duplicates().is_empty(), "{got:?}");
}

#[test]
fn smtp_over_the_unix_socket_sends_and_tests_without_a_dns_stage() {
    let p = profile(json!({"server": format!("unix:{}", var("RK_SMTP_SOCKET")), "starttls": "never"}));
    let (id, since) = (mid("unixsmtp"), before_now());
    let r = send(&p, &message(&[var("RK_USER")], &id)).unwrap();
    assert_eq!(r.accepted, [var("RK_USER")]);
    delivered(&alice_at("RK_UNIXSMTP_MAIL_DIR"), &id, since);
    let report = test(&p);
    assert!(report.ok, "{}", report.to_json());
    assert_eq!(stage_names(&report)[..3], ["connect", "greeting", "ehlo"], "{}", report.to_json());
    // STARTTLS works over the socket too (the certificate is for localhost).
    let tls = profile(json!({
        "server": format!("unix:{}", var("RK_SMTP_SOCKET")), "encrypted_connection": true, "tls_mode": "starttls",
        "tls_ca_file": var("RK_CA_FILE"),
    }));
    let report = test(&tls);
    assert!(report.ok && report.tls.as_ref().is_some_and(|t| t.verified), "{}", report.to_json());
}

#[test]
fn bad_input_names_the_field_a_missing_socket_and_a_malformed_proxy() {
    let p = profile(json!({"server": "unix:/nonexistent/relaykit/lmtp", "protocol": "lmtp"}));
    let e = relaykit::test(&p, &Keyring::new(), &RrtContext::new(), &TestOptions::default()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config, "{e}");
    assert!(e.message().starts_with("$.server: no Unix socket at /nonexistent/relaykit/lmtp"), "{e}");
    for (proxy, want) in
        [("socks4://h:1", "$.proxy: scheme `socks4`"), ("socks5://h", "$.proxy: the proxy URL has no port")]
    {
        let e = Profile::from_json_value(&json!({"server": "smtp.example.com", "proxy": proxy})).unwrap_err();
        assert!(e.message().starts_with(want), "{proxy}: {e}");
    }
}

#[test]
fn the_proxy_password_never_shows_in_a_trace_a_report_an_error_or_debug_output() {
    use relaykit::session::TraceSink;
    use std::sync::{Arc, Mutex};
    let lines: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = {
        let lines = lines.clone();
        TraceSink::new(move |ev| lines.lock().unwrap().push(ev.text))
    };
    let opts = TestOptions { trace: Some(sink.clone()), ..TestOptions::default() };
    let (good, bad) = (var("RK_SOCKS_PASS"), var("RK_SOCKS_BAD_PASS"));
    let http_bad = var("RK_HTTP_PROXY_BAD_PASS");
    // An encrypted proxy password, decrypted with the keyring bound to its own field name.
    let keyring = Keyring::from_text("k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").unwrap();
    let mut encrypted = via_proxy(&socks_url(None), &json!({}));
    encrypted.encrypt_proxy_password(good, &keyring).unwrap();
    assert!(encrypted.proxy_password_encrypted() && !encrypted.to_json().contains(good));
    let http_auth = format!("http://{}@127.0.0.1:{}", var("RK_HTTP_PROXY_USER"), port("RK_HTTP_PROXY_AUTH_PORT"));
    let profiles = [
        (via_proxy(&socks_url(Some(good)), &json!({})), true),
        (via_proxy(&socks_url(None), &json!({"proxy_password": good})), true),
        (encrypted, true),
        (via_proxy(&socks_url(Some(bad)), &json!({})), false),
        (via_proxy(&socks_url(None), &json!({"proxy_password": bad})), false),
        (via_proxy(&http_auth, &json!({"proxy_password": http_bad})), false),
    ];
    let mut shown = Vec::new();
    for (p, ok) in &profiles {
        let r = relaykit::test(p, &keyring, &RrtContext::new(), &opts).unwrap();
        assert_eq!(r.ok, *ok, "{}", r.to_json());
        shown.push(r.to_json());
        shown.push(format!("{r:?} {p:?}"));
        if let Some(e) = &r.error {
            shown.push(format!("{e} {e:?} {}", e.to_json_value()));
        }
        let s = p.resolve(&keyring, &RrtContext::new()).unwrap();
        shown.push(format!("{} {s:?}", s.describe()));
        let e = relaykit::send(
            p,
            &keyring,
            &RrtContext::new(),
            &message(&["nobody@relaykit.test"], &mid("redact")),
            &SendOptions { trace: Some(sink.clone()), ..SendOptions::default() },
        );
        if let Err(e) = e {
            shown.push(format!("{e} {e:?}"));
        }
    }
    shown.extend(lines.lock().unwrap().iter().cloned());
    let text = shown.join("\n");
    assert!(text.contains("EHLO ") && text.contains("proxy authentication failed"), "the checks saw nothing");
    let basic =
        |u: &str, p: &str| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, format!("{u}:{p}"));
    for secret in [good.to_owned(), bad.to_owned(), http_bad.to_owned(), basic(var("RK_HTTP_PROXY_USER"), http_bad)] {
        assert!(!text.contains(&secret), "a proxy secret was shown:\n{text}");
    }
}
