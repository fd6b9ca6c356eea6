//! What every Rust client of the benchmark shares with the C, Python and Node ones: the
//! command line (`--key value`), the message file, the plan (warm-up, then the timed phase,
//! bounded by a message count and a deadline) and the one JSON line each client prints.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A boxed error: the clients report failures as text in their JSON line.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// `--key value` pairs (every option of bench/driver.py's client contract).
#[derive(Debug)]
pub struct Args(HashMap<String, String>);

impl Args {
    /// Parses `std::env::args()`.
    pub fn parse() -> Result<Args, BoxError> {
        let mut map = HashMap::new();
        let mut it = std::env::args().skip(1);
        while let Some(k) = it.next() {
            let key = k.strip_prefix("--").ok_or_else(|| format!("expected --key, got {k}"))?;
            let v = it.next().ok_or_else(|| format!("--{key} needs a value"))?;
            map.insert(key.to_owned(), v);
        }
        Ok(Args(map))
    }

    /// A string option, or `default`.
    pub fn str(&self, key: &str, default: &str) -> String {
        self.0.get(key).cloned().unwrap_or_else(|| default.to_owned())
    }

    /// A numeric option, or `default`.
    pub fn num<T: std::str::FromStr>(&self, key: &str, default: T) -> Result<T, BoxError> {
        match self.0.get(key) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| format!("--{key}: not a number: {v}").into()),
        }
    }
}

/// Where to send and what, the same for every client.
#[derive(Debug, Clone)]
pub struct Target {
    pub host: String,
    pub port: u16,
    pub tls: bool,
    pub ca_file: String,
    pub from: String,
    pub to: String,
    /// The message's bytes (CRLF line ends, no line starting with a dot), read from `--message`.
    pub body: Vec<u8>,
    /// relaykit's `stream_window` (`--stream-window`, default the core's 6).
    pub stream_window: u32,
}

impl Target {
    pub fn from_args(a: &Args) -> Result<Target, BoxError> {
        let path = a.str("message", "");
        let body = std::fs::read(&path).map_err(|e| format!("--message {path}: {e}"))?;
        Ok(Target {
            host: a.str("host", "127.0.0.1"),
            port: a.num("port", 0)?,
            tls: a.num::<u8>("tls", 0)? == 1,
            ca_file: a.str("ca", ""),
            from: a.str("from", "a@bench.test"),
            to: a.str("to", "b@bench.test"),
            body,
            stream_window: a.num("stream-window", 6)?,
        })
    }
}

/// Hands out message numbers: first `warmup` of them, then (after [`Plan::start_timed`]) up to
/// `messages` more until the deadline. Shared by all workers of a client.
#[derive(Debug)]
pub struct Plan {
    next: AtomicU64,
    limit: AtomicU64,
    deadline: std::sync::Mutex<Option<Instant>>,
    pub warmup: u64,
    pub messages: u64,
    pub max: Duration,
}

impl Plan {
    pub fn from_args(a: &Args) -> Result<Plan, BoxError> {
        let warmup = a.num("warmup", 20)?;
        Ok(Plan {
            next: AtomicU64::new(0),
            limit: AtomicU64::new(warmup),
            deadline: std::sync::Mutex::new(None),
            warmup,
            messages: a.num("messages", 1000)?,
            max: Duration::from_secs_f64(a.num("max-secs", 5.0)?),
        })
    }

    /// The next message to send, or `None` when the phase is over (count or deadline).
    pub fn take(&self) -> Option<u64> {
        if let Some(d) = *self.deadline.lock().unwrap_or_else(std::sync::PoisonError::into_inner) {
            if Instant::now() >= d {
                return None;
            }
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        if i < self.limit.load(Ordering::Relaxed) { Some(i) } else { None }
    }

    /// Ends the warm-up: the timed phase starts now. Returns its start.
    pub fn start_timed(&self) -> Instant {
        let now = Instant::now();
        *self.deadline.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(now + self.max);
        self.next.store(self.warmup, Ordering::Relaxed);
        self.limit.store(self.warmup + self.messages, Ordering::Relaxed);
        now
    }
}

/// Counts of one phase, shared by its workers.
#[derive(Debug, Default)]
pub struct Tally {
    pub sent: AtomicU64,
    pub failed: AtomicU64,
    pub first_error: std::sync::Mutex<Option<String>>,
}

impl Tally {
    pub fn record<T, E: std::fmt::Display>(&self, r: &Result<T, E>) {
        match r {
            Ok(_) => {
                self.sent.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                let mut first = self.first_error.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                first.get_or_insert_with(|| e.to_string());
            }
        }
    }

    /// Moves the counts out (after the warm-up, so that the timed phase starts from zero).
    pub fn take(&self) -> (u64, u64, Option<String>) {
        let e = self.first_error.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        (self.sent.swap(0, Ordering::Relaxed), self.failed.swap(0, Ordering::Relaxed), e)
    }
}

/// Prints the client's one JSON line: warm-up counts, then the timed phase's.
pub fn report(warm: (u64, u64, Option<String>), timed: (u64, u64, Option<String>), secs: f64) {
    let error = warm.2.or(timed.2);
    let line = serde_json::json!({
        "warmup_sent": warm.0, "warmup_failed": warm.1,
        "sent": timed.0, "failed": timed.1, "secs": secs, "error": error,
    });
    println!("{line}");
}

/// Prints a JSON line for a client that could not run at all.
pub fn report_fatal(e: &BoxError) {
    println!("{}", serde_json::json!({"sent": 0, "failed": 0, "secs": 0.0, "error": e.to_string()}));
}
