//! Message JSON (`Message::from_json`), its preparation (`Message::prepare`) and the DATA/BDAT
//! encodings (`session::data`). Input: message JSON (attachments by `path` are left out: the
//! file system is not under test). The RRT context holds `~ACC::%evil%~`, whose value carries
//! a CRLF and a header, and `~ACC::%name%~`.
//!
//! Properties, for every message prepared:
//! - no header injection: every top-level header line is a header relaykit writes (From, To,
//!   Cc, Reply-To, Subject, Message-ID, Date, MIME-Version, Content-Type,
//!   Content-Transfer-Encoding) or one the JSON's `headers` named, as often as named, or a
//!   folded continuation; no Bcc header; every MIME part header is a Content-* header;
//! - the envelope (MAIL FROM, RCPT TO) holds no CR, LF or NUL;
//! - every line ends CRLF;
//! - dot-stuffing round-trips: what a receiver reads from the DATA encoding is the bytes
//!   (normalised to CRLF, CRLF-terminated), with nothing after the terminator, and the BDAT
//!   encoding is those bytes too. The same holds for the input bytes taken as a raw body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use relaykit::message::Content;
use relaykit::session::data::{encode_body, encode_chunk};
use relaykit::{Message, RrtContext};
use relaykit_fuzz::{all_crlf, normalize_crlf, unstuff, with_final_crlf};

const WRITTEN: [&str; 10] = [
    "from",
    "to",
    "cc",
    "reply-to",
    "subject",
    "message-id",
    "date",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
];
const PART: [&str; 5] =
    ["content-type", "content-transfer-encoding", "content-disposition", "content-id", "content-location"];

fn check_encodings(bytes: &[u8]) {
    let want = with_final_crlf(normalize_crlf(bytes));
    let mut data = Vec::new();
    encode_body(bytes, &mut data);
    assert!(all_crlf(&data), "DATA encoding has a bare CR or LF");
    assert_eq!(unstuff(&data).as_deref(), Some(want.as_slice()), "DATA encoding does not round-trip");
    let mut chunk = Vec::new();
    encode_chunk(bytes, &mut chunk);
    assert_eq!(chunk, want, "BDAT encoding");
}

/// Header lines (CRLF removed) of the block starting at `lines`, up to the empty line.
fn header_block<'a>(lines: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    lines.take_while(|l| !l.is_empty()).collect()
}

fn name_of(line: &str) -> Option<String> {
    if line.starts_with([' ', '\t']) {
        return None;
    }
    let (name, _) = line.split_once(':').unwrap_or_else(|| panic!("header line without a colon: {line:?}"));
    Some(name.to_ascii_lowercase())
}

fn boundaries(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("boundary=") {
        rest = &rest[i + 9..];
        let b = if let Some(q) = rest.strip_prefix('"') {
            q.split('"').next()
        } else {
            rest.split([';', '\r', ' ']).next()
        };
        if let Some(b) = b.filter(|b| !b.is_empty()) {
            out.push(format!("--{b}"));
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    check_encodings(data);
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(m) = Message::from_json(text) else { return };
    if m.attachments.iter().chain(&m.inline).any(|a| matches!(a.content, Content::Path(_))) {
        return;
    }
    let mut ctx = RrtContext::new().with_environment([("USER", "fuzz")]);
    ctx.set("ACC", "evil", "x\r\nX-Injected: 1").expect("context");
    ctx.set("ACC", "name", "Alice").expect("context");
    let Ok(p) = m.prepare(&ctx) else { return };

    for a in std::iter::once(&p.envelope_from).chain(&p.recipients) {
        assert!(!a.contains(['\r', '\n', '\0']), "envelope address {a:?}");
    }
    // The prepared bytes have no bare LF (a bare CR is left to the DATA/BDAT encoding, which
    // check_encodings proves turns it into CRLF on the wire).
    assert!(p.bytes.iter().enumerate().all(|(i, &c)| c != b'\n' || (i > 0 && p.bytes[i - 1] == b'\r')), "a bare LF");
    check_encodings(&p.bytes);
    if m.raw.is_some() {
        return; // a raw message's headers are the caller's bytes
    }

    let msg = String::from_utf8_lossy(&p.bytes);
    let top = header_block(msg.split("\r\n"));
    let mut named: Vec<String> = m.headers.iter().map(|(n, _)| n.to_ascii_lowercase()).collect();
    for line in &top {
        let Some(name) = name_of(line) else { continue };
        assert_ne!(name, "bcc", "a Bcc header was written");
        if WRITTEN.contains(&name.as_str()) {
            continue;
        }
        let i =
            named.iter().position(|n| *n == name).unwrap_or_else(|| panic!("header not named by the JSON: {line:?}"));
        named.swap_remove(i);
    }
    let lines: Vec<&str> = msg.split("\r\n").collect();
    for b in boundaries(&msg) {
        for (i, _) in lines.iter().enumerate().filter(|(_, l)| **l == b) {
            for line in header_block(lines[i + 1..].iter().copied()) {
                if let Some(name) = name_of(line) {
                    assert!(PART.contains(&name.as_str()), "MIME part header {line:?}");
                }
            }
        }
    }
});
