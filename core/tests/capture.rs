//! The capture transport (#16): a send or a Mailer whose options say
//! `"transport": {"capture": ...}` validates the message as a real send does and keeps it instead
//! of connecting. The round trip is checked against aiosmtpd, which stores the exact bytes it
//! received: the captured `.eml` must equal them.

#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

use std::path::Path;
use std::time::{Duration, Instant};

use mail_parser::{MessageParser, MimeHeaders};
use relaykit::capture::Transport;
use relaykit::message::Attachment;
use relaykit::{ErrorKind, Keyring, Mailer, MailerOptions, Message, Profile, RrtContext, SendOptions};
use serde_json::{Value, json};

mod servers_env;
use servers_env::{port, run_tag, var};

fn aiosmtpd_profile() -> Profile {
    Profile::from_json_value(&json!({
        "server": var("RK_HOST"), "port": port("RK_AIOSMTPD_PORT"), "starttls": "never", "timeout_secs": 10,
        "requires_authentication": true, "username": var("RK_USER"), "password": var("RK_PASS"),
    }))
    .unwrap()
}

/// A profile for a port where nothing listens (port 9 on this host; a real send to it fails to
/// connect, checked below), so a capture that succeeds proves nothing was connected.
fn nowhere_profile() -> Profile {
    Profile::from_json_value(&json!({"server": "127.0.0.1", "port": 9, "starttls": "never", "timeout_secs": 5}))
        .unwrap()
}

fn options(v: &Value) -> SendOptions {
    SendOptions::from_json_value(v).unwrap()
}

fn send(p: &Profile, m: &Message, o: &SendOptions) -> relaykit::Result<relaykit::SendResult> {
    relaykit::send(p, &Keyring::new(), &RrtContext::new(), m, o)
}

/// Waits (bounded) for aiosmtpd's `.json` of the message `mid` and returns its `.eml`.
fn aiosmtpd_bytes(mid: &str) -> Vec<u8> {
    let dir = Path::new(var("RK_AIOSMTPD_DIR"));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "json") {
                let Ok(text) = std::fs::read_to_string(&p) else { continue };
                let Ok(v) = serde_json::from_str::<Value>(&text) else { continue };
                if v["message_id"].as_str() == Some(mid) {
                    return std::fs::read(p.with_extension("eml")).unwrap();
                }
            }
        }
        assert!(Instant::now() < deadline, "aiosmtpd stored no message {mid} within 20 s");
        std::thread::sleep(Duration::from_millis(50)); // polling a mailbox, bounded above
    }
}

/// A raw message with what dot-stuffing, line lengths and 8-bit data could change.
fn raw_message(mid: &str) -> Message {
    let long = "x".repeat(990);
    let raw = format!(
        "From: {u}\r\nTo: {r}\r\nSubject: capture =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\nMessage-ID: {mid}\r\n\
         Date: Wed, 02 Dec 2026 00:00:00 +0000\r\nX-Utf8: Grüße ✓\r\n\r\n.leading dot\r\n..two dots\r\n.\r\n\
         {long}\r\nend\r\n",
        u = var("RK_USER"),
        r = var("RK_RCPT"),
    );
    Message::raw(var("RK_USER"), vec![var("RK_RCPT").to_owned()], raw.into_bytes())
}

#[test]
fn a_captured_eml_equals_what_aiosmtpd_received_and_the_json_holds_the_envelope_and_result() {
    let mid = format!("<capture.{}@relaykit.test>", run_tag());
    let m = raw_message(&mid);
    let real = send(&aiosmtpd_profile(), &m, &SendOptions::default()).unwrap();
    let received = aiosmtpd_bytes(&mid);

    let dir = tempfile::tempdir().unwrap();
    let o = options(&json!({"transport": {"capture": {"dir": dir.path()}}}));
    let captured = send(&aiosmtpd_profile(), &m, &o).unwrap();
    let stem = mid.trim_matches(['<', '>']);
    let eml = std::fs::read(dir.path().join(format!("{stem}.eml"))).unwrap();
    assert!(
        eml == received,
        "the captured .eml ({} bytes) differs from aiosmtpd's ({} bytes)",
        eml.len(),
        received.len()
    );

    assert_eq!(captured.accepted, real.accepted);
    assert_eq!((captured.reply.code, captured.reply.text.as_str()), (250, "captured"));
    assert_eq!(captured.message_id.as_deref(), Some(mid.as_str()));
    let env: Value = serde_json::from_slice(&std::fs::read(dir.path().join(format!("{stem}.json"))).unwrap()).unwrap();
    assert_eq!(env["from"], var("RK_USER"));
    assert_eq!(env["recipients"], json!([var("RK_RCPT")]));
    assert_eq!(env["message_id"], mid.as_str());
    assert_eq!(env["result"], captured.to_json_value());
    // Nothing but the pair: the temporary files were renamed into place.
    let mut names: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    assert_eq!(names, vec![format!("{stem}.eml"), format!("{stem}.json")]);

    // The same Message-ID again takes the next name instead of overwriting.
    send(&aiosmtpd_profile(), &m, &o).unwrap();
    assert_eq!(std::fs::read(dir.path().join(format!("{stem}-2.eml"))).unwrap(), received);
}

#[test]
fn memory_capture_connects_nowhere_and_keeps_a_built_message_with_its_attachment() {
    let p = nowhere_profile();
    let real = send(&p, &raw_message("<x@relaykit.test>"), &SendOptions::default()).unwrap_err();
    assert_eq!(real.kind(), ErrorKind::Connect, "port 9 must refuse, or this test proves nothing: {real}");

    let mut o = options(&json!({"transport": {"capture": "memory"}}));
    let store = o.transport.as_ref().unwrap().store().unwrap().clone();
    let calls = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = calls.clone();
    o.progress = Some(relaykit::progress::ProgressSink::new(move |w, t| log.lock().unwrap().push((w, t))));
    let mut m = Message::new("Alice <alice@relaykit.test>");
    m.to = vec!["bob@relaykit.test".into()];
    m.cc = vec!["carol@relaykit.test".into()];
    m.bcc = vec!["dave@relaykit.test".into()];
    m.subject = Some("Grüße".into());
    m.text = Some("hello\n.dot line\n".into());
    let bin: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    m.attachments = vec![Attachment::from_bytes("data.bin", "application/octet-stream", bin.clone())];
    let r = send(&p, &m, &o).unwrap();
    assert_eq!(r.accepted, vec!["bob@relaykit.test", "carol@relaykit.test", "dave@relaykit.test"]);
    assert!(r.rejected.is_empty());
    assert_eq!(r.reply.to_string(), "250 captured");

    let got = store.messages();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].from, "alice@relaykit.test");
    assert_eq!(got[0].recipients, r.accepted);
    assert_eq!(got[0].result, r);
    let len = got[0].bytes.len() as u64;
    assert_eq!(*calls.lock().unwrap(), vec![(len, len)], "a capture reports its end once");
    let parsed = MessageParser::default().parse(&got[0].bytes).unwrap();
    assert_eq!(parsed.subject(), Some("Grüße"));
    assert_eq!(parsed.message_id(), r.message_id.as_deref().map(|s| s.trim_matches(['<', '>'])));
    let att = parsed.attachments().find(|a| a.attachment_name() == Some("data.bin")).unwrap();
    assert!(att.contents() == bin.as_slice(), "the attachment must survive");
    assert!(!String::from_utf8_lossy(&got[0].bytes).contains("dave@"), "Bcc is not in the header");
}

#[test]
fn capture_validates_like_a_real_send_and_keeps_nothing_that_fails() {
    let (transport, store) = Transport::memory();
    let o = SendOptions { transport: Some(transport), ..SendOptions::default() };
    let mut m = Message::new("alice@relaykit.test");
    m.to = vec!["bob@relaykit.test".into()];
    m.subject = Some("injected\r\nBcc: eve@example.net".into());
    let e = send(&nowhere_profile(), &m, &o).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config, "{e}");
    m.subject = Some("fine".into());
    m.to.clear();
    let e = send(&nowhere_profile(), &m, &o).unwrap_err();
    assert!(e.message().contains("no recipient"), "{e}");
    // The profile is resolved too: a tag without a value in the RRT context fails.
    m.to = vec!["bob@relaykit.test".into()];
    let p = Profile::from_json_value(&json!({"server": "~ACC::%nohost%~", "port": 9, "starttls": "never"})).unwrap();
    let e = send(&p, &m, &o).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Rrt, "{e}");
    assert!(store.is_empty(), "a message that fails validation is not captured");
    send(&nowhere_profile(), &m, &o).unwrap();
    assert_eq!(store.len(), 1);
}

#[test]
fn bad_capture_options_are_errors_naming_the_field() {
    for bad in [json!({"capture": "disk"}), json!({"capture": {"dir": ""}}), json!({"smtp": {}}), json!("capture")] {
        let e = SendOptions::from_json_value(&json!({"transport": bad})).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(e.message().starts_with("options.transport"), "{bad}: {e}");
    }
    let e = MailerOptions::from_json_value(&json!({"transport": {"capture": {"dir": 7}}})).unwrap_err();
    assert!(e.message().starts_with("options.transport"), "{e}");

    let missing = tempfile::tempdir().unwrap().path().join("absent");
    let o = options(&json!({"transport": {"capture": {"dir": missing}}}));
    let mut m = Message::new("alice@relaykit.test");
    m.to = vec!["bob@relaykit.test".into()];
    let e = send(&nowhere_profile(), &m, &o).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(e.message().starts_with("options.transport.capture.dir: "), "{e}");
}

#[test]
fn a_mailer_with_capture_writes_one_pair_per_message_and_connects_nowhere() {
    let dir = tempfile::tempdir().unwrap();
    let options = MailerOptions::from_json_value(&json!({"transport": {"capture": {"dir": dir.path()}}})).unwrap();
    let mailer = Mailer::new(&nowhere_profile(), &Keyring::new(), &RrtContext::new(), options).unwrap();
    let tag = run_tag();
    let mut messages: Vec<Message> = (0..3)
        .map(|i| {
            let mut m = Message::new("alice@relaykit.test");
            m.to = vec![format!("user{i}@relaykit.test")];
            m.text = Some(format!("message {i}\n"));
            m.message_id = Some(format!("<m{i}.{tag}@relaykit.test>"));
            m
        })
        .collect();
    messages[1].to.clear(); // fails alone, as with a real mailer
    let out = mailer.send_many_blocking(&messages).unwrap();
    assert!(out[0].is_ok() && out[2].is_ok());
    assert!(out[1].as_ref().unwrap_err().message().contains("no recipient"));
    for i in [0, 2] {
        let stem = format!("m{i}.{tag}@relaykit.test");
        let env: Value =
            serde_json::from_slice(&std::fs::read(dir.path().join(format!("{stem}.json"))).unwrap()).unwrap();
        assert_eq!(env["recipients"], json!([format!("user{i}@relaykit.test")]));
        let eml = String::from_utf8(std::fs::read(dir.path().join(format!("{stem}.eml"))).unwrap()).unwrap();
        assert!(eml.contains(&format!("message {i}")), "{eml}");
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 4);
    let stats = mailer.stats();
    assert_eq!((stats.sent, stats.failed), (2, 1));
    mailer.close_blocking().unwrap();
}
