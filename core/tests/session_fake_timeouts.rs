//! Session tests against the scripted fake SMTP server (`support/mod.rs` says when a fake is
//! the right tool): a server that stops answering or never greets.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod support;

use support::*;

/// Named `session` so that `cargo test -p relaykit session` runs these too.
mod session {
    use super::*;
    use relaykit::error::Cause;

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
    async fn no_greeting_times_out_with_its_cause() {
        bounded(async {
            let f = fake(vec![Hang], None, false).await;
            let mut c = cfg(f.port, TlsMode::StartTlsRequired);
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
}
