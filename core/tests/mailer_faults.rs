//! The mailer's self-healing against real faults: Postfix listeners that close idle
//! connections, limit connections per client and rate-limit messages (roles from
//! `tests/servers/start.sh`, see its README "Fault listeners"), and the scripted fake
//! `tests/faults/fake_smtp.py` only for what Postfix cannot do on demand (a drop after the
//! final `.`, broken pipelined replies). Every delivered message is counted in the Maildir by
//! Message-ID; every wait is bounded.

#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

mod servers_env;

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use relaykit::{ErrorKind, Fate, Mailer, Message, Profile, Stage};
use serde_json::{Value, json};
use servers_env::{assert_delivered_once, before_now, dovecot_maildir, mailer, port, run_tag, var};

/// The longest any one test may take.
const TEST_WAIT: Duration = Duration::from_secs(120);

/// alice, plain (these listeners are about faults, not TLS), on the listener `port_key`.
fn postfix(port_key: &str) -> Profile {
    Profile::from_json_value(&json!({
        "server": var("RK_HOST"), "port": port(port_key), "starttls": "never", "timeout_secs": 10,
        "requires_authentication": true, "username": var("RK_USER"), "password": var("RK_PASS"),
    }))
    .unwrap()
}

/// The scripted fake, plain, no AUTH.
fn fake() -> Profile {
    Profile::from_json_value(&json!({
        "server": var("RK_HOST"), "port": port("RK_FAULTS_PORT"), "starttls": "never", "timeout_secs": 5,
    }))
    .unwrap()
}

fn message(to: &str, mid: &str) -> Message {
    servers_env::message("mailer fault test", to, mid)
}

/// One fault test's messages: a local part of the second test domain (delivered to its
/// `_catchall` Maildir, apart from the users' Maildirs other tests scan), Message-IDs starting
/// with a prefix no other run shares, and the time before the first was sent.
struct Case {
    to: String,
    dir: PathBuf,
    prefix: String,
    since: SystemTime,
}

impl Case {
    fn new(name: &str) -> Case {
        Case {
            to: format!("faults-{name}@{}", var("RK_DOMAIN2")),
            dir: dovecot_maildir(var("RK_DOMAIN2"), "faults"),
            prefix: format!("<{name}.{}.", run_tag()),
            since: before_now(),
        }
    }

    /// Message `i` of this case.
    fn message(&self, i: usize) -> Message {
        message(&self.to, &format!("{}{i}@relaykit.test>", self.prefix))
    }

    /// Waits in a blocking task until `want` of this case's messages arrived, each once.
    async fn assert_each_delivered_once(self, want: usize) {
        let Case { dir, prefix, since, .. } = self;
        let within = Duration::from_secs(60);
        tokio::task::spawn_blocking(move || assert_delivered_once(&dir, &prefix, want, since, within)).await.unwrap();
    }
}

/// Lines of Postfix's log containing every one of `needles`.
fn log_count(needles: &[&str]) -> usize {
    let log = std::fs::read_to_string(var("RK_DOVECOT_LOG")).unwrap_or_default();
    log.lines().filter(|l| needles.iter().all(|n| l.contains(n))).count()
}

/// Waits (bounded) until Postfix has logged more than `before` lines with `needles`: postlogd
/// writes the log asynchronously, a little after smtpd said it.
async fn wait_logged(needles: &[&str], before: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let n = log_count(needles);
        if n > before {
            return n;
        }
        assert!(Instant::now() < deadline, "Postfix never logged {needles:?} (still {n} lines)");
        tokio::time::sleep(Duration::from_millis(50)).await; // polling a log file, bounded above
    }
}

/// TCP states (`/proc/net/tcp` codes: 01 established, 08 close-wait, …) of this process's
/// sockets connected to 127.0.0.1:`port`. Linux only, like the test servers.
fn my_socket_states(port: u16) -> Vec<u8> {
    let inodes: Vec<String> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter_map(|l| l.to_str()?.strip_prefix("socket:[")?.strip_suffix(']').map(str::to_owned))
        .collect();
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let remote = format!("0100007F:{port:04X}");
    table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(2) == Some(&remote.as_str()) && inodes.iter().any(|i| Some(&i.as_str()) == f.get(9)))
                .then(|| u8::from_str_radix(f[3], 16).unwrap())
        })
        .collect()
}

const ESTABLISHED: u8 = 1;

/// Postfix's `smtpd_timeout` closes the pooled connection while it is idle (421 4.4.2, then
/// EOF). The next send must go out on a fresh connection, counted as one reconnect.
#[tokio::test]
async fn an_idle_connection_closed_by_postfix_is_replaced_transparently() {
    tokio::time::timeout(TEST_WAIT, async {
        let case = Case::new("idle");
        // The mailer's own idle timeout is far longer than Postfix's: the server closes first.
        let m = mailer(&postfix("RK_POSTFIX_IDLE_PORT"), &json!({"max_connections": 1, "idle_timeout_secs": 300}));
        m.send(&case.message(1)).await.unwrap();
        let idle_port = port("RK_POSTFIX_IDLE_PORT");
        assert_eq!(my_socket_states(idle_port), [ESTABLISHED], "the connection is pooled, open");
        // Bounded wait for the server-side close: smtpd_timeout, plus slack for a loaded machine.
        let secs: u64 = var("RK_POSTFIX_IDLE_SECS").parse().unwrap();
        let deadline = Instant::now() + Duration::from_secs(secs + 15);
        while my_socket_states(idle_port).contains(&ESTABLISHED) {
            assert!(Instant::now() < deadline, "Postfix did not close the idle connection within {secs} s + 15 s");
            tokio::time::sleep(Duration::from_millis(50)).await; // polling the socket's state
        }
        let r = m.send(&case.message(2)).await.unwrap();
        assert!(r.message_id.unwrap().starts_with(&case.prefix));
        let s = m.stats();
        assert_eq!((s.sent, s.failed, s.reconnects, s.connections_opened), (2, 0, 1, 2), "{s:?}");
        m.close().await;
        case.assert_each_delivered_once(2).await;
    })
    .await
    .expect("the test took too long");
}

/// Sends `n` messages of `case` at once (one task each); their outcomes in order.
async fn send_concurrently(m: &Mailer, case: &Case, n: usize) -> Vec<relaykit::Result<relaykit::SendResult>> {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let (m, msg) = (m.clone(), case.message(i));
            tokio::spawn(async move { m.send(&msg).await })
        })
        .collect();
    let mut out = Vec::with_capacity(n);
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

/// `smtpd_client_connection_count_limit = 1` below `max_connections` 4: the extra connections
/// get 421 at the greeting; every message still goes out, once, on the one allowed.
#[tokio::test]
async fn a_connection_limit_below_max_connections_is_absorbed() {
    tokio::time::timeout(TEST_WAIT, async {
        let case = Case::new("connlimit");
        let service = format!("for service 127.0.0.1:{}", port("RK_POSTFIX_CONNLIMIT_PORT"));
        let needles = ["Connection concurrency limit exceeded", service.as_str()];
        let before = log_count(&needles);
        let m = mailer(&postfix("RK_POSTFIX_CONNLIMIT_PORT"), &json!({"max_connections": 4}));
        let results = send_concurrently(&m, &case, 20).await;
        let errors: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
        assert!(errors.is_empty(), "{errors:?}");
        let s = m.stats();
        assert_eq!((s.sent, s.failed), (20, 0), "{s:?}");
        m.close().await;
        // Postfix did refuse connections: the test saw the fault it is about.
        wait_logged(&needles, before).await;
        case.assert_each_delivered_once(20).await;
    })
    .await
    .expect("the test took too long");
}

/// `smtpd_client_message_rate_limit`: past `RK_POSTFIX_RATE_MESSAGES` MAIL FROMs per window
/// Postfix answers 450 4.7.1. Retried with backoff, every message is delivered, none twice.
#[tokio::test]
async fn a_rate_limit_4xx_is_retried_until_every_message_is_delivered_once() {
    tokio::time::timeout(TEST_WAIT, async {
        const N: usize = 20;
        let case = Case::new("ratelimit");
        let service = format!("for service 127.0.0.1:{}", port("RK_POSTFIX_RATELIMIT_PORT"));
        let needles = ["Message delivery request rate limit exceeded", service.as_str()];
        let before = log_count(&needles);
        // 20 messages at 5 per 1-2 s window take 4 to 8 s: 50 attempts 100-500 ms apart outlast it.
        let retry = json!({"max_attempts": 50, "base_delay_ms": 100, "max_delay_ms": 500});
        let m = mailer(&postfix("RK_POSTFIX_RATELIMIT_PORT"), &json!({"max_connections": 2, "retry": retry}));
        let results = send_concurrently(&m, &case, N).await;
        let errors: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
        assert!(errors.is_empty(), "{errors:?}");
        assert!(results.iter().flatten().any(|r| r.attempts > 1), "some message needed a retry");
        let s = m.stats();
        assert_eq!((s.sent, s.failed), (N as u64, 0), "{s:?}");
        assert!(s.retried > 0, "{s:?}");
        m.close().await;
        wait_logged(&needles, before).await;
        case.assert_each_delivered_once(N).await;
    })
    .await
    .expect("the test took too long");
}

/// The fake's record (`RK_FAULTS_RECORD`): one JSON object per connection, fault and message.
fn fake_record() -> Vec<Value> {
    std::fs::read_to_string(var("RK_FAULTS_RECORD"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The fake's `data` events for Message-ID `mid`.
fn data_events(mid: &str) -> Vec<Value> {
    fake_record().into_iter().filter(|e| e["event"] == "data" && e["message_id"] == mid).collect()
}

/// The connection the fake saw fault `rcpt` on.
fn fault_conn(rcpt: &str) -> u64 {
    let faults: Vec<Value> =
        fake_record().into_iter().filter(|e| e["event"] == "fault" && e["rcpt"][0] == rcpt).collect();
    assert_eq!(faults.len(), 1, "{faults:?}");
    faults[0]["conn"].as_u64().unwrap()
}

/// The fake reads the whole message and closes the connection without a reply: the server may
/// have queued it, so the send fails after the dot and is not sent again.
#[tokio::test]
async fn a_drop_after_the_final_dot_is_not_retried() {
    tokio::time::timeout(TEST_WAIT, async {
        let tag = run_tag();
        let mid = format!("<drop.{tag}@relaykit.test>");
        let m = mailer(&fake(), &Value::Null);
        let e = m.send(&message(&format!("drop-after-dot+{tag}@fake.test"), &mid)).await.unwrap_err();
        assert_eq!(e.stage(), Some(Stage::Data), "{e}");
        assert_eq!(e.fate(), Fate::Unknown, "{e}");
        assert!(!e.transient(), "{e}");
        assert_eq!(data_events(&mid).len(), 1, "exactly one DATA: {:?}", data_events(&mid));
        let s = m.stats();
        assert_eq!((s.sent, s.failed, s.retried, s.reconnects), (0, 1, 0, 0), "{s:?}");
        // The mailer goes on: the next message is sent on a fresh connection.
        let next = format!("<drop-next.{tag}@relaykit.test>");
        m.send(&message("carol@fake.test", &next)).await.unwrap();
        assert_eq!(data_events(&next).len(), 1);
        m.close().await;
    })
    .await
    .expect("the test took too long");
}

/// With `retry_unknown` the caller accepts a possible duplicate: the dropped message is sent
/// again (the fake accepts a Message-ID's second arrival) and succeeds on the second attempt.
#[tokio::test]
async fn with_retry_unknown_a_drop_after_the_dot_is_sent_again() {
    tokio::time::timeout(TEST_WAIT, async {
        let tag = run_tag();
        let mid = format!("<drop-retried.{tag}@relaykit.test>");
        let retry = json!({"max_attempts": 3, "base_delay_ms": 10, "max_delay_ms": 50});
        let m = mailer(&fake(), &json!({"retry_unknown": true, "retry": retry}));
        let r = m.send(&message(&format!("drop-after-dot+{tag}@fake.test"), &mid)).await.unwrap();
        assert_eq!(r.attempts, 2);
        let outcomes: Vec<Value> = data_events(&mid).into_iter().map(|e| e["outcome"].clone()).collect();
        assert_eq!(outcomes, ["dropped", "accepted"]);
        let s = m.stats();
        assert_eq!((s.sent, s.failed, s.retried), (1, 0, 1), "{s:?}");
        m.close().await;
    })
    .await
    .expect("the test took too long");
}

/// A broken pipelined reply sequence (`mode`, see fake_smtp.py) is a protocol error, never a
/// hang or a misattributed reply; the connection is discarded and the next message goes out
/// on a new one.
async fn bad_pipelining_is_a_protocol_error(mode: &str) {
    let tag = run_tag();
    let rcpt = format!("{mode}+{tag}@fake.test");
    let m = mailer(&fake(), &json!({"max_connections": 1}));
    let started = Instant::now();
    let e = m.send(&message(&rcpt, &format!("<{mode}.{tag}@relaykit.test>"))).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Protocol, "{e}");
    assert_eq!(e.fate(), Fate::Rejected, "no data was sent: {e}");
    assert!(started.elapsed() < Duration::from_secs(4), "detected from the replies, not by the 5 s timeout: {e}");
    let bad = fault_conn(&rcpt);
    let next = format!("<{mode}-next.{tag}@relaykit.test>");
    m.send(&message("carol@fake.test", &next)).await.unwrap();
    let seen = data_events(&next);
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_ne!(seen[0]["conn"].as_u64(), Some(bad), "the connection with the bad replies was discarded");
    let s = m.stats();
    assert_eq!((s.sent, s.failed, s.connections_opened), (1, 1, 2), "{s:?}");
    m.close().await;
    let on_bad: Vec<Value> = fake_record().into_iter().filter(|e| e["conn"] == bad && e["event"] == "data").collect();
    assert!(on_bad.is_empty(), "no message was sent on the bad connection: {on_bad:?}");
}

#[tokio::test]
async fn out_of_order_pipelined_replies_discard_the_connection() {
    tokio::time::timeout(TEST_WAIT, bad_pipelining_is_a_protocol_error("out-of-order")).await.expect("too long");
}

#[tokio::test]
async fn a_missing_pipelined_reply_discards_the_connection() {
    tokio::time::timeout(TEST_WAIT, bad_pipelining_is_a_protocol_error("missing-reply")).await.expect("too long");
}
