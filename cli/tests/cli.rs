//! The `relaykit` command against the real test servers (Postfix + Dovecot SASL from
//! `tests/servers/start.sh`): every subcommand's success and failure paths, exit codes per
//! error kind, `test --json` equal to the library's own report, delivery checked in the
//! Maildir, and no secret in any output of any run (every run's stdout and stderr are scanned
//! for the password, its base64 at each alignment, protected RRT values and the keys).

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

#[path = "../../core/tests/servers_env/mod.rs"]
mod servers_env;

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use relaykit::{Keyring, Profile, RrtContext, TestOptions};
use serde_json::Value;
use servers_env::var;

/// Texts no output may contain. Every run is checked against all of them.
static SECRETS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Registers `secret`, its base64 at the three alignments (as it would appear inside an AUTH
/// PLAIN payload) and, for keys, the url-safe form.
fn secret(secret: &str) {
    let mut list = SECRETS.lock().unwrap();
    list.push(secret.to_owned());
    for engine in [&base64::engine::general_purpose::STANDARD, &base64::engine::general_purpose::URL_SAFE] {
        for k in 0..3 {
            let mut bytes = vec![0u8; k];
            bytes.extend_from_slice(secret.as_bytes());
            let enc = engine.encode(&bytes);
            let enc = enc.trim_end_matches('=');
            // Skip the characters that mix in the prefix, and the last two (they mix in what follows).
            let start = [0, 2, 3][k];
            if enc.len() >= start + 8 {
                list.push(enc[start..enc.len() - 2].to_owned());
            }
        }
    }
}

/// The keys of a key file, as secrets (`kid:base64url` entries).
fn key_secrets(key_file: &Path) {
    let text = std::fs::read_to_string(key_file).unwrap();
    for entry in text.trim().split(',') {
        let b64 = entry.split_once(':').map_or(entry, |(_, k)| k).trim();
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(b64).unwrap();
        SECRETS.lock().unwrap().push(b64.to_owned());
        SECRETS.lock().unwrap().push(base64::engine::general_purpose::STANDARD.encode(&bytes));
    }
}

fn password() -> &'static str {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        secret(var("RK_PASS"));
        secret(var("RK_BAD_PASS"));
    });
    var("RK_PASS")
}

#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:#?}"))
    }
}

/// A scratch directory with its own HOME, so no run reads the machine's key file.
struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Scratch {
        password();
        Scratch { dir: tempfile::tempdir().unwrap() }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn key(&self) -> String {
        self.path("key").display().to_string()
    }

    /// Runs `relaykit args...` with `stdin`, checks that it neither panicked nor printed a
    /// secret, and returns its outcome.
    fn run(&self, args: &[&str], stdin: &str) -> Run {
        let mut child = Command::new(env!("CARGO_BIN_EXE_relaykit"))
            .args(args)
            .current_dir(self.dir.path())
            .env("HOME", self.dir.path())
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("RELAYKIT_KEY")
            .env_remove("RELAYKIT_KEY_FILE")
            .env_remove("NO_COLOR")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // A command that fails before reading its input (no key, say) may exit first: the pipe
        // then breaks, which is that command's outcome, not the harness's failure.
        match child.stdin.take().unwrap().write_all(stdin.as_bytes()) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            other => other.unwrap(),
        }
        let out = child.wait_with_output().unwrap();
        let run = Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        assert!(!run.stderr.contains("panicked") && !run.stderr.contains("RUST_BACKTRACE"), "{args:?}: {run:#?}");
        assert!(!run.stdout.contains('\x1b') && !run.stderr.contains('\x1b'), "colour without a terminal: {run:#?}");
        for s in SECRETS.lock().unwrap().iter() {
            assert!(!run.stdout.contains(s.as_str()), "{args:?} printed a secret on stdout: {run:#?}");
            assert!(!run.stderr.contains(s.as_str()), "{args:?} printed a secret on stderr: {run:#?}");
        }
        run
    }

    /// [`Scratch::run`], expecting exit code `code`.
    fn expect(&self, code: i32, args: &[&str], stdin: &str) -> Run {
        let run = self.run(args, stdin);
        assert_eq!(run.code, code, "relaykit {args:?}: {run:#?}");
        run
    }

    fn generate_key(&self) {
        self.expect(0, &["key", "generate", "--file", &self.key()], "");
        key_secrets(&self.path("key"));
    }

    /// `profile new NAME` for Postfix+Dovecot on `port_var` with `extra` flags, the password from
    /// standard input.
    fn profile(&self, name: &str, port_var: &str, extra: &[&str], password: &str) -> String {
        let file = self.path(name).display().to_string();
        let port = servers_env::port(port_var).to_string();
        let key = self.key();
        let mut args = vec!["--key-file", &key, "profile", "new", &file];
        args.extend(["--server", var("RK_HOST"), "--port", &port, "--tls-ca-file", var("RK_CA_FILE")]);
        args.extend(["--helo-name", "cli.relaykit.test", "--timeout-secs", "10"]);
        args.extend(extra);
        self.expect(0, &args, password);
        file
    }

    /// An encrypted STARTTLS profile for alice (the dialog's usual setup).
    fn alice(&self, name: &str) -> String {
        self.profile(
            name,
            "RK_DOVECOT_STARTTLS_PORT",
            &["--encrypted", "--username", var("RK_USER"), "--password-stdin", "--encrypt-password"],
            &format!("{}\n", password()),
        )
    }
}

fn read_json(path: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The key id of an envelope `enc:v1:<kid>:...`.
fn envelope_key(profile: &str) -> String {
    let v = read_json(profile);
    let env = v["password"].as_str().unwrap();
    assert!(env.starts_with("enc:v1:"), "{env}");
    env.split(':').nth(2).unwrap().to_owned()
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// A report's JSON without its timings.
fn without_timings(mut v: Value) -> Value {
    if let Some(stages) = v.get_mut("stages").and_then(Value::as_array_mut) {
        for s in stages {
            s.as_object_mut().unwrap().remove("ms");
        }
    }
    v
}

#[test]
fn new_user_flow_profile_encrypt_test_send_delivered_byte_for_byte() {
    let s = Scratch::new();
    // key generate: 0600, prints the id, refuses to overwrite, --force replaces.
    let out = s.expect(0, &["key", "generate", "--file", &s.key()], "");
    key_secrets(&s.path("key"));
    assert!(out.stdout.contains("generated key k"), "{out:#?}");
    #[cfg(unix)]
    assert_eq!(mode(&s.path("key")), 0o600);
    let before = std::fs::read(s.path("key")).unwrap();
    let out = s.expect(2, &["key", "generate", "--file", &s.key()], "");
    assert!(out.stderr.contains("exists") && out.stderr.contains("--force"), "{out:#?}");
    assert_eq!(std::fs::read(s.path("key")).unwrap(), before, "a refused generate changed the key file");
    s.expect(0, &["key", "generate", "--file", &s.key(), "--force"], "");
    key_secrets(&s.path("key"));
    assert_ne!(std::fs::read(s.path("key")).unwrap(), before, "--force kept the old key");
    #[cfg(unix)]
    assert_eq!(mode(&s.path("key")), 0o600);

    // profile new with a plain password from stdin, then encrypt-password.
    let file = s.profile(
        "alice.json",
        "RK_DOVECOT_STARTTLS_PORT",
        &["--encrypted", "--username", var("RK_USER"), "--password-stdin"],
        &format!("{}\n", password()),
    );
    #[cfg(unix)]
    assert_eq!(mode(Path::new(&file)), 0o600);
    let out = s.expect(2, &["profile", "new", &file, "--server", "x.test"], "");
    assert!(out.stderr.contains("--force"), "{out:#?}");
    let out = s.expect(0, &["--key-file", &s.key(), "encrypt-password", &file, "--password-stdin"], password());
    assert!(out.stdout.contains("encrypted under key"), "{out:#?}");
    let saved = std::fs::read_to_string(&file).unwrap();
    assert!(!saved.contains(password()), "the plaintext is still in the file");
    let v = read_json(&file);
    assert_eq!(v["password_encrypted"], true);
    assert_eq!(v["port"], servers_env::port("RK_DOVECOT_STARTTLS_PORT"));

    // profile show: asterisks, never the envelope's ciphertext or the password.
    let out = s.expect(0, &["profile", "show", &file], "");
    assert!(out.stdout.contains("********") && out.stdout.contains("encrypted"), "{out:#?}");
    assert!(!out.stdout.contains(v["password"].as_str().unwrap()), "{out:#?}");

    // test: every stage, SCRAM-SHA-256 over verified TLS.
    let out = s.expect(0, &["--key-file", &s.key(), "test", &file], "");
    for want in ["Test passed", "tls", "TLSv1.3", "verified    yes", "SCRAM-SHA-256", "auth"] {
        assert!(out.stdout.contains(want), "{want}: {out:#?}");
    }

    // send with an attachment; check what arrived.
    let body = "Hello Carol,\nthis came through the relaykit command.\n";
    let attachment: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
    std::fs::write(s.path("data.bin"), &attachment).unwrap();
    let subject = format!("relaykit cli flow {}", servers_env::run_tag());
    let since = servers_env::before_now();
    let out = s.expect(
        0,
        &[
            "--key-file",
            &s.key(),
            "send",
            &file,
            "--from",
            var("RK_USER"),
            "--to",
            var("RK_RCPT"),
            "--subject",
            &subject,
            "--text",
            body,
            "--attach",
            &s.path("data.bin").display().to_string(),
            "--json",
        ],
        "",
    );
    let result = out.json();
    assert_eq!(result["accepted"][0], var("RK_RCPT"));
    assert_eq!(result["rejected"].as_array().unwrap().len(), 0);
    assert!(result["reply"].as_str().unwrap().starts_with("250"), "{result}");
    let mid = result["message_id"].as_str().unwrap();
    let (local, domain) = var("RK_RCPT").split_once('@').unwrap();
    let got = servers_env::wait_delivered(
        &servers_env::dovecot_maildir(domain, local),
        mid,
        1,
        since,
        Duration::from_secs(20),
    );
    let bytes = std::fs::read(&got.files[0]).unwrap();
    let parsed = mail_parser::MessageParser::default().parse(&bytes).unwrap();
    assert_eq!(parsed.subject(), Some(subject.as_str()));
    assert_eq!(parsed.body_text(0).unwrap().replace("\r\n", "\n"), body);
    let att = parsed.attachments().next().expect("no attachment arrived");
    assert_eq!(att.contents(), attachment.as_slice(), "the attachment changed on the way");
    assert_eq!(mail_parser::MimeHeaders::attachment_name(att), Some("data.bin"));
}

#[test]
fn test_json_is_the_librarys_own_report_for_the_same_profile() {
    let s = Scratch::new();
    s.generate_key();
    let good = s.alice("good.json");
    let bad = s.profile(
        "bad.json",
        "RK_DOVECOT_STARTTLS_PORT",
        &["--encrypted", "--username", var("RK_USER"), "--password-stdin", "--encrypt-password"],
        var("RK_BAD_PASS"),
    );
    // A certificate nobody trusts: the TLS failure's report is the library's too.
    let untrusted = s.path("untrusted.json").display().to_string();
    let port = servers_env::port("RK_DOVECOT_STARTTLS_PORT").to_string();
    s.expect(0, &["profile", "new", &untrusted, "--server", "localhost", "--port", &port, "--encrypted"], "");
    let keyring = Keyring::from_key_file(s.path("key")).unwrap();
    for (file, code) in [(&good, 0), (&bad, 12), (&untrusted, 9)] {
        let out = s.expect(code, &["--key-file", &s.key(), "test", file, "--json"], "");
        let profile = Profile::from_json(&std::fs::read_to_string(file).unwrap()).unwrap();
        let lib = relaykit::test(&profile, &keyring, &RrtContext::new(), &TestOptions::default()).unwrap();
        assert_eq!(without_timings(out.json()), without_timings(lib.to_json_value()), "{file}");
        assert_eq!(out.json()["ok"], code == 0);
        if code == 12 {
            // The failure in words on stderr: kind, stage, hint.
            assert!(out.stderr.contains("relaykit: auth_failed error at auth"), "{out:#?}");
            assert!(out.stderr.contains("hint: 535"), "{out:#?}");
        }
    }
    // The relay check, through the flag, is in the report too.
    let out = s.expect(
        0,
        &["--key-file", &s.key(), "test", &good, "--json", "--relay-check", var("RK_USER"), var("RK_RELAY_RCPT")],
        "",
    );
    assert_eq!(out.json()["relay"]["ok"], true, "{out:#?}");
    assert_eq!(out.json()["relay"]["to"], var("RK_RELAY_RCPT"));
}

#[test]
fn a_failed_test_prints_kind_stage_reply_and_hint_and_exits_with_the_kinds_code() {
    let s = Scratch::new();
    s.generate_key();
    // auth_failed (12): the 535 and its hint in the table.
    let bad = s.profile(
        "bad.json",
        "RK_DOVECOT_STARTTLS_PORT",
        &["--encrypted", "--username", var("RK_USER"), "--password-stdin"],
        var("RK_BAD_PASS"),
    );
    let out = s.expect(12, &["test", &bad], "");
    for want in ["Test failed", "auth_failed error at auth", "535", "hint", "user name or password rejected"] {
        assert!(out.stdout.contains(want), "{want}: {out:#?}");
    }
    // A relay check the server refuses (no authentication): exit 1, the reply in the table;
    // opportunistic STARTTLS without the CA is a warning, not a failure.
    let plain = s.path("plain.json").display().to_string();
    let port = servers_env::port("RK_DOVECOT_PLAIN_PORT").to_string();
    s.expect(0, &["profile", "new", &plain, "--server", var("RK_HOST"), "--port", &port], "");
    let out = s.expect(1, &["test", &plain, "--relay-check", var("RK_USER"), var("RK_RELAY_RCPT")], "");
    for want in ["Test failed", "refused", "Relay access denied", "warning: the server's certificate is not verified"] {
        assert!(out.stdout.contains(want), "{want}: {out:#?}");
    }
    // tls (9): an encrypted connection to a server whose CA is not trusted.
    let file = s.path("untrusted.json").display().to_string();
    let port = servers_env::port("RK_DOVECOT_STARTTLS_PORT").to_string();
    s.expect(
        0,
        &["profile", "new", &file, "--server", "localhost", "--port", &port, "--encrypted", "--timeout-secs", "10"],
        "",
    );
    let out = s.expect(9, &["test", &file, "--json"], "");
    assert_eq!(out.json()["error"]["kind"], "tls", "{out:#?}");
    assert_eq!(out.json()["error"]["stage"], "tls");
    // connect (7): nothing listens on the port.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port().to_string();
    let file = s.path("closed.json").display().to_string();
    s.expect(0, &["profile", "new", &file, "--server", "127.0.0.1", "--port", &free, "--timeout-secs", "5"], "");
    let out = s.expect(7, &["test", &file], "");
    assert!(out.stdout.contains("connect error at connect"), "{out:#?}");
    // rrt (4): a tag with no value is invalid input: no report, the error on stderr.
    let file = s.path("rrt.json").display().to_string();
    s.expect(
        0,
        &["profile", "new", &file, "--server", var("RK_HOST"), "--username", "~ACC::%user%~", "--password-stdin"],
        "x\n",
    );
    let out = s.expect(4, &["test", &file], "");
    assert!(out.stderr.starts_with("relaykit: rrt error") && out.stderr.contains("ACC"), "{out:#?}");
    assert!(out.stdout.is_empty(), "{out:#?}");
    // crypto (5): the envelope's key is not in the keyring given.
    let enc = s.alice("enc.json");
    let other = s.path("other-key").display().to_string();
    s.expect(0, &["key", "generate", "--file", &other], "");
    key_secrets(Path::new(&other));
    let out = s.expect(5, &["--key-file", &other, "test", &enc], "");
    assert!(out.stderr.starts_with("relaykit: crypto error") && out.stderr.contains("not in the keyring"), "{out:#?}");
    // config (3): a profile file that is not valid.
    std::fs::write(s.path("broken.json"), r#"{"server": "a.test", "prot": 25}"#).unwrap();
    let out = s.expect(3, &["test", &s.path("broken.json").display().to_string()], "");
    assert!(out.stderr.contains("$.prot: unknown field"), "{out:#?}");
    // usage (2): clap's own errors.
    s.expect(2, &["test"], "");
    s.expect(2, &["send", &enc, "--frobnicate"], "");
}

#[test]
fn rrt_values_from_flags_fill_the_profile_and_protected_values_are_never_shown() {
    let s = Scratch::new();
    // The user name is an RRT, the password a protected one, both filled for this run only.
    let file = s.profile(
        "rrt.json",
        "RK_DOVECOT_STARTTLS_PORT",
        &["--encrypted", "--username", "~ACC::%user%~", "--password-stdin", "--auth-mechanisms", "PLAIN"],
        "~ACC::%$pw%~\n",
    );
    let user = format!("ACC::user={}", var("RK_USER"));
    let pw = format!("ACC::$pw={}", password());
    let out = s.expect(0, &["test", &file, "--rrt", &user, "--rrt-protected", &pw, "--trace"], "");
    assert!(out.stdout.contains("PLAIN ok"), "{out:#?}");
    // The trace went to stderr, AUTH redacted (the secret scan above checks the payload).
    assert!(out.stderr.contains("C: EHLO cli.relaykit.test") && out.stderr.contains("C: AUTH PLAIN"), "{out:#?}");
    // Given without a value, the protected value is read from standard input (no terminal).
    let out = s.expect(0, &["test", &file, "--rrt", &user, "--rrt-protected", "ACC::$pw", "--json"], password());
    assert_eq!(out.json()["auth"]["mechanism"], "PLAIN");
    // A malformed flag is a usage error that does not repeat the value.
    let out = s.expect(2, &["test", &file, "--rrt-protected", &format!("nocolons={}", password())], "");
    assert!(out.stderr.contains("ID::name"), "{out:#?}");
}

#[test]
fn key_rotate_reencrypts_under_the_newest_key_and_test_still_authenticates() {
    let s = Scratch::new();
    s.generate_key();
    let a = s.alice("a.json");
    let b = s.alice("b.json");
    let plain = s.profile("plain.json", "RK_DOVECOT_PLAIN_PORT", &[], "");
    let old = envelope_key(&a);
    let out = s.expect(0, &["key", "generate", "--file", &s.key(), "--add"], "");
    key_secrets(&s.path("key"));
    #[cfg(unix)]
    assert_eq!(mode(&s.path("key")), 0o600, "--add must keep the key file owner-only");
    let newest = Keyring::from_key_file(s.path("key")).unwrap().newest_key_id().unwrap().to_owned();
    assert_ne!(newest, old);
    assert!(out.stdout.contains(&newest), "{out:#?}");
    let out = s.expect(0, &["--key-file", &s.key(), "key", "rotate", &a, &b, &plain], "");
    assert_eq!(out.stdout.matches("rotated").count(), 2, "{out:#?}");
    assert!(out.stdout.contains("nothing to rotate"), "{out:#?}");
    assert_eq!(envelope_key(&a), newest);
    assert_eq!(envelope_key(&b), newest);
    let out = s.expect(0, &["--key-file", &s.key(), "key", "rotate", &a], "");
    assert!(out.stdout.contains("already current"), "{out:#?}");
    let out = s.expect(0, &["--key-file", &s.key(), "test", &a, "--json"], "");
    assert_eq!(out.json()["auth"]["mechanism"], "SCRAM-SHA-256");
    // Rotating with a keyring that lacks the old key fails for that file (crypto, 5).
    let other = s.path("other").display().to_string();
    s.expect(0, &["key", "generate", "--file", &other], "");
    key_secrets(Path::new(&other));
    let before = std::fs::read_to_string(&a).unwrap();
    let out = s.expect(5, &["--key-file", &other, "key", "rotate", &a], "");
    assert!(out.stderr.contains("crypto error"), "{out:#?}");
    assert_eq!(std::fs::read_to_string(&a).unwrap(), before, "a failed rotation changed the file");
    // No key at all: the commands that encrypt say how to make one.
    let out = s.expect(5, &["key", "rotate", &a], "");
    assert!(out.stderr.contains("relaykit key generate"), "{out:#?}");
    let out = s.expect(5, &["encrypt-password", &plain, "--password-stdin"], "x");
    assert!(out.stderr.contains("relaykit key generate"), "{out:#?}");
    // A key file others may read is refused.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o644)).unwrap();
        let out = s.expect(5, &["--key-file", &other, "test", &a], "");
        assert!(out.stderr.contains("chmod 600"), "{out:#?}");
    }
}

#[test]
fn profile_new_names_the_flag_show_masks_and_validate_exits_0_or_3() {
    let s = Scratch::new();
    s.expect(0, &["key", "generate", "--file", "k"], "");
    key_secrets(&s.path("k"));
    for (args, path, flag) in [
        (vec!["--server", ""], "$.server", "--server"),
        (vec!["--server", "a.test", "--port", "0"], "$.port", "--port"),
        (vec!["--server", "a.test", "--port", "70000"], "$.port", "--port"),
        (vec!["--server", "a.test", "--tls-mode", "implicit"], "$.tls_mode", "--tls-mode"),
        (vec!["--server", "a.test", "--auth"], "$.username", "--username"),
        (vec!["--server", "a.test", "--auth-mechanisms", "PLAIN,BOGUS"], "$.auth_mechanisms", "--auth-mechanisms"),
        (
            vec!["--server", "a.test", "--key-file", "k", "--encrypt-password"],
            "$.password_encrypted",
            "--encrypt-password",
        ),
    ] {
        let mut all = vec!["profile", "new", "x.json", "--no-input"];
        all.extend(args);
        let out = s.expect(3, &all, "");
        assert!(out.stderr.starts_with(&format!("relaykit: config error: {path}")), "{all:?}: {out:#?}");
        assert!(out.stderr.contains(&format!("(flag {flag}")), "{all:?}: {out:#?}");
        assert!(!s.path("x.json").exists(), "an invalid profile was written");
    }
    // The trust anchors copied into the profile work like the file (Test verifies TLS).
    let pem = s.path("pem.json").display().to_string();
    let port = servers_env::port("RK_DOVECOT_STARTTLS_PORT").to_string();
    s.expect(
        0,
        &[
            "profile",
            "new",
            &pem,
            "--server",
            "localhost",
            "--port",
            &port,
            "--encrypted",
            "--tls-ca-pem-from",
            var("RK_CA_FILE"),
        ],
        "",
    );
    assert!(read_json(&pem)["tls_ca_pem"].as_str().unwrap().contains("BEGIN CERTIFICATE"));
    assert_eq!(s.expect(0, &["test", &pem, "--json"], "").json()["tls"]["verified"], true);
    std::fs::write(s.path("not.pem"), "hello").unwrap();
    let out = s.expect(
        3,
        &["profile", "new", "x.json", "--server", "a.test", "--encrypted", "--tls-ca-pem-from", "not.pem"],
        "",
    );
    assert!(out.stderr.contains("$.tls_ca_pem") && out.stderr.contains("(flag --tls-ca-pem-from)"), "{out:#?}");
    // "Log on using NTLM authentication" is authenticating, as the library's setter says.
    let ntlm = s.path("ntlm.json").display().to_string();
    s.expect(0, &["profile", "new", &ntlm, "--server", "smtp.example.com", "--ntlm-current-user"], "");
    let v = read_json(&ntlm);
    assert_eq!(
        (v["use_ntlm_current_user"].as_bool(), v["requires_authentication"].as_bool()),
        (Some(true), Some(true))
    );
    assert!(v.get("password").is_none(), "{v}");
    // Port follows the encryption box unless given.
    let enc = s.path("enc.json").display().to_string();
    s.expect(0, &["profile", "new", &enc, "--server", "smtp.example.com", "--encrypted"], "");
    let out = s.expect(0, &["profile", "show", &enc], "");
    assert!(out.stdout.contains("465 (default)"), "{out:#?}");
    // A plain password is masked too, in the table and in the JSON.
    let plain = s.profile("plain.json", "RK_DOVECOT_PLAIN_PORT", &["--username", "u", "--password-stdin"], password());
    let out = s.expect(0, &["profile", "show", &plain], "");
    assert!(out.stdout.contains("********") && out.stdout.contains("not encrypted"), "{out:#?}");
    let out = s.expect(0, &["profile", "show", &plain, "--json"], "");
    assert_eq!(out.json()["password"], "********");
    assert_eq!(out.json()["username"], "u");
    // #15: --proxy and --protocol; show masks a password in the proxy URL and proxy_password.
    let reach = s.path("reach.json").display().to_string();
    let url = "socks5h://relay:Url-Secret-7@proxy.example.com:1080";
    s.expect(0, &["profile", "new", &reach, "--server", "lmtp.example.com", "--proxy", url, "--protocol", "lmtp"], "");
    let v = read_json(&reach);
    assert_eq!((v["proxy"].as_str(), v["protocol"].as_str()), (Some(url), Some("lmtp")));
    let mut with_field = v.clone();
    with_field["proxy_password"] = Value::from("Field-Secret-8");
    std::fs::write(&reach, with_field.to_string()).unwrap();
    for args in [vec!["profile", "show", reach.as_str()], vec!["profile", "show", reach.as_str(), "--json"]] {
        let out = s.expect(0, &args, "");
        assert!(!out.stdout.contains("Url-Secret-7") && !out.stdout.contains("Field-Secret-8"), "{out:#?}");
        assert!(out.stdout.contains("proxy.example.com:1080") && out.stdout.contains("lmtp"), "{out:#?}");
    }
    let out =
        s.expect(3, &["profile", "new", "x.json", "--no-input", "--server", "a.test", "--proxy", "socks5://p"], "");
    assert!(out.stderr.contains("$.proxy") && out.stderr.contains("(flag --proxy)"), "{out:#?}");
    let out = s.expect(3, &["profile", "new", "x.json", "--no-input", "--server", "a.test", "--protocol", "esmtp"], "");
    assert!(out.stderr.contains("$.protocol") && out.stderr.contains("(flag --protocol)"), "{out:#?}");
    // validate: 0 when all are valid; 3 naming the file and field otherwise; --json lines.
    s.expect(0, &["profile", "validate", &enc, &plain], "");
    std::fs::write(s.path("bad.json"), r#"{"server": "a.test", "port": 0}"#).unwrap();
    let bad = s.path("bad.json").display().to_string();
    let out = s.expect(3, &["profile", "validate", &enc, &bad], "");
    assert!(out.stdout.contains("valid") && out.stdout.contains("$.port"), "{out:#?}");
    let out = s.expect(3, &["profile", "validate", "--json", &enc, &bad], "");
    let lines: Vec<Value> = out.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["ok"], true);
    assert_eq!(lines[1]["ok"], false);
    assert_eq!(lines[1]["error"]["kind"], "config");
    assert!(lines[1]["error"]["message"].as_str().unwrap().contains("$.port"));
    s.expect(16, &["profile", "validate", &s.path("missing.json").display().to_string()], "");
}

#[test]
fn send_reports_partial_rejection_raw_messages_and_bad_input() {
    let s = Scratch::new();
    s.generate_key();
    let file = s.alice("alice.json");
    let k = s.key();
    // --trace: the conversation on stderr, AUTH masked (the secret scan checks every run).
    let out = s.expect(
        0,
        &["--key-file", &k, "send", &file, "--from", var("RK_USER"), "--to", var("RK_RCPT"), "--text", "x", "--trace"],
        "",
    );
    for want in ["S: 220 ", "C: STARTTLS", "C: AUTH SCRAM-SHA-256", &format!("C: MAIL FROM:<{}>", var("RK_USER"))] {
        assert!(out.stderr.contains(want), "{want}: {out:#?}");
    }
    assert!(out.stdout.contains("accepted"), "{out:#?}");
    // One recipient refused: exit 1, the refusal in the result.
    let out = s.expect(
        1,
        &[
            "--key-file",
            &k,
            "send",
            &file,
            "--from",
            var("RK_USER"),
            "--to",
            var("RK_RCPT"),
            "--to",
            var("RK_REJECT_RCPT"),
            "--text",
            "x",
            "--json",
        ],
        "",
    );
    let r = out.json();
    assert_eq!(r["rejected"][0]["address"], var("RK_REJECT_RCPT"));
    assert_eq!(r["rejected"][0]["code"], 550);
    // Every recipient refused: recipient_rejected (14).
    let out = s.expect(
        14,
        &["--key-file", &k, "send", &file, "--from", var("RK_USER"), "--to", var("RK_REJECT_RCPT"), "--text", "x"],
        "",
    );
    assert!(out.stderr.starts_with("relaykit: recipient_rejected error at rcpt_to"), "{out:#?}");
    // Header injection is refused before anything is sent (config, 3).
    let out = s.expect(
        3,
        &[
            "--key-file",
            &k,
            "send",
            &file,
            "--from",
            var("RK_USER"),
            "--to",
            var("RK_RCPT"),
            "--subject",
            "a\r\nBcc: x@y.test",
        ],
        "",
    );
    assert!(out.stderr.contains("message.subject"), "{out:#?}");
    // A missing attachment is a local io error (16).
    s.expect(
        16,
        &["--key-file", &k, "send", &file, "--from", var("RK_USER"), "--to", var("RK_RCPT"), "--attach", "nope.pdf"],
        "",
    );
    // --raw: the bytes as they are, the envelope from the flags.
    let mid = format!("<raw.{}@relaykit.test>", servers_env::run_tag());
    let raw = format!(
        "From: {}\r\nTo: {}\r\nSubject: raw cli\r\nMessage-ID: {mid}\r\n\r\nraw body line 1\r\n.dot line\r\n",
        var("RK_USER"),
        var("RK_RCPT")
    );
    std::fs::write(s.path("m.eml"), &raw).unwrap();
    let since = servers_env::before_now();
    let out = s.expect(
        0,
        &["--key-file", &k, "send", &file, "--raw", "m.eml", "--from", var("RK_USER"), "--to", var("RK_RCPT")],
        "",
    );
    assert!(out.stdout.contains("accepted"), "{out:#?}");
    let (local, domain) = var("RK_RCPT").split_once('@').unwrap();
    let got = servers_env::wait_delivered(
        &servers_env::dovecot_maildir(domain, local),
        &mid,
        1,
        since,
        Duration::from_secs(20),
    );
    let stored = std::fs::read_to_string(&got.files[0]).unwrap().replace("\r\n", "\n");
    assert!(stored.ends_with("\n\nraw body line 1\n.dot line\n"), "{stored}");
    let out = s.expect(2, &["--key-file", &k, "send", &file, "--raw", "m.eml"], "");
    assert!(out.stderr.contains("--from"), "{out:#?}");
    // An auth failure on send: auth_failed (12) with the hint line.
    let bad = s.profile(
        "bad.json",
        "RK_DOVECOT_STARTTLS_PORT",
        &["--encrypted", "--username", var("RK_USER"), "--password-stdin"],
        var("RK_BAD_PASS"),
    );
    let out = s.expect(12, &["send", &bad, "--from", var("RK_USER"), "--to", var("RK_RCPT"), "--text", "x"], "");
    assert!(out.stderr.starts_with("relaykit: auth_failed error at auth:"), "{out:#?}");
    assert!(out.stderr.contains("\n  hint: 535"), "{out:#?}");
}

#[test]
fn a_batch_reports_each_bad_line_as_that_messages_failure_and_sends_the_rest() {
    let s = Scratch::new();
    s.generate_key();
    let file = s.alice("alice.json");
    let tag = servers_env::run_tag();
    let line = |i: u32| {
        serde_json::json!({"from": var("RK_USER"), "to": var("RK_RCPT"), "subject": format!("batch {i}"),
            "text": "x", "message_id": format!("<bad-batch.{tag}.{i}@relaykit.test>")})
        .to_string()
    };
    let text = [
        line(1),
        String::new(), // blank lines are skipped, but still counted as lines
        r#"{"from": "a@relaykit.test", "too": "b@relaykit.test"}"#.to_owned(),
        "not json".to_owned(),
        serde_json::json!({"from": var("RK_USER"), "to": ["ok@relaykit.test", "x\r\ny@relaykit.test"]}).to_string(),
        line(6),
        serde_json::json!({"from": var("RK_USER"), "to": var("RK_REJECT_RCPT"), "text": "x"}).to_string(),
    ]
    .join("\n");
    std::fs::write(s.path("b.jsonl"), text).unwrap();
    let out = s.expect(1, &["--key-file", &s.key(), "send", &file, "--batch", "b.jsonl", "--json"], "");
    let lines: Vec<Value> = out.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let at: Vec<(u64, bool)> =
        lines.iter().map(|l| (l["line"].as_u64().unwrap(), l["ok"].as_bool().unwrap())).collect();
    assert_eq!(at, [(1, true), (3, false), (4, false), (5, false), (6, true), (7, false)], "{out:#?}");
    assert!(lines[1]["error"]["message"].as_str().unwrap().starts_with("message.too: unknown field"), "{}", lines[1]);
    assert!(lines[2]["error"]["message"].as_str().unwrap().starts_with("message: not valid JSON"), "{}", lines[2]);
    assert!(lines[3]["error"]["message"].as_str().unwrap().contains("message.to[1]"), "{}", lines[3]);
    assert_eq!(lines[5]["error"]["kind"], "recipient_rejected");
    assert!(out.stderr.contains("6 messages: 2 sent, 0 partly refused, 4 failed"), "{out:#?}");
    // Without --json: the failures on stderr with their line numbers, the summary on stdout.
    let out = s.expect(1, &["--key-file", &s.key(), "send", &file, "--batch", "b.jsonl"], "");
    assert!(out.stderr.contains("line 3: config error: message.too"), "{out:#?}");
    assert!(out.stdout.contains("2 sent"), "{out:#?}");
    // Bad mailer options are a config error naming the option.
    let out = s.expect(
        3,
        &["--key-file", &s.key(), "send", &file, "--batch", "b.jsonl", "--mailer-options", r#"{"max_connections": 0}"#],
        "",
    );
    assert!(out.stderr.contains("options.max_connections"), "{out:#?}");
}

#[test]
fn a_thousand_message_batch_is_delivered_and_every_json_line_is_ok() {
    const N: usize = 1000;
    let s = Scratch::new();
    s.generate_key();
    let file = s.alice("alice.json");
    let prefix = format!("<cli-batch.{}.", servers_env::run_tag());
    let mut text = String::new();
    for i in 0..N {
        let m = serde_json::json!({"from": var("RK_USER"), "to": var("RK_RCPT"), "subject": format!("cli batch {i}"),
            "text": format!("message {i}\n"), "message_id": format!("{prefix}{i}@relaykit.test>")});
        text.push_str(&m.to_string());
        text.push('\n');
    }
    std::fs::write(s.path("batch.jsonl"), text).unwrap();
    let since = servers_env::before_now();
    let out = s.expect(
        0,
        &[
            "--key-file",
            &s.key(),
            "send",
            &file,
            "--batch",
            "batch.jsonl",
            "--json",
            "--mailer-options",
            r#"{"max_connections": 4}"#,
        ],
        "",
    );
    let lines: Vec<Value> = out.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), N);
    assert!(lines.iter().all(|l| l["ok"] == true), "{out:#?}");
    let numbers: Vec<u64> = lines.iter().map(|l| l["line"].as_u64().unwrap()).collect();
    assert_eq!(numbers, (1..=N as u64).collect::<Vec<_>>());
    assert!(out.stderr.contains(&format!("{N} messages: {N} sent, 0 partly refused, 0 failed")), "{out:#?}");
    let (local, domain) = var("RK_RCPT").split_once('@').unwrap();
    servers_env::assert_delivered_once(
        &servers_env::dovecot_maildir(domain, local),
        &prefix,
        N,
        since,
        Duration::from_secs(40),
    );
}

#[test]
fn the_default_key_file_is_made_owner_only_and_used_when_no_key_is_named() {
    let s = Scratch::new();
    // No --file, --key-file or RELAYKIT_KEY*: ~/.config/relaykit/key (HOME is the scratch dir).
    let out = s.expect(0, &["key", "generate"], "");
    let default = s.path(".config/relaykit/key");
    assert!(out.stdout.contains(&default.display().to_string()), "{out:#?}");
    key_secrets(&default);
    #[cfg(unix)]
    {
        assert_eq!(mode(&default), 0o600);
        assert_eq!(mode(default.parent().unwrap()), 0o700);
    }
    // A plain password already in the file, encrypted in place with --current.
    let file = s.profile(
        "alice.json",
        "RK_DOVECOT_STARTTLS_PORT",
        &["--encrypted", "--username", var("RK_USER"), "--password-stdin"],
        password(),
    );
    let out = s.expect(0, &["encrypt-password", &file, "--current"], "");
    assert!(out.stdout.contains("encrypted under key"), "{out:#?}");
    assert!(!std::fs::read_to_string(&file).unwrap().contains(password()));
    let out = s.expect(0, &["encrypt-password", &file, "--current"], "");
    assert!(out.stdout.contains("already encrypted"), "{out:#?}");
    // Test and send find the key by themselves; the text body from standard input, HTML from a file.
    s.expect(0, &["test", &file], "");
    std::fs::write(s.path("b.html"), "<p>Hello <b>Carol</b></p>").unwrap();
    let since = servers_env::before_now();
    let out = s.expect(
        0,
        &[
            "send",
            &file,
            "--from",
            var("RK_USER"),
            "--to",
            var("RK_RCPT"),
            "--subject",
            "stdin body",
            "--text-file",
            "-",
            "--html-file",
            "b.html",
            "--cc",
            var("RK_USER"),
            "--bcc",
            var("RK_USER2"),
            "--reply-to",
            "replies@relaykit.test",
            "--header",
            "X-Relaykit-Test: cli header",
            "--json",
        ],
        "text from standard input\n",
    );
    let accepted = out.json()["accepted"].clone();
    assert_eq!(accepted, serde_json::json!([var("RK_RCPT"), var("RK_USER"), var("RK_USER2")]), "{out:#?}");
    let mid = out.json()["message_id"].as_str().unwrap().to_owned();
    let (local, domain) = var("RK_RCPT").split_once('@').unwrap();
    let got = servers_env::wait_delivered(
        &servers_env::dovecot_maildir(domain, local),
        &mid,
        1,
        since,
        Duration::from_secs(20),
    );
    let bytes = std::fs::read(&got.files[0]).unwrap();
    let parsed = mail_parser::MessageParser::default().parse(&bytes).unwrap();
    assert_eq!(parsed.body_text(0).unwrap().replace("\r\n", "\n"), "text from standard input\n");
    assert_eq!(parsed.body_html(0).unwrap(), "<p>Hello <b>Carol</b></p>");
    let cc = parsed.cc().and_then(|a| a.first()).and_then(|a| a.address()).unwrap();
    assert_eq!(cc, var("RK_USER"));
    let reply_to = parsed.reply_to().and_then(|a| a.first()).and_then(|a| a.address()).unwrap();
    assert_eq!(reply_to, "replies@relaykit.test");
    assert_eq!(parsed.header_raw("X-Relaykit-Test").map(str::trim), Some("cli header"));
    assert!(parsed.header_raw("Bcc").is_none(), "Bcc must never be written");
    let (local, domain) = var("RK_USER2").split_once('@').unwrap();
    servers_env::wait_delivered(&servers_env::dovecot_maildir(domain, local), &mid, 1, since, Duration::from_secs(20));
}

#[test]
fn a_long_run_of_bad_lines_is_reported_line_by_line_without_waiting_for_the_messages() {
    const BAD: usize = 6000;
    let s = Scratch::new();
    let file = s.profile("plain.json", "RK_DOVECOT_PLAIN_PORT", &[], "");
    let good =
        serde_json::json!({"from": var("RK_USER"), "to": var("RK_RCPT"), "subject": "around bad lines", "text": "x"});
    let mut text = format!("{good}\n");
    for i in 0..BAD {
        writeln!(text, "{{\"from\": \"a@relaykit.test\", \"bad{i}\": 1}}").unwrap();
    }
    writeln!(text, "{good}").unwrap();
    std::fs::write(s.path("b.jsonl"), text).unwrap();
    let out = s.expect(1, &["send", &file, "--batch", "b.jsonl", "--json"], "");
    let mut lines: Vec<(u64, bool)> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|v| (v["line"].as_u64().unwrap(), v["ok"].as_bool().unwrap()))
        .collect();
    lines.sort_unstable();
    let want: Vec<(u64, bool)> = (1..=(BAD as u64 + 2)).map(|n| (n, n == 1 || n == BAD as u64 + 2)).collect();
    assert_eq!(lines, want, "every line once, the two messages sent");
    assert!(
        out.stderr.contains(&format!("{} messages: 2 sent, 0 partly refused, {BAD} failed", BAD + 2)),
        "{}",
        out.stderr
    );
}

#[test]
fn encrypting_a_password_that_holds_an_rrt_prints_the_dialogs_warning_and_a_static_one_does_not() {
    let s = Scratch::new();
    s.generate_key();
    let k = s.key();
    let file = s.path("rrt.json").display().to_string();
    let args = [
        "--key-file",
        &k,
        "profile",
        "new",
        &file,
        "--server",
        "smtp.example.com",
        "--username",
        "u",
        "--password-stdin",
    ];
    // "Encrypted" with an RRT as the password: saved (it is literal), with the dialog's advice.
    let mut with_encrypt = args.to_vec();
    with_encrypt.push("--encrypt-password");
    let out = s.expect(0, &with_encrypt, "~ACC::%pw%~\n");
    assert!(out.stderr.contains(relaykit::hints::ENCRYPTED_RRT_WARNING), "{out:#?}");
    assert!(!out.stderr.contains("~ACC::%pw%~"), "the password itself is not repeated: {out:#?}");
    assert!(read_json(&file)["password"].as_str().unwrap().starts_with("enc:v1:"));
    // A static password gives no warning; neither does an RRT left unencrypted.
    let out = s.expect(0, &[&with_encrypt[..], &["--force"]].concat(), "static-pass\n");
    assert!(!out.stderr.contains("RRT"), "{out:#?}");
    let out = s.expect(0, &[&args[..], &["--force"]].concat(), "~ACC::%pw%~\n");
    assert!(!out.stderr.contains("RRT"), "{out:#?}");
    // encrypt-password --current on that plain RRT password warns too.
    let out = s.expect(0, &["--key-file", &k, "encrypt-password", &file, "--current"], "");
    assert!(out.stderr.contains(relaykit::hints::ENCRYPTED_RRT_WARNING), "{out:#?}");
}

/// The client key's base64 body lines, each a secret no output may show.
fn client_key_secrets() -> String {
    let key = std::fs::read_to_string(var("RK_CLIENT_KEY")).unwrap();
    let mut list = SECRETS.lock().unwrap();
    for l in key.lines().filter(|l| !l.starts_with("-----") && l.len() > 16) {
        list.push(l.to_owned());
    }
    key
}

#[test]
fn a_client_certificate_profile_relays_and_its_inline_key_is_encrypted_shown_masked_and_rotated() {
    let s = Scratch::new();
    s.generate_key();
    let key = client_key_secrets();
    let relay = ["--relay-check", var("RK_USER"), var("RK_RELAY_RCPT")];
    let kf = s.key();
    // Both halves as files: the report says the certificate was sent and relaying is allowed.
    let files = s.profile(
        "files.json",
        "RK_CCERT_PORT",
        &[
            "--encrypted",
            "--tls-client-cert-file",
            var("RK_CLIENT_CERT"),
            "--tls-client-key-file",
            var("RK_CLIENT_KEY"),
        ],
        "",
    );
    let mut args = vec!["test", files.as_str(), "--json"];
    args.extend(relay);
    let r = s.expect(0, &args, "").json();
    assert_eq!((r["tls"]["client_certificate_sent"].clone(), r["relay"]["ok"].clone()), (true.into(), true.into()));
    // The key copied in and encrypted: the file holds an envelope, show masks it.
    let enc = s.profile(
        "enc.json",
        "RK_CCERT_PORT",
        &[
            "--id",
            "ccert",
            "--encrypted",
            "--tls-client-cert-pem-from",
            var("RK_CLIENT_CERT"),
            "--tls-client-key-from",
            var("RK_CLIENT_KEY"),
            "--encrypt-tls-client-key",
        ],
        "",
    );
    let saved = std::fs::read_to_string(&enc).unwrap();
    assert!(
        !saved.contains("PRIVATE KEY") && read_json(&enc)["tls_client_key"].as_str().unwrap().starts_with("enc:v1:")
    );
    let out = s.expect(0, &["profile", "show", &enc], "");
    assert!(out.stdout.contains("Client key") && out.stdout.contains("(encrypted)"), "{out:#?}");
    let mut args = vec!["--key-file", kf.as_str(), "test", enc.as_str(), "--json"];
    args.extend(relay);
    assert_eq!(s.expect(0, &args, "").json()["relay"]["ok"], true);
    // key rotate covers the client key.
    s.expect(0, &["key", "generate", "--file", &s.key(), "--add"], "");
    key_secrets(&s.path("key"));
    let out = s.expect(0, &["--key-file", &s.key(), "key", "rotate", &enc], "");
    assert!(out.stdout.contains("rotated"), "{out:#?}");
    assert_ne!(std::fs::read_to_string(&enc).unwrap(), saved);
    let mut args = vec!["--key-file", kf.as_str(), "test", enc.as_str(), "--json"];
    args.extend(relay);
    assert_eq!(s.expect(0, &args, "").json()["relay"]["ok"], true);
    // A plain inline key: show masks it and says how to encrypt it; encrypt-password --tls-client-key does.
    let plain = s.profile(
        "plain.json",
        "RK_CCERT_PORT",
        &[
            "--encrypted",
            "--tls-client-cert-file",
            var("RK_CLIENT_CERT"),
            "--tls-client-key-from",
            var("RK_CLIENT_KEY"),
        ],
        "",
    );
    assert_eq!(read_json(&plain)["tls_client_key"].as_str().unwrap(), key);
    let out = s.expect(0, &["profile", "show", &plain, "--json"], "");
    assert_eq!(out.json()["tls_client_key"], relaykit::secret::MASK);
    let out = s.expect(0, &["profile", "show", &plain], "");
    assert!(out.stdout.contains("encrypt-password --tls-client-key"), "{out:#?}");
    s.expect(0, &["--key-file", &s.key(), "encrypt-password", "--tls-client-key", &plain], "");
    assert!(read_json(&plain)["tls_client_key"].as_str().unwrap().starts_with("enc:v1:"));
}

#[test]
fn a_client_key_that_is_not_a_key_or_not_the_certificates_exits_3_naming_the_field() {
    let s = Scratch::new();
    s.generate_key();
    client_key_secrets();
    // A key that is not the certificate's: exit 3, naming the field and the flag.
    let file = s.path("bad.json").display().to_string();
    let port = servers_env::port("RK_CCERT_PORT").to_string();
    let out = s.expect(
        3,
        &[
            "profile",
            "new",
            &file,
            "--server",
            var("RK_HOST"),
            "--port",
            &port,
            "--tls-client-cert-file",
            var("RK_CLIENT_CERT"),
            "--tls-client-key-from",
            "/dev/null",
        ],
        "",
    );
    assert!(
        out.stderr.contains("$.tls_client_key: is not a private key")
            && out.stderr.contains("(flag --tls-client-key-from)"),
        "{out:#?}"
    );
    let bad = s.profile(
        "mismatch.json",
        "RK_CCERT_PORT",
        &[
            "--encrypted",
            "--tls-client-cert-file",
            var("RK_CLIENT_CERT"),
            "--tls-client-key-file",
            var("RK_OTHER_CLIENT_KEY"),
        ],
        "",
    );
    let out = s.expect(3, &["test", &bad], "");
    assert!(out.stderr.contains("does not match the certificate"), "{out:#?}");
}

/// A `--token-command` script: asks the oauth2 role's issuer for a token for
/// RELAYKIT_TOKEN_USER, records the reason and the token in `log`, and (when `revoke_first`)
/// revokes the first token it gives, so that the server rejects it and relaykit asks again.
fn token_script(s: &Scratch, log: &Path, revoke_first: bool) -> String {
    let script = s.path("token.py");
    let text = format!(
        r#"import json, os, urllib.parse, urllib.request
reason = os.environ["RELAYKIT_TOKEN_REASON"]
form = {{"grant_type": "password", "username": os.environ["RELAYKIT_TOKEN_USER"], "password": {pass:?}}}
token = json.load(urllib.request.urlopen({url:?}, urllib.parse.urlencode(form).encode(), timeout=10))["access_token"]
first = not os.path.exists({log:?})
with open({log:?}, "a") as f:
    f.write(reason + " " + token + "\n")
if first and {revoke}:
    urllib.request.urlopen({revoke_url:?}, urllib.parse.urlencode({{"token": token}}).encode(), timeout=10).read()
print(token)
"#,
        pass = var("RK_OAUTH_PASS"),
        url = var("RK_OAUTH_TOKEN_URL"),
        revoke_url = var("RK_OAUTH_REVOKE_URL"),
        log = log.display().to_string(),
        revoke = if revoke_first { "True" } else { "False" },
    );
    std::fs::write(&script, text).unwrap();
    format!("python3 {}", script.display())
}

/// The reasons and tokens a token script recorded, and a check that no run printed a token.
fn tokens_given(log: &Path, outputs: &[&Run]) -> Vec<String> {
    let text = std::fs::read_to_string(log).unwrap();
    let mut reasons = Vec::new();
    for line in text.lines() {
        let (reason, token) = line.split_once(' ').unwrap();
        for out in outputs {
            assert!(!out.stdout.contains(token) && !out.stderr.contains(token), "a token was printed: {out:#?}");
        }
        reasons.push(reason.to_owned());
    }
    reasons
}

#[test]
fn a_token_command_logs_in_with_oauthbearer_is_asked_again_after_a_rejection_and_its_failure_exits_12() {
    let s = Scratch::new();
    let p = s.profile(
        "oauth.json",
        "RK_OAUTH_PORT",
        &["--auth", "--username", var("RK_OAUTH_USER"), "--auth-mechanisms", "OAUTHBEARER,XOAUTH2"],
        "",
    );
    // Test: the first token is revoked before use, so the server rejects it; the command is run
    // again for a fresh one and the login succeeds.
    let log = s.path("tokens.log");
    let cmd = token_script(&s, &log, true);
    let out = s.expect(0, &["--token-command", &cmd, "test", &p, "--json"], "");
    let r = out.json();
    assert_eq!(r["auth"]["mechanism"], "OAUTHBEARER", "{r}");
    assert_eq!(r["auth"]["attempts"].as_array().unwrap().len(), 2, "{r}");
    assert_eq!(tokens_given(&log, &[&out]), ["initial", "refresh"]);
    // Send: one token, delivered.
    let log = s.path("send-tokens.log");
    let cmd = token_script(&s, &log, false);
    let since = servers_env::before_now();
    let out = s.expect(
        0,
        &[
            "--token-command",
            &cmd,
            "send",
            &p,
            "--from",
            var("RK_OAUTH_USER"),
            "--to",
            var("RK_RCPT"),
            "--subject",
            "cli oauth",
            "--text",
            "sent with a token",
            "--json",
        ],
        "",
    );
    assert_eq!(tokens_given(&log, &[&out]), ["initial"]);
    let mid = out.json()["message_id"].as_str().unwrap().to_owned();
    let (local, domain) = var("RK_RCPT").split_once('@').unwrap();
    let maildir = Path::new(var("RK_OAUTH_MAIL_DIR")).join(domain).join(local);
    servers_env::wait_delivered(&maildir, &mid, 1, since, Duration::from_secs(20));
    // A command that fails: an authentication failure (12) naming the command and its reason.
    let out = s.expect(12, &["--token-command", "echo issuer unreachable >&2; exit 3", "test", &p], "");
    assert!(out.stdout.contains("--token-command exited with status 3: issuer unreachable"), "{out:#?}");
    // Without a token command or password, the profile cannot log in: the password is asked for.
    let out = s.expect(3, &["test", &p], "");
    assert!(out.stderr.contains("$.password"), "{out:#?}");
}
