//! Volume: 10,000 messages through one mailer with 4 connections to the real Postfix+Dovecot
//! role (`tests/servers/start.sh`), each Message-ID found exactly once in the Maildir.
//! `RK_VOLUME_MESSAGES` overrides the count (e.g. a quick local run).

#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

mod servers_env;

use std::time::{Duration, Instant};

use relaykit::{Message, Profile};
use serde_json::json;
use servers_env::{assert_delivered_once, before_now, dovecot_maildir, mailer, message, port, run_tag, var};

const CONNECTIONS: u64 = 4;

fn count() -> usize {
    std::env::var("RK_VOLUME_MESSAGES").map_or(10_000, |v| v.parse().expect("RK_VOLUME_MESSAGES: a number"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_messages_over_four_connections_each_delivered_once() {
    let total = count();
    let since = before_now();
    // Plain with AUTH on the ordinary listener: the volume is the point, not TLS.
    let profile = Profile::from_json_value(&json!({
        "server": var("RK_HOST"), "port": port("RK_DOVECOT_PLAIN_PORT"), "starttls": "never", "timeout_secs": 30,
        "requires_authentication": true, "username": var("RK_USER"), "password": var("RK_PASS"),
    }))
    .unwrap();
    // No recycling within the run, so the connection count is exact.
    let mailer = mailer(&profile, &json!({"max_connections": CONNECTIONS, "max_messages_per_connection": total}));
    // The second test domain's catch-all: kept apart from the users' Maildirs other tests scan.
    let to = format!("volume@{}", var("RK_DOMAIN2"));
    let prefix = format!("<vol.{}.", run_tag());
    let messages: Vec<Message> =
        (0..total).map(|i| message("volume test", &to, &format!("{prefix}{i}@relaykit.test>"))).collect();
    let started = Instant::now();
    let results = tokio::time::timeout(Duration::from_secs(300), mailer.send_many(&messages))
        .await
        .expect("sending took longer than 300 s");
    let sent_in = started.elapsed();
    let errors: Vec<_> = results.iter().enumerate().filter_map(|(i, r)| r.as_ref().err().map(|e| (i, e))).collect();
    assert!(errors.is_empty(), "{} of {total} failed, first: {:?}", errors.len(), errors.first());
    let stats = mailer.stats();
    assert_eq!((stats.sent, stats.failed), (total as u64, 0), "{stats:?}");
    assert!(stats.connections_opened <= CONNECTIONS, "{stats:?}");
    mailer.close().await;
    let dir = dovecot_maildir(var("RK_DOMAIN2"), "volume");
    tokio::task::spawn_blocking(move || assert_delivered_once(&dir, &prefix, total, since, Duration::from_secs(300)))
        .await
        .unwrap();
    eprintln!("{total} messages: sent in {sent_in:?}, all delivered, each once, after {:?}", started.elapsed());
}
