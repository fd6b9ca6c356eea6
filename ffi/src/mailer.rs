//! `rk_mailer`: many messages over a few kept-open connections (the core's `Mailer`).

use std::ffi::{c_char, c_void};

use relaykit::{Mailer, MailerOptions, Message};

use crate::engine::{inputs, rk_send_callback, rk_send_result, send_delivery, spawn_job, trace_sink};
use crate::error::{FfiResult, arg_opt_str, arg_out, arg_ref, core_err, guard, owned_string, rk_status, write_out};
use crate::handles::{rk_keyring, rk_message, rk_profile, rk_rrt_context};

/// Sends many messages to one server over pooled connections (at most `max_connections` open
/// at once, opened lazily by the first sends and then reused). Made by `rk_mailer_new`, freed
/// with `rk_mailer_free`.
///
/// **Thread-safe**: unlike the other handles, one `rk_mailer` may be used from several
/// threads at once (`rk_mailer_send`, `rk_mailer_send_async`, `rk_mailer_stats_json`,
/// `rk_mailer_close`); concurrent senders share its connections. Only `rk_mailer_free` must
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
    o.trace = trace_sink();
    Ok(o)
}

/// Makes a mailer for `profile`. The profile is resolved and checked now, with `keyring`
/// (NULL: an empty keyring) and `ctx` (NULL: only `~WIN::NAME~` tags; `ctx` also expands each
/// message's RRTs later); the profile, keyring and context may be freed as soon as this
/// returns. No connection is opened until the first send. The trace callback set at this
/// moment (`rk_set_trace_callback`) traces every connection of the mailer.
///
/// `options_json` (NULL: defaults) is `{"max_connections": 2, "max_messages_per_connection":
/// 100, "idle_timeout_secs": 30, "ntlm_helper": [...]}`; every key is optional.
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
/// `max_connections` are busy). **Blocks** until the server has answered the end of DATA.
/// Results and errors are those of `rk_send`: `RK_OK` with a new result in `*result_out`
/// (free with `rk_send_result_free`), else the error kind with `rk_last_error()`. A bad
/// message fails alone; the mailer stays usable. After `rk_mailer_close` it fails at once
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
/// `{"sent":0,"failed":0,"reconnects":0,"connections_opened":0,"open_connections":0}`.
#[unsafe(no_mangle)]
pub extern "C" fn rk_mailer_stats_json(mailer: *const rk_mailer, json_out: *mut *mut c_char) -> rk_status {
    guard(|| {
        let stats = self::mailer(mailer)?.stats();
        let out = arg_out(json_out, "json_out")?;
        let json = serde_json::to_string(&stats).map_err(|e| core_err(&relaykit::Error::internal(e.to_string())))?;
        write_out(out, owned_string(json));
        Ok(())
    })
}

/// Closes the mailer. **Blocks** while its idle connections are closed with QUIT; those in
/// use are closed when their send finishes. Later sends fail at once with `RK_CONFIG`, and
/// sends still waiting for a connection fail now. Closing twice is harmless. Must not be
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
