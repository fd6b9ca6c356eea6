//! Test and Send: blocking calls, callback forms, their results, and the trace callback.

use std::ffi::{CString, c_char, c_void};
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use relaykit::session::{TraceEvent, TraceSink};
use relaykit::{Call, Message, SendOptions, SendResult, TestOptions, TestReport};

use crate::error::{
    FfiResult, arg_opt_str, arg_out, arg_ref, core_err, cstring, guard, guard_value, owned_string, rk_error, rk_status,
    write_out,
};
use crate::handles::{rk_keyring, rk_message, rk_profile, rk_rrt_context};

/// The result of a Test (a `relaykit::TestReport`). A server-side failure is *in* the report:
/// `rk_report_ok` is false and `rk_report_error` describes it. Immutable: safe to read from
/// several threads at once. Free with `rk_report_free`.
#[derive(Debug)]
#[allow(non_camel_case_types)]
pub struct rk_report {
    inner: TestReport,
    error: Option<rk_error>,
    mechanism: Option<CString>,
    tls_version: Option<CString>,
    tls_cipher: Option<CString>,
    banner: Option<CString>,
    stage_names: Vec<CString>,
    warnings: Vec<CString>,
}

impl rk_report {
    fn new(inner: TestReport) -> Self {
        let tls = inner.tls.as_ref();
        rk_report {
            error: inner.error.as_ref().map(rk_error::from_core),
            mechanism: inner.auth.as_ref().and_then(|a| a.mechanism.as_deref()).map(cstring),
            tls_version: tls.map(|t| cstring(t.version.as_str())),
            tls_cipher: tls.map(|t| cstring(t.cipher.as_str())),
            banner: inner.server.as_ref().map(|s| cstring(s.banner.as_str())),
            stage_names: inner.stages.iter().map(|s| cstring(s.stage.as_str())).collect(),
            warnings: inner.warnings.iter().map(|w| cstring(w.as_str())).collect(),
            inner,
        }
    }
}

/// One recipient the server refused, with its reply.
#[derive(Debug)]
struct Rejected {
    address: CString,
    code: u16,
    enhanced_code: Option<CString>,
    message: CString,
}

/// The result of a successful Send (a `relaykit::SendResult`): the recipients accepted and
/// refused, the Message-ID and the server's final reply. Immutable: safe to read from several
/// threads at once. Free with `rk_send_result_free`.
#[derive(Debug)]
#[allow(non_camel_case_types)]
pub struct rk_send_result {
    inner: SendResult,
    accepted: Vec<CString>,
    rejected: Vec<Rejected>,
    message_id: Option<CString>,
    reply: CString,
}

impl rk_send_result {
    pub(crate) fn new(inner: SendResult) -> Self {
        rk_send_result {
            accepted: inner.accepted.iter().map(|a| cstring(a.as_str())).collect(),
            rejected: inner
                .rejected
                .iter()
                .map(|r| Rejected {
                    address: cstring(r.address.as_str()),
                    code: r.reply.code,
                    enhanced_code: r.reply.enhanced_code.as_deref().map(cstring),
                    message: cstring(r.reply.text.as_str()),
                })
                .collect(),
            message_id: inner.message_id.as_deref().map(cstring),
            reply: cstring(inner.reply.to_string()),
            inner,
        }
    }
}

// ---- trace ---------------------------------------------------------------------------------

/// Receives one line of the SMTP conversation: `direction` is `"C"` (relaykit sent it) or
/// `"S"` (the server sent it); `line` has no line ending. AUTH payloads and passwords are
/// already replaced by `<redacted>`. Both strings are valid only during the call. Called on
/// the thread running the Test or Send (a relaykit thread for the `_async` forms), possibly on
/// several threads at once, so it must be thread-safe and quick.
#[allow(non_camel_case_types)]
pub type rk_trace_callback = Option<extern "C" fn(user: *mut c_void, direction: *const c_char, line: *const c_char)>;

/// Like `rk_trace_callback`, with the line's connection: for a mailer's connections their id
/// (1, 2, ... in the order they opened, so that interleaved lines can be told apart), 0 for a
/// Test or Send (one connection of its own). Set with `rk_set_trace_connection_callback`.
#[allow(non_camel_case_types)]
pub type rk_trace_connection_callback =
    Option<extern "C" fn(user: *mut c_void, direction: *const c_char, line: *const c_char, connection: u64)>;

/// The C callback, of either kind, and its user pointer, callable from any thread.
#[derive(Clone, Copy)]
enum TraceFn {
    Lines(extern "C" fn(*mut c_void, *const c_char, *const c_char)),
    WithConnection(extern "C" fn(*mut c_void, *const c_char, *const c_char, u64)),
}

#[derive(Clone, Copy)]
struct TraceHook {
    cb: TraceFn,
    user: *mut c_void,
}

// SAFETY: the header requires the trace callback and its user pointer to be usable from any
// thread; relaykit only passes the pointer back.
unsafe impl Send for TraceHook {}
// SAFETY: as above.
unsafe impl Sync for TraceHook {}

impl TraceHook {
    // A method, so that closures capture the whole (Send + Sync) hook, not its raw fields.
    fn call(self, ev: TraceEvent) {
        let dir = cstring(ev.direction.as_str());
        let line = cstring(ev.text);
        match self.cb {
            TraceFn::Lines(cb) => cb(self.user, dir.as_ptr(), line.as_ptr()),
            TraceFn::WithConnection(cb) => cb(self.user, dir.as_ptr(), line.as_ptr(), ev.connection.unwrap_or(0)),
        }
    }
}

static TRACE: Mutex<Option<TraceHook>> = Mutex::new(None);

fn set_trace(hook: Option<TraceHook>) -> rk_status {
    guard(|| {
        *TRACE.lock().unwrap_or_else(PoisonError::into_inner) = hook;
        Ok(())
    })
}

/// Sets the process-wide trace callback (NULL turns tracing off), replacing the one set by
/// either this or `rk_set_trace_connection_callback`. Every Test, Send and mailer that starts
/// afterwards reports each line of its SMTP conversation to `cb` with `user`; one that is
/// already running (a mailer: made before) keeps the callback it started with. `user` must
/// stay valid until the callback is replaced and every call and mailer that started before
/// has finished.
#[unsafe(no_mangle)]
pub extern "C" fn rk_set_trace_callback(cb: rk_trace_callback, user: *mut c_void) -> rk_status {
    set_trace(cb.map(|cb| TraceHook { cb: TraceFn::Lines(cb), user }))
}

/// `rk_set_trace_callback` for a callback that also receives each line's connection id
/// (`rk_trace_connection_callback`); it replaces the other kind, and NULL turns tracing off.
#[unsafe(no_mangle)]
pub extern "C" fn rk_set_trace_connection_callback(cb: rk_trace_connection_callback, user: *mut c_void) -> rk_status {
    set_trace(cb.map(|cb| TraceHook { cb: TraceFn::WithConnection(cb), user }))
}

pub(crate) fn trace_sink() -> Option<TraceSink> {
    let hook = (*TRACE.lock().unwrap_or_else(PoisonError::into_inner))?;
    Some(TraceSink::new(move |ev: TraceEvent| hook.call(ev)))
}

// ---- inputs --------------------------------------------------------------------------------

/// The owned inputs of a Test or Send (the `_async` forms outlive the caller's handles); a NULL
/// keyring or context gets the core's default.
pub(crate) fn inputs(
    profile: *const rk_profile,
    keyring: *const rk_keyring,
    ctx: *const rk_rrt_context,
) -> FfiResult<Call> {
    let profile = arg_ref(profile, "profile")?.inner.clone();
    // SAFETY: a non-NULL handle was made by relaykit and is alive, as the header requires.
    let keyring = unsafe { keyring.as_ref() }.map(|k| k.inner.clone());
    // SAFETY: as above.
    let ctx = unsafe { ctx.as_ref() }.map(|c| c.inner.clone());
    Ok(Call::new(profile, keyring, ctx))
}

fn test_options(options_json: *const c_char) -> FfiResult<TestOptions> {
    let text = arg_opt_str(options_json, "options_json")?.unwrap_or("null");
    let mut o = TestOptions::from_json(text).map_err(|e| core_err(&e))?;
    o.trace = trace_sink();
    o.token_provider = crate::token::provider();
    Ok(o)
}

fn send_options(options_json: *const c_char) -> FfiResult<SendOptions> {
    let text = arg_opt_str(options_json, "options_json")?.unwrap_or("null");
    let mut o = SendOptions::from_json(text).map_err(|e| core_err(&e))?;
    relaykit::capture::Transport::refuse_unreadable(o.transport.as_ref()).map_err(|e| core_err(&e))?;
    o.trace = trace_sink();
    o.token_provider = crate::token::provider();
    o.progress = crate::progress::sink();
    Ok(o)
}

// ---- blocking ------------------------------------------------------------------------------

/// Tests the profile (the dialog's Test button): resolve, connect, greeting, EHLO, TLS, AUTH
/// when required, the relay check when asked for, QUIT. **Blocks** until done (each stage is
/// bounded by the profile's `timeout_secs`).
///
/// `keyring` (NULL: an empty keyring) decrypts an encrypted password; `ctx` (NULL: only
/// `~WIN::NAME~` tags) expands RRTs; `options_json` (NULL: defaults) is
/// `{"relay_check": {"from": "...", "to": "..."}, "ntlm_helper": ["ntlm_auth", "..."]}`.
///
/// Returns `RK_OK` with a new report in `*report_out` (free with `rk_report_free`) whenever
/// the Test ran, **also when the server failed it**: check `rk_report_ok`. Any other status
/// means the input was invalid (`RK_CONFIG`, `RK_RRT`, `RK_CRYPTO`, `RK_INVALID_ARGUMENT`).
/// Must not be called from inside an `_async` callback.
#[unsafe(no_mangle)]
pub extern "C" fn rk_test(
    profile: *const rk_profile,
    keyring: *const rk_keyring,
    ctx: *const rk_rrt_context,
    options_json: *const c_char,
    report_out: *mut *mut rk_report,
) -> rk_status {
    guard(|| {
        let i = inputs(profile, keyring, ctx)?;
        let opts = test_options(options_json)?;
        let out = arg_out(report_out, "report_out")?;
        let report = relaykit::runtime::block_on(i.test(&opts)).and_then(|r| r).map_err(|e| core_err(&e))?;
        write_out(out, Box::into_raw(Box::new(rk_report::new(report))));
        Ok(())
    })
}

/// Sends `message` through the profile's server. **Blocks** until the server has answered
/// the end of DATA (each stage is bounded by the profile's `timeout_secs`).
///
/// `keyring`, `ctx` as for `rk_test`; `options_json` (NULL: defaults) is
/// `{"ntlm_helper": [...]}`. RRTs in the message fields are expanded with `ctx`.
///
/// Returns `RK_OK` with a new result in `*result_out` (free with `rk_send_result_free`) when
/// the server accepted the message for at least one recipient; refused recipients are listed
/// in the result. Otherwise the status is the error kind (`RK_AUTH_FAILED`, `RK_CONNECT`,
/// `RK_RECIPIENT_REJECTED`, …) and `rk_last_error()` has the stage, reply code and hint.
/// Must not be called from inside an `_async` callback.
#[unsafe(no_mangle)]
pub extern "C" fn rk_send(
    profile: *const rk_profile,
    keyring: *const rk_keyring,
    ctx: *const rk_rrt_context,
    message: *const rk_message,
    options_json: *const c_char,
    result_out: *mut *mut rk_send_result,
) -> rk_status {
    guard(|| {
        let i = inputs(profile, keyring, ctx)?;
        let m = &arg_ref(message, "message")?.inner;
        let opts = send_options(options_json)?;
        let out = arg_out(result_out, "result_out")?;
        let r = relaykit::runtime::block_on(i.send(m, &opts)).and_then(|r| r).map_err(|e| core_err(&e))?;
        write_out(out, Box::into_raw(Box::new(rk_send_result::new(r))));
        Ok(())
    })
}

// ---- callback forms ------------------------------------------------------------------------

/// Receives the outcome of `rk_test_async`, exactly once, on a relaykit thread.
///
/// - `user`: the pointer given to `rk_test_async`.
/// - `status`: `RK_OK` when the Test ran (then check `rk_report_ok`), else why it could not.
/// - `report`: on `RK_OK` a new report that **the callback owns** and must free with
///   `rk_report_free` (now or later, on any thread); NULL otherwise.
/// - `error`: on failure the error detail, **borrowed**: valid only until the callback
///   returns (read it with the `rk_error_*` accessors; do not free it); NULL on `RK_OK`.
///
/// The callback must not make blocking relaykit calls (`rk_test`, `rk_send`): they fail with
/// `RK_INTERNAL` there. It may start further `_async` calls.
#[allow(non_camel_case_types)]
pub type rk_test_callback =
    Option<extern "C" fn(user: *mut c_void, status: rk_status, report: *mut rk_report, error: *const rk_error)>;

/// Receives the outcome of `rk_send_async`, exactly once, on a relaykit thread. As for
/// `rk_test_callback`: on `RK_OK`, `result` is new and **owned by the callback** (free it with
/// `rk_send_result_free`) and `error` is NULL; otherwise `result` is NULL and `error` is
/// borrowed for the duration of the call.
#[allow(non_camel_case_types)]
pub type rk_send_callback =
    Option<extern "C" fn(user: *mut c_void, status: rk_status, result: *mut rk_send_result, error: *const rk_error)>;

/// The host's user pointer, carried to a relaykit thread.
pub(crate) struct User(pub(crate) *mut c_void);

// SAFETY: the header requires `user` to be usable from the relaykit thread that runs the
// callback; relaykit only passes it back.
unsafe impl Send for User {}

/// Runs `fut` on relaykit's runtime, then `deliver` with its outcome on a blocking-pool thread
/// (so a slow host callback never stalls the I/O threads). A panic becomes `RK_PANIC`.
pub(crate) fn spawn_job<T: Send + 'static>(
    fut: impl Future<Output = relaykit::Result<T>> + Send + 'static,
    deliver: impl FnOnce(Result<T, rk_error>) + Send + 'static,
) -> FfiResult {
    let rt = relaykit::runtime::handle().map_err(|e| core_err(&e))?;
    let job = rt.spawn(fut);
    let pool = Arc::clone(&rt);
    rt.spawn(async move {
        let outcome = match job.await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(rk_error::from_core(&e)),
            Err(_) => Err(rk_error::local(rk_status::RK_PANIC, "panic", "relaykit panicked; please report it")),
        };
        pool.spawn_blocking(move || {
            // Nothing may unwind into the runtime's thread either.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| deliver(outcome)));
        });
    });
    Ok(())
}

/// The callback form of `rk_test` for hosts that cannot block. Checks the arguments, copies
/// the profile, keyring and context (so they may be freed as soon as this returns), starts the
/// Test on relaykit's runtime and returns at once.
///
/// On `RK_OK`, `cb` will be called exactly once with `user`, on a relaykit thread (see
/// `rk_test_callback` for who owns what). On any other status (NULL `profile` or `cb`, bad
/// `options_json`) nothing was started and `cb` is never called.
#[unsafe(no_mangle)]
pub extern "C" fn rk_test_async(
    profile: *const rk_profile,
    keyring: *const rk_keyring,
    ctx: *const rk_rrt_context,
    options_json: *const c_char,
    cb: rk_test_callback,
    user: *mut c_void,
) -> rk_status {
    guard(|| {
        let i = inputs(profile, keyring, ctx)?;
        let opts = test_options(options_json)?;
        let cb = cb.ok_or_else(|| crate::error::invalid("cb is NULL"))?;
        let user = User(user);
        spawn_job(async move { i.test(&opts).await }, move |r| {
            let user = user;
            match r {
                Ok(report) => {
                    cb(user.0, rk_status::RK_OK, Box::into_raw(Box::new(rk_report::new(report))), std::ptr::null());
                }
                Err(e) => cb(user.0, e.status, std::ptr::null_mut(), &raw const e),
            }
        })
    })
}

/// The callback form of `rk_send`. Checks the arguments, copies the profile, keyring, context
/// and message (so they may be freed as soon as this returns), starts the Send on relaykit's
/// runtime and returns at once.
///
/// On `RK_OK`, `cb` will be called exactly once with `user`, on a relaykit thread (see
/// `rk_send_callback`). On any other status nothing was started and `cb` is never called.
#[unsafe(no_mangle)]
pub extern "C" fn rk_send_async(
    profile: *const rk_profile,
    keyring: *const rk_keyring,
    ctx: *const rk_rrt_context,
    message: *const rk_message,
    options_json: *const c_char,
    cb: rk_send_callback,
    user: *mut c_void,
) -> rk_status {
    guard(|| {
        let i = inputs(profile, keyring, ctx)?;
        let m: Message = arg_ref(message, "message")?.inner.clone();
        let opts = send_options(options_json)?;
        spawn_job(async move { i.send(&m, &opts).await }, send_delivery(cb, user)?)
    })
}

/// Checks `cb` and makes the delivery of a Send's outcome to it (see `rk_send_callback`):
/// shared by `rk_send_async` and `rk_mailer_send_async`.
pub(crate) fn send_delivery(
    cb: rk_send_callback,
    user: *mut c_void,
) -> FfiResult<impl FnOnce(Result<SendResult, rk_error>) + Send + 'static> {
    let cb = cb.ok_or_else(|| crate::error::invalid("cb is NULL"))?;
    let user = User(user);
    Ok(move |r: Result<SendResult, rk_error>| {
        let user = user;
        match r {
            Ok(res) => {
                cb(user.0, rk_status::RK_OK, Box::into_raw(Box::new(rk_send_result::new(res))), std::ptr::null());
            }
            Err(e) => cb(user.0, e.status, std::ptr::null_mut(), &raw const e),
        }
    })
}

// ---- report accessors ----------------------------------------------------------------------

fn report<'a>(r: *const rk_report) -> Option<&'a rk_report> {
    arg_ref(r, "report").ok()
}

/// Whether every stage succeeded (false for a NULL report).
#[unsafe(no_mangle)]
pub extern "C" fn rk_report_ok(report: *const rk_report) -> bool {
    guard_value(false, || self::report(report).map(|r| r.inner.ok))
}

/// Writes the report's JSON (§8: `ok`, `stages`, `server`, `tls`, `auth`, `relay`,
/// `warnings`, `error`) to `*json_out`; free it with `rk_string_free`.
#[unsafe(no_mangle)]
pub extern "C" fn rk_report_json(report: *const rk_report, json_out: *mut *mut c_char) -> rk_status {
    guard(|| {
        let r = arg_ref(report, "report")?;
        let out = arg_out(json_out, "json_out")?;
        write_out(out, owned_string(r.inner.to_json()));
        Ok(())
    })
}

/// The failure, or NULL when the Test succeeded: read it with `rk_error_kind`,
/// `rk_error_stage` (the failed stage), `rk_error_code`, `rk_error_hint`, … Owned by the
/// report: valid until `rk_report_free`; do not free it.
#[unsafe(no_mangle)]
pub extern "C" fn rk_report_error(report: *const rk_report) -> *const rk_error {
    guard_value(std::ptr::null(), || self::report(report).and_then(|r| r.error.as_ref().map(std::ptr::from_ref)))
}

/// The authentication mechanism that succeeded (`"SCRAM-SHA-256"`), or NULL when none did or
/// none was required. Owned by the report.
#[unsafe(no_mangle)]
pub extern "C" fn rk_report_auth_mechanism(report: *const rk_report) -> *const c_char {
    guard_value(std::ptr::null(), || self::report(report).and_then(|r| r.mechanism.as_ref().map(|s| s.as_ptr())))
}

/// The TLS version (`"TLSv1.3"`), or NULL when TLS was not used. Owned by the report.
#[unsafe(no_mangle)]
pub extern "C" fn rk_report_tls_version(report: *const rk_report) -> *const c_char {
    guard_value(std::ptr::null(), || self::report(report).and_then(|r| r.tls_version.as_ref().map(|s| s.as_ptr())))
}

/// The TLS cipher suite, or NULL when TLS was not used. Owned by the report.
#[unsafe(no_mangle)]
pub extern "C" fn rk_report_tls_cipher(report: *const rk_report) -> *const c_char {
    guard_value(std::ptr::null(), || self::report(report).and_then(|r| r.tls_cipher.as_ref().map(|s| s.as_ptr())))
}

/// Whether the server's certificate and host name verified (false when TLS was not used).
#[unsafe(no_mangle)]
pub extern "C" fn rk_report_tls_verified(report: *const rk_report) -> bool {
    guard_value(false, || self::report(report).map(|r| r.inner.tls.as_ref().is_some_and(|t| t.verified)))
}

/// The server's 220 greeting text, or NULL when it was not reached. Owned by the report.
#[unsafe(no_mangle)]
pub extern "C" fn rk_report_banner(report: *const rk_report) -> *const c_char {
    guard_value(std::ptr::null(), || self::report(report).and_then(|r| r.banner.as_ref().map(|s| s.as_ptr())))
}

/// The number of stages run (0 for a NULL report).
#[unsafe(no_mangle)]
pub extern "C" fn rk_report_stage_count(report: *const rk_report) -> usize {
    guard_value(0, || self::report(report).map(|r| r.inner.stages.len()))
}

/// The name of stage `index` (`"resolve"`, `"connect"`, `"greeting"`, `"ehlo"`, `"tls"`,
/// `"auth"`, …), or NULL when out of range. Owned by the report.
#[unsafe(no_mangle)]
pub extern "C" fn rk_report_stage_name(report: *const rk_report, index: usize) -> *const c_char {
    guard_value(std::ptr::null(), || self::report(report).and_then(|r| r.stage_names.get(index).map(|s| s.as_ptr())))
}

/// Whether stage `index` succeeded (false when out of range).
#[unsafe(no_mangle)]
pub extern "C" fn rk_report_stage_ok(report: *const rk_report, index: usize) -> bool {
    guard_value(false, || self::report(report).and_then(|r| r.inner.stages.get(index).map(|s| s.ok)))
}

/// The milliseconds stage `index` took (-1 when out of range).
#[unsafe(no_mangle)]
pub extern "C" fn rk_report_stage_ms(report: *const rk_report, index: usize) -> f64 {
    guard_value(-1.0, || self::report(report).and_then(|r| r.inner.stages.get(index).map(|s| s.ms)))
}

/// The number of warnings (things that worked but deserve attention).
#[unsafe(no_mangle)]
pub extern "C" fn rk_report_warning_count(report: *const rk_report) -> usize {
    guard_value(0, || self::report(report).map(|r| r.warnings.len()))
}

/// Warning `index`, or NULL when out of range. Owned by the report.
#[unsafe(no_mangle)]
pub extern "C" fn rk_report_warning(report: *const rk_report, index: usize) -> *const c_char {
    guard_value(std::ptr::null(), || self::report(report).and_then(|r| r.warnings.get(index).map(|s| s.as_ptr())))
}

/// Frees a report and every string it owns. NULL is allowed.
#[unsafe(no_mangle)]
pub extern "C" fn rk_report_free(report: *mut rk_report) {
    if !report.is_null() {
        // SAFETY: report came from Box::into_raw in this library and is freed once, as documented.
        drop(unsafe { Box::from_raw(report) });
    }
}

// ---- send result accessors -----------------------------------------------------------------

fn result<'a>(r: *const rk_send_result) -> Option<&'a rk_send_result> {
    arg_ref(r, "result").ok()
}

/// The number of recipients the server accepted.
#[unsafe(no_mangle)]
pub extern "C" fn rk_send_result_accepted_count(result: *const rk_send_result) -> usize {
    guard_value(0, || self::result(result).map(|r| r.accepted.len()))
}

/// Accepted recipient `index`, or NULL when out of range. Owned by the result.
#[unsafe(no_mangle)]
pub extern "C" fn rk_send_result_accepted(result: *const rk_send_result, index: usize) -> *const c_char {
    guard_value(std::ptr::null(), || self::result(result).and_then(|r| r.accepted.get(index).map(|s| s.as_ptr())))
}

/// The number of recipients the server refused (the message went to the others).
#[unsafe(no_mangle)]
pub extern "C" fn rk_send_result_rejected_count(result: *const rk_send_result) -> usize {
    guard_value(0, || self::result(result).map(|r| r.rejected.len()))
}

/// Refused recipient `index`'s address, or NULL when out of range. Owned by the result.
#[unsafe(no_mangle)]
pub extern "C" fn rk_send_result_rejected_address(result: *const rk_send_result, index: usize) -> *const c_char {
    guard_value(std::ptr::null(), || {
        self::result(result).and_then(|r| r.rejected.get(index).map(|x| x.address.as_ptr()))
    })
}

/// The reply code the server gave refused recipient `index` (0 when out of range).
#[unsafe(no_mangle)]
pub extern "C" fn rk_send_result_rejected_code(result: *const rk_send_result, index: usize) -> u16 {
    guard_value(0, || self::result(result).and_then(|r| r.rejected.get(index).map(|x| x.code)))
}

/// The enhanced status code (`"5.1.1"`) for refused recipient `index`, or NULL. Owned by
/// the result.
#[unsafe(no_mangle)]
pub extern "C" fn rk_send_result_rejected_enhanced_code(result: *const rk_send_result, index: usize) -> *const c_char {
    guard_value(std::ptr::null(), || {
        self::result(result)
            .and_then(|r| r.rejected.get(index).and_then(|x| x.enhanced_code.as_ref().map(|s| s.as_ptr())))
    })
}

/// The server's text for refused recipient `index`, or NULL when out of range. Owned by the
/// result.
#[unsafe(no_mangle)]
pub extern "C" fn rk_send_result_rejected_message(result: *const rk_send_result, index: usize) -> *const c_char {
    guard_value(std::ptr::null(), || {
        self::result(result).and_then(|r| r.rejected.get(index).map(|x| x.message.as_ptr()))
    })
}

/// The Message-ID header sent (`"<...>"`), or NULL for a raw message without one. Owned by
/// the result.
#[unsafe(no_mangle)]
pub extern "C" fn rk_send_result_message_id(result: *const rk_send_result) -> *const c_char {
    guard_value(std::ptr::null(), || self::result(result).and_then(|r| r.message_id.as_ref().map(|s| s.as_ptr())))
}

/// The server's final reply (`"250 2.0.0 Ok: queued as 4XyZ"`). Owned by the result.
#[unsafe(no_mangle)]
pub extern "C" fn rk_send_result_reply(result: *const rk_send_result) -> *const c_char {
    guard_value(std::ptr::null(), || self::result(result).map(|r| r.reply.as_ptr()))
}

/// The final reply's code (250), or 0 for a NULL result.
#[unsafe(no_mangle)]
pub extern "C" fn rk_send_result_reply_code(result: *const rk_send_result) -> u16 {
    guard_value(0, || self::result(result).map(|r| r.inner.reply.code))
}

/// How many transactions it took: 1, or more when a mailer retried the message (or its
/// deferred recipients) after a transient failure; 0 for a NULL result.
#[unsafe(no_mangle)]
pub extern "C" fn rk_send_result_attempts(result: *const rk_send_result) -> u32 {
    guard_value(0, || self::result(result).map(|r| r.inner.attempts))
}

/// Writes the result's JSON (§8: `accepted`, `rejected`, `message_id`, `reply`, `attempts`) to
/// `*json_out`; free it with `rk_string_free`.
#[unsafe(no_mangle)]
pub extern "C" fn rk_send_result_json(result: *const rk_send_result, json_out: *mut *mut c_char) -> rk_status {
    guard(|| {
        let r = arg_ref(result, "result")?;
        let out = arg_out(json_out, "json_out")?;
        write_out(out, owned_string(r.inner.to_json()));
        Ok(())
    })
}

/// Frees a send result and every string it owns. NULL is allowed.
#[unsafe(no_mangle)]
pub extern "C" fn rk_send_result_free(result: *mut rk_send_result) {
    if !result.is_null() {
        // SAFETY: result came from Box::into_raw in this library and is freed once, as documented.
        drop(unsafe { Box::from_raw(result) });
    }
}
