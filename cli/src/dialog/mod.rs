//! `relaykit dialog`: the "SMTP Server Configuration" dialog as a local web page.
//!
//! A small HTTP server on loopback serves one page (HTML, CSS and JS embedded in the binary)
//! and a JSON API for it. The only file it reads or writes is the profile given at start; every
//! rule (defaults, validation, hints, which field a failure concerns) is the core's.
//!
//! Security: the listen address must be loopback; each run has a random token, given in the
//! URL's fragment (never sent in a request line, so never in a log) and required in a header on
//! every API request; the Host header must name this loopback port (against DNS rebinding) and
//! an Origin header, when there is one, this page's origin; responses forbid framing, caching
//! and inline script.

mod api;
mod server;

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::args::{Common, DialogArgs};
use crate::common;
use crate::exit::{Failure, Outcome};

/// Serves the page until Ctrl-C or SIGTERM (then exits 0).
pub fn run(c: &Common, a: &DialogArgs) -> Outcome {
    if !a.listen.ip().is_loopback() {
        return Err(Failure::usage(format!(
            "dialog --listen {}: the page serves a profile and its password, so it listens on loopback only \
             (give 127.0.0.1:PORT or [::1]:PORT)",
            a.listen
        )));
    }
    let keyring = common::keyring(c)?;
    let rrt = common::rrt_context(c)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::usage(format!("dialog: cannot start the async runtime: {e}")))?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(a.listen)
            .await
            .map_err(|e| Failure::usage(format!("dialog --listen {}: cannot listen: {e}", a.listen)))?;
        let addr: SocketAddr =
            listener.local_addr().map_err(|e| Failure::usage(format!("dialog: no local address: {e}")))?;
        let token = server::new_token()?;
        let url = format!("http://{}/#token={token}", server::authority(addr));
        let app = Arc::new(api::App { file: a.file.clone(), keyring, rrt, token, port: addr.port() });
        // The URL is the first line of standard output, so a script (or the browser tests) can
        // read it; then a line for the person on standard error.
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{url}");
        let _ = out.flush();
        drop(out);
        eprintln!("relaykit: serving the configuration page for {}; press Ctrl-C to stop", a.file.display());
        if a.open {
            open_browser(&url);
        }
        axum::serve(listener, server::router(app))
            .with_graceful_shutdown(shutdown_signal())
            .await
            .map_err(|e| Failure::usage(format!("dialog: the server stopped: {e}")))
    })
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

/// Opens `url` with `$BROWSER` or the desktop's opener; says so when that fails, and goes on.
fn open_browser(url: &str) {
    let opener = std::env::var("BROWSER").ok().filter(|b| !b.trim().is_empty()).unwrap_or_else(|| {
        if cfg!(target_os = "macos") {
            "open".to_owned()
        } else if cfg!(windows) {
            "explorer".to_owned()
        } else {
            "xdg-open".to_owned()
        }
    });
    match std::process::Command::new(&opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
    {
        Ok(mut child) => {
            // Reap it, and say so if it failed; the server goes on either way.
            std::thread::spawn(move || match child.wait() {
                Ok(st) if !st.success() => {
                    eprintln!("relaykit: {opener} could not open the page ({st}); open the URL above yourself");
                }
                _ => {}
            });
        }
        Err(e) => eprintln!("relaykit: cannot run {opener} to open the page ({e}); open the URL above yourself"),
    }
}
