//! The `relaykit` command on a terminal: a pseudo-terminal (openpty) is the child's controlling
//! terminal and its stdin, stdout and stderr, and the test answers the prompts as a person
//! would, each after its prompt appeared. Checks that `profile new` asks for the dialog's
//! fields and reads the password without echo, that colour is used on a terminal and not with
//! NO_COLOR or --no-color, and that a batch shows a progress bar.
#![cfg(unix)]
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

#[path = "../../core/tests/servers_env/mod.rs"]
mod servers_env;

use std::io::{Read as _, Write as _};
use std::os::fd::{FromRawFd as _, OwnedFd};
use std::os::unix::process::CommandExt as _;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use servers_env::var;

/// A child running on a fresh pseudo-terminal, and everything it has written to it.
struct Tty {
    child: std::process::Child,
    master: std::fs::File,
    output: Arc<Mutex<Vec<u8>>>,
}

impl Tty {
    fn spawn(args: &[&str], home: &std::path::Path, env: &[(&str, &str)]) -> Tty {
        let (mut master, mut slave) = (0, 0);
        // SAFETY: openpty writes two descriptors into the given ints; the name, termios and
        // window size pointers may be null.
        let rc = unsafe {
            libc::openpty(&raw mut master, &raw mut slave, std::ptr::null_mut(), std::ptr::null(), std::ptr::null())
        };
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: both descriptors were just opened by openpty and are owned here only.
        let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_relaykit"));
        cmd.args(args)
            .current_dir(home)
            .env("HOME", home)
            .env("TERM", "xterm")
            .env_remove("NO_COLOR")
            .env_remove("RELAYKIT_KEY")
            .env_remove("RELAYKIT_KEY_FILE")
            .env_remove("XDG_CONFIG_HOME")
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave));
        for (k, v) in env {
            cmd.env(k, v);
        }
        // SAFETY: setsid and ioctl are async-signal-safe; they make the terminal on stdin the
        // child's controlling terminal, so that /dev/tty (where passwords are read) is it.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().unwrap();
        let master = std::fs::File::from(master);
        let output = Arc::new(Mutex::new(Vec::new()));
        let mut reader = master.try_clone().unwrap();
        let sink = Arc::clone(&output);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // Ends with EIO once the child has exited and the terminal has no other user.
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Tty { child, master, output }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.output.lock().unwrap()).into_owned()
    }

    /// Waits (bounded) until the output, after what has been answered so far, shows `prompt`.
    fn wait_for(&self, prompt: &str, after: usize) -> usize {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let text = self.text();
            if let Some(i) = text.get(after..).and_then(|t| t.find(prompt)) {
                return after + i + prompt.len();
            }
            assert!(Instant::now() < deadline, "no prompt {prompt:?} in {text:?}");
            std::thread::sleep(Duration::from_millis(20)); // polling the terminal's output, bounded above
        }
    }

    /// Answers each `(prompt, answer)` in turn, after its prompt appeared.
    fn converse(&mut self, script: &[(&str, &str)]) {
        let mut at = 0;
        for (prompt, answer) in script {
            at = self.wait_for(prompt, at);
            self.master.write_all(format!("{answer}\r").as_bytes()).unwrap();
        }
    }

    /// Waits (bounded) for the child to exit; its code and its whole output.
    fn finish(mut self) -> (i32, String) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            assert!(Instant::now() < deadline, "relaykit did not exit: {:?}", self.text());
            std::thread::sleep(Duration::from_millis(20)); // polling the child, bounded above
        };
        // Let the reader drain what is left (it stops at EIO or after a short quiet spell).
        let mut last = usize::MAX;
        for _ in 0..50 {
            let n = self.output.lock().unwrap().len();
            if n == last {
                break;
            }
            last = n;
            std::thread::sleep(Duration::from_millis(20));
        }
        (status.code().unwrap_or(-1), self.text())
    }
}

fn run(args: &[&str], home: &std::path::Path, env: &[(&str, &str)]) -> (i32, String) {
    Tty::spawn(args, home, env).finish()
}

#[test]
fn profile_new_on_a_terminal_asks_for_the_dialogs_fields_and_reads_the_password_without_echo() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key").display().to_string();
    let (code, out) = run(&["key", "generate", "--file", &key], dir.path(), &[]);
    assert_eq!(code, 0, "{out}");
    let file = dir.path().join("p.json").display().to_string();
    let port = servers_env::port("RK_DOVECOT_STARTTLS_PORT").to_string();
    let args = ["--key-file", &key, "profile", "new", &file, "--encrypt-password", "--tls-ca-file", var("RK_CA_FILE")];
    let mut tty = Tty::spawn(&args, dir.path(), &[]);
    tty.converse(&[
        ("Server (host name or address): ", var("RK_HOST")),
        ("encrypted connection? (y/n) [n]: ", "y"),
        ("Port [465]: ", &port), // the port follows the encryption box
        ("Requires authentication? (y/n) [n]: ", "y"),
        ("User name: ", var("RK_USER")),
        ("Password (not shown): ", var("RK_PASS")),
    ]);
    let (code, out) = tty.finish();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("password encrypted under key"), "{out}");
    assert!(!out.contains(var("RK_PASS")), "the password was echoed: {out}");
    assert!(out.contains(var("RK_USER")), "the user name should echo: {out}");
    let saved: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(saved["server"], var("RK_HOST"));
    assert_eq!(saved["port"], servers_env::port("RK_DOVECOT_STARTTLS_PORT"));
    assert_eq!(saved["encrypted_connection"], true);
    assert_eq!(saved["username"], var("RK_USER"));
    assert_eq!(saved["password_encrypted"], true);
    // What was typed works: Test authenticates, in colour on the terminal.
    let (code, out) = run(&["--key-file", &key, "test", &file], dir.path(), &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("\x1b[32mTest passed\x1b[0m"), "{out}");
    // The port prompt's default follows the box: unencrypted is 25, and accepting it leaves
    // the port unset.
    let plain = dir.path().join("plain.json").display().to_string();
    let mut tty = Tty::spawn(&["profile", "new", &plain], dir.path(), &[]);
    tty.converse(&[
        ("Server (host name or address): ", "smtp.example.com"),
        ("encrypted connection? (y/n) [n]: ", ""),
        ("Port [25]: ", ""),
        ("Requires authentication? (y/n) [n]: ", ""),
    ]);
    let (code, out) = tty.finish();
    assert_eq!(code, 0, "{out}");
    let saved: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&plain).unwrap()).unwrap();
    assert!(saved.get("port").is_none(), "{saved}");
}

#[test]
fn colour_only_on_a_terminal_and_never_with_no_color_or_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("good.json"), r#"{"server": "a.test"}"#).unwrap();
    std::fs::write(dir.path().join("bad.json"), r#"{"server": ""}"#).unwrap();
    let (code, out) = run(&["profile", "validate", "good.json", "bad.json"], dir.path(), &[]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("\x1b[32mvalid\x1b[0m") && out.contains("\x1b[1;31minvalid:\x1b[0m"), "{out:?}");
    let (code, out) = run(&["profile", "validate", "good.json", "bad.json"], dir.path(), &[("NO_COLOR", "1")]);
    assert_eq!(code, 3, "{out}");
    assert!(!out.contains('\x1b') && out.contains("invalid:"), "{out:?}");
    let (code, out) = run(&["--no-color", "profile", "validate", "good.json"], dir.path(), &[]);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains('\x1b') && out.contains("valid"), "{out:?}");
}

#[test]
fn a_batch_on_a_terminal_shows_a_progress_bar_unless_told_not_to() {
    const N: usize = 200;
    let dir = tempfile::tempdir().unwrap();
    let profile = serde_json::json!({
        "server": var("RK_HOST"), "port": servers_env::port("RK_DOVECOT_PLAIN_PORT"),
        "helo_name": "cli.relaykit.test", "timeout_secs": 10,
    });
    std::fs::write(dir.path().join("p.json"), profile.to_string()).unwrap();
    let mut lines = String::new();
    for i in 0..N {
        let m = serde_json::json!({"from": var("RK_USER"), "to": var("RK_RCPT"), "subject": format!("tty batch {i}"), "text": "x"});
        lines.push_str(&m.to_string());
        lines.push('\n');
    }
    std::fs::write(dir.path().join("b.jsonl"), lines).unwrap();
    let (code, out) = run(&["send", "p.json", "--batch", "b.jsonl"], dir.path(), &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("/{N} messages")), "no progress bar: {out:?}");
    assert!(out.contains(&format!("{N} messages: {N} sent")), "{out:?}");
    let (code, out) = run(&["send", "p.json", "--batch", "b.jsonl", "--no-progress"], dir.path(), &[]);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains(&format!("/{N} messages")), "a progress bar with --no-progress: {out:?}");
}
