//! Messages to send (§6): built from fields with lettre, or given as raw RFC 5322 bytes.
//!
//! [`Message::prepare`] expands RRTs in the fields (with the same [`RrtContext`](crate::RrtContext) as the profile),
//! refuses header injection (CR or LF in a header value, an address, a file name or a content
//! id) before anything is sent, and produces the envelope and the exact bytes to send.
//!
//! ```
//! use relaykit::message::Message;
//! use relaykit::RrtContext;
//! let mut m = Message::new("Alice <alice@example.com>");
//! m.to.push("bob@example.com".into());
//! m.subject = Some("Grüße".into());
//! m.text = Some("Hello\r\n.starts with a dot\r\n".into());
//! let p = m.prepare(&RrtContext::new()).unwrap();
//! assert_eq!(p.recipients, ["bob@example.com"]);
//! assert!(p.message_id.as_deref().unwrap().ends_with("@example.com>"));
//! ```

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::Result;
use crate::json::{self, Root};

mod dsn;
mod prepare;
mod serde_forms;

pub use self::dsn::{Dsn, DsnRecipient, Notify, Ret, xtext};

/// The MIME type of an attachment or inline part that names none and whose file name's
/// extension says nothing.
pub const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

/// Where an attachment's bytes come from.
#[derive(Clone, PartialEq, Eq)]
pub enum Content {
    /// Bytes in memory.
    Bytes(Vec<u8>),
    /// A file, read when the message is prepared.
    Path(PathBuf),
}

impl fmt::Debug for Content {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Content::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            Content::Path(p) => f.debug_tuple("Path").field(p).finish(),
        }
    }
}

/// An attachment, or an inline part referenced from the HTML by `cid:<content_id>`. Its JSON
/// form is `{"filename", "content_type", "content_id", and "path" or "content_base64"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "serde_forms::AttachmentJson", into = "serde_forms::AttachmentJson")]
pub struct Attachment {
    /// The file name shown to the recipient (for a path, defaults to the file's name).
    pub filename: Option<String>,
    /// The MIME type, e.g. `application/pdf`; `None`: guessed from the file name's extension
    /// (see [`Attachment::effective_content_type`]).
    pub content_type: Option<String>,
    /// For an inline part: the Content-ID (without angle brackets).
    pub content_id: Option<String>,
    /// The bytes.
    pub content: Content,
}

impl Attachment {
    /// An attachment from bytes (set `content_type` to `None` for [`DEFAULT_CONTENT_TYPE`]).
    pub fn from_bytes(filename: impl Into<String>, content_type: impl Into<String>, bytes: Vec<u8>) -> Self {
        Attachment {
            filename: Some(filename.into()),
            content_type: Some(content_type.into()),
            content_id: None,
            content: Content::Bytes(bytes),
        }
    }

    /// An attachment from a file, read when the message is prepared.
    pub fn from_path(path: impl Into<PathBuf>, content_type: Option<String>) -> Self {
        Attachment { filename: None, content_type, content_id: None, content: Content::Path(path.into()) }
    }

    /// An inline part (e.g. an image the HTML shows as `<img src="cid:logo">`).
    pub fn inline(content_id: impl Into<String>, content_type: impl Into<String>, content: Content) -> Self {
        Attachment {
            filename: None,
            content_type: Some(content_type.into()),
            content_id: Some(content_id.into()),
            content,
        }
    }

    /// The MIME type the part is sent with: the one given, else the one the file name's
    /// extension says (`report.pdf`: `application/pdf`; the file name, or the path's last part),
    /// else [`DEFAULT_CONTENT_TYPE`].
    ///
    /// ```
    /// use relaykit::message::Attachment;
    /// assert_eq!(Attachment::from_path("q3/report.PDF", None).effective_content_type(), "application/pdf");
    /// assert_eq!(Attachment::from_path("notes", None).effective_content_type(), "application/octet-stream");
    /// let mut a = Attachment::from_path("logo.png", None);
    /// a.content_type = Some("image/x-custom".into());
    /// assert_eq!(a.effective_content_type(), "image/x-custom");
    /// ```
    pub fn effective_content_type(&self) -> &str {
        if let Some(ct) = &self.content_type {
            return ct;
        }
        let name = match (&self.filename, &self.content) {
            (Some(f), _) => Some(std::path::Path::new(f.as_str())),
            (None, Content::Path(p)) => Some(p.as_path()),
            (None, Content::Bytes(_)) => None,
        };
        name.and_then(|n| mime_guess::from_path(n).first_raw()).unwrap_or(DEFAULT_CONTENT_TYPE)
    }
}

/// A message built from fields, or raw RFC 5322 bytes with an explicit envelope.
///
/// Its JSON form has the same names; `to`/`cc`/`bcc`/`reply_to` take an address or a list,
/// `headers` an object or a list of `[name, value]`, `raw_base64` the raw bytes. Unknown keys
/// are errors naming them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Message {
    /// The author, `addr` or `Name <addr>`; also the envelope sender unless `envelope_from` is set.
    pub from: String,
    /// Recipients in `To`.
    #[serde(deserialize_with = "serde_forms::one_or_many", skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<String>,
    /// Recipients in `Cc`.
    #[serde(deserialize_with = "serde_forms::one_or_many", skip_serializing_if = "Vec::is_empty")]
    pub cc: Vec<String>,
    /// Recipients only in the envelope.
    #[serde(deserialize_with = "serde_forms::one_or_many", skip_serializing_if = "Vec::is_empty")]
    pub bcc: Vec<String>,
    /// `Reply-To` addresses.
    #[serde(deserialize_with = "serde_forms::one_or_many", skip_serializing_if = "Vec::is_empty")]
    pub reply_to: Vec<String>,
    /// The subject.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The plain-text body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The HTML body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    /// Attachments.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
    /// Inline parts referenced from the HTML by Content-ID.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub inline: Vec<Attachment>,
    /// Extra headers, in order.
    #[serde(with = "serde_forms::headers", skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<(String, String)>,
    /// A Message-ID to use (with or without angle brackets); generated when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// The envelope sender (MAIL FROM), when it differs from `from`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub envelope_from: Option<String>,
    /// Raw RFC 5322 bytes to send as they are; then `from` (or `envelope_from`) and
    /// `to`/`cc`/`bcc` give the envelope only, and the other fields must be empty.
    #[serde(rename = "raw_base64", with = "serde_forms::base64_opt", skip_serializing_if = "Option::is_none")]
    pub raw: Option<Vec<u8>>,
    /// Expand RRTs in the fields: for every message, built or raw, on unless turned off. A raw
    /// message's fields are its envelope (`from`, `envelope_from`, `to`, `cc`, `bcc`); RRTs are
    /// never expanded in raw bytes or attachments.
    pub expand_rrts: bool,
    /// A delivery status notification request (RFC 3461), see [`Dsn`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dsn: Option<Dsn>,
    /// REQUIRETLS (RFC 8689): send only over TLS to a server that offers REQUIRETLS, which then
    /// keeps TLS on every later hop; otherwise the send fails before MAIL FROM.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub requiretls: bool,
    /// `List-Unsubscribe` URIs (RFC 2369), `https:` or `mailto:` only; built messages only.
    #[serde(deserialize_with = "serde_forms::one_or_many", skip_serializing_if = "Vec::is_empty")]
    pub list_unsubscribe: Vec<String>,
    /// Add `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058); needs an `https:`
    /// URI in `list_unsubscribe`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub list_unsubscribe_post: bool,
}

impl Default for Message {
    fn default() -> Self {
        Message {
            from: String::new(),
            to: Vec::new(),
            cc: Vec::new(),
            bcc: Vec::new(),
            reply_to: Vec::new(),
            subject: None,
            text: None,
            html: None,
            attachments: Vec::new(),
            inline: Vec::new(),
            headers: Vec::new(),
            message_id: None,
            envelope_from: None,
            raw: None,
            expand_rrts: true,
            dsn: None,
            requiretls: false,
            list_unsubscribe: Vec::new(),
            list_unsubscribe_post: false,
        }
    }
}

impl Message {
    /// A message from `from` with nothing else set.
    pub fn new(from: impl Into<String>) -> Self {
        Message { from: from.into(), ..Message::default() }
    }

    /// A raw RFC 5322 message with its envelope (RRTs expanded in the envelope, as in every
    /// message, unless `expand_rrts` is turned off).
    pub fn raw(envelope_from: impl Into<String>, recipients: Vec<String>, bytes: Vec<u8>) -> Self {
        Message { from: envelope_from.into(), to: recipients, raw: Some(bytes), ..Message::default() }
    }

    /// Parses the JSON form (see [`Message`]); errors name `message.<path>`.
    pub fn from_json(text: &str) -> Result<Self> {
        json::from_text(text, Root::Message)
    }

    /// Like [`Message::from_json`], from a parsed value.
    pub fn from_json_value(v: &Value) -> Result<Self> {
        if !v.is_object() {
            return Err(Root::Message.error("", format!("expected an object, found {}", json::type_name(v))));
        }
        json::from_value(v, Root::Message)
    }

    /// The JSON form (attachments from bytes as `content_base64`).
    pub fn to_json_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// What goes on the wire: the envelope and the bytes. Its JSON form (for inspection and for the
/// bindings' `prepare`) carries the bytes as `bytes_base64`.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct Prepared {
    /// MAIL FROM address (may be empty for a null sender).
    pub envelope_from: String,
    /// RCPT TO addresses, in order, without duplicates.
    pub recipients: Vec<String>,
    /// The message, CRLF line endings, not yet dot-stuffed.
    #[serde(rename = "bytes_base64", with = "serde_forms::base64_bytes")]
    pub bytes: Vec<u8>,
    /// The Message-ID header, with angle brackets, when the message has one.
    pub message_id: Option<String>,
    /// An address needs SMTPUTF8 (RFC 6531).
    pub needs_smtputf8: bool,
    /// The bytes have octets above 127 (8BITMIME, RFC 6152).
    pub eight_bit: bool,
    /// The message's DSN request, validated (not in the JSON form yet).
    #[serde(skip)]
    pub dsn: Option<Dsn>,
    /// The message asks for REQUIRETLS (not in the JSON form yet).
    #[serde(skip)]
    pub requiretls: bool,
}

impl Prepared {
    /// The JSON form.
    pub fn to_json_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

impl fmt::Debug for Prepared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Prepared")
            .field("envelope_from", &self.envelope_from)
            .field("recipients", &self.recipients)
            .field("bytes", &self.bytes.len())
            .field("message_id", &self.message_id)
            .field("needs_smtputf8", &self.needs_smtputf8)
            .field("eight_bit", &self.eight_bit)
            .field("dsn", &self.dsn)
            .field("requiretls", &self.requiretls)
            .finish()
    }
}
