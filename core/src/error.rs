//! One error type for all of relaykit: a kind from §7 of the specification, a message that names
//! the field, tag, key id or stage involved, and the SMTP reply where there was one.

use std::borrow::Cow;
use std::fmt;

use crate::names::named_enum;

named_enum! {
/// What went wrong, in the one list every binding shares. Each kind has a stable snake_case
/// name ([`ErrorKind::as_str`], [`std::str::FromStr`]) that the bindings and the JSON forms use.
///
/// Not `#[non_exhaustive]`: the bindings are path dependencies in this workspace, and each maps
/// every kind in an exhaustive `match`, so a new kind fails their build until it is mapped.
pub enum ErrorKind {
    /// The profile or an option is invalid (the message names the JSON path).
    Config,
    /// A runtime replacement tag could not be expanded (the message names the tag and field).
    Rrt,
    /// A password envelope or key could not be used (the message names the reason).
    Crypto,
    /// The server's name did not resolve.
    Dns,
    /// No TCP connection could be made.
    Connect,
    /// A stage did not finish within `timeout_secs`.
    Timeout,
    /// TLS could not be negotiated or the certificate was not trusted.
    Tls,
    /// The server said something that is not SMTP, or not what the stage expects.
    Protocol,
    /// No authentication mechanism that both sides support is allowed.
    AuthUnsupported,
    /// The server rejected the credentials.
    AuthFailed,
    /// The server refused the envelope sender (MAIL FROM).
    SenderRejected,
    /// The server refused every recipient (RCPT TO).
    RecipientRejected,
    /// The server refused the message content (DATA).
    MessageRejected,
    /// A local read or write failed (a file), or the connection was lost after connect (the
    /// server closed or reset it).
    Io,
    /// A bug in relaykit; please report it.
    Internal,
}
}

named_enum! {
/// A stage of a Test or a Send, as named in reports and errors.
pub enum Stage {
    /// Turning the profile, keyring and RRT context into effective settings.
    Resolve,
    /// Looking up the server's addresses.
    Dns,
    /// Opening the TCP connection.
    Connect,
    /// Implicit TLS handshake, or the STARTTLS command and its handshake.
    Tls,
    /// Waiting for the server's 220 greeting.
    Greeting,
    /// EHLO (or the HELO fallback).
    Ehlo,
    /// SASL authentication.
    Auth,
    /// MAIL FROM.
    MailFrom,
    /// RCPT TO.
    RcptTo,
    /// DATA and the message content.
    Data,
    /// RSET after the relay check.
    Rset,
    /// QUIT.
    Quit,
    /// Opening the connection through the profile's proxy (SOCKS5 or HTTP CONNECT): reaching
    /// the proxy, its authentication, and its connection to the server.
    Proxy,
}
}

named_enum! {
/// What became of a message that was not delivered: [`Fate::Rejected`] when nothing of it was
/// accepted (it may be sent again without duplicating it), [`Fate::Unknown`] when the connection
/// was lost or timed out after its final `.` went out and before the server's reply (the server
/// may have queued it).
pub enum Fate {
    /// Not delivered: refused, or never accepted.
    Rejected,
    /// Perhaps delivered: the server got the whole message but its reply never came.
    Unknown,
}
}

/// An SMTP reply: the three-digit code, the enhanced status code (RFC 3463) when the server sent
/// one, and the text of all its lines joined by `\n` (codes and enhanced codes stripped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The reply code, e.g. 535.
    pub code: u16,
    /// The enhanced status code, e.g. `"5.7.8"`, if the server sent one.
    pub enhanced_code: Option<String>,
    /// The human-readable text.
    pub text: String,
}

impl Reply {
    /// Whether the code is 2xx.
    pub fn is_positive(&self) -> bool {
        (200..300).contains(&self.code)
    }

    /// Whether the code is 3xx (the server waits for more).
    pub fn is_intermediate(&self) -> bool {
        (300..400).contains(&self.code)
    }

    /// Whether the code is 4xx (try again later).
    pub fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        if let Some(e) = &self.enhanced_code {
            write!(f, " {e}")?;
        }
        if !self.text.is_empty() {
            write!(f, " {}", self.text.replace('\n', " / "))?;
        }
        Ok(())
    }
}

/// Why an error happened, as far as the layer that saw it can tell. Lower layers set a cause
/// and write no hint; [`crate::hints`] alone turns kind, stage, cause, the settings and what
/// the server offered into the sentence a person reads.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Cause {
    /// Nothing accepted the TCP connection (connection refused on every address).
    ConnectionRefused,
    /// The TLS handshake got no answer within the timeout.
    NoTlsAnswer,
    /// The server closed the connection during the TLS handshake.
    ClosedDuringTls,
    /// Plain-text SMTP arrived where the TLS handshake was expected.
    PlainTextOnTlsPort,
    /// TLS arrived where SMTP text was expected.
    TlsOnPlainPort,
    /// No TLS version or cipher suite in common.
    TlsIncompatible,
    /// The server's certificate did not verify.
    Certificate(CertificateProblem),
    /// STARTTLS is required but the server does not offer it.
    StartTlsNotOffered,
    /// No greeting within the timeout.
    NoGreeting,
    /// No mechanism could be tried.
    NoMechanism(NoMechanism),
    /// Current-user NTLM needs Samba's `ntlm_auth`, which is not installed.
    NtlmHelperMissing,
    /// `ntlm_auth` could not authenticate the current user.
    NtlmHelperRefused,
    /// `ntlm_auth` has no cached credentials for the current user.
    NtlmNoCachedCredentials,
    /// The server failed its own proof (a wrong or missing SCRAM server signature).
    ServerNotProven,
    /// The message is larger than the server's SIZE limit.
    TooLarge,
    /// The message has 8-bit content and the server does not offer 8BITMIME.
    No8BitMime,
    /// An address needs SMTPUTF8 and the server does not offer it.
    NoSmtpUtf8,
    /// The server requires a client certificate (mutual TLS) and none was presented.
    ClientCertificateRequired,
    /// The server refused the client certificate that was presented.
    ClientCertificateRefused,
    /// The proxy itself could not be reached (refused, unreachable, timed out).
    ProxyUnreachable,
    /// The proxy refused our credentials (SOCKS5 RFC 1929 failure, HTTP 401/407).
    ProxyAuthFailed,
    /// The proxy was reached but refused (or failed) the connection to the server.
    ProxyRefusedTarget,
    /// The proxy was reached but did not open the connection to the server in time.
    ProxyNoAnswer,
    /// The host's token provider gave no usable token (it failed, timed out, or returned
    /// something that is not a token).
    TokenProvider,
    /// The server rejected an OAuth 2.0 bearer token (OAUTHBEARER/XOAUTH2, 535), after the
    /// token provider, if any, was asked for a fresh one.
    TokenRejected,
    /// The message requires REQUIRETLS (RFC 8689) and the session is not over TLS or the server
    /// does not offer REQUIRETLS.
    NoRequireTls,
    /// The message requires DSN (RFC 3461) and the server does not offer it.
    DsnRequired,
}

/// How a certificate failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateProblem {
    /// Not issued by a trusted CA (or badly signed).
    Untrusted,
    /// Not valid for the server's name.
    WrongName,
    /// Expired.
    Expired,
    /// Not valid yet.
    NotYetValid,
}

/// Why no authentication mechanism could be tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoMechanism {
    /// The server offers no AUTH at all.
    NoneOffered,
    /// The server offers only mechanisms relaykit does not speak.
    OnlyUnsupported,
    /// What the server offers sends the password in clear, and the connection has no TLS.
    PlaintextWithoutTls,
    /// What the server offers is not in the profile's `auth_mechanisms`.
    NotAllowed,
}

/// What an error with [`Fate::Unknown`] adds to its message.
const UNKNOWN_FATE_NOTE: &str = "; the whole message was sent and no verdict came back, so it may have been delivered";

/// The relaykit error: a kind, a message naming what is involved, and where known the stage,
/// the server's reply and a hint a person can act on.
///
/// Messages never contain a password, a protected value or key material.
#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    detail: String,
    stage: Option<Stage>,
    // Boxed: a Result's error stays small (clippy::result_large_err) and most errors have none.
    reply: Option<Box<Reply>>,
    cause: Option<Cause>,
    hint: Option<String>,
    fate: Fate,
    attempts: Option<u32>,
    /// The JSON path of the field at fault, when one is (for [`crate::hints::field_for`]).
    field: Option<String>,
}

impl Error {
    /// A new error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            detail: message.into(),
            stage: None,
            reply: None,
            cause: None,
            hint: None,
            fate: Fate::Rejected,
            attempts: None,
            field: None,
        }
    }

    /// A configuration error about the JSON path `path` (e.g. `$.port`).
    pub fn config(path: &str, reason: impl fmt::Display) -> Self {
        Error::new(ErrorKind::Config, format!("{path}: {reason}")).with_field(path)
    }

    /// A crypto error with `reason`.
    pub fn crypto(reason: impl Into<String>) -> Self {
        Error::new(ErrorKind::Crypto, reason)
    }

    /// An RRT error with `reason`.
    pub fn rrt(reason: impl Into<String>) -> Self {
        Error::new(ErrorKind::Rrt, reason)
    }

    /// An internal error (a bug).
    pub fn internal(reason: impl Into<String>) -> Self {
        Error::new(ErrorKind::Internal, reason)
    }

    /// Sets the stage.
    #[must_use]
    pub fn with_stage(mut self, stage: Stage) -> Self {
        self.stage = Some(stage);
        self
    }

    /// Sets the server's reply.
    #[must_use]
    pub fn with_reply(mut self, reply: Reply) -> Self {
        self.reply = Some(Box::new(reply));
        self
    }

    /// Records the JSON path of the field at fault (`$.username` for a tag in the user name).
    pub(crate) fn with_field(mut self, path: impl Into<String>) -> Self {
        self.field = Some(path.into());
        self
    }

    /// The JSON path of the field the error concerns, when one does: a config error's own path,
    /// the profile field an undefined or misplaced tag was in.
    pub fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }

    /// Sets the cause (for [`crate::hints`]).
    #[must_use]
    pub fn with_cause(mut self, cause: Cause) -> Self {
        self.cause = Some(cause);
        self
    }

    /// Sets the hint.
    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Marks the message's fate unknown: the whole message went out and its reply never came.
    /// The message says so, since sending it again may deliver it twice.
    #[must_use]
    pub fn with_unknown_fate(mut self) -> Self {
        if self.fate != Fate::Unknown {
            self.detail.push_str(UNKNOWN_FATE_NOTE);
        }
        self.fate = Fate::Unknown;
        self
    }

    /// The same error with another fate (for the other messages of a failed connection).
    pub(crate) fn with_fate(mut self, fate: Fate) -> Self {
        self.fate = fate;
        self
    }

    /// Sets how many times the message was tried (a [`crate::Mailer`] does).
    #[must_use]
    pub fn with_attempts(mut self, attempts: u32) -> Self {
        self.attempts = Some(attempts);
        self
    }

    /// The same error with another detail (kind, stage, reply and hint kept).
    pub(crate) fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = detail.into();
        self
    }

    /// The kind.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message every binding shows as the error's `message` and §8's JSON carries: what
    /// went wrong, naming the field, tag or stage, followed by the server's reply where there
    /// was one (`PLAIN rejected: server replied 535 5.7.8 bad`). Without kind, stage or hint,
    /// which have fields of their own.
    pub fn message(&self) -> Cow<'_, str> {
        match &self.reply {
            Some(r) => Cow::Owned(format!("{}: server replied {r}", self.detail)),
            None => Cow::Borrowed(&self.detail),
        }
    }

    /// What went wrong without the server's reply (the first part of [`Error::message`]).
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// The stage, where the error happened during a Test or Send.
    pub fn stage(&self) -> Option<Stage> {
        self.stage
    }

    /// The server's reply, where there was one.
    pub fn reply(&self) -> Option<&Reply> {
        self.reply.as_deref()
    }

    /// The SMTP reply code, where there was one.
    pub fn code(&self) -> Option<u16> {
        self.reply.as_ref().map(|r| r.code)
    }

    /// The enhanced status code, where the server sent one.
    pub fn enhanced_code(&self) -> Option<&str> {
        self.reply.as_ref().and_then(|r| r.enhanced_code.as_deref())
    }

    /// Why it happened, where the layer that saw it could tell.
    pub fn cause(&self) -> Option<&Cause> {
        self.cause.as_ref()
    }

    /// What became of the message: [`Fate::Unknown`] only when the connection failed after the
    /// whole message was sent and before its reply; [`Fate::Rejected`] otherwise.
    pub fn fate(&self) -> Fate {
        self.fate
    }

    /// How many times a [`crate::Mailer`] tried the message, when it did.
    pub fn attempts(&self) -> Option<u32> {
        self.attempts
    }

    /// Whether trying again later may succeed: a 4xx reply (421, 450, 451, 452, 454, ...), or a
    /// failure of the connection itself (name lookup, connect, a timeout, a connection lost
    /// at any stage, `io`) before the message was committed. Never for a fate-unknown message
    /// (sending it again may duplicate it), a 5xx reply, a server that speaks no SMTP or is out
    /// of step (`protocol` without a 4xx: it will do the same again), invalid input, or a TLS or
    /// certificate problem.
    pub fn transient(&self) -> bool {
        if self.fate == Fate::Unknown {
            return false;
        }
        if let Some(r) = &self.reply {
            return r.is_transient();
        }
        // `io` without a stage is a local file that could not be read: not a passing fault.
        matches!(self.kind, ErrorKind::Dns | ErrorKind::Connect | ErrorKind::Timeout)
            || (self.kind == ErrorKind::Io && self.stage.is_some())
    }

    /// Whether the connection itself failed (lost, reset, timed out, closing with 421): the
    /// session cannot carry another message.
    pub fn connection_failed(&self) -> bool {
        match &self.reply {
            Some(r) => r.code == 421,
            None => matches!(self.kind, ErrorKind::Io | ErrorKind::Timeout | ErrorKind::Protocol),
        }
    }

    /// A hint a person can act on (written by [`crate::hints`] for Test and Send).
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }

    /// The §8 JSON form of the error: `{"kind", "stage", "code", "enhanced_code", "message", "hint",
    /// "transient", "fate", "attempts"}`.
    pub fn to_json_value(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

/// The §8 JSON form of an error, `{"kind", "stage", "code", "enhanced_code", "message",
/// "hint"}` (absent parts are absent keys): what [`Error`] serializes as. Public so that a
/// binding's own errors (the C ABI's invalid-argument and panic statuses, whose kinds are not
/// §7's) are written in the same form without restating it.
#[derive(Debug, serde::Serialize)]
pub struct ErrorJson<'a> {
    /// The kind's name (§7's, or a binding's own).
    pub kind: &'a str,
    /// The stage.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage: Option<Stage>,
    /// The SMTP reply code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
    /// The enhanced status code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enhanced_code: Option<&'a str>,
    /// [`Error::message`].
    pub message: Cow<'a, str>,
    /// The hint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<&'a str>,
    /// [`Error::transient`].
    pub transient: bool,
    /// [`Error::fate`].
    pub fate: Fate,
    /// [`Error::attempts`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts: Option<u32>,
}

impl<'a> ErrorJson<'a> {
    /// An error of a binding's own `kind` with only a message.
    pub fn local(kind: &'a str, message: &'a str) -> Self {
        ErrorJson {
            kind,
            stage: None,
            code: None,
            enhanced_code: None,
            message: Cow::Borrowed(message),
            hint: None,
            transient: false,
            fate: Fate::Rejected,
            attempts: None,
        }
    }
}

impl serde::Serialize for Error {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        ErrorJson {
            kind: self.kind.as_str(),
            stage: self.stage,
            code: self.code(),
            enhanced_code: self.enhanced_code(),
            message: self.message(),
            hint: self.hint(),
            transient: self.transient(),
            fate: self.fate,
            attempts: self.attempts,
        }
        .serialize(serializer)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.kind).field("detail", &self.detail);
        if let Some(s) = self.stage {
            d.field("stage", &s);
        }
        if let Some(r) = &self.reply {
            d.field("reply", r);
        }
        if let Some(c) = &self.cause {
            d.field("cause", c);
        }
        if let Some(h) = &self.hint {
            d.field("hint", h);
        }
        if self.fate == Fate::Unknown {
            d.field("fate", &self.fate);
        }
        if let Some(a) = self.attempts {
            d.field("attempts", &a);
        }
        if let Some(p) = &self.field {
            d.field("field", p);
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind)?;
        if let Some(s) = self.stage {
            write!(f, " at {s}")?;
        }
        write!(f, ": {}", self.message())?;
        if let Some(h) = &self.hint {
            write!(f, " (hint: {h})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_means_a_passing_fault_never_a_broken_server_or_a_maybe_delivered_message() {
        let reply = |code| Reply { code, enhanced_code: None, text: String::new() };
        let lost = Error::new(ErrorKind::Io, "lost").with_stage(Stage::Greeting);
        assert!(lost.transient(), "a connection lost at the greeting is worth another try");
        assert!(Error::new(ErrorKind::Timeout, "t").with_stage(Stage::Data).transient());
        assert!(
            Error::new(ErrorKind::Protocol, "closing").with_stage(Stage::MailFrom).with_reply(reply(421)).transient()
        );
        assert!(!Error::new(ErrorKind::Protocol, "not SMTP").with_stage(Stage::Ehlo).transient());
        assert!(
            !Error::new(ErrorKind::Protocol, "out of step")
                .with_stage(Stage::RcptTo)
                .with_reply(reply(354))
                .transient()
        );
        assert!(!Error::new(ErrorKind::Io, "cannot read a file").transient(), "a local file");
        assert!(!Error::new(ErrorKind::SenderRejected, "no").with_reply(reply(550)).transient());
        let unknown = Error::new(ErrorKind::Io, "lost after the dot").with_stage(Stage::Data).with_unknown_fate();
        assert!(!unknown.transient());
        assert!(unknown.message().contains("may have been delivered"), "{unknown}");
        assert_eq!(unknown.clone().with_unknown_fate().message(), unknown.message(), "said once");
    }

    #[test]
    fn kind_names_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for &k in ErrorKind::ALL {
            assert!(seen.insert(k.as_str()), "duplicate name {k}");
            assert_eq!(k.as_str().parse::<ErrorKind>(), Ok(k));
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
        assert!("nope".parse::<ErrorKind>().is_err());
        assert_eq!(ErrorKind::ALL.len(), 15);
        assert_eq!(Stage::MailFrom.as_str(), "mail_from");
    }

    #[test]
    fn display_carries_stage_reply_and_hint() {
        let e = Error::new(ErrorKind::AuthFailed, "PLAIN rejected")
            .with_stage(Stage::Auth)
            .with_reply(Reply { code: 535, enhanced_code: Some("5.7.8".into()), text: "bad".into() })
            .with_hint("535: user name or password rejected");
        let s = e.to_string();
        assert_eq!(
            s,
            "auth_failed at auth: PLAIN rejected: server replied 535 5.7.8 bad (hint: 535: user name or password rejected)"
        );
        let j = e.to_json_value();
        assert_eq!(j["kind"], "auth_failed");
        assert_eq!(j["stage"], "auth");
        assert_eq!(j["code"], 535);
        assert_eq!(j["enhanced_code"], "5.7.8");
    }
}
