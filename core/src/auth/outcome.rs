//! What one failed attempt means for the rest of the login (spec §4): go on with the next
//! mechanism, or stop. Decided here, once, from the server's reply code and the client's own
//! view of its exchange — never from message text.

use std::fmt;

use super::Mechanism;
use crate::error::{Cause, Error, ErrorKind, Stage};

/// How one mechanism's attempt ended, when it did not succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The server refused the mechanism without judging the credentials, or the client cannot
    /// run it here: the next mechanism is tried.
    ///
    /// - 504 (mechanism not available), 534 (too weak), 538 (needs encryption): RFC 4954's
    ///   replies about the mechanism, not the account; and 500/502, what servers that do not
    ///   know the mechanism name say instead of 504.
    /// - 454 (temporary failure): no verdict on the credentials either. Postfix sends it when
    ///   its SASL library cannot run this mechanism for this account (e.g. no usable stored
    ///   secret), so another mechanism may well work; when the server's back end is really
    ///   down, each attempt gets 454 again and the last one is reported.
    /// - No reply, and the client cannot run the mechanism (`auth_unsupported`: no NTLM
    ///   helper) or cannot express these credentials in it (`config`: a password SASLprep
    ///   refuses, a NUL in a PLAIN user name).
    /// - SCRAM's `e=` values about channel binding, extensions or encoding.
    TryNext,
    /// The server judged the credentials and rejected them (535, or SCRAM's
    /// `e=invalid-proof`/`e=unknown-user`): authentication ends with this attempt. Sending the
    /// same wrong password with weaker mechanisms only earns penalties and lockouts.
    CredentialsRejected,
    /// The server could not prove it knows the password (a wrong or missing SCRAM server
    /// signature): authentication ends as a security failure and nothing else is tried, least
    /// of all a mechanism that sends the password to it.
    ServerNotProven,
    /// Anything else ends authentication: a lost connection, a timeout, a protocol error, a
    /// local failure, or a reply that says neither "not this mechanism" nor "wrong
    /// credentials" (530, 503, any other code) — never re-send a password on a guess.
    Ended,
}

impl Outcome {
    /// Whether the next mechanism is tried.
    pub const fn goes_on(self) -> bool {
        matches!(self, Outcome::TryNext)
    }

    /// The outcome of the failure `err`, given what the client's exchange itself concluded
    /// (`client`: a verdict the mechanism reached inside the exchange, e.g. SCRAM's proof
    /// check or its `e=` attribute), which takes precedence over the reply.
    pub(crate) fn of(err: &Error, client: Option<Outcome>) -> Outcome {
        if let Some(o) = client {
            return o;
        }
        match err.code() {
            Some(535) => Outcome::CredentialsRejected,
            Some(454 | 500 | 502 | 504 | 534 | 538) => Outcome::TryNext,
            None if matches!(err.kind(), ErrorKind::AuthUnsupported | ErrorKind::Config) => Outcome::TryNext,
            Some(_) | None => Outcome::Ended,
        }
    }

    /// The outcome of a SCRAM `e=` server error (RFC 5802 §7 `server-error-value`).
    pub(crate) fn of_scram_error(value: &str) -> Outcome {
        match value {
            "channel-bindings-dont-match"
            | "server-does-support-channel-binding"
            | "channel-binding-not-supported"
            | "unsupported-channel-binding-type"
            | "extensions-not-supported"
            | "invalid-encoding"
            | "invalid-username-encoding" => Outcome::TryNext,
            // invalid-proof, unknown-user, other-error and anything new: a verdict, or no
            // way to tell it is not one.
            _ => Outcome::CredentialsRejected,
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::TryNext => "trying the next mechanism",
            Outcome::CredentialsRejected => "credentials rejected",
            Outcome::ServerNotProven => "server did not prove it knows the password",
            Outcome::Ended => "authentication ended",
        })
    }
}

/// The error for a server that could not prove it knows the password (`why`: what it did
/// instead). `auth_failed` at stage auth, with its own cause: there is no server reply, and
/// the fault is not the user's password.
pub(crate) fn server_not_proven_error(mech: Mechanism, why: &str) -> Error {
    Error::new(
        ErrorKind::AuthFailed,
        format!(
            "{mech}: the server could not prove it knows the password ({why}); nothing else was \
             tried, so the password was not sent to it"
        ),
    )
    .with_stage(Stage::Auth)
    .with_cause(Cause::ServerNotProven)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Reply;

    fn with_code(code: u16) -> Error {
        Error::new(ErrorKind::AuthFailed, "x").with_reply(Reply { code, enhanced_code: None, text: String::new() })
    }

    #[test]
    fn replies_decide_the_outcome() {
        assert_eq!(Outcome::of(&with_code(535), None), Outcome::CredentialsRejected);
        for code in [454, 500, 502, 504, 534, 538] {
            assert_eq!(Outcome::of(&with_code(code), None), Outcome::TryNext, "{code}");
        }
        for code in [421, 501, 503, 530, 550, 554] {
            assert_eq!(Outcome::of(&with_code(code), None), Outcome::Ended, "{code}");
        }
    }

    #[test]
    fn local_failures_decide_by_kind() {
        assert_eq!(Outcome::of(&Error::new(ErrorKind::AuthUnsupported, "no helper"), None), Outcome::TryNext);
        assert_eq!(Outcome::of(&Error::new(ErrorKind::Config, "NUL"), None), Outcome::TryNext);
        for kind in [ErrorKind::Timeout, ErrorKind::Io, ErrorKind::Protocol, ErrorKind::Tls, ErrorKind::Internal] {
            assert_eq!(Outcome::of(&Error::new(kind, "x"), None), Outcome::Ended, "{kind:?}");
        }
        // A bare auth_failed without a reply is not a reason to send the password again.
        assert_eq!(Outcome::of(&Error::new(ErrorKind::AuthFailed, "x"), None), Outcome::Ended);
    }

    #[test]
    fn the_client_verdict_wins_over_the_reply() {
        let e = with_code(504);
        assert_eq!(Outcome::of(&e, Some(Outcome::ServerNotProven)), Outcome::ServerNotProven);
        assert!(!Outcome::ServerNotProven.goes_on() && !Outcome::CredentialsRejected.goes_on());
        assert!(Outcome::TryNext.goes_on() && !Outcome::Ended.goes_on());
    }

    #[test]
    fn scram_errors() {
        assert_eq!(Outcome::of_scram_error("invalid-proof"), Outcome::CredentialsRejected);
        assert_eq!(Outcome::of_scram_error("unknown-user"), Outcome::CredentialsRejected);
        assert_eq!(Outcome::of_scram_error("other-error"), Outcome::CredentialsRejected);
        assert_eq!(Outcome::of_scram_error("channel-binding-not-supported"), Outcome::TryNext);
    }

    #[test]
    fn not_proven_error_is_auth_failed_at_auth() {
        let e = server_not_proven_error(Mechanism::ScramSha256, "its signature is wrong");
        assert_eq!((e.kind(), e.stage(), e.code()), (ErrorKind::AuthFailed, Some(Stage::Auth), None));
        assert!(e.message().contains("could not prove it knows the password"), "{e:?}");
        assert_eq!(e.cause(), Some(&Cause::ServerNotProven));
    }
}
