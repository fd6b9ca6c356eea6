//! The variables `tests/servers/start.sh` writes for the real test servers (`servers.env` under
//! `RELAYKIT_STATE`, default `tests/.state`), shared by the test files that use those servers.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use relaykit::{Keyring, Mailer, MailerOptions, Message, Profile, RrtContext};
use serde_json::Value;

/// Every `KEY=VALUE` of `servers.env`, read once.
pub fn env() -> &'static HashMap<String, String> {
    static ENV: std::sync::OnceLock<HashMap<String, String>> = std::sync::OnceLock::new();
    ENV.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let state = std::env::var("RELAYKIT_STATE").map_or_else(|_| root.join("tests/.state"), PathBuf::from);
        let file = state.join("servers.env");
        let text = std::fs::read_to_string(&file).unwrap_or_else(|e| {
            panic!("{}: {e}; start the test servers first: bash tests/servers/start.sh", file.display())
        });
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    })
}

/// One variable; a missing one fails the test, naming it.
pub fn var(k: &str) -> &'static str {
    env().get(k).unwrap_or_else(|| panic!("{k} missing from servers.env")).as_str()
}

/// A mailer for `profile` with `options` (JSON form), no keyring or RRT context.
#[allow(dead_code)]
pub fn mailer(profile: &Profile, options: &Value) -> Mailer {
    let options = MailerOptions::from_json_value(options).unwrap();
    Mailer::new(profile, &Keyring::new(), &RrtContext::new(), options).unwrap()
}

/// A short text message from alice to `to` with Message-ID `mid`, its test named in `what`.
#[allow(dead_code)]
pub fn message(what: &str, to: &str, mid: &str) -> Message {
    let mut m = Message::new(var("RK_USER"));
    m.to = vec![to.to_owned()];
    m.subject = Some(format!("relaykit {what} {mid}"));
    m.text = Some(format!("sent through a relaykit Mailer ({what})\n"));
    m.message_id = Some(mid.to_owned());
    m
}

/// A port variable, parsed.
#[allow(dead_code)] // not every test file that includes this module uses every helper
pub fn port(k: &str) -> u16 {
    var(k).parse().unwrap_or_else(|e| panic!("{k}={}: {e}", var(k)))
}

/// A tag no other run shares, so a mailbox can hold earlier runs' messages.
#[allow(dead_code)]
pub fn run_tag() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{}.{nanos}", std::process::id())
}

/// The Maildir (`new/` and `cur/`) that Postfix+Dovecot delivers `local@domain` to: the known
/// users' own, any other local part of a test domain its domain's `_catchall`.
#[allow(dead_code)]
pub fn dovecot_maildir(domain: &str, local: &str) -> PathBuf {
    let user = if ["alice", "bob", "carol"].contains(&local) { local } else { "_catchall" };
    Path::new(var("RK_DOVECOT_MAIL_DIR")).join(domain).join(user)
}

/// A moment safely before anything a test is about to send can have been delivered (the
/// `since` of [`wait_delivered`]; file times have coarse granularity on some filesystems).
#[allow(dead_code)]
pub fn before_now() -> SystemTime {
    SystemTime::now() - Duration::from_secs(2)
}

/// Delivered messages whose Message-ID starts with `prefix`: how many files in `maildir` carry
/// each one, and the files, once `want` distinct ones have arrived. Postfix delivers after
/// the SMTP reply, so this polls (bounded by `within`, then it panics saying how many came).
/// Files last written before `since` (earlier runs') are not read.
#[allow(dead_code)]
pub fn wait_delivered(maildir: &Path, prefix: &str, want: usize, since: SystemTime, within: Duration) -> Delivered {
    let mut seen: HashSet<PathBuf> = HashSet::new();
    let mut got = Delivered::default();
    let deadline = Instant::now() + within;
    loop {
        // Only `new/` and `cur/`: a file in `tmp/` is still being written.
        for sub in ["new", "cur"] {
            for e in std::fs::read_dir(maildir.join(sub)).into_iter().flatten().flatten() {
                let path = e.path();
                if seen.contains(&path) {
                    continue;
                }
                if e.metadata().and_then(|m| m.modified()).is_ok_and(|t| t < since) {
                    seen.insert(path);
                    continue;
                }
                let Ok(bytes) = std::fs::read(&path) else { continue }; // tried again next round
                seen.insert(path.clone());
                if let Some(id) = header_message_id(&bytes).filter(|id| id.starts_with(prefix)) {
                    *got.counts.entry(id).or_default() += 1;
                    got.files.push(path);
                }
            }
        }
        if got.counts.len() >= want {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "only {} of {want} messages {prefix}… arrived in {} within {within:?}",
            got.counts.len(),
            maildir.display()
        );
        std::thread::sleep(Duration::from_millis(100)); // polling a mailbox, bounded above
    }
}

/// What [`wait_delivered`] found.
#[derive(Debug, Default)]
pub struct Delivered {
    /// Files per Message-ID.
    pub counts: HashMap<String, usize>,
    /// The files that carry one of the Message-IDs.
    pub files: Vec<PathBuf>,
}

impl Delivered {
    /// The Message-IDs delivered more than once (should be none).
    #[allow(dead_code)]
    pub fn duplicates(&self) -> Vec<(&str, usize)> {
        self.counts.iter().filter(|(_, n)| **n > 1).map(|(id, n)| (id.as_str(), *n)).collect()
    }
}

/// The Message-ID header's value (`<…>`) of a stored message, from its header section only.
fn header_message_id(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(bytes).replace("\r\n", "\n");
    let head = text.split("\n\n").next().unwrap_or("");
    // Unfold: a line starting with white space continues the header above it.
    let head = head.replace("\n ", " ").replace("\n\t", " ");
    head.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("message-id").then(|| value.trim().to_owned())
    })
}

/// Waits (bounded) until the Postfix+Dovecot instance's queue holds no message: everything
/// it accepted has been delivered (or bounced). Queue files are readable by root only, as
/// the test servers run.
#[allow(dead_code)]
pub fn wait_queue_empty(within: Duration) {
    fn files(dir: &Path) -> usize {
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| if e.path().is_dir() { files(&e.path()) } else { 1 })
            .sum()
    }
    let queue = Path::new(var("RK_STATE")).join("postfix-dovecot/queue");
    let deadline = Instant::now() + within;
    loop {
        let n: usize = ["maildrop", "incoming", "active", "deferred"].iter().map(|q| files(&queue.join(q))).sum();
        if n == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "{n} messages still in {} after {within:?}", queue.display());
        std::thread::sleep(Duration::from_millis(100)); // polling the queue, bounded above
    }
}

/// Waits (bounded) for `want` Message-IDs starting with `prefix` in `maildir`, then for
/// Postfix's queue to drain (a duplicate or a late one would still be in it), and returns a
/// fresh scan: what finally arrived.
#[allow(dead_code)]
pub fn settled(maildir: &Path, prefix: &str, want: usize, since: SystemTime, within: Duration) -> Delivered {
    wait_delivered(maildir, prefix, want, since, within);
    wait_queue_empty(within);
    wait_delivered(maildir, prefix, 0, since, within)
}

/// [`settled`], checking that each of the `want` arrived exactly once.
#[allow(dead_code)]
pub fn assert_delivered_once(
    maildir: &Path,
    prefix: &str,
    want: usize,
    since: SystemTime,
    within: Duration,
) -> Delivered {
    let got = settled(maildir, prefix, want, since, within);
    assert_eq!(got.counts.len(), want, "more Message-IDs {prefix}… than were sent");
    assert!(got.duplicates().is_empty(), "delivered more than once: {:?}", got.duplicates());
    got
}
