//! Resource hygiene (#12): failures in a loop leave the process's open file descriptors and
//! memory flat; the mailer's queue stays within `max_queued`; `close()` with messages queued
//! and in flight gives each one an outcome.
//!
//! The fd and memory figures are this process's (`/proc/self/fd`, `/proc/self/statm`), so the
//! tests that measure them hold one lock and run one at a time. The failing peers are a closed
//! loopback port and a tiny listener in the test that answers 554 at the greeting or closes at
//! once (a real server cannot be told to refuse every connection); the queue and close tests
//! use the real Postfix+Dovecot instance (`tests/servers/start.sh`).

#![allow(clippy::unwrap_used, clippy::missing_panics_doc, clippy::cast_precision_loss)]

mod servers_env;

use std::io::Write;
use std::net::TcpListener;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, MutexGuard};
use std::time::{Duration, Instant};

use relaykit::{ErrorKind, Fate, Keyring, Mailer, Message, Profile, RrtContext, TestOptions};
use serde_json::json;
use servers_env::{before_now, dovecot_maildir, mailer, port, run_tag, settled, var};

/// The measuring tests, one at a time (they read process-wide figures).
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Resident set size in bytes.
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    // SAFETY: sysconf has no preconditions; it only reads a system constant.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * u64::try_from(page).unwrap()
}

const MIB: u64 = 1024 * 1024;
/// The most RSS may grow over a loop after its warm-up.
const RSS_BOUND: u64 = 4 * MIB;

/// Runs `f(i)` `warm` times, takes the figures, runs it `n` times more, and checks that the fd
/// count comes back to exactly what it was (a bounded wait: a peer's socket may take a moment
/// to be closed by its thread) and that RSS grew less than [`RSS_BOUND`].
fn flat(what: &str, warm: usize, n: usize, mut f: impl FnMut(usize)) {
    for i in 0..warm {
        f(i);
    }
    let (fds0, rss0) = (open_fds(), rss());
    let started = Instant::now();
    for i in 0..n {
        f(warm + i);
    }
    let took = started.elapsed();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut fds1 = open_fds();
    while fds1 != fds0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20)); // polling /proc/self/fd, bounded above
        fds1 = open_fds();
    }
    let rss1 = rss();
    let grew = rss1.saturating_sub(rss0);
    eprintln!(
        "{what}: {n} in {took:?}; fds {fds0} -> {fds1}; RSS {:.1} -> {:.1} MiB (+{} KiB)",
        rss0 as f64 / MIB as f64,
        rss1 as f64 / MIB as f64,
        grew / 1024
    );
    assert_eq!(fds1, fds0, "{what}: file descriptors leaked");
    assert!(grew < RSS_BOUND, "{what}: RSS grew {grew} bytes over {n} iterations (bound {RSS_BOUND})");
}

/// A loopback port nothing listens on (bound, then closed: a connect is refused at once).
fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn profile(port: u16) -> Profile {
    Profile::from_json_value(&json!({
        "server": "127.0.0.1", "port": port, "starttls": "never", "timeout_secs": 2,
    }))
    .unwrap()
}

fn test_once(p: &Profile) -> relaykit::Error {
    let report = relaykit::test(p, &Keyring::new(), &RrtContext::new(), &TestOptions::default()).unwrap();
    report.error.expect("the Test failed")
}

#[test]
fn ten_thousand_failed_connects_leave_fds_and_memory_flat() {
    let _one = serial();
    let p = profile(closed_port());
    flat("relaykit::test to a closed port", 500, 10_000, |_| {
        assert_eq!(test_once(&p).kind(), ErrorKind::Connect);
    });
    let m = Mailer::new(
        &p,
        &Keyring::new(),
        &RrtContext::new(),
        relaykit::MailerOptions::from_json(r#"{"retry": {"max_attempts": 1}}"#).unwrap(),
    )
    .unwrap();
    let mut msg = Message::new("a@relaykit.test");
    msg.to = vec!["b@relaykit.test".into()];
    msg.text = Some("x".into());
    flat("Mailer::send to a closed port", 500, 10_000, |_| {
        let e = m.send_blocking(&msg).unwrap_err();
        assert_eq!((e.kind(), e.fate()), (ErrorKind::Connect, Fate::Rejected), "{e}");
    });
    m.close_blocking().unwrap();
}

/// A listener that greets every connection with 554 and closes (even-numbered ones) or closes
/// at once (odd ones): the refusals a Test meets at a server that does not want it.
fn refusing_server() -> (u16, Arc<AtomicBool>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let stop = Arc::new(AtomicBool::new(false));
    let st = Arc::clone(&stop);
    std::thread::spawn(move || {
        for (i, conn) in l.incoming().enumerate() {
            if st.load(Ordering::Relaxed) {
                return;
            }
            let Ok(mut c) = conn else { continue };
            if i % 2 == 0 {
                let _ = c.write_all(b"554 5.7.1 no service for you\r\n");
            }
            // Dropped: closed.
        }
    });
    (port, stop)
}

#[test]
fn two_thousand_tests_refused_at_the_greeting_leave_fds_and_memory_flat() {
    let _one = serial();
    let (port, stop) = refusing_server();
    let p = profile(port);
    let kinds = Mutex::new(std::collections::BTreeMap::<String, usize>::new());
    flat("relaykit::test greeted 554 or closed", 200, 2_000, |_| {
        let e = test_once(&p);
        assert_eq!(e.stage(), Some(relaykit::Stage::Greeting), "{e}");
        *kinds.lock().unwrap().entry(format!("{:?}", e.kind())).or_default() += 1;
    });
    eprintln!("refused Tests by kind: {:?}", kinds.lock().unwrap());
    stop.store(true, Ordering::Relaxed);
    let _ = std::net::TcpStream::connect(("127.0.0.1", port)); // wakes the listener to end
}

/// alice on the Postfix+Dovecot plain listener.
fn postfix() -> Profile {
    Profile::from_json_value(&json!({
        "server": var("RK_HOST"), "port": port("RK_DOVECOT_PLAIN_PORT"), "starttls": "never", "timeout_secs": 10,
        "requires_authentication": true, "username": var("RK_USER"), "password": var("RK_PASS"),
    }))
    .unwrap()
}

/// `n` messages to the second test domain's catch-all, Message-IDs `prefix` + index.
fn messages(n: usize, prefix: &str, what: &str) -> Vec<Message> {
    let to = format!("hygiene@{}", var("RK_DOMAIN2"));
    (0..n).map(|i| servers_env::message(what, &to, &format!("{prefix}{i}@relaykit.test>"))).collect()
}

/// The largest `stats().queued` seen while `n` messages are sent with `options`: by one
/// `send_many`, or (`one_by_one`) by as many concurrent `send`s.
async fn largest_queue(n: usize, options: &serde_json::Value, one_by_one: bool) -> u64 {
    let m = mailer(&postfix(), options);
    let prefix = format!("<hyg-q.{}.", run_tag());
    let msgs = messages(n, &prefix, "queue bound");
    let largest = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (m, largest, done) = (m.clone(), Arc::clone(&largest), Arc::clone(&done));
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                largest.fetch_max(m.stats().queued, Ordering::Relaxed);
                tokio::task::yield_now().await;
            }
        })
    };
    let sending = async {
        if !one_by_one {
            return m.send_many(&msgs).await;
        }
        let tasks: Vec<_> = msgs
            .into_iter()
            .map(|msg| {
                let m = m.clone();
                tokio::spawn(async move { m.send(&msg).await })
            })
            .collect();
        let mut out = Vec::with_capacity(tasks.len());
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    };
    let results = tokio::time::timeout(Duration::from_secs(120), sending).await.unwrap();
    done.store(true, Ordering::Relaxed);
    sampler.await.unwrap();
    let failed: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(failed.is_empty(), "{} failed, first {:?}", failed.len(), failed.first());
    tokio::time::timeout(Duration::from_secs(60), m.close()).await.expect("close() took longer than 60 s");
    largest.load(Ordering::Relaxed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::await_holding_lock)] // the lock only keeps this file's tests apart
async fn the_queue_never_holds_more_than_max_queued() {
    let _one = serial();
    // One connection to Postfix is the slow consumer: send_many hands over 400 messages at once.
    let bounded = largest_queue(400, &json!({"max_connections": 1, "max_queued": 20}), false).await;
    let unbounded = largest_queue(400, &json!({"max_connections": 1}), false).await;
    // 200 concurrent sends, each waiting for room on its own.
    let sends = largest_queue(200, &json!({"max_connections": 1, "max_queued": 5}), true).await;
    eprintln!("largest queue: {bounded} with max_queued 20, {unbounded} with the default, {sends} for sends with 5");
    assert!(bounded <= 20, "the queue held {bounded} > max_queued 20");
    assert!(sends <= 5, "the queue held {sends} > max_queued 5 (concurrent sends)");
    assert!(bounded >= 10, "the queue never filled ({bounded}): the test did not press on the bound");
    assert!(unbounded > 20, "without the bound the queue held only {unbounded}: the test proves nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::await_holding_lock)] // the lock only keeps this file's tests apart
async fn close_with_messages_queued_and_in_flight_accounts_for_each() {
    const N: usize = 600;
    let _one = serial();
    let since = before_now();
    let m = mailer(&postfix(), &json!({"max_connections": 2, "max_queued": 100}));
    let prefix = format!("<hyg-close.{}.", run_tag());
    let msgs = messages(N, &prefix, "close in flight");
    let sender = {
        let m = m.clone();
        tokio::spawn(async move { m.send_many(&msgs).await })
    };
    // Close once some messages have been sent (counted as each ends, during the send_many) and
    // the queue is full behind them (bounded poll).
    let deadline = Instant::now() + Duration::from_secs(60);
    while !(m.stats().sent >= 10 && m.stats().queued >= 90) {
        assert!(Instant::now() < deadline, "nothing was sent within 60 s: {:?}", m.stats());
        tokio::time::sleep(Duration::from_millis(2)).await; // polling the counters, bounded above
    }
    tokio::time::timeout(Duration::from_secs(60), m.close()).await.expect("close() took longer than 60 s");
    let results = tokio::time::timeout(Duration::from_secs(60), sender).await.unwrap().unwrap();
    assert_eq!(results.len(), N, "one outcome per message");
    let stats = m.stats();
    assert_eq!(stats.sent + stats.failed, N as u64, "stats do not add up: {stats:?}");
    let (mut delivered, mut closed, mut unknown, mut other) = (vec![], vec![], vec![], vec![]);
    for (i, r) in results.iter().enumerate() {
        match r {
            Ok(_) => delivered.push(i),
            Err(e) if e.fate() == Fate::Unknown => unknown.push(i),
            Err(e) if e.kind() == ErrorKind::Config && e.message().contains("closed") => closed.push(i),
            Err(e) => other.push((i, e.to_string())),
        }
    }
    eprintln!(
        "close: {} delivered, {} refused as closed, {} unknown, {} other; {stats:?}",
        delivered.len(),
        closed.len(),
        unknown.len(),
        other.len()
    );
    assert!(other.is_empty(), "unexpected outcomes: {other:?}");
    assert!(!closed.is_empty(), "close came after everything was queued: nothing was pending");
    assert_eq!(stats.sent, delivered.len() as u64);
    // The Maildir: each delivered one once, no refused one.
    let dir = dovecot_maildir(var("RK_DOMAIN2"), "hygiene");
    let (p, want) = (prefix.clone(), delivered.len());
    let got =
        tokio::task::spawn_blocking(move || settled(&dir, &p, want, since, Duration::from_secs(60))).await.unwrap();
    let arrived = |i: usize| got.counts.get(&format!("{prefix}{i}@relaykit.test>")).copied().unwrap_or(0);
    let lost: Vec<usize> = delivered.iter().copied().filter(|i| arrived(*i) != 1).collect();
    let leaked: Vec<usize> = closed.iter().copied().filter(|i| arrived(*i) > 0).collect();
    assert!(lost.is_empty(), "reported delivered, not in the Maildir exactly once: {lost:?}");
    assert!(leaked.is_empty(), "refused as closed, yet delivered: {leaked:?}");
    for i in unknown {
        eprintln!("close: unknown #{i}: {}", if arrived(i) > 0 { "arrived" } else { "did not arrive" });
    }
}
