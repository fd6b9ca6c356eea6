//! `test()` and `send()`: each returns a Promise at once and runs the core's `test_async` /
//! `send_async` on the core's shared tokio runtime (`relaykit::runtime`, the one the other
//! bindings use), so the event loop never waits for the network. The Promise settles on the
//! JavaScript thread through a napi deferred.
//!
//! Why not napi's own `async fn`: that would start a second tokio runtime beside the core's,
//! and it could not promise that every `trace` line has reached JavaScript before the Promise
//! settles (see [`Trace`]).

use std::sync::{Arc, Mutex, PoisonError};

use napi::bindgen_prelude::{
    ClassInstance, FnArgs, FromNapiValue, Function, JavaScriptClassExt, JsObjectValue, JsValue, Object, ToNapiValue,
    Unknown,
};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Env, JsDeferred, Status, ValueType};
use napi_derive::napi;
use relaykit::session::{TraceEvent, TraceSink};
use serde_json::Value;

use crate::error::to_js;
use crate::keyring::Keyring;
use crate::profile::Profile;
use crate::rrt::RrtContext;

/// `(direction, line, connection)`, spread into the JavaScript call's arguments: a function
/// of two parameters, written before connection ids existed, just ignores the third.
type Line = FnArgs<(String, String, Option<u32>)>;
type TraceFn = ThreadsafeFunction<Line, Unknown<'static>, Line, Status, false, true>;

/// Forwards trace lines to the JavaScript function through a weak (unref'd) threadsafe
/// function. It holds back the latest line: [`Trace::finish`] sends it with a completion
/// callback that settles the Promise, and one threadsafe function's calls run in order, so
/// the Promise settles only after the trace function has seen every line.
pub(crate) struct Trace {
    tsfn: TraceFn,
    held: Mutex<Option<Line>>,
}

impl Trace {
    pub(crate) fn sink(self: &Arc<Self>) -> TraceSink {
        let me = Arc::clone(self);
        TraceSink::new(move |ev: TraceEvent| {
            // A mailer's connection id; a u32 keeps it a plain JavaScript number.
            let connection = ev.connection.map(|c| u32::try_from(c).unwrap_or(u32::MAX));
            let line = FnArgs::from((ev.direction.as_str().to_owned(), ev.text, connection));
            let previous = me.held.lock().unwrap_or_else(PoisonError::into_inner).replace(line);
            if let Some(p) = previous {
                me.tsfn.call(p, ThreadsafeFunctionCallMode::NonBlocking);
            }
        })
    }

    /// Delivers the held line, then runs `then` on the JavaScript thread.
    fn finish(&self, then: impl FnOnce() + Send + 'static) {
        let last = self.held.lock().unwrap_or_else(PoisonError::into_inner).take();
        match last {
            None => then(),
            Some(line) => {
                // A failed call means the environment is closing: nothing is left to settle.
                let _ = self.tsfn.call_with_return_value(line, ThreadsafeFunctionCallMode::NonBlocking, |ret, _env| {
                    then();
                    // An exception from the trace function goes on as uncaught, like one from a
                    // listener.
                    ret.map(|_| ())
                });
            }
        }
    }
}

/// What settles the Promise: a §8 JSON form, presented by `js.rs`, nothing (`undefined`), or
/// `sendMany`'s array of outcomes (each a presented result, or an `Error` object as a value).
pub(crate) enum Done {
    Json(Value),
    Nothing,
    Outcomes(Vec<relaykit::Result<Value>>),
}

impl ToNapiValue for Done {
    unsafe fn to_napi_value(raw_env: napi::sys::napi_env, val: Self) -> napi::Result<napi::sys::napi_value> {
        let env = Env::from_raw(raw_env);
        match val {
            Done::Json(json) => Ok(crate::js::presented(env, json)?.raw()),
            // SAFETY: `raw_env` is the live environment napi passed in.
            Done::Nothing => unsafe { <() as ToNapiValue>::to_napi_value(raw_env, ()) },
            Done::Outcomes(items) => {
                let mut array = env.create_array(u32::try_from(items.len()).unwrap_or(u32::MAX))?;
                for (i, item) in (0u32..).zip(items) {
                    let value = match item {
                        Ok(json) => crate::js::presented(env, json)?,
                        Err(e) => crate::error::error_object(env, &e)?,
                    };
                    array.set(i, value)?;
                }
                Ok(array.raw())
            }
        }
    }
}

type Resolver = Box<dyn FnOnce(Env) -> napi::Result<Done> + Send>;

/// The options object, read: the JavaScript-only options (`keyring`, `context`, `trace`), and
/// the core's JSON form of the others for `TestOptions`/`SendOptions::from_json_value`, which
/// refuse an unknown one. The core values are cloned, so JavaScript may change or drop its
/// objects while the call runs.
pub(crate) struct Options {
    pub(crate) keyring: Option<relaykit::Keyring>,
    pub(crate) context: Option<relaykit::RrtContext>,
    pub(crate) trace: Option<Arc<Trace>>,
    pub(crate) rest: Value,
    /// `tokenProvider`, as the core's provider.
    pub(crate) token_provider: Option<relaykit::token::SharedTokenProvider>,
    /// `progress`, as the core's sink (#16).
    pub(crate) progress: Option<relaykit::progress::ProgressSink>,
}

/// `(written, total)` for the `progress` function (numbers: a message may exceed 4 GiB).
type Counts = FnArgs<(f64, f64)>;
type ProgressFn = ThreadsafeFunction<Counts, Unknown<'static>, Counts, Status, false, true>;

/// The core's progress sink calling the JavaScript function: the calls before the end do not
/// wait; the end (`written == total`) waits (at most 10 s) until the function has run, so a
/// send's Promise settles after its last progress call.
fn progress_sink(tsfn: ProgressFn) -> relaykit::progress::ProgressSink {
    let tsfn = Arc::new(tsfn);
    relaykit::progress::ProgressSink::new(move |written, total| {
        #[allow(clippy::cast_precision_loss)] // exact below 2^53 bytes
        let args = FnArgs::from((written as f64, total as f64));
        if written < total {
            tsfn.call(args, ThreadsafeFunctionCallMode::NonBlocking);
            return;
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let status = tsfn.call_with_return_value(args, ThreadsafeFunctionCallMode::NonBlocking, move |ret, _env| {
            let _ = tx.send(());
            ret.map(|_| ())
        });
        if status == Status::Ok {
            let _ = rx.recv_timeout(std::time::Duration::from_secs(10));
        }
    })
}

fn config_error(env: Env, path: &str, reason: &str) -> napi::Error {
    to_js(env, &relaykit::Error::config(&format!("options.{path}"), reason))
}

/// `obj[key]` unless it is missing, `undefined` or `null`.
fn present<'e>(obj: &Object<'e>, key: &str) -> napi::Result<Option<Unknown<'e>>> {
    let v: Option<Unknown<'e>> = obj.get(key)?;
    Ok(match v {
        Some(u) if !matches!(u.get_type()?, ValueType::Undefined | ValueType::Null) => Some(u),
        _ => None,
    })
}

/// `obj[key]` as an instance of the class `T` (refused if it is anything else).
fn instance<'e, T: JavaScriptClassExt + 'e>(
    env: &Env,
    obj: &Object<'e>,
    key: &str,
    class: &str,
) -> napi::Result<Option<ClassInstance<'e, T>>> {
    let Some(v) = present(obj, key)? else { return Ok(None) };
    if !T::instance_of(env, &v)? {
        return Err(config_error(*env, key, &format!("expected a {class}")));
    }
    // SAFETY: `instance_of` just checked that the object wraps a `T`; `v` is a live value of
    // this call's environment.
    Ok(Some(unsafe { ClassInstance::<T>::from_napi_value(env.raw(), v.raw())? }))
}

const JS_ONLY: [&str; 5] = ["keyring", "context", "trace", "tokenProvider", "progress"];

pub(crate) fn read_options(env: &Env, options: Option<Object<'_>>) -> napi::Result<Options> {
    let mut out =
        Options { keyring: None, context: None, trace: None, rest: Value::Null, token_provider: None, progress: None };
    let Some(obj) = options else { return Ok(out) };
    out.keyring = instance::<Keyring>(env, &obj, "keyring", "Keyring")?.map(|k| k.inner.clone());
    out.context = instance::<RrtContext>(env, &obj, "context", "RrtContext")?.map(|c| c.inner.clone());
    if let Some(f) = present(&obj, "trace")? {
        if f.get_type()? != ValueType::Function {
            return Err(config_error(*env, "trace", "expected a function (direction, line) => void"));
        }
        // SAFETY: checked to be a function of this call's environment just above.
        let func = unsafe { Function::<Line, Unknown<'static>>::from_napi_value(env.raw(), f.raw())? };
        let tsfn = func.build_threadsafe_function::<Line>().callee_handled::<false>().weak::<true>().build()?;
        out.trace = Some(Arc::new(Trace { tsfn, held: Mutex::new(None) }));
    }
    if let Some(f) = present(&obj, "tokenProvider")? {
        if f.get_type()? != ValueType::Function {
            return Err(config_error(
                *env,
                "tokenProvider",
                "expected a function (username, reason) => string | Promise<string>",
            ));
        }
        out.token_provider = Some(crate::token::provider(env, &f)?);
    }
    if let Some(f) = present(&obj, "progress")? {
        if f.get_type()? != ValueType::Function {
            return Err(config_error(*env, "progress", "expected a function (written, total) => void"));
        }
        // SAFETY: checked to be a function of this call's environment just above.
        let func = unsafe { Function::<Counts, Unknown<'static>>::from_napi_value(env.raw(), f.raw())? };
        let tsfn = func.build_threadsafe_function::<Counts>().callee_handled::<false>().weak::<true>().build()?;
        out.progress = Some(progress_sink(tsfn));
    }
    let mut rest = Object::new(env)?;
    for key in Object::keys(&obj)? {
        if !JS_ONLY.contains(&key.as_str()) {
            rest.set_named_property(&key, obj.get_named_property::<Unknown<'_>>(&key)?)?;
        }
    }
    out.rest = crate::js::core_json(*env, rest)?;
    Ok(out)
}

/// Runs `work` on the core's runtime and returns the Promise it settles.
pub(crate) fn spawn<F>(env: &Env, trace: Option<Arc<Trace>>, work: F) -> napi::Result<Object<'_>>
where
    F: std::future::Future<Output = relaykit::Result<Done>> + Send + 'static,
{
    let rt = relaykit::runtime::handle().map_err(|e| to_js(*env, &e))?;
    let (deferred, promise) = env.create_deferred::<Done, Resolver>()?;
    rt.spawn(async move {
        let outcome = work.await;
        let resolver: Resolver = Box::new(move |env| outcome.map_err(|e| to_js(env, &e)));
        settle(deferred, resolver, trace.as_deref());
    });
    Ok(promise)
}

fn settle(deferred: JsDeferred<Done, Resolver>, resolver: Resolver, trace: Option<&Trace>) {
    match trace {
        None => deferred.resolve(resolver),
        Some(t) => t.finish(move || deferred.resolve(resolver)),
    }
}

/// A Promise already rejected with `error`: invalid input rejects like a failure does, as from
/// an `async` function.
pub(crate) fn rejected(env: &Env, error: napi::Error) -> napi::Result<Object<'_>> {
    let (deferred, promise) = env.create_deferred::<Done, Resolver>()?;
    deferred.reject(error);
    Ok(promise)
}

/// Reads the options, or gives the Promise already rejected: invalid input rejects like a
/// failure does, as from an `async` function.
macro_rules! read_or_reject {
    ($env:expr, $read:expr) => {
        match $read {
            Ok(x) => x,
            Err(e) => return rejected($env, e),
        }
    };
}
pub(crate) use read_or_reject;

/// Tests the profile (§5): connect, greeting, EHLO, TLS, AUTH, optionally a relay check, QUIT.
/// Resolves with a `TestReport`: a server-side failure is in it (`ok: false`, `error`). Rejects
/// only for invalid input (a `CONFIG`, `RRT` or `CRYPTO` error), e.g. a missing key.
#[napi(
    ts_args_type = "profile: Profile, options?: TestOptions | undefined | null",
    ts_return_type = "Promise<TestReport>"
)]
pub fn test<'e>(env: &'e Env, profile: &Profile, options: Option<Object<'e>>) -> napi::Result<Object<'e>> {
    let (o, mut core_options) = read_or_reject!(
        env,
        read_options(env, options).and_then(|o| {
            let core = relaykit::TestOptions::from_json_value(&o.rest).map_err(|e| to_js(*env, &e))?;
            Ok((o, core))
        })
    );
    core_options.trace = o.trace.as_ref().map(Trace::sink);
    core_options.token_provider = o.token_provider;
    let call = relaykit::Call::new(profile.inner.clone(), o.keyring, o.context);
    spawn(env, o.trace, async move { call.test(&core_options).await.map(|r| Done::Json(r.to_json_value())) })
}

/// Sends `message` (§6) through the profile's server. Resolves with a `SendResult` (a recipient
/// the server refused is in `rejected`, the others were accepted); rejects with a relaykit
/// `Error` for any failure (`err.code`, `err.stage`, `err.smtpCode`, `err.hint`, ...).
#[napi(
    ts_args_type = "profile: Profile, message: MessageInput, options?: SendOptions | undefined | null",
    ts_return_type = "Promise<SendResult>"
)]
pub fn send<'e>(
    env: &'e Env,
    profile: &Profile,
    message: Unknown<'e>,
    options: Option<Object<'e>>,
) -> napi::Result<Object<'e>> {
    let (message, o, mut core_options) = read_or_reject!(
        env,
        crate::message::from_js(*env, message).and_then(|m| {
            let o = read_options(env, options)?;
            let core = relaykit::SendOptions::from_json_value(&o.rest).map_err(|e| to_js(*env, &e))?;
            relaykit::capture::Transport::refuse_unreadable(core.transport.as_ref()).map_err(|e| to_js(*env, &e))?;
            Ok((m, o, core))
        })
    );
    core_options.trace = o.trace.as_ref().map(Trace::sink);
    core_options.token_provider = o.token_provider;
    core_options.progress = o.progress;
    let call = relaykit::Call::new(profile.inner.clone(), o.keyring, o.context);
    spawn(env, o.trace, async move { call.send(&message, &core_options).await.map(|r| Done::Json(r.to_json_value())) })
}
