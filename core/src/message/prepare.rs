//! Turning a [`Message`] into what goes on the wire: RRT expansion in the fields, header-injection
//! refusal, the envelope, and the MIME structure (built with lettre).

use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment as LettreAttachment, Mailbox, MultiPart, SinglePart};

use super::{Attachment, Content, Message, Prepared};
use crate::error::{Error, Result};
use crate::rrt::{Field, RrtContext};
use crate::secret::fill_random;

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

fn cfg_err(path: &str, reason: impl std::fmt::Display) -> Error {
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

/// The address fields after RRT expansion.
struct Addresses {
    from: String,
    to: Vec<String>,
    cc: Vec<String>,
    bcc: Vec<String>,
}

/// RRT expansion in message fields, when the message asks for it.
struct Expander<'a> {
    ctx: &'a RrtContext,
    on: bool,
}

impl Expander<'_> {
    fn one(&self, field: &'static str, v: &str) -> Result<String> {
        if self.on { Ok(self.ctx.expand(v, Field::Message(field))?.expose().to_owned()) } else { Ok(v.to_owned()) }
    }

    fn all(&self, field: &'static str, vs: &[String]) -> Result<Vec<String>> {
        vs.iter().map(|v| self.one(field, v)).collect()
    }
}

/// A message with more than this in its parts is prepared as heavy work ([`Message::prepare_in_async`]).
const HEAVY_BYTES: usize = 256 * 1024;

impl Message {
    /// [`Message::prepare`] from async code: a message that reads files or carries more than
    /// 256 KiB is prepared without holding up the other connections on the runtime's worker.
    pub(crate) fn prepare_in_async(&self, ctx: &RrtContext) -> Result<Prepared> {
        let mut bytes = self.text.as_ref().map_or(0, String::len)
            + self.html.as_ref().map_or(0, String::len)
            + self.raw.as_ref().map_or(0, Vec::len);
        let mut files = false;
        for a in self.attachments.iter().chain(&self.inline) {
            match &a.content {
                super::Content::Bytes(b) => bytes += b.len(),
                super::Content::Path(_) => files = true,
            }
        }
        if files || bytes > HEAVY_BYTES { crate::runtime::heavy(|| self.prepare(ctx)) } else { self.prepare(ctx) }
    }

    /// Expands RRTs, validates, builds the MIME structure and returns what goes on the wire.
    pub fn prepare(&self, ctx: &RrtContext) -> Result<Prepared> {
        let x = Expander { ctx, on: self.expand_rrts };
        let a = Addresses {
            from: x.one("from", &self.from)?,
            to: x.all("to", &self.to)?,
            cc: x.all("cc", &self.cc)?,
            bcc: x.all("bcc", &self.bcc)?,
        };
        let (envelope_from, recipients) = self.envelope(&x, &a)?;
        if let Some(d) = &self.dsn {
            d.validate()?;
        }
        super::dsn::check_unsubscribe(&self.list_unsubscribe)?;
        if self.list_unsubscribe_post
            && !self.list_unsubscribe.iter().any(|u| u.to_ascii_lowercase().starts_with("https://"))
        {
            return Err(cfg_err(
                "list_unsubscribe_post",
                "one-click unsubscribe needs an https: URI in list_unsubscribe",
            ));
        }
        if self.raw.is_some() && !self.list_unsubscribe.is_empty() {
            return Err(cfg_err(
                "list_unsubscribe",
                "a raw message carries its own headers; put List-Unsubscribe in the raw bytes",
            ));
        }
        let needs_smtputf8 = !envelope_from.is_ascii() || recipients.iter().any(|r| !r.is_ascii());
        let (bytes, message_id) = match &self.raw {
            Some(raw) => self.raw_bytes(raw)?,
            None => self.build(&x, &a, &envelope_from)?,
        };
        Ok(Prepared {
            envelope_from,
            recipients,
            eight_bit: bytes.iter().any(|&b| b >= 0x80),
            bytes,
            message_id,
            needs_smtputf8,
            dsn: self.dsn.clone(),
            requiretls: self.requiretls,
        })
    }

    /// MAIL FROM and the RCPT TO list (to, cc and bcc, without duplicates).
    fn envelope(&self, x: &Expander<'_>, a: &Addresses) -> Result<(String, Vec<String>)> {
        let from = &a.from;
        let envelope_from = match &self.envelope_from {
            Some(e) => {
                let e = x.one("envelope_from", e)?;
                no_crlf("envelope_from", &e)?;
                if e.is_empty() { String::new() } else { parse_mailbox("envelope_from", &e)?.email.to_string() }
            }
            None if from.trim().is_empty() => return Err(cfg_err("from", "is required")),
            None => parse_mailbox("from", from)?.email.to_string(),
        };
        let mut recipients: Vec<String> = Vec::new();
        for (path, list) in [("to", &a.to), ("cc", &a.cc), ("bcc", &a.bcc)] {
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
        Ok((envelope_from, recipients))
    }

    /// A raw message's bytes, line endings made CRLF, and the Message-ID it carries.
    fn raw_bytes(&self, raw: &[u8]) -> Result<(Vec<u8>, Option<String>)> {
        if self.subject.is_some() || self.text.is_some() || self.html.is_some() || !self.attachments.is_empty() {
            return Err(cfg_err("raw_base64", "a raw message cannot also have subject, text, html or attachments"));
        }
        if raw.is_empty() {
            return Err(cfg_err("raw_base64", "is empty"));
        }
        let bytes = normalize_crlf(raw);
        let id = find_message_id(&bytes);
        Ok((bytes, id))
    }

    /// The MIME message built from the fields, and its Message-ID.
    fn build(&self, x: &Expander<'_>, a: &Addresses, envelope_from: &str) -> Result<(Vec<u8>, Option<String>)> {
        let mut b = lettre::Message::builder().from(parse_mailbox("from", &a.from)?);
        for (i, r) in a.to.iter().enumerate() {
            b = b.to(parse_mailbox(&format!("to[{i}]"), r)?);
        }
        for (i, r) in a.cc.iter().enumerate() {
            b = b.cc(parse_mailbox(&format!("cc[{i}]"), r)?);
        }
        for (i, r) in x.all("reply_to", &self.reply_to)?.iter().enumerate() {
            b = b.reply_to(parse_mailbox(&format!("reply_to[{i}]"), r)?);
        }
        if let Some(s) = &self.subject {
            let s = x.one("subject", s)?;
            no_crlf("subject", &s)?;
            b = b.subject(s);
        }
        let message_id = match &self.message_id {
            Some(id) => {
                no_crlf("message_id", id)?;
                let id = id.trim();
                if id.starts_with('<') { id.to_owned() } else { format!("<{id}>") }
            }
            None => new_message_id(envelope_from.rsplit_once('@').map_or("localhost", |(_, d)| d))?,
        };
        b = b.message_id(Some(message_id.clone()));
        b = self.extra_headers(b, x)?;
        if !self.list_unsubscribe.is_empty() {
            let v = super::dsn::unsubscribe_header(&self.list_unsubscribe);
            b = b.raw_header(HeaderValue::new(HeaderName::new_from_ascii_str("List-Unsubscribe"), v));
            if self.list_unsubscribe_post {
                b = b.raw_header(HeaderValue::new(
                    HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                    "List-Unsubscribe=One-Click".to_owned(),
                ));
            }
        }
        let text = self.text.as_deref().map(|t| x.one("text", t)).transpose()?;
        let html = self.html.as_deref().map(|t| x.one("html", t)).transpose()?;
        let msg = match self.body(text, html)? {
            Body::Single(p) => b.singlepart(p),
            Body::Multi(p) => b.multipart(p),
        }
        .map_err(|e| cfg_err("", format!("cannot build the message: {e}")))?;
        Ok((msg.formatted(), Some(message_id)))
    }

    fn extra_headers(
        &self,
        mut b: lettre::message::MessageBuilder,
        x: &Expander<'_>,
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
            let value = x.one("headers", value)?;
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
        let ct_text = self.effective_content_type();
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

/// Text bodies use CRLF line endings on the wire.
fn normalize_text(s: &str) -> String {
    let mut out = Vec::with_capacity(s.len() + s.len() / 32);
    crlf_into(s.as_bytes(), &mut out);
    // Only CR and LF bytes were added, at line ends: still UTF-8.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Turns bare LF and bare CR into CRLF, so raw messages written with Unix line endings are valid
/// on the wire, and the prepared bytes are what the DATA/BDAT encoder sends.
fn normalize_crlf(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len() + b.len() / 32);
    crlf_into(b, &mut out);
    out
}

/// Appends `b` to `out` with every line ending as CRLF: a bare LF and a bare CR (which SMTP
/// forbids, RFC 5321 §2.3.8) become CRLF, a slice at a time (a 100 KiB raw message was mostly
/// spent here pushing byte by byte).
fn crlf_into(b: &[u8], out: &mut Vec<u8>) {
    let mut rest = b;
    while let Some(i) = rest.iter().position(|&c| c == b'\r' || c == b'\n') {
        out.extend_from_slice(&rest[..i]);
        out.extend_from_slice(b"\r\n");
        let n = if rest[i] == b'\r' && rest.get(i + 1) == Some(&b'\n') { 2 } else { 1 };
        rest = &rest[i + n..];
    }
    out.extend_from_slice(rest);
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

    #[test]
    fn bare_lf_and_bare_cr_become_crlf_and_nothing_else_changes() {
        for (raw, want) in [
            (&b"a\nb\r\nc\n"[..], &b"a\r\nb\r\nc\r\n"[..]),
            (b"\n\n", b"\r\n\r\n"),
            (b"lone\rcr\r\n", b"lone\r\ncr\r\n"),
            (b"body\r", b"body\r\n"),
            (b"\r\r\n", b"\r\n\r\n"),
            (b"no end", b"no end"),
            (b"", b""),
            (b"\r\n.\r\n", b"\r\n.\r\n"),
        ] {
            assert_eq!(normalize_crlf(raw), want, "{:?}", String::from_utf8_lossy(raw));
        }
        assert_eq!(normalize_text("Grüße\nzwei\r\n"), "Grüße\r\nzwei\r\n");
    }

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
