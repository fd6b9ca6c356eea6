//! Entry points for the fuzz targets in `fuzz/`, compiled only with the cargo feature
//! `fuzzing`. Not an API: thin wrappers that reach code the public surface does not expose with
//! deterministic inputs. Everything else the targets use (`session::reply::parse_reply`,
//! `Extensions::from_ehlo`, `auth::negotiate`, `Message::prepare`, `session::data`) is public.

use std::future::Future;

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

/// Runs a SASL step to completion on this thread's current-thread tokio runtime (made on
/// first use): the built-in mechanisms only wait for work they hand to tokio's blocking pool
/// (SCRAM's key derivation), never for the network.
pub fn block_on<F: Future>(fut: F) -> F::Output {
    thread_local! {
        static RT: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("a tokio runtime for the fuzz targets: {e}"));
    }
    RT.with(|rt| rt.block_on(fut))
}
