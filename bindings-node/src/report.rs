//! `TestReport` and `SendResult` as plain JavaScript objects: §8's JSON form with camelCase keys,
//! plus a non-enumerable `toJSON()` that returns the core's exact §8 snake_case JSON (so
//! `JSON.stringify(report)` is byte for byte what every other language writes).
//!
//! One renaming beyond camelCase, the same as on thrown errors: a number that is an SMTP reply
//! code is `smtpCode`, and `code` is always the §7 kind in upper snake case (`'AUTH_FAILED'`),
//! as Node's convention for `Error.code` has it.

use napi::bindgen_prelude::{Function, JsObjectValue, Object, ToNapiValue};
use napi::{Env, Property, PropertyAttributes};
use napi_derive::napi;
use serde_json::Value;

use crate::error::code_of;

/// One stage of a Test.
#[napi(object, object_from_js = false, use_nullable = true)]
pub struct StageReport {
    #[napi(
        ts_type = "'resolve' | 'dns' | 'connect' | 'tls' | 'greeting' | 'ehlo' | 'auth' | 'mail_from' | 'rcpt_to' | 'data' | 'rset' | 'quit'"
    )]
    pub name: String,
    pub ok: bool,
    /// Milliseconds it took.
    pub ms: f64,
}

/// What the server said about itself.
#[napi(object, object_from_js = false, use_nullable = true)]
pub struct ServerInfo {
    /// The 220 greeting text.
    pub banner: String,
    /// The EHLO keywords with their parameters, as sent (`'SIZE 10240000'`).
    pub extensions: Vec<String>,
    /// The SIZE limit, when announced and not 0.
    pub size_limit: Option<f64>,
    /// The AUTH mechanisms offered (after STARTTLS, where it was used).
    pub auth_mechanisms: Vec<String>,
}

/// The TLS connection, as negotiated.
#[napi(object, object_from_js = false, use_nullable = true)]
pub struct TlsReport {
    /// `'TLSv1.3'` or `'TLSv1.2'`.
    pub version: String,
    pub cipher: String,
    /// The certificate's subject.
    pub subject: String,
    /// The certificate's issuer.
    pub issuer: String,
    /// The certificate's expiry, RFC 3339 UTC (`'2036-11-28T00:00:00Z'`).
    pub not_after: String,
    /// Whether the certificate and host name verified.
    pub verified: bool,
    /// Why verification failed, when the connection went on anyway (opportunistic TLS or
    /// `tlsVerify: false`).
    pub verify_error: Option<String>,
}

/// One authentication attempt.
#[napi(object, object_from_js = false, use_nullable = true)]
pub struct AuthAttempt {
    pub mechanism: String,
    pub ok: bool,
    /// The server's reply code (§8 `code`).
    pub smtp_code: Option<u32>,
    /// The server's reply or the local reason, when it failed.
    pub message: Option<String>,
}

/// Authentication: the mechanism that worked and every attempt.
#[napi(object, object_from_js = false, use_nullable = true)]
pub struct AuthReport {
    /// The mechanism that succeeded.
    pub mechanism: Option<String>,
    pub attempts: Vec<AuthAttempt>,
}

/// The relay check (MAIL FROM / RCPT TO, then RSET; nothing sent).
#[napi(object, object_from_js = false, use_nullable = true)]
pub struct RelayReport {
    pub from: String,
    pub to: String,
    /// Whether the server would accept the message.
    pub ok: bool,
    /// The reply to RCPT TO (or to MAIL FROM when that failed).
    pub reply: String,
}

/// A failure inside a `TestReport`: the same fields as a thrown relaykit `Error`, plus
/// `message` (§8's `message`: the reason and the server's reply).
#[napi(object, object_from_js = false, use_nullable = true)]
pub struct ReportError {
    /// The §7 kind in upper snake case.
    #[napi(
        ts_type = "'CONFIG' | 'RRT' | 'CRYPTO' | 'DNS' | 'CONNECT' | 'TIMEOUT' | 'TLS' | 'PROTOCOL' | 'AUTH_UNSUPPORTED' | 'AUTH_FAILED' | 'SENDER_REJECTED' | 'RECIPIENT_REJECTED' | 'MESSAGE_REJECTED' | 'IO' | 'INTERNAL'"
    )]
    pub code: String,
    /// The §7 kind in snake case (§8 `kind`).
    pub kind: String,
    /// The stage that failed.
    pub stage: Option<String>,
    /// The SMTP reply code (§8 `code`).
    pub smtp_code: Option<u32>,
    pub enhanced_code: Option<String>,
    /// The server's reply text.
    pub smtp_text: Option<String>,
    pub message: String,
    /// A hint a person can act on.
    pub hint: Option<String>,
}

/// The result of `test()`. A server-side failure is in here (`ok: false`, `error`).
/// `toJSON()` (and so `JSON.stringify`) gives the §8 snake_case JSON.
#[napi(object, object_from_js = false, use_nullable = true)]
pub struct TestReport {
    /// Whether every stage succeeded.
    pub ok: bool,
    /// The stages run, in order.
    pub stages: Vec<StageReport>,
    /// The greeting and capabilities; `null` when the connection failed before EHLO.
    pub server: Option<ServerInfo>,
    /// `null` when TLS was not used.
    pub tls: Option<TlsReport>,
    /// `null` when authentication was not required.
    pub auth: Option<AuthReport>,
    /// `null` unless `relayCheck` was given.
    pub relay: Option<RelayReport>,
    /// Things that worked but deserve attention (e.g. an unverified certificate).
    pub warnings: Vec<String>,
    /// The failure, when `ok` is false.
    pub error: Option<ReportError>,
}

/// A recipient the server refused.
#[napi(object, object_from_js = false, use_nullable = true)]
pub struct Rejection {
    pub address: String,
    /// The server's reply code (§8 `code`).
    pub smtp_code: u32,
    pub enhanced_code: Option<String>,
    /// The server's reply text.
    pub message: String,
}

/// The result of `send()`: what the server accepted and refused. `toJSON()` (and so
/// `JSON.stringify`) gives the §8 snake_case JSON.
#[napi(object, object_from_js = false, use_nullable = true)]
pub struct SendResult {
    pub accepted: Vec<String>,
    pub rejected: Vec<Rejection>,
    /// The Message-ID header of the message, with its angle brackets.
    pub message_id: Option<String>,
    /// The server's final reply (`'250 2.0.0 Ok: queued as 4XyZ'`).
    pub reply: String,
}

pub(crate) fn report_error(e: &relaykit::Error) -> ReportError {
    ReportError {
        code: code_of(e.kind()).to_owned(),
        kind: e.kind().as_str().to_owned(),
        stage: e.stage().map(|s| s.as_str().to_owned()),
        smtp_code: e.code().map(u32::from),
        enhanced_code: e.enhanced_code().map(str::to_owned),
        smtp_text: e.reply().map(|r| r.text.clone()),
        message: e.full_message(),
        hint: e.hint().map(str::to_owned),
    }
}

impl From<&relaykit::TestReport> for TestReport {
    fn from(r: &relaykit::TestReport) -> Self {
        TestReport {
            ok: r.ok,
            stages: r
                .stages
                .iter()
                .map(|s| StageReport { name: s.stage.as_str().to_owned(), ok: s.ok, ms: s.ms })
                .collect(),
            server: r.server.as_ref().map(|s| ServerInfo {
                banner: s.banner.clone(),
                extensions: s.extensions.clone(),
                // A SIZE limit is far below 2^53, so the conversion to a JavaScript number is exact.
                #[allow(clippy::cast_precision_loss)]
                size_limit: s.size_limit.map(|n| n as f64),
                auth_mechanisms: s.auth_mechanisms.clone(),
            }),
            tls: r.tls.as_ref().map(|t| TlsReport {
                version: t.version.clone(),
                cipher: t.cipher.clone(),
                subject: t.subject.clone(),
                issuer: t.issuer.clone(),
                not_after: t.not_after.clone(),
                verified: t.verified,
                verify_error: t.verify_error.clone(),
            }),
            auth: r.auth.as_ref().map(|a| AuthReport {
                mechanism: a.mechanism.clone(),
                attempts: a
                    .attempts
                    .iter()
                    .map(|t| AuthAttempt {
                        mechanism: t.mechanism.clone(),
                        ok: t.ok,
                        smtp_code: t.code.map(u32::from),
                        message: t.message.clone(),
                    })
                    .collect(),
            }),
            relay: r.relay.as_ref().map(|x| RelayReport {
                from: x.from.clone(),
                to: x.to.clone(),
                ok: x.ok,
                reply: x.reply.clone(),
            }),
            warnings: r.warnings.clone(),
            error: r.error.as_ref().map(report_error),
        }
    }
}

impl From<&relaykit::SendResult> for SendResult {
    fn from(r: &relaykit::SendResult) -> Self {
        SendResult {
            accepted: r.accepted.clone(),
            rejected: r
                .rejected
                .iter()
                .map(|x| Rejection {
                    address: x.address.clone(),
                    smtp_code: u32::from(x.reply.code),
                    enhanced_code: x.reply.enhanced_code.clone(),
                    message: x.reply.text.clone(),
                })
                .collect(),
            message_id: r.message_id.clone(),
            reply: r.reply.to_string(),
        }
    }
}

/// Gives `obj` a non-enumerable `toJSON()` returning `json` (a fresh copy on each call), so the
/// object still looks plain (`Object.keys`, `util.inspect`, spreading leave it out).
pub(crate) fn attach_to_json(env: Env, obj: &mut Object<'_>, json: Value) -> napi::Result<()> {
    let func: Function<'_, (), Value> = env.create_function_from_closure("toJSON", move |_ctx| Ok(json.clone()))?;
    obj.define_properties(&[Property::new()
        .with_utf8_name("toJSON")?
        .with_value(&func)
        .with_property_attributes(PropertyAttributes::Writable | PropertyAttributes::Configurable)])
}

/// A camelCase result as a JavaScript object carrying its §8 JSON as `toJSON()`.
pub(crate) fn to_js_with_json<T: ToNapiValue>(env: &Env, value: T, json: Value) -> napi::Result<Object<'_>> {
    // SAFETY: `env` is the live environment of the JavaScript thread this runs on, and the
    // value returned by `to_napi_value` is a fresh object in the current handle scope.
    let raw = unsafe { T::to_napi_value(env.raw(), value)? };
    let mut obj = Object::from_raw(env.raw(), raw);
    attach_to_json(*env, &mut obj, json)?;
    Ok(obj)
}
