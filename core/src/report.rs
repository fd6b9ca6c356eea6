//! What Test and Send return, with the one JSON form of §8 that every language produces.

use serde_json::{Map, Value, json};

use crate::error::{Error, Reply, Stage};

/// One stage of a Test: its name, whether it succeeded, and how long it took.
#[derive(Debug, Clone, PartialEq)]
pub struct StageReport {
    /// The stage.
    pub stage: Stage,
    /// Whether it succeeded.
    pub ok: bool,
    /// Milliseconds it took.
    pub ms: f64,
}

/// What the server said about itself.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
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

/// The TLS connection, as negotiated.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TlsReport {
    /// `TLSv1.3` or `TLSv1.2`.
    pub version: String,
    /// The cipher suite.
    pub cipher: String,
    /// The certificate's subject.
    pub subject: String,
    /// The certificate's issuer.
    pub issuer: String,
    /// The certificate's expiry, RFC 3339 UTC.
    pub not_after: String,
    /// Whether the certificate and host name verified.
    pub verified: bool,
    /// Why verification failed, where it did and the connection went on (opportunistic TLS or
    /// `tls_verify: false`).
    pub verify_error: Option<String>,
}

/// One authentication attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthAttempt {
    /// The mechanism name.
    pub mechanism: String,
    /// Whether it succeeded.
    pub ok: bool,
    /// The server's reply code, if it sent one.
    pub code: Option<u16>,
    /// The server's reply or the local reason, when it failed.
    pub message: Option<String>,
}

/// Authentication: the mechanism that worked and every attempt.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuthReport {
    /// The mechanism that succeeded.
    pub mechanism: Option<String>,
    /// Every attempt, in order.
    pub attempts: Vec<AuthAttempt>,
}

/// The relay check (MAIL FROM / RCPT TO, then RSET).
#[derive(Debug, Clone, PartialEq, Eq)]
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
#[derive(Debug, Clone, Default)]
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
    pub relay: Option<RelayCheck>,
    /// Things that worked but deserve attention (e.g. an unverified certificate).
    pub warnings: Vec<String>,
    /// The failure.
    pub error: Option<Error>,
}

fn opt<T: Into<Value>>(v: Option<T>) -> Value {
    v.map_or(Value::Null, Into::into)
}

impl TestReport {
    /// The §8 JSON form.
    pub fn to_json_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("ok".into(), self.ok.into());
        m.insert(
            "stages".into(),
            self.stages
                .iter()
                .map(|s| json!({"name": s.stage.as_str(), "ok": s.ok, "ms": (s.ms * 1000.0).round() / 1000.0}))
                .collect(),
        );
        m.insert(
            "server".into(),
            self.server.as_ref().map_or(Value::Null, |s| {
                json!({"banner": s.banner, "extensions": s.extensions, "size_limit": opt(s.size_limit),
                       "auth_mechanisms": s.auth_mechanisms})
            }),
        );
        m.insert(
            "tls".into(),
            self.tls.as_ref().map_or(Value::Null, |t| {
                let mut v = json!({"version": t.version, "cipher": t.cipher, "subject": t.subject, "issuer": t.issuer,
                                   "not_after": t.not_after, "verified": t.verified});
                if let Some(e) = &t.verify_error {
                    v["verify_error"] = e.clone().into();
                }
                v
            }),
        );
        m.insert(
            "auth".into(),
            self.auth.as_ref().map_or(Value::Null, |a| {
                json!({"mechanism": opt(a.mechanism.clone()),
                       "attempts": a.attempts.iter().map(|t| {
                           let mut v = json!({"mechanism": t.mechanism, "ok": t.ok, "code": opt(t.code)});
                           if let Some(msg) = &t.message { v["message"] = msg.clone().into(); }
                           v
                       }).collect::<Vec<_>>()})
            }),
        );
        if let Some(r) = &self.relay {
            m.insert("relay".into(), json!({"from": r.from, "to": r.to, "ok": r.ok, "reply": r.reply}));
        }
        m.insert("warnings".into(), self.warnings.clone().into());
        m.insert("error".into(), self.error.as_ref().map_or(Value::Null, Error::to_json_value));
        Value::Object(m)
    }

    /// The §8 JSON form as text.
    pub fn to_json(&self) -> String {
        self.to_json_value().to_string()
    }
}

/// A recipient the server refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The address.
    pub address: String,
    /// The server's reply.
    pub reply: Reply,
}

/// The result of a Send: what the server accepted and refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendResult {
    /// Recipients the server accepted.
    pub accepted: Vec<String>,
    /// Recipients the server refused, with its replies.
    pub rejected: Vec<Rejection>,
    /// The Message-ID header of the message.
    pub message_id: Option<String>,
    /// The server's final reply (usually with the queue id).
    pub reply: Reply,
}

impl SendResult {
    /// The §8 JSON form.
    pub fn to_json_value(&self) -> Value {
        json!({
            "accepted": self.accepted,
            "rejected": self.rejected.iter().map(|r| json!({
                "address": r.address, "code": r.reply.code, "enhanced_code": opt(r.reply.enhanced_code.clone()),
                "message": r.reply.text})).collect::<Vec<_>>(),
            "message_id": opt(self.message_id.clone()),
            "reply": self.reply.to_string(),
        })
    }

    /// The §8 JSON form as text.
    pub fn to_json(&self) -> String {
        self.to_json_value().to_string()
    }
}
