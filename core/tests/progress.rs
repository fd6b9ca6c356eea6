//! The progress callback of a send (#16), against aiosmtpd (a real server that stores what it
//! received): increasing byte counts, at most one call per 64 KiB or 100 ms, ending at the total.

#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

use std::sync::{Arc, Mutex};

use relaykit::message::Attachment;
use relaykit::progress::ProgressSink;
use relaykit::{Keyring, Message, Profile, RrtContext, SendOptions};
use serde_json::json;

mod servers_env;
use servers_env::{port, run_tag, var};

fn profile() -> Profile {
    Profile::from_json_value(&json!({
        "server": var("RK_HOST"), "port": port("RK_AIOSMTPD_PORT"), "starttls": "never", "timeout_secs": 20,
        "requires_authentication": true, "username": var("RK_USER"), "password": var("RK_PASS"),
    }))
    .unwrap()
}

fn big_message(mid: &str, size: usize) -> Message {
    let mut m = Message::new(var("RK_USER"));
    m.to = vec![var("RK_RCPT").to_owned()];
    m.subject = Some("progress".into());
    m.text = Some("a big attachment follows\n".into());
    m.message_id = Some(mid.to_owned());
    let bin: Vec<u8> = (0..=250u8).cycle().take(size).collect();
    m.attachments = vec![Attachment::from_bytes("big.bin", "application/octet-stream", bin)];
    m
}

/// The size aiosmtpd recorded for the message `mid` (bounded poll of its `.json` files).
fn stored_size(mid: &str) -> u64 {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        for e in std::fs::read_dir(var("RK_AIOSMTPD_DIR")).unwrap().flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "json") {
                if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&std::fs::read(&p).unwrap_or_default()) {
                    if v["message_id"].as_str() == Some(mid) {
                        return v["size"].as_u64().unwrap();
                    }
                }
            }
        }
        assert!(std::time::Instant::now() < deadline, "aiosmtpd stored no {mid} within 20 s");
        std::thread::sleep(std::time::Duration::from_millis(50)); // polling a mailbox, bounded above
    }
}

#[test]
fn progress_of_a_multi_megabyte_send_increases_to_the_total_at_most_every_64_kib() {
    let calls = Arc::new(Mutex::new(Vec::<(u64, u64)>::new()));
    let log = calls.clone();
    let o = SendOptions {
        progress: Some(ProgressSink::new(move |w, t| log.lock().unwrap().push((w, t)))),
        ..SendOptions::default()
    };
    let mid = format!("<progress.{}@relaykit.test>", run_tag());
    relaykit::send(&profile(), &Keyring::new(), &RrtContext::new(), &big_message(&mid, 3 << 20), &o).unwrap();
    let calls = calls.lock().unwrap().clone();
    let total = calls.last().unwrap().1;
    // The wire content: what aiosmtpd stored plus the terminating ".\r\n" (nothing of it was
    // dot-stuffed: base64 lines never start with a dot), or the BDAT chunk (exactly the stored
    // bytes) when the server offers CHUNKING.
    let stored = stored_size(&mid);
    assert!(total == stored + 3 || total == stored, "total {total} vs {stored} stored");
    assert!(total > 3 << 20);
    assert_eq!(calls.last().unwrap().0, total, "the last call is the end");
    assert!(calls.iter().all(|&(_, t)| t == total));
    assert!(calls.windows(2).all(|w| w[0].0 < w[1].0), "strictly increasing: {calls:?}");
    let most = usize::try_from(total.div_ceil(64 * 1024)).unwrap();
    assert!(calls.len() >= 2 && calls.len() <= most, "{} calls for {total} bytes", calls.len());
}

#[test]
fn a_panicking_progress_callback_does_not_break_the_send() {
    let n = Arc::new(Mutex::new(0u32));
    let count = n.clone();
    let o = SendOptions {
        progress: Some(ProgressSink::new(move |_, _| {
            *count.lock().unwrap() += 1;
            panic!("a host's callback failed");
        })),
        ..SendOptions::default()
    };
    let mid = format!("<progress-panic.{}@relaykit.test>", run_tag());
    let r = relaykit::send(&profile(), &Keyring::new(), &RrtContext::new(), &big_message(&mid, 1 << 20), &o).unwrap();
    assert_eq!(r.accepted, vec![var("RK_RCPT")]);
    assert!(stored_size(&mid) > 1 << 20, "the message arrived whole");
    assert_eq!(*n.lock().unwrap(), 1, "called once, then not again for that message");
}

#[test]
fn a_mailer_reports_each_messages_progress_to_its_end() {
    let calls = Arc::new(Mutex::new(Vec::<(u64, u64)>::new()));
    let log = calls.clone();
    let options = relaykit::MailerOptions {
        max_connections: 1,
        progress: Some(ProgressSink::new(move |w, t| log.lock().unwrap().push((w, t)))),
        ..relaykit::MailerOptions::default()
    };
    let mailer = relaykit::Mailer::new(&profile(), &Keyring::new(), &RrtContext::new(), options).unwrap();
    let tag = run_tag();
    let messages: Vec<Message> =
        (0..2).map(|i| big_message(&format!("<progress-mailer{i}.{tag}@relaykit.test>"), 300_000 + i * 1000)).collect();
    for r in mailer.send_many_blocking(&messages).unwrap() {
        r.unwrap();
    }
    mailer.close_blocking().unwrap();
    let calls = calls.lock().unwrap().clone();
    let ends: Vec<&(u64, u64)> = calls.iter().filter(|(w, t)| w == t).collect();
    assert_eq!(ends.len(), 2, "one end per message: {calls:?}");
    assert_ne!(ends[0].1, ends[1].1, "two different totals");
    for &&(_, total) in &ends {
        let mine: Vec<u64> = calls.iter().filter(|c| c.1 == total).map(|c| c.0).collect();
        assert!(mine.windows(2).all(|w| w[0] < w[1]) && mine.len() >= 2, "{mine:?}");
    }
}
