//! Progress of a send (#16): an optional callback told how many bytes of the message content
//! have been written to the connection and how many there are in all.
//!
//! The counts are of the content as it goes on the wire (dot-stuffed for DATA, the chunk for
//! BDAT), so the last call has `written == total`. The callback runs on the sending task, at
//! most once per 64 KiB written (the body is written in 64 KiB pieces while a callback is set)
//! or 100 ms, and once at the end; keep it cheap. A callback that panics is not called again for
//! that message and the send goes on (the panic is reported once on standard error). A
//! captured message ([`crate::capture`]) gets one call, `(total, total)`, with the length of
//! the captured bytes.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Bytes of content per piece written while a progress callback is set.
pub(crate) const PIECE: usize = 64 * 1024;
const INTERVAL: Duration = Duration::from_millis(100);

/// A progress callback: `(written, total)` in bytes. Clones share the callback.
#[derive(Clone)]
pub struct ProgressSink(Arc<dyn Fn(u64, u64) + Send + Sync>);

impl ProgressSink {
    /// A sink that calls `f(written, total)`.
    pub fn new(f: impl Fn(u64, u64) + Send + Sync + 'static) -> ProgressSink {
        ProgressSink(Arc::new(f))
    }

    /// The one call of a message that is not written to a server (a capture): the end.
    pub(crate) fn report_end(&self, total: u64) {
        Reporter::new(self.clone(), total).update(total);
    }
}

impl fmt::Debug for ProgressSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ProgressSink")
    }
}

/// The reporting state of one message's content while it is written.
pub(crate) struct Reporter {
    sink: ProgressSink,
    total: u64,
    last_bytes: u64,
    last_at: Instant,
    broken: bool,
}

impl Reporter {
    pub(crate) fn new(sink: ProgressSink, total: u64) -> Reporter {
        Reporter { sink, total, last_bytes: 0, last_at: Instant::now(), broken: false }
    }

    /// `written` bytes of the content are out: calls the sink if 64 KiB or 100 ms passed since
    /// the last call, or if this is the end.
    pub(crate) fn update(&mut self, written: u64) {
        let written = written.min(self.total);
        if self.broken || written <= self.last_bytes {
            return;
        }
        let due =
            written == self.total || written - self.last_bytes >= PIECE as u64 || self.last_at.elapsed() >= INTERVAL;
        if !due {
            return;
        }
        self.last_bytes = written;
        self.last_at = Instant::now();
        let (sink, total) = (&self.sink.0, self.total);
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sink(written, total))).is_err() {
            self.broken = true;
            eprintln!("relaykit: the progress callback panicked; it is not called again for this message");
        }
        if written == total {
            self.broken = true; // the end was reported: never twice
        }
    }
}
