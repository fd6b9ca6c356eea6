//! Token providers: the host's function that gives relaykit an OAuth 2.0 access token for
//! OAUTHBEARER and XOAUTH2 (issue #15).
//!
//! A provider serves the profiles that ask for tokens: those whose `auth_mechanisms` name
//! OAUTHBEARER or XOAUTH2, or that have no password; a password profile ignores it. It is asked
//! once per new connection that logs in ([`TokenReason::Initial`]), and
//! once more, with [`TokenReason::Refresh`], after the server rejected the token it gave (the
//! `334` JSON error challenge, then `535`): relaykit then runs AUTH once more on the same
//! connection with the new token, or on a new connection when the server closed this one with
//! its rejection. A second rejection is the authentication error.
//!
//! The provider's answer is bounded by the profile's `timeout_secs`. Its failure (an error, a
//! timeout, an empty token) is an `auth_failed` error at stage `auth` whose message names the
//! token provider and its own message — never a token: every token is registered with the
//! session's scrubber, and AUTH lines are redacted in the trace.
//!
//! ```
//! use relaykit::token::{TokenReason, token_provider_fn};
//! use relaykit::SecretString;
//! let provider = token_provider_fn(|req| async move {
//!     // fetch a token for req.username here; ask the issuer for a new one on Refresh
//!     let _ = req.reason == TokenReason::Refresh;
//!     Ok::<_, String>(SecretString::new("ya29.a0Af..."))
//! });
//! # let _ = provider;
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Cause, Error, ErrorKind, Result, Stage};
use crate::secret::SecretString;

/// Why relaykit asks for a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenReason {
    /// A new connection is about to log in.
    Initial,
    /// The server rejected the previous token (it expired or was revoked): give a fresh one.
    Refresh,
}

impl TokenReason {
    /// `"initial"` or `"refresh"`, as the bindings name it.
    pub const fn as_str(self) -> &'static str {
        match self {
            TokenReason::Initial => "initial",
            TokenReason::Refresh => "refresh",
        }
    }
}

/// One request for a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    /// The user name of the profile (after RRT expansion) the token is for.
    pub username: String,
    /// Why the token is asked for.
    pub reason: TokenReason,
}

/// What a provider's future resolves to: the token, or a message saying why there is none
/// (relaykit puts it in the error, after "token provider failed: "; it must not contain a
/// token).
pub type TokenResult = std::result::Result<SecretString, String>;

/// A boxed provider future.
pub type TokenFuture<'a> = Pin<Box<dyn Future<Output = TokenResult> + Send + 'a>>;

/// The host's source of OAuth 2.0 access tokens. See the [module](self) documentation.
pub trait TokenProvider: Send + Sync {
    /// A token for `req.username`; on [`TokenReason::Refresh`] the previous one was rejected.
    fn token(&self, req: TokenRequest) -> TokenFuture<'_>;
}

/// A shared token provider, as the options carry it.
#[derive(Clone)]
pub struct SharedTokenProvider(pub Arc<dyn TokenProvider>);

impl fmt::Debug for SharedTokenProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenProvider")
    }
}

impl<T: TokenProvider + 'static> From<T> for SharedTokenProvider {
    fn from(p: T) -> Self {
        SharedTokenProvider(Arc::new(p))
    }
}

struct FnProvider<F>(F);

impl<F, Fut, E> TokenProvider for FnProvider<F>
where
    F: Fn(TokenRequest) -> Fut + Send + Sync,
    Fut: Future<Output = std::result::Result<SecretString, E>> + Send + 'static,
    E: fmt::Display,
{
    fn token(&self, req: TokenRequest) -> TokenFuture<'_> {
        let fut = (self.0)(req);
        Box::pin(async move { fut.await.map_err(|e| e.to_string()) })
    }
}

/// A provider from an async closure: `token_provider_fn(|req| async move { ... })`. The
/// closure's error is shown with `Display` in the relaykit error (it must not contain a token).
pub fn token_provider_fn<F, Fut, E>(f: F) -> SharedTokenProvider
where
    F: Fn(TokenRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = std::result::Result<SecretString, E>> + Send + 'static,
    E: fmt::Display + 'static,
{
    SharedTokenProvider(Arc::new(FnProvider(f)))
}

/// The error for a provider that gave no token: `auth_failed` at stage `auth`, naming the
/// token provider, with the provider's own message (`why`, already scrubbed by the caller).
pub(crate) fn provider_error(reason: TokenReason, why: &str) -> Error {
    let what = match reason {
        TokenReason::Initial => "a token",
        TokenReason::Refresh => "a fresh token after the server rejected the previous one",
    };
    Error::new(ErrorKind::AuthFailed, format!("the token provider failed to give {what}: {why}"))
        .with_stage(Stage::Auth)
        .with_cause(Cause::TokenProvider)
}

/// Asks `provider` for a token, bounded by `timeout`. The token is checked to be non-empty and
/// free of control characters; the error never contains it.
pub(crate) async fn ask(
    provider: &SharedTokenProvider,
    username: &str,
    reason: TokenReason,
    timeout: Duration,
) -> Result<SecretString> {
    let req = TokenRequest { username: username.to_owned(), reason };
    let token = match tokio::time::timeout(timeout, provider.0.token(req)).await {
        Err(_) => {
            return Err(provider_error(reason, &format!("it gave no token within {}", crate::session::human(timeout))));
        }
        Ok(Err(why)) => return Err(provider_error(reason, &why)),
        Ok(Ok(t)) => t,
    };
    if token.expose().trim().is_empty() {
        return Err(provider_error(reason, "it returned an empty token"));
    }
    if token.expose().chars().any(char::is_control) {
        return Err(provider_error(reason, "the token it returned contains a control character"));
    }
    Ok(token)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn a_closure_provider_gets_the_request() {
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        let p = token_provider_fn(move |req: TokenRequest| {
            c.fetch_add(1, Ordering::SeqCst);
            async move { Ok::<_, String>(SecretString::new(format!("tok-{}-{}", req.username, req.reason.as_str()))) }
        });
        let t = ask(&p, "alice", TokenReason::Refresh, Duration::from_secs(1)).await.unwrap();
        assert_eq!(t.expose(), "tok-alice-refresh");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(format!("{p:?}"), "TokenProvider");
    }

    #[tokio::test]
    async fn failures_name_the_provider() {
        let p = token_provider_fn(|_| async { Err::<SecretString, _>("issuer unreachable") });
        let e = ask(&p, "a", TokenReason::Initial, Duration::from_secs(1)).await.unwrap_err();
        assert_eq!((e.kind(), e.stage()), (ErrorKind::AuthFailed, Some(Stage::Auth)));
        assert!(e.message().contains("token provider failed to give a token: issuer unreachable"), "{e}");
        assert_eq!(e.cause(), Some(&Cause::TokenProvider));

        let p = token_provider_fn(|_| async { Ok::<_, String>(SecretString::new("  ")) });
        let e = ask(&p, "a", TokenReason::Initial, Duration::from_secs(1)).await.unwrap_err();
        assert!(e.message().contains("empty token"), "{e}");

        let p = token_provider_fn(|_| async { Ok::<_, String>(SecretString::new("secret-tok\r\nQUIT")) });
        let e = ask(&p, "a", TokenReason::Initial, Duration::from_secs(1)).await.unwrap_err();
        assert!(e.message().contains("control character") && !e.message().contains("secret-tok"), "{e}");
    }

    #[tokio::test]
    async fn a_provider_that_never_answers_times_out() {
        let p = token_provider_fn(|_| std::future::pending::<std::result::Result<SecretString, String>>());
        let start = std::time::Instant::now();
        let e = ask(&p, "a", TokenReason::Initial, Duration::from_millis(200)).await.unwrap_err();
        assert!(start.elapsed() < Duration::from_secs(5));
        assert!(e.message().contains("token provider failed") && e.message().contains("no token within"), "{e}");
    }
}
