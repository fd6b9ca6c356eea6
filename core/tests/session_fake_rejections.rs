//! Session tests against the scripted fake SMTP server (`support/mod.rs` says when a fake is
//! the right tool): rejected recipients and senders, replies a real server will not give on demand, HELO fallback.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod support;

use support::*;

/// Named `session` so that `cargo test -p relaykit session` runs these too.
mod session {
    use super::*;

    /// Fake: a real server cannot be told to refuse every recipient and still answer DATA with
    /// 354, which RFC 2920 makes the client handle.
    #[tokio::test]
    async fn all_recipients_rejected_with_354_sends_dot_and_rset() {
        bounded(async {
            let f = fake(
                vec![
                    Send("220 fake.test\r\n"),
                    Expect("EHLO"),
                    Send(EHLO_PIPELINING),
                    Expect("MAIL"),
                    Expect("RCPT"),
                    Expect("RCPT"),
                    Expect("DATA"),
                    Send("250 ok\r\n550 5.1.1 no such user b\r\n550 5.1.1 no such user c\r\n354 go\r\n"),
                    Expect("."),
                    Buffered("RSET"),
                    Send("554 5.5.1 no valid recipients\r\n250 2.0.0 reset\r\n"),
                    Expect("NOOP"),
                    Send("250 ok\r\n"),
                ],
                None,
                false,
            )
            .await;
            let mut s = ready(f.port).await;
            let e = s
                .send_mail("a@x.test", &rcpts(&["b@y.test", "c@y.test"]), b"body", MailParams::default())
                .await
                .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::RecipientRejected);
            assert_eq!(e.stage(), Some(Stage::RcptTo));
            assert_eq!(e.code(), Some(550));
            assert_eq!(e.enhanced_code(), Some("5.1.1"));
            assert!(e.message().contains("b@y.test") && e.message().contains("c@y.test"), "{e}");
            // The session was reset and is still usable.
            assert_eq!(s.noop().await.unwrap().code, 250);
            f.log().await;
        })
        .await;
    }

    /// Fake: the usual pipelined refusal (DATA answered 554), without a body on the wire.
    #[tokio::test]
    async fn all_recipients_rejected_sends_no_body() {
        bounded(async {
            let f = fake(
                vec![
                    Send("220 fake.test\r\n"),
                    Expect("EHLO"),
                    Send(EHLO_PIPELINING),
                    Expect("MAIL"),
                    Expect("RCPT"),
                    Expect("DATA"),
                    Send("250 ok\r\n550 5.7.1 relay denied\r\n554 5.5.1 no valid recipients\r\n"),
                    Expect("RSET"),
                    Send("250 ok\r\n"),
                    Expect("QUIT"),
                    Send("221 bye\r\n"),
                ],
                None,
                false,
            )
            .await;
            let mut s = ready(f.port).await;
            let e = s
                .send_mail("a@x.test", &rcpts(&["b@y.test"]), b"secret body", MailParams::default())
                .await
                .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::RecipientRejected);
            assert_eq!(e.reply().unwrap().text, "relay denied");
            s.quit().await.unwrap();
            let log = f.log().await;
            assert!(!log.iter().any(|l| l.contains("secret body")));
        })
        .await;
    }

    /// Fake: partial rejection on cue (a real server's refusal depends on its user database).
    #[tokio::test]
    async fn partial_rejection_succeeds_and_lists_refused() {
        bounded(async {
            let f = fake(
                vec![
                    Send("220 fake.test\r\n"),
                    Expect("EHLO"),
                    Send(EHLO_PIPELINING),
                    Expect("MAIL"),
                    Expect("RCPT TO:<ok@y.test>"),
                    Expect("RCPT TO:<bad@y.test>"),
                    Expect("DATA"),
                    Send("250 ok\r\n250 ok\r\n550 5.1.1 <bad@y.test>: Recipient address rejected\r\n354 go\r\n"),
                    Data,
                    Send("250 2.0.0 queued\r\n"),
                ],
                None,
                false,
            )
            .await;
            let mut s = ready(f.port).await;
            let out = s
                .send_mail("a@x.test", &rcpts(&["ok@y.test", "bad@y.test"]), b"hi\r\n", MailParams::default())
                .await
                .unwrap();
            let accepted: Vec<_> = out.accepted().map(|r| r.address.as_str()).collect();
            let rejected: Vec<_> = out.rejected().map(|r| (r.address.as_str(), r.reply.code)).collect();
            assert_eq!(accepted, ["ok@y.test"]);
            assert_eq!(rejected, [("bad@y.test", 550)]);
            f.log().await;
        })
        .await;
    }

    /// Fake: multi-line replies with enhanced codes on every line, and a sender refusal, on cue.
    #[tokio::test]
    async fn multi_line_replies_and_sender_rejected_without_pipelining() {
        bounded(async {
            let f = fake(
                vec![
                    Send("220-fake.test ESMTP\r\n220-no UCE\r\n220 welcome\r\n"),
                    Expect("EHLO"),
                    Send("250-fake.test greets client.test\r\n250-SIZE\r\n250 ENHANCEDSTATUSCODES\r\n"),
                    Expect("MAIL FROM:<spam@x.test> SIZE=4"),
                    Send("550-5.7.1 Sender refused\r\n550-5.7.1 see https://fake.test/why\r\n550 5.7.1 bye\r\n"),
                    Expect("NOOP"),
                    Send("250 2.0.0 ok\r\n"),
                ],
                None,
                false,
            )
            .await;
            let mut s = connect(cfg(f.port, TlsMode::Plain)).await;
            let greeting = s.read_greeting().await.unwrap();
            assert_eq!(greeting.text, "fake.test ESMTP\nno UCE\nwelcome");
            let ext = s.ehlo().await.unwrap();
            assert!(!ext.pipelining && ext.size.is_none() && ext.has("SIZE"));
            assert_eq!(ext.greeting, "fake.test greets client.test");
            let e =
                s.send_mail("spam@x.test", &rcpts(&["b@y.test"]), b"body", MailParams::default()).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::SenderRejected);
            assert_eq!(e.stage(), Some(Stage::MailFrom));
            let r = e.reply().unwrap();
            assert_eq!((r.code, r.enhanced_code.as_deref()), (550, Some("5.7.1")));
            assert_eq!(r.text, "Sender refused\nsee https://fake.test/why\nbye");
            s.noop().await.unwrap();
            f.log().await;
        })
        .await;
    }

    /// Fake: a server without ESMTP is hard to find; the fallback is the point.
    #[tokio::test]
    async fn helo_fallback_then_one_command_at_a_time() {
        bounded(async {
            let f = fake(
                vec![
                    Send("220 old.test SMTP\r\n"),
                    Expect("EHLO client.test"),
                    Send("502 5.5.2 Command not recognized\r\n"),
                    Expect("HELO client.test"),
                    Send("250 old.test\r\n"),
                    Expect("MAIL FROM:<a@x.test>"),
                    Send("250 ok\r\n"),
                    Expect("RCPT TO:<b@y.test>"),
                    Send("250 ok\r\n"),
                    Expect("DATA"),
                    Send("354 go\r\n"),
                    Data,
                    Send("250 queued\r\n"),
                ],
                None,
                false,
            )
            .await;
            let mut s = connect(cfg(f.port, TlsMode::StartTlsOpportunistic)).await;
            s.read_greeting().await.unwrap();
            let ext = s.ehlo().await.unwrap();
            assert!(ext.helo_fallback && ext.lines.is_empty());
            assert_eq!(s.negotiate_tls().await.unwrap(), TlsUpgrade::NotOffered);
            let out = s.send_mail("a@x.test", &rcpts(&["b@y.test"]), b"x\r\n", MailParams::default()).await.unwrap();
            assert_eq!(out.data.text, "queued");
            f.log().await;
        })
        .await;
    }

    #[tokio::test]
    async fn refuses_what_the_server_does_not_offer() {
        // Fake: nothing is sent, so no server is needed beyond the greeting.
        bounded(async {
            let f = fake(
                vec![Send("220 fake.test\r\n"), Expect("EHLO"), Send("250-fake.test\r\n250 SIZE 10\r\n"), Hang],
                None,
                false,
            )
            .await;
            let mut s = ready(f.port).await;
            let r = rcpts(&["b@y.test"]);
            let too_big = s.send_mail("a@x.test", &r, &[b'x'; 11], MailParams::default()).await;
            assert_eq!(too_big.unwrap_err().kind(), ErrorKind::MessageRejected);
            let utf8 = s.send_mail("j\u{f6}rg@x.test", &r, b"x", MailParams::default()).await;
            assert!(utf8.unwrap_err().message().contains("SMTPUTF8"));
            let eight = MailParams { eight_bit_mime: true, ..MailParams::default() };
            let e = s.send_mail("a@x.test", &r, b"x", eight).await.unwrap_err();
            assert!(e.message().contains("8BITMIME"));
            let inject = s.send_mail("a@x.test>\r\nRSET", &r, b"x", MailParams::default()).await;
            assert_eq!(inject.unwrap_err().kind(), ErrorKind::Config);
            drop(s);
            f.log().await;
        })
        .await;
    }
}
