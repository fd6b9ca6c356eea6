//! LMTP (RFC 2033) on the session's pipelined-DATA and one-command-at-a-time paths, against the
//! scripted fake server (`support/mod.rs` says when a fake is the right tool). Why a fake: the
//! real LMTP server of tests/servers/ (Dovecot) always offers PIPELINING and CHUNKING, so it only
//! exercises the chunked stream (core/tests/reach.rs); these two paths need a server that offers
//! less, with a refusal after the data for one of two accepted recipients.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod support;

use support::*;

const LHLO_PIPELINING: &str = "250-fake.test\r\n250-PIPELINING\r\n250 ENHANCEDSTATUSCODES\r\n";
const LHLO_PLAIN: &str = "250-fake.test\r\n250 ENHANCEDSTATUSCODES\r\n";

/// The LMTP script for one message to a@, b@ (refused at RCPT) and c@, with `envelope` (the
/// client's MAIL/RCPT/DATA lines and the replies, pipelined or not) before the data.
fn script(lhlo: &'static str, envelope: Vec<Step>) -> Vec<Step> {
    let mut steps = vec![Send("220 fake.test LMTP\r\n"), Expect("LHLO client.test"), Send(lhlo)];
    steps.extend(envelope);
    steps.extend([
        Data,
        // One reply per recipient accepted at RCPT, in RCPT order: a@ delivered, c@ over quota.
        Send("250 2.0.0 <a@example.org> Saved\r\n552 5.2.2 <c@example.org> Quota exceeded\r\n"),
        Expect("QUIT"),
        Send("221 2.0.0 Bye\r\n"),
    ]);
    steps
}

async fn lmtp_send(port: u16) -> relaykit::Result<relaykit::session::MailOutcome> {
    let mut c = cfg(port, TlsMode::Plain);
    c.lmtp = true;
    let mut s = connect(c).await;
    s.read_greeting().await.unwrap();
    s.ehlo().await.unwrap();
    let out = s
        .send_mail(
            "s@example.com",
            &rcpts(&["a@example.org", "b@example.org", "c@example.org"]),
            b"Subject: t\r\n\r\nbody\r\n",
            MailParams::default(),
        )
        .await;
    s.quit().await.unwrap();
    out
}

fn check(out: &relaykit::session::MailOutcome) {
    let got: Vec<(&str, u16)> = out.recipients.iter().map(|r| (r.address.as_str(), r.reply.code)).collect();
    assert_eq!(got, [("a@example.org", 250), ("b@example.org", 550), ("c@example.org", 552)]);
    let delivered: Vec<(&str, u16)> = out.deliveries.iter().map(|r| (r.address.as_str(), r.reply.code)).collect();
    assert_eq!(delivered, [("a@example.org", 250), ("c@example.org", 552)]);
    assert_eq!(out.accepted().map(|r| r.address.as_str()).collect::<Vec<_>>(), ["a@example.org"]);
    assert_eq!(out.data.text, "<a@example.org> Saved");
}

#[tokio::test]
async fn lmtp_pipelined_data_reads_one_reply_per_accepted_recipient() {
    bounded(async {
        let f = fake(
            script(
                LHLO_PIPELINING,
                vec![
                    Expect("MAIL FROM:<s@example.com>"),
                    Buffered("RCPT TO:<a@example.org>"),
                    Buffered("RCPT TO:<b@example.org>"),
                    Buffered("RCPT TO:<c@example.org>"),
                    Buffered("DATA"),
                    Send("250 2.1.0 OK\r\n250 2.1.5 OK\r\n550 5.1.1 <b@example.org> User doesn't exist\r\n250 2.1.5 OK\r\n354 OK\r\n"),
                ],
            ),
            None,
            false,
        )
        .await;
        check(&lmtp_send(f.port).await.unwrap());
        f.log().await;
    })
    .await;
}

#[tokio::test]
async fn lmtp_one_command_at_a_time_reads_one_reply_per_accepted_recipient() {
    bounded(async {
        let f = fake(
            script(
                LHLO_PLAIN,
                vec![
                    Expect("MAIL FROM:<s@example.com>"),
                    Send("250 2.1.0 OK\r\n"),
                    Expect("RCPT TO:<a@example.org>"),
                    Send("250 2.1.5 OK\r\n"),
                    Expect("RCPT TO:<b@example.org>"),
                    Send("550 5.1.1 <b@example.org> User doesn't exist\r\n"),
                    Expect("RCPT TO:<c@example.org>"),
                    Send("250 2.1.5 OK\r\n"),
                    Expect("DATA"),
                    Send("354 OK\r\n"),
                ],
            ),
            None,
            false,
        )
        .await;
        check(&lmtp_send(f.port).await.unwrap());
        f.log().await;
    })
    .await;
}

#[tokio::test]
async fn lmtp_refused_after_the_data_for_every_recipient_is_message_rejected_naming_each() {
    bounded(async {
        let f = fake(
            vec![
                Send("220 fake.test LMTP\r\n"),
                Expect("LHLO client.test"),
                Send(LHLO_PLAIN),
                Expect("MAIL FROM:<s@example.com>"),
                Send("250 2.1.0 OK\r\n"),
                Expect("RCPT TO:<a@example.org>"),
                Send("250 2.1.5 OK\r\n"),
                Expect("RCPT TO:<c@example.org>"),
                Send("250 2.1.5 OK\r\n"),
                Expect("DATA"),
                Send("354 OK\r\n"),
                Data,
                Send("452 4.2.2 <a@example.org> Quota exceeded\r\n552 5.2.2 <c@example.org> Quota exceeded\r\n"),
                Expect("QUIT"),
                Send("221 2.0.0 Bye\r\n"),
            ],
            None,
            false,
        )
        .await;
        let mut c = cfg(f.port, TlsMode::Plain);
        c.lmtp = true;
        let mut s = connect(c).await;
        s.read_greeting().await.unwrap();
        s.ehlo().await.unwrap();
        let e = s
            .send_mail("s@example.com", &rcpts(&["a@example.org", "c@example.org"]), b"x\r\n", MailParams::default())
            .await
            .unwrap_err();
        s.quit().await.unwrap();
        assert_eq!((e.kind(), e.stage(), e.code()), (ErrorKind::MessageRejected, Some(Stage::Data), Some(452)));
        assert!(e.message().contains("a@example.org (452") && e.message().contains("c@example.org (552"), "{e}");
        f.log().await;
    })
    .await;
}
