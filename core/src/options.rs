//! The options of a Test and of a Send, with their JSON forms (derived with serde; errors name
//! `options.<path>`).

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::error::Result;
use crate::json::{self, Root};
use crate::session::TraceSink;
use crate::token::SharedTokenProvider;

/// The optional relay check of a Test: MAIL FROM `from`, RCPT TO `to`, then RSET. Nothing is
/// sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayCheckRequest {
    /// The sender to try. (Absent reads as empty, so that `validate` names the key.)
    #[serde(default)]
    pub from: String,
    /// The recipient to try.
    #[serde(default)]
    pub to: String,
}

/// Options of a Test.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestOptions {
    /// Check that the server would relay from `from` to `to` (MAIL FROM/RCPT TO, then RSET).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relay_check: Option<RelayCheckRequest>,
    /// Where the protocol trace goes (AUTH payloads are always redacted). Not part of the JSON
    /// form: each binding takes its own callback.
    #[serde(skip)]
    pub trace: Option<TraceSink>,
    /// The current-user NTLM helper's argv (default: Samba's `ntlm_auth`).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "helper_argv")]
    pub ntlm_helper: Option<Vec<String>>,
    /// Where OAUTHBEARER/XOAUTH2 access tokens come from (instead of the profile's password),
    /// asked for each login and once more after the server rejects a token. Not part of the
    /// JSON form: each binding takes its own function. See [`crate::token`].
    #[serde(skip)]
    pub token_provider: Option<SharedTokenProvider>,
}

/// Options of a Send.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendOptions {
    /// Where the protocol trace goes (AUTH payloads are always redacted). Not part of the JSON
    /// form.
    #[serde(skip)]
    pub trace: Option<TraceSink>,
    /// The current-user NTLM helper's argv (default: Samba's `ntlm_auth`).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "helper_argv")]
    pub ntlm_helper: Option<Vec<String>>,
    /// Where OAUTHBEARER/XOAUTH2 access tokens come from (see [`TestOptions::token_provider`]).
    #[serde(skip)]
    pub token_provider: Option<SharedTokenProvider>,
    /// How the message goes out: absent for SMTP to the profile's server, or
    /// `{"capture": {"dir": "/path"}}` / `{"capture": "memory"}` to validate and keep it
    /// instead of connecting (see [`crate::capture`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<crate::capture::Transport>,
    /// Told how much of the message is written (see [`crate::progress`]). Not part of the JSON
    /// form: each binding takes its own callback.
    #[serde(skip)]
    pub progress: Option<crate::progress::ProgressSink>,
}

/// A helper command line: the command and its arguments, at least the command.
pub(crate) fn helper_argv<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<Vec<String>>, D::Error> {
    match Option::<Vec<String>>::deserialize(d)? {
        Some(v) if v.is_empty() => {
            Err(serde::de::Error::custom("must be a non-empty list of strings (the command and its arguments)"))
        }
        other => Ok(other),
    }
}

impl TestOptions {
    /// Options from their JSON form: `{"relay_check": {"from": "...", "to": "..."},
    /// "ntlm_helper": ["ntlm_auth", "..."]}`; `null` gives the defaults.
    pub fn from_json(text: &str) -> Result<TestOptions> {
        Self::from_json_value(&json::parse_text(text, Root::Options)?)
    }

    /// Like [`TestOptions::from_json`], from a parsed value.
    pub fn from_json_value(v: &Value) -> Result<TestOptions> {
        let o: TestOptions = options_from(v)?;
        if let Some(r) = &o.relay_check {
            r.validate()?;
        }
        Ok(o)
    }
}

impl SendOptions {
    /// Options from their JSON form: `{"ntlm_helper": [...]}`; `null` gives the defaults.
    pub fn from_json(text: &str) -> Result<SendOptions> {
        Self::from_json_value(&json::parse_text(text, Root::Options)?)
    }

    /// Like [`SendOptions::from_json`], from a parsed value.
    pub fn from_json_value(v: &Value) -> Result<SendOptions> {
        options_from(v)
    }
}

pub(crate) fn options_from<T: serde::de::DeserializeOwned + Default>(v: &Value) -> Result<T> {
    match v {
        Value::Null => Ok(T::default()),
        Value::Object(_) => json::from_value(v, Root::Options),
        other => Err(Root::Options.error("", format!("expected an object, found {}", json::type_name(other)))),
    }
}

impl RelayCheckRequest {
    /// Both addresses present, and none that could smuggle a command into the session.
    pub fn validate(&self) -> Result<()> {
        for (k, v) in [("from", &self.from), ("to", &self.to)] {
            let path = format!("relay_check.{k}");
            if v.trim().is_empty() {
                return Err(Root::Options.error(&path, "is required (an address)"));
            }
            if v.contains(['\r', '\n', '\0', '<', '>']) {
                return Err(Root::Options.error(&path, "contains a control character or angle bracket"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;
    use crate::ErrorKind;
    use serde_json::json;

    #[test]
    fn options_from_json_name_the_field_at_fault() {
        let o = TestOptions::from_json_value(&json!({"relay_check": {"from": "a@x.test", "to": "b@x.test"}})).unwrap();
        assert_eq!(o.relay_check.unwrap().to, "b@x.test");
        assert!(TestOptions::from_json_value(&Value::Null).unwrap().relay_check.is_none());
        let e = TestOptions::from_json_value(&json!({"relay": true})).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(e.message().starts_with("options.relay: unknown field `relay`"), "{e}");
        let e = TestOptions::from_json_value(&json!({"relay_check": {"from": "a@x.test"}})).unwrap_err();
        assert!(e.message().starts_with("options.relay_check.to: is required"), "{e}");
        let e = TestOptions::from_json_value(&json!({"relay_check": {"from": "a@x.test", "to": " "}})).unwrap_err();
        assert!(e.message().starts_with("options.relay_check.to: is required"), "{e}");
        let e = SendOptions::from_json_value(&json!({"ntlm_helper": "ntlm_auth"})).unwrap_err();
        assert!(e.message().starts_with("options.ntlm_helper:"), "{e}");
        let e = SendOptions::from_json_value(&json!({"ntlm_helper": []})).unwrap_err();
        assert!(e.message().starts_with("options.ntlm_helper: must be a non-empty list"), "{e}");
        let e = SendOptions::from_json_value(&json!([1])).unwrap_err();
        assert!(e.message().starts_with("options: expected an object"), "{e}");
        let e = SendOptions::from_json("{").unwrap_err();
        assert!(e.message().starts_with("options: not valid JSON"), "{e}");
    }
}
