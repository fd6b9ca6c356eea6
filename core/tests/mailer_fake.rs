//! The Mailer's pipelining, retries and fates against scripted fake servers: each script
//! produces, at an exact moment, a reply or a fault that a real server gives only by chance
//! (a 451 for one recipient, a connection dropped after the final `.`, replies out of step).
//! The real-server counterparts are in `mailer.rs`, `mailer_faults.rs` and `mailer_volume.rs`.

#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

mod support;

use relaykit::{Fate, Keyring, Mailer, MailerOptions, Message, Profile, RrtContext};
use serde_json::{Value, json};
use support::{
    AsyncWriteExt, BufReader, Buffered, Data, EHLO_PIPELINING, ErrorKind, Expect, Send, Step, TcpListener, bounded,
    play,
};

/// A listener for a fake server, and its port.
async fn listen() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

/// A mailer for the plain fake on `port`; `options` over fast retries.
fn mailer(port: u16, options: &Value) -> Mailer {
    let p = Profile::from_json_value(&json!({"server": "127.0.0.1", "port": port, "starttls": "never",
                                             "timeout_secs": 5}))
    .unwrap();
    let mut o = json!({"retry": {"max_attempts": 3, "base_delay_ms": 1, "max_delay_ms": 5}});
    for (k, v) in options.as_object().unwrap() {
        o[k] = v.clone();
    }
    Mailer::new(&p, &Keyring::new(), &RrtContext::new(), MailerOptions::from_json_value(&o).unwrap()).unwrap()
}

fn message(n: u32, to: &[&str]) -> Message {
    let mut m = Message::new("alice@relaykit.test");
    m.to = to.iter().map(|t| (*t).to_owned()).collect();
    m.message_id = Some(format!("<m{n}@relaykit.test>"));
    m.text = Some(format!("message {n}\n"));
    m
}

/// Serves one connection with `steps`, then expects QUIT; returns the log.
async fn serve(listener: &TcpListener, steps: &[Step], log: &mut Vec<String>) {
    let (tcp, _) = listener.accept().await.unwrap();
    let mut rd = BufReader::new(tcp);
    play(&mut rd, steps, log).await.unwrap();
}

const GREET: [Step; 3] = [Send("220 fake.test ESMTP\r\n"), Expect("EHLO"), Send(EHLO_PIPELINING)];
const BYE: [Step; 2] = [Expect("QUIT"), Send("221 bye\r\n")];

fn script(parts: &[&[Step]]) -> Vec<Step> {
    parts.iter().flat_map(|p| p.iter().cloned()).collect()
}

#[tokio::test]
async fn send_many_pipelines_each_body_with_the_next_envelope_on_one_connection() {
    bounded(Box::pin(async {
        let (listener, port) = listen().await;
        let server = tokio::spawn(async move {
            let mut log = Vec::new();
            let env = [Expect("MAIL FROM:"), Buffered("RCPT TO:"), Buffered("DATA")];
            let ok = Send("250 ok\r\n250 ok\r\n354 go\r\n");
            let steps = script(&[
                &GREET,
                &env,
                &[ok.clone(), Data],
                // The second envelope came in the same write as the first body's `.`.
                &[Buffered("MAIL FROM:"), Buffered("RCPT TO:"), Buffered("DATA")],
                &[Send("250 queued 1\r\n"), ok.clone(), Data],
                &[Buffered("MAIL FROM:"), Buffered("RCPT TO:"), Buffered("DATA")],
                &[Send("250 queued 2\r\n"), ok, Data, Send("250 queued 3\r\n")],
                &BYE,
            ]);
            serve(&listener, &steps, &mut log).await;
            log
        });
        let m = mailer(port, &json!({"max_connections": 1}));
        let msgs: Vec<Message> = (1..=3).map(|n| message(n, &["carol@relaykit.test"])).collect();
        let out = m.send_many(&msgs).await;
        let replies: Vec<String> = out.iter().map(|r| r.as_ref().unwrap().reply.text.clone()).collect();
        assert_eq!(replies, ["queued 1", "queued 2", "queued 3"]);
        m.close().await;
        let log = server.await.unwrap();
        assert_eq!(log.iter().filter(|l| l.starts_with("DATA:")).count(), 3, "{log:?}");
        let s = m.stats();
        assert_eq!((s.sent, s.connections_opened, s.open_connections, s.queued), (3, 1, 0, 0), "{s:?}");
    }))
    .await;
}

#[tokio::test]
async fn concurrent_senders_are_pipelined_on_one_connection() {
    bounded(Box::pin(async {
        let (listener, port) = listen().await;
        let server = tokio::spawn(async move {
            let mut log = Vec::new();
            let ok = Send("250 ok\r\n250 ok\r\n354 go\r\n");
            let env = [Expect("MAIL FROM:"), Buffered("RCPT TO:"), Buffered("DATA")];
            let next = [Buffered("MAIL FROM:"), Buffered("RCPT TO:"), Buffered("DATA")];
            let steps = script(&[
                &GREET,
                &env,
                &[ok.clone(), Data],
                &next,
                &[Send("250 a\r\n"), ok, Data, Send("250 b\r\n")],
                &BYE,
            ]);
            serve(&listener, &steps, &mut log).await;
            log
        });
        let m = mailer(port, &json!({"max_connections": 1}));
        // Both senders queue before the connection is open (the tasks run in spawn order).
        let a = tokio::spawn({
            let m = m.clone();
            async move { m.send(&message(1, &["carol@relaykit.test"])).await }
        });
        let b = tokio::spawn({
            let m = m.clone();
            async move { m.send(&message(2, &["carol@relaykit.test"])).await }
        });
        let (ra, rb) = (a.await.unwrap().unwrap(), b.await.unwrap().unwrap());
        let mut got = [ra.reply.text, rb.reply.text];
        got.sort();
        assert_eq!(got, ["a", "b"]);
        m.close().await;
        server.await.unwrap();
        assert_eq!(m.stats().connections_opened, 1);
    }))
    .await;
}

#[tokio::test]
async fn a_deferred_recipient_is_retried_alone() {
    bounded(Box::pin(async {
        let (listener, port) = listen().await;
        let server = tokio::spawn(async move {
            let mut log = Vec::new();
            let steps = script(&[
                &GREET,
                // Attempt 1: carol accepted, dave deferred.
                &[Expect("MAIL FROM:"), Expect("RCPT TO:<carol"), Expect("RCPT TO:<dave"), Expect("DATA")],
                &[Send("250 ok\r\n250 ok\r\n452 4.2.2 dave over quota, later\r\n354 go\r\n"), Data],
                &[Send("250 queued for carol\r\n")],
                // Attempt 2: dave alone.
                &[Expect("MAIL FROM:"), Expect("RCPT TO:<dave"), Expect("DATA")],
                &[Send("250 ok\r\n250 ok\r\n354 go\r\n"), Data, Send("250 queued for dave\r\n")],
                &BYE,
            ]);
            serve(&listener, &steps, &mut log).await;
            log
        });
        let m = mailer(port, &json!({}));
        let r = m.send(&message(1, &["carol@relaykit.test", "dave@relaykit.test"])).await.unwrap();
        assert_eq!(r.accepted, ["carol@relaykit.test", "dave@relaykit.test"]);
        assert!(r.rejected.is_empty(), "{r:?}");
        assert_eq!((r.attempts, r.reply.text.as_str()), (2, "queued for dave"));
        m.close().await;
        server.await.unwrap();
        let s = m.stats();
        assert_eq!((s.sent, s.retried, s.failed), (1, 1, 0), "{s:?}");
    }))
    .await;
}

#[tokio::test]
async fn a_transient_refusal_is_retried_a_permanent_one_is_final() {
    bounded(Box::pin(async {
        let (listener, port) = listen().await;
        let server = tokio::spawn(async move {
            let mut log = Vec::new();
            let env = [Expect("MAIL FROM:"), Expect("RCPT TO:"), Expect("DATA")];
            let steps = script(&[
                &GREET,
                &env,
                &[Send("451 4.3.0 try later\r\n554 no transaction\r\n554 no transaction\r\n")],
                // A 4xx to MAIL FROM is the server throttling this client: the connection is
                // closed and the retry, after the backoff, goes on a new one.
                &BYE,
            ]);
            serve(&listener, &steps, &mut log).await;
            let steps = script(&[
                &GREET,
                &env,
                &[Send("250 ok\r\n550 5.1.1 no such user\r\n554 no valid recipients\r\n")],
                &[Expect("RSET"), Send("250 ok\r\n")],
                &BYE,
            ]);
            serve(&listener, &steps, &mut log).await;
            log
        });
        let m = mailer(port, &json!({}));
        let e = m.send(&message(1, &["carol@relaykit.test"])).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::RecipientRejected, "{e}");
        assert_eq!((e.code(), e.attempts(), e.transient(), e.fate()), (Some(550), Some(2), false, Fate::Rejected));
        let j = e.to_json_value();
        assert_eq!(
            (j["transient"].clone(), j["fate"].clone(), j["attempts"].clone()),
            (json!(false), json!("rejected"), json!(2))
        );
        m.close().await;
        server.await.unwrap();
        let s = m.stats();
        assert_eq!((s.sent, s.failed, s.retried, s.connections_opened), (0, 1, 1, 2), "{s:?}");
    }))
    .await;
}

/// Accepts the whole message, then drops the connection without the final reply.
fn drop_after_dot() -> Vec<Step> {
    script(&[
        &GREET,
        &[Expect("MAIL FROM:"), Expect("RCPT TO:"), Expect("DATA"), Send("250 ok\r\n250 ok\r\n354 go\r\n"), Data],
    ])
}

#[tokio::test]
async fn a_connection_lost_after_the_dot_has_fate_unknown_and_is_not_sent_again() {
    bounded(Box::pin(async {
        let (listener, port) = listen().await;
        let server = tokio::spawn(async move {
            let mut log = Vec::new();
            serve(&listener, &drop_after_dot(), &mut log).await;
            // Anyone trying again would be the second connection: count them until the
            // mailer closes (the test closes it after the send returned).
            (log, listener)
        });
        let m = mailer(port, &json!({}));
        let e = m.send(&message(1, &["carol@relaykit.test"])).await.unwrap_err();
        assert_eq!((e.fate(), e.transient(), e.attempts()), (Fate::Unknown, false, Some(1)), "{e}");
        assert_eq!(e.to_json_value()["fate"], "unknown");
        m.close().await;
        let (log, _listener) = server.await.unwrap();
        assert_eq!(log.iter().filter(|l| l.starts_with("DATA:")).count(), 1);
        let s = m.stats();
        assert_eq!((s.connections_opened, s.retried, s.reconnects, s.failed), (1, 0, 0, 1), "{s:?}");
    }))
    .await;
}

#[tokio::test]
async fn with_retry_unknown_a_message_lost_after_the_dot_is_sent_again() {
    bounded(Box::pin(async {
        let (listener, port) = listen().await;
        let server = tokio::spawn(async move {
            let mut log = Vec::new();
            serve(&listener, &drop_after_dot(), &mut log).await;
            let again = script(&[
                &GREET,
                &[Expect("MAIL FROM:"), Expect("RCPT TO:"), Expect("DATA"), Send("250 ok\r\n250 ok\r\n354 go\r\n")],
                &[Data, Send("250 queued\r\n")],
                &BYE,
            ]);
            serve(&listener, &again, &mut log).await;
            log
        });
        let m = mailer(port, &json!({"retry_unknown": true}));
        let r = m.send(&message(1, &["carol@relaykit.test"])).await.unwrap();
        assert_eq!(r.attempts, 2);
        m.close().await;
        server.await.unwrap();
        assert_eq!(m.stats().connections_opened, 2);
    }))
    .await;
}

#[tokio::test]
async fn replies_out_of_step_are_a_protocol_error_and_the_connection_is_discarded() {
    bounded(Box::pin(async {
        let (listener, port) = listen().await;
        let server = tokio::spawn(async move {
            let mut log = Vec::new();
            // A 354 where the reply to MAIL FROM is due, as if a reply had gone missing.
            let odd = script(&[
                &GREET,
                &[Expect("MAIL FROM:"), Expect("RCPT TO:"), Expect("DATA"), Send("354 go\r\n250 ok\r\n250 ok\r\n")],
            ]);
            serve(&listener, &odd, &mut log).await;
            let good = script(&[
                &GREET,
                &[Expect("MAIL FROM:"), Expect("RCPT TO:"), Expect("DATA"), Send("250 ok\r\n250 ok\r\n354 go\r\n")],
                &[Data, Send("250 queued\r\n")],
                &BYE,
            ]);
            serve(&listener, &good, &mut log).await;
            log
        });
        let m = mailer(port, &json!({}));
        let e = m.send(&message(1, &["carol@relaykit.test"])).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Protocol, "{e}");
        assert!(e.message().contains("out of step"), "{e}");
        assert!(!e.transient(), "not retried: a server out of step is not a passing fault");
        assert_eq!(m.stats().open_connections, 0, "the connection was discarded");
        m.send(&message(2, &["carol@relaykit.test"])).await.unwrap();
        m.close().await;
        server.await.unwrap();
        assert_eq!(m.stats().connections_opened, 2);
    }))
    .await;
}

const EHLO_CHUNKING: &str = "250-fake.test\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 8BITMIME\r\n";

/// Reads from `rd` until `n` RSET lines have arrived (a chunked stream of `n` messages), and
/// returns everything read; the server has not replied to any of it yet.
async fn read_stream(rd: &mut BufReader<tokio::net::TcpStream>, n: usize) -> String {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    while String::from_utf8_lossy(&got).matches("RSET\r\n").count() < n {
        let mut buf = [0u8; 4096];
        let k = tokio::time::timeout(support::SERVER_WAIT, rd.read(&mut buf)).await.unwrap().unwrap();
        assert!(k > 0, "the client closed the stream early: {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..k]);
    }
    String::from_utf8(got).unwrap()
}

#[tokio::test]
async fn with_chunking_messages_stream_without_waiting_and_replies_match_their_messages() {
    bounded(Box::pin(async {
        let (listener, port) = listen().await;
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut rd = BufReader::new(tcp);
            let mut log = Vec::new();
            play(&mut rd, &[Send("220 fake.test ESMTP\r\n"), Expect("EHLO"), Send(EHLO_CHUNKING)], &mut log)
                .await
                .unwrap();
            let ok = "250 ok\r\n250 ok\r\n";
            // The window opens at one message, then doubles after an accepted one.
            let mut stream = read_stream(&mut rd, 1).await;
            rd.get_mut().write_all(format!("{ok}250 queued 1\r\n250 reset\r\n").as_bytes()).await.unwrap();
            // Messages 2 and 3 arrive before any reply to them is sent.
            stream += &read_stream(&mut rd, 2).await;
            let replies = format!(
                "250 ok\r\n550 5.1.1 no such user\r\n554 5.5.1 no valid recipients\r\n250 reset\r\n{ok}250 queued 3\r\n250 reset\r\n"
            );
            rd.get_mut().write_all(replies.as_bytes()).await.unwrap();
            play(&mut rd, &BYE, &mut log).await.unwrap();
            stream
        });
        let m = mailer(port, &json!({"max_connections": 1}));
        let mut msgs: Vec<Message> = (1..=3).map(|n| message(n, &["carol@relaykit.test"])).collect();
        msgs[1].to = vec!["nobody@relaykit.test".into()];
        msgs[2].text = Some(".a line starting with a dot\n".into());
        let out = m.send_many(&msgs).await;
        assert_eq!(out[0].as_ref().unwrap().reply.text, "queued 1");
        let e = out[1].as_ref().unwrap_err();
        assert_eq!((e.kind(), e.code()), (ErrorKind::RecipientRejected, Some(550)), "{e}");
        assert_eq!(out[2].as_ref().unwrap().reply.text, "queued 3");
        m.close().await;
        let stream = server.await.unwrap();
        assert_eq!(stream.matches("BDAT ").count(), 3, "{stream}");
        assert!(!stream.contains("\r\nDATA\r\n"), "no DATA with CHUNKING: {stream}");
        assert!(stream.contains("\r\n.a line starting with a dot\r\n"), "no dot-stuffing in a chunk: {stream}");
        // Each BDAT's size is exactly the bytes that follow it up to the RSET.
        for part in stream.split("BDAT ").skip(1) {
            let (size, rest) = part.split_once(" LAST\r\n").unwrap();
            let body = rest.split_once("RSET\r\n").unwrap().0;
            assert_eq!(size.parse::<usize>().unwrap(), body.len(), "{part}");
        }
    }))
    .await;
}

#[tokio::test]
async fn a_chunked_stream_cut_off_leaves_the_sent_messages_unknown() {
    bounded(Box::pin(async {
        let (listener, port) = listen().await;
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut rd = BufReader::new(tcp);
            let mut log = Vec::new();
            play(&mut rd, &[Send("220 fake.test ESMTP\r\n"), Expect("EHLO"), Send(EHLO_CHUNKING)], &mut log)
                .await
                .unwrap();
            let _ = read_stream(&mut rd, 1).await;
            rd.get_mut().write_all(b"250 ok\r\n250 ok\r\n250 queued 1\r\n250 reset\r\n").await.unwrap();
            // Messages 2 and 3 are written whole; then the connection is gone, unanswered.
            let _ = read_stream(&mut rd, 2).await;
        });
        let m = mailer(port, &json!({"max_connections": 1, "retry": {"max_attempts": 1}}));
        let msgs: Vec<Message> = (1..=3).map(|n| message(n, &["carol@relaykit.test"])).collect();
        let out = m.send_many(&msgs).await;
        server.await.unwrap();
        assert!(out[0].is_ok(), "{:?}", out[0]);
        for r in &out[1..] {
            let e = r.as_ref().unwrap_err();
            assert_eq!((e.fate(), e.transient()), (Fate::Unknown, false), "{e}");
        }
        m.close().await;
    }))
    .await;
}

#[tokio::test]
async fn stream_window_one_writes_one_message_per_round_trip() {
    bounded(Box::pin(async {
        let (listener, port) = listen().await;
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut rd = BufReader::new(tcp);
            let mut log = Vec::new();
            play(&mut rd, &[Send("220 fake.test ESMTP\r\n"), Expect("EHLO"), Send(EHLO_CHUNKING)], &mut log)
                .await
                .unwrap();
            for n in 1..=3 {
                // Exactly one message arrives before its replies are sent.
                let got = read_stream(&mut rd, 1).await;
                assert_eq!(got.matches("RSET\r\n").count(), 1, "message {n} came alone: {got}");
                let replies = format!("250 ok\r\n250 ok\r\n250 queued {n}\r\n250 reset\r\n");
                rd.get_mut().write_all(replies.as_bytes()).await.unwrap();
            }
            play(&mut rd, &BYE, &mut log).await.unwrap();
        });
        let m = mailer(port, &json!({"max_connections": 1, "stream_window": 1}));
        let msgs: Vec<Message> = (1..=3).map(|n| message(n, &["carol@relaykit.test"])).collect();
        assert!(m.send_many(&msgs).await.iter().all(Result::is_ok));
        m.close().await;
        server.await.unwrap();
    }))
    .await;
}
