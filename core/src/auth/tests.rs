use super::*;
use proptest::prelude::*;

fn creds(u: &str, p: &str) -> Credentials {
    Credentials::new(u, Zeroizing::new(p.to_owned()))
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
}

#[test]
fn names_round_trip() {
    for m in Mechanism::ALL {
        assert_eq!(Mechanism::from_name(m.name()), Some(m));
        assert_eq!(Mechanism::from_name(&m.name().to_lowercase()), Some(m));
    }
    assert_eq!(Mechanism::from_name("GSSAPI"), None);
    assert!(Mechanism::Plain.sends_password_in_clear());
    assert!(Mechanism::Login.sends_password_in_clear());
    assert!(Mechanism::Xoauth2.sends_password_in_clear());
    assert!(!Mechanism::CramMd5.sends_password_in_clear());
    assert!(!Mechanism::PREFERENCE.contains(&Mechanism::Xoauth2));
    assert!(Mechanism::OAuthBearer.sends_password_in_clear());
    assert!(!Mechanism::PREFERENCE.contains(&Mechanism::OAuthBearer));
    assert_eq!(Mechanism::TOKEN, [Mechanism::OAuthBearer, Mechanism::Xoauth2]);
    assert!(Mechanism::TOKEN.iter().all(|m| m.takes_token()) && !Mechanism::Plain.takes_token());
}

#[test]
fn oauthbearer_comes_before_xoauth2() {
    let offered = ["XOAUTH2", "OAUTHBEARER", "PLAIN"];
    let n = negotiate(&offered, Some(&[Mechanism::Xoauth2, Mechanism::OAuthBearer]), false, true, false, "u");
    assert_eq!(n.to_try, [Mechanism::OAuthBearer, Mechanism::Xoauth2]);
    // as listed: the profile's order
    let n = negotiate(&offered, Some(&[Mechanism::Xoauth2, Mechanism::OAuthBearer]), true, true, false, "u");
    assert_eq!(n.to_try, [Mechanism::Xoauth2, Mechanism::OAuthBearer]);
    // a bearer token is not sent without TLS unless plaintext is allowed
    let n = negotiate(&offered, Some(Mechanism::TOKEN), false, false, false, "u");
    assert!(n.to_try.is_empty());
    assert_eq!(
        n.unsupported_error().message(),
        "server offers only PLAIN, OAUTHBEARER and XOAUTH2; OAUTHBEARER and XOAUTH2 are not sent without TLS; PLAIN is not in the allowed mechanisms"
    );
}

#[test]
fn negotiate_prefers_the_most_secure() {
    let n = negotiate(
        &["LOGIN", "PLAIN", "cram-md5", "NTLM", "SCRAM-SHA-1", "SCRAM-SHA-256", "XOAUTH2", "GSSAPI"],
        None,
        false,
        true,
        false,
        "",
    );
    assert_eq!(n.to_try, Mechanism::PREFERENCE.to_vec());
    assert_eq!(n.skipped, vec![Skipped { mechanism: Mechanism::Xoauth2, reason: SkipReason::NotAllowed }]);
    assert_eq!(n.unsupported_offered, vec!["GSSAPI".to_owned()]);
}

#[test]
fn negotiate_refuses_plaintext_without_tls() {
    let n = negotiate(&["PLAIN", "LOGIN"], None, false, false, false, "");
    assert!(n.to_try.is_empty());
    let e = n.unsupported_error();
    assert_eq!(e.kind(), ErrorKind::AuthUnsupported);
    assert_eq!(e.stage(), Some(Stage::Auth));
    assert_eq!(e.message(), "server offers only PLAIN and LOGIN, which are not sent without TLS");
    assert_eq!(e.cause(), Some(&Cause::NoMechanism(NoMechanism::PlaintextWithoutTls)));
    // Allowed explicitly, or with TLS.
    let n = negotiate(&["PLAIN", "LOGIN"], None, false, false, true, "");
    assert_eq!(n.to_try, vec![Mechanism::Plain, Mechanism::Login]);
    let n = negotiate(&["PLAIN", "LOGIN"], None, false, true, false, "");
    assert_eq!(n.to_try, vec![Mechanism::Plain, Mechanism::Login]);
    // CRAM-MD5 is not plaintext.
    let n = negotiate(&["PLAIN", "CRAM-MD5"], None, false, false, false, "");
    assert_eq!(n.to_try, vec![Mechanism::CramMd5]);
}

#[test]
fn negotiate_with_allow_list() {
    let offered = ["PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2"];
    let allow = [Mechanism::Login, Mechanism::Xoauth2, Mechanism::CramMd5];
    let n = negotiate(&offered, Some(&allow), false, true, false, "");
    assert_eq!(n.to_try, vec![Mechanism::CramMd5, Mechanism::Login, Mechanism::Xoauth2]);
    let n = negotiate(&offered, Some(&allow), true, true, false, "");
    assert_eq!(n.to_try, vec![Mechanism::Login, Mechanism::Xoauth2, Mechanism::CramMd5]);
    assert!(n.skipped.contains(&Skipped { mechanism: Mechanism::Plain, reason: SkipReason::NotAllowed }));
    // Nothing allowed is offered.
    let n = negotiate(&["PLAIN"], Some(&[Mechanism::Ntlm]), false, false, false, "");
    let e = n.unsupported_error();
    assert_eq!(e.message(), "server offers only PLAIN; PLAIN is not in the allowed mechanisms");
    assert_eq!(e.cause(), Some(&Cause::NoMechanism(NoMechanism::NotAllowed)));
}

#[test]
fn a_domain_account_tries_ntlm_first_unless_the_order_is_as_listed() {
    let offered = ["SCRAM-SHA-256", "SCRAM-SHA-1", "NTLM", "CRAM-MD5"];
    let n = negotiate(&offered, None, false, true, false, "RELAYKIT\\alice");
    assert_eq!(n.to_try, [Mechanism::Ntlm, Mechanism::ScramSha256, Mechanism::ScramSha1, Mechanism::CramMd5]);
    // Not a domain account: the plain preference order.
    for user in ["alice", "alice@relaykit.test", "\\alice", "RELAYKIT\\"] {
        let n = negotiate(&offered, None, false, true, false, user);
        assert_eq!(n.to_try[0], Mechanism::ScramSha256, "{user}");
    }
    // The allow-list still rules: NTLM not allowed, or not offered, is not tried.
    let allow = [Mechanism::ScramSha256, Mechanism::CramMd5];
    let n = negotiate(&offered, Some(&allow), false, true, false, "RELAYKIT\\alice");
    assert_eq!(n.to_try, [Mechanism::ScramSha256, Mechanism::CramMd5]);
    let n = negotiate(&["SCRAM-SHA-256", "PLAIN"], None, false, true, false, "RELAYKIT\\alice");
    assert_eq!(n.to_try, [Mechanism::ScramSha256, Mechanism::Plain]);
    // as_listed keeps the profile's own order.
    let allow = [Mechanism::CramMd5, Mechanism::ScramSha256, Mechanism::Ntlm];
    let n = negotiate(&offered, Some(&allow), true, true, false, "RELAYKIT\\alice");
    assert_eq!(n.to_try, allow);
    let n = negotiate(&offered, Some(&allow), false, true, false, "RELAYKIT\\alice");
    assert_eq!(n.to_try, [Mechanism::Ntlm, Mechanism::ScramSha256, Mechanism::CramMd5]);
}

#[test]
fn unsupported_messages() {
    let e = negotiate::<&str>(&[], None, false, true, false, "").unsupported_error();
    assert!(e.message().contains("does not offer authentication"), "{e}");
    let e = negotiate(&["GSSAPI", "KERBEROS_V4"], None, false, true, false, "").unsupported_error();
    assert_eq!(e.message(), "server offers only GSSAPI and KERBEROS_V4, which relaykit does not support");
    // The token mechanisms need the allow-list (or a token provider): without it they are
    // offered but not allowed.
    let e = negotiate(&["OAUTHBEARER", "XOAUTH2"], None, false, true, false, "").unsupported_error();
    assert_eq!(
        e.message(),
        "server offers only OAUTHBEARER and XOAUTH2; OAUTHBEARER and XOAUTH2 are not in the allowed mechanisms"
    );
    let e = negotiate(&["PLAIN", "CRAM-MD5"], Some(&[Mechanism::Plain]), false, false, false, "").unsupported_error();
    assert_eq!(
        e.message(),
        "server offers only CRAM-MD5 and PLAIN; PLAIN is not sent without TLS; CRAM-MD5 is not in the allowed mechanisms"
    );
}

#[test]
fn debug_never_shows_secrets() {
    let c = creds("alice", "hunter2-secret");
    let d = format!("{c:?}");
    assert!(d.contains("alice") && d.contains(REDACTED) && !d.contains("hunter2"));
    for m in Mechanism::ALL {
        let s = SaslClient::new(m, &c, &AuthOptions::default()).unwrap();
        let d = format!("{s:?}");
        assert!(!d.contains("hunter2"), "{d}");
    }
}

#[test]
fn plain_through_sasl_client_without_sasl_ir() {
    block_on(async {
        let mut s = SaslClient::new(Mechanism::Plain, &creds("u", "p"), &AuthOptions::default()).unwrap();
        // AUTH PLAIN without an initial response: the server's empty 334 gets the message.
        assert_eq!(&s.respond(b"").await.unwrap()[..], b"\0u\0p");
        assert!(s.respond(b"").await.is_err());
        s.finish().unwrap();
    });
}

#[test]
fn scram_through_sasl_client_fails_without_server_signature() {
    block_on(async {
        let mut s = SaslClient::from_inner(
            Mechanism::ScramSha256,
            Inner::Scram(
                scram::Scram::new(scram::Hash::Sha256, &creds("user", "pencil"), Some("rOprNGfwEbeRWgbNEkqO")).unwrap(),
            ),
        );
        s.initial_response().await.unwrap().unwrap();
        s.respond(b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
            .await
            .unwrap();
        // The server says 235 straight away, without v=.
        let e = s.finish().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AuthFailed);
        assert!(e.message().contains("could not prove it knows the password"), "{e}");
        assert_eq!(s.outcome(&e), Outcome::ServerNotProven);
    });
}

#[test]
fn xoauth2_error_is_reported() {
    block_on(async {
        let mut s =
            SaslClient::new(Mechanism::Xoauth2, &creds("u@example.com", "tok"), &AuthOptions::default()).unwrap();
        s.initial_response().await.unwrap().unwrap();
        assert!(s.respond(br#"{"status":"401"}"#).await.unwrap().is_empty());
        assert_eq!(s.server_error(), Some(r#"{"status":"401"}"#));
    });
}

#[test]
fn oauthbearer_error_is_answered_with_ctrl_a() {
    block_on(async {
        let opts = AuthOptions { server: ("smtp.example.com".into(), 587), ..AuthOptions::default() };
        let mut s = SaslClient::new(Mechanism::OAuthBearer, &creds("u@example.com", "tok"), &opts).unwrap();
        let ir = s.initial_response().await.unwrap().unwrap();
        assert_eq!(&ir[..], b"n,a=u@example.com,\x01host=smtp.example.com\x01port=587\x01auth=Bearer tok\x01\x01");
        assert_eq!(&s.respond(br#"{"status":"invalid_token"}"#).await.unwrap()[..], b"\x01");
        assert_eq!(s.server_error(), Some(r#"{"status":"invalid_token"}"#));
    });
}

#[test]
fn initial_response_twice_is_an_error() {
    block_on(async {
        let mut s = SaslClient::new(Mechanism::Login, &creds("u", "p"), &AuthOptions::default()).unwrap();
        assert!(s.initial_response().await.unwrap().is_none());
        assert!(s.initial_response().await.is_err());
    });
}

fn arb_challenge() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..300),
        // Near-valid SCRAM server-first messages.
        "r=[a-zA-Z0-9+/]{0,30},s=[a-zA-Z0-9+/=]{0,12},i=[0-9-]{0,8}(,[a-z]=[^,]{0,5}){0,2}"
            .prop_map(String::into_bytes),
        "(v|e)=[a-zA-Z0-9+/=]{0,50}".prop_map(String::into_bytes),
        // Near-valid NTLM CHALLENGE messages: a real header with random fields.
        (proptest::collection::vec(any::<u8>(), 0..200), any::<u32>(), any::<u16>(), any::<u16>()).prop_map(
            |(tail, flags, len, off)| {
                let mut m = b"NTLMSSP\0\x02\0\0\0".to_vec();
                m.extend_from_slice(&[0, 0, 0, 0, 0x30, 0, 0, 0]);
                m.extend_from_slice(&flags.to_le_bytes());
                m.extend_from_slice(&[1; 16]);
                m.extend_from_slice(&len.to_le_bytes());
                m.extend_from_slice(&len.to_le_bytes());
                m.extend_from_slice(&u32::from(off).to_le_bytes());
                m.extend_from_slice(&tail);
                m
            }
        ),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any sequence of challenges, fed to every mechanism, yields Ok or Err: never a panic.
    #[test]
    fn random_challenges_never_panic(challenges in proptest::collection::vec(arb_challenge(), 1..4)) {
        block_on(async {
            for m in Mechanism::ALL {
                let mut s = SaslClient::new(m, &creds("user", "pencil"), &AuthOptions::default()).unwrap();
                if m.client_first() {
                    let _ = s.initial_response().await;
                }
                for c in &challenges {
                    let _ = s.respond(c).await;
                }
                let _ = s.finish();
            }
        });
    }
}
