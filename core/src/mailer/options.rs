//! [`MailerOptions`] and their JSON form, and the counters a mailer reports ([`MailerStats`]).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::Result;
use crate::json::{self, Root};
use crate::options::{helper_argv, options_from};
use crate::session::TraceSink;

/// The most `max_connections` can be: far beyond what one server allows one client, and within
/// what a semaphore holds on every platform.
const MAX_CONNECTIONS: u32 = 10_000;

/// Options of a [`crate::Mailer`]. The JSON form has the first three keys; every key is
/// optional (`null` or `{}` gives the defaults).
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
    /// Where the protocol trace of every connection goes (AUTH payloads are always redacted).
    /// Not part of the JSON form.
    #[serde(skip)]
    pub trace: Option<TraceSink>,
    /// The current-user NTLM helper's argv (default: Samba's `ntlm_auth`).
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "helper_argv")]
    pub ntlm_helper: Option<Vec<String>>,
}

impl Default for MailerOptions {
    fn default() -> Self {
        MailerOptions {
            max_connections: 2,
            max_messages_per_connection: 100,
            idle_timeout_secs: 30.0,
            trace: None,
            ntlm_helper: None,
        }
    }
}

impl MailerOptions {
    /// Options from their JSON form: `{"max_connections": 4, "max_messages_per_connection":
    /// 100, "idle_timeout_secs": 30, "ntlm_helper": [...]}`; `null` gives the defaults.
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
        Ok(())
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

/// What a mailer has done so far (a snapshot; counters only grow, except `open_connections`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct MailerStats {
    /// Messages the server accepted.
    pub sent: u64,
    /// Sends that returned an error (bad messages, rejections, failed connections, and sends
    /// after `close`).
    pub failed: u64,
    /// Reused connections found dead and replaced, the message then sent on a fresh one.
    pub reconnects: u64,
    /// Connections opened (each with its TLS and login) since the mailer was created.
    pub connections_opened: u64,
    /// Connections open now, in use or idle.
    pub open_connections: u64,
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
        assert_eq!((o.max_connections, o.max_messages_per_connection), (2, 100));
        assert!((o.idle_timeout_secs - 30.0).abs() < f64::EPSILON);
        let o = MailerOptions::from_json(r#"{"max_connections": 4, "idle_timeout_secs": 0.5}"#).unwrap();
        assert_eq!((o.max_connections, o.max_messages_per_connection), (4, 100));
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
        ] {
            let e = MailerOptions::from_json_value(&v).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Config, "{e}");
            assert!(e.message().starts_with(key), "{v}: {e}");
        }
    }
}
