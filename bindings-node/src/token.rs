//! `tokenProvider`: a JavaScript function `(username, reason) => string | Promise<string>`
//! (`reason` is `"initial"` or `"refresh"`), called through a weak threadsafe function on the
//! JavaScript thread; a returned Promise is awaited there (`then`/`catch`). A throw, a rejection
//! or a value that is not a string is the core's token provider error (`AUTH_FAILED` at stage
//! auth naming the token provider); the core bounds the wait by the profile timeout.

use std::sync::{Arc, Mutex, PoisonError};

use napi::bindgen_prelude::{FnArgs, FromNapiValue, Function, JsValue, PromiseRaw, Unknown};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Env, Status, ValueType};
use relaykit::SecretString;
use relaykit::token::{SharedTokenProvider, TokenFuture, TokenProvider, TokenRequest, TokenResult};
use tokio::sync::oneshot;

type Args = FnArgs<(String, String)>;
type TokenFn = ThreadsafeFunction<Args, Unknown<'static>, Args, Status, false, true>;

struct JsTokenProvider {
    tsfn: TokenFn,
}

type Reply = Arc<Mutex<Option<oneshot::Sender<TokenResult>>>>;

fn answer(reply: &Reply, r: TokenResult) {
    if let Some(tx) = reply.lock().unwrap_or_else(PoisonError::into_inner).take() {
        let _ = tx.send(r);
    }
}

/// `String(value)`, as JavaScript shows it (`Error: message` for an Error).
fn describe(value: &Unknown<'_>) -> String {
    value
        .coerce_to_string()
        // SAFETY: a string value of the live environment the callback runs in.
        .and_then(|s| unsafe { String::from_napi_value(s.value().env, s.raw()) })
        .unwrap_or_else(|_| "(an exception that cannot be shown)".to_owned())
}

/// The token in `value`, or why it is not one.
fn token_of(value: &Unknown<'_>) -> TokenResult {
    match value.get_type() {
        // SAFETY: checked to be a string of the live environment.
        Ok(ValueType::String) => unsafe { String::from_napi_value(value.value().env, value.raw()) }
            .map(SecretString::from)
            .map_err(|e| format!("tokenProvider returned a string that cannot be read: {e}")),
        Ok(t) => Err(format!("tokenProvider returned {}, not a string", type_name(t))),
        Err(e) => Err(format!("tokenProvider returned a value that cannot be read: {e}")),
    }
}

fn type_name(t: ValueType) -> &'static str {
    match t {
        ValueType::Undefined => "undefined",
        ValueType::Null => "null",
        ValueType::Boolean => "a boolean",
        ValueType::Number => "a number",
        ValueType::BigInt => "a bigint",
        ValueType::Symbol => "a symbol",
        ValueType::Object => "an object",
        ValueType::Function => "a function",
        _ => "a value",
    }
}

fn settle(ret: napi::Result<Unknown<'static>>, reply: &Reply) -> napi::Result<()> {
    let value = match ret {
        Ok(v) => v,
        Err(e) => {
            // The exception as `Name: message`, without its stack.
            let what = e.reason.lines().next().unwrap_or_default().to_owned();
            answer(reply, Err(format!("tokenProvider threw: {what}")));
            return Ok(());
        }
    };
    if !value.is_promise().unwrap_or(false) {
        answer(reply, token_of(&value));
        return Ok(());
    }
    // SAFETY: checked to be a Promise of the live environment.
    let promise = unsafe { PromiseRaw::<Unknown<'static>>::from_napi_value(value.value().env, value.raw())? };
    let (on_ok, on_err) = (Arc::clone(reply), Arc::clone(reply));
    let then = promise.then(move |ctx| {
        answer(&on_ok, token_of(&ctx.value));
        Ok(())
    })?;
    then.catch(move |ctx: napi::bindgen_prelude::CallbackContext<Unknown<'static>>| {
        answer(&on_err, Err(format!("tokenProvider rejected: {}", describe(&ctx.value))));
        Ok(())
    })?;
    Ok(())
}

impl TokenProvider for JsTokenProvider {
    fn token(&self, req: TokenRequest) -> TokenFuture<'_> {
        let (tx, rx) = oneshot::channel();
        let reply: Reply = Arc::new(Mutex::new(Some(tx)));
        let args = FnArgs::from((req.username, req.reason.as_str().to_owned()));
        let r = Arc::clone(&reply);
        let status =
            self.tsfn.call_with_return_value(args, ThreadsafeFunctionCallMode::NonBlocking, move |ret, _env| {
                settle(ret, &r)
            });
        if status != Status::Ok {
            answer(&reply, Err(format!("tokenProvider could not be called ({status:?})")));
        }
        Box::pin(async move {
            rx.await.unwrap_or_else(|_| Err("tokenProvider never answered (the environment is closing)".to_owned()))
        })
    }
}

/// The core's provider for the function `f` (already checked to be a function).
pub(crate) fn provider(env: &Env, f: &Unknown<'_>) -> napi::Result<SharedTokenProvider> {
    // SAFETY: the caller checked that `f` is a function of this call's environment.
    let func = unsafe { Function::<Args, Unknown<'static>>::from_napi_value(env.raw(), f.raw())? };
    let tsfn = func.build_threadsafe_function::<Args>().callee_handled::<false>().weak::<true>().build()?;
    Ok(SharedTokenProvider(Arc::new(JsTokenProvider { tsfn })))
}
