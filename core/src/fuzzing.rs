//! Entry points for the fuzz targets in `fuzz/`, compiled only with the cargo feature
//! `fuzzing`. Not an API: thin wrappers that reach code the public surface does not expose with
//! deterministic inputs. Everything else the targets use (`session::reply::parse_reply`,
//! `Extensions::from_ehlo`, `auth::negotiate`, `Message::prepare`, `session::data`) is public.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use zeroize::Zeroizing;

use crate::auth::{Credentials, Mechanism, SaslClient};
use crate::error::Result;

/// A SASL client for `mech` whose random inputs are fixed: SCRAM uses `nonce` as its client
/// nonce; NTLM uses `ntlm` as (client challenge, FILETIME when the server sends none, random
/// session key) and no helper. The other mechanisms have no random inputs.
pub fn sasl_client(
    mech: Mechanism,
    username: &str,
    password: &str,
    nonce: &str,
    ntlm: ([u8; 8], u64, [u8; 16]),
) -> Result<SaslClient> {
    let creds = Credentials::new(username, Zeroizing::new(password.to_owned()));
    SaslClient::with_fixed_randoms(mech, &creds, nonce, ntlm)
}

/// Polls `fut` once with a no-op waker: the built-in SASL mechanisms never wait (only the NTLM
/// helper, which [`sasl_client`] does not make, does), so their `async` steps are ready at once.
/// `None` if it was not.
pub fn now_or_never<F: Future>(fut: F) -> Option<F::Output> {
    let mut fut = pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => Some(out),
        Poll::Pending => None,
    }
}
