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
    ClassInstance, FnArgs, FromNapiValue, Function, JavaScriptClassExt, JsValue, Object, ToNapiValue, Unknown,
};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Env, JsDeferred, Status, ValueType};
use napi_derive::napi;
use relaykit::session::{TraceEvent, TraceSink};
use serde_json::{Map, Value};

use crate::error::to_js;
use crate::keyring::Keyring;
use crate::message::MessageInput;
use crate::profile::Profile;
use crate::report::{SendResult, TestReport, to_js_with_json};
use crate::rrt::RrtContext;

/// The options of `test()`. Every key may be left out (or `undefined`/`null`).
#[napi(object, js_name = "TestOptions", object_to_js = false, object_from_js = false)]
#[allow(dead_code)] // describes the TypeScript type; `read_options` reads the object
pub struct TestOptionsDoc {
    /// Decrypts an encrypted password (default: an empty keyring).
    #[napi(ts_type = "Keyring")]
    pub keyring: Option<String>,
    /// Values for the profile's RRTs (default: the process environment only).
    #[napi(ts_type = "RrtContext")]
    pub context: Option<String>,
    /// Also check that the server would relay from `from` to `to` (MAIL FROM, RCPT TO, RSET;
    /// nothing is sent).
    #[napi(ts_type = "{ from: string; to: string }")]
    pub relay_check: Option<String>,
    /// Called on the JavaScript thread with each protocol line: `'C'` for what relaykit sent,
    /// `'S'` for the server's reply. AUTH payloads are redacted. Every line has been delivered
    /// before the Promise settles. A trace function that throws is an uncaught exception, as
    /// with an event listener.
    #[napi(ts_type = "(direction: 'C' | 'S', line: string) => void")]
    pub trace: Option<String>,
    /// The argv of the current-user NTLM helper (default: Samba's `ntlm_auth`).
    pub ntlm_helper: Option<Vec<String>>,
}

/// The options of `send()`: those of `test()` without `relayCheck`.
#[napi(object, js_name = "SendOptions", object_to_js = false, object_from_js = false)]
#[allow(dead_code)] // describes the TypeScript type; `read_options` reads the object
pub struct SendOptionsDoc {
    /// Decrypts an encrypted password (default: an empty keyring).
    #[napi(ts_type = "Keyring")]
    pub keyring: Option<String>,
    /// Values for the RRTs of the profile and the message (default: the process environment
    /// only).
    #[napi(ts_type = "RrtContext")]
    pub context: Option<String>,
    /// As in `TestOptions`.
    #[napi(ts_type = "(direction: 'C' | 'S', line: string) => void")]
    pub trace: Option<String>,
    /// The argv of the current-user NTLM helper (default: Samba's `ntlm_auth`).
    pub ntlm_helper: Option<Vec<String>>,
}

/// `(direction, line)`, spread into the JavaScript call's two arguments.
type Line = FnArgs<(String, String)>;
type TraceFn = ThreadsafeFunction<Line, Unknown<'static>, Line, Status, false, true>;

/// Forwards trace lines to the JavaScript function through a weak (unref'd) threadsafe
/// function. It holds back the latest line: [`Trace::finish`] sends it with a completion
/// callback that settles the Promise, and one threadsafe function's calls run in order, so
/// the Promise settles only after the trace function has seen every line.
struct Trace {
    tsfn: TraceFn,
    held: Mutex<Option<Line>>,
}

impl Trace {
    fn sink(self: &Arc<Self>) -> TraceSink {
        let me = Arc::clone(self);
        TraceSink::new(move |ev: TraceEvent| {
            let line = FnArgs::from((ev.direction.as_str().to_owned(), ev.text));
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

/// What settles the Promise.
enum Done {
    Test(Box<relaykit::TestReport>),
    Send(relaykit::SendResult),
}

impl ToNapiValue for Done {
    unsafe fn to_napi_value(raw_env: napi::sys::napi_env, val: Self) -> napi::Result<napi::sys::napi_value> {
        let env = Env::from_raw(raw_env);
        let obj = match val {
            Done::Test(r) => to_js_with_json(&env, TestReport::from(&*r), r.to_json_value())?,
            Done::Send(r) => to_js_with_json(&env, SendResult::from(&r), r.to_json_value())?,
        };
        Ok(obj.raw())
    }
}

type Resolver = Box<dyn FnOnce(Env) -> napi::Result<Done> + Send>;

/// The options object, read: the core values are cloned, so JavaScript may change or drop its
/// objects while the call runs.
struct Options {
    keyring: relaykit::Keyring,
    context: relaykit::RrtContext,
    trace: Option<Arc<Trace>>,
    /// The snake_case JSON of the remaining options, for the core's `from_json_value`.
    rest: Value,
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

fn read_options(env: &Env, options: Option<Object<'_>>, known: &[&str]) -> napi::Result<Options> {
    let mut out = Options {
        keyring: relaykit::Keyring::new(),
        context: relaykit::RrtContext::new(),
        trace: None,
        rest: Value::Null,
    };
    let Some(obj) = options else { return Ok(out) };
    for key in Object::keys(&obj)? {
        if !known.contains(&key.as_str()) {
            return Err(config_error(*env, &key, &format!("unknown option (known: {})", known.join(", "))));
        }
    }
    if let Some(k) = instance::<Keyring>(env, &obj, "keyring", "Keyring")? {
        out.keyring = k.inner.clone();
    }
    if let Some(c) = instance::<RrtContext>(env, &obj, "context", "RrtContext")? {
        out.context = c.inner.clone();
    }
    if let Some(f) = present(&obj, "trace")? {
        if f.get_type()? != ValueType::Function {
            return Err(config_error(*env, "trace", "expected a function (direction, line) => void"));
        }
        // SAFETY: checked to be a function of this call's environment just above.
        let func = unsafe { Function::<Line, Unknown<'static>>::from_napi_value(env.raw(), f.raw())? };
        let tsfn = func.build_threadsafe_function::<Line>().callee_handled::<false>().weak::<true>().build()?;
        out.trace = Some(Arc::new(Trace { tsfn, held: Mutex::new(None) }));
    }
    let mut rest = Map::new();
    for (js, core) in [("relayCheck", "relay_check"), ("ntlmHelper", "ntlm_helper")] {
        if known.contains(&js) {
            if let Some(v) = present(&obj, js)? {
                // SAFETY: a live value of this call's environment.
                rest.insert(core.to_owned(), unsafe { Value::from_napi_value(env.raw(), v.raw())? });
            }
        }
    }
    out.rest = Value::Object(rest);
    Ok(out)
}

/// Runs `work` on the core's runtime and returns the Promise it settles.
fn spawn<F>(env: &Env, trace: Option<Arc<Trace>>, work: F) -> napi::Result<Object<'_>>
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
fn rejected(env: &Env, error: napi::Error) -> napi::Result<Object<'_>> {
    let (deferred, promise) = env.create_deferred::<Done, Resolver>()?;
    deferred.reject(error);
    Ok(promise)
}

/// Tests the profile (§5): connect, greeting, EHLO, TLS, AUTH, optionally a relay check, QUIT.
/// Resolves with a `TestReport`: a server-side failure is in it (`ok: false`, `error`). Rejects
/// only for invalid input (a `CONFIG`, `RRT` or `CRYPTO` error), e.g. a missing key.
#[napi(
    ts_args_type = "profile: Profile, options?: TestOptions | undefined | null",
    ts_return_type = "Promise<TestReport>"
)]
pub fn test<'e>(env: &'e Env, profile: &Profile, options: Option<Object<'e>>) -> napi::Result<Object<'e>> {
    let read = || -> napi::Result<_> {
        let o = read_options(env, options, &["keyring", "context", "relayCheck", "trace", "ntlmHelper"])?;
        let mut core_options = relaykit::TestOptions::from_json_value(&o.rest).map_err(|e| to_js(*env, &e))?;
        core_options.trace = o.trace.as_ref().map(Trace::sink);
        Ok((o, core_options))
    };
    let (o, core_options) = match read() {
        Ok(x) => x,
        Err(e) => return rejected(env, e),
    };
    let profile = profile.inner.clone();
    let (keyring, context) = (o.keyring, o.context);
    spawn(env, o.trace, async move {
        relaykit::test_async(&profile, &keyring, &context, &core_options).await.map(|r| Done::Test(Box::new(r)))
    })
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
    message: Object<'e>,
    options: Option<Object<'e>>,
) -> napi::Result<Object<'e>> {
    let read = || -> napi::Result<_> {
        let message = MessageInput::from_object(*env, &message)?.into_core(*env)?;
        let o = read_options(env, options, &["keyring", "context", "trace", "ntlmHelper"])?;
        let mut core_options = relaykit::SendOptions::from_json_value(&o.rest).map_err(|e| to_js(*env, &e))?;
        core_options.trace = o.trace.as_ref().map(Trace::sink);
        Ok((message, o, core_options))
    };
    let (message, o, core_options) = match read() {
        Ok(x) => x,
        Err(e) => return rejected(env, e),
    };
    let profile = profile.inner.clone();
    let (keyring, context) = (o.keyring, o.context);
    spawn(env, o.trace, async move {
        relaykit::send_async(&profile, &keyring, &context, &message, &core_options).await.map(Done::Send)
    })
}
