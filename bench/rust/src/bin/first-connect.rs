//! The #11 "first Test in a fresh process" figure, for the peers: how long the first TLS
//! connection of a fresh process takes (trust anchors, TCP, TLS handshake, EHLO, QUIT).
//!
//! - `--client lettre-native`: lettre + rustls, system store plus the bench CA (the trust
//!   relaykit uses: the system's anchors and `tls_ca_file`).
//! - `--client lettre-webpki`: lettre + rustls, webpki-roots plus the bench CA.
//! - `--client relaykit-rust`: `relaykit::test` (for comparison with relaykit's C figure).
//!
//! The clock starts before anything TLS-related is built (the tokio runtime included: relaykit
//! C builds its runtime inside its first call too). Prints `{"secs": …, "error": …}`.

use std::time::Instant;

use relaykit_bench::{Args, BoxError, Target};

fn main() {
    let r = Args::parse().and_then(|a| {
        let t = Target::from_args(&a)?;
        let t0 = Instant::now();
        match a.str("client", "").as_str() {
            "lettre-native" => lettre_first(&t, false)?,
            "lettre-webpki" => lettre_first(&t, true)?,
            "relaykit-rust" => relaykit_first(&t)?,
            other => return Err(format!("unknown --client {other:?}").into()),
        }
        Ok(t0.elapsed().as_secs_f64())
    });
    match r {
        Ok(secs) => println!("{}", serde_json::json!({"secs": secs, "error": null})),
        Err(e) => {
            println!("{}", serde_json::json!({"secs": 0.0, "error": e.to_string()}));
            std::process::exit(1);
        }
    }
}

fn lettre_first(t: &Target, webpki: bool) -> Result<(), BoxError> {
    use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    // Built inside the runtime: the pooled transport spawns its reaper task when built and
    // when dropped.
    rt.block_on(async {
        let ca = Certificate::from_pem(&std::fs::read(&t.ca_file)?)?;
        let store = if webpki { CertificateStore::WebpkiRoots } else { CertificateStore::Default };
        let params =
            TlsParameters::builder(t.host.clone()).certificate_store(store).add_root_certificate(ca).build_rustls()?;
        let tr = lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::builder_dangerous(&t.host)
            .port(t.port)
            .tls(Tls::Wrapper(params))
            .build::<lettre::Tokio1Executor>();
        if tr.test_connection().await? { Ok(()) } else { Err("lettre: test_connection returned false".into()) }
    })
}

fn relaykit_first(t: &Target) -> Result<(), BoxError> {
    let profile = relaykit::Profile::from_json_value(&serde_json::json!({
        "server": t.host, "port": t.port, "encrypted_connection": true, "tls_mode": "implicit",
        "tls_ca_file": t.ca_file, "helo_name": "bench.test",
    }))?;
    let opts = relaykit::TestOptions::default();
    let report = relaykit::test(&profile, &relaykit::Keyring::new(), &relaykit::RrtContext::new(), &opts)?;
    match report.error {
        None => Ok(()),
        Some(e) => Err(e.to_string().into()),
    }
}
