//! Reading the JSON forms: serde does the work, and every error becomes a
//! [`crate::ErrorKind::Config`] error naming the path of the value at fault
//! (`$.port: ...`, `options.relay_check.to: ...`, `message.to[1]: ...`).

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{Error, Result};

/// Where a JSON form sits, for the paths in its error messages.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Root {
    /// A profile: `$`, `$.port`, `$.auth_mechanisms[1]`.
    Profile,
    /// Test or Send options: `options`, `options.relay_check.to`.
    Options,
    /// A message: `message`, `message.to[1]`.
    Message,
}

impl Root {
    fn name(self) -> &'static str {
        match self {
            Root::Profile => "$",
            Root::Options => "options",
            Root::Message => "message",
        }
    }

    /// The path of a member, e.g. `$.port` for `port` (`""` is the root itself).
    pub(crate) fn path(self, member: &str) -> String {
        match member {
            "" => self.name().to_owned(),
            m if m.starts_with('[') => format!("{}{m}", self.name()),
            m => format!("{}.{m}", self.name()),
        }
    }

    /// A configuration error about `member` (see [`Root::path`]).
    pub(crate) fn error(self, member: &str, reason: impl std::fmt::Display) -> Error {
        Error::config(&self.path(member), reason)
    }
}

/// Parses JSON text; a syntax error names the root and the line and column.
pub(crate) fn parse_text(text: &str, root: Root) -> Result<Value> {
    serde_json::from_str(text).map_err(|e| root.error("", format!("not valid JSON: {e}")))
}

/// Deserializes a parsed value; an error names the path of the value at fault. (From a
/// `Value`, serde_json's messages carry no line and column, which would mean nothing here.)
pub(crate) fn from_value<T: DeserializeOwned>(value: &Value, root: Root) -> Result<T> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let member = if path == "." { "" } else { path.as_str() };
        root.error(member, e.into_inner())
    })
}

/// Parses JSON text and deserializes it (see [`from_value`]).
pub(crate) fn from_text<T: DeserializeOwned>(text: &str, root: Root) -> Result<T> {
    from_value(&parse_text(text, root)?, root)
}

/// The JSON type of a value, in words, for messages.
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
