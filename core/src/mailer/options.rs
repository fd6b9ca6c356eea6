//! [`MailerOptions`] and their JSON form, and the counters a mailer reports ([`MailerStats`]).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::Result;
use crate::json::{self, Root};
use crate::options::{helper_argv, options_from};
use crate::session::{DEFAULT_STREAM_WINDOW, MAX_STREAM_WINDOW, TraceSink};
use crate::token::SharedTokenProvider;

/// The most `max_connections` can be: far beyond what one server allows one client, and within
/// what a semaphore holds on every platform.
const MAX_CONNECTIONS: u32 = 10_000;

/// The most `max_queued` can be.
const MAX_QUEUED: u32 = 1_000_000;

/// Options of a [`crate::Mailer`]. Every key of the JSON form is optional (`null` or `{}`
/// gives the defaults).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailerOptions {
    /// The most connections open at once, in use or idle (default 2, 1 to 10,000). A send that
    /// finds them all busy waits for one.
    pub max_connections: u32,
    /// After this many messages a connection is closed with QUIT and the next send opens a
    /// fresh one (default 100, at least 1).
    pub max_messages_per_connection: u32,
    /// A connection idle longer than this is not reused but closed with QUIT (default 30,
    /// more than 0).
    pub idle_timeout_secs: f64,
    /// At most `messages` messages (attempts, retries included) per `per_secs` seconds, shared
    /// by all the mailer's connections, spaced evenly (default: no limit).
    pub rate_limit: Option<RateLimit>,
    /// How transient failures are retried (default: 3 attempts, 200 ms doubling up to 10 s).
    pub retry: RetryPolicy,
    /// How many messages a connection to a server with CHUNKING writes ahead of their replies
    /// (default 6, 1 to 64): the messages per round trip of one connection. Above 6, a server
    /// that drops a session after 20 errors (Postfix's `smtpd_hard_error_limit`) while refusing
    /// a whole window leaves the window's messages with fate unknown; raise it for servers
    /// known not to, or whose limit is raised.
    pub stream_window: u32,
    /// The most messages waiting for a connection at once (default 10,000, 1 to 1,000,000). A
    /// send that finds the queue full waits for room, and `send_many` feeds its messages in
    /// as room frees, so memory stays bounded however many are sent; the wait ends as the
    /// queue moves, which each connection's stage timeouts bound, or at `close`. A message
    /// whose connection was found dead goes back to the front even when the queue is full (at
    /// most the messages that were in flight on it more).
    pub max_queued: u32,
    /// Whether a message whose fate is unknown (the connection failed after its final `.`,
    /// before the reply) is sent again, at the risk of delivering it twice (default false).
    pub retry_unknown: bool,
    /// Where the protocol trace of every connection goes (AUTH payloads are always redacted);
    /// each event carries its connection's id. Not part of the JSON form.
    #[serde(skip)]
    pub trace: Option<TraceSink>,
    /// The current-user NTLM helper's argv (default: Samba's `ntlm_auth`).
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "helper_argv")]
    pub ntlm_helper: Option<Vec<String>>,
    /// Where OAUTHBEARER/XOAUTH2 access tokens come from: each new connection asks it, and
    /// asks once more after the server rejects a token. Not part of the JSON form.
    #[serde(skip)]
    pub token_provider: Option<SharedTokenProvider>,
    /// How messages go out: absent for SMTP, or `{"capture": {"dir": "/path"}}` /
    /// `{"capture": "memory"}` to validate and keep each message instead of connecting (see
    /// [`crate::capture`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transport: Option<crate::capture::Transport>,
    /// Told, for each message, how much of it is written (see [`crate::progress`]); the calls
    /// of messages sent at once on different connections interleave. Not part of the JSON form.
    #[serde(skip)]
    pub progress: Option<crate::progress::ProgressSink>,
}

impl Default for MailerOptions {
    fn default() -> Self {
        MailerOptions {
            max_connections: 2,
            max_messages_per_connection: 100,
            idle_timeout_secs: 30.0,
            rate_limit: None,
            retry: RetryPolicy::default(),
            retry_unknown: false,
            stream_window: DEFAULT_STREAM_WINDOW,
            max_queued: 10_000,
            trace: None,
            ntlm_helper: None,
            token_provider: None,
            transport: None,
            progress: None,
        }
    }
}

impl MailerOptions {
    /// Options from their JSON form: `{"max_connections": 4, "max_messages_per_connection":
    /// 100, "idle_timeout_secs": 30, "rate_limit": {"messages": 10, "per_secs": 1},
    /// "retry": {"max_attempts": 3, "base_delay_ms": 200, "max_delay_ms": 10000},
    /// "retry_unknown": false, "stream_window": 6, "max_queued": 10000, "ntlm_helper": [...]}`;
    /// `null` gives the defaults.
    pub fn from_json(text: &str) -> Result<MailerOptions> {
        Self::from_json_value(&json::parse_text(text, Root::Options)?)
    }

    /// Like [`MailerOptions::from_json`], from a parsed value.
    pub fn from_json_value(v: &Value) -> Result<MailerOptions> {
        let o: MailerOptions = options_from(v)?;
        o.validate()?;
        Ok(o)
    }

    /// Every value in its range (the error names `options.<key>`). [`crate::Mailer::new`]
    /// checks this too, for options built in code.
    pub fn validate(&self) -> Result<()> {
        if !(1..=MAX_CONNECTIONS).contains(&self.max_connections) {
            return Err(
                Root::Options.error("max_connections", format!("must be at least 1 and at most {MAX_CONNECTIONS}"))
            );
        }
        if self.max_messages_per_connection == 0 {
            return Err(Root::Options.error("max_messages_per_connection", "must be at least 1"));
        }
        self.idle_timeout()?;
        if !(1..=MAX_STREAM_WINDOW).contains(&self.stream_window) {
            return Err(
                Root::Options.error("stream_window", format!("must be at least 1 and at most {MAX_STREAM_WINDOW}"))
            );
        }
        if !(1..=MAX_QUEUED).contains(&self.max_queued) {
            return Err(Root::Options.error("max_queued", format!("must be at least 1 and at most {MAX_QUEUED}")));
        }
        if let Some(r) = &self.rate_limit {
            r.interval()?;
        }
        self.retry.validate()
    }

    /// `idle_timeout_secs` as a duration, when it is a positive, finite number of seconds.
    pub(crate) fn idle_timeout(&self) -> Result<Duration> {
        let s = self.idle_timeout_secs;
        match Duration::try_from_secs_f64(s) {
            Ok(d) if s > 0.0 => Ok(d),
            _ => {
                Err(Root::Options.error("idle_timeout_secs", format!("must be a positive number of seconds, not {s}")))
            }
        }
    }
}

/// A rate shared by a mailer's connections: at most `messages` per `per_secs` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// How many messages (at least 1).
    pub messages: u32,
    /// Per how many seconds (more than 0).
    pub per_secs: f64,
}

impl RateLimit {
    /// The even spacing between two messages.
    pub(crate) fn interval(&self) -> Result<Duration> {
        if self.messages == 0 {
            return Err(Root::Options.error("rate_limit.messages", "must be at least 1"));
        }
        match Duration::try_from_secs_f64(self.per_secs) {
            Ok(d) if self.per_secs > 0.0 => Ok(d / self.messages),
            _ => Err(Root::Options
                .error("rate_limit.per_secs", format!("must be a positive number of seconds, not {}", self.per_secs))),
        }
    }
}

/// How a [`crate::Mailer`] retries a transient failure ([`crate::Error::transient`]): up to
/// `max_attempts` transactions in all, waiting `base_delay_ms` doubled after each attempt, at
/// most `max_delay_ms`, each wait drawn between half of that and all of it (jitter, so that
/// messages refused together do not all come back together).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryPolicy {
    /// Transactions per message in all, the first included (default 3; 1 turns retries off).
    pub max_attempts: u32,
    /// The wait before the first retry, in milliseconds (default 200).
    pub base_delay_ms: u64,
    /// The longest wait, in milliseconds (default 10,000).
    pub max_delay_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { max_attempts: 3, base_delay_ms: 200, max_delay_ms: 10_000 }
    }
}

/// The most attempts and the longest wait a policy may ask for.
const MAX_ATTEMPTS: u32 = 100;
const MAX_DELAY_MS: u64 = 3_600_000;

impl RetryPolicy {
    fn validate(&self) -> Result<()> {
        if !(1..=MAX_ATTEMPTS).contains(&self.max_attempts) {
            return Err(
                Root::Options.error("retry.max_attempts", format!("must be at least 1 and at most {MAX_ATTEMPTS}"))
            );
        }
        if self.max_delay_ms > MAX_DELAY_MS {
            return Err(Root::Options.error("retry.max_delay_ms", format!("must be at most {MAX_DELAY_MS} (an hour)")));
        }
        if self.base_delay_ms > self.max_delay_ms {
            return Err(Root::Options.error("retry.base_delay_ms", "must not be more than retry.max_delay_ms"));
        }
        Ok(())
    }

    /// The wait after attempt number `attempt` (1 for the first), before jitter.
    pub(crate) fn delay(&self, attempt: u32) -> Duration {
        let doubled = self.base_delay_ms.saturating_mul(1u64 << attempt.saturating_sub(1).min(32));
        Duration::from_millis(doubled.min(self.max_delay_ms))
    }
}

/// What a mailer has done so far (a snapshot; counters only grow, except `open_connections` and
/// `queued`). `sent` and `failed` count each message as it ends, also during a `send_many`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct MailerStats {
    /// Messages the server accepted.
    pub sent: u64,
    /// Sends that returned an error (bad messages, rejections, failed connections, and sends
    /// after `close`).
    pub failed: u64,
    /// Retries after a transient failure (each a new transaction after a backoff).
    pub retried: u64,
    /// Reused connections found dead and replaced, the message then sent on a fresh one.
    pub reconnects: u64,
    /// Connections opened (each with its TLS and login) since the mailer was created.
    pub connections_opened: u64,
    /// Connections open now, in use or idle.
    pub open_connections: u64,
    /// Messages waiting for a connection now (at most `max_queued`, see there).
    pub queued: u64,
}

impl MailerStats {
    /// The JSON form: every counter, under its field's name.
    pub fn to_json_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// The JSON form as text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;
    use crate::ErrorKind;
    use serde_json::json;

    #[test]
    fn defaults_and_ranges_name_the_key() {
        let o = MailerOptions::from_json_value(&Value::Null).unwrap();
        assert_eq!((o.max_connections, o.max_messages_per_connection, o.max_queued), (2, 100, 10_000));
        assert!((o.idle_timeout_secs - 30.0).abs() < f64::EPSILON);
        let o = MailerOptions::from_json(r#"{"max_connections": 4, "idle_timeout_secs": 0.5}"#).unwrap();
        assert_eq!((o.max_connections, o.max_messages_per_connection), (4, 100));
        assert_eq!(o.retry, RetryPolicy::default());
        let o =
            MailerOptions::from_json(r#"{"rate_limit": {"messages": 4, "per_secs": 2}, "retry": {"max_attempts": 5}}"#)
                .unwrap();
        assert_eq!(o.rate_limit.unwrap().interval().unwrap(), Duration::from_millis(500));
        assert_eq!((o.retry.max_attempts, o.retry.base_delay_ms), (5, 200));
        for (v, key) in [
            (json!({"max_connections": 0}), "options.max_connections: must be at least 1 and"),
            (json!({"max_connections": -1}), "options.max_connections:"),
            (json!({"max_connections": 10_001}), "options.max_connections: must be at least 1 and at most 10000"),
            (json!({"max_messages_per_connection": 0}), "options.max_messages_per_connection: must be at least 1"),
            (json!({"idle_timeout_secs": 0}), "options.idle_timeout_secs: must be a positive"),
            (json!({"idle_timeout_secs": 1e300}), "options.idle_timeout_secs: must be a positive"),
            (json!({"idle_timeout_secs": "30"}), "options.idle_timeout_secs:"),
            (json!({"max_conections": 2}), "options.max_conections: unknown field"),
            (json!({"ntlm_helper": []}), "options.ntlm_helper: must be a non-empty list"),
            (json!({"rate_limit": {"messages": 0, "per_secs": 1}}), "options.rate_limit.messages: must be at least 1"),
            (json!({"rate_limit": {"messages": 5, "per_secs": 0}}), "options.rate_limit.per_secs: must be a positive"),
            (json!({"rate_limit": {"messages": 5}}), "options.rate_limit: missing field `per_secs`"),
            (json!({"retry": {"max_attempts": 0}}), "options.retry.max_attempts: must be at least 1"),
            (json!({"retry": {"base_delay_ms": 20_000}}), "options.retry.base_delay_ms: must not be more"),
            (json!({"retry": {"max_delay_ms": -1}}), "options.retry.max_delay_ms:"),
            (json!({"retry": {"attempts": 2}}), "options.retry.attempts: unknown field"),
            (json!({"stream_window": 0}), "options.stream_window: must be at least 1 and at most 64"),
            (json!({"stream_window": 65}), "options.stream_window: must be at least 1 and at most 64"),
            (json!({"max_queued": 0}), "options.max_queued: must be at least 1 and at most 1000000"),
            (json!({"max_queued": 1_000_001}), "options.max_queued: must be at least 1 and at most 1000000"),
        ] {
            let e = MailerOptions::from_json_value(&v).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Config, "{e}");
            assert!(e.message().starts_with(key), "{v}: {e}");
        }
    }
}

#[cfg(test)]
mod retry_tests {
    use super::*;

    #[test]
    fn the_delay_doubles_up_to_the_cap() {
        let p = RetryPolicy { max_attempts: 10, base_delay_ms: 100, max_delay_ms: 1000 };
        let ms: Vec<u128> = (1..=6).map(|a| p.delay(a).as_millis()).collect();
        assert_eq!(ms, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(p.delay(99).as_millis(), 1000, "no overflow for a late attempt");
    }
}
