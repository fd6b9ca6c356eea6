//! `Mailer`: the core's `relaykit::Mailer` (many messages over a few kept-open connections).
//! The options go to `MailerOptions::from_json_value` through the same reader as `send()`'s,
//! sends and `close()` run on the core's runtime through `engine.rs`'s `spawn`, and results,
//! errors and `stats` are presented by `js.rs`, exactly as `send()`'s are.
//!
//! The JavaScript object holds only the core mailer (a shared handle, safe to use from many
//! concurrent sends) and its trace forwarder, whose threadsafe function is weak: nothing here
//! keeps the process alive once no Promise is pending.

use std::sync::Arc;

use napi::Env;
use napi::bindgen_prelude::{Object, Unknown};
use napi_derive::napi;

use crate::engine::{Done, Trace, read_options, read_or_reject, rejected, spawn};
use crate::error::{JsResult, to_js};
use crate::profile::Profile;

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
        core.trace = o.trace.as_ref().map(Trace::sink);
        let keyring = o.keyring.unwrap_or_default();
        let context = o.context.unwrap_or_default();
        let inner = relaykit::Mailer::new(&profile.inner, &keyring, &context, core).js(env)?;
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
            async move { mailer.send(&message).await.map(|r| Done(Some(r.to_json_value()))) },
        )
    }

    /// Closes the mailer: later sends reject at once; idle connections are closed with QUIT
    /// now, those in use when their send finishes. Resolves when the idle ones are closed.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn close<'e>(&self, env: &'e Env) -> napi::Result<Object<'e>> {
        let mailer = self.inner.clone();
        spawn(env, self.trace.clone(), async move {
            mailer.close().await;
            Ok(Done(None))
        })
    }

    /// What the mailer has done so far: messages sent and failed, reconnects, connections
    /// opened and open now.
    #[napi(getter, ts_return_type = "MailerStats")]
    pub fn stats<'e>(&self, env: &'e Env) -> napi::Result<Object<'e>> {
        let json = serde_json::to_value(self.inner.stats())
            .map_err(|e| to_js(*env, &relaykit::Error::internal(e.to_string())))?;
        crate::js::presented(*env, json)
    }
}
