//! OAuth2 against the real `oauth2` role (Postfix + Dovecot's `oauth2` passdb, tokens from the
//! role's issuer, `tests/servers/oauth2_server.py`): OAUTHBEARER and XOAUTH2 with a token
//! provider whose token is revoked mid-run (the server then rejects it: the 334 JSON error and
//! 535), refreshed through the provider, every message verified on arrival; a provider that
//! fails or hangs; a token that stays rejected; and no token in any trace, error or report.
//!
//! Needs the servers: `bash tests/servers/start.sh` (the `oauth2` role is in the default set).

#![allow(clippy::unwrap_used, clippy::missing_panics_doc)] // a failed unwrap is a failed test

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use relaykit::session::{TraceEvent, TraceSink};
use relaykit::token::{SharedTokenProvider, TokenReason, TokenRequest, token_provider_fn};
use relaykit::{
    ErrorKind, Keyring, Mailer, MailerOptions, Message, Profile, RrtContext, SecretString, SendOptions, Stage,
    TestOptions,
};
use serde_json::{Value, json};
use sha2::Digest as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

mod servers_env;
use servers_env::{before_now, run_tag, var};

/// A form POST to the role's issuer (plain HTTP on loopback): the status and the JSON body.
async fn post(url: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let rest = url.strip_prefix("http://").unwrap();
    let (authority, path) = rest.split_at(rest.find('/').unwrap());
    let body: String = form.iter().map(|(k, v)| format!("{k}={}", urlencode(v))).collect::<Vec<_>>().join("&");
    let req = format!(
        "POST {path} HTTP/1.0\r\nHost: {authority}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let io = async {
        let mut s = tokio::net::TcpStream::connect(authority).await?;
        s.write_all(req.as_bytes()).await?;
        let mut out = Vec::new();
        s.read_to_end(&mut out).await?;
        std::io::Result::Ok(out)
    };
    let out = tokio::time::timeout(Duration::from_secs(10), io).await.unwrap().unwrap();
    let text = String::from_utf8(out).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A fresh access token for the role's user.
async fn issue() -> String {
    let (code, body) = post(
        var("RK_OAUTH_TOKEN_URL"),
        &[("grant_type", "password"), ("username", var("RK_OAUTH_USER")), ("password", var("RK_OAUTH_PASS"))],
    )
    .await;
    assert_eq!(code, 200, "the issuer refused: {body}");
    body["access_token"].as_str().unwrap().to_owned()
}

/// Makes `token` dead now (as if it had expired).
async fn revoke(token: &str) {
    assert_eq!(post(var("RK_OAUTH_REVOKE_URL"), &[("token", token)]).await.0, 200);
}

/// How the issuer's record names a token.
fn tid(token: &str) -> String {
    hex::encode(&sha2::Sha256::digest(token.as_bytes())[..6])
}

/// The issuer's record events for the token named `id`.
fn record_events(id: &str) -> Vec<String> {
    let text = std::fs::read_to_string(var("RK_OAUTH_RECORD")).unwrap();
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["token"] == id)
        .map(|e| e["event"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// The profile for the oauth2 role with `mech` only, STARTTLS verified, no password.
fn profile(mech: &str, timeout_secs: f64) -> Profile {
    Profile::from_json_value(&json!({
        "server": var("RK_HOST"), "port": servers_env::port("RK_OAUTH_PORT"), "timeout_secs": timeout_secs,
        "requires_authentication": true, "username": var("RK_OAUTH_USER"),
        "auth_mechanisms": [mech],
        "encrypted_connection": true, "tls_mode": "starttls", "tls_ca_file": var("RK_CA_FILE"),
    }))
    .unwrap()
}

/// What the provider of a test saw and gave.
#[derive(Default)]
struct Seen {
    calls: Vec<TokenReason>,
    tokens: Vec<String>,
}

/// A provider like a host's: it keeps its token and hands it out for every new connection; on
/// `Refresh` (the server rejected it) it gets a fresh one from the issuer. `first` seeds it.
fn caching_provider(first: Option<String>, seen: Arc<Mutex<Seen>>) -> SharedTokenProvider {
    let cached = Arc::new(tokio::sync::Mutex::new(first));
    token_provider_fn(move |req: TokenRequest| {
        let cached = cached.clone();
        let seen = seen.clone();
        async move {
            assert_eq!(req.username, var("RK_OAUTH_USER"));
            let mut c = cached.lock().await;
            if req.reason == TokenReason::Refresh || c.is_none() {
                *c = Some(issue().await);
            }
            let t = c.clone().unwrap();
            let mut s = seen.lock().unwrap();
            s.calls.push(req.reason);
            s.tokens.push(t.clone());
            Ok::<_, String>(SecretString::new(t))
        }
    })
}

fn collect() -> (TraceSink, Arc<Mutex<Vec<TraceEvent>>>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let e = events.clone();
    (TraceSink::new(move |ev| e.lock().unwrap().push(ev)), events)
}

fn oauth_maildir() -> std::path::PathBuf {
    Path::new(var("RK_OAUTH_MAIL_DIR")).join("relaykit.test").join("carol")
}

fn message(mid: &str) -> Message {
    let mut m = Message::new(var("RK_OAUTH_USER"));
    m.to = vec![var("RK_RCPT").to_owned()];
    m.subject = Some(format!("relaykit oauth {mid}"));
    m.text = Some("sent with a token from a token provider\n".to_owned());
    m.message_id = Some(mid.to_owned());
    m
}

/// No token, in any form the wire carries it, appears in `texts`.
fn assert_no_token(tokens: &[String], texts: &[String]) {
    assert!(!tokens.is_empty());
    for t in tokens {
        let forms = [t.clone(), base64_std(t.as_bytes())];
        for text in texts {
            for f in &forms {
                assert!(!text.contains(f.as_str()), "a token appears in: {text}");
            }
        }
    }
}

fn base64_std(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// A mailer run where the provider's token is revoked after the first connection: the next
/// connection's AUTH is rejected, the provider is asked once with `Refresh`, and every message
/// arrives.
async fn mailer_refreshes(mech: &str) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let (sink, events) = collect();
    let options = MailerOptions {
        max_connections: 1,
        max_messages_per_connection: 2,
        token_provider: Some(caching_provider(None, seen.clone())),
        trace: Some(sink),
        ..MailerOptions::default()
    };
    let m = Mailer::new(&profile(mech, 10.0), &Keyring::new(), &RrtContext::new(), options).unwrap();
    let tag = run_tag();
    let since = before_now();
    let prefix = format!("<oauth.{mech}.{tag}.");
    let mids: Vec<String> = (0..6).map(|i| format!("{prefix}{i}@relaykit.test>")).collect();
    for mid in &mids[..2] {
        m.send(&message(mid)).await.unwrap();
    }
    let first = seen.lock().unwrap().tokens[0].clone();
    revoke(&first).await; // the token "expires" now
    for mid in &mids[2..] {
        let r = m.send(&message(mid)).await.unwrap();
        assert_eq!(r.accepted, [var("RK_RCPT")]);
    }
    let stats = m.stats();
    m.close().await;
    let got = servers_env::wait_delivered(&oauth_maildir(), &prefix, 6, since, Duration::from_secs(60));
    for mid in &mids {
        assert_eq!(got.counts.get(mid), Some(&1), "{mid} not delivered exactly once: {:?}", got.counts);
    }
    let s = seen.lock().unwrap();
    // three connections (2 messages each): three initial asks, one refresh after the revocation
    assert_eq!(stats.connections_opened, 3, "{stats:?}");
    assert_eq!(
        s.calls,
        [TokenReason::Initial, TokenReason::Initial, TokenReason::Refresh, TokenReason::Initial],
        "provider calls"
    );
    assert_eq!(s.tokens[0], s.tokens[1], "the cached token is given to the second connection");
    assert_ne!(s.tokens[2], s.tokens[0], "the refresh gives a new token");
    assert_eq!(s.tokens[3], s.tokens[2]);
    // The server judged the revoked token (introspected it) and the new one was issued once.
    let old = record_events(&tid(&first));
    assert!(old.contains(&"revoked".to_owned()) && old.iter().filter(|e| *e == "introspect").count() >= 2, "{old:?}");
    assert_eq!(record_events(&tid(&s.tokens[2])).iter().filter(|e| *e == "issued").count(), 1);
    let trace: Vec<String> = events.lock().unwrap().iter().map(ToString::to_string).collect();
    assert!(trace.iter().any(|l| l.contains(&format!("AUTH {mech} <redacted>"))), "{trace:?}");
    // One rejection (of the revoked token, on the second connection), then that connection's
    // second AUTH succeeds. (The trace's connection number is the pool task's, which reopens its
    // connection after max_messages_per_connection: it does not tell connections apart.)
    let verdicts: Vec<&str> = trace
        .iter()
        .filter_map(|l| l.split_once("S: ").map(|x| x.1))
        .filter(|t| t.starts_with("535") || t.starts_with("235"))
        .collect();
    assert_eq!(verdicts.iter().map(|t| &t[..3]).collect::<Vec<_>>(), ["235", "535", "235", "235"], "{trace:?}");
    assert_no_token(&s.tokens, &trace);
}

#[tokio::test]
async fn oauthbearer_mailer_refreshes_a_revoked_token() {
    mailer_refreshes("OAUTHBEARER").await;
}

#[tokio::test]
async fn xoauth2_mailer_refreshes_a_revoked_token() {
    mailer_refreshes("XOAUTH2").await;
}

/// Send and Test with a token that is already dead: one rejection, one refresh, success; the
/// report shows both attempts.
#[tokio::test]
async fn send_and_test_refresh_a_dead_token() {
    for mech in ["OAUTHBEARER", "XOAUTH2"] {
        let dead = issue().await;
        revoke(&dead).await;
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (sink, events) = collect();
        let options = TestOptions {
            token_provider: Some(caching_provider(Some(dead.clone()), seen.clone())),
            trace: Some(sink),
            ..TestOptions::default()
        };
        let report =
            relaykit::test_async(&profile(mech, 10.0), &Keyring::new(), &RrtContext::new(), &options).await.unwrap();
        assert!(report.ok, "{mech}: {:?}", report.error);
        let auth = report.auth.as_ref().unwrap();
        assert_eq!(auth.mechanism.as_deref(), Some(mech));
        let codes: Vec<_> = auth.attempts.iter().map(|a| (a.mechanism.as_str(), a.ok, a.code)).collect();
        assert_eq!(codes, [(mech, false, Some(535)), (mech, true, Some(235))], "{mech}");
        assert_eq!(seen.lock().unwrap().calls, [TokenReason::Initial, TokenReason::Refresh]);

        let tag = run_tag();
        let since = before_now();
        let mid = format!("<oauth.send.{mech}.{tag}@relaykit.test>");
        let last = seen.lock().unwrap().tokens.last().unwrap().clone();
        revoke(&last).await;
        let so = SendOptions { token_provider: options.token_provider.clone(), ..SendOptions::default() };
        let r = relaykit::send_async(&profile(mech, 10.0), &Keyring::new(), &RrtContext::new(), &message(&mid), &so)
            .await
            .unwrap();
        assert_eq!(r.accepted, [var("RK_RCPT")]);
        servers_env::wait_delivered(&oauth_maildir(), &mid, 1, since, Duration::from_secs(60));
        let s = seen.lock().unwrap();
        assert_eq!(s.calls.len(), 4, "send: initial (revoked) + refresh");
        let mut texts: Vec<String> = events.lock().unwrap().iter().map(ToString::to_string).collect();
        texts.push(format!("{report:?}"));
        texts.push(serde_json::to_string(&report).unwrap());
        texts.push(format!("{r:?}"));
        texts.push(format!("{options:?}"));
        assert_no_token(&s.tokens, &texts);
    }
}

/// A token the server keeps rejecting: AUTH is tried twice (initial, refresh), then the error is
/// the server's 535, naming no token.
#[tokio::test]
async fn a_token_rejected_twice_is_the_auth_error() {
    let calls = Arc::new(AtomicUsize::new(0));
    let dead = issue().await;
    revoke(&dead).await;
    let (c, d) = (calls.clone(), dead.clone());
    let provider = token_provider_fn(move |_| {
        c.fetch_add(1, Ordering::SeqCst);
        let d = d.clone();
        async move { Ok::<_, String>(SecretString::new(d)) }
    });
    let so = SendOptions { token_provider: Some(provider), ..SendOptions::default() };
    let e = relaykit::send_async(
        &profile("OAUTHBEARER", 10.0),
        &Keyring::new(),
        &RrtContext::new(),
        &message(&format!("<oauth.twice.{}@relaykit.test>", run_tag())),
        &so,
    )
    .await
    .unwrap_err();
    assert_eq!((e.kind(), e.stage(), e.code()), (ErrorKind::AuthFailed, Some(Stage::Auth), Some(535)), "{e}");
    assert!(e.message().contains("invalid_token"), "the server's JSON error is in the message: {e}");
    assert!(e.hint().is_some_and(|h| h.contains("rejected the OAuth2 access token")), "{:?}", e.hint());
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_no_token(&[dead], &[e.to_string(), format!("{e:?}")]);
}

/// A provider that fails, or never answers: a clear auth error naming the token provider, within
/// the profile's timeout, and nothing is sent to the server as a token.
#[tokio::test]
async fn a_failing_or_hanging_provider_is_a_clear_error() {
    let failing =
        token_provider_fn(|_| async { Err::<SecretString, _>("the issuer answered 503 (temporarily unavailable)") });
    let start = Instant::now();
    let options = TestOptions { token_provider: Some(failing), ..TestOptions::default() };
    let report =
        relaykit::test_async(&profile("XOAUTH2", 5.0), &Keyring::new(), &RrtContext::new(), &options).await.unwrap();
    assert!(start.elapsed() < Duration::from_secs(5), "{:?}", start.elapsed());
    let e = report.error.unwrap();
    assert_eq!((e.kind(), e.stage()), (ErrorKind::AuthFailed, Some(Stage::Auth)));
    assert!(e.message().contains("token provider failed to give a token: the issuer answered 503"), "{}", e.message());
    assert!(e.hint().is_some_and(|h| h.contains("token provider")), "{:?}", e.hint());
    assert!(report.auth.unwrap().attempts.is_empty(), "no AUTH was sent without a token");

    let hanging = token_provider_fn(|_| std::future::pending::<Result<SecretString, String>>());
    let start = Instant::now();
    let so = SendOptions { token_provider: Some(hanging), ..SendOptions::default() };
    let e = relaykit::send_async(
        &profile("OAUTHBEARER", 2.0),
        &Keyring::new(),
        &RrtContext::new(),
        &message(&format!("<oauth.hang.{}@relaykit.test>", run_tag())),
        &so,
    )
    .await
    .unwrap_err();
    let took = start.elapsed();
    assert!(took >= Duration::from_secs(2) && took < Duration::from_secs(8), "{took:?}");
    assert!(e.message().contains("token provider failed") && e.message().contains("no token within 2"), "{e}");
}

/// Without a password and without a provider the profile is still refused (the password is
/// optional only when a provider gives the tokens); a static token as the password still works.
#[tokio::test]
async fn static_token_still_works_and_password_needs_a_provider() {
    let p = profile("OAUTHBEARER", 10.0);
    let e = relaykit::test_async(&p, &Keyring::new(), &RrtContext::new(), &TestOptions::default()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(e.message().contains("$.password"), "{e}");
    let token = issue().await;
    for mech in ["OAUTHBEARER", "XOAUTH2"] {
        let mut p = profile(mech, 10.0);
        p.set_password(token.clone());
        let (sink, events) = collect();
        let options = TestOptions { trace: Some(sink), ..TestOptions::default() };
        let r = relaykit::test_async(&p, &Keyring::new(), &RrtContext::new(), &options).await.unwrap();
        assert!(r.ok, "{mech}: {:?}", r.error);
        let trace: Vec<String> = events.lock().unwrap().iter().map(ToString::to_string).collect();
        assert_no_token(std::slice::from_ref(&token), &trace);
    }
}

/// A provider given to a call whose profile logs in with a password (no token mechanism in its
/// allow-list) is not used: the password login goes on as without it, as a C host's
/// process-wide callback needs.
#[tokio::test]
async fn a_password_profile_ignores_the_token_provider() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let provider = token_provider_fn(move |_req: TokenRequest| {
        counted.fetch_add(1, Ordering::SeqCst);
        async { Ok::<_, String>(SecretString::new("not-a-token-for-this-server")) }
    });
    let p = Profile::from_json_value(&json!({
        "server": var("RK_HOST"), "port": servers_env::port("RK_DOVECOT_PLAIN_PORT"), "starttls": "never",
        "timeout_secs": 10, "requires_authentication": true, "username": var("RK_USER"), "password": var("RK_PASS"),
        "auth_mechanisms": ["SCRAM-SHA-256", "PLAIN"], "allow_plaintext_password": true,
    }))
    .unwrap();
    let options = TestOptions { token_provider: Some(provider.clone()), ..TestOptions::default() };
    let r = relaykit::test_async(&p, &Keyring::new(), &RrtContext::new(), &options).await.unwrap();
    assert!(r.ok, "{:?}", r.error);
    assert_eq!(r.auth.as_ref().unwrap().mechanism.as_deref(), Some("SCRAM-SHA-256"));
    // Without a password, the same allow-list still needs one: the provider does not stand in.
    let mut no_password = p.clone();
    no_password.clear_password();
    let e = relaykit::test_async(&no_password, &Keyring::new(), &RrtContext::new(), &options).await.unwrap_err();
    assert!(e.message().starts_with("$.password"), "{e}");
    assert_eq!(calls.load(Ordering::SeqCst), 0, "the provider was asked for a password login");
}
