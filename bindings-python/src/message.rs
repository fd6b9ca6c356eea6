//! `relaykit.Message` and `relaykit.Attachment`: the core [`relaykit::message::Message`] (§6).

use std::borrow::Cow;
use std::path::PathBuf;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use relaykit::RrtContext;
use relaykit::message::{Attachment, Content, Message, Prepared};

use crate::convert;
use crate::error::IntoPy;
use crate::rrt::PyRrtContext;

/// An attachment, or an inline part the HTML refers to as `cid:<content_id>`: bytes in memory
/// (`data`) or a file read when the message is prepared (`path`, str or `os.PathLike`).
#[pyclass(name = "Attachment", module = "relaykit._native")]
#[derive(Clone)]
pub(crate) struct PyAttachment {
    inner: Attachment,
}

#[pymethods]
impl PyAttachment {
    #[new]
    #[pyo3(signature = (filename=None, content_type=None, data=None, path=None, content_id=None))]
    fn new(
        filename: Option<String>,
        content_type: Option<String>,
        data: Option<Cow<'_, [u8]>>,
        path: Option<PathBuf>,
        content_id: Option<String>,
    ) -> PyResult<Self> {
        let content = match (data, path) {
            (Some(d), None) => Content::Bytes(d.into_owned()),
            (None, Some(p)) => Content::Path(p),
            _ => return Err(PyTypeError::new_err("Attachment() takes exactly one of data= and path=")),
        };
        Ok(PyAttachment { inner: Attachment { filename, content_type, content_id, content } })
    }

    #[getter]
    fn filename(&self) -> Option<&str> {
        self.inner.filename.as_deref()
    }
    #[getter]
    fn content_type(&self) -> Option<&str> {
        self.inner.content_type.as_deref()
    }
    #[getter]
    fn content_id(&self) -> Option<&str> {
        self.inner.content_id.as_deref()
    }
    /// The bytes, when given in memory.
    #[getter]
    fn data<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        match &self.inner.content {
            Content::Bytes(b) => Some(PyBytes::new(py, b)),
            Content::Path(_) => None,
        }
    }
    /// The file, when given by path.
    #[getter]
    fn path(&self) -> Option<PathBuf> {
        match &self.inner.content {
            Content::Path(p) => Some(p.clone()),
            Content::Bytes(_) => None,
        }
    }

    fn __repr__(&self) -> String {
        let content = match &self.inner.content {
            Content::Bytes(b) => format!("data=<{} bytes>", b.len()),
            Content::Path(p) => format!("path={:?}", p.display().to_string()),
        };
        format!(
            "Attachment(filename={:?}, content_type={:?}, content_id={:?}, {content})",
            self.inner.filename, self.inner.content_type, self.inner.content_id
        )
    }
}

fn parts(list: Option<Vec<PyRef<'_, PyAttachment>>>) -> Vec<Attachment> {
    list.into_iter().flatten().map(|a| a.inner.clone()).collect()
}

/// `{"Name": "value"}` or `[("Name", "value"), …]` (the list keeps repeated names).
fn headers(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<(String, String)>> {
    let Some(obj) = obj else { return Ok(Vec::new()) };
    if let Ok(d) = obj.cast::<PyDict>() {
        return d.iter().map(|(k, v)| Ok((k.extract()?, v.extract()?))).collect();
    }
    obj.extract().map_err(|_| PyTypeError::new_err("headers must be a dict or a list of (name, value) pairs"))
}

/// A message built from fields, or raw RFC 5322 bytes with an explicit envelope (`raw`).
#[pyclass(name = "Message", module = "relaykit._native")]
#[derive(Clone)]
pub(crate) struct PyMessage {
    pub(crate) inner: Message,
}

#[pymethods]
impl PyMessage {
    #[new]
    #[pyo3(signature = (
        from_, *, to=None, cc=None, bcc=None, reply_to=None, subject=None, text=None, html=None,
        attachments=None, inline=None, headers=None, message_id=None, envelope_from=None,
        raw=None, expand_rrts=None
    ))]
    #[allow(clippy::too_many_arguments)] // one keyword per field of §6
    fn new(
        from_: String,
        to: Option<Vec<String>>,
        cc: Option<Vec<String>>,
        bcc: Option<Vec<String>>,
        reply_to: Option<Vec<String>>,
        subject: Option<String>,
        text: Option<String>,
        html: Option<String>,
        attachments: Option<Vec<PyRef<'_, PyAttachment>>>,
        inline: Option<Vec<PyRef<'_, PyAttachment>>>,
        headers: Option<&Bound<'_, PyAny>>,
        message_id: Option<String>,
        envelope_from: Option<String>,
        raw: Option<Cow<'_, [u8]>>,
        expand_rrts: Option<bool>,
    ) -> PyResult<Self> {
        let base = match raw {
            Some(bytes) => Message::raw(from_, to.unwrap_or_default(), bytes.into_owned()),
            None => Message { to: to.unwrap_or_default(), ..Message::new(from_) },
        };
        let mut m = Message {
            cc: cc.unwrap_or_default(),
            bcc: bcc.unwrap_or_default(),
            reply_to: reply_to.unwrap_or_default(),
            subject,
            text,
            html,
            attachments: parts(attachments),
            inline: parts(inline),
            headers: self::headers(headers)?,
            message_id,
            envelope_from,
            ..base
        };
        // Not given: the core's default, the same for every message.
        if let Some(expand) = expand_rrts {
            m.expand_rrts = expand;
        }
        Ok(PyMessage { inner: m })
    }

    /// Parses the JSON form (`from`, `to`, …, `attachments` with `path` or `content_base64`,
    /// `raw_base64`).
    #[staticmethod]
    fn from_json(text: &str) -> PyResult<Self> {
        Ok(PyMessage { inner: Message::from_json(text).py_err()? })
    }

    /// Expands tags (with `rrt`, or the process environment only), checks every field (header
    /// injection is refused), reads attached files and builds what would go on the wire.
    #[pyo3(signature = (rrt=None))]
    fn prepare(&self, rrt: Option<&PyRrtContext>) -> PyResult<PreparedMessage> {
        let p = match rrt {
            Some(c) => self.inner.prepare(&c.inner),
            None => self.inner.prepare(&RrtContext::new()),
        };
        Ok(PreparedMessage { inner: p.py_err()? })
    }

    #[getter]
    fn from_(&self) -> &str {
        &self.inner.from
    }
    #[getter]
    fn to(&self) -> Vec<String> {
        self.inner.to.clone()
    }
    #[getter]
    fn cc(&self) -> Vec<String> {
        self.inner.cc.clone()
    }
    #[getter]
    fn bcc(&self) -> Vec<String> {
        self.inner.bcc.clone()
    }
    #[getter]
    fn reply_to(&self) -> Vec<String> {
        self.inner.reply_to.clone()
    }
    #[getter]
    fn subject(&self) -> Option<&str> {
        self.inner.subject.as_deref()
    }
    #[getter]
    fn text(&self) -> Option<&str> {
        self.inner.text.as_deref()
    }
    #[getter]
    fn html(&self) -> Option<&str> {
        self.inner.html.as_deref()
    }
    #[getter]
    fn attachments(&self) -> Vec<PyAttachment> {
        self.inner.attachments.iter().map(|a| PyAttachment { inner: a.clone() }).collect()
    }
    #[getter]
    fn inline(&self) -> Vec<PyAttachment> {
        self.inner.inline.iter().map(|a| PyAttachment { inner: a.clone() }).collect()
    }
    #[getter]
    fn headers(&self) -> Vec<(String, String)> {
        self.inner.headers.clone()
    }
    #[getter]
    fn message_id(&self) -> Option<&str> {
        self.inner.message_id.as_deref()
    }
    #[getter]
    fn envelope_from(&self) -> Option<&str> {
        self.inner.envelope_from.as_deref()
    }
    #[getter]
    fn raw<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        self.inner.raw.as_deref().map(|b| PyBytes::new(py, b))
    }
    #[getter]
    fn expand_rrts(&self) -> bool {
        self.inner.expand_rrts
    }

    fn __repr__(&self) -> String {
        let m = &self.inner;
        format!(
            "Message(from_={:?}, to={:?}, cc={:?}, bcc={:?}, subject={:?}, attachments={}, inline={}, raw={})",
            m.from,
            m.to,
            m.cc,
            m.bcc,
            m.subject,
            m.attachments.len(),
            m.inline.len(),
            m.raw.as_ref().map_or_else(|| "None".to_owned(), |r| format!("<{} bytes>", r.len())),
        )
    }
}

/// What goes on the wire: the envelope and the message bytes (CRLF line endings).
#[pyclass(name = "PreparedMessage", module = "relaykit._native", frozen)]
pub(crate) struct PreparedMessage {
    inner: Prepared,
}

#[pymethods]
impl PreparedMessage {
    /// MAIL FROM (may be empty for a null sender).
    #[getter]
    fn envelope_from(&self) -> &str {
        &self.inner.envelope_from
    }
    /// RCPT TO addresses, in order, without duplicates.
    #[getter]
    fn recipients(&self) -> Vec<String> {
        self.inner.recipients.clone()
    }
    /// The message bytes, not yet dot-stuffed.
    #[getter]
    fn data<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.bytes)
    }
    /// The Message-ID header, with angle brackets.
    #[getter]
    fn message_id(&self) -> Option<&str> {
        self.inner.message_id.as_deref()
    }
    /// The core's JSON form (`bytes_base64` for the bytes).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        convert::to_py(py, &self.inner)
    }
    /// An address needs SMTPUTF8.
    #[getter]
    fn needs_smtputf8(&self) -> bool {
        self.inner.needs_smtputf8
    }
    /// The bytes have octets above 127.
    #[getter]
    fn eight_bit(&self) -> bool {
        self.inner.eight_bit
    }

    fn __repr__(&self) -> String {
        format!(
            "PreparedMessage(envelope_from={:?}, recipients={:?}, message_id={:?}, data=<{} bytes>)",
            self.inner.envelope_from,
            self.inner.recipients,
            self.inner.message_id,
            self.inner.bytes.len()
        )
    }
}
