//! Session tests against the scripted fake SMTP server (`support/mod.rs` says when a fake is
//! the right tool): the AUTH exchange on the wire, and the engine's mechanism fallback.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod support;

use support::*;

/// Named `session` so that `cargo test -p relaykit session` runs these too.
mod session {
    use super::*;

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
            assert!(e.hint().is_none(), "the session writes no hint (hints.rs does): {e:?}");
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
