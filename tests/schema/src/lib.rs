//! The one list of sample values of the core's JSON forms, and the one inference of their
//! shape ([`Shape`]), from which the bindings generate their type declarations and fail when
//! the committed ones differ: `bindings-node/tests/dts.rs` (TypeScript, `dts-header.d.ts`) and
//! `bindings-python/tests/stubs.rs` (the annotations of `results.py` and `errors.py`).
//!
//! The samples are struct literals, so a field added to the core breaks the build until a
//! sample sets it; each form has samples with every optional part set and with none, so a key
//! the core leaves out or writes as `null` shows as such. Not published: it exists for those
//! two tests.

mod shape;

use relaykit::capture::{Capture, Transport};
use relaykit::message::{Attachment, Content, Dsn, DsnRecipient, Message, Notify, Prepared, Ret};
use relaykit::profile::{AuthOrder, Protocol, StarttlsPolicy, TlsChoice};
use relaykit::report::{AuthAttempt, AuthReport, Rejection, RelayCheck, ServerInfo, StageReport, TlsReport};
use relaykit::{
    Error, ErrorKind, Fate, MailerOptions, MailerStats, Profile, RateLimit, RelayCheckRequest, Reply, SendOptions,
    SendResult, Stage, TestOptions, TestReport,
};
use serde_json::Value;

pub use shape::{Field, Scalar, Shape};

/// The core's lists of names, each with the name of its type: a sample string that one of
/// them holds is typed by it ([`Scalar::Named`]).
pub fn lists() -> Vec<(&'static str, Vec<&'static str>)> {
    vec![
        ("ErrorKind", ErrorKind::ALL.iter().map(|k| k.as_str()).collect()),
        ("Stage", Stage::ALL.iter().map(|s| s.as_str()).collect()),
        ("TlsChoice", TlsChoice::NAMES.to_vec()),
        ("StarttlsPolicy", StarttlsPolicy::NAMES.to_vec()),
        ("AuthOrder", AuthOrder::NAMES.to_vec()),
        ("Fate", Fate::NAMES.to_vec()),
        ("Protocol", Protocol::NAMES.to_vec()),
    ]
}

fn json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).expect("a core type serializes")
}

fn full_error() -> Error {
    let reply = Reply { code: 535, enhanced_code: Some("5.7.8".into()), text: "bad credentials".into() };
    // `attempts` as a mailer's errors have it; a Test's have the same form without it.
    Error::new(ErrorKind::AuthFailed, "login refused")
        .with_stage(Stage::Auth)
        .with_reply(reply)
        .with_hint("check it")
        .with_attempts(1)
}

/// The §8 JSON of errors: one with every part, one with none.
pub fn errors() -> Vec<Value> {
    let lost = Error::new(ErrorKind::Protocol, "lost").with_stage(Stage::Data).with_unknown_fate();
    vec![full_error().to_json_value(), Error::config("$.port", "out of range").to_json_value(), lost.to_json_value()]
}

fn report(some: bool) -> TestReport {
    let attempt = |ok| AuthAttempt {
        mechanism: "PLAIN".into(),
        ok,
        code: some.then_some(235),
        message: some.then(|| "no".into()),
    };
    TestReport {
        ok: some,
        stages: vec![StageReport { stage: Stage::Auth, ok: true, ms: 1.5 }],
        server: Some(ServerInfo {
            banner: "mx ESMTP".into(),
            extensions: vec!["SIZE 100".into()],
            size_limit: some.then_some(100),
            auth_mechanisms: vec!["PLAIN".into()],
        }),
        tls: Some(TlsReport {
            version: "TLSv1.3".into(),
            cipher: "TLS13_AES_256_GCM_SHA384".into(),
            subject: "CN=mx".into(),
            issuer: "CN=ca".into(),
            not_after: "2036-11-28T00:00:00Z".into(),
            verified: some,
            verify_error: some.then(|| "expired".into()),
            resumed: false,
            client_certificate_sent: some,
        }),
        auth: Some(AuthReport {
            mechanism: some.then(|| "PLAIN".into()),
            attempts: vec![attempt(true), attempt(false)],
        }),
        relay: some.then(|| RelayCheck {
            from: "a@x.test".into(),
            to: "b@x.test".into(),
            ok: true,
            reply: "250 ok".into(),
        }),
        warnings: vec!["unverified".into()],
        error: Some(if some { full_error() } else { Error::config("$.port", "out of range") }),
    }
}

/// The §8 JSON of Test reports: every part set, none set, and the empty report.
pub fn test_reports() -> Vec<Value> {
    vec![json(&report(true)), json(&report(false)), json(&TestReport::default())]
}

fn send_result(some: bool) -> SendResult {
    let reply = |code| Reply { code, enhanced_code: some.then(|| "2.0.0".into()), text: "ok".into() };
    SendResult {
        accepted: vec!["a@x.test".into()],
        rejected: vec![Rejection { address: "b@x.test".into(), reply: reply(550) }],
        message_id: some.then(|| "<id@x.test>".into()),
        reply: reply(250),
        attempts: 1,
        // LMTP's per-recipient replies: present in one sample, left out (SMTP) in the other.
        deliveries: if some {
            let plain = Reply { code: 452, enhanced_code: None, text: "full".into() };
            vec![
                Rejection { address: "a@x.test".into(), reply: reply(250) },
                Rejection { address: "c@x.test".into(), reply: plain },
            ]
        } else {
            vec![]
        },
    }
}

/// The §8 JSON of Send results.
pub fn send_results() -> Vec<Value> {
    vec![json(&send_result(true)), json(&send_result(false))]
}

fn prepare(some: bool) -> Prepared {
    Prepared {
        envelope_from: "a@x.test".into(),
        recipients: vec!["b@x.test".into()],
        bytes: b"Subject: x\r\n\r\n".to_vec(),
        message_id: some.then(|| "<id@x.test>".into()),
        needs_smtputf8: some,
        eight_bit: some,
        // Not in the JSON form (serde skip): the sample shows that.
        dsn: some.then(dsn),
        requiretls: some,
    }
}

/// A DSN request with every key set.
fn dsn() -> Dsn {
    let mut d = Dsn {
        ret: Some(Ret::Hdrs),
        envid: Some("e".into()),
        notify: vec![Notify::Success, Notify::Failure],
        orcpt: true,
        ..Dsn::default()
    };
    d.recipients
        .insert("b@x.test".into(), DsnRecipient { notify: vec![Notify::Never], orcpt: Some("o@x.test".into()) });
    d
}

/// The JSON of prepared messages.
pub fn prepared() -> Vec<Value> {
    vec![prepare(true).to_json_value(), prepare(false).to_json_value()]
}

/// The saved profile's JSON (§1): every key set, and only the server.
pub fn profiles() -> Vec<Value> {
    let mut p = Profile::new("mx.x.test");
    p.id = Some("prod".into());
    p.port = Some(587);
    p.encrypted_connection = true;
    p.tls_mode = Some(TlsChoice::Starttls);
    p.starttls = Some(StarttlsPolicy::Never);
    p.username = Some("u".into());
    p.set_password("p");
    p.auth_mechanisms = Some(vec!["PLAIN".into()]);
    p.auth_order = AuthOrder::AsListed;
    p.tls_ca_file = Some("/ca.pem".into());
    p.tls_ca_pem = Some("PEM".into());
    p.helo_name = Some("client".into());
    p.tls_client_cert_file = Some("/client.crt".into());
    p.tls_client_cert_pem = Some("PEM".into());
    p.tls_client_key_file = Some("/client.key".into());
    p.set_tls_client_key("KEY");
    p.proxy = Some("socks5://u@proxy.x.test:1080".into());
    p.set_proxy_password("pp");
    p.protocol = Protocol::Lmtp;
    vec![p.to_json_value(), Profile::new("mx.x.test").to_json_value()]
}

/// The JSON of Test's options.
pub fn test_options() -> Vec<Value> {
    let full = TestOptions {
        relay_check: Some(RelayCheckRequest { from: "a@x.test".into(), to: "b@x.test".into() }),
        trace: None,
        ntlm_helper: Some(vec!["ntlm_auth".into()]),
        token_provider: None,
    };
    vec![json(&full), json(&TestOptions::default())]
}

/// The capture transport's directory form (#16).
fn capture_dir() -> Transport {
    Transport::Capture(Capture::Dir("/var/mail/capture".into()))
}

/// The JSON of Send's options.
pub fn send_options() -> Vec<Value> {
    vec![
        json(&SendOptions {
            ntlm_helper: Some(vec!["x".into()]),
            transport: Some(capture_dir()),
            ..SendOptions::default()
        }),
        json(&SendOptions { transport: Some(Transport::memory().0), ..SendOptions::default() }),
        json(&SendOptions::default()),
    ]
}

/// The JSON of a mailer's options: every key set, and the defaults.
pub fn mailer_options() -> Vec<Value> {
    let full = MailerOptions {
        ntlm_helper: Some(vec!["ntlm_auth".into()]),
        rate_limit: Some(RateLimit { messages: 10, per_secs: 1.0 }),
        transport: Some(capture_dir()),
        ..MailerOptions::default()
    };
    let memory = MailerOptions { transport: Some(Transport::memory().0), ..MailerOptions::default() };
    vec![json(&full), json(&memory), json(&MailerOptions::default())]
}

/// The JSON of a mailer's counters (every key is always there).
pub fn mailer_stats() -> Vec<Value> {
    let s = MailerStats {
        sent: 3,
        failed: 1,
        retried: 2,
        reconnects: 1,
        connections_opened: 2,
        open_connections: 1,
        queued: 0,
    };
    vec![json(&s)]
}

/// The JSON of a message with every key set, and of its attachments: one of bytes, one of a
/// path.
pub fn message() -> (Value, Vec<Value>) {
    let mut m = Message::new("a@x.test");
    m.to = vec!["b@x.test".into()];
    (m.cc, m.bcc, m.reply_to) = (m.to.clone(), m.to.clone(), m.to.clone());
    (m.subject, m.text, m.html) = (Some("s".into()), Some("t".into()), Some("h".into()));
    m.headers = vec![("X-A".into(), "1".into())];
    (m.message_id, m.envelope_from, m.raw) = (Some("<i@x>".into()), Some("e@x".into()), Some(b"r".to_vec()));
    let bytes = Attachment {
        filename: Some("f".into()),
        content_type: Some("t/p".into()),
        content_id: Some("c".into()),
        content: Content::Bytes(vec![1]),
    };
    let path = Attachment { content: Content::Path("/f".into()), ..bytes.clone() };
    (m.attachments, m.inline) = (vec![bytes.clone()], vec![path.clone()]);
    (m.dsn, m.requiretls) = (Some(dsn()), true);
    (m.list_unsubscribe, m.list_unsubscribe_post) = (vec!["https://x.test/u".into()], true);
    (m.to_json_value(), vec![json(&bytes), json(&path)])
}
