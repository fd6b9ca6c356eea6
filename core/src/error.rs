//! One error type for all of relaykit: a kind from §7 of the specification, a message that names
//! the field, tag, key id or stage involved, and the SMTP reply where there was one.

use std::fmt;

/// What went wrong, in the one list every binding shares. Each kind has a stable snake_case
/// name ([`ErrorKind::as_str`]) that the bindings and the JSON forms use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
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
    /// A local read or write failed (a file, a socket after connect).
    Io,
    /// A bug in relaykit; please report it.
    Internal,
}

impl ErrorKind {
    /// Every kind, in the order of §7.
    pub const ALL: [ErrorKind; 15] = [
        ErrorKind::Config,
        ErrorKind::Rrt,
        ErrorKind::Crypto,
        ErrorKind::Dns,
        ErrorKind::Connect,
        ErrorKind::Timeout,
        ErrorKind::Tls,
        ErrorKind::Protocol,
        ErrorKind::AuthUnsupported,
        ErrorKind::AuthFailed,
        ErrorKind::SenderRejected,
        ErrorKind::RecipientRejected,
        ErrorKind::MessageRejected,
        ErrorKind::Io,
        ErrorKind::Internal,
    ];

    /// The stable snake_case name, e.g. `"auth_failed"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Config => "config",
            ErrorKind::Rrt => "rrt",
            ErrorKind::Crypto => "crypto",
            ErrorKind::Dns => "dns",
            ErrorKind::Connect => "connect",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Tls => "tls",
            ErrorKind::Protocol => "protocol",
            ErrorKind::AuthUnsupported => "auth_unsupported",
            ErrorKind::AuthFailed => "auth_failed",
            ErrorKind::SenderRejected => "sender_rejected",
            ErrorKind::RecipientRejected => "recipient_rejected",
            ErrorKind::MessageRejected => "message_rejected",
            ErrorKind::Io => "io",
            ErrorKind::Internal => "internal",
        }
    }

    /// The kind with the given snake_case name.
    pub fn from_name(name: &str) -> Option<ErrorKind> {
        ErrorKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stage of a Test or a Send, as named in reports and errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
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
}

impl Stage {
    /// The stable snake_case name, e.g. `"mail_from"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Stage::Resolve => "resolve",
            Stage::Dns => "dns",
            Stage::Connect => "connect",
            Stage::Tls => "tls",
            Stage::Greeting => "greeting",
            Stage::Ehlo => "ehlo",
            Stage::Auth => "auth",
            Stage::MailFrom => "mail_from",
            Stage::RcptTo => "rcpt_to",
            Stage::Data => "data",
            Stage::Rset => "rset",
            Stage::Quit => "quit",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
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

/// The relaykit error: a kind, a message naming what is involved, and where known the stage,
/// the server's reply and a hint a person can act on.
///
/// Messages never contain a password, a protected value or key material.
#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    stage: Option<Stage>,
    reply: Option<Reply>,
    hint: Option<String>,
}

impl Error {
    /// A new error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error { kind, message: message.into(), stage: None, reply: None, hint: None }
    }

    /// A configuration error about the JSON path `path` (e.g. `$.port`).
    pub fn config(path: &str, reason: impl fmt::Display) -> Self {
        Error::new(ErrorKind::Config, format!("{path}: {reason}"))
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
        self.reply = Some(reply);
        self
    }

    /// Sets the hint.
    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// The same error with another message (kind, stage, reply and hint kept).
    pub(crate) fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    /// The kind.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message (without stage, reply or hint).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The stage, where the error happened during a Test or Send.
    pub fn stage(&self) -> Option<Stage> {
        self.stage
    }

    /// The server's reply, where there was one.
    pub fn reply(&self) -> Option<&Reply> {
        self.reply.as_ref()
    }

    /// The SMTP reply code, where there was one.
    pub fn code(&self) -> Option<u16> {
        self.reply.as_ref().map(|r| r.code)
    }

    /// The enhanced status code, where the server sent one.
    pub fn enhanced_code(&self) -> Option<&str> {
        self.reply.as_ref().and_then(|r| r.enhanced_code.as_deref())
    }

    /// A hint a person can act on.
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }

    /// The §8 JSON form of the error: `{"kind", "stage", "code", "enhanced_code", "message", "hint"}`.
    pub fn to_json_value(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        m.insert("kind".into(), self.kind.as_str().into());
        if let Some(s) = self.stage {
            m.insert("stage".into(), s.as_str().into());
        }
        if let Some(r) = &self.reply {
            m.insert("code".into(), r.code.into());
            if let Some(e) = &r.enhanced_code {
                m.insert("enhanced_code".into(), e.clone().into());
            }
        }
        m.insert("message".into(), self.full_message().into());
        if let Some(h) = &self.hint {
            m.insert("hint".into(), h.clone().into());
        }
        serde_json::Value::Object(m)
    }

    /// The message followed by the server's reply text, if any.
    pub fn full_message(&self) -> String {
        match &self.reply {
            Some(r) => format!("{}: server replied {r}", self.message),
            None => self.message.clone(),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.kind).field("message", &self.message);
        if let Some(s) = self.stage {
            d.field("stage", &s);
        }
        if let Some(r) = &self.reply {
            d.field("reply", r);
        }
        if let Some(h) = &self.hint {
            d.field("hint", h);
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
        write!(f, ": {}", self.full_message())?;
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
    fn kind_names_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for k in ErrorKind::ALL {
            assert!(seen.insert(k.as_str()), "duplicate name {k}");
            assert_eq!(ErrorKind::from_name(k.as_str()), Some(k));
        }
        assert_eq!(ErrorKind::from_name("nope"), None);
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
