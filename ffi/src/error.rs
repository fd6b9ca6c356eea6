//! Status codes, the thread-local last error, and the guard every exported function runs in.

use std::cell::RefCell;
use std::ffi::{CStr, CString, c_char};

use relaykit::{Error, ErrorKind, Fate};

/// The result of every fallible relaykit call. The values are fixed and never reused.
///
/// `RK_OK` is success. On any other status, `rk_last_error()` on the same thread describes
/// what went wrong.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum rk_status {
    /// Success.
    RK_OK = 0,
    /// A required pointer was NULL, a string was not valid UTF-8, or a value was out of range.
    RK_INVALID_ARGUMENT = 1,
    /// relaykit panicked; the process is unharmed, the call failed. Please report it.
    RK_PANIC = 2,
    /// The profile, message or an option is invalid (the message names the JSON path).
    RK_CONFIG = 100,
    /// A runtime replacement tag could not be expanded.
    RK_RRT = 101,
    /// A password envelope or key could not be used.
    RK_CRYPTO = 102,
    /// The server name did not resolve.
    RK_DNS = 103,
    /// No TCP connection could be made.
    RK_CONNECT = 104,
    /// A stage did not finish within the timeout.
    RK_TIMEOUT = 105,
    /// TLS failed or the certificate was not trusted.
    RK_TLS = 106,
    /// The server did not speak SMTP as expected.
    RK_PROTOCOL = 107,
    /// No authentication mechanism both sides support is allowed.
    RK_AUTH_UNSUPPORTED = 108,
    /// The server rejected the credentials.
    RK_AUTH_FAILED = 109,
    /// The server refused the sender.
    RK_SENDER_REJECTED = 110,
    /// The server refused every recipient.
    RK_RECIPIENT_REJECTED = 111,
    /// The server refused the message.
    RK_MESSAGE_REJECTED = 112,
    /// A local read or write failed.
    RK_IO = 113,
    /// A bug in relaykit.
    RK_INTERNAL = 114,
}

/// The one place a core error kind becomes a status: a new kind breaks this build.
pub(crate) fn status_of(kind: ErrorKind) -> rk_status {
    match kind {
        ErrorKind::Config => rk_status::RK_CONFIG,
        ErrorKind::Rrt => rk_status::RK_RRT,
        ErrorKind::Crypto => rk_status::RK_CRYPTO,
        ErrorKind::Dns => rk_status::RK_DNS,
        ErrorKind::Connect => rk_status::RK_CONNECT,
        ErrorKind::Timeout => rk_status::RK_TIMEOUT,
        ErrorKind::Tls => rk_status::RK_TLS,
        ErrorKind::Protocol => rk_status::RK_PROTOCOL,
        ErrorKind::AuthUnsupported => rk_status::RK_AUTH_UNSUPPORTED,
        ErrorKind::AuthFailed => rk_status::RK_AUTH_FAILED,
        ErrorKind::SenderRejected => rk_status::RK_SENDER_REJECTED,
        ErrorKind::RecipientRejected => rk_status::RK_RECIPIENT_REJECTED,
        ErrorKind::MessageRejected => rk_status::RK_MESSAGE_REJECTED,
        ErrorKind::Io => rk_status::RK_IO,
        ErrorKind::Internal => rk_status::RK_INTERNAL,
    }
}

/// What became of a message that was not delivered (`rk_error_fate`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum rk_fate {
    /// Not delivered: refused, or never accepted; sending it again cannot duplicate it.
    RK_FATE_REJECTED = 0,
    /// Perhaps delivered: the connection was lost or timed out after the message's final `.`
    /// and before the server's reply (the server may have queued it).
    RK_FATE_UNKNOWN = 1,
}

/// The one place a core fate becomes a C one: a new fate breaks this build.
fn fate_of(f: Fate) -> rk_fate {
    match f {
        Fate::Rejected => rk_fate::RK_FATE_REJECTED,
        Fate::Unknown => rk_fate::RK_FATE_UNKNOWN,
    }
}

/// Error detail: kind, message, stage, SMTP reply, hint, and for a send whether it may
/// succeed later and what became of the message. Read it with the `rk_error_*` accessors; its
/// strings live as long as the error.
#[derive(Debug)]
#[allow(non_camel_case_types)]
pub struct rk_error {
    pub(crate) status: rk_status,
    pub(crate) kind: CString,
    pub(crate) message: CString,
    pub(crate) stage: Option<CString>,
    pub(crate) code: u16,
    pub(crate) enhanced_code: Option<CString>,
    pub(crate) hint: Option<CString>,
    pub(crate) transient: bool,
    pub(crate) fate: rk_fate,
    pub(crate) attempts: u32,
    pub(crate) json: CString,
}

pub(crate) fn cstring(s: impl Into<Vec<u8>>) -> CString {
    let mut v: Vec<u8> = s.into();
    v.retain(|&b| b != 0);
    CString::new(v).unwrap_or_default()
}

impl rk_error {
    pub(crate) fn from_core(e: &Error) -> Self {
        rk_error {
            status: status_of(e.kind()),
            kind: cstring(e.kind().as_str()),
            message: cstring(e.message().into_owned()),
            stage: e.stage().map(|s| cstring(s.as_str())),
            code: e.code().unwrap_or(0),
            enhanced_code: e.enhanced_code().map(cstring),
            hint: e.hint().map(cstring),
            transient: e.transient(),
            fate: fate_of(e.fate()),
            attempts: e.attempts().unwrap_or(0),
            json: cstring(e.to_json_value().to_string()),
        }
    }

    pub(crate) fn local(status: rk_status, kind: &str, message: &str) -> Self {
        let json = serde_json::to_string(&relaykit::error::ErrorJson::local(kind, message)).unwrap_or_default();
        rk_error {
            status,
            kind: cstring(kind),
            message: cstring(message),
            stage: None,
            code: 0,
            enhanced_code: None,
            hint: None,
            transient: false,
            fate: rk_fate::RK_FATE_REJECTED,
            attempts: 0,
            json: cstring(json),
        }
    }
}

thread_local! {
    static LAST_ERROR: RefCell<Option<Box<rk_error>>> = const { RefCell::new(None) };
}

pub(crate) fn set_last_error(e: rk_error) -> rk_status {
    let st = e.status;
    LAST_ERROR.with(|l| *l.borrow_mut() = Some(Box::new(e)));
    st
}

pub(crate) fn clear_last_error() {
    LAST_ERROR.with(|l| *l.borrow_mut() = None);
}

/// What an exported function's body returns: `Err` carries a status whose detail is already
/// in the last error.
pub(crate) type FfiResult<T = ()> = Result<T, rk_status>;

pub(crate) fn core_err(e: &Error) -> rk_status {
    set_last_error(rk_error::from_core(e))
}

pub(crate) fn invalid(what: &str) -> rk_status {
    set_last_error(rk_error::local(rk_status::RK_INVALID_ARGUMENT, "invalid_argument", what))
}

/// Runs `body`, turning a panic into `RK_PANIC` and setting or clearing the last error.
pub(crate) fn guard(body: impl FnOnce() -> FfiResult) -> rk_status {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
        Ok(Ok(())) => {
            clear_last_error();
            rk_status::RK_OK
        }
        Ok(Err(st)) => st,
        Err(_) => set_last_error(rk_error::local(rk_status::RK_PANIC, "panic", "relaykit panicked; please report it")),
    }
}

/// Like [`guard`] for functions that return a value and have no status (accessors): a NULL
/// argument or a panic gives `fallback`.
pub(crate) fn guard_value<T>(fallback: T, body: impl FnOnce() -> Option<T>) -> T {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)).ok().flatten().unwrap_or(fallback)
}

/// Reads a required NUL-terminated UTF-8 string argument.
pub(crate) fn arg_str<'a>(p: *const c_char, name: &str) -> FfiResult<&'a str> {
    if p.is_null() {
        return Err(invalid(&format!("{name} is NULL")));
    }
    // SAFETY: the caller promises a valid NUL-terminated string that outlives the call.
    let c = unsafe { CStr::from_ptr(p) };
    c.to_str().map_err(|_| invalid(&format!("{name} is not valid UTF-8")))
}

/// Reads an optional string argument (NULL means none).
pub(crate) fn arg_opt_str<'a>(p: *const c_char, name: &str) -> FfiResult<Option<&'a str>> {
    if p.is_null() { Ok(None) } else { arg_str(p, name).map(Some) }
}

/// Borrows `len` bytes at `p` (NULL is allowed only when `len` is 0).
pub(crate) fn arg_bytes<'a>(p: *const u8, len: usize, name: &str) -> FfiResult<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(invalid(&format!("{name} is NULL")));
    }
    // SAFETY: the caller promises p points to len readable bytes that outlive the call.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// Borrows a required handle.
pub(crate) fn arg_ref<'a, T>(p: *const T, name: &str) -> FfiResult<&'a T> {
    // SAFETY: a non-NULL handle was made by relaykit and is alive, as the header requires.
    unsafe { p.as_ref() }.ok_or_else(|| invalid(&format!("{name} is NULL")))
}

/// Borrows a required handle mutably.
pub(crate) fn arg_mut<'a, T>(p: *mut T, name: &str) -> FfiResult<&'a mut T> {
    // SAFETY: as for arg_ref, and the header forbids concurrent use of one handle.
    unsafe { p.as_mut() }.ok_or_else(|| invalid(&format!("{name} is NULL")))
}

/// Checks a required out-parameter.
pub(crate) fn arg_out<T>(p: *mut T, name: &str) -> FfiResult<*mut T> {
    if p.is_null() { Err(invalid(&format!("{name} is NULL"))) } else { Ok(p) }
}

/// Writes `v` to a checked out-parameter.
pub(crate) fn write_out<T>(p: *mut T, v: T) {
    // SAFETY: p was checked non-NULL by arg_out and points to writable memory for a T.
    unsafe { p.write(v) }
}

/// A newly allocated C string for the caller, freed by `rk_string_free`.
pub(crate) fn owned_string(s: impl Into<Vec<u8>>) -> *mut c_char {
    cstring(s).into_raw()
}

/// The last error of this thread, or NULL when the last call succeeded. The pointer is valid
/// until the next relaykit call on this thread; do not free it.
#[unsafe(no_mangle)]
pub extern "C" fn rk_last_error() -> *const rk_error {
    LAST_ERROR.with(|l| l.borrow().as_deref().map_or(std::ptr::null(), std::ptr::from_ref))
}

/// The status of an error.
#[unsafe(no_mangle)]
pub extern "C" fn rk_error_status(err: *const rk_error) -> rk_status {
    guard_value(rk_status::RK_INVALID_ARGUMENT, || arg_ref(err, "err").ok().map(|e| e.status))
}

/// The error kind's snake_case name (`"auth_failed"`), never NULL for a non-NULL error.
#[unsafe(no_mangle)]
pub extern "C" fn rk_error_kind(err: *const rk_error) -> *const c_char {
    guard_value(std::ptr::null(), || arg_ref(err, "err").ok().map(|e| e.kind.as_ptr()))
}

/// The message, naming the field, tag, key id or stage involved, followed by the server's
/// reply where there was one: the same text as every binding's error message and the JSON's
/// `message` (kind, stage and hint have accessors of their own).
#[unsafe(no_mangle)]
pub extern "C" fn rk_error_message(err: *const rk_error) -> *const c_char {
    guard_value(std::ptr::null(), || arg_ref(err, "err").ok().map(|e| e.message.as_ptr()))
}

/// The stage (`"auth"`, `"connect"`, …) or NULL.
#[unsafe(no_mangle)]
pub extern "C" fn rk_error_stage(err: *const rk_error) -> *const c_char {
    guard_value(std::ptr::null(), || arg_ref(err, "err").ok().and_then(|e| e.stage.as_ref().map(|s| s.as_ptr())))
}

/// The SMTP reply code, or 0 when the server sent none.
#[unsafe(no_mangle)]
pub extern "C" fn rk_error_code(err: *const rk_error) -> u16 {
    guard_value(0, || arg_ref(err, "err").ok().map(|e| e.code))
}

/// The enhanced status code (`"5.7.8"`) or NULL.
#[unsafe(no_mangle)]
pub extern "C" fn rk_error_enhanced_code(err: *const rk_error) -> *const c_char {
    guard_value(std::ptr::null(), || {
        arg_ref(err, "err").ok().and_then(|e| e.enhanced_code.as_ref().map(|s| s.as_ptr()))
    })
}

/// A hint a person can act on, or NULL.
#[unsafe(no_mangle)]
pub extern "C" fn rk_error_hint(err: *const rk_error) -> *const c_char {
    guard_value(std::ptr::null(), || arg_ref(err, "err").ok().and_then(|e| e.hint.as_ref().map(|s| s.as_ptr())))
}

/// Whether trying again later may succeed: a 4xx reply (421, 450, 451, 452, ...) or a failure
/// of the connection itself before the message was committed. False for a 5xx reply, invalid
/// input, a TLS problem, a fate-unknown message, and a NULL error. A mailer has already
/// retried a transient failure as its `retry` option says before reporting it.
#[unsafe(no_mangle)]
pub extern "C" fn rk_error_transient(err: *const rk_error) -> bool {
    guard_value(false, || arg_ref(err, "err").ok().map(|e| e.transient))
}

/// What became of the message: `RK_FATE_UNKNOWN` when the connection was lost after its final
/// `.` (it may have been delivered; a mailer does not send it again unless `retry_unknown`),
/// else `RK_FATE_REJECTED` (also for errors that are not about a message, and a NULL error).
#[unsafe(no_mangle)]
pub extern "C" fn rk_error_fate(err: *const rk_error) -> rk_fate {
    guard_value(rk_fate::RK_FATE_REJECTED, || arg_ref(err, "err").ok().map(|e| e.fate))
}

/// How many transactions a mailer tried for the message (its retries included), or 0 when
/// the error is not a mailer's send (or `err` is NULL).
#[unsafe(no_mangle)]
pub extern "C" fn rk_error_attempts(err: *const rk_error) -> u32 {
    guard_value(0, || arg_ref(err, "err").ok().map(|e| e.attempts))
}

/// The error as the JSON object of §8 (`{"kind", "stage", "code", "enhanced_code", "message",
/// "hint", "transient", "fate", "attempts"}`).
#[unsafe(no_mangle)]
pub extern "C" fn rk_error_json(err: *const rk_error) -> *const c_char {
    guard_value(std::ptr::null(), || arg_ref(err, "err").ok().map(|e| e.json.as_ptr()))
}

/// Frees a string relaykit returned. NULL is allowed.
#[unsafe(no_mangle)]
pub extern "C" fn rk_string_free(s: *mut c_char) {
    if !s.is_null() {
        // SAFETY: s came from CString::into_raw in this library and is freed once, as documented.
        drop(unsafe { CString::from_raw(s) });
    }
}
