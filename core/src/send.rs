//! Send (§6): one message over one session.

use crate::connection::{self, Progress};
use crate::error::Result;
use crate::message::{Message, Prepared};
use crate::options::SendOptions;
use crate::profile::Profile;
use crate::report::{Rejection, SendResult};
use crate::resolve::Settings;
use crate::rrt::RrtContext;
use crate::secret::Keyring;
use crate::session::{Mail, MailOutcome, MailParams, Session};

/// Send (§6): resolves the profile and prepares the message (expanding tags with `ctx` when it
/// asks for that) before connecting, so bad input fails before a byte goes out; then opens a
/// session as the profile says, authenticates, and sends. Fails with the stage and reply; a
/// partial rejection is in the result, no accepted recipient is `recipient_rejected`.
pub async fn send_async(
    profile: &Profile,
    keyring: &Keyring,
    ctx: &RrtContext,
    message: &Message,
    options: &SendOptions,
) -> Result<SendResult> {
    let settings = profile.resolve_for(keyring, ctx, options.token_provider.is_some())?;
    let prepared = message.prepare_in_async(ctx)?;
    if let Some(t) = &options.transport {
        let r = t.deliver(&prepared)?;
        if let Some(p) = &options.progress {
            p.report_end(prepared.bytes.len() as u64);
        }
        return Ok(r);
    }
    let mut progress = Progress::default();
    let result = deliver(&settings, options, &prepared, &mut progress).await;
    result.map_err(|e| progress.hinted(e, &settings))
}

async fn deliver(
    settings: &Settings,
    options: &SendOptions,
    prepared: &Prepared,
    progress: &mut Progress,
) -> Result<SendResult> {
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
    s.set_progress(options.progress.clone());
    let result = transact(&mut s, prepared).await?;
    let _ = s.quit().await;
    Ok(result)
}

/// One mail transaction of `prepared` on an open session (the session stays open).
pub(crate) async fn transact(s: &mut Session, prepared: &Prepared) -> Result<SendResult> {
    let params = MailParams {
        smtputf8: prepared.needs_smtputf8,
        eight_bit_mime: prepared.eight_bit,
        requiretls: prepared.requiretls,
    };
    let mail = Mail {
        from: &prepared.envelope_from,
        rcpts: &prepared.recipients,
        body: &prepared.bytes,
        params,
        dsn: prepared.dsn.as_ref(),
    };
    let out = s
        .send_many(std::slice::from_ref(&mail))
        .await
        .pop()
        .unwrap_or_else(|| Err(crate::error::Error::internal("send_many returned no result")))?;
    Ok(SendResult::of(prepared, out))
}

impl SendResult {
    /// The result of one transaction of `prepared`.
    pub(crate) fn of(prepared: &Prepared, out: MailOutcome) -> SendResult {
        SendResult {
            accepted: out.accepted().map(|r| r.address.clone()).collect(),
            rejected: out
                .rejected()
                .map(|r| Rejection { address: r.address.clone(), reply: r.reply.clone() })
                .collect(),
            message_id: prepared.message_id.clone(),
            reply: out.data,
            attempts: 1,
            deliveries: out.deliveries.into_iter().map(|r| Rejection { address: r.address, reply: r.reply }).collect(),
        }
    }
}

/// [`send_async`], blocking the calling thread (not from inside an async runtime).
pub fn send(
    profile: &Profile,
    keyring: &Keyring,
    ctx: &RrtContext,
    message: &Message,
    options: &SendOptions,
) -> Result<SendResult> {
    crate::runtime::block_on(send_async(profile, keyring, ctx, message, options))?
}
