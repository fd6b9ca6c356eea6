//! Test (§5, the dialog's Test button): the staged probe. Invalid input is `Err`; anything the
//! server does is in the [`TestReport`].

use crate::connection::{self, Progress};
use crate::error::{Result, Stage};
use crate::options::{RelayCheckRequest, TestOptions};
use crate::profile::Profile;
use crate::report::{RelayCheck, TestReport};
use crate::rrt::RrtContext;
use crate::secret::Keyring;
use crate::session::Session;

/// Test (§5): resolves the profile (tags expanded and the password decrypted at this moment
/// only), then opens a session stage by stage, authenticates when required, runs the relay
/// check when asked, and quits.
pub async fn test_async(
    profile: &Profile,
    keyring: &Keyring,
    ctx: &RrtContext,
    options: &TestOptions,
) -> Result<TestReport> {
    let settings = profile.resolve_for(keyring, ctx, options.token_provider.is_some())?;
    if let Some(r) = &options.relay_check {
        r.validate()?;
    }
    let mut progress = Progress::default();
    let mut relay = None;
    let result = probe(&settings, options, &mut progress, &mut relay).await;
    let error = result.err().map(|e| progress.hinted(e, &settings));
    Ok(TestReport {
        ok: error.is_none() && relay.as_ref().is_none_or(|r: &RelayCheck| r.ok),
        stages: progress.stages,
        server: progress.server,
        tls: progress.tls,
        auth: progress.auth,
        relay,
        warnings: progress.warnings,
        error,
    })
}

async fn probe(
    settings: &crate::resolve::Settings,
    options: &TestOptions,
    progress: &mut Progress,
    relay: &mut Option<RelayCheck>,
) -> Result<()> {
    // Boxed: opening (proxy, TLS, AUTH) is most of the future's state; the caller's future
    // stays small (clippy::large_futures) at the cost of one allocation per connection.
    let mut s = Box::pin(connection::open(
        settings,
        options.trace.clone(),
        options.ntlm_helper.as_ref(),
        options.token_provider.as_ref(),
        progress,
    ))
    .await?;
    if let Some(rc) = &options.relay_check {
        *relay = Some(relay_check(&mut s, rc, progress).await?);
    }
    let _ = progress.timed(Stage::Quit, s.quit()).await;
    Ok(())
}

async fn relay_check(s: &mut Session, rc: &RelayCheckRequest, progress: &mut Progress) -> Result<RelayCheck> {
    let from = rc.from.trim();
    let to = rc.to.trim();
    let mail = progress.timed(Stage::MailFrom, s.command(&format!("MAIL FROM:<{from}>"))).await?;
    let mut check = RelayCheck { from: from.to_owned(), to: to.to_owned(), ok: false, reply: mail.to_string() };
    if mail.is_positive() {
        let rcpt = progress.timed(Stage::RcptTo, s.command(&format!("RCPT TO:<{to}>"))).await?;
        check.ok = rcpt.is_positive();
        check.reply = rcpt.to_string();
    }
    // The stage is "ok" only when the server would relay.
    if let Some(st) = progress.stages.last_mut() {
        st.ok = check.ok;
    }
    progress.timed(Stage::Rset, s.rset()).await?;
    Ok(check)
}

/// [`test_async`], blocking the calling thread (not from inside an async runtime).
pub fn test(profile: &Profile, keyring: &Keyring, ctx: &RrtContext, options: &TestOptions) -> Result<TestReport> {
    crate::runtime::block_on(test_async(profile, keyring, ctx, options))?
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn a_relay_check_address_with_crlf_is_refused_before_connecting() {
        // Port 9 on a documentation address: connecting would fail differently (and slowly).
        let p = Profile::from_json(r#"{"server": "192.0.2.1", "port": 9, "timeout_secs": 1}"#).unwrap();
        let o = TestOptions {
            relay_check: Some(RelayCheckRequest { from: "a@x.test".into(), to: "b@x.test\r\nRCPT TO:<c@y>".into() }),
            ..TestOptions::default()
        };
        let e = test(&p, &Keyring::new(), &RrtContext::new(), &o).unwrap_err();
        assert!(e.message().starts_with("options.relay_check.to:"), "{e}");
    }
}
