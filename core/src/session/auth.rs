//! The AUTH exchange (RFC 4954) driven by any SASL client that implements [`SaslStep`].

use std::future::Future;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use zeroize::Zeroizing;

use super::Session;
use super::trace::Mode;
use crate::error::{Error, ErrorKind, Reply, Result, Stage};

/// One side of a SASL exchange, as the session sees it. The auth module's clients implement
/// this (or are wrapped to); the session never depends on them.
///
/// Errors returned here cancel the exchange (`*`) and are passed through to the caller.
pub trait SaslStep: Send {
    /// The initial response to send with `AUTH`, if the mechanism has one (`Some(empty)` is
    /// sent as `=`).
    fn initial_response(&mut self) -> impl Future<Output = Result<Option<Zeroizing<Vec<u8>>>>> + Send;

    /// The response to a server challenge (already base64-decoded).
    fn respond(&mut self, challenge: &[u8]) -> impl Future<Output = Result<Zeroizing<Vec<u8>>>> + Send;
}

/// RFC 4954 §4: an AUTH line longer than this sends its initial response after an empty 334.
const MAX_AUTH_LINE: usize = 510;
/// A server that keeps challenging is broken; stop it.
const MAX_STEPS: usize = 32;
/// The longest wait for the reply to a `*` that cancels an exchange.
const CANCEL_GRACE: std::time::Duration = std::time::Duration::from_millis(500);

impl Session {
    /// Runs `AUTH mechanism` with `sasl`: the initial response (base64) on the AUTH line, then
    /// one response per 334 challenge, until 235 (returned) or a failure (an error with the
    /// reply: 535 → `auth_failed`; 504, 534 5.7.9, 538 → `auth_unsupported`).
    ///
    /// Every client line of the exchange is redacted in the trace, and the write buffer is
    /// zeroed after each one.
    pub async fn auth<S: SaslStep>(&mut self, mechanism: &str, sasl: &mut S) -> Result<Reply> {
        if mechanism.is_empty() || !mechanism.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(Error::config("$.auth_mechanisms", format!("{mechanism:?} is not a SASL mechanism name")));
        }
        let mech = mechanism.to_ascii_uppercase();
        let initial = self.bounded_client(sasl.initial_response()).await?;
        let mut deferred: Option<Zeroizing<Vec<u8>>> = None;
        let line: Zeroizing<String> = match initial {
            None => Zeroizing::new(format!("AUTH {mech}")),
            Some(ir) if ir.is_empty() => Zeroizing::new(format!("AUTH {mech} =")),
            Some(ir) => {
                let enc = Zeroizing::new(B64.encode(&*ir));
                self.secrets.add_sent(&enc);
                if mech.len() + enc.len() + 6 > MAX_AUTH_LINE {
                    deferred = Some(ir);
                    Zeroizing::new(format!("AUTH {mech}"))
                } else {
                    Zeroizing::new(format!("AUTH {mech} {}", &*enc))
                }
            }
        };
        self.queue(&line)?;
        self.mode = Mode::Auth;
        let result = self.auth_exchange(&mech, sasl, deferred).await;
        self.mode = Mode::Normal;
        self.wbuf.clear();
        result
    }

    async fn auth_exchange<S: SaslStep>(
        &mut self,
        mech: &str,
        sasl: &mut S,
        mut deferred: Option<Zeroizing<Vec<u8>>>,
    ) -> Result<Reply> {
        let what = format!("AUTH {mech}");
        self.flush(Stage::Auth, &what).await?;
        for _ in 0..MAX_STEPS {
            let r = self.read_reply(Stage::Auth, &what).await?;
            match r.code {
                235 => return Ok(r),
                334 => {
                    let response = if let Some(ir) = deferred.take() {
                        ir
                    } else {
                        let Ok(challenge) = B64.decode(r.text.trim()) else {
                            self.cancel_auth(&what).await;
                            return Err(Error::new(
                                ErrorKind::Protocol,
                                format!("the server's {mech} challenge is not base64"),
                            )
                            .with_stage(Stage::Auth)
                            .with_reply(r));
                        };
                        match self.bounded_client(sasl.respond(&challenge)).await {
                            Ok(resp) => resp,
                            // The stage's time is up: nothing more is sent on it.
                            Err(e) if e.kind() == ErrorKind::Timeout => return Err(e),
                            Err(e) => {
                                self.cancel_auth(&what).await;
                                return Err(e);
                            }
                        }
                    };
                    let enc = Zeroizing::new(B64.encode(&*response));
                    self.secrets.add_sent(&enc);
                    self.queue(&enc)?;
                    self.flush(Stage::Auth, &what).await?;
                }
                _ => return Err(auth_error(mech, r)),
            }
        }
        self.cancel_auth(&what).await;
        Err(Error::new(ErrorKind::Protocol, format!("the server sent more than {MAX_STEPS} {mech} challenges"))
            .with_stage(Stage::Auth))
    }

    /// Sends `*` and reads (and drops) the reply, so the session stays usable for the next
    /// mechanism. The wait is short: the error is known already, and a server that does not
    /// answer the cancel must not double the stage's time.
    async fn cancel_auth(&mut self, what: &str) {
        let grace = self.cfg.timeout.min(CANCEL_GRACE);
        let cancel = async {
            if self.queue("*").is_ok() && self.flush(Stage::Auth, what).await.is_ok() {
                let _ = self.read_reply(Stage::Auth, what).await;
            }
        };
        let _ = tokio::time::timeout(grace, cancel).await;
    }

    /// Runs a SASL client step under the stage timeout (an NTLM helper process may hang).
    async fn bounded_client<T>(&self, f: impl Future<Output = Result<T>>) -> Result<T> {
        match tokio::time::timeout(self.cfg.timeout, f).await {
            Ok(r) => r.map_err(|e| if e.stage().is_none() { e.with_stage(Stage::Auth) } else { e }),
            Err(_) => Err(Error::new(
                ErrorKind::Timeout,
                format!("the SASL client produced no response within {}", super::human(self.cfg.timeout)),
            )
            .with_stage(Stage::Auth)),
        }
    }
}

/// The error for a reply that ends an AUTH exchange unsuccessfully: the kind says whether the
/// server judged the credentials; `hints.rs` words the reply.
fn auth_error(mech: &str, r: Reply) -> Error {
    if r.code == 421 {
        return super::closing_error().with_stage(Stage::Auth).with_reply(r);
    }
    let (kind, message) = match r.code {
        504 | 500 | 502 => (ErrorKind::AuthUnsupported, format!("the server does not support AUTH {mech}")),
        534 if r.enhanced_code.as_deref() == Some("5.7.9") => {
            (ErrorKind::AuthUnsupported, format!("the server considers {mech} too weak"))
        }
        538 => (ErrorKind::AuthUnsupported, format!("the server requires encryption for {mech}")),
        530 => (ErrorKind::AuthUnsupported, format!("the server will not run {mech} on this connection")),
        454 => (ErrorKind::AuthFailed, format!("{mech} failed temporarily")),
        503 => (ErrorKind::Protocol, format!("AUTH {mech} out of sequence")),
        c if c >= 400 => (ErrorKind::AuthFailed, format!("{mech} rejected")),
        _ => (ErrorKind::Protocol, format!("unexpected reply to AUTH {mech}")),
    };
    Error::new(kind, message).with_stage(Stage::Auth).with_reply(r)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    fn reply(code: u16, enhanced: Option<&str>) -> Reply {
        Reply { code, enhanced_code: enhanced.map(str::to_owned), text: "x".into() }
    }

    #[test]
    fn auth_error_kinds() {
        let k = |c, e| auth_error("PLAIN", reply(c, e)).kind();
        assert_eq!(k(535, Some("5.7.8")), ErrorKind::AuthFailed);
        assert_eq!(k(504, None), ErrorKind::AuthUnsupported);
        assert_eq!(k(534, Some("5.7.9")), ErrorKind::AuthUnsupported);
        assert_eq!(k(534, Some("5.7.14")), ErrorKind::AuthFailed);
        assert_eq!(k(538, None), ErrorKind::AuthUnsupported);
        assert_eq!(k(454, None), ErrorKind::AuthFailed);
        assert_eq!(k(503, None), ErrorKind::Protocol);
        assert_eq!(k(250, None), ErrorKind::Protocol);
        let e = auth_error("PLAIN", reply(535, Some("5.7.8")));
        assert_eq!(e.stage(), Some(Stage::Auth));
        assert_eq!(e.code(), Some(535));
    }
}
