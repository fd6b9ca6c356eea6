//! `Mailer`: the core's `relaykit::Mailer` (many messages over a few kept-open connections).
//! The options go to `MailerOptions::from_json_value` through the same reader as `send()`'s,
//! sends and `close()` run on the core's runtime through `engine.rs`'s `spawn`, and results,
//! errors and `stats` are presented by `js.rs`, exactly as `send()`'s are. `sendMany` resolves
//! with one outcome per message, in order: a `SendResult`, or the relaykit `Error` as a value
//! (not a rejection, so that one bad message fails alone).
//!
//! The JavaScript object holds only the core mailer (a shared handle, safe to use from many
//! concurrent sends) and its trace forwarder, whose threadsafe function is weak: nothing here
//! keeps the process alive once no Promise is pending.

use std::sync::Arc;

use napi::Env;
use napi::bindgen_prelude::{Array, FromNapiValue, JsValue, Object, Unknown};
use napi_derive::napi;

use crate::engine::{Done, Trace, read_options, read_or_reject, rejected, spawn};
use crate::error::{JsResult, to_js};
use crate::profile::Profile;
use relaykit::Message;
use serde_json::Value;

/// Sends many messages to one server over pooled connections (at most `maxConnections` open
/// at once). Share one mailer between concurrent sends; `close()` it when done.
#[napi]
pub struct Mailer {
    inner: relaykit::Mailer,
    trace: Option<Arc<Trace>>,
}

impl std::fmt::Debug for Mailer {
    // The core's Debug, which hides the password; the trace forwarder has nothing to show.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

#[napi]
impl Mailer {
    /// Resolves and checks the profile and the options now: an invalid one throws a `CONFIG`
    /// error naming the field (`options.maxConnections` is `options.max_connections`). No
    /// connection is opened until the first send.
    #[napi(constructor, ts_args_type = "profile: Profile, options?: MailerOptions | undefined | null")]
    pub fn new(env: Env, profile: &Profile, options: Option<Object<'_>>) -> napi::Result<Mailer> {
        let o = read_options(&env, options)?;
        let mut core = relaykit::MailerOptions::from_json_value(&o.rest).js(env)?;
        relaykit::capture::Transport::refuse_unreadable(core.transport.as_ref()).js(env)?;
        core.trace = o.trace.as_ref().map(Trace::sink);
        core.progress = o.progress;
        core.token_provider = o.token_provider;
        // The core's defaults for a keyring or context not given, as Test and Send get them.
        let call = relaykit::Call::new(profile.inner.clone(), o.keyring, o.context);
        let inner = relaykit::Mailer::new(&call.profile, &call.keyring, &call.rrt, core).js(env)?;
        Ok(Mailer { inner, trace: o.trace })
    }

    /// Sends `message` over a pooled connection. Resolves with a `SendResult`; rejects with a
    /// relaykit `Error` as `send()` does, and with a `CONFIG` error once the mailer is closed.
    #[napi(ts_args_type = "message: MessageInput", ts_return_type = "Promise<SendResult>")]
    pub fn send<'e>(&self, env: &'e Env, message: Unknown<'e>) -> napi::Result<Object<'e>> {
        let message = read_or_reject!(env, crate::message::from_js(*env, message));
        let mailer = self.inner.clone();
        spawn(
            env,
            self.trace.clone(),
            async move { mailer.send(&message).await.map(|r| Done::Json(r.to_json_value())) },
        )
    }

    /// Sends every message, all queued at once so that the connections pipeline them, each
    /// retried as the options say. Resolves with one outcome per message, in order: its
    /// `SendResult`, or its relaykit `Error` as a value (`err.code`, `err.transient`,
    /// `err.fate`, `err.attempts`); a bad message fails alone. Rejects only when `messages` is
    /// not an array.
    #[napi(
        ts_args_type = "messages: Array<MessageInput>",
        ts_return_type = "Promise<Array<SendResult | RelayKitError>>"
    )]
    pub fn send_many<'e>(&self, env: &'e Env, messages: Unknown<'e>) -> napi::Result<Object<'e>> {
        let read = read_or_reject!(env, read_messages(*env, messages));
        let mailer = self.inner.clone();
        spawn(env, self.trace.clone(), async move { Ok(Done::Outcomes(send_read(&mailer, read).await)) })
    }

    /// Closes the mailer: later sends reject at once; messages queued or in flight still get
    /// their outcome, then every connection is closed with QUIT. Resolves when all are closed.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn close<'e>(&self, env: &'e Env) -> napi::Result<Object<'e>> {
        let mailer = self.inner.clone();
        spawn(env, self.trace.clone(), async move {
            mailer.close().await;
            Ok(Done::Nothing)
        })
    }

    /// What the mailer has done so far: messages sent and failed, retries, reconnects,
    /// connections opened and open now, and messages waiting for a connection.
    #[napi(getter, ts_return_type = "MailerStats")]
    pub fn stats<'e>(&self, env: &'e Env) -> napi::Result<Object<'e>> {
        crate::js::presented(*env, self.inner.stats().to_json_value())
    }
}

/// Each element of the array as a core message, or the error that it is not one (which is
/// then that message's outcome).
fn read_messages(env: Env, messages: Unknown<'_>) -> napi::Result<Vec<relaykit::Result<Message>>> {
    if !messages.is_array()? {
        return Err(to_js(env, &relaykit::Error::config("messages", "expected an array of messages")));
    }
    // SAFETY: checked to be an array of this call's environment just above.
    let array = unsafe { Array::from_napi_value(env.raw(), messages.raw())? };
    let mut out = Vec::with_capacity(array.len() as usize);
    for i in 0..array.len() {
        let item: Unknown<'_> = array.get(i)?.ok_or_else(|| to_js(env, &relaykit::Error::internal("array shrank")))?;
        out.push(match crate::js::core_json(env, item) {
            Ok(json) => Message::from_json_value(&json),
            Err(e) => Err(relaykit::Error::config(&format!("messages[{i}]"), &e.reason)),
        });
    }
    Ok(out)
}

/// `send_many` for the messages that were read, the others' errors kept in their places.
async fn send_read(mailer: &relaykit::Mailer, read: Vec<relaykit::Result<Message>>) -> Vec<relaykit::Result<Value>> {
    let mut good = Vec::with_capacity(read.len());
    let unread: Vec<Option<relaykit::Error>> = read
        .into_iter()
        .map(|r| match r {
            Ok(m) => {
                good.push(m);
                None
            }
            Err(e) => Some(e),
        })
        .collect();
    let mut sent = mailer.send_many(&good).await.into_iter();
    unread
        .into_iter()
        .map(|slot| {
            let r = match slot {
                None => sent.next().unwrap_or_else(|| Err(relaykit::Error::internal("a message got no outcome"))),
                Some(e) => Err(e),
            };
            r.map(|res| res.to_json_value())
        })
        .collect()
}
