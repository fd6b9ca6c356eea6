//! What Test and Send return. Their §8 JSON form, the same from every language, is derived
//! here with serde and nowhere else: the bindings hand this JSON over (Python) or rename its
//! keys (Node), and never restate a field.

use serde::{Serialize, Serializer};
use serde_json::Value;

use crate::error::{Error, Reply, Result as RkResult, Stage};
pub use crate::session::TlsInfo as TlsReport;

/// One stage of a Test: its name, whether it succeeded, and how long it took.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageReport {
    /// The stage.
    #[serde(rename = "name")]
    pub stage: Stage,
    /// Whether it succeeded.
    pub ok: bool,
    /// Milliseconds it took (written with microsecond precision).
    #[serde(serialize_with = "micros")]
    pub ms: f64,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's `serialize_with` hands the field by reference
fn micros<S: Serializer>(ms: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((ms * 1000.0).round() / 1000.0)
}

/// What the server said about itself.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct ServerInfo {
    /// The 220 greeting text.
    pub banner: String,
    /// The EHLO keywords with their parameters, as sent (e.g. `SIZE 10240000`).
    pub extensions: Vec<String>,
    /// The SIZE limit, if announced and not 0.
    pub size_limit: Option<u64>,
    /// The AUTH mechanisms offered (after STARTTLS, where it was used).
    pub auth_mechanisms: Vec<String>,
}

/// One authentication attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuthAttempt {
    /// The mechanism name.
    pub mechanism: String,
    /// Whether it succeeded.
    pub ok: bool,
    /// The server's reply code, if it sent one.
    pub code: Option<u16>,
    /// The server's reply or the local reason, when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Authentication: the mechanism that worked and every attempt.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct AuthReport {
    /// The mechanism that succeeded.
    pub mechanism: Option<String>,
    /// Every attempt, in order.
    pub attempts: Vec<AuthAttempt>,
}

/// The relay check (MAIL FROM / RCPT TO, then RSET).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RelayCheck {
    /// The sender tried.
    pub from: String,
    /// The recipient tried.
    pub to: String,
    /// Whether the server would accept the message.
    pub ok: bool,
    /// The reply to RCPT TO (or MAIL FROM when that failed).
    pub reply: String,
}

/// The result of a Test (the dialog's Test button). A server-side failure is in the report
/// (`ok: false` and `error`); only invalid input makes Test return `Err`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TestReport {
    /// Whether every stage succeeded.
    pub ok: bool,
    /// The stages run, in order.
    pub stages: Vec<StageReport>,
    /// The server's greeting and capabilities.
    pub server: Option<ServerInfo>,
    /// The TLS connection, when TLS was used.
    pub tls: Option<TlsReport>,
    /// Authentication, when required.
    pub auth: Option<AuthReport>,
    /// The relay check, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relay: Option<RelayCheck>,
    /// Things that worked but deserve attention (e.g. an unverified certificate).
    pub warnings: Vec<String>,
    /// The failure.
    pub error: Option<Error>,
}

impl TestReport {
    /// The §8 JSON form.
    pub fn to_json_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// The §8 JSON form as text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A recipient with the server's reply: a refusal (in [`SendResult::rejected`]), or with LMTP a
/// recipient's own reply after the data (in [`SendResult::deliveries`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The address.
    pub address: String,
    /// The server's reply.
    pub reply: Reply,
}

/// §8 writes a rejection flat: `{"address", "code", "enhanced_code", "message"}`.
impl Serialize for Rejection {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Flat<'a> {
            address: &'a str,
            code: u16,
            enhanced_code: Option<&'a str>,
            message: &'a str,
        }
        Flat {
            address: &self.address,
            code: self.reply.code,
            enhanced_code: self.reply.enhanced_code.as_deref(),
            message: &self.reply.text,
        }
        .serialize(s)
    }
}

/// The result of a Send: what the server accepted and refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SendResult {
    /// Recipients the server accepted.
    pub accepted: Vec<String>,
    /// Recipients the server refused, with its replies.
    pub rejected: Vec<Rejection>,
    /// The Message-ID header of the message.
    pub message_id: Option<String>,
    /// The server's final reply (usually with the queue id), written as one line.
    #[serde(serialize_with = "serialize_display")]
    pub reply: Reply,
    /// How many mail transactions it took: 1, or more when a [`crate::Mailer`] retried the
    /// message or its deferred recipients.
    pub attempts: u32,
    /// LMTP only (RFC 2033): every recipient the server accepted at RCPT with its own reply
    /// after the data, in RCPT order, delivered (2xx) or not (also in `rejected`). Left out of
    /// the JSON for SMTP, whose one reply after the data is `reply`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deliveries: Vec<Rejection>,
}

fn serialize_display<T: std::fmt::Display, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

impl SendResult {
    /// The §8 JSON form.
    pub fn to_json_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// The §8 JSON form as text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// One message's outcome in a batch (the `relaykit send --batch --json` line): where it came
/// from and either its [`SendResult`] or its [`Error`], each in its §8 JSON form:
/// `{"line": 3, "ok": true, "result": {...}}` or `{"line": 4, "ok": false, "error": {...}}`.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct BatchOutcome<'a> {
    /// The message's position in its batch (a file's line number, from 1).
    pub line: u64,
    /// Whether the message was sent (some recipients may still have been refused: see
    /// `result.rejected`).
    pub ok: bool,
    /// The result, when it was sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<&'a SendResult>,
    /// The error, when it was not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'a Error>,
}

impl<'a> BatchOutcome<'a> {
    /// The outcome of the message at `line`.
    pub fn new(line: u64, outcome: &'a RkResult<SendResult>) -> Self {
        match outcome {
            Ok(r) => BatchOutcome { line, ok: true, result: Some(r), error: None },
            Err(e) => BatchOutcome { line, ok: false, result: None, error: Some(e) },
        }
    }

    /// The JSON form as one line of text.
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
    fn a_batch_outcome_is_the_result_or_the_error_in_their_own_json_forms() {
        let sent = SendResult {
            accepted: vec!["b@x.test".into()],
            rejected: vec![],
            message_id: Some("<1@x.test>".into()),
            reply: Reply { code: 250, enhanced_code: Some("2.0.0".into()), text: "Ok: queued as A1".into() },
            attempts: 1,
            deliveries: vec![],
        };
        let ok = Ok(sent.clone());
        let v: Value = serde_json::from_str(&BatchOutcome::new(3, &ok).to_json()).unwrap();
        assert_eq!(v, json!({"line": 3, "ok": true, "result": sent.to_json_value()}));
        let err = Error::config("message.to[1]", "contains a line break");
        let failed: RkResult<SendResult> = Err(err.clone());
        let v: Value = serde_json::from_str(&BatchOutcome::new(4, &failed).to_json()).unwrap();
        assert_eq!(v, json!({"line": 4, "ok": false, "error": err.to_json_value()}));
        assert_eq!(v["error"]["kind"], ErrorKind::Config.as_str());
    }
}
