//! The one place a core error becomes a JavaScript `Error`: its `message` is the core's
//! `Error::message()`, and its other properties are the core's §8 error JSON as `js.rs`
//! presents it (`code` the kind in upper snake case, `kind`, `stage`, `smtpCode`,
//! `enhancedCode`, `hint`, `transient`, `fate`, `attempts`, and a non-enumerable `toJSON()`),
//! plus `smtpText`, the server's reply text, which §8 folds into `message`.

use napi::bindgen_prelude::{JsObjectValue, JsValue, Object, Unknown};
use napi::{Env, JsError};
use relaykit::Error;

/// The JavaScript `Error` for a core error. The core never puts a secret in it.
pub(crate) fn to_js(env: Env, e: &Error) -> napi::Error {
    build(env, e).unwrap_or_else(|fallback| fallback)
}

fn build(env: Env, e: &Error) -> napi::Result<napi::Error> {
    Ok(napi::Error::from(error_object(env, e)?.to_unknown()))
}

/// The JavaScript `Error` object for a core error, as a value (`sendMany`'s outcomes hold it
/// rather than throwing it).
pub(crate) fn error_object<'e>(env: Env, e: &Error) -> napi::Result<Object<'e>> {
    let base = napi::Error::new(e.kind().as_str().to_ascii_uppercase(), e.message());
    let mut obj = JsError::from(base).into_unknown(env).coerce_to_object()?;
    let json = e.to_json_value();
    let fields = crate::js::camel_case_object(env, &json)?;
    for key in Object::keys(&fields)? {
        obj.set_named_property(&key, fields.get_named_property::<Unknown<'_>>(&key)?)?;
    }
    crate::js::attach_to_json(env, &mut obj, json)?;
    if let Some(reply) = e.reply() {
        obj.set_named_property("smtpText", reply.text.as_str())?;
    }
    Ok(obj)
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
