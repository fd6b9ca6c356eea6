//! `rk_mailer`: many messages over a few kept-open connections (the core's `Mailer`).

use std::ffi::{c_char, c_void};

use relaykit::{Mailer, MailerOptions, Message};

use crate::engine::{inputs, rk_send_callback, rk_send_result, send_delivery, spawn_job, trace_sink};
use crate::error::{
    FfiResult, arg_opt_str, arg_out, arg_ref, core_err, guard, guard_value, invalid, owned_string, rk_error, rk_status,
    write_out,
};
use crate::handles::{rk_keyring, rk_message, rk_profile, rk_rrt_context};

/// Sends many messages to one server over pooled connections (at most `max_connections` open
/// at once, opened lazily by the first sends and then reused). Made by `rk_mailer_new`, freed
/// with `rk_mailer_free`.
///
/// **Thread-safe**: unlike the other handles, one `rk_mailer` may be used from several
/// threads at once (`rk_mailer_send`, `rk_mailer_send_many`, `rk_mailer_send_async`,
/// `rk_mailer_stats_json`, `rk_mailer_close`); concurrent senders share its connections, and
/// their messages are pipelined on a busy one. Only `rk_mailer_free` must
/// not race with the other calls.
#[derive(Debug)]
#[allow(non_camel_case_types)]
pub struct rk_mailer {
    inner: Mailer,
}

fn mailer<'a>(m: *const rk_mailer) -> FfiResult<&'a Mailer> {
    arg_ref(m, "mailer").map(|m| &m.inner)
}

fn mailer_options(options_json: *const c_char) -> FfiResult<MailerOptions> {
    let text = arg_opt_str(options_json, "options_json")?.unwrap_or("null");
    let mut o = MailerOptions::from_json(text).map_err(|e| core_err(&e))?;
    relaykit::capture::Transport::refuse_unreadable(o.transport.as_ref()).map_err(|e| core_err(&e))?;
    o.progress = crate::progress::sink();
    o.trace = trace_sink();
    o.token_provider = crate::token::provider();
    Ok(o)
}

/// Makes a mailer for `profile`. The profile is resolved and checked now, with `keyring`
/// (NULL: an empty keyring) and `ctx` (NULL: only `~WIN::NAME~` tags; `ctx` also expands each
/// message's RRTs later); the profile, keyring and context may be freed as soon as this
/// returns. No connection is opened until the first send. The trace callback set at this
/// moment (`rk_set_trace_callback`, or `rk_set_trace_connection_callback` to also get each
/// line's connection id) traces every connection of the mailer.
///
/// `options_json` (NULL: defaults) is `{"max_connections": 2, "max_messages_per_connection":
/// 100, "idle_timeout_secs": 30, "rate_limit": {"messages": 10, "per_secs": 1}, "retry":
/// {"max_attempts": 3, "base_delay_ms": 200, "max_delay_ms": 10000}, "retry_unknown": false,
/// "ntlm_helper": [...]}`; every key is optional (no rate limit by default). A transient
/// failure (`rk_error_transient`) is retried with jittered exponential backoff up to
/// `retry.max_attempts` transactions; a message whose fate is unknown is not sent again
/// unless `retry_unknown` is true.
///
/// On success writes a new mailer to `*mailer_out`. A bad profile or option gives `RK_CONFIG`
/// naming the field (`options.max_connections`); `RK_RRT`, `RK_CRYPTO` as for `rk_send`.
#[unsafe(no_mangle)]
pub extern "C" fn rk_mailer_new(
    profile: *const rk_profile,
    keyring: *const rk_keyring,
    ctx: *const rk_rrt_context,
    options_json: *const c_char,
    mailer_out: *mut *mut rk_mailer,
) -> rk_status {
    guard(|| {
        let call = inputs(profile, keyring, ctx)?;
        let opts = mailer_options(options_json)?;
        let out = arg_out(mailer_out, "mailer_out")?;
        let inner = Mailer::new(&call.profile, &call.keyring, &call.rrt, opts).map_err(|e| core_err(&e))?;
        write_out(out, Box::into_raw(Box::new(rk_mailer { inner })));
        Ok(())
    })
}

/// Sends `message` over one of the mailer's connections (waiting for one while
/// `max_connections` are busy), retrying transient failures as the options say. **Blocks**
/// until the message has its outcome. Results and errors are those of `rk_send`: `RK_OK` with
/// a new result in `*result_out` (free with `rk_send_result_free`; `rk_send_result_attempts`
/// says how many transactions it took), else the error kind with `rk_last_error()`, whose
/// `rk_error_fate` says whether the message may have been delivered anyway. A bad message
/// fails alone; the mailer stays usable. After `rk_mailer_close` it fails at once
/// with `RK_CONFIG` ("the mailer is closed"). Must not be called from inside an `_async`
/// callback.
#[unsafe(no_mangle)]
pub extern "C" fn rk_mailer_send(
    mailer: *const rk_mailer,
    message: *const rk_message,
    result_out: *mut *mut rk_send_result,
) -> rk_status {
    guard(|| {
        let mailer = self::mailer(mailer)?;
        let m = &arg_ref(message, "message")?.inner;
        let out = arg_out(result_out, "result_out")?;
        let r = mailer.send_blocking(m).map_err(|e| core_err(&e))?;
        write_out(out, Box::into_raw(Box::new(rk_send_result::new(r))));
        Ok(())
    })
}

/// The outcomes of `rk_mailer_send_many`: one per message, in the order given, each either a
/// send result or an error. Owns every result and error it holds. Immutable: safe to read
/// from several threads at once. Free with `rk_send_outcomes_free`.
#[derive(Debug)]
#[allow(non_camel_case_types)]
pub struct rk_send_outcomes {
    items: Vec<Result<rk_send_result, rk_error>>,
}

/// Sends every message of `messages[0..count]` over the mailer's connections, all queued at
/// once so that they are pipelined, each retried as the options say. **Blocks** until every
/// message has its outcome. A message that cannot be sent (header injection, a bad tag, a
/// refusal) fails alone: the others still go out.
///
/// Returns `RK_OK` with a new `rk_send_outcomes` in `*outcomes_out` (free it with
/// `rk_send_outcomes_free`) whenever the messages were handed to the mailer, **also when some
/// or all of them failed**: read each one's `rk_send_outcomes_status`, `_result` and `_error`.
/// After `rk_mailer_close` every outcome is the `RK_CONFIG` error "the mailer is closed".
/// A NULL `mailer` or `outcomes_out`, a NULL `messages` with a non-zero `count`, or a NULL
/// element gives `RK_INVALID_ARGUMENT` and sends nothing. The messages are only read: they
/// may be freed as soon as this returns. Thread-safe, as every mailer call; must not be
/// called from inside an `_async` callback.
#[unsafe(no_mangle)]
pub extern "C" fn rk_mailer_send_many(
    mailer: *const rk_mailer,
    messages: *const *const rk_message,
    count: usize,
    outcomes_out: *mut *mut rk_send_outcomes,
) -> rk_status {
    guard(|| {
        let mailer = self::mailer(mailer)?;
        let out = arg_out(outcomes_out, "outcomes_out")?;
        let handles: &[*const rk_message] = if count == 0 {
            &[]
        } else if messages.is_null() {
            return Err(invalid("messages is NULL"));
        } else {
            // SAFETY: the caller promises `count` readable pointers at `messages` for the call.
            unsafe { std::slice::from_raw_parts(messages, count) }
        };
        let mut batch: Vec<Message> = Vec::with_capacity(count);
        for (i, &m) in handles.iter().enumerate() {
            batch.push(arg_ref(m, &format!("messages[{i}]"))?.inner.clone());
        }
        let outcomes = mailer.send_many_blocking(&batch).map_err(|e| core_err(&e))?;
        let items = outcomes.into_iter().map(|r| r.map(rk_send_result::new).map_err(|e| rk_error::from_core(&e)));
        write_out(out, Box::into_raw(Box::new(rk_send_outcomes { items: items.collect() })));
        Ok(())
    })
}

fn outcome<'a>(o: *const rk_send_outcomes, index: usize) -> Option<&'a Result<rk_send_result, rk_error>> {
    arg_ref(o, "outcomes").ok()?.items.get(index)
}

/// The number of outcomes (the `count` given to `rk_mailer_send_many`); 0 for NULL.
#[unsafe(no_mangle)]
pub extern "C" fn rk_send_outcomes_count(outcomes: *const rk_send_outcomes) -> usize {
    guard_value(0, || arg_ref(outcomes, "outcomes").ok().map(|o| o.items.len()))
}

/// Message `index`'s status: `RK_OK` when the server accepted it for at least one recipient
/// (see `rk_send_outcomes_result`), else its error kind (see `rk_send_outcomes_error`);
/// `RK_INVALID_ARGUMENT` when `index` is out of range or `outcomes` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn rk_send_outcomes_status(outcomes: *const rk_send_outcomes, index: usize) -> rk_status {
    guard_value(rk_status::RK_INVALID_ARGUMENT, || {
        outcome(outcomes, index).map(|r| r.as_ref().map_or_else(|e| e.status, |_| rk_status::RK_OK))
    })
}

/// Message `index`'s send result (read it with the `rk_send_result_*` accessors), or NULL
/// when it failed or `index` is out of range. **Owned by the outcomes**: valid until
/// `rk_send_outcomes_free`; do not free it.
#[unsafe(no_mangle)]
pub extern "C" fn rk_send_outcomes_result(outcomes: *const rk_send_outcomes, index: usize) -> *const rk_send_result {
    guard_value(std::ptr::null(), || outcome(outcomes, index)?.as_ref().ok().map(std::ptr::from_ref))
}

/// Message `index`'s error (read it with the `rk_error_*` accessors: kind, message, reply,
/// `rk_error_transient`, `rk_error_fate`, `rk_error_attempts`), or NULL when it was sent or
/// `index` is out of range. **Owned by the outcomes**: valid until `rk_send_outcomes_free`.
#[unsafe(no_mangle)]
pub extern "C" fn rk_send_outcomes_error(outcomes: *const rk_send_outcomes, index: usize) -> *const rk_error {
    guard_value(std::ptr::null(), || outcome(outcomes, index)?.as_ref().err().map(std::ptr::from_ref))
}

/// Frees the outcomes and every result and error they own. NULL is allowed.
#[unsafe(no_mangle)]
pub extern "C" fn rk_send_outcomes_free(outcomes: *mut rk_send_outcomes) {
    if !outcomes.is_null() {
        // SAFETY: outcomes came from Box::into_raw in rk_mailer_send_many and is freed once.
        drop(unsafe { Box::from_raw(outcomes) });
    }
}

/// The callback form of `rk_mailer_send`: copies the message (it may be freed as soon as this
/// returns), starts the send on relaykit's runtime and returns at once. On `RK_OK`, `cb` will
/// be called exactly once with `user` on a relaykit thread, as for `rk_send_async` (see
/// `rk_send_callback`), even if the mailer is freed meanwhile. On any other status nothing
/// was started and `cb` is never called.
#[unsafe(no_mangle)]
pub extern "C" fn rk_mailer_send_async(
    mailer: *const rk_mailer,
    message: *const rk_message,
    cb: rk_send_callback,
    user: *mut c_void,
) -> rk_status {
    guard(|| {
        // A clone shares the pool: the send keeps it alive past rk_mailer_free.
        let mailer = self::mailer(mailer)?.clone();
        let m: Message = arg_ref(message, "message")?.inner.clone();
        spawn_job(async move { mailer.send(&m).await }, send_delivery(cb, user)?)
    })
}

/// Writes what the mailer has done so far to `*json_out` (free it with `rk_string_free`):
/// `{"sent":0,"failed":0,"retried":0,"reconnects":0,"connections_opened":0,
/// "open_connections":0,"queued":0}` — messages accepted and failed, retries after a
/// transient failure, dead connections replaced, connections opened so far, open now, and
/// messages waiting for a connection now.
#[unsafe(no_mangle)]
pub extern "C" fn rk_mailer_stats_json(mailer: *const rk_mailer, json_out: *mut *mut c_char) -> rk_status {
    guard(|| {
        let stats = self::mailer(mailer)?.stats();
        let out = arg_out(json_out, "json_out")?;
        write_out(out, owned_string(stats.to_json()));
        Ok(())
    })
}

/// Closes the mailer. **Blocks** until every message already queued or in flight has its
/// outcome (retries not yet begun are not made) and every connection is closed with QUIT.
/// Later sends fail at once with `RK_CONFIG` ("the mailer is closed"). Closing twice is
/// harmless. Must not be
/// called from inside an `_async` callback.
#[unsafe(no_mangle)]
pub extern "C" fn rk_mailer_close(mailer: *const rk_mailer) -> rk_status {
    guard(|| self::mailer(mailer)?.close_blocking().map_err(|e| core_err(&e)))
}

/// Frees the mailer. NULL is allowed. Does not wait, and loses nothing: sends started with
/// `rk_mailer_send_async` that are still in flight keep the mailer's connections until they
/// finish, and their callbacks are still called exactly once. Idle connections are dropped
/// without QUIT (call `rk_mailer_close` first to end them politely). No other call on this
/// mailer may be running or made afterwards.
#[unsafe(no_mangle)]
pub extern "C" fn rk_mailer_free(mailer: *mut rk_mailer) {
    if !mailer.is_null() {
        // Dropping closes sockets; nothing may unwind into C.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            // SAFETY: mailer came from Box::into_raw in rk_mailer_new and is freed once, as documented.
            drop(unsafe { Box::from_raw(mailer) });
        }));
    }
}
