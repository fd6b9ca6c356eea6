//! Messages as plain JavaScript objects: the core's message JSON form with camelCase keys and
//! bytes as `Buffer`s (`js.rs`), read by `Message::from_json_value`, which refuses an unknown
//! key and names the path of a bad value. `prepareMessage` runs the core's `Message::prepare`.

use napi::Env;
use napi::bindgen_prelude::{Object, Unknown};
use napi_derive::napi;
use relaykit::message::Message;

use crate::error::JsResult;
use crate::rrt::RrtContext;

/// The core message for a JavaScript message object.
pub(crate) fn from_js(env: Env, message: Unknown<'_>) -> napi::Result<Message> {
    Message::from_json_value(&crate::js::core_json(env, message)?).js(env)
}

/// Expands RRTs in the message fields (with `context`, or the default context: no host values,
/// `WIN` from the process environment), refuses header injection, builds the MIME structure
/// and returns the envelope and the bytes that Send will transmit.
#[napi(
    ts_args_type = "message: MessageInput, context?: RrtContext | undefined | null",
    ts_return_type = "PreparedMessage"
)]
pub fn prepare_message<'e>(
    env: &'e Env,
    message: Unknown<'e>,
    context: Option<&RrtContext>,
) -> napi::Result<Object<'e>> {
    let m = from_js(*env, message)?;
    let prepared = match context {
        Some(c) => m.prepare(&c.inner),
        None => m.prepare(&relaykit::RrtContext::default()),
    };
    crate::js::presented(*env, prepared.js(*env)?.to_json_value())
}
