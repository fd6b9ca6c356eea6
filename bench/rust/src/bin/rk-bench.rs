//! The Rust clients of the mailer benchmark (bench/driver.py runs them; see bench/README.md):
//!
//! - `relaykit-tasks`: one `relaykit::Mailer` (`max_connections` = `--conns`), `--concurrency`
//!   tokio tasks each sending one message after another through it.
//! - `relaykit-send-many`: one `relaykit::Mailer`, `Mailer::send_many` on batches of about a
//!   quarter second's worth (16 to 1,000 messages, at most 4 MiB), two batches in flight so
//!   that the connections never drain between batches.
//! - `relaykit-send-each`: one `relaykit::Mailer`, `Mailer::send_each` over an iterator that
//!   makes each message as the plan hands it out (the streaming form: a batch at a time).
//! - `lettre-pool`: lettre's pooled `AsyncSmtpTransport` (pool `max_size` = `--conns`), with
//!   the same number of tasks, sending the same bytes with `send_raw`.
//!
//! Each prints one JSON line (bench/rust/src/lib.rs).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use relaykit_bench::{Args, BoxError, Plan, Tally, Target, report, report_fatal};

fn main() {
    let r = Args::parse().and_then(|a| {
        let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        rt.block_on(run(&a))
    });
    if let Err(e) = r {
        report_fatal(&e);
        std::process::exit(1);
    }
}

async fn run(args: &Args) -> Result<(), BoxError> {
    let t = Target::from_args(args)?;
    let conns: u32 = args.num("conns", 1)?;
    let tasks: usize = args.num("concurrency", 1)?;
    let plan = Arc::new(Plan::from_args(args)?);
    match args.str("client", "").as_str() {
        "relaykit-tasks" => {
            let mailer = relaykit_mailer(&t, conns)?;
            let msg = Arc::new(relaykit::Message::raw(t.from.clone(), vec![t.to.clone()], t.body.clone()));
            let shared = mailer.clone();
            phases(plan, tasks, move || {
                let (mailer, msg) = (shared.clone(), msg.clone());
                async move { mailer.send(&msg).await.map(drop).map_err(|e| e.to_string()) }
            })
            .await;
            mailer.close().await;
        }
        "relaykit-send-many" => {
            let mailer = relaykit_mailer(&t, conns)?;
            let msg = relaykit::Message::raw(t.from.clone(), vec![t.to.clone()], t.body.clone());
            // Batches of about a quarter second of sending (16 to 1,000 messages, at most 4 MiB),
            // so that the last one does not run far past the deadline on a slow link.
            let most = ((4 << 20) / t.body.len().max(1)).clamp(16, 1000);
            let size = Arc::new(AtomicUsize::new(16));
            let (shared, plan2) = (mailer.clone(), plan.clone());
            batches(plan, move || {
                let (mailer, plan, msg, size) = (shared.clone(), plan2.clone(), msg.clone(), size.clone());
                async move {
                    let want = size.load(Ordering::Relaxed);
                    let n = (0..want).take_while(|_| plan.take().is_some()).count();
                    let t0 = std::time::Instant::now();
                    let out: Vec<_> = mailer
                        .send_many(&vec![msg; n])
                        .await
                        .into_iter()
                        .map(|r| r.map(drop).map_err(|e| e.to_string()))
                        .collect();
                    // Messages per quarter second, in integers (n * 250,000 µs / elapsed µs).
                    let micros = t0.elapsed().as_micros().max(1);
                    let per_quarter = usize::try_from(n as u128 * 250_000 / micros).unwrap_or(most);
                    size.store(per_quarter.clamp(16, most), Ordering::Relaxed);
                    out
                }
            })
            .await;
            mailer.close().await;
        }
        "relaykit-send-each" => {
            let mailer = relaykit_mailer(&t, conns)?;
            let msg = relaykit::Message::raw(t.from.clone(), vec![t.to.clone()], t.body.clone());
            let tally = Tally::default();
            let stream = || std::iter::from_fn(|| plan.take().map(|_| msg.clone()));
            timed(&plan, &tally, || mailer.send_each(stream(), |_, r| tally.record(&r))).await;
            mailer.close().await;
        }
        "lettre-pool" => {
            let transport = lettre_pool(&t, conns)?;
            let envelope = lettre::address::Envelope::new(Some(t.from.parse()?), vec![t.to.parse()?])?;
            let (env, body) = (Arc::new(envelope), Arc::new(t.body.clone()));
            phases(plan, tasks, move || {
                let (tr, env, body) = (transport.clone(), env.clone(), body.clone());
                async move {
                    use lettre::AsyncTransport;
                    tr.send_raw(&env, &body).await.map(drop).map_err(|e| e.to_string())
                }
            })
            .await;
        }
        other => return Err(format!("unknown --client {other:?}").into()),
    }
    Ok(())
}

/// The profile every relaykit client of the benchmark uses (the same keys in C, Python, Node).
fn relaykit_mailer(t: &Target, conns: u32) -> Result<relaykit::Mailer, BoxError> {
    let mut p = serde_json::json!({
        "server": t.host, "port": t.port, "helo_name": "bench.test", "timeout_secs": 30,
    });
    if t.tls {
        p["encrypted_connection"] = true.into();
        p["tls_mode"] = "implicit".into();
        p["tls_ca_file"] = t.ca_file.clone().into();
    } else {
        p["starttls"] = "never".into();
    }
    let profile = relaykit::Profile::from_json_value(&p)?;
    let opts = relaykit::MailerOptions::from_json_value(&serde_json::json!({
        "max_connections": conns, "max_messages_per_connection": 1_000_000_000u32,
        "stream_window": t.stream_window,
    }))?;
    Ok(relaykit::Mailer::new(&profile, &relaykit::Keyring::new(), &relaykit::RrtContext::new(), opts)?)
}

fn lettre_pool(t: &Target, conns: u32) -> Result<lettre::AsyncSmtpTransport<lettre::Tokio1Executor>, BoxError> {
    use lettre::transport::smtp::{
        PoolConfig,
        client::{Certificate, Tls, TlsParameters},
        extension::ClientId,
    };
    let mut b = lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::builder_dangerous(&t.host)
        .port(t.port)
        .hello_name(ClientId::Domain("bench.test".into()))
        .pool_config(PoolConfig::new().max_size(conns));
    if t.tls {
        let ca = Certificate::from_pem(&std::fs::read(&t.ca_file)?)?;
        let params = TlsParameters::builder(t.host.clone()).add_root_certificate(ca).build_rustls()?;
        b = b.tls(Tls::Wrapper(params));
    }
    Ok(b.build())
}

/// The warm-up, then the clock: runs `phase` twice (the plan hands out the warm-up's messages,
/// then the timed phase's) and prints the JSON line.
async fn timed<P, Fut>(plan: &Plan, tally: &Tally, phase: P)
where
    P: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    phase().await;
    let warm = tally.take();
    let t0 = plan.start_timed();
    phase().await;
    report(warm, tally.take(), t0.elapsed().as_secs_f64());
}

/// `k` workers, each sending one message after another (`send`) while the plan hands them out.
async fn phases<F, Fut>(plan: Arc<Plan>, k: usize, send: F)
where
    F: Fn() -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let tally = Arc::new(Tally::default());
    let (p, t) = (plan.clone(), tally.clone());
    let work = move || {
        let (plan, tally, send) = (p.clone(), t.clone(), send.clone());
        async move {
            if plan.take().is_none() {
                return false;
            }
            tally.record(&send().await);
            true
        }
    };
    timed(&plan, &tally, || spawn_loops(&tally, k, &work)).await;
}

/// Two workers, each calling `send` (which takes its batch from the plan and returns one
/// outcome per message) until a batch comes back empty.
async fn batches<F, Fut>(plan: Arc<Plan>, send: F)
where
    F: Fn() -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Vec<Result<(), String>>> + Send + 'static,
{
    let tally = Arc::new(Tally::default());
    let t = tally.clone();
    let work = move || {
        let (tally, send) = (t.clone(), send.clone());
        async move {
            let outcomes = send().await;
            for r in &outcomes {
                tally.record(r);
            }
            !outcomes.is_empty()
        }
    };
    timed(&plan, &tally, || spawn_loops(&tally, 2, &work)).await;
}

/// `k` tasks, each running `work` until it returns false; returns when all have ended.
async fn spawn_loops<W, Fut>(tally: &Tally, k: usize, work: &W)
where
    W: Fn() -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send + 'static,
{
    let handles: Vec<_> = (0..k.max(1))
        .map(|_| {
            let work = work.clone();
            tokio::spawn(async move { while work().await {} })
        })
        .collect();
    for h in handles {
        if let Err(e) = h.await {
            tally.record::<(), _>(&Err(format!("worker panicked: {e}")));
        }
    }
}
