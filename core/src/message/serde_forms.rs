//! The serde pieces of the message's JSON form that are not plain fields.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Attachment, Content};

/// An address or a list of addresses.
pub(super) fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged, expecting = "an address or a list of addresses")]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

/// Headers: written as a list of `[name, value]` (order and repeats kept); read from that or
/// from an object.
pub(super) mod headers {
    use super::{Deserialize, Deserializer, Serialize, Serializer};

    pub(crate) fn serialize<S: Serializer>(h: &[(String, String)], s: S) -> Result<S::Ok, S::Error> {
        h.serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, String)>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged, expecting = "an object or a list of [name, value]")]
        enum Form {
            Pairs(Vec<(String, String)>),
            Object(serde_json::Map<String, serde_json::Value>),
        }
        match Form::deserialize(d)? {
            Form::Pairs(p) => Ok(p),
            Form::Object(o) => o
                .into_iter()
                .map(|(k, v)| match v {
                    serde_json::Value::String(v) => Ok((k, v)),
                    _ => Err(serde::de::Error::custom(format!("the value of `{k}` is not a string"))),
                })
                .collect(),
        }
    }
}

/// Optional bytes as base64 text.
pub(super) mod base64_opt {
    use super::{B64, Deserialize, Deserializer, Engine, Serializer};

    #[allow(clippy::ref_option)] // serde's `with` hands the field by reference
    pub(crate) fn serialize<S: Serializer>(b: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match b {
            Some(b) => s.serialize_str(&B64.encode(b)),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        Option::<String>::deserialize(d)?.map(|t| super::decode(&t)).transpose()
    }
}

/// Bytes as base64 text.
pub(super) mod base64_bytes {
    use super::{B64, Engine, Serializer};

    pub(crate) fn serialize<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&B64.encode(b))
    }
}

fn decode<E: serde::de::Error>(text: &str) -> Result<Vec<u8>, E> {
    B64.decode(text).map_err(|e| E::custom(format!("not valid base64: {e}")))
}

/// The JSON form of an [`Attachment`].
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AttachmentJson {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    filename: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    content_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    path: Option<std::path::PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    content_base64: Option<String>,
}

impl TryFrom<AttachmentJson> for Attachment {
    type Error = String;

    fn try_from(j: AttachmentJson) -> Result<Attachment, String> {
        let content = match (j.path, j.content_base64) {
            (Some(p), None) => Content::Path(p),
            (None, Some(b)) => Content::Bytes(decode::<serde_json::Error>(&b).map_err(|e| e.to_string())?),
            _ => return Err("give exactly one of path and content_base64".to_owned()),
        };
        Ok(Attachment { filename: j.filename, content_type: j.content_type, content_id: j.content_id, content })
    }
}

impl From<Attachment> for AttachmentJson {
    fn from(a: Attachment) -> AttachmentJson {
        let (path, content_base64) = match a.content {
            Content::Path(p) => (Some(p), None),
            Content::Bytes(b) => (None, Some(B64.encode(b))),
        };
        AttachmentJson {
            filename: a.filename,
            content_type: a.content_type,
            content_id: a.content_id,
            path,
            content_base64,
        }
    }
}
