//! Messages as plain JavaScript objects, translated to the core's `Message`; `prepareMessage`
//! runs the core's `Message::prepare` (RRT expansion, header-injection refusal, MIME building).

use napi::Env;
use napi::bindgen_prelude::{Buffer, Either, FromNapiValue, JsValue, Object, Uint8Array};
use napi_derive::napi;
use relaykit::message::{Attachment, Content, Message};
use serde_json::Value;

use crate::error::JsResult;
use crate::rrt::RrtContext;

/// An attachment: `content` (bytes, or a string sent as UTF-8) or `path` (a file read when the
/// message is prepared), not both.
#[napi(object, object_to_js = false)]
pub struct AttachmentInput {
    /// The file name shown to the recipient (for a path, defaults to the file's name).
    pub filename: Option<String>,
    /// The MIME type; defaults to `application/octet-stream`.
    pub content_type: Option<String>,
    pub content: Option<Either<Uint8Array, String>>,
    pub path: Option<String>,
}

/// An inline part, referenced from the HTML as `cid:<contentId>`.
#[napi(object, object_to_js = false)]
pub struct InlineInput {
    pub content_id: String,
    pub content_type: Option<String>,
    pub filename: Option<String>,
    pub content: Option<Either<Uint8Array, String>>,
    pub path: Option<String>,
}

/// A message (§6). Addresses are `addr` or `Name <addr>`. With `raw`, the bytes are sent as
/// they are and `from`/`envelopeFrom` and `to`/`cc`/`bcc` give the envelope only.
#[napi(object, object_to_js = false)]
pub struct MessageInput {
    pub from: String,
    pub to: Option<Either<String, Vec<String>>>,
    pub cc: Option<Either<String, Vec<String>>>,
    pub bcc: Option<Either<String, Vec<String>>>,
    pub reply_to: Option<Either<String, Vec<String>>>,
    pub subject: Option<String>,
    pub text: Option<String>,
    pub html: Option<String>,
    pub attachments: Option<Vec<AttachmentInput>>,
    pub inline: Option<Vec<InlineInput>>,
    /// Extra headers, in order: an object or a list of `[name, value]` pairs.
    #[napi(ts_type = "Record<string, string> | Array<[string, string]>")]
    pub headers: Option<Value>,
    /// A Message-ID to use (with or without angle brackets); generated when absent.
    pub message_id: Option<String>,
    /// The envelope sender (MAIL FROM) when it differs from `from`; `''` for the null sender.
    pub envelope_from: Option<String>,
    /// Raw RFC 5322 bytes.
    pub raw: Option<Uint8Array>,
    /// Expand RRTs in the fields (not in raw bytes or attachments); default true.
    pub expand_rrts: Option<bool>,
}

/// What goes on the wire.
#[napi(object, object_from_js = false)]
pub struct PreparedMessage {
    /// MAIL FROM (empty for the null sender).
    pub envelope_from: String,
    /// RCPT TO, in order, without duplicates.
    pub recipients: Vec<String>,
    /// The message with CRLF line endings.
    pub bytes: Buffer,
    pub message_id: Option<String>,
    /// An address needs SMTPUTF8.
    pub needs_smtputf8: bool,
    /// The bytes have octets above 127.
    pub eight_bit: bool,
}

fn list(v: Option<Either<String, Vec<String>>>) -> Vec<String> {
    match v {
        None => Vec::new(),
        Some(Either::A(one)) => vec![one],
        Some(Either::B(many)) => many,
    }
}

fn content(
    env: Env,
    path: &str,
    bytes: Option<Either<Uint8Array, String>>,
    file: Option<String>,
) -> napi::Result<Content> {
    match (bytes, file) {
        (Some(Either::A(b)), None) => Ok(Content::Bytes(b.to_vec())),
        (Some(Either::B(s)), None) => Ok(Content::Bytes(s.into_bytes())),
        (None, Some(p)) => Ok(Content::Path(p.into())),
        _ => Err(relaykit::Error::config(&format!("message.{path}"), "give exactly one of content or path")).js(env),
    }
}

fn headers(env: Env, v: Option<Value>) -> napi::Result<Vec<(String, String)>> {
    let bad =
        |path: &str, why: &str| crate::error::to_js(env, &relaykit::Error::config(&format!("message.{path}"), why));
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(map)) => map
            .into_iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k, s)),
                _ => Err(bad(&format!("headers.{k}"), "expected a string")),
            })
            .collect(),
        Some(Value::Array(items)) => items
            .into_iter()
            .enumerate()
            .map(|(i, pair)| match pair {
                Value::Array(kv) => match <[Value; 2]>::try_from(kv) {
                    Ok([Value::String(k), Value::String(v)]) => Ok((k, v)),
                    _ => Err(bad(&format!("headers[{i}]"), "expected [name, value]")),
                },
                _ => Err(bad(&format!("headers[{i}]"), "expected [name, value]")),
            })
            .collect(),
        Some(_) => Err(bad("headers", "expected an object or a list of [name, value]")),
    }
}

const MESSAGE_KEYS: [&str; 15] = [
    "from",
    "to",
    "cc",
    "bcc",
    "replyTo",
    "subject",
    "text",
    "html",
    "attachments",
    "inline",
    "headers",
    "messageId",
    "envelopeFrom",
    "raw",
    "expandRrts",
];
const ATTACHMENT_KEYS: [&str; 4] = ["filename", "contentType", "content", "path"];
const INLINE_KEYS: [&str; 5] = ["contentId", "filename", "contentType", "content", "path"];

/// Refuses a key `known` does not list, as the core refuses one in the message JSON: a
/// misspelt `replyto` or a snake_case `reply_to` would otherwise be dropped without a word.
fn check_keys(env: Env, obj: &Object<'_>, path: &str, known: &[&str]) -> napi::Result<()> {
    for key in Object::keys(obj)? {
        if !known.contains(&key.as_str()) {
            let at = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
            return Err(relaykit::Error::config(
                &format!("message.{at}"),
                format!("unknown key (known: {})", known.join(", ")),
            ))
            .js(env);
        }
    }
    Ok(())
}

impl MessageInput {
    /// The message object a function was given, its keys checked (here and in its parts)
    /// before napi's conversion, which would skip an unknown key.
    pub(crate) fn from_object(env: Env, obj: &Object<'_>) -> napi::Result<Self> {
        check_keys(env, obj, "", &MESSAGE_KEYS)?;
        for (list, known) in [("attachments", &ATTACHMENT_KEYS[..]), ("inline", &INLINE_KEYS[..])] {
            // Not a list of objects: the conversion below says what is wrong.
            if let Ok(Some(parts)) = obj.get::<Vec<Object<'_>>>(list) {
                for (i, part) in parts.iter().enumerate() {
                    check_keys(env, part, &format!("{list}[{i}]"), known)?;
                }
            }
        }
        // SAFETY: `obj` is a live object of this call's environment.
        unsafe { MessageInput::from_napi_value(env.raw(), obj.raw()) }
    }
}

impl MessageInput {
    pub(crate) fn into_core(self, env: Env) -> napi::Result<Message> {
        let mut m = Message::new(self.from);
        m.to = list(self.to);
        m.cc = list(self.cc);
        m.bcc = list(self.bcc);
        m.reply_to = list(self.reply_to);
        m.subject = self.subject;
        m.text = self.text;
        m.html = self.html;
        for (i, a) in self.attachments.unwrap_or_default().into_iter().enumerate() {
            m.attachments.push(Attachment {
                filename: a.filename,
                content_type: a.content_type,
                content_id: None,
                content: content(env, &format!("attachments[{i}]"), a.content, a.path)?,
            });
        }
        for (i, a) in self.inline.unwrap_or_default().into_iter().enumerate() {
            m.inline.push(Attachment {
                filename: a.filename,
                content_type: a.content_type,
                content_id: Some(a.content_id),
                content: content(env, &format!("inline[{i}]"), a.content, a.path)?,
            });
        }
        m.headers = headers(env, self.headers)?;
        m.message_id = self.message_id;
        m.envelope_from = self.envelope_from;
        m.raw = self.raw.map(|r| r.to_vec());
        m.expand_rrts = self.expand_rrts.unwrap_or(true);
        Ok(m)
    }
}

/// Expands RRTs in the message fields (with `context`, or a context holding only the process
/// environment), refuses header injection, builds the MIME structure and returns the envelope
/// and the bytes that Send will transmit.
#[napi(ts_args_type = "message: MessageInput, context?: RrtContext | undefined | null")]
pub fn prepare_message(env: Env, message: Object<'_>, context: Option<&RrtContext>) -> napi::Result<PreparedMessage> {
    let m = MessageInput::from_object(env, &message)?.into_core(env)?;
    let fallback;
    let ctx = if let Some(c) = context {
        &c.inner
    } else {
        fallback = relaykit::RrtContext::new();
        &fallback
    };
    let p = m.prepare(ctx).js(env)?;
    Ok(PreparedMessage {
        envelope_from: p.envelope_from,
        recipients: p.recipients,
        bytes: p.bytes.into(),
        message_id: p.message_id,
        needs_smtputf8: p.needs_smtputf8,
        eight_bit: p.eight_bit,
    })
}
