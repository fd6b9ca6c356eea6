//! The fault soak (#12): N messages through one mailer with 4 connections to the real
//! Postfix+Dovecot instance while faults are injected at random points, then every message's
//! reported fate is reconciled by Message-ID against the Maildir.
//!
//! Faults, both seeded (`RK_SOAK_SEED` replays a run; the seed is printed):
//! - **connection faults** from a small TCP proxy of our own between the mailer and Postfix
//!   (a real server cannot be made to drop a connection at a chosen byte): a fraction
//!   (`RK_SOAK_FAULT_RATE`, default 0.05) of connections is, at a random byte offset in one
//!   direction, reset (`SO_LINGER` 0, then closed: an RST), half-closed (that direction only
//!   gets a FIN), or stalled past the profile's `timeout_secs`;
//! - **real Postfix refusals**: the instance's policy listener (`RK_POSTFIX_POLICY_PORT`, see
//!   tests/servers/start.sh) asks `tests/faults/soak_policy.py` about every RCPT, which has
//!   Postfix answer 450, 421 (then disconnect) or 550 for a hash of the seed, the message's
//!   index and the attempt, and always 550 for `refuse+…` recipients (2% of the messages, so
//!   the test knows which must end refused).
//!
//! The messages go in batches (`send_many`, and `send_each` for one producer) from 4 producers
//! at once, as a service would, with `max_queued` 300 below the 1,000 they hand over at once, so
//! the queue's backpressure is in play (its largest size is checked). The test fails when a
//! message has no outcome, when one reported delivered is missing (lost) or is in the Maildir
//! more than once, when one reported refused arrived, or when the stats do not add up.
//! Messages with fate unknown are listed with whether they arrived; refusals are counted by
//! cause.
//!
//! `#[ignore]`d, so that `cargo test --workspace` does not run it beside everything else;
//! tests/run_all.sh runs it alone:
//!     cargo test -p relaykit --test soak -- --ignored --nocapture --test-threads=1
//!     RK_SOAK_MESSAGES=100000 cargo test -p relaykit --test soak -- --ignored --nocapture --test-threads=1
//! (10,000 plain + 1,000 STARTTLS: about 40 s on 2 cores, debug build.)
//! `RK_SOAK_TLS_MESSAGES` (default 1,000; 0 skips it) sizes the STARTTLS variant.

#![allow(clippy::unwrap_used, clippy::missing_panics_doc, clippy::cast_precision_loss)]

mod servers_env;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use relaykit::{Error, Fate, Mailer, Message, Profile, SendResult};
use serde_json::json;
use servers_env::{before_now, dovecot_maildir, mailer, port, run_tag, settled, var};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

const CONNECTIONS: u32 = 4;
const PRODUCERS: usize = 4;
const BATCH: usize = 250;
const MAX_QUEUED: u64 = 300;
/// Messages a CHUNKING connection writes ahead (the default `stream_window`): how many a dead
/// connection can put back on a full queue.
const WINDOW: u64 = 6;
/// The profile's `timeout_secs`: a stalled connection costs this long.
const TIMEOUT_SECS: u64 = 3;

fn env_num<T: std::str::FromStr>(k: &str, default: T) -> T {
    std::env::var(k).map_or(default, |v| v.parse().unwrap_or_else(|_| panic!("{k}={v}: not a number")))
}

/// SplitMix64: a tiny seeded generator, enough to choose faults replayably.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

// ------------------------------------------------------------------ the fault proxy --------

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Reset,
    HalfClose,
    Stall,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Dir {
    /// Mailer to Postfix.
    Up,
    /// Postfix to mailer.
    Down,
}

#[derive(Clone, Copy, Debug)]
struct Fault {
    kind: Kind,
    dir: Dir,
    /// Fires when this many bytes have gone that way (never, if the connection carries fewer).
    at: u64,
}

#[derive(Default)]
struct ProxyStats {
    connections: AtomicU64,
    armed: AtomicU64,
    resets: AtomicU64,
    half_closes: AtomicU64,
    stalls: AtomicU64,
    bytes_up: AtomicU64,
    bytes_down: AtomicU64,
}

impl ProxyStats {
    fn get(a: &AtomicU64) -> u64 {
        a.load(Ordering::Relaxed)
    }
    fn fired(&self) -> u64 {
        Self::get(&self.resets) + Self::get(&self.half_closes) + Self::get(&self.stalls)
    }
}

/// The plan for connection number `k`: drawn from the seed and `k` alone, so a replay gives
/// the same connection the same fault (which messages ride it depends on timing).
fn plan(seed: u64, k: u64, rate: f64) -> Option<Fault> {
    let mut r = Rng::new(seed ^ k.wrapping_mul(0xA24B_AED4_963E_E407));
    if r.unit() >= rate {
        return None;
    }
    let kind = match r.below(3) {
        0 => Kind::Reset,
        1 => Kind::HalfClose,
        _ => Kind::Stall,
    };
    // A connection carries about 25 messages of ~700 bytes up and ~150 bytes of replies down
    // each (see the byte counts printed): offsets within what most connections carry.
    let (dir, at) = if r.below(2) == 0 { (Dir::Up, r.below(16_000)) } else { (Dir::Down, r.below(3_500)) };
    Some(Fault { kind, dir, at })
}

/// A TCP proxy on 127.0.0.1 to `target`, injecting the planned faults. Runs until the test ends.
async fn start_proxy(target: u16, seed: u64, rate: f64) -> (u16, Arc<ProxyStats>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let stats = Arc::new(ProxyStats::default());
    let st = Arc::clone(&stats);
    tokio::spawn(async move {
        let mut k = 0u64;
        while let Ok((client, _)) = listener.accept().await {
            k += 1;
            let fault = plan(seed, k, rate);
            let st = Arc::clone(&st);
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)).await else { return };
                st.connections.fetch_add(1, Ordering::Relaxed);
                if fault.is_some() {
                    st.armed.fetch_add(1, Ordering::Relaxed);
                }
                relay(client, server, fault, &st).await;
            });
        }
    });
    (port, stats)
}

/// Bytes read from one side and not yet all written to the other: kept outside the pump, so a
/// pump cancelled by `select!` loses nothing.
struct Pipe {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Bytes written so far.
    count: u64,
    /// Stop after this many (the fault's offset).
    stop_at: Option<u64>,
}

enum End {
    Eof,
    Fault,
}

impl Pipe {
    fn new(stop_at: Option<u64>) -> Pipe {
        Pipe { buf: vec![0; 16 * 1024], start: 0, end: 0, count: 0, stop_at }
    }

    /// Copies `r` to `w` until EOF, an error, or the stop offset.
    async fn pump(&mut self, r: &mut OwnedReadHalf, w: &mut OwnedWriteHalf) -> End {
        loop {
            if self.start == self.end {
                if self.stop_at.is_some_and(|s| self.count >= s) {
                    return End::Fault;
                }
                match r.read(&mut self.buf).await {
                    Ok(0) | Err(_) => return End::Eof,
                    Ok(n) => {
                        self.start = 0;
                        self.end = n;
                        if let Some(s) = self.stop_at {
                            // Only up to the offset goes through.
                            let room = usize::try_from(s.saturating_sub(self.count)).unwrap_or(usize::MAX);
                            self.end = n.min(room);
                        }
                    }
                }
            }
            match w.write(&self.buf[self.start..self.end]).await {
                Ok(0) | Err(_) => return End::Eof,
                Ok(n) => {
                    self.start += n;
                    self.count += n as u64;
                }
            }
        }
    }
}

/// How long a side left open after the other closed may stay, and how long a stall lasts.
const LINGER: Duration = Duration::from_secs(30);
const STALL: Duration = Duration::from_secs(TIMEOUT_SECS + 2);

async fn relay(client: TcpStream, server: TcpStream, fault: Option<Fault>, st: &ProxyStats) {
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let stop = |d: Dir| fault.filter(|f| f.dir == d).map(|f| f.at);
    let mut up = Pipe::new(stop(Dir::Up));
    let mut down = Pipe::new(stop(Dir::Down));
    let first = tokio::select! {
        e = up.pump(&mut cr, &mut sw) => (Dir::Up, e),
        e = down.pump(&mut sr, &mut cw) => (Dir::Down, e),
    };
    let (dir, end) = match first {
        (Dir::Up, End::Eof) => {
            // The mailer closed (after QUIT, or on its own error): pass it on, finish the other way.
            let _ = sw.shutdown().await;
            (Dir::Down, tokio::time::timeout(LINGER, down.pump(&mut sr, &mut cw)).await.unwrap_or(End::Eof))
        }
        (Dir::Down, End::Eof) => {
            let _ = cw.shutdown().await;
            (Dir::Up, tokio::time::timeout(LINGER, up.pump(&mut cr, &mut sw)).await.unwrap_or(End::Eof))
        }
        other => other,
    };
    st.bytes_up.fetch_add(up.count, Ordering::Relaxed);
    st.bytes_down.fetch_add(down.count, Ordering::Relaxed);
    let (End::Fault, Some(f)) = (end, fault) else { return };
    match f.kind {
        Kind::Reset => {
            st.resets.fetch_add(1, Ordering::Relaxed);
            // SO_LINGER 0: closing sends an RST instead of a FIN, to both sides.
            let _ = cr.as_ref().set_zero_linger();
            let _ = sr.as_ref().set_zero_linger();
        }
        Kind::HalfClose => {
            st.half_closes.fetch_add(1, Ordering::Relaxed);
            // Only the faulted direction ends (a FIN); the other keeps flowing until its side closes.
            if dir == Dir::Up {
                let _ = sw.shutdown().await;
                let _ = tokio::time::timeout(LINGER, down.pump(&mut sr, &mut cw)).await;
            } else {
                let _ = cw.shutdown().await;
                let _ = tokio::time::timeout(LINGER, up.pump(&mut cr, &mut sw)).await;
            }
        }
        Kind::Stall => {
            st.stalls.fetch_add(1, Ordering::Relaxed);
            // Nothing more either way until the mailer has given up (timeout_secs) and beyond.
            tokio::time::sleep(STALL).await; // the fault itself, not a synchronisation
        }
    }
}

// ------------------------------------------------------------------ the soak ---------------

/// What the mailer reported for one message.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Outcome {
    Delivered,
    Refused,
    Unknown,
}

struct Report {
    outcome: Outcome,
    attempts: u32,
    detail: String,
}

fn judge(r: &Result<SendResult, Error>) -> Report {
    match r {
        Ok(res) if !res.accepted.is_empty() => {
            Report { outcome: Outcome::Delivered, attempts: res.attempts, detail: res.reply.to_string() }
        }
        Ok(res) => Report {
            outcome: Outcome::Refused,
            attempts: res.attempts,
            detail: format!("accepted nobody: {:?}", res.rejected.first().map(|r| r.reply.to_string())),
        },
        Err(e) => Report {
            outcome: if e.fate() == Fate::Unknown { Outcome::Unknown } else { Outcome::Refused },
            attempts: e.attempts().unwrap_or(1),
            detail: format!("{:?} at {:?}: {}", e.kind(), e.stage(), e.message()),
        },
    }
}

struct Soak {
    label: &'static str,
    total: usize,
    seed: u64,
    starttls: bool,
}

/// Messages `range` of the soak through `mailer`, in batches, each outcome judged.
async fn produce(mailer: Mailer, msgs: Vec<(usize, Message)>, each: bool) -> Vec<(usize, Report)> {
    let mut out = Vec::with_capacity(msgs.len());
    if each {
        let (idx, ms): (Vec<usize>, Vec<Message>) = msgs.into_iter().unzip();
        mailer.send_each(ms, |i, r| out.push((idx[i], judge(&r)))).await;
        return out;
    }
    for chunk in msgs.chunks(BATCH) {
        let ms: Vec<Message> = chunk.iter().map(|(_, m)| m.clone()).collect();
        for ((i, _), r) in chunk.iter().zip(mailer.send_many(&ms).await) {
            out.push((*i, judge(&r)));
        }
    }
    out
}

#[allow(clippy::too_many_lines)] // one scenario, read top to bottom
async fn soak(s: &Soak) {
    let Soak { label, total, seed, starttls } = *s;
    let rate: f64 = env_num("RK_SOAK_FAULT_RATE", 0.05);
    eprintln!("soak[{label}]: {total} messages, seed {seed} (replay: RK_SOAK_SEED={seed}), fault rate {rate}");
    let since = before_now();
    let (proxy_port, proxy) = start_proxy(port("RK_POSTFIX_POLICY_PORT"), seed, rate).await;
    let mut profile = json!({
        "server": var("RK_HOST"), "port": proxy_port, "timeout_secs": TIMEOUT_SECS,
        "requires_authentication": true, "username": var("RK_USER"), "password": var("RK_PASS"),
    });
    let tls = if starttls {
        json!({"encrypted_connection": true, "tls_mode": "starttls", "tls_ca_file": var("RK_CA_FILE")})
    } else {
        json!({"starttls": "never"})
    };
    profile.as_object_mut().unwrap().extend(tls.as_object().unwrap().clone());
    let profile = Profile::from_json_value(&profile).unwrap();
    let mailer = mailer(
        &profile,
        // max_queued below what the producers hand over at once (4 batches of 250): the
        // backpressure is part of the soak.
        &json!({"max_connections": CONNECTIONS, "max_messages_per_connection": 25, "max_queued": MAX_QUEUED,
                "retry": {"max_attempts": 6, "base_delay_ms": 50, "max_delay_ms": 1000}}),
    );
    let tag = run_tag().replace('.', "-");
    let domain = var("RK_DOMAIN2");
    let prefix = format!("<soak.{tag}.");
    let mut pick = Rng::new(seed ^ 0x5EED);
    let mut must_refuse = vec![false; total];
    let msgs: Vec<(usize, Message)> = (0..total)
        .map(|i| {
            must_refuse[i] = pick.unit() < 0.02;
            let to = if must_refuse[i] {
                format!("refuse+{tag}.{i}@{domain}")
            } else {
                format!("soak+{seed}.{i}.{tag}@{domain}")
            };
            (i, servers_env::message("fault soak", &to, &format!("{prefix}{i}@relaykit.test>")))
        })
        .collect();
    let bound = Duration::from_secs(120) + Duration::from_millis(30) * u32::try_from(total).unwrap();
    let started = Instant::now();
    let per = total.div_ceil(PRODUCERS);
    let mut tasks = Vec::new();
    let mut rest = msgs;
    for p in 0..PRODUCERS {
        let mine: Vec<(usize, Message)> = rest.drain(..per.min(rest.len())).collect();
        tasks.push(tokio::spawn(produce(mailer.clone(), mine, p == 0)));
    }
    let largest_queue = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (m, largest) = (mailer.clone(), Arc::clone(&largest_queue));
        tokio::spawn(async move {
            loop {
                largest.fetch_max(m.stats().queued, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(1)).await; // a sampling interval
            }
        })
    };
    let mut reports: Vec<Option<Report>> = (0..total).map(|_| None).collect();
    let joined = tokio::time::timeout(bound, futures_join(tasks))
        .await
        .unwrap_or_else(|_| panic!("soak[{label}]: sending took longer than {bound:?}"));
    for (i, r) in joined.into_iter().flatten() {
        assert!(reports[i].is_none(), "message {i} got two outcomes");
        reports[i] = Some(r);
    }
    let sent_in = started.elapsed();
    sampler.abort();
    let largest_queue = largest_queue.load(Ordering::Relaxed);
    let stats = mailer.stats();
    tokio::time::timeout(Duration::from_secs(60), mailer.close()).await.expect("close() took longer than 60 s");
    let no_outcome: Vec<usize> = (0..total).filter(|i| reports[*i].is_none()).collect();
    assert!(no_outcome.is_empty(), "soak[{label}]: {} messages got no outcome: {no_outcome:?}", no_outcome.len());
    let reports: Vec<Report> = reports.into_iter().map(Option::unwrap).collect();
    assert_eq!(stats.sent + stats.failed, total as u64, "stats do not add up: {stats:?}");

    // Reconcile against the Maildir: wait (bounded) for the delivered ones, then for Postfix's
    // queue to drain (a duplicate or an unknown one would still be in it), then scan once more.
    let delivered = reports.iter().filter(|r| r.outcome == Outcome::Delivered).count();
    let dir = dovecot_maildir(domain, "soak");
    let scan_prefix = prefix.clone();
    let got =
        tokio::task::spawn_blocking(move || settled(&dir, &scan_prefix, delivered, since, Duration::from_secs(300)))
            .await
            .unwrap();
    let arrived = |i: usize| got.counts.get(&format!("{prefix}{i}@relaykit.test>")).copied().unwrap_or(0);
    let (mut lost, mut dup, mut refused_arrived, mut delivered_refusal) = (vec![], vec![], vec![], vec![]);
    let mut unknown = Vec::new();
    let mut by: HashMap<&str, usize> = HashMap::new();
    let mut retried = 0u64;
    for (i, r) in reports.iter().enumerate() {
        retried += u64::from(r.attempts.saturating_sub(1));
        let n = arrived(i);
        match r.outcome {
            Outcome::Delivered => {
                *by.entry("delivered").or_default() += 1;
                if n == 0 {
                    lost.push(i);
                } else if n > 1 {
                    dup.push((i, n));
                }
                if must_refuse[i] {
                    delivered_refusal.push(i);
                }
            }
            Outcome::Refused => {
                *by.entry("refused").or_default() += 1;
                if n > 0 {
                    refused_arrived.push((i, n, r.detail.clone()));
                }
            }
            Outcome::Unknown => {
                *by.entry("unknown").or_default() += 1;
                unknown.push((i, n, r.detail.clone()));
            }
        }
    }
    let refused_must = must_refuse.iter().filter(|m| **m).count();
    let get = ProxyStats::get;
    eprintln!(
        "soak[{label}]: proxy: {} connections, {} armed, {} faults fired ({} resets, {} half-closes, {} stalls); \
         {} bytes up, {} down",
        get(&proxy.connections),
        get(&proxy.armed),
        proxy.fired(),
        get(&proxy.resets),
        get(&proxy.half_closes),
        get(&proxy.stalls),
        get(&proxy.bytes_up),
        get(&proxy.bytes_down),
    );
    eprintln!("soak[{label}]: policy refusals: {:?}", policy_decisions(&tag));
    eprintln!("soak[{label}]: largest queue {largest_queue} (max_queued {MAX_QUEUED})");
    let mut refusals: HashMap<String, usize> = HashMap::new();
    for r in reports.iter().filter(|r| r.outcome == Outcome::Refused) {
        // The detail without the addresses and queue ids that make each one unique.
        let key: String = r.detail.split(' ').filter(|w| !w.contains('@')).collect::<Vec<_>>().join(" ");
        let key: String = key.chars().take(160).collect();
        *refusals.entry(format!("{key} after {} attempt(s)", r.attempts)).or_default() += 1;
    }
    let mut refusals: Vec<_> = refusals.into_iter().collect();
    refusals.sort_by_key(|r| std::cmp::Reverse(r.1));
    for (what, n) in &refusals {
        eprintln!("soak[{label}]: refused {n}: {what}");
    }
    for (i, n, d) in &unknown {
        eprintln!("soak[{label}]: unknown #{i}: {} — {d}", if *n > 0 { "arrived" } else { "did not arrive" });
    }
    eprintln!(
        "soak[{label}]: delivered {}, retried {retried} (mailer: {}), refused {} ({refused_must} by refuse+), \
         unknown {} ({} arrived, {} more than once), duplicates {}, lost {}; {:?} ({:.0} msgs/s sent), {:?} in all; \
         {stats:?}",
        by.get("delivered").unwrap_or(&0),
        stats.retried,
        by.get("refused").unwrap_or(&0),
        unknown.len(),
        unknown.iter().filter(|u| u.1 > 0).count(),
        unknown.iter().filter(|u| u.1 > 1).count(),
        dup.len(),
        lost.len(),
        sent_in,
        total as f64 / sent_in.as_secs_f64(),
        started.elapsed(),
    );
    assert!(lost.is_empty(), "soak[{label}]: reported delivered, not in the Maildir: {lost:?}");
    assert!(dup.is_empty(), "soak[{label}]: reported delivered, in the Maildir more than once: {dup:?}");
    assert!(refused_arrived.is_empty(), "soak[{label}]: reported refused, yet arrived: {refused_arrived:?}");
    assert!(
        delivered_refusal.is_empty(),
        "soak[{label}]: refuse+ recipients reported delivered: {delivered_refusal:?}"
    );
    let queue_bound = MAX_QUEUED + u64::from(CONNECTIONS) * WINDOW;
    assert!(largest_queue <= queue_bound, "soak[{label}]: the queue held {largest_queue} > {queue_bound}");
    let faults_seen = proxy.fired() > 0 || stats.retried > 0;
    assert!(total < 1000 || faults_seen, "soak[{label}]: no fault was injected; the soak proved nothing");
}

/// Every task's output, in order (a panic in one is re-raised).
async fn futures_join<T>(tasks: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

/// The policy service's non-DUNNO decisions for this run's recipients, by action.
fn policy_decisions(tag: &str) -> HashMap<String, usize> {
    let log = std::fs::read_to_string(var("RK_SOAK_POLICY_LOG")).unwrap_or_default();
    let mut by = HashMap::new();
    for line in log.lines().filter(|l| l.contains(tag)) {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
            *by.entry(v["action"].as_str().unwrap_or("?").to_owned()).or_default() += 1;
        }
    }
    by
}

fn seed() -> u64 {
    std::env::var("RK_SOAK_SEED").map_or_else(
        |_| {
            let mut b = [0u8; 8];
            getrandom::fill(&mut b).unwrap();
            u64::from_le_bytes(b) >> 16 // short enough to type
        },
        |v| v.parse().expect("RK_SOAK_SEED: a number"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the fault soak: run alone, with --ignored (tests/run_all.sh does)"]
async fn soak_plain_every_message_accounted_for() {
    let total = env_num("RK_SOAK_MESSAGES", 10_000);
    soak(&Soak { label: "plain", total, seed: seed(), starttls: false }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the fault soak: run alone, with --ignored (tests/run_all.sh does)"]
async fn soak_starttls_every_message_accounted_for() {
    let total = env_num("RK_SOAK_TLS_MESSAGES", 1_000);
    if total == 0 {
        return;
    }
    soak(&Soak { label: "starttls", total, seed: seed(), starttls: true }).await;
}
