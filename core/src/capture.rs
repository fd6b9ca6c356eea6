//! The capture transport (#16): instead of connecting, a send validates the message exactly as a
//! real send does (resolve the profile, expand RRTs, prepare) and then keeps what it would have
//! transmitted — in a directory or in memory — returning a [`SendResult`] with every recipient
//! accepted and the synthetic reply `250 captured`.
//!
//! Selected by configuration: the send options' `"transport"` member,
//! `{"capture": {"dir": "/path"}}` or `{"capture": "memory"}`, so a host switches by editing
//! its JSON. In a directory each message becomes `<message-id>.eml` (the exact bytes a real
//! send transmits, before dot-stuffing) and then `<message-id>.json` (`from`, `recipients`,
//! `message_id`, `result`: the §8 `SendResult`); both are written to a temporary name and
//! renamed, and the `.json` comes last, so its presence marks a complete capture. A name that is
//! already taken gets a `-2`, `-3`, ... suffix; a message without a Message-ID is named
//! `capture-<unix-nanos>-<n>`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Value, json};

use crate::error::{Error, Reply, Result};
use crate::message::Prepared;
use crate::report::SendResult;

/// How a send delivers: the `"transport"` member of the send options.
#[derive(Debug, Clone)]
pub enum Transport {
    /// Capture instead of connecting (see the module documentation).
    Capture(Capture),
}

/// Where captured messages go.
#[derive(Debug, Clone)]
pub enum Capture {
    /// Into this directory (which must exist), as `.eml` and `.json` pairs.
    Dir(PathBuf),
    /// Into memory, read back with [`CaptureStore::messages`].
    Memory(CaptureStore),
}

/// A shared, in-memory list of captured messages; clones share the list.
#[derive(Clone, Default)]
pub struct CaptureStore(Arc<Mutex<Vec<Captured>>>);

impl fmt::Debug for CaptureStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CaptureStore({} messages)", self.len())
    }
}

/// One captured message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Captured {
    /// MAIL FROM (empty for a null sender).
    pub from: String,
    /// RCPT TO, in order.
    pub recipients: Vec<String>,
    /// The exact bytes a real send transmits, before dot-stuffing (CRLF line ends).
    pub bytes: Vec<u8>,
    /// The result the send returned.
    pub result: SendResult,
}

impl Captured {
    /// The JSON envelope written next to the `.eml`: `from`, `recipients`, `message_id` and
    /// `result` (the §8 `SendResult`).
    pub fn envelope_json(&self) -> Value {
        json!({
            "from": self.from,
            "recipients": self.recipients,
            "message_id": self.result.message_id,
            "result": self.result.to_json_value(),
        })
    }
}

impl CaptureStore {
    /// An empty store.
    pub fn new() -> CaptureStore {
        CaptureStore::default()
    }

    /// The messages captured so far, oldest first.
    pub fn messages(&self) -> Vec<Captured> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// How many messages were captured.
    pub fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// Whether nothing was captured yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every captured message.
    pub fn clear(&self) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }
}

impl Transport {
    /// A capture into memory, with the store to read it back from.
    pub fn memory() -> (Transport, CaptureStore) {
        let store = CaptureStore::new();
        (Transport::Capture(Capture::Memory(store.clone())), store)
    }

    /// For the C, Python and Node bindings, which keep no options object a host could read a
    /// memory capture's store from: `{"capture": "memory"}` there would keep every message
    /// where no one can read it, so it is refused (a Rust host reads it through
    /// [`Transport::store`]).
    pub fn refuse_unreadable(transport: Option<&Transport>) -> Result<()> {
        match transport {
            Some(Transport::Capture(Capture::Memory(_))) => Err(Error::config(
                "options.transport",
                "a capture to memory can be read back only from Rust (Transport::memory); here, capture to a \
                 directory: {\"capture\": {\"dir\": \"/path\"}}",
            )),
            _ => Ok(()),
        }
    }

    /// The in-memory store, when this is a memory capture.
    pub fn store(&self) -> Option<&CaptureStore> {
        match self {
            Transport::Capture(Capture::Memory(s)) => Some(s),
            Transport::Capture(Capture::Dir(_)) => None,
        }
    }

    /// Captures `prepared` and returns the result a send of it returns.
    pub(crate) fn deliver(&self, prepared: &Prepared) -> Result<SendResult> {
        let Transport::Capture(capture) = self;
        let result = SendResult {
            accepted: prepared.recipients.clone(),
            rejected: Vec::new(),
            message_id: prepared.message_id.clone(),
            reply: Reply { code: 250, enhanced_code: None, text: "captured".to_owned() },
            attempts: 1,
            deliveries: Vec::new(),
        };
        let captured = Captured {
            from: prepared.envelope_from.clone(),
            recipients: prepared.recipients.clone(),
            bytes: prepared.bytes.clone(),
            result: result.clone(),
        };
        match capture {
            Capture::Memory(store) => store.0.lock().unwrap_or_else(PoisonError::into_inner).push(captured),
            Capture::Dir(dir) => write_pair(dir, &captured)?,
        }
        Ok(result)
    }
}

const DIR_FIELD: &str = "options.transport.capture.dir";

fn io_error(what: &str, path: &Path, e: &std::io::Error) -> Error {
    Error::config(DIR_FIELD, format!("cannot {what} {}: {e}", path.display()))
}

/// A file name stem from a Message-ID: the id without angle brackets, every character outside
/// `[A-Za-z0-9._@+=-]` replaced by `_` (so no path separator or dot-dot survives).
fn stem(message_id: Option<&str>) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let id = message_id.map(|m| m.trim().trim_start_matches('<').trim_end_matches('>')).unwrap_or_default();
    let s: String =
        id.chars().map(|c| if c.is_ascii_alphanumeric() || "._@+=-".contains(c) { c } else { '_' }).collect();
    if s.is_empty() || s.starts_with('.') {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        format!("capture-{nanos}-{}{s}", COUNTER.fetch_add(1, Ordering::Relaxed))
    } else {
        s
    }
}

fn write_pair(dir: &Path, c: &Captured) -> Result<()> {
    if !dir.is_dir() {
        return Err(Error::config(DIR_FIELD, format!("{} is not a directory", dir.display())));
    }
    let base = stem(c.result.message_id.as_deref());
    let json_text = serde_json::to_vec_pretty(&c.envelope_json()).unwrap_or_default();
    for n in 1u32.. {
        let name = if n == 1 { base.clone() } else { format!("{base}-{n}") };
        let eml = dir.join(format!("{name}.eml"));
        let tmp = dir.join(format!(".{name}.eml.tmp"));
        // The temporary file is created exclusively: a concurrent capture of the same name
        // moves on to the next suffix instead of interleaving.
        let file = std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp);
        let mut file = match file {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io_error("create", &tmp, &e)),
        };
        if eml.exists() {
            drop(file);
            let _ = std::fs::remove_file(&tmp);
            continue;
        }
        std::io::Write::write_all(&mut file, &c.bytes).map_err(|e| io_error("write", &tmp, &e))?;
        drop(file);
        std::fs::rename(&tmp, &eml).map_err(|e| io_error("rename into", &eml, &e))?;
        let json_path = dir.join(format!("{name}.json"));
        let json_tmp = dir.join(format!(".{name}.json.tmp"));
        std::fs::write(&json_tmp, &json_text).map_err(|e| io_error("write", &json_tmp, &e))?;
        std::fs::rename(&json_tmp, &json_path).map_err(|e| io_error("rename into", &json_path, &e))?;
        return Ok(());
    }
    Err(Error::internal("no free capture file name"))
}

impl Serialize for Transport {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let Transport::Capture(c) = self;
        let inner = match c {
            Capture::Dir(d) => json!({"dir": d}),
            Capture::Memory(_) => json!("memory"),
        };
        json!({"capture": inner}).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Transport {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Transport, D::Error> {
        use serde::de::Error as _;
        const EXPECTED: &str = r#"expected {"capture": {"dir": "/path"}} or {"capture": "memory"}"#;
        let v = Value::deserialize(d)?;
        let Some(obj) = v.as_object().filter(|o| o.len() == 1) else {
            return Err(D::Error::custom(EXPECTED));
        };
        match obj.get("capture") {
            Some(Value::String(s)) if s == "memory" => Ok(Transport::Capture(Capture::Memory(CaptureStore::new()))),
            Some(Value::Object(o)) if o.len() == 1 => match o.get("dir") {
                Some(Value::String(p)) if !p.trim().is_empty() => {
                    Ok(Transport::Capture(Capture::Dir(PathBuf::from(p))))
                }
                _ => Err(D::Error::custom(r#"capture: expected {"dir": "<a non-empty path>"}"#)),
            },
            _ => Err(D::Error::custom(EXPECTED)),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn stems_cannot_escape_the_directory() {
        assert_eq!(stem(Some("<a.b@x.test>")), "a.b@x.test");
        assert_eq!(stem(Some("<a/../b@x>")), "a_.._b@x");
        assert!(stem(Some("<../../etc/passwd@x>")).starts_with("capture-"));
        assert!(stem(None).starts_with("capture-"));
        assert!(stem(Some("<.hidden@x>")).starts_with("capture-"));
    }
}
