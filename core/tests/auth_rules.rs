//! The authentication rules of spec §4, end to end through `relaykit::test`: which failures move
//! on to the next mechanism and which end authentication.
//!
//! - Against the `badscram` role of `tests/servers/` (a real SCRAM-SHA-256 exchange whose server
//!   signature is wrong, beside CRAM-MD5, PLAIN and LOGIN that would accept the password): the
//!   server's own record proves that no second AUTH was sent.
//! - Against a scripted fake server on 127.0.0.1:0, for replies no real server here can be made
//!   to give on demand: a mechanism advertised but refused (504, 534, 538, 454), and a SCRAM
//!   server that says 235 without (or with a wrong) signature. The fake writes one reply per
//!   line it reads and logs every line, so a test sees exactly what the client sent.
//!
//! A wrong password (535) is covered on the real Dovecot, Cyrus and aiosmtpd servers by the
//! conformance cases. Every wait is bounded; the one poll (of the badscram record) too.
#![allow(clippy::unwrap_used, clippy::missing_panics_doc)] // a failed unwrap is a failed test

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use relaykit::report::TestReport;
use relaykit::{ErrorKind, Keyring, Profile, RrtContext, Stage, TestOptions};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

const WAIT: Duration = Duration::from_secs(10);

/// `(mechanism, ok, code)` of each attempt in the report.
fn attempts(report: &TestReport) -> Vec<(String, bool, Option<u16>)> {
    report.auth.as_ref().unwrap().attempts.iter().map(|a| (a.mechanism.clone(), a.ok, a.code)).collect()
}

fn attempt(mech: &str, ok: bool, code: Option<u16>) -> (String, bool, Option<u16>) {
    (mech.to_owned(), ok, code)
}

fn run(profile: &Value) -> TestReport {
    let profile = Profile::from_json_value(profile).unwrap();
    relaykit::test(&profile, &Keyring::new(), &RrtContext::new(), &TestOptions::default()).unwrap()
}

// ---- the badscram role ------------------------------------------------------------------

/// A variable from the environment, else from `$RELAYKIT_STATE/servers.env`.
fn var(k: &str) -> String {
    if let Ok(v) = std::env::var(k) {
        return v;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let state = std::env::var("RELAYKIT_STATE").map_or_else(|_| root.join("tests/.state"), PathBuf::from);
    let file = state.join("servers.env");
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| {
        panic!("{}: {e}; start the test servers first: bash tests/servers/start.sh", file.display())
    });
    let vars: HashMap<&str, &str> =
        text.lines().filter(|l| !l.starts_with('#')).filter_map(|l| l.split_once('=')).collect();
    let Some(v) = vars.get(k) else {
        panic!("{k} is not set: start the `badscram` role (RK_ROLES) with tests/servers/start.sh")
    };
    (*v).to_owned()
}

/// What the badscram server recorded for the connections that said `EHLO helo`.
fn recorded(helo: &str) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(var("RK_BADSCRAM_RECORD")).unwrap();
    text.lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r["helo"] == helo)
        .map(|r| (r["event"].as_str().unwrap().to_owned(), r["mechanism"].as_str().unwrap().to_owned()))
        .collect()
}

#[test]
fn a_wrong_scram_signature_ends_authentication_and_no_other_auth_is_sent() {
    // Our own EHLO name picks our connection out of the server's record.
    let helo =
        format!("auth-rules-{}-{}.test", std::process::id(), std::time::UNIX_EPOCH.elapsed().unwrap().as_nanos());
    let report = run(&json!({
        "server": var("RK_HOST"), "port": var("RK_BADSCRAM_PORT").parse::<u16>().unwrap(), "starttls": "never",
        "timeout_secs": 10, "requires_authentication": true, "username": var("RK_USER"), "password": var("RK_PASS"),
        // PLAIN would be allowed: the point is that it is not tried.
        "allow_plaintext_password": true, "helo_name": helo,
    }));
    assert!(!report.ok);
    let e = report.error.as_ref().unwrap();
    assert_eq!((e.kind(), e.stage(), e.code()), (ErrorKind::AuthFailed, Some(Stage::Auth), None), "{e:?}");
    assert!(e.message().contains("could not prove it knows the password"), "{e:?}");
    assert!(e.message().contains("signature is wrong"), "{e:?}");
    assert!(e.hint().is_some_and(|h| h.contains("intercepting")), "{e:?}");
    assert_eq!(attempts(&report), [attempt("SCRAM-SHA-256", false, None)]);
    let auth_commands: Vec<String> =
        recorded(&helo).into_iter().filter(|(event, _)| event == "auth-command").map(|(_, m)| m).collect();
    assert_eq!(auth_commands, ["SCRAM-SHA-256"], "the server saw another AUTH after the bad signature");
    // aiosmtpd answers the `*` before the role records the cancel, so the client may have read
    // that answer and closed before the line is written: wait for it, bounded.
    let want = ["auth-command", "scram-wrong-signature-sent", "scram-client-cancelled"];
    let deadline = std::time::Instant::now() + WAIT;
    let events = loop {
        let events: Vec<String> = recorded(&helo).into_iter().map(|(event, _)| event).collect();
        if events.len() >= want.len() || std::time::Instant::now() > deadline {
            break events;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(events, want);
}

// ---- the scripted fake server -----------------------------------------------------------

/// A one-connection server: greets, then answers each line with `answer(line)` (an empty answer
/// sends nothing) until QUIT or end of input. Returns its port and the lines it read.
async fn fake(mut answer: impl FnMut(&str) -> String + Send + 'static) -> (u16, JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let (tcp, _) = tokio::time::timeout(WAIT, listener.accept()).await.unwrap().unwrap();
        let mut rd = BufReader::new(tcp);
        rd.get_mut().write_all(b"220 fake ESMTP\r\n").await.unwrap();
        let mut log = Vec::new();
        loop {
            let mut line = String::new();
            if tokio::time::timeout(WAIT, rd.read_line(&mut line)).await.unwrap().unwrap() == 0 {
                break;
            }
            let line = line.trim_end().to_owned();
            let reply = answer(&line);
            rd.get_mut().write_all(reply.as_bytes()).await.unwrap();
            let quit = line.eq_ignore_ascii_case("QUIT");
            log.push(line);
            if quit {
                break;
            }
        }
        log
    });
    (port, task)
}

/// Runs a Test against the fake (plain text, PLAIN allowed) and returns the report and the
/// lines the fake read.
async fn against_fake(answer: impl FnMut(&str) -> String + Send + 'static) -> (TestReport, Vec<String>) {
    let (port, server) = fake(answer).await;
    let profile = Profile::from_json_value(&json!({
        "server": "127.0.0.1", "port": port, "starttls": "never", "timeout_secs": 5,
        "requires_authentication": true, "username": "u", "password": "p", "allow_plaintext_password": true,
    }))
    .unwrap();
    let (keyring, ctx, options) = (Keyring::new(), RrtContext::new(), TestOptions::default());
    let report =
        tokio::time::timeout(WAIT, relaykit::test_async(&profile, &keyring, &ctx, &options)).await.unwrap().unwrap();
    let log = tokio::time::timeout(WAIT, server).await.unwrap().unwrap();
    (report, log)
}

/// The AUTH lines the fake read, by mechanism.
fn auth_lines(log: &[String]) -> Vec<&str> {
    log.iter().filter_map(|l| l.strip_prefix("AUTH ")).map(|l| l.split(' ').next().unwrap()).collect()
}

/// Fake: a server that advertises CRAM-MD5 but refuses it without judging the credentials —
/// a misconfiguration no real server here can be made to show on demand — gets PLAIN next,
/// and both attempts are in the report, in order.
#[tokio::test]
async fn a_mechanism_refused_without_a_verdict_moves_on_to_the_next() {
    for refusal in [
        "504 5.5.4 CRAM-MD5 is not available",
        "534 5.7.9 Authentication mechanism is too weak",
        "538 5.7.11 Encryption required for requested authentication mechanism",
        "454 4.7.0 Temporary authentication failure",
    ] {
        let code: u16 = refusal[..3].parse().unwrap();
        let (report, log) = against_fake(move |line| match line {
            l if l.starts_with("EHLO") => "250-fake\r\n250 AUTH CRAM-MD5 PLAIN\r\n".to_owned(),
            "AUTH CRAM-MD5" => format!("{refusal}\r\n"),
            l if l.starts_with("AUTH PLAIN ") => "235 2.7.0 Authentication successful\r\n".to_owned(),
            "QUIT" => "221 2.0.0 Bye\r\n".to_owned(),
            _ => "500 5.5.1 unexpected\r\n".to_owned(),
        })
        .await;
        assert!(report.ok, "{refusal}: {:?}", report.error);
        assert_eq!(report.auth.as_ref().unwrap().mechanism.as_deref(), Some("PLAIN"));
        assert_eq!(attempts(&report), [attempt("CRAM-MD5", false, Some(code)), attempt("PLAIN", true, Some(235))]);
        assert_eq!(auth_lines(&log), ["CRAM-MD5", "PLAIN"], "{refusal}");
    }
}

/// A SCRAM-SHA-256 fake that answers the client-first message with a server-first message and
/// the client-final one with `final_reply` (the fault: a 235 with no valid proof).
fn scram_fake(final_reply: String) -> impl FnMut(&str) -> String + Send + 'static {
    move |line| {
        if line.starts_with("EHLO") {
            return "250-fake\r\n250 AUTH SCRAM-SHA-256 CRAM-MD5 PLAIN\r\n".to_owned();
        }
        if let Some(first) = line.strip_prefix("AUTH SCRAM-SHA-256 ") {
            let first = String::from_utf8(B64.decode(first).unwrap()).unwrap();
            let nonce = first.split(",r=").nth(1).unwrap();
            return format!("334 {}\r\n", B64.encode(format!("r={nonce}fake,s=c2FsdA==,i=4096")));
        }
        match line {
            "QUIT" => "221 2.0.0 Bye\r\n".to_owned(),
            l if l.starts_with("AUTH ") => "235 2.7.0 should never be reached\r\n".to_owned(),
            "*" => "501 5.7.0 cancelled\r\n".to_owned(),
            _ => final_reply.clone(), // the client-final message
        }
    }
}

/// Fake: no real server can be made to skip or botch its SCRAM signature. A 235 without it, or
/// with a wrong one in the 235's text (RFC 4954 "additional data with success"), ends
/// authentication: CRAM-MD5 and PLAIN are offered and never tried.
#[tokio::test]
async fn a_scram_success_without_a_valid_signature_ends_authentication() {
    let wrong_in_235 = format!("235 {}\r\n", B64.encode("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G8="));
    for (final_reply, why) in [
        ("235 2.7.0 Authentication successful\r\n".to_owned(), "without a verified SCRAM server signature"),
        (wrong_in_235, "signature is wrong"),
    ] {
        let (report, log) = against_fake(scram_fake(final_reply)).await;
        assert!(!report.ok);
        let e = report.error.as_ref().unwrap();
        assert_eq!((e.kind(), e.stage()), (ErrorKind::AuthFailed, Some(Stage::Auth)), "{e:?}");
        assert!(e.message().contains("could not prove it knows the password"), "{e:?}");
        assert!(e.message().contains(why), "{e:?}");
        assert_eq!(attempts(&report), [attempt("SCRAM-SHA-256", false, None)]);
        // EHLO, AUTH SCRAM-SHA-256, the client-final message, and then nothing: no other AUTH.
        assert_eq!(auth_lines(&log), ["SCRAM-SHA-256"], "{log:?}");
        assert_eq!(log.len(), 3, "{log:?}");
    }
}

/// Fake: a server whose replies repeat what the client sent (no real server here echoes
/// credentials on demand). The password, the PLAIN and LOGIN payloads and their base64 must not
/// reach the error, the report's JSON or the trace.
#[tokio::test]
async fn credentials_a_server_echoes_are_scrubbed_from_errors_reports_and_traces() {
    const PW: &str = "Echo-me-not 7xq";
    for mech in ["PLAIN", "LOGIN"] {
        let (port, server) = fake(move |line| {
            if line.starts_with("EHLO") {
                return "250-fake\r\n250 AUTH PLAIN LOGIN\r\n".to_owned();
            }
            if line == "QUIT" {
                return "221 bye\r\n".to_owned();
            }
            if line == "AUTH LOGIN" {
                return "334 VXNlcm5hbWU6\r\n".to_owned();
            }
            if let Some(payload) = line.strip_prefix("AUTH PLAIN ") {
                return format!("535-5.7.8 you sent {payload}\r\n535 5.7.8 which says {PW:?}\r\n");
            }
            if B64.decode(line).is_ok_and(|b| b == b"echo-user") {
                return "334 UGFzc3dvcmQ6\r\n".to_owned();
            }
            // LOGIN's password line, repeated in base64 and decoded.
            format!("535 5.7.8 {line} = {PW}\r\n")
        })
        .await;
        let profile = Profile::from_json_value(&json!({
            "server": "127.0.0.1", "port": port, "starttls": "never", "timeout_secs": 5,
            "requires_authentication": true, "username": "echo-user", "password": PW,
            "allow_plaintext_password": true, "auth_mechanisms": [mech],
        }))
        .unwrap();
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let sink = lines.clone();
        let options = TestOptions {
            trace: Some(relaykit::session::TraceSink::new(move |e| sink.lock().unwrap().push(e.to_string()))),
            ..TestOptions::default()
        };
        let report =
            tokio::time::timeout(WAIT, relaykit::test_async(&profile, &Keyring::new(), &RrtContext::new(), &options))
                .await
                .unwrap()
                .unwrap();
        let log = tokio::time::timeout(WAIT, server).await.unwrap().unwrap();
        let e = report.error.as_ref().unwrap();
        assert_eq!((e.kind(), e.code()), (ErrorKind::AuthFailed, Some(535)), "{mech}: {e:?}");
        // What the client really sent, to be sure the fake echoed it.
        let sent: Vec<&String> =
            log.iter().filter(|l| !l.starts_with("EHLO") && !matches!(l.as_str(), "QUIT" | "AUTH LOGIN")).collect();
        let mut everything = serde_json::to_string(&report).unwrap();
        everything.push_str(&e.message());
        everything.push_str(&lines.lock().unwrap().join("\n"));
        let pw64 = B64.encode(PW);
        let plain64 = B64.encode(format!("\0echo-user\0{PW}"));
        for secret in [PW, &pw64, pw64.trim_end_matches('='), &plain64, plain64.trim_end_matches('=')] {
            assert!(!everything.contains(secret), "{mech}: {secret:?} leaked in {everything}");
        }
        for line in sent {
            let cred = line.strip_prefix("AUTH PLAIN ").unwrap_or(line).trim_end_matches('=');
            if cred.len() > 8 {
                assert!(!everything.contains(cred), "{mech}: {cred:?} leaked in {everything}");
            }
        }
        assert!(everything.contains("<redacted>"), "{mech}: the echo was not there at all: {everything}");
    }
}

/// Fake: a server that repeats the OAuth bearer token a token provider gave, in its 334 JSON
/// error challenge and in its 535 (no real server echoes credentials on demand). Neither token
/// (the first, nor the one asked for on refresh), nor the base64 of the SASL message, may reach
/// the error, the report's JSON, its Debug, or the trace; the provider is asked twice.
#[tokio::test]
async fn bearer_tokens_a_server_echoes_are_scrubbed_from_errors_reports_and_traces() {
    for mech in ["OAUTHBEARER", "XOAUTH2"] {
        // (A challenge that repeats the token is not made here: the session scrubs the token's
        // base64 from every server line, so such a challenge no longer decodes and ends the
        // exchange as a protocol error, safely; the 535 text is where an echo can be checked.)
        let last = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (port, server) = fake(move |line| {
            if line.starts_with("EHLO") {
                return "250-fake\r\n250 AUTH OAUTHBEARER XOAUTH2\r\n".to_owned();
            }
            if line == "QUIT" {
                return "221 bye\r\n".to_owned();
            }
            if let Some(payload) = line.split(' ').nth(2).filter(|_| line.starts_with("AUTH ")) {
                *last.lock().unwrap() = payload.to_owned();
                return format!("334 {}\r\n", B64.encode(r#"{"status":"invalid_token","schemes":"bearer"}"#));
            }
            // The client's answer to the error challenge (^A or an empty line), then the verdict
            // repeating the SASL message, decoded and in base64.
            let payload = last.lock().unwrap().clone();
            let sasl = String::from_utf8_lossy(&B64.decode(&payload).unwrap_or_default()).replace('\x01', " ");
            format!("535-5.7.8 rejected {sasl}\r\n535 5.7.8 you sent {payload} then {line:?}\r\n")
        })
        .await;
        let profile = Profile::from_json_value(&json!({
            "server": "127.0.0.1", "port": port, "starttls": "never", "timeout_secs": 5,
            "requires_authentication": true, "username": "echo-user", "allow_plaintext_password": true,
            "auth_mechanisms": [mech],
        }))
        .unwrap();
        let given = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let g = given.clone();
        let provider = relaykit::token::token_provider_fn(move |req: relaykit::token::TokenRequest| {
            let token = format!("ya29.Echo-Token-{}-{}", req.reason.as_str(), g.lock().unwrap().len());
            g.lock().unwrap().push(token.clone());
            async move { Ok::<_, String>(relaykit::SecretString::new(token)) }
        });
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let sink = lines.clone();
        let options = TestOptions {
            trace: Some(relaykit::session::TraceSink::new(move |e| sink.lock().unwrap().push(e.to_string()))),
            token_provider: Some(provider),
            ..TestOptions::default()
        };
        let report =
            tokio::time::timeout(WAIT, relaykit::test_async(&profile, &Keyring::new(), &RrtContext::new(), &options))
                .await
                .unwrap()
                .unwrap();
        let log = tokio::time::timeout(WAIT, server).await.unwrap().unwrap();
        let e = report.error.as_ref().unwrap();
        assert_eq!((e.kind(), e.code()), (ErrorKind::AuthFailed, Some(535)), "{mech}: {e:?}");
        assert_eq!(auth_lines(&log), [mech, mech], "{mech}: AUTH once more after the refresh: {log:?}");
        let tokens = given.lock().unwrap().clone();
        assert_eq!(tokens.len(), 2, "{mech}: initial and refresh");
        let mut everything = serde_json::to_string(&report).unwrap();
        everything.push_str(&e.message());
        everything.extend([format!("{report:?}"), format!("{e:?}"), format!("{options:?}")]);
        everything.push_str(&lines.lock().unwrap().join("\n"));
        let sent: Vec<String> = log
            .iter()
            .filter_map(|l| l.split(' ').nth(2).filter(|_| l.starts_with("AUTH ")))
            .map(|p| p.trim_end_matches('=').to_owned())
            .collect();
        assert_eq!(sent.len(), 2);
        for secret in tokens.iter().chain(&sent) {
            assert!(!everything.contains(secret.as_str()), "{mech}: {secret:?} leaked in {everything}");
        }
        assert!(everything.contains("invalid_token"), "{mech}: the server's error is kept: {everything}");
    }
}

/// Fake: a server that closes the connection with its rejection of a bearer token (the 535,
/// then EOF), as some providers' servers may; on its second connection it accepts the token
/// (no real server here closes after a 535). The token provider is asked twice (initial,
/// refresh), the fresh token logs in on a new connection, and the Test passes; the provider is
/// not asked a third time.
#[tokio::test]
async fn a_server_that_closes_after_rejecting_the_token_gets_the_fresh_one_on_a_new_connection() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let mut logs: Vec<Vec<String>> = Vec::new();
        for conn in 0..2 {
            let (tcp, _) = tokio::time::timeout(WAIT, listener.accept()).await.unwrap().unwrap();
            let mut rd = BufReader::new(tcp);
            rd.get_mut().write_all(b"220 fake ESMTP\r\n").await.unwrap();
            let mut log = Vec::new();
            loop {
                let mut line = String::new();
                if tokio::time::timeout(WAIT, rd.read_line(&mut line)).await.unwrap().unwrap() == 0 {
                    break;
                }
                let line = line.trim_end().to_owned();
                log.push(line.clone());
                let reply = if line.starts_with("EHLO") {
                    "250-fake\r\n250 AUTH OAUTHBEARER\r\n".to_owned()
                } else if line.starts_with("AUTH ") && conn == 0 {
                    format!("334 {}\r\n", B64.encode(r#"{"status":"invalid_token"}"#))
                } else if line.starts_with("AUTH ") {
                    "235 2.7.0 ok\r\n".to_owned()
                } else if line == "QUIT" {
                    "221 bye\r\n".to_owned()
                } else {
                    // The ^A after the error challenge: reject, and hang up.
                    rd.get_mut().write_all(b"535 5.7.8 token expired\r\n").await.unwrap();
                    break;
                };
                rd.get_mut().write_all(reply.as_bytes()).await.unwrap();
                if line == "QUIT" {
                    break;
                }
            }
            logs.push(log);
        }
        logs
    });
    let reasons = std::sync::Arc::new(std::sync::Mutex::new(Vec::<&'static str>::new()));
    let r = reasons.clone();
    let provider = relaykit::token::token_provider_fn(move |req: relaykit::token::TokenRequest| {
        r.lock().unwrap().push(req.reason.as_str());
        let token = format!("tok-{}", req.reason.as_str());
        async move { Ok::<_, String>(relaykit::SecretString::new(token)) }
    });
    let profile = Profile::from_json_value(&json!({
        "server": "127.0.0.1", "port": port, "starttls": "never", "timeout_secs": 5,
        "requires_authentication": true, "username": "u", "allow_plaintext_password": true,
        "auth_mechanisms": ["OAUTHBEARER"],
    }))
    .unwrap();
    let options = TestOptions { token_provider: Some(provider), ..TestOptions::default() };
    let report =
        tokio::time::timeout(WAIT, relaykit::test_async(&profile, &Keyring::new(), &RrtContext::new(), &options))
            .await
            .unwrap()
            .unwrap();
    let logs = tokio::time::timeout(WAIT, server).await.unwrap().unwrap();
    assert!(report.ok, "{:?}", report.error);
    assert_eq!(*reasons.lock().unwrap(), ["initial", "refresh"]);
    // First connection: the first token, rejected with a hang-up (the retry there found it
    // closed); second connection: the fresh token, accepted.
    let tokens_sent = |log: &[String]| -> Vec<String> {
        log.iter()
            .filter_map(|l| l.strip_prefix("AUTH OAUTHBEARER "))
            .map(|b| String::from_utf8_lossy(&B64.decode(b).unwrap()).into_owned())
            .map(|m| m.split("auth=Bearer ").nth(1).unwrap_or_default().trim_end_matches('\x01').to_owned())
            .collect()
    };
    assert_eq!(tokens_sent(&logs[0]).first().map(String::as_str), Some("tok-initial"), "{logs:?}");
    assert_eq!(tokens_sent(&logs[1]), ["tok-refresh"], "{logs:?}");
    let attempts: Vec<_> = report.auth.as_ref().unwrap().attempts.iter().map(|a| (a.ok, a.code)).collect();
    assert_eq!(attempts.first(), Some(&(false, Some(535))), "{attempts:?}");
    assert_eq!(attempts.last(), Some(&(true, Some(235))), "{attempts:?}");
}

/// Fake: a SCRAM server asking for 1,000,000 iterations (no real server here is set up so).
/// The derivation runs off the runtime's I/O threads and stops at the stage timeout: two such
/// Tests in flight on a one-thread runtime do not hold up a third against a healthy server,
/// and each returns within its timeout (+1 s).
#[tokio::test(flavor = "current_thread")]
async fn a_costly_scram_derivation_neither_stalls_other_tests_nor_outlives_the_timeout() {
    let costly = || {
        fake(|line| {
            if line.starts_with("EHLO") {
                return "250-fake\r\n250 AUTH SCRAM-SHA-256\r\n".to_owned();
            }
            if let Some(first) = line.strip_prefix("AUTH SCRAM-SHA-256 ") {
                let first = String::from_utf8(B64.decode(first).unwrap()).unwrap();
                let nonce = first.split(",r=").nth(1).unwrap().to_owned();
                return format!("334 {}\r\n", B64.encode(format!("r={nonce}x,s=c2FsdHk=,i=1000000")));
            }
            if line == "QUIT" { "221 bye\r\n".to_owned() } else { String::new() }
        })
    };
    let profile = |port: u16, secs: u64| {
        Profile::from_json_value(&json!({
            "server": "127.0.0.1", "port": port, "starttls": "never", "timeout_secs": secs,
            "requires_authentication": true, "username": "u", "password": "a password",
        }))
        .unwrap()
    };
    let ((p1, s1), (p2, s2)) = (costly().await, costly().await);
    let (healthy, s3) = fake(|line| match line {
        l if l.starts_with("EHLO") => "250-fake\r\n250 AUTH PLAIN\r\n".to_owned(),
        l if l.starts_with("AUTH PLAIN ") => "235 ok\r\n".to_owned(),
        "QUIT" => "221 bye\r\n".to_owned(),
        _ => "500 what\r\n".to_owned(),
    })
    .await;
    let (keyring, ctx, options) = (Keyring::new(), RrtContext::new(), TestOptions::default());
    let (slow1, slow2) = (profile(p1, 2), profile(p2, 2));
    let mut fast = profile(healthy, 5);
    fast.allow_plaintext_password = true;
    let timed = |p: Profile| {
        let (keyring, ctx, options) = (keyring.clone(), ctx.clone(), options.clone());
        async move {
            let start = std::time::Instant::now();
            let r = relaykit::test_async(&p, &keyring, &ctx, &options).await.unwrap();
            (r, start.elapsed())
        }
    };
    let slow = async {
        let (first, second) = tokio::join!(timed(slow1), timed(slow2));
        [first, second]
    };
    let quick = async {
        // Let the two costly Tests reach their derivation first.
        tokio::task::yield_now().await;
        timed(fast).await
    };
    let (slow, (quick, quick_took)) =
        Box::pin(tokio::time::timeout(WAIT, async { tokio::join!(slow, quick) })).await.unwrap();
    assert!(quick.ok, "{:?}", quick.error);
    assert!(quick_took < Duration::from_secs(1), "the healthy Test waited {quick_took:?}");
    for (r, took) in slow {
        let e = r.error.as_ref().unwrap();
        assert_eq!((e.kind(), e.stage()), (ErrorKind::Timeout, Some(Stage::Auth)), "{e:?}");
        assert!(took < Duration::from_secs(3), "a costly Test took {took:?}");
    }
    for s in [s1, s2, s3] {
        tokio::time::timeout(WAIT, s).await.unwrap().unwrap();
    }
}
