//! Current-user NTLM through Samba's `ntlm_auth --helper-protocol=ntlmssp-client-1`.
//!
//! The helper holds the logged-on domain user's credentials (winbind's cache), so relaykit never
//! sees a password. The line protocol (Squid/curl use the same):
//!
//! ```text
//! -> YR                    <- YR <base64 NEGOTIATE>
//! -> TT <base64 CHALLENGE> <- KK <base64 AUTHENTICATE>   (some versions: AF <base64 ...>)
//!                          <- BH <reason>                (broken helper / no credentials)
//!                          <- PW                         (it wants a password: no cached one)
//! ```
//!
//! The child is started on the first message, killed when the exchange ends or the client is
//! dropped, and every answer is bounded by [`super::AuthOptions::helper_timeout`].

use std::process::Stdio;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use zeroize::Zeroizing;

use super::{Mechanism, protocol_error};
use crate::error::{Cause, Error, ErrorKind, Result, Stage};

/// Samba's client helper with winbind's cached credentials.
pub(crate) const DEFAULT_ARGV: [&str; 3] = ["ntlm_auth", "--helper-protocol=ntlmssp-client-1", "--use-cached-creds"];

/// The longest helper answer line accepted.
const MAX_LINE: u64 = 64 * 1024;

const MECH: Mechanism = Mechanism::Ntlm;

struct Running {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

enum State {
    Initial,
    SentNegotiate,
    Done,
}

pub(crate) struct Helper {
    argv: Vec<String>,
    timeout: Duration,
    running: Option<Running>,
    state: State,
    server_error: Option<String>,
}

impl Helper {
    /// `username` (optional, may be `DOMAIN\user`) is passed as `--username`/`--domain` when
    /// given and the argv does not already name a user.
    pub(crate) fn new(mut argv: Vec<String>, username: &str, timeout: Duration) -> Result<Self> {
        if argv.first().is_none_or(String::is_empty) {
            return Err(
                Error::new(ErrorKind::Config, "NTLM: the current-user helper command is empty").with_stage(Stage::Auth)
            );
        }
        if !username.is_empty() && !argv.iter().any(|a| a.starts_with("--username")) {
            match username.split_once('\\') {
                Some((domain, user)) => {
                    argv.push(format!("--username={user}"));
                    argv.push(format!("--domain={domain}"));
                }
                None => argv.push(format!("--username={username}")),
            }
        }
        Ok(Helper { argv, timeout, running: None, state: State::Initial, server_error: None })
    }

    fn program(&self) -> &str {
        self.argv.first().map_or("", String::as_str)
    }

    fn spawn(&mut self) -> Result<&mut Running> {
        if self.running.is_none() {
            let mut child = Command::new(self.program())
                .args(&self.argv[1..])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| {
                    if e.kind() == std::io::ErrorKind::NotFound {
                        Error::new(
                            ErrorKind::AuthUnsupported,
                            format!(
                                "NTLM: current-user authentication needs Samba's ntlm_auth, and `{}` was not found",
                                self.program()
                            ),
                        )
                        .with_cause(Cause::NtlmHelperMissing)
                    } else {
                        Error::new(
                            ErrorKind::AuthUnsupported,
                            format!("NTLM: could not start `{}`: {e}", self.program()),
                        )
                    }
                    .with_stage(Stage::Auth)
                })?;
            let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
                return Err(Error::internal("NTLM helper pipes missing").with_stage(Stage::Auth));
            };
            self.running = Some(Running { child, stdin, stdout: BufReader::new(stdout) });
        }
        self.running.as_mut().ok_or_else(|| Error::internal("NTLM helper not running").with_stage(Stage::Auth))
    }

    /// Sends `line` and reads one answer line, within the timeout.
    async fn ask(&mut self, line: &str) -> Result<Zeroizing<String>> {
        let timeout = self.timeout;
        let program = self.program().to_owned();
        let running = self.spawn()?;
        let exchange = async {
            running.stdin.write_all(line.as_bytes()).await?;
            running.stdin.write_all(b"\n").await?;
            running.stdin.flush().await?;
            let mut answer = Zeroizing::new(String::new());
            (&mut running.stdout).take(MAX_LINE).read_line(&mut answer).await?;
            Ok::<_, std::io::Error>(answer)
        };
        let answer = match tokio::time::timeout(timeout, exchange).await {
            Err(_) => {
                self.stop();
                return Err(Error::new(
                    ErrorKind::Timeout,
                    format!("NTLM: `{program}` did not answer within {} s", timeout.as_secs_f32()),
                )
                .with_stage(Stage::Auth));
            }
            Ok(Err(e)) => {
                self.stop();
                return Err(Error::new(
                    ErrorKind::AuthUnsupported,
                    format!("NTLM: talking to `{program}` failed: {e}"),
                )
                .with_stage(Stage::Auth));
            }
            Ok(Ok(a)) => a,
        };
        if answer.is_empty() {
            let status = self.stop();
            return Err(Error::new(
                ErrorKind::AuthUnsupported,
                format!("NTLM: `{program}` exited without answering{status}"),
            )
            .with_stage(Stage::Auth));
        }
        if !answer.ends_with('\n') {
            self.stop();
            return Err(protocol_error(MECH, format!("`{program}` sent an over-long line")));
        }
        Ok(Zeroizing::new(answer.trim_end().to_owned()))
    }

    /// Kills the helper; returns a description of its exit status for messages.
    fn stop(&mut self) -> String {
        self.state = State::Done;
        match self.running.take() {
            Some(mut r) => {
                let status = match r.child.try_wait() {
                    Ok(Some(s)) => format!(" ({s})"),
                    _ => String::new(),
                };
                // An error here means it already exited.
                let _ = r.child.start_kill();
                status
            }
            None => String::new(),
        }
    }

    /// Interprets an answer that should carry a token with `code` (`YR` or `KK`).
    fn token(&mut self, answer: &str, codes: &[&str]) -> Result<Zeroizing<Vec<u8>>> {
        let program = self.program().to_owned();
        let (code, arg) = answer.split_once(' ').unwrap_or((answer, ""));
        if codes.contains(&code) && !arg.is_empty() {
            let token = B64
                .decode(arg.trim())
                .map_err(|_| protocol_error(MECH, format!("`{program}` sent a token that is not base64")))?;
            if !token.starts_with(b"NTLMSSP\0") {
                return Err(protocol_error(MECH, format!("`{program}` sent a token that is not an NTLMSSP message")));
            }
            return Ok(Zeroizing::new(token));
        }
        self.stop();
        let reason = arg.trim();
        self.server_error = (!reason.is_empty()).then(|| reason.to_owned());
        Err(match code {
            "BH" | "NA" => Error::new(
                ErrorKind::AuthUnsupported,
                format!(
                    "NTLM: `{program}` could not authenticate the current user: {}",
                    if reason.is_empty() { "no reason given" } else { reason }
                ),
            )
            .with_cause(Cause::NtlmHelperRefused)
            .with_stage(Stage::Auth),
            "PW" => Error::new(
                ErrorKind::AuthUnsupported,
                format!("NTLM: `{program}` has no cached credentials for the current user (it asked for a password)"),
            )
            .with_cause(Cause::NtlmNoCachedCredentials)
            .with_stage(Stage::Auth),
            _ => protocol_error(
                MECH,
                format!(
                    "`{program}` answered `{}` where {} was expected",
                    code.chars().take(16).collect::<String>(),
                    codes.join(" or ")
                ),
            ),
        })
    }

    pub(crate) async fn initial_response(&mut self) -> Result<Zeroizing<Vec<u8>>> {
        if !matches!(self.state, State::Initial) {
            return Err(Error::internal("NTLM helper: NEGOTIATE requested twice").with_stage(Stage::Auth));
        }
        let answer = self.ask("YR").await?;
        let token = self.token(&answer, &["YR"])?;
        self.state = State::SentNegotiate;
        Ok(token)
    }

    pub(crate) async fn respond(&mut self, challenge: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        if !matches!(self.state, State::SentNegotiate) {
            return Err(protocol_error(MECH, "server sent another challenge after the AUTHENTICATE message"));
        }
        if !challenge.starts_with(b"NTLMSSP\0") {
            self.stop();
            return Err(protocol_error(MECH, "server's challenge is not an NTLMSSP message (bad signature)"));
        }
        let line = format!("TT {}", B64.encode(challenge));
        let answer = self.ask(&line).await?;
        let token = self.token(&answer, &["KK", "AF"])?;
        self.stop();
        Ok(token)
    }

    pub(crate) fn finish(&mut self) {
        self.stop();
    }

    pub(crate) fn server_error(&self) -> Option<&str> {
        self.server_error.as_deref()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test that cannot unwrap has failed
mod tests {
    //! The helper is exercised with a small shell script that speaks the ntlmssp-client-1
    //! protocol. It is a stand-in: the real `ntlm_auth` needs a domain controller and a
    //! winbind-joined machine, which do not exist in the test environment.

    use super::*;
    use std::io::Write as _;

    const NEG: &[u8] = b"NTLMSSP\0\x01\0\0\0fake-negotiate";
    const AUTH: &[u8] = b"NTLMSSP\0\x03\0\0\0fake-authenticate";

    /// Writes the fake helper; `mode` selects its behaviour. It appends each TT argument to
    /// `log` so the test can check what it was given.
    fn fake_helper(dir: &tempfile::TempDir) -> (String, String) {
        let script = dir.path().join("fake_ntlm_auth.sh");
        let log = dir.path().join("tt.log");
        let mut f = std::fs::File::create(&script).unwrap();
        write!(
            f,
            r#"#!/bin/sh
mode="$1"
while read -r cmd arg; do
  case "$mode:$cmd" in
    *:YR) echo "YR {neg}" ;;
    ok:TT) echo "$arg" >> "{log}"; echo "KK {auth}" ;;
    af:TT) echo "AF {auth}" ;;
    bh:TT) echo "BH NT_STATUS_NO_LOGON_SERVERS" ;;
    pw:TT) echo "PW" ;;
    junk:TT) echo "HELLO there" ;;
    badb64:TT) echo "KK @@@" ;;
    exit:TT) exit 3 ;;
    hang:TT) sleep 30 ;;
  esac
done
"#,
            neg = B64.encode(NEG),
            auth = B64.encode(AUTH),
            log = log.display(),
        )
        .unwrap();
        (script.display().to_string(), log.display().to_string())
    }

    fn helper(script: &str, mode: &str) -> Helper {
        Helper::new(vec!["/bin/sh".into(), script.into(), mode.into()], "", Duration::from_secs(5)).unwrap()
    }

    const CHALLENGE: &[u8] = b"NTLMSSP\0\x02\0\0\0fake-challenge";

    #[tokio::test]
    async fn full_exchange() {
        let dir = tempfile::tempdir().unwrap();
        let (script, log) = fake_helper(&dir);
        for mode in ["ok", "af"] {
            let mut h = helper(&script, mode);
            assert_eq!(&h.initial_response().await.unwrap()[..], NEG);
            assert_eq!(&h.respond(CHALLENGE).await.unwrap()[..], AUTH);
            assert!(h.running.is_none(), "helper stopped after the AUTHENTICATE");
            h.finish();
        }
        let logged = std::fs::read_to_string(log).unwrap();
        assert_eq!(logged.trim(), B64.encode(CHALLENGE));
    }

    #[tokio::test]
    async fn helper_failures() {
        let dir = tempfile::tempdir().unwrap();
        let (script, _) = fake_helper(&dir);
        for (mode, kind, text) in [
            ("bh", ErrorKind::AuthUnsupported, "NT_STATUS_NO_LOGON_SERVERS"),
            ("pw", ErrorKind::AuthUnsupported, "no cached credentials"),
            ("junk", ErrorKind::Protocol, "answered `HELLO`"),
            ("badb64", ErrorKind::Protocol, "not base64"),
            ("exit", ErrorKind::AuthUnsupported, "exited without answering"),
        ] {
            let mut h = helper(&script, mode);
            h.initial_response().await.unwrap();
            let e = h.respond(CHALLENGE).await.unwrap_err();
            assert_eq!(e.kind(), kind, "{mode}: {e}");
            assert!(e.message().contains(text), "{mode}: {e}");
            assert_eq!(e.stage(), Some(Stage::Auth));
        }
    }

    #[tokio::test]
    async fn helper_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let (script, _) = fake_helper(&dir);
        let mut h = Helper::new(vec!["/bin/sh".into(), script, "hang".into()], "", Duration::from_millis(300)).unwrap();
        h.initial_response().await.unwrap();
        let e = h.respond(CHALLENGE).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Timeout);
    }

    #[tokio::test]
    async fn missing_binary_says_what_to_install() {
        let mut h = Helper::new(vec!["/nonexistent/ntlm_auth".into()], "", Duration::from_secs(1)).unwrap();
        let e = h.initial_response().await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AuthUnsupported);
        assert!(e.message().contains("ntlm_auth"), "{e}");
        assert_eq!(e.cause(), Some(&crate::error::Cause::NtlmHelperMissing));
    }

    #[test]
    fn username_is_passed_on() {
        let h =
            Helper::new(DEFAULT_ARGV.iter().map(|s| (*s).to_owned()).collect(), "CORP\\alice", Duration::from_secs(1))
                .unwrap();
        assert_eq!(&h.argv[3..], ["--username=alice", "--domain=CORP"]);
        assert!(Helper::new(Vec::new(), "", Duration::from_secs(1)).is_err());
    }
}
