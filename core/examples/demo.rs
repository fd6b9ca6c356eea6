//! The demo: the dialog's whole job against a real local server.
//!
//! It starts the local test servers when they are not running (`tests/servers/install.sh` and
//! `start.sh`: Postfix with Dovecot SASL on 127.0.0.1), builds a profile with an RRT in the
//! user name, encrypts its password, runs **Test** (with the relay check) and prints the report,
//! then **sends** a message with an attachment and prints where it landed.
//!
//! Run it with `cargo run -p relaykit --example demo`. `RELAYKIT_STATE` selects the servers'
//! state directory (default `tests/.state`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use relaykit::message::Attachment;
use relaykit::{Keyring, Message, Profile, RrtContext, SendOptions, TestOptions};
use serde_json::json;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

fn read_env(state: &Path) -> Option<HashMap<String, String>> {
    let text = std::fs::read_to_string(state.join("servers.env")).ok()?;
    Some(text.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_owned(), v.to_owned())).collect())
}

/// The servers' variables, starting them first when they do not answer.
fn servers() -> Res<HashMap<String, String>> {
    let state = std::env::var("RELAYKIT_STATE").map_or_else(|_| root().join("tests/.state"), PathBuf::from);
    if let Some(env) = read_env(&state) {
        let up = env.get("RK_DOVECOT_STARTTLS_PORT").and_then(|p| p.parse::<u16>().ok()).is_some_and(|p| {
            std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], p).into(), Duration::from_secs(1)).is_ok()
        });
        if up {
            return Ok(env);
        }
    }
    println!("starting the local test servers (tests/servers/install.sh, start.sh) ...");
    for script in ["install.sh", "start.sh"] {
        let ok = Command::new("bash")
            .arg(root().join("tests/servers").join(script))
            .env("RK_ROLES", "dovecot")
            .env("RELAYKIT_STATE", &state)
            .status()?
            .success();
        if !ok {
            return Err(format!("tests/servers/{script} failed").into());
        }
    }
    read_env(&state).ok_or_else(|| "start.sh wrote no servers.env".into())
}

fn main() -> Res<()> {
    let env = servers()?;
    let v = |k: &str| env.get(k).cloned().ok_or_else(|| format!("{k} missing from servers.env"));

    // The dialog, filled in: the user name comes from the host application through an RRT.
    let mut profile = Profile::from_json_value(&json!({
        "id": "demo",
        "server": v("RK_HOST")?,
        "port": v("RK_DOVECOT_STARTTLS_PORT")?.parse::<u16>()?,
        "encrypted_connection": true,
        "tls_ca_file": v("RK_CA_FILE")?,
        "requires_authentication": true,
        "username": "~APP::%user%~",
        "password": v("RK_PASS")?,
        "timeout_secs": 10,
    }))?;
    // The "Encrypted" check box. A real key comes from RELAYKIT_KEY or a key file.
    let keyring = Keyring::generate()?;
    profile.encrypt_current_password(&keyring)?;
    println!("saved profile (password encrypted):\n{}\n", profile.to_json());

    let mut ctx = RrtContext::new();
    ctx.set("APP", "user", &v("RK_USER")?)?;

    // Test.
    let options = TestOptions {
        relay_check: Some(relaykit::RelayCheckRequest { from: v("RK_USER")?, to: v("RK_RCPT")? }),
        ..TestOptions::default()
    };
    let report = relaykit::test(&profile, &keyring, &ctx, &options)?;
    println!("Test: {}", if report.ok { "passed" } else { "FAILED" });
    for s in &report.stages {
        println!("  {:<10} {:<4} {:>8.2} ms", s.stage.as_str(), if s.ok { "ok" } else { "fail" }, s.ms);
    }
    if let Some(t) = &report.tls {
        println!("  TLS {} {} verified={} ({})", t.version, t.cipher, t.verified, t.subject);
    }
    if let Some(a) = &report.auth {
        println!("  authenticated with {}", a.mechanism.as_deref().unwrap_or("-"));
    }
    if let Some(e) = &report.error {
        println!("  error: {e}\n  hint: {}", e.hint().unwrap_or("-"));
        return Err("Test failed".into());
    }
    println!("report JSON: {}\n", report.to_json());

    // Send.
    let mut m = Message::new(v("RK_USER")?);
    m.to = vec![v("RK_RCPT")?];
    m.subject = Some("Hello from relaykit ✓".into());
    m.text = Some("This message was sent by the relaykit demo.\n".into());
    m.html = Some("<p>This message was sent by the <b>relaykit</b> demo.</p>".into());
    m.attachments = vec![Attachment::from_bytes("hello.txt", "text/plain", b"attached bytes\n".to_vec())];
    let result = relaykit::send(&profile, &keyring, &ctx, &m, &SendOptions::default())?;
    println!("Send: {}", result.to_json());

    // Where it landed: Postfix delivers to a Maildir, asynchronously.
    let id = result.message_id.clone().unwrap_or_default();
    let dir = PathBuf::from(v("RK_DOVECOT_MAIL_DIR")?);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(path) = find(&dir, &id) {
            println!("delivered to {}", path.display());
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("{id} did not arrive under {} within 15 s", dir.display()).into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn find(dir: &Path, needle: &str) -> Option<PathBuf> {
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let p = e.path();
        if p.file_name().is_some_and(|n| n == "tmp") {
            continue; // Maildir's tmp/: files there are still being written
        }
        if p.is_dir() {
            if let Some(f) = find(&p, needle) {
                return Some(f);
            }
        } else if std::fs::read(&p).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes())) {
            return Some(p);
        }
    }
    None
}
