//! Messages per second on one connection, `send_mail` in a loop against `send_many`
//! (pipelined), against a real server named by `RELAYKIT_BENCH_SMTP` (e.g. Postfix's
//! `smtp-sink 127.0.0.1:2525 1000`), to compare with `smtp-source -d -s 1 -m N -l 1000`.
//!
//! `RELAYKIT_BENCH_SMTP=127.0.0.1:2525 cargo bench -p relaykit --bench one_connection`;
//! `RELAYKIT_BENCH_N` messages (default 5000). Without `RELAYKIT_BENCH_SMTP` it says so and
//! measures nothing. (Moved here from the fake-server tests: it is a measurement, not a test.)

#![allow(clippy::unwrap_used, clippy::cast_precision_loss)] // message counts are far below 2^52

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use relaykit::session::{Mail, MailParams, Session, SessionConfig, TlsMode};

fn main() {
    let Ok(target) = std::env::var("RELAYKIT_BENCH_SMTP") else {
        println!("one_connection: skipped (set RELAYKIT_BENCH_SMTP=host:port of an SMTP sink)");
        return;
    };
    let n: usize = std::env::var("RELAYKIT_BENCH_N").ok().and_then(|v| v.parse().ok()).unwrap_or(5000);
    let addr: SocketAddr = target.parse().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(one_connection(addr, n));
}

async fn one_connection(addr: SocketAddr, n: usize) {
    let mut c = SessionConfig::new(addr.ip().to_string(), addr.port(), TlsMode::Plain);
    c.helo_name = "bench.test".into();
    let mut body = b"From: a@x.test\r\nTo: b@y.test\r\nSubject: bench\r\n\r\n".to_vec();
    body.extend(std::iter::repeat_n(b'x', 1000));
    body.extend(b"\r\n");
    let to = vec!["b@y.test".to_owned()];

    let mut s = Session::connect(c.clone(), &[addr]).await.unwrap();
    s.read_greeting().await.unwrap();
    println!("server extensions: {:?}", s.ehlo().await.unwrap().lines);
    let t0 = Instant::now();
    for _ in 0..n {
        s.send_mail("a@x.test", &to, &body, MailParams::default()).await.unwrap();
    }
    let one = t0.elapsed();
    let mails: Vec<Mail<'_>> = (0..n)
        .map(|_| Mail { from: "a@x.test", rcpts: &to, body: &body, params: MailParams::default(), dsn: None })
        .collect();
    let t0 = Instant::now();
    let out = s.send_many(&mails).await;
    let many = t0.elapsed();
    assert!(out.iter().all(Result::is_ok));
    s.quit().await.unwrap();
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    println!(
        "{n} messages of {} bytes on one connection: send_mail loop {:.0} msg/s ({:.1} us each), send_many {:.0} msg/s ({:.1} us each)",
        body.len(),
        rate(one),
        one.as_secs_f64() * 1e6 / n as f64,
        rate(many),
        many.as_secs_f64() * 1e6 / n as f64
    );
}
