//! `RrtContext`: the values runtime replacement tags expand to (§2).

use std::collections::HashMap;

use napi::Env;
use napi_derive::napi;
use relaykit::rrt::{Field, Missing};

use crate::error::JsResult;

/// The options of `new RrtContext(...)`.
#[napi(object, object_to_js = false)]
pub struct RrtContextOptions {
    /// Values for `~WIN::NAME~` instead of the process environment.
    pub environment: Option<HashMap<String, String>>,
    /// What a tag without a value does: throw an `RRT` error (the default) or expand to `''`.
    #[napi(ts_type = "'error' | 'empty'")]
    pub missing: Option<String>,
}

impl std::fmt::Debug for RrtContextOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Environment values may be secrets: names only.
        f.debug_struct("RrtContextOptions")
            .field("environment", &self.environment.as_ref().map(|e| e.keys().collect::<Vec<_>>()))
            .field("missing", &self.missing)
            .finish()
    }
}

fn missing(env: Env, name: &str) -> napi::Result<Missing> {
    relaykit::profile::parse_choice::<Missing>("$.missing", name).js(env)
}

/// The field a value is expanded for (`heloName` is the camelCase spelling of a profile key).
fn field(name: &str) -> Field<'_> {
    Field::from_name(if name == "heloName" { "helo_name" } else { name })
}

/// Values the host registers for `~ID::%name%~` tags (plain, protected `$`, restricted `@`),
/// plus `WIN` from the environment. Protected and restricted values are held encrypted and never
/// shown by `util.inspect` or in errors.
#[derive(Debug)] // the core's Debug, which hides secrets
#[napi]
pub struct RrtContext {
    pub(crate) inner: relaykit::RrtContext,
}

#[napi]
impl RrtContext {
    /// An empty context; `WIN` values come from the process environment unless
    /// `options.environment` is given.
    #[napi(constructor)]
    pub fn new(env: Env, options: Option<RrtContextOptions>) -> napi::Result<Self> {
        let mut inner = relaykit::RrtContext::new();
        if let Some(options) = options {
            if let Some(vars) = options.environment {
                inner = inner.with_environment(vars);
            }
            if let Some(m) = options.missing {
                inner.set_missing(missing(env, &m)?);
            }
        }
        Ok(RrtContext { inner })
    }

    /// Sets what a tag without a value does.
    #[napi(ts_args_type = "missing: 'error' | 'empty'")]
    pub fn set_missing(&mut self, env: Env, value: String) -> napi::Result<()> {
        self.inner.set_missing(missing(env, &value)?);
        Ok(())
    }

    /// Registers a plain value for `~ID::%name%~` (and `~ID::name~`).
    #[napi]
    pub fn set(&mut self, env: Env, id: String, name: String, value: String) -> napi::Result<()> {
        self.inner.set(&id, &name, &value).js(env)
    }

    /// Registers a protected value for `~ID::%$name%~` (`name` with or without the `$`).
    #[napi]
    pub fn set_protected(&mut self, env: Env, id: String, name: String, value: String) -> napi::Result<()> {
        self.inner.set_protected(&id, &name, &value).js(env)
    }

    /// Registers a restricted value for `~ID::%@name%~`, usable only in the password.
    #[napi]
    pub fn set_restricted(&mut self, env: Env, id: String, name: String, value: String) -> napi::Result<()> {
        self.inner.set_restricted(&id, &name, &value).js(env)
    }

    /// Removes a value (`name` with its `$` or `@` for a protected or restricted one); returns
    /// whether there was one.
    #[napi]
    pub fn remove(&mut self, id: String, name: String) -> bool {
        self.inner.remove(&id, &name)
    }

    /// Expands every tag in `value` for `field` (`'server'`, `'username'`, `'password'`,
    /// `'helo_name'`, or a message field name; default `'value'`, a field that refuses
    /// restricted tags). The result may hold protected values: do not log it.
    #[napi]
    pub fn expand(&self, env: Env, value: String, field: Option<String>) -> napi::Result<String> {
        let out = self.inner.expand(&value, self::field(field.as_deref().unwrap_or("value"))).js(env)?;
        Ok(out.expose().to_owned())
    }
}
