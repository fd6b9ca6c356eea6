//! The pooled [`relaykit::Mailer`]: many messages over few connections to the real Postfix +
//! Dovecot role (servers from `tests/servers/start.sh`, read as `servers.rs` reads them), and
//! one scripted fake server for a fault Postfix cannot produce on demand here.

#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::time::SystemTime;

use relaykit::{Keyring, Mailer, MailerOptions, Message, Profile, RrtContext};
use serde_json::{Value, json};
use support::{BufReader, Duration, ErrorKind, TcpListener};
use support::{Data, EHLO_PIPELINING, Expect, Send, Step, bounded, play};

mod servers_env;
use servers_env::{before_now, mailer, run_tag, var};

/// alice on the Postfix+Dovecot STARTTLS listener, the CA from the test PKI.
fn dovecot_starttls() -> Profile {
    Profile::from_json_value(&json!({
        "server": var("RK_HOST"), "port": var("RK_DOVECOT_STARTTLS_PORT").parse::<u16>().unwrap(),
        "timeout_secs": 10, "requires_authentication": true,
        "username": var("RK_USER"), "password": var("RK_PASS"),
        "encrypted_connection": true, "tls_mode": "starttls", "tls_ca_file": var("RK_CA_FILE"),
    }))
    .unwrap()
}

fn message(to: &str, mid: &str) -> Message {
    servers_env::message("mailer test", to, mid)
}

/// Counts, per Message-ID starting with `prefix`, the delivered files under `maildir` that
/// carry it, waiting (bounded) until `want` distinct ones have arrived.
fn count_delivered(maildir: &Path, prefix: &str, want: usize, since: SystemTime) -> HashMap<String, usize> {
    servers_env::wait_delivered(maildir, prefix, want, since, Duration::from_secs(120)).counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_messages_over_two_connections_each_delivered_once() {
    const TASKS: usize = 8;
    const EACH: usize = 25;
    // No recycling within the run (the default 100 would open a third connection).
    let m = mailer(&dovecot_starttls(), &json!({"max_connections": 2, "max_messages_per_connection": 200}));
    let (prefix, since) = (format!("<m200.{}.", run_tag()), before_now());
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let (m, prefix) = (m.clone(), prefix.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..EACH {
                let mid = format!("{prefix}{t}.{i}@relaykit.test>");
                let r = m.send(&message(var("RK_RCPT"), &mid)).await.unwrap();
                assert_eq!(r.message_id.as_deref(), Some(mid.as_str()));
            }
        }));
    }
    tokio::time::timeout(Duration::from_secs(180), async {
        for t in tasks {
            t.await.unwrap();
        }
    })
    .await
    .expect("200 sends took longer than 180 s");
    let s = m.stats();
    assert_eq!((s.sent, s.failed), (200, 0), "{s:?}");
    assert!(s.connections_opened <= 2, "{s:?}");
    assert!(s.open_connections <= 2, "{s:?}");
    m.close().await;
    assert_eq!(m.stats().open_connections, 0, "close QUITs the idle connections");
    let carol = Path::new(var("RK_DOVECOT_MAIL_DIR")).join(var("RK_DOMAIN")).join("carol");
    let dir = carol.clone();
    let counts =
        tokio::task::spawn_blocking(move || count_delivered(&dir, &prefix, TASKS * EACH, since)).await.unwrap();
    assert_eq!(counts.len(), TASKS * EACH);
    let dup: Vec<_> = counts.iter().filter(|(_, n)| **n != 1).collect();
    assert!(dup.is_empty(), "delivered more than once: {dup:?}");
}

#[tokio::test]
async fn a_connection_is_recycled_after_max_messages() {
    let mut options =
        MailerOptions::from_json_value(&json!({"max_connections": 1, "max_messages_per_connection": 2})).unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = std::sync::Arc::clone(&seen);
    options.trace = Some(relaykit::session::TraceSink::new(move |e| sink.lock().unwrap().push(e.connection)));
    let m = Mailer::new(&dovecot_starttls(), &Keyring::new(), &RrtContext::new(), options).unwrap();
    let tag = run_tag();
    for i in 0..5 {
        m.send(&message(var("RK_RCPT"), &format!("<recycle.{tag}.{i}@relaykit.test>"))).await.unwrap();
    }
    let s = m.stats();
    assert_eq!((s.sent, s.connections_opened, s.open_connections), (5, 3, 1), "{s:?}");
    m.close().await;
    assert_eq!(m.stats().open_connections, 0);
    // Trace lines are numbered by connection, in the order they opened, though one task
    // opened all three.
    let mut ids: Vec<Option<u64>> = seen.lock().unwrap().clone();
    ids.dedup();
    assert_eq!(ids, [Some(1), Some(2), Some(3)]);
}

#[tokio::test]
async fn an_idle_connection_past_its_timeout_is_not_reused() {
    let m = mailer(&dovecot_starttls(), &json!({"idle_timeout_secs": 0.05}));
    let tag = run_tag();
    m.send(&message(var("RK_RCPT"), &format!("<idle.{tag}.1@relaykit.test>"))).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await; // lets the idle timeout pass (not synchronisation)
    m.send(&message(var("RK_RCPT"), &format!("<idle.{tag}.2@relaykit.test>"))).await.unwrap();
    let s = m.stats();
    assert_eq!((s.sent, s.connections_opened, s.reconnects), (2, 2, 0), "{s:?}");
    m.close().await;
}

#[tokio::test]
async fn invalid_options_and_profile_fail_at_creation_naming_the_field() {
    let e = MailerOptions::from_json(r#"{"max_connections": 0}"#).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(e.message().starts_with("options.max_connections:"), "{e}");
    let o = MailerOptions { idle_timeout_secs: -1.0, ..MailerOptions::default() };
    let p = dovecot_starttls();
    let e = Mailer::new(&p, &Keyring::new(), &RrtContext::new(), o).unwrap_err();
    assert!(e.message().starts_with("options.idle_timeout_secs:"), "{e}");
    // No connection is tried: the CA file is read (and missing) at creation.
    let p = Profile::from_json_value(&json!({
        "server": "127.0.0.1", "port": 9, "encrypted_connection": true, "tls_ca_file": "/nonexistent/ca.pem",
    }))
    .unwrap();
    let e = Mailer::new(&p, &Keyring::new(), &RrtContext::new(), MailerOptions::default()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config, "{e}");
    assert!(e.message().contains("tls_ca_file"), "{e}");
}

#[tokio::test]
async fn a_bad_message_fails_alone_and_send_after_close_fails_at_once() {
    let m = mailer(&dovecot_starttls(), &Value::Null);
    let tag = run_tag();
    let mut bad = message(var("RK_RCPT"), &format!("<bad.{tag}@relaykit.test>"));
    bad.subject = Some("hello\r\nBcc: victim@example.net".to_owned());
    let e = m.send(&bad).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(e.message().starts_with("message.subject:"), "{e}");
    assert_eq!(m.stats().connections_opened, 0, "a bad message is refused before any connection");
    let good = format!("<good.{tag}@relaykit.test>");
    m.send(&message(var("RK_RCPT"), &good)).await.unwrap();
    m.close().await;
    let e = tokio::time::timeout(Duration::from_secs(1), m.send(&message(var("RK_RCPT"), &good)))
        .await
        .expect("a send after close must fail at once")
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(e.message().contains("closed"), "{e}");
    let s = m.stats();
    assert_eq!((s.sent, s.failed, s.open_connections), (1, 2, 0), "{s:?}");
}

/// One connection of the fake: greeting, EHLO with PIPELINING, one pipelined message.
fn one_message() -> Vec<Step> {
    vec![
        Send("220 fake.test ESMTP\r\n"),
        Expect("EHLO"),
        Send(EHLO_PIPELINING),
        Expect("MAIL FROM:"),
        Expect("RCPT TO:"),
        Expect("DATA"),
        Send("250 2.1.0 ok\r\n250 2.1.5 ok\r\n354 go ahead\r\n"),
        Data,
        Send("250 2.0.0 queued\r\n"),
    ]
}

/// A listener for a fake server, and its port.
async fn listen() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

/// A mailer with the default options for the plain fake on `port`.
fn fake_mailer(port: u16) -> Mailer {
    let p = Profile::from_json_value(&json!({"server": "127.0.0.1", "port": port, "starttls": "never",
                                             "timeout_secs": 5}))
    .unwrap();
    Mailer::new(&p, &Keyring::new(), &RrtContext::new(), MailerOptions::default()).unwrap()
}

fn fake_message() -> Message {
    let mut m = Message::new("alice@relaykit.test");
    m.to = vec!["carol@relaykit.test".to_owned()];
    m
}

/// A scripted fake server, for a fault Postfix cannot produce on demand in this test: closing
/// an idle connection at a chosen moment (after the first message, before the second send).
/// The first connection takes one message and is closed; the second takes one and then QUIT.
#[tokio::test]
async fn a_connection_closed_while_idle_is_replaced_transparently() {
    bounded(Box::pin(async {
        let (listener, port) = listen().await;
        let (first_closed, closed) = tokio::sync::oneshot::channel();
        let server = tokio::spawn(async move {
            let mut log = Vec::new();
            let (tcp, _) = listener.accept().await.unwrap();
            let mut rd = BufReader::new(tcp);
            play(&mut rd, &one_message(), &mut log).await.unwrap();
            drop(rd); // the server goes away while the connection sits idle in the pool
            first_closed.send(()).unwrap();
            let (tcp, _) = listener.accept().await.unwrap();
            let mut steps = one_message();
            steps.extend([Expect("QUIT"), Send("221 bye\r\n")]);
            play(&mut BufReader::new(tcp), &steps, &mut log).await.unwrap();
            log
        });
        let m = fake_mailer(port);
        let mut one = fake_message();
        one.message_id = Some("<one@relaykit.test>".to_owned());
        m.send(&one).await.unwrap();
        closed.await.unwrap();
        let mut two = one.clone();
        two.message_id = Some("<two@relaykit.test>".to_owned());
        let r = m.send(&two).await.unwrap();
        assert_eq!(r.message_id.as_deref(), Some("<two@relaykit.test>"));
        let s = m.stats();
        assert_eq!((s.sent, s.failed, s.reconnects, s.connections_opened), (2, 0, 1, 2), "{s:?}");
        m.close().await;
        let log = server.await.unwrap();
        let data: Vec<_> = log.iter().filter(|l| l.starts_with("DATA:")).collect();
        assert_eq!(data.len(), 2, "{log:?}");
        assert!(data[0].contains("<one@relaykit.test>") && data[1].contains("<two@relaykit.test>"), "{log:?}");
        assert_eq!(log.last().map(String::as_str), Some("QUIT"), "close QUITs the idle connection");
    }))
    .await;
}

/// A scripted fake, for a moment Postfix cannot be held at: `close()` while a message's final
/// reply is still due. The send in flight must finish, and its connection be QUIT, not pooled;
/// `close()` returns only after that.
#[tokio::test]
async fn close_lets_the_send_in_flight_finish_then_quits_its_connection() {
    bounded(Box::pin(async {
        let (listener, port) = listen().await;
        let (got_data, data_in) = tokio::sync::oneshot::channel();
        let (go, reply_now) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let mut log = Vec::new();
            let (tcp, _) = listener.accept().await.unwrap();
            let mut rd = BufReader::new(tcp);
            let mut steps = one_message();
            let last = steps.pop().unwrap(); // the reply to the final `.`, held back
            play(&mut rd, &steps, &mut log).await.unwrap();
            got_data.send(()).unwrap();
            reply_now.await.unwrap();
            play(&mut rd, &[last, Expect("QUIT"), Send("221 bye\r\n")], &mut log).await.unwrap();
            log
        });
        let m = fake_mailer(port);
        let one = fake_message();
        let sender = m.clone();
        let in_flight = tokio::spawn(async move { sender.send(&one).await });
        data_in.await.unwrap();
        let closer = m.clone();
        let closing = tokio::spawn(async move { closer.close().await });
        go.send(()).unwrap();
        in_flight.await.unwrap().unwrap();
        closing.await.unwrap();
        let s = m.stats();
        assert_eq!((s.sent, s.open_connections), (1, 0), "close returned with the connection closed: {s:?}");
        let log = server.await.unwrap();
        assert_eq!(log.last().map(String::as_str), Some("QUIT"), "{log:?}");
    }))
    .await;
}

#[test]
fn the_blocking_forms_send_and_close() {
    let m = mailer(&dovecot_starttls(), &Value::Null);
    let mid = format!("<blocking.{}@relaykit.test>", run_tag());
    let r = m.send_blocking(&message(var("RK_RCPT"), &mid)).unwrap();
    assert_eq!(r.message_id.as_deref(), Some(mid.as_str()));
    m.close_blocking().unwrap();
    let e = m.send_blocking(&message(var("RK_RCPT"), &mid)).unwrap_err();
    assert!(e.message().contains("closed"), "{e}");
    assert_eq!(m.stats().open_connections, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_each_streams_an_iterator_in_batches_with_outcomes_in_order() {
    const N: usize = 600; // more than one batch (256 at two connections)
    let m = mailer(&dovecot_starttls(), &json!({"max_connections": 2, "max_messages_per_connection": 1000}));
    let (prefix, since) = (format!("<each.{}.", run_tag()), before_now());
    let messages = (0..N).map(|i| message(var("RK_RCPT"), &format!("{prefix}{i}@relaykit.test>")));
    let mut seen = Vec::with_capacity(N);
    tokio::time::timeout(
        Duration::from_secs(180),
        m.send_each(messages, |i, r| {
            let r = r.unwrap();
            assert_eq!(r.message_id, Some(format!("{prefix}{i}@relaykit.test>")), "outcome {i} is message {i}'s");
            seen.push(i);
        }),
    )
    .await
    .expect("600 messages took longer than 180 s");
    assert_eq!(seen, (0..N).collect::<Vec<_>>());
    m.close().await;
    let dir = Path::new(var("RK_DOVECOT_MAIL_DIR")).join(var("RK_DOMAIN")).join("carol");
    let p = prefix.clone();
    let counts = tokio::task::spawn_blocking(move || count_delivered(&dir, &p, N, since)).await.unwrap();
    assert!(counts.values().all(|n| *n == 1), "each delivered once");
}
