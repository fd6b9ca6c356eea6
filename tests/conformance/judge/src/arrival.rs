//! `arrives_in` (README "Checks on every outcome"): every message a send or mailer case reports
//! delivered must be found, once, in each Maildir the case names, by its Message-ID. So a case
//! proves what arrived, not only what the server answered, in every language alike.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long a message may take to appear (Postfix's queue manager, Dovecot's delivery).
pub const WITHIN: Duration = Duration::from_secs(30);

/// The Message-IDs of the messages `outcome` reports delivered (a send's `result`, a mailer
/// case's `outcomes[*].result`), each with where it is in the outcome.
pub fn delivered_ids(outcome: &Value) -> Vec<(String, String)> {
    let one = |o: &Value, path: String| -> Option<(String, String)> {
        if o.get("status").and_then(Value::as_str) != Some("ok") {
            return None;
        }
        let id = o.get("result")?.get("message_id")?.as_str()?;
        Some((path, id.to_owned()))
    };
    match outcome.get("outcomes").and_then(Value::as_array) {
        Some(list) => list.iter().enumerate().filter_map(|(i, o)| one(o, format!("$.outcomes[{i}]"))).collect(),
        None => one(outcome, "$".to_owned()).into_iter().collect(),
    }
}

/// The problems with `ids` arriving in `maildirs`: a message found nowhere within
/// [`WITHIN`], or more than once; none when every one is there exactly once.
pub fn problems(maildirs: &[String], ids: &[(String, String)]) -> Vec<String> {
    let mut out = Vec::new();
    if ids.is_empty() {
        out.push("arrives_in: the outcome reports no delivered message to look for".to_owned());
    }
    for dir in maildirs {
        let deadline = Instant::now() + WITHIN;
        let mut missing: Vec<&(String, String)> = ids.iter().collect();
        loop {
            let files = files(Path::new(dir));
            missing.retain(|(path, id)| match files.iter().filter(|f| holds(f, id)).count() {
                0 => true,
                1 => false,
                n => {
                    out.push(format!("{path}: its message is in {dir} {n} times, not once"));
                    false
                }
            });
            if missing.is_empty() || Instant::now() >= deadline {
                break;
            }
            // A bounded poll of the Maildir: delivery is another process's work.
            std::thread::sleep(Duration::from_millis(100));
        }
        for (path, _) in missing {
            out.push(format!("{path}: its message did not arrive in {dir} within {} s", WITHIN.as_secs()));
        }
    }
    out
}

/// The delivered files of a Maildir (`new/` and `cur/`; `tmp/` is still being written).
fn files(maildir: &Path) -> Vec<PathBuf> {
    ["new", "cur"]
        .iter()
        .flat_map(|sub| std::fs::read_dir(maildir.join(sub)).into_iter().flatten().flatten().map(|e| e.path()))
        .collect()
}

/// Whether the header of the message in `file` has `Message-ID: id`.
fn holds(file: &Path, id: &str) -> bool {
    let Ok(bytes) = std::fs::read(file) else { return false };
    let text = String::from_utf8_lossy(&bytes);
    let head = text.split("\r\n\r\n").next().unwrap_or_default();
    let head = head.split("\n\n").next().unwrap_or_default();
    head.lines().any(|l| {
        l.split_once(':').is_some_and(|(name, value)| name.eq_ignore_ascii_case("message-id") && value.trim() == id)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_come_from_delivered_messages_only_and_arrival_is_counted() {
        let mailer = json!({"status": "ok", "outcomes": [
            {"status": "ok", "result": {"message_id": "<a@x.test>"}},
            {"status": "error", "error": {}},
            {"status": "ok", "result": {"message_id": "<b@x.test>"}}]});
        assert_eq!(
            delivered_ids(&mailer),
            [
                ("$.outcomes[0]".to_owned(), "<a@x.test>".to_owned()),
                ("$.outcomes[2]".to_owned(), "<b@x.test>".to_owned())
            ]
        );
        let dir = std::env::temp_dir().join(format!("rk-arrival-{}", std::process::id()));
        for sub in ["new", "cur", "tmp"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        std::fs::write(dir.join("new/1"), "Subject: x\r\nMessage-ID: <a@x.test>\r\n\r\nMessage-ID: <b@x.test>\r\n")
            .unwrap();
        std::fs::write(dir.join("cur/2"), "message-id:  <c@x.test>\n\nbody\n").unwrap();
        std::fs::write(dir.join("cur/3"), "Message-ID: <c@x.test>\n\nbody\n").unwrap();
        let d = dir.display().to_string();
        assert!(problems(std::slice::from_ref(&d), &[("$".into(), "<a@x.test>".into())]).is_empty());
        let twice = problems(std::slice::from_ref(&d), &[("$".into(), "<c@x.test>".into())]);
        assert!(twice[0].contains("2 times"), "{twice:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
