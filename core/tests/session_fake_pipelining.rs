//! Session tests against the scripted fake SMTP server (`support/mod.rs` says when a fake is
//! the right tool): pipelining, which bytes the client writes together.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod support;

use support::*;

/// Named `session` so that `cargo test -p relaykit session` runs these too.
mod session {
    use super::*;

    /// Fake: the point is which bytes arrive together; a real server does not show that.
    #[tokio::test]
    async fn pipelined_envelope_is_one_write_and_body_is_stuffed() {
        bounded(async {
            let f = fake(
                vec![
                    Send("220 fake.test ESMTP\r\n"),
                    Expect("EHLO client.test"),
                    Send(EHLO_PIPELINING),
                    // MAIL, both RCPTs and DATA arrive before any reply is sent, in one read.
                    Expect("MAIL FROM:<a@example.com> SIZE="),
                    Buffered("RCPT TO:<b@example.org>"),
                    Buffered("RCPT TO:<c@example.org>"),
                    Buffered("DATA"),
                    Send("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"),
                    Data,
                    Send("250 2.0.0 Ok: queued as 4XyZ\r\n"),
                    Expect("QUIT"),
                    Send("221 2.0.0 Bye\r\n"),
                ],
                None,
                false,
            )
            .await;
            let mut c = cfg(f.port, TlsMode::Plain);
            let trace = collect_trace(&mut c);
            let mut s = connect(c).await;
            s.read_greeting().await.unwrap();
            let ext = s.extensions().cloned();
            assert!(ext.is_none());
            assert!(s.ehlo().await.unwrap().pipelining);
            assert_eq!(s.negotiate_tls().await.unwrap(), TlsUpgrade::NotWanted);
            let out = s
                .send_mail(
                    "a@example.com",
                    &rcpts(&["b@example.org", "<c@example.org>"]),
                    b"Subject: t\r\n\r\n.leading dot\r\nbare\nend",
                    MailParams::default(),
                )
                .await
                .unwrap();
            assert_eq!(out.accepted().count(), 2);
            assert_eq!(out.data.code, 250);
            assert_eq!(out.data.enhanced_code.as_deref(), Some("2.0.0"));
            assert_eq!(out.data.text, "Ok: queued as 4XyZ");
            s.quit().await.unwrap();
            let log = f.log().await;
            assert_eq!(log[5], "DATA:Subject: t\n\n..leading dot\nbare\nend");
            let trace = trace.lock().unwrap();
            assert!(trace.iter().any(|e| e.direction == Direction::Client && e.text.starts_with("<message: ")));
            assert!(trace.iter().any(|e| e.direction == Direction::Server && e.text == "250-PIPELINING"));
        })
        .await;
    }

    /// Fake: shows the grouping of message N's content with message N+1's envelope on the wire.
    #[tokio::test]
    async fn send_many_pipelines_body_with_next_envelope() {
        bounded(async {
            let f = fake(
                vec![
                    Send("220 fake.test ESMTP\r\n"),
                    Expect("EHLO"),
                    Send(EHLO_PIPELINING),
                    Expect("MAIL FROM:<a@x.test>"),
                    Buffered("RCPT TO:<b@y.test>"),
                    Buffered("DATA"),
                    Send("250 ok\r\n250 ok\r\n354 go\r\n"),
                    Data,
                    // The next envelope came with the first message's `.`.
                    Buffered("MAIL FROM:<>"),
                    Buffered("RCPT TO:<c@y.test>"),
                    Buffered("DATA"),
                    Send("250 queued 1\r\n250 ok\r\n250 ok\r\n354 go\r\n"),
                    Data,
                    Send("250 queued 2\r\n"),
                ],
                None,
                false,
            )
            .await;
            let mut s = ready(f.port).await;
            let (r1, r2) = (rcpts(&["b@y.test"]), rcpts(&["c@y.test"]));
            let mails = [
                Mail { from: "a@x.test", rcpts: &r1, body: b"one\r\n", params: MailParams::default(), dsn: None },
                Mail { from: "", rcpts: &r2, body: b"two\r\n", params: MailParams::default(), dsn: None },
            ];
            let out = s.send_many(&mails).await;
            assert_eq!(out.len(), 2);
            assert_eq!(out[0].as_ref().unwrap().data.text, "queued 1");
            assert_eq!(out[1].as_ref().unwrap().data.text, "queued 2");
            let log = f.log().await;
            assert_eq!(log[4], "DATA:one");
            assert_eq!(log[8], "DATA:two");
        })
        .await;
    }
}
