//! What every subcommand shares: the keyring, the run's RRT values, reading and writing profile
//! files (atomically), reading a password without echo, and whether to colour.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};

use relaykit::token::{SharedTokenProvider, TokenRequest, token_provider_fn};
use relaykit::{Error, Keyring, Profile, RrtContext, SecretString};
use zeroize::Zeroizing;

use crate::args::Common;
use crate::exit::Failure;

/// The keyring as the library finds it (`RELAYKIT_KEY`, `RELAYKIT_KEY_FILE`, the default key
/// file), or the file `--key-file` names.
pub fn keyring(common: &Common) -> Result<Keyring, Failure> {
    Ok(match &common.key_file {
        Some(path) => Keyring::from_key_file(path)?,
        None => Keyring::from_env()?,
    })
}

/// The key file `key generate` and `key rotate` work on: `--file`, else `--key-file`, else
/// `RELAYKIT_KEY_FILE`, else the default key file.
pub fn key_file_path(explicit: Option<&Path>, common: &Common) -> Result<PathBuf, Failure> {
    if let Some(p) = explicit.or(common.key_file.as_deref()) {
        return Ok(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os(relaykit::secret::KEY_FILE_ENV) {
        return Ok(PathBuf::from(p));
    }
    relaykit::secret::default_key_file()
        .ok_or_else(|| Failure::usage("no key file: neither HOME nor XDG_CONFIG_HOME is set; give --file PATH"))
}

/// The RRT context of this run: `WIN` (the environment) plus every `--rrt`, `--rrt-protected`
/// and `--rrt-restricted` value. A protected or restricted value given without `=value` is
/// prompted for without echo.
pub fn rrt_context(common: &Common) -> Result<RrtContext, Failure> {
    let mut ctx = RrtContext::new();
    for spec in &common.rrt {
        let (id, name, value) = split_rrt(spec, "--rrt")?;
        let value = value.ok_or_else(|| {
            Failure::usage(format!("--rrt {spec}: give ID::name=value (e.g. --rrt ACC::user=alice@example.com)"))
        })?;
        ctx.set(id, name, value)?;
    }
    for (flags, specs) in [("--rrt-protected", &common.rrt_protected), ("--rrt-restricted", &common.rrt_restricted)] {
        for spec in specs {
            let (id, name, value) = split_rrt(spec, flags)?;
            let value = match value {
                Some(v) => Zeroizing::new(v.to_owned()),
                None => read_secret(&format!("value of ~{id}::%{name}%~: "), false)?,
            };
            if flags == "--rrt-protected" {
                ctx.set_protected(id, name, &value)?;
            } else {
                ctx.set_restricted(id, name, &value)?;
            }
        }
    }
    Ok(ctx)
}

/// `ID::name=value` → (ID, name, Some(value)); `ID::name` → (ID, name, None). The name may be
/// written with its percent signs (`ID::%name%`), as in the tag.
fn split_rrt<'a>(spec: &'a str, flag: &str) -> Result<(&'a str, &'a str, Option<&'a str>), Failure> {
    let (tag, value) = match spec.split_once('=') {
        Some((t, v)) => (t, Some(v)),
        None => (spec, None),
    };
    let Some((id, name)) = tag.split_once("::") else {
        return Err(Failure::usage(format!(
            "{flag}: `{}` is not ID::name (e.g. {flag} ACC::user=...)",
            if value.is_some() { tag } else { "<value hidden>" }
        )));
    };
    let name = name.strip_prefix('%').and_then(|n| n.strip_suffix('%')).unwrap_or(name);
    Ok((id, name, value))
}

/// Reads and validates a profile file; the error names the file and the JSON path.
pub fn read_profile(path: &Path) -> Result<Profile, Error> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::new(relaykit::ErrorKind::Io, format!("profile file {}: {e}", path.display())))?;
    Profile::from_json(&text)
        .map_err(|e| Error::new(e.kind(), format!("profile file {}: {}", path.display(), e.message())))
}

/// The keyring, which must hold a key (to encrypt with): otherwise the error says how to make one.
pub fn keyring_with_key(common: &Common) -> Result<Keyring, Failure> {
    let k = keyring(common)?;
    if k.is_empty() {
        return Err(Failure::Relaykit(Error::crypto(
            "no key: run `relaykit key generate` first (or give one with --key-file, RELAYKIT_KEY or RELAYKIT_KEY_FILE)",
        )));
    }
    Ok(k)
}

/// Writes `profile` to `path` atomically: a temporary file in the same directory, flushed to
/// disk, then renamed over the target, so a reader sees the old file or the new one, never half.
/// The file is created owner-only (0600): it may hold a password.
pub fn write_profile(path: &Path, profile: &Profile) -> Result<(), Failure> {
    let mut text = Zeroizing::new(serde_json::to_string_pretty(&profile.to_json_value()).unwrap_or_default());
    text.push('\n');
    write_atomically(path, text.as_bytes())
}

/// Writes `bytes` to `path` through a temporary sibling and a rename (mode 0600 on Unix).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    let io =
        |what: &str, e: std::io::Error| Error::new(relaykit::ErrorKind::Io, format!("{what} {}: {e}", path.display()));
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let result = (|| {
        let mut f = opts.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(Failure::Relaykit(io("cannot write", e)));
    }
    Ok(())
}

/// A secret from the terminal without echo, or from standard input's first line when it is not
/// a terminal (or `from_stdin`). The trailing newline is dropped.
pub fn read_secret(prompt: &str, from_stdin: bool) -> Result<Zeroizing<String>, Failure> {
    let stdin = std::io::stdin();
    if !from_stdin && stdin.is_terminal() {
        return rpassword::prompt_password(prompt)
            .map(Zeroizing::new)
            .map_err(|e| Failure::usage(format!("cannot read the password from the terminal: {e}")));
    }
    let mut line = Zeroizing::new(String::new());
    stdin
        .lock()
        .read_line(&mut line)
        .map_err(|e| Failure::usage(format!("cannot read the password from standard input: {e}")))?;
    while line.ends_with('\n') || line.ends_with('\r') {
        line.pop();
    }
    Ok(line)
}

/// ANSI colour for a few words, or none.
#[derive(Debug, Clone, Copy)]
pub struct Paint(bool);

impl Paint {
    pub fn new(on: bool) -> Self {
        Paint(on)
    }

    fn wrap(self, code: &str, s: &str) -> String {
        if self.0 { format!("\x1b[{code}m{s}\x1b[0m") } else { s.to_owned() }
    }

    pub fn good(self, s: &str) -> String {
        self.wrap("32", s)
    }

    pub fn bad(self, s: &str) -> String {
        self.wrap("1;31", s)
    }

    pub fn warn(self, s: &str) -> String {
        self.wrap("33", s)
    }

    pub fn bold(self, s: &str) -> String {
        self.wrap("1", s)
    }
}

/// Whether to colour standard output: only on a terminal, never with `--no-color` or `NO_COLOR`.
pub fn colour(common: &Common) -> bool {
    !common.no_color && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
}

/// The dialog's advice when a password about to be encrypted holds an RRT (the core decides:
/// [`relaykit::hints::encrypted_rrt_warning`]), on standard error. The password is not shown.
pub fn warn_if_encrypting_rrt(password: &str) {
    if let Some(w) = relaykit::hints::encrypted_rrt_warning(password, true) {
        eprintln!("relaykit: warning: {w}");
    }
}

/// The token provider of `--token-command`: `sh -c COMMAND` with the user name and the reason
/// in its environment, its trimmed standard output the token. The command is killed when
/// relaykit stops waiting for it (the profile's timeout bounds a provider's answer).
pub fn token_provider(common: &Common) -> Option<SharedTokenProvider> {
    let command = common.token_command.clone()?;
    Some(token_provider_fn(move |req: TokenRequest| {
        let command = command.clone();
        async move {
            let out = tokio::process::Command::new("sh")
                .arg("-c")
                .arg(&command)
                .env("RELAYKIT_TOKEN_USER", &req.username)
                .env("RELAYKIT_TOKEN_REASON", req.reason.as_str())
                .stdin(std::process::Stdio::null())
                .kill_on_drop(true)
                .output()
                .await
                .map_err(|e| format!("--token-command could not be run: {e}"))?;
            let stdout = Zeroizing::new(out.stdout);
            if !out.status.success() {
                // Its last line of standard error says why (a token command reports there).
                let err = String::from_utf8_lossy(&out.stderr);
                let why: String =
                    err.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").chars().take(200).collect();
                let status = out.status.code().map_or_else(|| "a signal".to_owned(), |c| format!("status {c}"));
                let why = if why.is_empty() { String::new() } else { format!(": {why}") };
                return Err(format!("--token-command exited with {status}{why}"));
            }
            let text = std::str::from_utf8(&stdout).map_err(|_| "--token-command printed no UTF-8 text".to_owned())?;
            let token = text.trim();
            if token.is_empty() {
                return Err("--token-command printed no token".to_owned());
            }
            Ok(SecretString::new(token))
        }
    }))
}
