//! The one place a core error becomes a JavaScript `Error`: `code` is the §7 kind in upper snake
//! case (`'AUTH_FAILED'`), plus `kind`, `stage`, `smtpCode`, `enhancedCode`, `smtpText` and `hint`,
//! and a non-enumerable `toJSON()` giving the §8 error JSON (`{kind, stage, code, enhanced_code,
//! message, hint}`).

use napi::bindgen_prelude::{JsObjectValue, JsValue};
use napi::{Env, JsError};
use relaykit::{Error, ErrorKind};

/// The `code` of a kind. A new kind in the core must get its own code here: the test below
/// fails while it falls through to `INTERNAL`.
pub(crate) fn code_of(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Config => "CONFIG",
        ErrorKind::Rrt => "RRT",
        ErrorKind::Crypto => "CRYPTO",
        ErrorKind::Dns => "DNS",
        ErrorKind::Connect => "CONNECT",
        ErrorKind::Timeout => "TIMEOUT",
        ErrorKind::Tls => "TLS",
        ErrorKind::Protocol => "PROTOCOL",
        ErrorKind::AuthUnsupported => "AUTH_UNSUPPORTED",
        ErrorKind::AuthFailed => "AUTH_FAILED",
        ErrorKind::SenderRejected => "SENDER_REJECTED",
        ErrorKind::RecipientRejected => "RECIPIENT_REJECTED",
        ErrorKind::MessageRejected => "MESSAGE_REJECTED",
        ErrorKind::Io => "IO",
        // `ErrorKind` is non-exhaustive; the test below catches a kind that lands here.
        ErrorKind::Internal | _ => "INTERNAL",
    }
}

/// The JavaScript `Error` for a core error. `message` is the core's one-line form (kind, stage,
/// message, the server's reply and the hint); the core never puts a secret in it.
pub(crate) fn to_js(env: Env, e: &Error) -> napi::Error {
    build(env, e).unwrap_or_else(|fallback| fallback)
}

fn build(env: Env, e: &Error) -> napi::Result<napi::Error> {
    let base = napi::Error::new(code_of(e.kind()), e.to_string());
    let mut obj = JsError::from(base).into_unknown(env).coerce_to_object()?;
    obj.set_named_property("kind", e.kind().as_str())?;
    obj.set_named_property("stage", e.stage().map(relaykit::Stage::as_str))?;
    obj.set_named_property("smtpCode", e.code().map(u32::from))?;
    obj.set_named_property("enhancedCode", e.enhanced_code())?;
    obj.set_named_property("smtpText", e.reply().map(|r| r.text.as_str()))?;
    obj.set_named_property("hint", e.hint())?;
    crate::report::attach_to_json(env, &mut obj, e.to_json_value())?;
    Ok(napi::Error::from(obj.to_unknown()))
}

/// The fields every relaykit `Error` carries, for TypeScript: `catch (e) { const err = e as
/// Error & RelayKitErrorFields }`.
#[napi_derive::napi(object, object_from_js = false, object_to_js = false)]
#[allow(dead_code)] // describes the thrown Error's shape; `build` sets the fields
pub struct RelayKitErrorFields {
    /// The §7 kind in upper snake case.
    #[napi(
        ts_type = "'CONFIG' | 'RRT' | 'CRYPTO' | 'DNS' | 'CONNECT' | 'TIMEOUT' | 'TLS' | 'PROTOCOL' | 'AUTH_UNSUPPORTED' | 'AUTH_FAILED' | 'SENDER_REJECTED' | 'RECIPIENT_REJECTED' | 'MESSAGE_REJECTED' | 'IO' | 'INTERNAL'"
    )]
    pub code: String,
    /// The §7 kind in snake case, as in the JSON reports.
    pub kind: String,
    /// The Test or Send stage, where there was one.
    #[napi(ts_type = "string | null")]
    pub stage: Option<String>,
    /// The SMTP reply code, where the server sent one.
    #[napi(ts_type = "number | null")]
    pub smtp_code: Option<u32>,
    /// The enhanced status code (RFC 3463), where the server sent one.
    #[napi(ts_type = "string | null")]
    pub enhanced_code: Option<String>,
    /// The server's reply text, where there was one.
    #[napi(ts_type = "string | null")]
    pub smtp_text: Option<String>,
    /// A hint a person can act on.
    #[napi(ts_type = "string | null")]
    pub hint: Option<String>,
}

/// `.js(env)` turns a core `Result` into a napi `Result` carrying the JavaScript `Error`.
pub(crate) trait JsResult<T> {
    fn js(self, env: Env) -> napi::Result<T>;
}

impl<T> JsResult<T> for relaykit::Result<T> {
    fn js(self, env: Env) -> napi::Result<T> {
        self.map_err(|e| to_js(env, &e))
    }
}

/// The code of every kind, for the JavaScript test that checks the mapping (`_errorCodes()`).
#[napi_derive::napi(js_name = "_errorCodes")]
pub fn error_codes() -> Vec<Vec<&'static str>> {
    ErrorKind::ALL.into_iter().map(|k| vec![k.as_str(), code_of(k)]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_own_code() {
        let mut seen = std::collections::HashSet::new();
        for kind in ErrorKind::ALL {
            let code = code_of(kind);
            assert!(seen.insert(code), "{kind} shares the code {code}");
            assert_eq!(code, kind.as_str().to_ascii_uppercase(), "{kind}");
        }
    }
}
