//! Session tests against the scripted fake SMTP server (`support/mod.rs` says when a fake is
//! the right tool): STARTTLS and implicit TLS against per-test certificates.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod support;

use support::*;

/// Named `session` so that `cargo test -p relaykit session` runs these too.
mod session {
    use super::*;
    use relaykit::error::{Cause, CertificateProblem};

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
    async fn starttls_untrusted_certificate_is_a_tls_error_with_its_cause() {
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
            assert_eq!(e.cause(), Some(&Cause::Certificate(CertificateProblem::Untrusted)), "{e:?}");
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
            assert_eq!(e.cause(), Some(&Cause::StartTlsNotOffered), "{e:?}");
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
            assert_eq!(e.cause(), Some(&Cause::PlainTextOnTlsPort), "{e:?}");
            f.log().await;
        })
        .await;
    }

    /// Fake: an implicit-TLS port reached with plain SMTP waits for a ClientHello forever.
    #[tokio::test]
    async fn plaintext_against_implicit_tls_server_times_out_with_its_cause() {
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
            assert_eq!(e.cause(), Some(&Cause::NoGreeting), "{e:?}");
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
}

/// A server that requires a client certificate from its own client CA. Fake: the `ccert` role's
/// Postfix and Dovecot ask for a certificate but admit a connection without one (they decide
/// per command), so no real server here sends the TLS alerts of a refused certificate.
mod client_certificate_required {
    use super::*;
    use relaykit::error::Cause;
    use relaykit::{Keyring, Profile, RrtContext, TestOptions};

    fn demanding_server() -> Arc<ServerConfig> {
        let client_ca = rcgen::generate_simple_self_signed(vec!["client-ca.test".into()]).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(client_ca.cert.der().clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .unwrap();
        let leaf = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf.signing_key.serialize_der()));
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(vec![leaf.cert.der().clone()], key)
            .unwrap();
        Arc::new(config)
    }

    async fn report(extra: serde_json::Value) -> relaykit::TestReport {
        let f = fake(vec![Send("220 fake.test\r\n"), Expect("EHLO")], Some(demanding_server()), true).await;
        let mut p = serde_json::json!({"server": "127.0.0.1", "port": f.port, "encrypted_connection": true,
            "tls_mode": "implicit", "tls_verify": false, "timeout_secs": 5});
        for (k, v) in extra.as_object().unwrap() {
            p[k] = v.clone();
        }
        let p = Profile::from_json_value(&p).unwrap();
        // Boxed: Test's future is large (clippy::large_futures).
        let r = Box::pin(relaykit::test_async(&p, &Keyring::new(), &RrtContext::new(), &TestOptions::default()))
            .await
            .unwrap();
        drop(f.log().await);
        r
    }

    #[tokio::test]
    async fn no_certificate_is_a_tls_error_saying_one_is_required() {
        bounded(async {
            let r = report(serde_json::json!({})).await;
            let e = r.error.as_ref().unwrap();
            assert_eq!((e.kind(), e.cause()), (ErrorKind::Tls, Some(&Cause::ClientCertificateRequired)), "{e}");
            assert!(e.message().contains("requires a client certificate"), "{e}");
            assert!(e.hint().unwrap().contains("tls_client_cert_file"), "{:?}", e.hint());
            assert!(!r.tls.as_ref().unwrap().client_certificate_sent);
        })
        .await;
    }

    #[tokio::test]
    async fn a_certificate_from_another_ca_is_refused() {
        bounded(async {
            let other = rcgen::generate_simple_self_signed(vec!["someone.test".into()]).unwrap();
            let r = report(serde_json::json!({"tls_client_cert_pem": other.cert.pem(),
                "tls_client_key": other.signing_key.serialize_pem()}))
            .await;
            let e = r.error.as_ref().unwrap();
            assert_eq!((e.kind(), e.cause()), (ErrorKind::Tls, Some(&Cause::ClientCertificateRefused)), "{e}");
            assert!(e.message().contains("refused the client certificate"), "{e}");
            assert!(r.tls.as_ref().unwrap().client_certificate_sent);
        })
        .await;
    }
}
