//! The two generic translations between JavaScript values and the core's JSON forms. No field
//! is named here: the core's serde types own every name, and these only respell keys.
//!
//! Into the core ([`core_json`]): camelCase keys become snake_case, bytes (a `Buffer`,
//! `Uint8Array` or `ArrayBuffer`) at `name` become base64 text at `name_base64`, and a member
//! that is `null` or `undefined` is left out ("not given"). The members of `headers` are header
//! names, and those of `recipients` (a DSN request's per-recipient map) addresses: both kept as
//! written.
//!
//! Out of the core ([`presented`]): the reverse respelling, plus the one rename Node's
//! convention for `Error.code` asks for: a number at `code` (an SMTP reply code) is `smtpCode`,
//! and an object with a `kind` gets `code`, the kind in upper snake case (`'AUTH_FAILED'`), as on
//! thrown errors. The object also gets a non-enumerable `toJSON()` returning the core's JSON
//! exactly, so `JSON.stringify` writes what every other language writes. `dts-header.d.ts`
//! states the same rules as TypeScript types (`Presented<T>`).

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use napi::bindgen_prelude::{Function, JsObjectValue, JsValue, Object};
use napi::{Env, Property, PropertyAttributes};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

/// A JavaScript value as the core's JSON form (see the module comment).
pub(crate) fn core_json<'v>(env: Env, value: impl JsValue<'v>) -> napi::Result<Value> {
    let read: Read = env.from_js_value(value)?;
    Ok(read.into_json())
}

/// The core's JSON `json` as a camelCase JavaScript object whose `toJSON()` returns `json`.
pub(crate) fn presented<'e>(env: Env, json: Value) -> napi::Result<Object<'e>> {
    let mut obj = camel_case_object(env, &json)?;
    attach_to_json(env, &mut obj, json)?;
    Ok(obj)
}

/// The core's JSON `json` with its keys respelt, without `toJSON()`.
pub(crate) fn camel_case_object<'e>(env: Env, json: &Value) -> napi::Result<Object<'e>> {
    env.to_js_value(&Present(json))?.coerce_to_object()
}

/// Gives `obj` a non-enumerable `toJSON()` returning `json` (a fresh copy on each call), so the
/// object still looks plain to `Object.keys`, `util.inspect` and spreading.
pub(crate) fn attach_to_json(env: Env, obj: &mut Object<'_>, json: Value) -> napi::Result<()> {
    let to_json: Function<'_, (), Value> = env.create_function_from_closure("toJSON", move |_| Ok(json.clone()))?;
    obj.define_properties(&[Property::new()
        .with_utf8_name("toJSON")?
        .with_value(&to_json)
        .with_property_attributes(PropertyAttributes::Writable | PropertyAttributes::Configurable)])
}

fn snake_case(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    for c in key.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

fn camel_case(key: &str) -> String {
    let mut parts = key.split('_');
    let mut out = parts.next().unwrap_or_default().to_owned();
    for p in parts {
        let mut c = p.chars();
        out.extend(c.next().map(|f| f.to_ascii_uppercase()));
        out.push_str(c.as_str());
    }
    out
}

/// A value read from JavaScript: JSON, or bytes (which the parent object renames).
enum Read {
    Json(Value),
    Bytes(Vec<u8>),
}

impl Read {
    fn into_json(self) -> Value {
        match self {
            Read::Json(v) => v,
            Read::Bytes(b) => Value::String(B64.encode(b)),
        }
    }
}

impl<'de> de::Deserialize<'de> for Read {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(Keys(true))
    }
}

/// Reads one value; `.0` is whether its object keys are respelt.
#[derive(Clone, Copy)]
struct Keys(bool);

impl<'de> DeserializeSeed<'de> for Keys {
    type Value = Read;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Read, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Keys {
    type Value = Read;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value or bytes")
    }
    fn visit_unit<E>(self) -> Result<Read, E> {
        Ok(Read::Json(Value::Null))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Read, E> {
        Ok(Read::Json(v.into()))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Read, E> {
        Ok(Read::Json(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Read, E> {
        Ok(Read::Json(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Read, E> {
        Ok(Read::Json(v.into()))
    }
    fn visit_str<E>(self, v: &str) -> Result<Read, E> {
        Ok(Read::Json(v.into()))
    }
    fn visit_bytes<E>(self, v: &[u8]) -> Result<Read, E> {
        Ok(Read::Bytes(v.to_vec()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Read, A::Error> {
        let mut out = Vec::new();
        while let Some(item) = seq.next_element_seed(Keys(true))? {
            out.push(item.into_json());
        }
        Ok(Read::Json(Value::Array(out)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Read, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let name = if self.0 { snake_case(&key) } else { key };
            match map.next_value_seed(Keys(name != "headers" && name != "recipients"))? {
                Read::Json(Value::Null) => {}
                Read::Json(v) => _ = out.insert(name, v),
                Read::Bytes(b) => _ = out.insert(format!("{name}_base64"), Value::String(B64.encode(b))),
            }
        }
        Ok(Read::Json(Value::Object(out)))
    }
}

/// Serializes a core JSON value with the keys respelt for JavaScript.
struct Present<'a>(&'a Value);

impl Serialize for Present<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Array(items) => s.collect_seq(items.iter().map(Present)),
            Value::Object(members) => {
                let mut map = s.serialize_map(None)?;
                for (key, value) in members {
                    match (key.strip_suffix("_base64"), value) {
                        (Some(name), Value::String(text)) => {
                            let bytes = B64.decode(text).map_err(serde::ser::Error::custom)?;
                            map.serialize_entry(&camel_case(name), &Bytes(&bytes))?;
                        }
                        _ if key == "code" => map.serialize_entry("smtpCode", value)?,
                        _ => map.serialize_entry(&camel_case(key), &Present(value))?,
                    }
                }
                if let Some(Value::String(kind)) = members.get("kind") {
                    map.serialize_entry("code", &kind.to_ascii_uppercase())?;
                }
                map.end()
            }
            other => other.serialize(s),
        }
    }
}

/// Bytes, which napi's serializer makes a `Buffer`.
struct Bytes<'a>(&'a [u8]);

impl Serialize for Bytes<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_respell_both_ways() {
        for (snake, camel) in
            [("relay_check", "relayCheck"), ("from", "from"), ("use_ntlm_current_user", "useNtlmCurrentUser")]
        {
            assert_eq!(snake_case(camel), snake);
            assert_eq!(camel_case(snake), camel);
        }
    }
}
