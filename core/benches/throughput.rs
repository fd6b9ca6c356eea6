//! Throughput on one connection against Postfix's `smtp-sink`, with the peers in the same run:
//! Postfix's `smtp-source` (C, pipelining), Python's `smtplib`, and lettre's SMTP transport.
//!
//! `cargo bench -p relaykit --bench throughput` (or `bash tests/bench/run.sh`). Environment:
//! `RK_BENCH_PORT` (default 2599), `RK_BENCH_MESSAGES` (default 20000), `RK_BENCH_SIZE`
//! (default 1024), `RK_BENCH_LETTRE_MESSAGES` (default 300: lettre is slow, so it gets a
//! smaller count and is compared by rate). Prints a table and the ratios.

#![allow(clippy::unwrap_used, clippy::cast_precision_loss)]

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use relaykit::session::{Mail, MailParams, Session, SessionConfig, TlsMode};

fn env_num(k: &str, d: usize) -> usize {
    std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d)
}

struct Sink(Child);

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_sink(port: u16) -> Sink {
    let mut cmd = Command::new("/usr/sbin/smtp-sink");
    // As root smtp-sink must drop privileges.
    if unsafe_is_root() {
        cmd.args(["-u", "nobody"]);
    }
    let child = cmd
        .arg(format!("127.0.0.1:{port}"))
        .arg("1024")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("smtp-sink (Debian package postfix; bash tests/servers/install.sh installs it)");
    let sink = Sink(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "smtp-sink did not listen on {port} within 10 s");
        std::thread::sleep(Duration::from_millis(20)); // bounded wait for a child to listen
    }
    sink
}

fn unsafe_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(1) == Some("0")))
        .unwrap_or(false)
}

fn body(size: usize) -> Vec<u8> {
    let mut b = b"From: a@bench.test\r\nTo: b@bench.test\r\nSubject: bench\r\n\r\n".to_vec();
    while b.len() < size {
        b.extend_from_slice(b"0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz\r\n");
    }
    b.truncate(size - 2);
    b.extend_from_slice(b"\r\n");
    b
}

fn relaykit_run(port: u16, n: usize, size: usize) -> Duration {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mut cfg = SessionConfig::new("127.0.0.1", port, TlsMode::Plain);
        cfg.helo_name = "bench.test".into();
        let t = Instant::now();
        let mut s = Session::open(cfg).await.unwrap();
        let b = body(size);
        let rcpts = vec!["b@bench.test".to_owned()];
        let mails: Vec<Mail<'_>> = (0..n)
            .map(|_| Mail { from: "a@bench.test", rcpts: &rcpts, body: &b, params: MailParams::default(), dsn: None })
            .collect();
        let out = s.send_many(&mails).await;
        assert!(out.iter().all(Result::is_ok), "relaykit: a message failed");
        s.quit().await.unwrap();
        t.elapsed()
    })
}

fn smtp_source_run(port: u16, n: usize, size: usize) -> Duration {
    let t = Instant::now();
    let st = Command::new("/usr/sbin/smtp-source")
        .args(["-d", "-s", "1", "-m", &n.to_string(), "-l", &size.to_string()])
        .args(["-f", "a@bench.test", "-t", "b@bench.test", &format!("127.0.0.1:{port}")])
        .status()
        .unwrap();
    assert!(st.success(), "smtp-source failed");
    t.elapsed()
}

fn smtplib_run(port: u16, n: usize, size: usize) -> Option<Duration> {
    let script = format!(
        "import smtplib,time\nb=(b'From: a@bench.test\\r\\nSubject: bench\\r\\n\\r\\n'+b'x'*70+b'\\r\\n')*({size}//72)\n\
         s=smtplib.SMTP('127.0.0.1',{port}); s.ehlo('bench.test'); t=time.perf_counter()\n\
         for _ in range({n}): s.sendmail('a@bench.test',['b@bench.test'],b)\n\
         s.quit(); print(time.perf_counter()-t)\n"
    );
    let out = Command::new("python3").args(["-c", &script]).output().ok()?;
    let secs: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
    Some(Duration::from_secs_f64(secs))
}

fn lettre_run(port: u16, n: usize) -> Duration {
    use lettre::{SmtpTransport, Transport};
    let t = Instant::now();
    let mailer = SmtpTransport::builder_dangerous("127.0.0.1").port(port).build();
    let env =
        lettre::address::Envelope::new(Some("a@bench.test".parse().unwrap()), vec!["b@bench.test".parse().unwrap()])
            .unwrap();
    let b = body(1024);
    for _ in 0..n {
        mailer.send_raw(&env, &b).unwrap();
    }
    t.elapsed()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` probes with --list
    }
    let port = u16::try_from(env_num("RK_BENCH_PORT", 2599)).unwrap();
    let n = env_num("RK_BENCH_MESSAGES", 20_000);
    let size = env_num("RK_BENCH_SIZE", 1024);
    let ln = env_num("RK_BENCH_LETTRE_MESSAGES", 300);
    let _sink = start_sink(port);

    let rate = |n: usize, d: Duration| n as f64 / d.as_secs_f64();
    // Warm-up, then measured runs (best of 3 for the fast ones).
    relaykit_run(port, 500, size);
    let rk = (0..3).map(|_| relaykit_run(port, n, size)).min().unwrap();
    let src = (0..3).map(|_| smtp_source_run(port, n, size)).min().unwrap();
    let py = smtplib_run(port, n.min(5000), size);
    let lt = lettre_run(port, ln);

    let rk_rate = rate(n, rk);
    println!("{n} messages x {size} bytes on one connection to smtp-sink (127.0.0.1:{port})");
    println!("{:<28} {:>10} {:>12} {:>10}", "client", "messages", "msg/s", "relaykit x");
    let row = |name: &str, count: usize, d: Duration| {
        let r = rate(count, d);
        println!("{name:<28} {count:>10} {r:>12.0} {:>10.2}", rk_rate / r);
    };
    row("relaykit (pipelined)", n, rk);
    row("smtp-source -d (Postfix)", n, src);
    if let Some(py) = py {
        row("python smtplib", n.min(5000), py);
    }
    row("lettre SmtpTransport", ln, lt);
    println!("ratio relaykit / smtp-source = {:.2}", rk_rate / rate(n, src));
}
