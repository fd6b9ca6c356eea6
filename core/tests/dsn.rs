//! DSN (RFC 3461), REQUIRETLS (RFC 8689) and List-Unsubscribe (RFC 2369/8058) against the real
//! test servers (`tests/servers/start.sh`): Postfix (dovecot role), which offers DSN and not
//! REQUIRETLS, delivers success notifications to the sender's Maildir; aiosmtpd keeps the exact
//! bytes it received and offers neither.

#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use relaykit::error::Cause;
use relaykit::{ErrorKind, Keyring, Message, Profile, RrtContext, SendOptions, Stage};
use serde_json::{Value, json};

mod servers_env;
use servers_env::var;

fn profile(port_key: &str, tls: bool) -> Profile {
    let mut p = json!({
        "server": var("RK_HOST"), "port": var(port_key).parse::<u16>().unwrap(), "timeout_secs": 10,
        "requires_authentication": true, "username": var("RK_USER"), "password": var("RK_PASS"),
    });
    if tls {
        p["encrypted_connection"] = json!(true);
        p["tls_mode"] = json!("starttls");
        p["tls_ca_file"] = json!(var("RK_CA_FILE"));
    } else {
        p["starttls"] = json!("never");
    }
    Profile::from_json_value(&p).unwrap()
}

fn send(p: &Profile, m: &Message) -> relaykit::Result<relaykit::SendResult> {
    relaykit::send(p, &Keyring::new(), &RrtContext::new(), m, &SendOptions::default())
}

fn files(dir: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.parent().and_then(Path::file_name).is_none_or(|d| d != "tmp")
                && p.extension().is_none_or(|x| x != "json" && x != "tmp")
            {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, &mut out);
    out
}

fn find(dir: &Path, needle: &str) -> Option<String> {
    files(dir)
        .into_iter()
        .filter_map(|f| std::fs::read(f).ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .find(|t| t.contains(needle))
}

/// Waits (bounded, 30 s) for a finished file under `dir` containing `needle`.
fn wait_for(dir: &Path, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(t) = find(dir, needle) {
            return t;
        }
        assert!(Instant::now() < deadline, "nothing containing {needle} arrived under {} within 30 s", dir.display());
        std::thread::sleep(Duration::from_millis(100)); // polling a mailbox, bounded above
    }
}

fn unique(tag: &str) -> String {
    let mut b = [0u8; 8];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom").unwrap(), &mut b).unwrap();
    format!("{tag}-{}-{:016x}", std::process::id(), u64::from_le_bytes(b))
}

fn message(id: &str, dsn: &Value) -> Message {
    Message::from_json_value(&json!({
        "from": var("RK_USER"), "to": var("RK_RCPT"), "subject": id, "text": format!("body {id}\r\n"),
        "message_id": format!("<{id}@relaykit.test>"), "dsn": dsn,
    }))
    .unwrap()
}

fn mailbox(user: &str) -> PathBuf {
    let local = user.split('@').next().unwrap();
    Path::new(var("RK_DOVECOT_MAIL_DIR")).join(var("RK_DOMAIN")).join(local)
}

#[test]
fn notify_success_brings_a_notification_matched_by_envid_and_never_brings_none() {
    let p = profile("RK_DOVECOT_STARTTLS_PORT", true);
    let alice = mailbox(var("RK_USER"));
    let carol = mailbox(var("RK_RCPT"));
    // NEVER first: its notification, if Postfix wrongly made one, is queued before the marker's.
    let never = unique("dsn-never");
    send(&p, &message(&never, &json!({"envid": never, "notify": ["never"], "ret": "hdrs"}))).unwrap();
    wait_for(&carol, &never);
    let ok = unique("dsn-success");
    send(&p, &message(&ok, &json!({"envid": ok, "notify": ["success"], "ret": "hdrs", "orcpt": true}))).unwrap();
    wait_for(&carol, &ok);
    let report = wait_for(&alice, &format!("Original-Envelope-Id: {ok}"));
    assert!(report.contains("multipart/report") && report.contains("delivery-status"), "{report}");
    assert!(report.contains("Action: delivered"), "{report}");
    assert!(report.contains(&format!("Original-Recipient: rfc822;{}", var("RK_RCPT"))), "{report}");
    assert!(find(&alice, &format!("Original-Envelope-Id: {never}")).is_none(), "NOTIFY=NEVER brought a notification");
}

#[test]
fn a_required_dsn_fails_before_mail_at_a_server_without_dsn_and_an_optional_one_is_dropped() {
    let p = profile("RK_AIOSMTPD_PORT", false);
    let id = unique("dsn-required");
    let e = send(&p, &message(&id, &json!({"envid": id, "notify": ["failure"]}))).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::MessageRejected);
    assert_eq!(e.cause(), Some(&Cause::DsnRequired));
    assert_eq!(e.stage(), Some(Stage::MailFrom));
    assert!(e.hint().is_some_and(|h| h.contains("dsn.required")), "{:?}", e.hint());
    let id2 = unique("dsn-optional");
    send(&p, &message(&id2, &json!({"envid": id2, "notify": ["failure"], "required": false}))).unwrap();
    let got = wait_for(Path::new(var("RK_AIOSMTPD_DIR")), &id2);
    assert!(got.contains(&format!("Subject: {id2}")));
    assert!(find(Path::new(var("RK_AIOSMTPD_DIR")), &format!("Subject: {id}")).is_none(), "the refused one was sent");
}

#[test]
fn requiretls_fails_before_data_at_postfix_which_does_not_offer_it() {
    for tls in [true, false] {
        let port = if tls { "RK_DOVECOT_STARTTLS_PORT" } else { "RK_DOVECOT_PLAIN_PORT" };
        let id = unique("requiretls");
        let mut m = message(&id, &Value::Null);
        m.dsn = None;
        m.requiretls = true;
        let e = send(&profile(port, tls), &m).unwrap_err();
        assert_eq!(e.cause(), Some(&Cause::NoRequireTls), "{e}");
        assert_eq!(e.stage(), Some(Stage::MailFrom));
        assert!(e.to_string().contains("REQUIRETLS"), "{e}");
        let why = if tls { "does not offer REQUIRETLS" } else { "not over TLS" };
        assert!(e.to_string().contains(why), "{e}");
        assert!(e.hint().is_some_and(|h| h.contains("REQUIRETLS")));
    }
}

#[test]
fn list_unsubscribe_headers_arrive() {
    let id = unique("unsub");
    let m = Message::from_json_value(&json!({
        "from": var("RK_USER"), "to": var("RK_RCPT"), "subject": id, "text": "hi\r\n",
        "list_unsubscribe": ["https://relaykit.test/unsub?u=1", "mailto:unsub@relaykit.test?subject=unsubscribe"],
        "list_unsubscribe_post": true,
    }))
    .unwrap();
    send(&profile("RK_AIOSMTPD_PORT", false), &m).unwrap();
    // Long headers may be folded (RFC 5322 §2.2.3); compare unfolded.
    let got = wait_for(Path::new(var("RK_AIOSMTPD_DIR")), &format!("Subject: {id}")).replace("\r\n ", " ");
    assert!(
        got.contains(
            "\r\nList-Unsubscribe: <https://relaykit.test/unsub?u=1>, <mailto:unsub@relaykit.test?subject=unsubscribe>\r\n"
        ),
        "{got}"
    );
    assert!(got.contains("\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"), "{got}");
}

#[test]
fn bad_fields_are_refused_naming_them() {
    let cases = [
        (json!({"dsn": {"notify": ["never", "success"]}}), "message.dsn.notify"),
        (json!({"dsn": {"envid": "caf\u{e9}"}}), "message.dsn.envid"),
        (json!({"list_unsubscribe": ["http://relaykit.test/u"]}), "message.list_unsubscribe[0]"),
        (
            json!({"list_unsubscribe": ["mailto:u@relaykit.test"], "list_unsubscribe_post": true}),
            "message.list_unsubscribe_post",
        ),
    ];
    for (extra, field) in cases {
        let mut v = json!({"from": "a@relaykit.test", "to": "b@relaykit.test", "text": "x"});
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        let e = Message::from_json_value(&v).unwrap().prepare(&RrtContext::new()).unwrap_err();
        assert!(e.message().starts_with(&format!("{field}:")), "{field}: {e}");
    }
}

/// aiosmtpd advertises REQUIRETLS (`--advertise REQUIRETLS` in `tests/servers/start.sh`) and
/// records the MAIL FROM parameters in the `.json` next to each message.
#[test]
fn requiretls_is_sent_over_starttls_to_a_server_that_offers_it_and_refused_in_clear() {
    let id = unique("requiretls-ok");
    let mut m = message(&id, &Value::Null);
    (m.dsn, m.requiretls) = (None, true);
    send(&profile("RK_AIOSMTPD_PORT", true), &m).unwrap();
    let dir = Path::new(var("RK_AIOSMTPD_DIR"));
    // The envelope .json (written last, atomically) whose message_id is ours; bounded poll.
    let want = format!("<{id}@relaykit.test>");
    let deadline = Instant::now() + Duration::from_secs(10);
    let meta: Value = loop {
        let found = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .filter_map(|e| serde_json::from_str::<Value>(&std::fs::read_to_string(e.path()).ok()?).ok())
            .find(|v| v["message_id"] == want.as_str());
        if let Some(v) = found {
            break v;
        }
        assert!(Instant::now() < deadline, "no envelope for {want} under {} within 10 s", dir.display());
        std::thread::sleep(Duration::from_millis(50)); // polling a directory, bounded above
    };
    assert_eq!(meta["tls"], true);
    assert!(meta["mail_options"].as_array().unwrap().iter().any(|o| o == "REQUIRETLS"), "{meta}");
    // The same server in clear: refused before MAIL, nothing stored.
    let id2 = unique("requiretls-clear");
    let mut m = message(&id2, &Value::Null);
    (m.dsn, m.requiretls) = (None, true);
    let e = send(&profile("RK_AIOSMTPD_PORT", false), &m).unwrap_err();
    assert_eq!(e.cause(), Some(&Cause::NoRequireTls), "{e}");
    assert!(find(dir, &format!("Subject: {id2}")).is_none());
}
