//! Session tests against a scripted fake SMTP server on 127.0.0.1:0.
//!
//! CONVENTIONS.md wants real servers (tests/servers/) for integration tests. These use a fake,
//! and each test says why: either the fault cannot be produced by a real server on demand (a
//! server that never answers, speaks the wrong protocol on a port, sends 354 with no valid
//! recipient), or the point is the exact bytes and their grouping on the wire (pipelining),
//! which a real server does not let us observe. The real-server suite is `servers.rs` and the
//! conformance cases.
//!
//! Every wait is bounded: the fake server's reads by `SERVER_WAIT`, the client by its
//! configured timeout, and each test as a whole by `TEST_WAIT`. No sleeps.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use relaykit::session::{
    Direction, Mail, MailParams, SaslStep, Session, SessionConfig, TlsMode, TlsUpgrade, TraceEvent, TraceSink,
};
use relaykit::{Error, ErrorKind, Stage};
use rustls::ServerConfig;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use zeroize::Zeroizing;

const SERVER_WAIT: Duration = Duration::from_secs(10);
const TEST_WAIT: Duration = Duration::from_secs(20);

#[derive(Clone, Debug)]
enum Step {
    /// Write these bytes.
    Send(&'static str),
    /// Read a line; it must start with this.
    Expect(&'static str),
    /// Like `Expect`, and the line must already be buffered: it came in the same read as the
    /// previous line, i.e. the client wrote them together without waiting for a reply.
    Buffered(&'static str),
    /// Read message content up to the `.` line; logged as one `DATA:<content>` entry.
    Data,
    /// TLS handshake as the server.
    StartTls,
    /// Stop answering; wait (bounded) for the client to go away.
    Hang,
}
use Step::{Buffered, Data, Expect, Hang, Send, StartTls};

struct Fake {
    port: u16,
    task: JoinHandle<Result<Vec<String>, String>>,
}

impl Fake {
    /// The lines the server received, or why its script failed.
    async fn log(self) -> Vec<String> {
        match tokio::time::timeout(TEST_WAIT, self.task).await {
            Ok(Ok(Ok(log))) => log,
            Ok(Ok(Err(e))) => panic!("fake server script failed: {e}"),
            Ok(Err(e)) => panic!("fake server panicked: {e}"),
            Err(elapsed) => panic!("fake server did not finish: {elapsed}"),
        }
    }
}

async fn read_line<S: AsyncRead + AsyncWrite + Unpin>(rd: &mut BufReader<S>) -> Result<String, String> {
    let mut line = String::new();
    match tokio::time::timeout(SERVER_WAIT, rd.read_line(&mut line)).await {
        Err(_) => Err("timed out waiting for the client".into()),
        Ok(Err(e)) => Err(format!("read: {e}")),
        Ok(Ok(0)) => Err("client closed the connection".into()),
        Ok(Ok(_)) => Ok(line.trim_end_matches(['\r', '\n']).to_owned()),
    }
}

/// Plays `steps` until the end or a `StartTls`; returns the index where it stopped.
async fn play<S: AsyncRead + AsyncWrite + Unpin>(
    rd: &mut BufReader<S>,
    steps: &[Step],
    log: &mut Vec<String>,
) -> Result<usize, String> {
    for (i, step) in steps.iter().enumerate() {
        match step {
            Send(s) => {
                rd.get_mut().write_all(s.as_bytes()).await.map_err(|e| e.to_string())?;
                rd.get_mut().flush().await.map_err(|e| e.to_string())?;
            }
            Expect(p) | Buffered(p) => {
                if matches!(step, Buffered(_)) && !rd.buffer().starts_with(p.as_bytes()) {
                    return Err(format!(
                        "{p:?} was not sent together with the previous line; buffer: {:?}",
                        String::from_utf8_lossy(rd.buffer())
                    ));
                }
                let line = read_line(rd).await?;
                if !line.starts_with(p) {
                    return Err(format!("expected {p:?}, got {line:?}"));
                }
                log.push(line);
            }
            Data => {
                let mut content = Vec::new();
                loop {
                    let line = read_line(rd).await?;
                    if line == "." {
                        break;
                    }
                    content.push(line);
                }
                log.push(format!("DATA:{}", content.join("\n")));
            }
            StartTls => return Ok(i),
            Hang => {
                let mut sink = String::new();
                let _ = tokio::time::timeout(SERVER_WAIT, rd.read_line(&mut sink)).await;
                return Ok(steps.len());
            }
        }
    }
    Ok(steps.len())
}

/// Starts a fake server playing `steps` for one connection. `tls` is used by `StartTls` steps,
/// or from the first byte when `implicit`.
async fn fake(steps: Vec<Step>, tls: Option<Arc<ServerConfig>>, implicit: bool) -> Fake {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let (tcp, _) = tokio::time::timeout(SERVER_WAIT, listener.accept())
            .await
            .map_err(|_| "no client connected".to_owned())?
            .map_err(|e| e.to_string())?;
        let mut log = Vec::new();
        let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
        if implicit {
            let acceptor = acceptor.ok_or("implicit without a TLS config")?;
            match tokio::time::timeout(SERVER_WAIT, acceptor.accept(tcp)).await {
                Ok(Ok(s)) => {
                    play(&mut BufReader::new(s), &steps, &mut log).await?;
                }
                Ok(Err(e)) => log.push(format!("TLS-FAILED: {e}")),
                Err(_) => log.push("TLS-FAILED: timeout".into()),
            }
            return Ok(log);
        }
        let mut rd = BufReader::new(tcp);
        let at = play(&mut rd, &steps, &mut log).await?;
        if at == steps.len() {
            return Ok(log);
        }
        if !rd.buffer().is_empty() {
            return Err("client sent data before the TLS handshake".into());
        }
        let acceptor = acceptor.ok_or("StartTls without a TLS config")?;
        match tokio::time::timeout(SERVER_WAIT, acceptor.accept(rd.into_inner())).await {
            Ok(Ok(s)) => {
                play(&mut BufReader::new(s), &steps[at + 1..], &mut log).await?;
            }
            Ok(Err(e)) => log.push(format!("TLS-FAILED: {e}")),
            Err(_) => log.push("TLS-FAILED: timeout".into()),
        }
        Ok(log)
    });
    Fake { port, task }
}

fn cfg(port: u16, mode: TlsMode) -> SessionConfig {
    let mut c = SessionConfig::new("127.0.0.1", port, mode);
    c.helo_name = "client.test".into();
    c.timeout = Duration::from_secs(2);
    c
}

async fn connect(c: SessionConfig) -> Session {
    let addr: SocketAddr = ([127, 0, 0, 1], c.port).into();
    Session::connect(c, &[addr]).await.unwrap()
}

/// Bounds a whole test.
async fn bounded<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(TEST_WAIT, f).await.expect("test took too long")
}

const EHLO_PIPELINING: &str = "250-fake.test\r\n250-PIPELINING\r\n250-SIZE 1000000\r\n\
                               250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n";

/// A test CA and a leaf for 127.0.0.1 / localhost signed by it.
struct Pki {
    ca_pem: String,
    server: Arc<ServerConfig>,
}

fn pki() -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "relaykit test CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let mut leaf_params = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    leaf_params.distinguished_name.push(DnType::CommonName, "fake.smtp.test");
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let chain: Vec<CertificateDer<'static>> = vec![leaf.der().clone()];
    let server = ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    Pki { ca_pem: ca_cert.pem(), server: Arc::new(server) }
}

fn rcpts(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn collect_trace(c: &mut SessionConfig) -> Arc<Mutex<Vec<TraceEvent>>> {
    let events = Arc::new(Mutex::new(Vec::new()));
    let e = events.clone();
    c.trace = Some(TraceSink::new(move |ev| e.lock().unwrap().push(ev)));
    events
}

/// Named `session` so that `cargo test -p relaykit session` runs these too.
mod session {
    use super::*;

    // ---- pipelining ----

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
            let mut s = connect(cfg(f.port, TlsMode::Plain)).await;
            s.read_greeting().await.unwrap();
            s.ehlo().await.unwrap();
            let (r1, r2) = (rcpts(&["b@y.test"]), rcpts(&["c@y.test"]));
            let mails = [
                Mail { from: "a@x.test", rcpts: &r1, body: b"one\r\n", params: MailParams::default() },
                Mail { from: "", rcpts: &r2, body: b"two\r\n", params: MailParams::default() },
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

    // ---- rejections ----

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
            let mut s = connect(cfg(f.port, TlsMode::Plain)).await;
            s.read_greeting().await.unwrap();
            s.ehlo().await.unwrap();
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
            let mut s = connect(cfg(f.port, TlsMode::Plain)).await;
            s.read_greeting().await.unwrap();
            s.ehlo().await.unwrap();
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
            let mut s = connect(cfg(f.port, TlsMode::Plain)).await;
            s.read_greeting().await.unwrap();
            s.ehlo().await.unwrap();
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
            let mut s = connect(cfg(f.port, TlsMode::Plain)).await;
            s.read_greeting().await.unwrap();
            s.ehlo().await.unwrap();
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

    // ---- timeouts ----

    /// Fake: a real server cannot be made to stop answering mid-session.
    #[tokio::test]
    async fn silent_server_times_out_at_ehlo_within_the_timeout() {
        bounded(async {
            let f = fake(vec![Send("220 fake.test\r\n"), Expect("EHLO"), Hang], None, false).await;
            let mut c = cfg(f.port, TlsMode::Plain);
            c.timeout = Duration::from_secs(1);
            let mut s = connect(c).await;
            s.read_greeting().await.unwrap();
            let t0 = Instant::now();
            let e = s.ehlo().await.unwrap_err();
            let took = t0.elapsed();
            assert_eq!(e.kind(), ErrorKind::Timeout);
            assert_eq!(e.stage(), Some(Stage::Ehlo));
            assert_eq!(e.message(), "no reply to EHLO within 1 s");
            assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(3), "{took:?}");
            drop(s);
            f.log().await;
        })
        .await;
    }

    /// Fake: a server that accepts the connection and never greets.
    #[tokio::test]
    async fn no_greeting_times_out_with_implicit_tls_hint() {
        bounded(async {
            let f = fake(vec![Hang], None, false).await;
            let mut c = cfg(f.port, TlsMode::StartTlsRequired);
            c.timeout = Duration::from_secs(1);
            let mut s = connect(c).await;
            let t0 = Instant::now();
            let e = s.read_greeting().await.unwrap_err();
            assert!(t0.elapsed() < Duration::from_secs(3));
            assert_eq!((e.kind(), e.stage()), (ErrorKind::Timeout, Some(Stage::Greeting)));
            assert!(e.hint().unwrap().contains("implicit TLS"), "{e}");
            drop(s);
            f.log().await;
        })
        .await;
    }

    // ---- TLS ----

    /// Fake: the real-server suite (with its own CA) comes later; here the certificate is made
    /// per test so that trust, distrust and opportunism can each be shown.
    #[tokio::test]
    async fn starttls_with_extra_ca_verifies_and_resumes() {
        bounded(async {
            let pki = pki();
            let script = || {
                vec![
                    Send("220 fake.test\r\n"),
                    Expect("EHLO"),
                    Send("250-fake.test\r\n250-STARTTLS\r\n250 PIPELINING\r\n"),
                    Expect("STARTTLS"),
                    Send("220 2.0.0 go ahead\r\n"),
                    StartTls,
                    Expect("EHLO"),
                    Send("250-fake.test\r\n250-AUTH PLAIN\r\n250 PIPELINING\r\n"),
                    Expect("QUIT"),
                    Send("221 bye\r\n"),
                ]
            };
            let mut resumed = Vec::new();
            for _ in 0..2 {
                let f = fake(script(), Some(pki.server.clone()), false).await;
                let mut c = cfg(f.port, TlsMode::StartTlsRequired);
                c.trust_anchors =
                    relaykit::session::tls::trust_anchors(pki.ca_pem.as_bytes(), "$.tls_ca_pem", "").unwrap();
                let mut s = connect(c).await;
                s.read_greeting().await.unwrap();
                assert!(s.ehlo().await.unwrap().starttls);
                assert_eq!(s.negotiate_tls().await.unwrap(), TlsUpgrade::Upgraded);
                assert!(s.extensions().is_none(), "STARTTLS forgets the old EHLO");
                assert_eq!(s.ehlo().await.unwrap().auth, ["PLAIN"]);
                let info = s.tls_info().unwrap().clone();
                assert!(info.verified && info.verify_error.is_none());
                assert_eq!(info.version, "TLSv1.3");
                assert!(info.cipher.starts_with("TLS13_"), "{}", info.cipher);
                assert!(info.subject.contains("fake.smtp.test"), "{}", info.subject);
                assert!(info.issuer.contains("relaykit test CA"), "{}", info.issuer);
                assert!(info.not_after.ends_with('Z') && info.not_after.len() == 20, "{}", info.not_after);
                resumed.push(info.resumed);
                s.quit().await.unwrap();
                f.log().await;
            }
            // One shared client config per trust setting: the second session resumes.
            assert_eq!(resumed, [false, true]);
        })
        .await;
    }

    /// Fake: as above; the fault is a certificate from an unknown CA.
    #[tokio::test]
    async fn starttls_untrusted_certificate_is_a_tls_error_with_hint() {
        bounded(async {
            let pki = pki();
            let f = fake(
                vec![
                    Send("220 fake.test\r\n"),
                    Expect("EHLO"),
                    Send("250-fake.test\r\n250 STARTTLS\r\n"),
                    Expect("STARTTLS"),
                    Send("220 go ahead\r\n"),
                    StartTls,
                ],
                Some(pki.server.clone()),
                false,
            )
            .await;
            let mut s = connect(cfg(f.port, TlsMode::StartTlsRequired)).await;
            s.read_greeting().await.unwrap();
            s.ehlo().await.unwrap();
            let e = s.negotiate_tls().await.unwrap_err();
            assert_eq!((e.kind(), e.stage()), (ErrorKind::Tls, Some(Stage::Tls)));
            assert!(e.message().contains("UnknownIssuer"), "{e}");
            assert!(e.hint().unwrap().contains("tls_ca_file"), "{e}");
            let log = f.log().await;
            assert!(log.last().unwrap().starts_with("TLS-FAILED"));
        })
        .await;
    }

    /// Fake: a server (or a man in the middle) that sends bytes after its STARTTLS reply
    /// and before the handshake; no real server does this on purpose.
    #[tokio::test]
    async fn starttls_injection_is_refused() {
        bounded(async {
            let f = fake(
                vec![
                    Send("220 fake.test\r\n"),
                    Expect("EHLO"),
                    Send("250-fake.test\r\n250 STARTTLS\r\n"),
                    Expect("STARTTLS"),
                    Send("220 go ahead\r\n250 injected\r\n"),
                    Hang,
                ],
                None,
                false,
            )
            .await;
            let mut s = connect(cfg(f.port, TlsMode::StartTlsOpportunistic)).await;
            s.read_greeting().await.unwrap();
            s.ehlo().await.unwrap();
            let e = s.negotiate_tls().await.unwrap_err();
            assert_eq!((e.kind(), e.stage()), (ErrorKind::Protocol, Some(Stage::Tls)));
            drop(s);
            f.log().await;
        })
        .await;
    }

    /// Fake: as above; opportunistic STARTTLS accepts the unknown CA and says so.
    #[tokio::test]
    async fn opportunistic_starttls_proceeds_unverified() {
        bounded(async {
            let pki = pki();
            let f = fake(
                vec![
                    Send("220 fake.test\r\n"),
                    Expect("EHLO"),
                    Send("250-fake.test\r\n250 STARTTLS\r\n"),
                    Expect("STARTTLS"),
                    Send("220 go ahead\r\n"),
                    StartTls,
                    Expect("EHLO"),
                    Send("250 fake.test\r\n"),
                ],
                Some(pki.server.clone()),
                false,
            )
            .await;
            let mut s = connect(cfg(f.port, TlsMode::StartTlsOpportunistic)).await;
            s.read_greeting().await.unwrap();
            s.ehlo().await.unwrap();
            assert_eq!(s.negotiate_tls().await.unwrap(), TlsUpgrade::Upgraded);
            s.ehlo().await.unwrap();
            let info = s.tls_info().unwrap();
            assert!(!info.verified);
            assert!(info.verify_error.as_deref().unwrap().contains("UnknownIssuer"));
            assert!(s.is_tls());
            f.log().await;
        })
        .await;
    }

    /// Fake: a server that lacks STARTTLS while the profile requires TLS.
    #[tokio::test]
    async fn required_tls_without_starttls_is_a_tls_error() {
        bounded(async {
            let f = fake(vec![Send("220 fake.test\r\n"), Expect("EHLO"), Send("250 fake.test\r\n"), Hang], None, false)
                .await;
            let mut s = connect(cfg(f.port, TlsMode::StartTlsRequired)).await;
            s.read_greeting().await.unwrap();
            s.ehlo().await.unwrap();
            let e = s.negotiate_tls().await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Tls);
            assert!(e.message().contains("does not offer STARTTLS"), "{e}");
            assert!(e.hint().is_some());
            drop(s);
            f.log().await;
        })
        .await;
    }

    /// Fake: plain SMTP on a port the profile says is implicit TLS (a configuration mistake a
    /// real server shows too; the fake makes it deterministic and quick).
    #[tokio::test]
    async fn implicit_tls_against_plaintext_server_explains() {
        bounded(async {
            let f = fake(vec![Send("220 plain.test ESMTP\r\n"), Hang], None, false).await;
            let mut c = cfg(f.port, TlsMode::Implicit);
            c.timeout = Duration::from_secs(1);
            let mut s = connect(c).await;
            let t0 = Instant::now();
            let e = s.tls_handshake().await.unwrap_err();
            assert!(t0.elapsed() < Duration::from_secs(3));
            assert_eq!((e.kind(), e.stage()), (ErrorKind::Tls, Some(Stage::Tls)));
            assert!(e.hint().unwrap().contains("plain SMTP"), "{e}");
            f.log().await;
        })
        .await;
    }

    /// Fake: an implicit-TLS port reached with plain SMTP waits for a ClientHello forever.
    #[tokio::test]
    async fn plaintext_against_implicit_tls_server_times_out_with_hint() {
        bounded(async {
            let pki = pki();
            let f = fake(vec![Send("220 never\r\n")], Some(pki.server.clone()), true).await;
            let mut c = cfg(f.port, TlsMode::StartTlsOpportunistic);
            c.timeout = Duration::from_secs(1);
            let mut s = connect(c).await;
            let t0 = Instant::now();
            let e = s.read_greeting().await.unwrap_err();
            assert!(t0.elapsed() < Duration::from_secs(3));
            assert_eq!((e.kind(), e.stage()), (ErrorKind::Timeout, Some(Stage::Greeting)));
            assert!(e.hint().unwrap().contains("implicit TLS"), "{e}");
            drop(s);
            f.log().await;
        })
        .await;
    }

    /// Fake: implicit TLS with our own CA, then a send over it.
    #[tokio::test]
    async fn implicit_tls_session_sends() {
        bounded(async {
            let pki = pki();
            let f = fake(
                vec![
                    Send("220 tls.test\r\n"),
                    Expect("EHLO"),
                    Send(EHLO_PIPELINING),
                    Expect("MAIL"),
                    Buffered("RCPT"),
                    Buffered("DATA"),
                    Send("250 ok\r\n250 ok\r\n354 go\r\n"),
                    Data,
                    Send("250 queued\r\n"),
                ],
                Some(pki.server.clone()),
                true,
            )
            .await;
            let mut c = cfg(f.port, TlsMode::Implicit);
            c.trust_anchors = relaykit::session::tls::trust_anchors(pki.ca_pem.as_bytes(), "$.tls_ca_pem", "").unwrap();
            let mut s = connect(c).await;
            assert!(s.tls_handshake().await.unwrap().verified);
            s.read_greeting().await.unwrap();
            s.ehlo().await.unwrap();
            assert_eq!(s.negotiate_tls().await.unwrap(), TlsUpgrade::AlreadyTls);
            let body = vec![b'a'; 300_000];
            let out = s.send_mail("a@x.test", &rcpts(&["b@y.test"]), &body, MailParams::default()).await;
            assert_eq!(out.unwrap().data.text, "queued");
            let log = f.log().await;
            assert_eq!(log[4].len(), "DATA:".len() + 300_000);
        })
        .await;
    }

    // ---- AUTH ----

    /// A SASL client that plays fixed responses and records the challenges.
    pub(super) struct Scripted {
        initial: Option<&'static [u8]>,
        responses: Vec<&'static [u8]>,
        fail_on_step: Option<usize>,
        seen: Vec<Vec<u8>>,
    }

    impl SaslStep for Scripted {
        fn initial_response(
            &mut self,
        ) -> impl Future<Output = relaykit::Result<Option<Zeroizing<Vec<u8>>>>> + std::marker::Send {
            let r = self.initial.map(|b| Zeroizing::new(b.to_vec()));
            async move { Ok(r) }
        }

        fn respond(
            &mut self,
            challenge: &[u8],
        ) -> impl Future<Output = relaykit::Result<Zeroizing<Vec<u8>>>> + std::marker::Send {
            self.seen.push(challenge.to_vec());
            let step = self.seen.len() - 1;
            let r = if self.fail_on_step == Some(step) {
                Err(Error::new(ErrorKind::Crypto, "client gave up"))
            } else {
                Ok(Zeroizing::new(self.responses[step].to_vec()))
            };
            async move { r }
        }
    }

    /// Fake: the real-server AUTH suite belongs to the auth module; here the exchange mechanics
    /// and the redaction of every client line are checked on the wire.
    #[tokio::test]
    async fn auth_login_exchange_is_redacted_in_trace() {
        bounded(async {
            let f = fake(
                vec![
                    Send("220 fake.test\r\n"),
                    Expect("AUTH LOGIN"),
                    Send("334 VXNlcm5hbWU6\r\n"),
                    Expect("dXNlcg=="),
                    Send("334 UGFzc3dvcmQ6\r\n"),
                    Expect("c2VjcmV0"),
                    Send("235 2.7.0 Authentication successful\r\n"),
                    Expect("AUTH PLAIN AHVzZXIAc2VjcmV0"),
                    Send("535 5.7.8 Error: authentication failed\r\n"),
                ],
                None,
                false,
            )
            .await;
            let mut c = cfg(f.port, TlsMode::Plain);
            let trace = collect_trace(&mut c);
            let mut s = connect(c).await;
            s.read_greeting().await.unwrap();
            let mut login =
                Scripted { initial: None, responses: vec![b"user", b"secret"], fail_on_step: None, seen: vec![] };
            let ok = s.auth("LOGIN", &mut login).await.unwrap();
            assert_eq!(ok.code, 235);
            assert_eq!(login.seen, [b"Username:".to_vec(), b"Password:".to_vec()]);
            let mut plain =
                Scripted { initial: Some(b"\0user\0secret"), responses: vec![], fail_on_step: None, seen: vec![] };
            let e = s.auth("PLAIN", &mut plain).await.unwrap_err();
            assert_eq!((e.kind(), e.code()), (ErrorKind::AuthFailed, Some(535)));
            assert_eq!(e.hint(), Some("535: user name or password rejected"));
            f.log().await;
            let client: Vec<String> = trace
                .lock()
                .unwrap()
                .iter()
                .filter(|e| e.direction == Direction::Client)
                .map(|e| e.text.clone())
                .collect();
            assert_eq!(client, ["AUTH LOGIN", "<redacted>", "<redacted>", "AUTH PLAIN <redacted>"]);
        })
        .await;
    }

    /// Fake: the client fails mid-exchange; the session cancels with `*` and stays usable.
    #[tokio::test]
    async fn auth_client_error_cancels_with_star() {
        bounded(async {
            let f = fake(
                vec![
                    Send("220 fake.test\r\n"),
                    Expect("AUTH CRAM-MD5"),
                    Send("334 PDEyMzQ1QGZha2UudGVzdD4=\r\n"),
                    Expect("*"),
                    Send("501 5.7.0 Authentication aborted\r\n"),
                    Expect("NOOP"),
                    Send("250 ok\r\n"),
                ],
                None,
                false,
            )
            .await;
            let mut s = connect(cfg(f.port, TlsMode::Plain)).await;
            s.read_greeting().await.unwrap();
            let mut cram = Scripted { initial: None, responses: vec![], fail_on_step: Some(0), seen: vec![] };
            let e = s.auth("CRAM-MD5", &mut cram).await.unwrap_err();
            assert_eq!((e.kind(), e.stage()), (ErrorKind::Crypto, Some(Stage::Auth)));
            assert_eq!(cram.seen, [b"<12345@fake.test>".to_vec()]);
            assert_eq!(s.noop().await.unwrap().code, 250);
            f.log().await;
        })
        .await;
    }
}

/// Compile-time check: the session and its futures are `Send`, so hosts can run them on a
/// multi-threaded runtime (`tokio::spawn`, napi, pyo3 async).
#[allow(dead_code)]
fn futures_are_send(mut s: Session, c: SessionConfig, sasl: &mut session::Scripted) {
    fn is_send<T: std::marker::Send>(_: &T) {}
    is_send(&s);
    is_send(&Session::open(c.clone()));
    let addrs: [SocketAddr; 0] = [];
    is_send(&Session::connect(c, &addrs));
    is_send(&s.send_many(&[]));
    is_send(&s.send_mail("", &[], b"", MailParams::default()));
    is_send(&s.auth("PLAIN", sasl));
    is_send(&s.negotiate_tls());
    is_send(&s.quit());
}

/// Not a fake-server test: a throughput measurement against a real server named by
/// `RELAYKIT_BENCH_SMTP` (e.g. Postfix's `smtp-sink 127.0.0.1:2525 1000`), to compare with
/// `smtp-source -d -s 1 -m N -l 1000`. Run with
/// `RELAYKIT_BENCH_SMTP=127.0.0.1:2525 cargo test --release -p relaykit --test session_fake -- --ignored --nocapture bench`.
#[tokio::test]
#[ignore = "needs RELAYKIT_BENCH_SMTP"]
#[allow(clippy::cast_precision_loss)] // message counts are far below 2^52
async fn bench_one_connection() {
    let Ok(target) = std::env::var("RELAYKIT_BENCH_SMTP") else {
        return;
    };
    let n: usize = std::env::var("RELAYKIT_BENCH_N").ok().and_then(|v| v.parse().ok()).unwrap_or(5000);
    let addr: SocketAddr = target.parse().unwrap();
    let mut c = SessionConfig::new(addr.ip().to_string(), addr.port(), TlsMode::Plain);
    c.helo_name = "bench.test".into();
    let mut body = b"From: a@x.test\r\nTo: b@y.test\r\nSubject: bench\r\n\r\n".to_vec();
    body.extend(std::iter::repeat_n(b'x', 1000));
    body.extend(b"\r\n");
    let to = vec!["b@y.test".to_owned()];

    let mut s = Session::connect(c.clone(), &[addr]).await.unwrap();
    s.read_greeting().await.unwrap();
    println!("server extensions: {:?}", s.ehlo().await.unwrap().lines);
    let t0 = Instant::now();
    for _ in 0..n {
        s.send_mail("a@x.test", &to, &body, MailParams::default()).await.unwrap();
    }
    let one = t0.elapsed();
    let mails: Vec<Mail<'_>> =
        (0..n).map(|_| Mail { from: "a@x.test", rcpts: &to, body: &body, params: MailParams::default() }).collect();
    let t0 = Instant::now();
    let out = s.send_many(&mails).await;
    let many = t0.elapsed();
    assert!(out.iter().all(Result::is_ok));
    s.quit().await.unwrap();
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    println!(
        "{n} messages of {} bytes on one connection: send_mail loop {:.0} msg/s ({:.1} us each), send_many {:.0} msg/s ({:.1} us each)",
        body.len(),
        rate(one),
        one.as_secs_f64() * 1e6 / n as f64,
        rate(many),
        many.as_secs_f64() * 1e6 / n as f64
    );
}

/// The engine's fallback (§4): a server that advertises CRAM-MD5 but cannot do it (504) — a
/// misconfiguration no real server here can be made to show on demand — gets PLAIN next, and
/// both attempts are in the report, in order.
#[tokio::test]
async fn engine_falls_back_to_the_next_mechanism_and_reports_every_attempt() {
    let f = fake(
        vec![
            Send("220 fake ESMTP\r\n"),
            Expect("EHLO "),
            Send("250-fake\r\n250 AUTH CRAM-MD5 PLAIN\r\n"),
            Expect("AUTH CRAM-MD5"),
            Send("504 5.5.4 CRAM-MD5 is not available\r\n"),
            Expect("AUTH PLAIN "),
            Send("235 2.7.0 Authentication successful\r\n"),
            Expect("QUIT"),
            Send("221 2.0.0 Bye\r\n"),
        ],
        None,
        false,
    )
    .await;
    let profile = relaykit::Profile::from_json_value(&serde_json::json!({
        "server": "127.0.0.1", "port": f.port, "starttls": "never", "timeout_secs": 2,
        "requires_authentication": true, "username": "u", "password": "p", "allow_plaintext_password": true,
    }))
    .unwrap();
    let report = bounded(relaykit::test_async(
        &profile,
        &relaykit::Keyring::new(),
        &relaykit::RrtContext::new(),
        &relaykit::TestOptions::default(),
    ))
    .await
    .unwrap();
    f.log().await;
    assert!(report.ok, "{:?}", report.error);
    let auth = report.auth.unwrap();
    assert_eq!(auth.mechanism.as_deref(), Some("PLAIN"));
    let tried: Vec<(&str, bool, Option<u16>)> =
        auth.attempts.iter().map(|a| (a.mechanism.as_str(), a.ok, a.code)).collect();
    assert_eq!(tried, [("CRAM-MD5", false, Some(504)), ("PLAIN", true, Some(235))]);
}
