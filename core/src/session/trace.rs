//! The protocol trace: every line each side sends, with secrets redacted (the client's AUTH
//! lines by what they are, the server's lines by the session's secrets: anything the session sent as a
//! credential).
//!
//! Opt-in through [`SessionConfig::trace`](super::SessionConfig::trace); the same redacted text
//! also goes to `tracing` at TRACE level under the target `relaykit::smtp`.

use std::fmt;
use std::sync::Arc;

use crate::secret::Secrets;

/// Which side sent a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// relaykit sent it.
    Client,
    /// The server sent it.
    Server,
}

impl Direction {
    /// `"C"` or `"S"`, as protocol transcripts write them.
    pub const fn as_str(self) -> &'static str {
        match self {
            Direction::Client => "C",
            Direction::Server => "S",
        }
    }
}

/// One traced line (without its CRLF), already redacted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceEvent {
    /// Who sent it.
    pub direction: Direction,
    /// The line, redacted.
    pub text: String,
    /// Which connection of a [`crate::Mailer`] it was on (numbered from 1 in the order they
    /// opened); `None` outside a mailer.
    pub connection: Option<u64>,
}

impl fmt::Display for TraceEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(c) = self.connection {
            write!(f, "[{c}] ")?;
        }
        write!(f, "{}: {}", self.direction.as_str(), self.text)
    }
}

/// Where trace events go. Called synchronously on the session's task, so keep it quick.
#[derive(Clone)]
pub struct TraceSink(pub Arc<dyn Fn(TraceEvent) + Send + Sync>);

impl TraceSink {
    /// A sink calling `f`.
    pub fn new(f: impl Fn(TraceEvent) + Send + Sync + 'static) -> TraceSink {
        TraceSink(Arc::new(f))
    }
}

impl fmt::Debug for TraceSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TraceSink(..)")
    }
}

/// What the session is doing, for redaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Normal,
    /// Inside a SASL exchange: every client line is a credential.
    Auth,
}

/// The redacted form of a client command line. `AUTH MECH <anything>` keeps the mechanism;
/// during an AUTH exchange every line but the `*` cancel is hidden.
pub(crate) fn redact_client(line: &str, mode: Mode) -> String {
    if mode == Mode::Auth {
        return if line == "*" { "*".into() } else { "<redacted>".into() };
    }
    let mut words = line.splitn(3, ' ');
    let verb = words.next().unwrap_or_default();
    if verb.eq_ignore_ascii_case("AUTH") {
        let mech = words.next().unwrap_or_default();
        return match words.next() {
            Some(_) => format!("{verb} {mech} <redacted>"),
            None => format!("{verb} {mech}").trim_end().to_owned(),
        };
    }
    line.to_owned()
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Tracer {
    sink: Option<TraceSink>,
}

impl Tracer {
    pub(crate) fn new(sink: Option<TraceSink>) -> Tracer {
        Tracer { sink }
    }

    /// Whether anyone listens; lets callers skip building text nobody reads.
    pub(crate) fn enabled(&self) -> bool {
        self.sink.is_some() || tracing::enabled!(target: "relaykit::smtp", tracing::Level::TRACE)
    }

    pub(crate) fn emit(&self, direction: Direction, text: String) {
        tracing::trace!(target: "relaykit::smtp", "{}: {}", direction.as_str(), text);
        if let Some(sink) = &self.sink {
            (sink.0)(TraceEvent { direction, text, connection: None });
        }
    }

    pub(crate) fn client(&self, line: &str, mode: Mode) {
        if self.enabled() {
            self.emit(Direction::Client, redact_client(line, mode));
        }
    }

    /// Traces the raw bytes of one reply, line by line, each cleaned of `secrets`.
    pub(crate) fn server(&self, raw: &[u8], secrets: &Secrets) {
        if !self.enabled() {
            return;
        }
        for line in raw.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if !line.is_empty() {
                let text = String::from_utf8_lossy(line);
                self.emit(Direction::Server, secrets.scrub(&text).into_owned());
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn auth_lines_are_redacted() {
        assert_eq!(redact_client("AUTH PLAIN AHVzZXIAcGFzcw==", Mode::Normal), "AUTH PLAIN <redacted>");
        assert_eq!(redact_client("auth login dXNlcg==", Mode::Normal), "auth login <redacted>");
        assert_eq!(redact_client("AUTH LOGIN", Mode::Normal), "AUTH LOGIN");
        assert_eq!(redact_client("AUTH XOAUTH2 =", Mode::Normal), "AUTH XOAUTH2 <redacted>");
        assert_eq!(redact_client("cGFzc3dvcmQ=", Mode::Auth), "<redacted>");
        assert_eq!(redact_client("", Mode::Auth), "<redacted>");
        assert_eq!(redact_client("*", Mode::Auth), "*");
        assert_eq!(redact_client("MAIL FROM:<a@b>", Mode::Normal), "MAIL FROM:<a@b>");
    }

    #[test]
    fn sink_gets_server_lines_one_by_one() {
        let got = Arc::new(std::sync::Mutex::new(Vec::new()));
        let g = got.clone();
        let t = Tracer::new(Some(TraceSink::new(move |e| {
            g.lock().unwrap().push(e.to_string());
        })));
        t.server(b"250-a\r\n250 b\r\n", &Secrets::default());
        t.client("AUTH PLAIN secret", Mode::Normal);
        assert_eq!(*got.lock().unwrap(), ["S: 250-a", "S: 250 b", "C: AUTH PLAIN <redacted>"]);
    }
}
