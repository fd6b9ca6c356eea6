//! The Rust clients of the mailer benchmark (bench/driver.py runs them; see bench/README.md):
//!
//! - `relaykit-tasks`: one `relaykit::Mailer` (`max_connections` = `--conns`), `--concurrency`
//!   tokio tasks each sending one message after another through it.
//! - `relaykit-send-many`: one `relaykit::Mailer`, `Mailer::send_many` on batches of up to 1,000
//!   messages (at most 4 MiB of them), two batches in flight so that the connections never
//!   drain between batches.
//! - `lettre-pool`: lettre's pooled `AsyncSmtpTransport` (pool `max_size` = `--conns`), with
//!   the same number of tasks, sending the same bytes with `send_raw`.
//!
//! Each prints one JSON line (bench/rust/src/lib.rs).

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

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
            let batch = (4 << 20) / t.body.len().max(1);
            let (shared, plan2) = (mailer.clone(), plan.clone());
            batches(plan, move || {
                let (mailer, plan, msg) = (shared.clone(), plan2.clone(), msg.clone());
                async move {
                    let n = (0..batch.clamp(1, 1000)).take_while(|_| plan.take().is_some()).count();
                    mailer
                        .send_many(&vec![msg; n])
                        .await
                        .into_iter()
                        .map(|r| r.map(drop).map_err(|e| e.to_string()))
                        .collect()
                }
            })
            .await;
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

/// Runs the warm-up with `k` workers, then the timed phase with `k` fresh workers, and prints
/// the JSON line. A worker calls `send` for each message the plan hands it.
async fn phases<F, Fut>(plan: Arc<Plan>, k: usize, send: F)
where
    F: Fn() -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let tally = Arc::new(Tally::default());
    workers(&plan, &tally, k, &send).await;
    let warm = tally.take();
    let t0: Instant = plan.start_timed();
    workers(&plan, &tally, k, &send).await;
    let secs = t0.elapsed().as_secs_f64();
    report(warm, tally.take(), secs);
}

/// [`phases`] for batch senders: two workers, each calling `send` (which takes its messages
/// from the plan and returns one outcome each) until a batch comes back empty.
async fn batches<F, Fut>(plan: Arc<Plan>, send: F)
where
    F: Fn() -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Vec<Result<(), String>>> + Send + 'static,
{
    let tally = Arc::new(Tally::default());
    let phase = || {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let (tally, send) = (tally.clone(), send.clone());
                tokio::spawn(async move {
                    loop {
                        let outcomes = send().await;
                        if outcomes.is_empty() {
                            return;
                        }
                        for r in &outcomes {
                            tally.record(r);
                        }
                    }
                })
            })
            .collect::<Vec<_>>();
        let tally = tally.clone();
        async move {
            for h in handles {
                if let Err(e) = h.await {
                    tally.record::<(), _>(&Err(format!("worker panicked: {e}")));
                }
            }
        }
    };
    phase().await;
    let warm = tally.take();
    let t0 = plan.start_timed();
    phase().await;
    let secs = t0.elapsed().as_secs_f64();
    report(warm, tally.take(), secs);
}

async fn workers<F, Fut>(plan: &Arc<Plan>, tally: &Arc<Tally>, k: usize, send: &F)
where
    F: Fn() -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let handles: Vec<_> = (0..k.max(1))
        .map(|_| {
            let (plan, tally, send) = (plan.clone(), tally.clone(), send.clone());
            tokio::spawn(async move {
                while plan.take().is_some() {
                    tally.record(&send().await);
                }
            })
        })
        .collect();
    for h in handles {
        if let Err(e) = h.await {
            tally.record::<(), _>(&Err(format!("worker panicked: {e}")));
        }
    }
}
