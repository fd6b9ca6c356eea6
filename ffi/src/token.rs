//! The OAuth2 token callback (`rk_set_token_callback`): where OAUTHBEARER/XOAUTH2 access tokens
//! come from instead of the profile's password.

use std::ffi::{CString, c_char, c_void};
use std::sync::{Arc, Mutex, PoisonError};

use relaykit::SecretString;
use relaykit::token::{SharedTokenProvider, TokenFuture, TokenProvider, TokenReason, TokenRequest, TokenResult};
use zeroize::Zeroizing;

use crate::error::{guard, rk_status};

/// The size of the buffer a token callback writes into (a token and its NUL; Microsoft's
/// access tokens are 1 to 3 KB).
pub const RK_TOKEN_CAPACITY: usize = 16384;

/// Gives an OAuth 2.0 access token for OAUTHBEARER or XOAUTH2, instead of the profile's
/// password. Called on a relaykit worker thread (it may block, e.g. on an HTTPS request to the
/// token endpoint), possibly on several threads at once: it must be thread-safe.
///
/// - `user`: the pointer given to `rk_set_token_callback`.
/// - `username`: the profile's user name (after RRT expansion), valid during the call.
/// - `refresh`: 0 when a new connection logs in; 1 when the server has just rejected the token
///   this callback gave (expired or revoked): return a fresh one. relaykit asks once more after
///   a rejection and logs in again with the new token; a second rejection is `RK_AUTH_FAILED`.
/// - `buf`, `cap`: where the token goes, NUL-terminated (`cap` is `RK_TOKEN_CAPACITY`). relaykit
///   zeroes the buffer after use.
///
/// Returns 0 with the token in `buf`. Any other value is a failure: `buf` may then hold a
/// NUL-terminated message saying why (never a token), which the error (`RK_AUTH_FAILED`, stage
/// auth, "the token provider failed to give a token: ...") quotes. An empty token, one with a
/// control character, one that does not fit, or no answer within the profile's `timeout_secs`
/// is a failure too.
#[allow(non_camel_case_types)]
pub type rk_token_callback = Option<
    extern "C" fn(user: *mut c_void, username: *const c_char, refresh: i32, buf: *mut c_char, cap: usize) -> i32,
>;

#[derive(Clone, Copy)]
struct Hook {
    cb: extern "C" fn(*mut c_void, *const c_char, i32, *mut c_char, usize) -> i32,
    user: *mut c_void,
}

// SAFETY: the header requires the token callback and its user pointer to be usable from any
// thread; relaykit only passes the pointer back.
unsafe impl Send for Hook {}
// SAFETY: as above.
unsafe impl Sync for Hook {}

impl Hook {
    // A method, so that closures capture the whole (Send + Sync) hook, not its raw fields.
    fn call(self, req: &TokenRequest) -> TokenResult {
        let username = CString::new(req.username.as_str()).map_err(|_| "the user name contains a NUL".to_owned())?;
        let mut buf = Zeroizing::new(vec![0u8; RK_TOKEN_CAPACITY]);
        let refresh = i32::from(req.reason == TokenReason::Refresh);
        let rc = (self.cb)(self.user, username.as_ptr(), refresh, buf.as_mut_ptr().cast(), buf.len());
        let Some(end) = buf.iter().position(|&b| b == 0) else {
            return Err(format!("the callback wrote no NUL within the buffer's {RK_TOKEN_CAPACITY} bytes"));
        };
        let text = std::str::from_utf8(&buf[..end]);
        if rc != 0 {
            let why = text.unwrap_or("").trim();
            return Err(if why.is_empty() {
                format!("the token callback returned {rc}")
            } else {
                format!("the token callback returned {rc}: {why}")
            });
        }
        text.map(SecretString::new).map_err(|_| "the token is not UTF-8".to_owned())
    }
}

struct CProvider(Hook);

impl TokenProvider for CProvider {
    fn token(&self, req: TokenRequest) -> TokenFuture<'_> {
        let hook = self.0;
        Box::pin(async move {
            // Off the runtime's I/O threads: the callback may block.
            tokio::task::spawn_blocking(move || hook.call(&req))
                .await
                .unwrap_or_else(|_| Err("the token callback panicked".to_owned()))
        })
    }
}

static TOKEN: Mutex<Option<SharedTokenProvider>> = Mutex::new(None);

/// Sets the process-wide token callback (NULL removes it). Every Test, Send and mailer that
/// starts afterwards, for a profile that asks for tokens (its `auth_mechanisms` name OAUTHBEARER
/// or XOAUTH2, or it has no password), takes its tokens from `cb` with `user` (a mailer for
/// each new connection) instead of the profile's password, and tries only the token mechanisms
/// (those of `auth_mechanisms`, or both); the profile may have no password when its
/// `auth_mechanisms` lists only them. A profile that logs in with a password is not affected. One that is already running keeps the callback it
/// started with. `user` must stay valid until the callback is replaced and every call and
/// mailer that started before has finished.
#[unsafe(no_mangle)]
pub extern "C" fn rk_set_token_callback(cb: rk_token_callback, user: *mut c_void) -> rk_status {
    guard(|| {
        let provider = cb.map(|cb| SharedTokenProvider(Arc::new(CProvider(Hook { cb, user }))));
        *TOKEN.lock().unwrap_or_else(PoisonError::into_inner) = provider;
        Ok(())
    })
}

/// The callback set now, as the core's provider.
pub(crate) fn provider() -> Option<SharedTokenProvider> {
    TOKEN.lock().unwrap_or_else(PoisonError::into_inner).clone()
}
