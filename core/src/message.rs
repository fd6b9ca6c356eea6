//! Messages to send (§6): built from fields with lettre, or given as raw RFC 5322 bytes.
//!
//! [`Message::prepare`] expands RRTs in the fields (with the same [`RrtContext`] as the profile),
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

use base64::Engine as _;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment as LettreAttachment, Mailbox, MultiPart, SinglePart};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::rrt::{Field, RrtContext};
use crate::secret::fill_random;

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

/// An attachment, or an inline part referenced from the HTML by `cid:<content_id>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// The file name shown to the recipient (for a path, defaults to the file's name).
    pub filename: Option<String>,
    /// The MIME type, e.g. `application/pdf`; defaults to `application/octet-stream`.
    pub content_type: Option<String>,
    /// For an inline part: the Content-ID (without angle brackets).
    pub content_id: Option<String>,
    /// The bytes.
    pub content: Content,
}

impl Attachment {
    /// An attachment from bytes.
    pub fn from_bytes(filename: impl Into<String>, content_type: impl Into<String>, bytes: Vec<u8>) -> Self {
        Attachment {
            filename: Some(filename.into()),
            content_type: Some(content_type.into()),
            content_id: None,
            content: Content::Bytes(bytes),
        }
    }

    /// An attachment from a file.
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
}

/// A message built from fields, or raw RFC 5322 bytes with an explicit envelope.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    /// The author, `addr` or `Name <addr>`; also the envelope sender unless `envelope_from` is set.
    pub from: String,
    /// Recipients in `To`.
    pub to: Vec<String>,
    /// Recipients in `Cc`.
    pub cc: Vec<String>,
    /// Recipients only in the envelope.
    pub bcc: Vec<String>,
    /// `Reply-To` addresses.
    pub reply_to: Vec<String>,
    /// The subject.
    pub subject: Option<String>,
    /// The plain-text body.
    pub text: Option<String>,
    /// The HTML body.
    pub html: Option<String>,
    /// Attachments.
    pub attachments: Vec<Attachment>,
    /// Inline parts referenced from the HTML by Content-ID.
    pub inline: Vec<Attachment>,
    /// Extra headers, in order.
    pub headers: Vec<(String, String)>,
    /// A Message-ID to use (with or without angle brackets); generated when absent.
    pub message_id: Option<String>,
    /// The envelope sender (MAIL FROM), when it differs from `from`.
    pub envelope_from: Option<String>,
    /// Raw RFC 5322 bytes to send as they are; then `from` (or `envelope_from`) and
    /// `to`/`cc`/`bcc` give the envelope only, and the other fields must be empty.
    pub raw: Option<Vec<u8>>,
    /// Expand RRTs in the fields (not in raw bytes or attachments). On by default.
    pub expand_rrts: bool,
}

/// What goes on the wire: the envelope and the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Prepared {
    /// MAIL FROM address (may be empty for a null sender).
    pub envelope_from: String,
    /// RCPT TO addresses, in order, without duplicates.
    pub recipients: Vec<String>,
    /// The message, CRLF line endings, not yet dot-stuffed.
    pub bytes: Vec<u8>,
    /// The Message-ID header, with angle brackets, when the message has one.
    pub message_id: Option<String>,
    /// An address needs SMTPUTF8 (RFC 6531).
    pub needs_smtputf8: bool,
    /// The bytes have octets above 127 (8BITMIME, RFC 6152).
    pub eight_bit: bool,
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
            .finish()
    }
}

/// Header names relaykit sets itself; an extra header may not replace them.
const RESERVED_HEADERS: [&str; 11] = [
    "from",
    "to",
    "cc",
    "bcc",
    "reply-to",
    "subject",
    "message-id",
    "date",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
];

fn cfg_err(path: &str, reason: impl fmt::Display) -> Error {
    Error::config(&format!("message.{path}"), reason)
}

fn no_crlf(path: &str, value: &str) -> Result<()> {
    if value.contains(['\r', '\n']) {
        return Err(cfg_err(path, "contains a CR or LF character (header injection is refused)"));
    }
    if value.contains('\0') {
        return Err(cfg_err(path, "contains a NUL character"));
    }
    Ok(())
}

fn parse_mailbox(path: &str, s: &str) -> Result<Mailbox> {
    no_crlf(path, s)?;
    s.trim().parse::<Mailbox>().map_err(|e| cfg_err(path, format!("`{s}` is not a valid address: {e}")))
}

impl Message {
    /// A message from `from` with nothing else set.
    pub fn new(from: impl Into<String>) -> Self {
        Message { from: from.into(), expand_rrts: true, ..Message::default() }
    }

    /// A raw RFC 5322 message with its envelope.
    pub fn raw(envelope_from: impl Into<String>, recipients: Vec<String>, bytes: Vec<u8>) -> Self {
        Message {
            from: envelope_from.into(),
            to: recipients,
            raw: Some(bytes),
            expand_rrts: false,
            ..Message::default()
        }
    }

    /// Parses the JSON form: `from`, `to`/`cc`/`bcc`/`reply_to` (a string or a list),
    /// `subject`, `text`, `html`, `attachments` and `inline` (objects with `filename`,
    /// `content_type`, `content_id`, and `path` or `content_base64`), `headers` (an object or a
    /// list of pairs), `message_id`, `envelope_from`, `raw_base64`, `expand_rrts`.
    pub fn from_json_value(v: &Value) -> Result<Self> {
        let Value::Object(obj) = v else { return Err(cfg_err("", "expected an object")) };
        let mut m = Message::new(String::new());
        let s = |key: &str, v: &Value| -> Result<String> {
            v.as_str().map(str::to_owned).ok_or_else(|| cfg_err(key, "expected a string"))
        };
        let list = |key: &str, v: &Value| -> Result<Vec<String>> {
            match v {
                Value::String(x) => Ok(vec![x.clone()]),
                Value::Array(items) => items
                    .iter()
                    .enumerate()
                    .map(|(i, x)| {
                        x.as_str()
                            .map(str::to_owned)
                            .ok_or_else(|| cfg_err(&format!("{key}[{i}]"), "expected a string"))
                    })
                    .collect(),
                _ => Err(cfg_err(key, "expected an address or a list of addresses")),
            }
        };
        for (key, val) in obj {
            match key.as_str() {
                "from" => m.from = s(key, val)?,
                "to" => m.to = list(key, val)?,
                "cc" => m.cc = list(key, val)?,
                "bcc" => m.bcc = list(key, val)?,
                "reply_to" => m.reply_to = list(key, val)?,
                "subject" => m.subject = Some(s(key, val)?),
                "text" => m.text = Some(s(key, val)?),
                "html" => m.html = Some(s(key, val)?),
                "message_id" => m.message_id = Some(s(key, val)?),
                "envelope_from" => m.envelope_from = Some(s(key, val)?),
                "expand_rrts" => m.expand_rrts = val.as_bool().ok_or_else(|| cfg_err(key, "expected true or false"))?,
                "raw_base64" => {
                    let b = base64::engine::general_purpose::STANDARD
                        .decode(s(key, val)?)
                        .map_err(|e| cfg_err(key, format!("not valid base64: {e}")))?;
                    m.raw = Some(b);
                }
                "headers" => {
                    m.headers = match val {
                        Value::Object(h) => h
                            .iter()
                            .map(|(k, v)| Ok((k.clone(), s(&format!("headers.{k}"), v)?)))
                            .collect::<Result<_>>()?,
                        Value::Array(items) => items
                            .iter()
                            .enumerate()
                            .map(|(i, pair)| match pair.as_array().map(Vec::as_slice) {
                                Some([Value::String(k), Value::String(v)]) => Ok((k.clone(), v.clone())),
                                _ => Err(cfg_err(&format!("headers[{i}]"), "expected [name, value]")),
                            })
                            .collect::<Result<_>>()?,
                        _ => return Err(cfg_err(key, "expected an object or a list of [name, value]")),
                    };
                }
                "attachments" | "inline" => {
                    let Value::Array(items) = val else { return Err(cfg_err(key, "expected a list")) };
                    let parts = items
                        .iter()
                        .enumerate()
                        .map(|(i, a)| attachment_from_json(&format!("{key}[{i}]"), a))
                        .collect::<Result<Vec<_>>>()?;
                    if key == "inline" {
                        m.inline = parts;
                    } else {
                        m.attachments = parts;
                    }
                }
                _ => return Err(cfg_err(key, "unknown key")),
            }
        }
        Ok(m)
    }

    /// Expands RRTs, validates, builds the MIME structure and returns what goes on the wire.
    pub fn prepare(&self, ctx: &RrtContext) -> Result<Prepared> {
        let x = |path: &'static str, v: &str| -> Result<String> {
            if self.expand_rrts {
                Ok(ctx.expand(v, Field::Message(path))?.expose().to_owned())
            } else {
                Ok(v.to_owned())
            }
        };
        let xs = |path: &'static str, vs: &[String]| -> Result<Vec<String>> { vs.iter().map(|v| x(path, v)).collect() };

        let from = x("from", &self.from)?;
        let to = xs("to", &self.to)?;
        let cc = xs("cc", &self.cc)?;
        let bcc = xs("bcc", &self.bcc)?;
        let envelope_from = match &self.envelope_from {
            Some(e) => {
                let e = x("envelope_from", e)?;
                no_crlf("envelope_from", &e)?;
                if e.is_empty() { String::new() } else { parse_mailbox("envelope_from", &e)?.email.to_string() }
            }
            None if from.trim().is_empty() => return Err(cfg_err("from", "is required")),
            None => parse_mailbox("from", &from)?.email.to_string(),
        };
        let mut recipients: Vec<String> = Vec::new();
        for (path, list) in [("to", &to), ("cc", &cc), ("bcc", &bcc)] {
            for (i, r) in list.iter().enumerate() {
                let addr = parse_mailbox(&format!("{path}[{i}]"), r)?.email.to_string();
                if !recipients.iter().any(|a| a.eq_ignore_ascii_case(&addr)) {
                    recipients.push(addr);
                }
            }
        }
        if recipients.is_empty() {
            return Err(cfg_err("to", "no recipient: give at least one of to, cc or bcc"));
        }
        let needs_smtputf8 = !envelope_from.is_ascii() || recipients.iter().any(|r| !r.is_ascii());

        if let Some(raw) = &self.raw {
            if self.subject.is_some() || self.text.is_some() || self.html.is_some() || !self.attachments.is_empty() {
                return Err(cfg_err("raw_base64", "a raw message cannot also have subject, text, html or attachments"));
            }
            if raw.is_empty() {
                return Err(cfg_err("raw_base64", "is empty"));
            }
            let bytes = normalize_crlf(raw);
            return Ok(Prepared {
                envelope_from,
                recipients,
                message_id: find_message_id(&bytes),
                eight_bit: bytes.iter().any(|&b| b >= 0x80),
                bytes,
                needs_smtputf8,
            });
        }

        let mut b = lettre::Message::builder().from(parse_mailbox("from", &from)?);
        for (i, r) in to.iter().enumerate() {
            b = b.to(parse_mailbox(&format!("to[{i}]"), r)?);
        }
        for (i, r) in cc.iter().enumerate() {
            b = b.cc(parse_mailbox(&format!("cc[{i}]"), r)?);
        }
        for (i, r) in self.reply_to.iter().enumerate() {
            let r = x("reply_to", r)?;
            b = b.reply_to(parse_mailbox(&format!("reply_to[{i}]"), &r)?);
        }
        if let Some(s) = &self.subject {
            let s = x("subject", s)?;
            no_crlf("subject", &s)?;
            b = b.subject(s);
        }
        let domain = envelope_from.rsplit_once('@').map_or("localhost", |(_, d)| d).to_owned();
        let message_id = match &self.message_id {
            Some(id) => {
                no_crlf("message_id", id)?;
                let id = id.trim();
                if id.starts_with('<') { id.to_owned() } else { format!("<{id}>") }
            }
            None => new_message_id(&domain)?,
        };
        b = b.message_id(Some(message_id.clone()));
        b = self.extra_headers(b, &x)?;

        let text = self.text.as_deref().map(|t| x("text", t)).transpose()?;
        let html = self.html.as_deref().map(|t| x("html", t)).transpose()?;
        let body = self.body(text, html)?;
        let msg = match body {
            Body::Single(p) => b.singlepart(p),
            Body::Multi(p) => b.multipart(p),
        }
        .map_err(|e| cfg_err("", format!("cannot build the message: {e}")))?;
        let bytes = msg.formatted();
        Ok(Prepared {
            envelope_from,
            recipients,
            eight_bit: bytes.iter().any(|&b| b >= 0x80),
            bytes,
            message_id: Some(message_id),
            needs_smtputf8,
        })
    }

    fn extra_headers(
        &self,
        mut b: lettre::message::MessageBuilder,
        x: &impl Fn(&'static str, &str) -> Result<String>,
    ) -> Result<lettre::message::MessageBuilder> {
        for (i, (name, value)) in self.headers.iter().enumerate() {
            let path = format!("headers[{i}]");
            no_crlf(&path, name)?;
            if name.is_empty() || !name.bytes().all(|c| c.is_ascii_graphic() && c != b':') {
                return Err(cfg_err(&path, format!("`{name}` is not a valid header name")));
            }
            if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
                return Err(cfg_err(&path, format!("`{name}` is set by relaykit; use the message field instead")));
            }
            let value = x("headers", value)?;
            no_crlf(&path, &value)?;
            let hn = HeaderName::new_from_ascii(name.clone())
                .map_err(|_| cfg_err(&path, format!("`{name}` is not a valid header name")))?;
            b = b.raw_header(HeaderValue::new(hn, value));
        }

        Ok(b)
    }

    fn body(&self, text: Option<String>, html: Option<String>) -> Result<Body> {
        let text_part = text.map(|t| SinglePart::plain(normalize_text(&t)));
        let mut html_body: Option<Body> = html.map(|h| Body::Single(SinglePart::html(normalize_text(&h))));
        if !self.inline.is_empty() {
            let Some(Body::Single(h)) = html_body.take() else {
                return Err(cfg_err("inline", "inline parts need an html body that refers to them by cid:"));
            };
            let mut related = MultiPart::related().singlepart(h);
            for (i, a) in self.inline.iter().enumerate() {
                related = related.singlepart(a.to_part(&format!("inline[{i}]"), true)?);
            }
            html_body = Some(Body::Multi(related));
        }
        let main = match (text_part, html_body) {
            (Some(t), None) => Body::Single(t),
            (None, Some(h)) => h,
            (Some(t), Some(h)) => Body::Multi(match h {
                Body::Single(h) => MultiPart::alternative().singlepart(t).singlepart(h),
                Body::Multi(h) => MultiPart::alternative().singlepart(t).multipart(h),
            }),
            (None, None) => Body::Single(SinglePart::plain(String::new())),
        };
        if self.attachments.is_empty() {
            return Ok(main);
        }
        let mut mixed = match main {
            Body::Single(p) => MultiPart::mixed().singlepart(p),
            Body::Multi(p) => MultiPart::mixed().multipart(p),
        };
        for (i, a) in self.attachments.iter().enumerate() {
            mixed = mixed.singlepart(a.to_part(&format!("attachments[{i}]"), false)?);
        }
        Ok(Body::Multi(mixed))
    }
}

enum Body {
    Single(SinglePart),
    Multi(MultiPart),
}

impl Attachment {
    fn to_part(&self, path: &str, inline: bool) -> Result<SinglePart> {
        let (bytes, default_name) = match &self.content {
            Content::Bytes(b) => (b.clone(), None),
            Content::Path(p) => (
                std::fs::read(p).map_err(|e| {
                    Error::new(crate::ErrorKind::Io, format!("message.{path}: cannot read {}: {e}", p.display()))
                })?,
                p.file_name().map(|n| n.to_string_lossy().into_owned()),
            ),
        };
        let ct_text = self.content_type.as_deref().unwrap_or("application/octet-stream");
        no_crlf(&format!("{path}.content_type"), ct_text)?;
        let ct = ContentType::parse(ct_text)
            .map_err(|_| cfg_err(&format!("{path}.content_type"), format!("`{ct_text}` is not a MIME type")))?;
        let filename = self.filename.clone().or(default_name);
        if let Some(f) = &filename {
            no_crlf(&format!("{path}.filename"), f)?;
        }
        let att = if inline {
            let cid = self
                .content_id
                .as_deref()
                .ok_or_else(|| cfg_err(&format!("{path}.content_id"), "required for an inline part"))?;
            no_crlf(&format!("{path}.content_id"), cid)?;
            let cid = cid.trim_start_matches('<').trim_end_matches('>').to_owned();
            match filename {
                Some(f) => LettreAttachment::new_inline_with_name(cid, f),
                None => LettreAttachment::new_inline(cid),
            }
        } else {
            LettreAttachment::new(filename.unwrap_or_else(|| "attachment".to_owned()))
        };
        Ok(att.body(bytes, ct))
    }
}

fn attachment_from_json(path: &str, v: &Value) -> Result<Attachment> {
    let Value::Object(o) = v else { return Err(cfg_err(path, "expected an object")) };
    let get = |k: &str| -> Result<Option<String>> {
        match o.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(cfg_err(&format!("{path}.{k}"), "expected a string")),
        }
    };
    for k in o.keys() {
        if !["filename", "content_type", "content_id", "path", "content_base64"].contains(&k.as_str()) {
            return Err(cfg_err(&format!("{path}.{k}"), "unknown key"));
        }
    }
    let content = match (get("path")?, get("content_base64")?) {
        (Some(p), None) => Content::Path(PathBuf::from(p)),
        (None, Some(b)) => Content::Bytes(
            base64::engine::general_purpose::STANDARD
                .decode(b)
                .map_err(|e| cfg_err(&format!("{path}.content_base64"), format!("not valid base64: {e}")))?,
        ),
        _ => return Err(cfg_err(path, "give exactly one of path and content_base64")),
    };
    Ok(Attachment {
        filename: get("filename")?,
        content_type: get("content_type")?,
        content_id: get("content_id")?,
        content,
    })
}

/// Text bodies use CRLF line endings on the wire.
fn normalize_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 32);
    let mut prev = '\0';
    for c in s.chars() {
        if c == '\n' && prev != '\r' {
            out.push('\r');
        }
        out.push(c);
        prev = c;
    }
    out
}

/// Turns bare LF into CRLF, so raw messages written with Unix line endings are valid on the wire.
fn normalize_crlf(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len() + b.len() / 32);
    let mut prev = 0u8;
    for &c in b {
        if c == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(c);
        prev = c;
    }
    out
}

fn find_message_id(bytes: &[u8]) -> Option<String> {
    let header_end = bytes.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(bytes.len());
    let head = String::from_utf8_lossy(&bytes[..header_end]);
    head.split("\r\n").find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim().eq_ignore_ascii_case("message-id").then(|| value.trim().to_owned())
    })
}

fn new_message_id(domain: &str) -> Result<String> {
    let mut r = [0u8; 16];
    fill_random(&mut r)?;
    Ok(format!("<{}@{domain}>", hex::encode(r)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> RrtContext {
        RrtContext::new().with_environment(Vec::<(String, String)>::new())
    }

    #[test]
    fn header_injection_is_refused_before_sending() {
        let mut m = Message::new("a@example.com");
        m.to.push("b@example.com".into());
        m.subject = Some("hi\r\nBcc: victim@example.com".into());
        let e = m.prepare(&ctx()).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Config);
        assert!(e.message().starts_with("message.subject:"), "{e}");
        let mut m = Message::new("a@example.com");
        m.to.push("b@example.com\r\nRCPT TO:<x@y>".into());
        assert!(m.prepare(&ctx()).unwrap_err().message().starts_with("message.to[0]:"));
        let mut m = Message::new("a@example.com");
        m.to.push("b@example.com".into());
        m.headers.push(("X-Ok".into(), "v\nInjected: 1".into()));
        assert!(m.prepare(&ctx()).unwrap_err().message().starts_with("message.headers[0]:"));
    }

    #[test]
    fn rrts_expand_in_fields_and_bcc_stays_out_of_the_headers() {
        let mut c = ctx();
        c.set("ACC", "cust", "ACME").unwrap();
        let mut m = Message::new("Billing <billing@example.com>");
        m.to.push("b@example.com".into());
        m.bcc.push("audit@example.com".into());
        m.subject = Some("Invoice for ~ACC::%cust%~".into());
        m.text = Some("Dear ~ACC::%cust%~\n".into());
        let p = m.prepare(&c).unwrap();
        let s = String::from_utf8(p.bytes).unwrap();
        assert!(s.contains("Subject: Invoice for ACME\r\n"), "{s}");
        assert!(s.contains("Dear ACME\r\n"), "{s}");
        assert!(!s.to_ascii_lowercase().contains("audit@"), "{s}");
        assert_eq!(p.recipients, ["b@example.com", "audit@example.com"]);
        assert_eq!(p.envelope_from, "billing@example.com");
    }

    #[test]
    fn raw_messages_keep_their_bytes() {
        let m = Message::raw(
            "a@example.com",
            vec!["b@example.com".into()],
            b"Message-ID: <x@y>\nSubject: r\n\n.body\n".to_vec(),
        );
        let p = m.prepare(&ctx()).unwrap();
        assert_eq!(p.bytes, b"Message-ID: <x@y>\r\nSubject: r\r\n\r\n.body\r\n");
        assert_eq!(p.message_id.as_deref(), Some("<x@y>"));
    }
}
