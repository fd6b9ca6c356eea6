//! Text from a server, cleaned of the session's secrets before anyone sees it.
//!
//! A server may repeat what the client sent: a 535 whose text quotes the base64 AUTH payload,
//! a broken proxy that echoes the line, a SCRAM `e=` value that carries the password. Every
//! string derived from a server reply passes through [`Secrets::scrub`] before it reaches an
//! error, a report, a trace line or a log record. The session registers what it must not
//! repeat: the password (as it is, and its UTF-8 base64 at each of the three alignments a
//! longer base64 payload can put it at) and the exact base64 of every AUTH response it sent
//! (the PLAIN and LOGIN payloads, an XOAUTH2 token's, NTLM's and SCRAM's messages).

use std::borrow::Cow;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use zeroize::Zeroizing;

use crate::auth::REDACTED;
use crate::error::Reply;

/// A password shorter than this is not searched for as plain text: scrubbing every `ab` out of
/// server text would garble it while hiding next to nothing. Its base64 forms still are.
const MIN_PLAIN: usize = 4;
/// Base64 fragments shorter than this are not searched for (too likely to occur by chance).
const MIN_ENCODED: usize = 6;

/// The secrets one session must never repeat. Each pattern is zeroized when dropped.
#[derive(Default, Clone)]
pub(crate) struct Secrets {
    /// Longest first, so a pattern that contains another is replaced whole.
    patterns: Vec<Zeroizing<String>>,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secrets({} patterns)", self.patterns.len())
    }
}

impl Secrets {
    /// Registers a password (or token): as it is, and every base64 fragment that encodes only its
    /// bytes, whatever precedes it in the encoded payload (0, 1 or 2 bytes modulo 3).
    pub(crate) fn add_password(&mut self, password: &str) {
        self.add(password.to_owned(), MIN_PLAIN);
        let n = password.len();
        for pad in 0..3usize {
            let mut raw = Zeroizing::new(vec![0u8; pad]);
            raw.extend_from_slice(password.as_bytes());
            let enc = Zeroizing::new(B64.encode(&*raw));
            // Characters carry 6 bits; those entirely inside the password's bits.
            let start = (pad * 8).div_ceil(6);
            let end = (pad + n) * 8 / 6;
            if end > start {
                self.add(enc[start..end].to_owned(), MIN_ENCODED);
            }
        }
    }

    /// Registers the exact text of a credential the client sent (a base64 AUTH response).
    pub(crate) fn add_sent(&mut self, text: &str) {
        let text = text.trim_end_matches('=');
        self.add(text.to_owned(), MIN_ENCODED);
    }

    /// Adds `pattern` unless it is shorter than `min` or already there.
    fn add(&mut self, pattern: String, min: usize) {
        let pattern = Zeroizing::new(pattern);
        if pattern.len() < min || self.patterns.iter().any(|p| **p == *pattern) {
            return;
        }
        let at = self.patterns.iter().position(|p| p.len() < pattern.len()).unwrap_or(self.patterns.len());
        self.patterns.insert(at, pattern);
    }

    /// `text` with every registered secret replaced by [`REDACTED`].
    pub(crate) fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for p in &self.patterns {
            if out.contains(p.as_str()) {
                out = Cow::Owned(out.replace(p.as_str(), REDACTED));
            }
        }
        out
    }

    /// Scrubs `s` in place.
    pub(crate) fn scrub_string(&self, s: &mut String) {
        if let Cow::Owned(clean) = self.scrub(s) {
            *s = clean;
        }
    }

    /// Scrubs a reply's text in place.
    pub(crate) fn scrub_reply(&self, r: &mut Reply) {
        self.scrub_string(&mut r.text);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    fn secrets(pw: &str) -> Secrets {
        let mut s = Secrets::default();
        s.add_password(pw);
        s
    }

    #[test]
    fn the_password_and_its_base64_at_every_alignment_are_scrubbed() {
        let pw = "correct horse battery";
        let s = secrets(pw);
        assert_eq!(s.scrub(&format!("535 no {pw} here")), "535 no <redacted> here");
        // PLAIN's payload puts the password after `\0user\0`, LOGIN's alone, XOAUTH2's inside
        // `auth=Bearer ...`: each prefix length modulo 3 shifts its base64 differently.
        for prefix in ["", "\0", "\0u", "\0user\0", "\0users\0", "user=x\x01auth=Bearer "] {
            let payload = format!("{prefix}{pw}\x01\x01");
            let enc = B64.encode(payload.as_bytes());
            let clean = s.scrub(&enc);
            assert!(clean.contains(REDACTED), "{prefix:?}: {enc} -> {clean}");
            // What is left is the prefix's and suffix's encoding and at most the two characters
            // on each side that mix their bits with the password's.
            let rest = clean.replace(REDACTED, "");
            let others = B64.encode(format!("{prefix}\x01\x01").as_bytes()).len();
            assert!(rest.len() <= others + 4, "{prefix:?}: {enc} -> {clean}");
        }
    }

    #[test]
    fn sent_payloads_are_scrubbed_with_or_without_padding() {
        let mut s = Secrets::default();
        s.add_sent("AHVzZXIAcGFzcw==");
        assert_eq!(s.scrub("535 5.7.8 AHVzZXIAcGFzcw== is wrong"), "535 5.7.8 <redacted>== is wrong");
        assert_eq!(s.scrub("nothing to hide"), "nothing to hide");
        assert!(matches!(s.scrub("nothing to hide"), Cow::Borrowed(_)));
    }

    #[test]
    fn short_passwords_are_not_searched_as_text_but_their_encodings_are() {
        let s = secrets("ab");
        assert_eq!(s.scrub("about a tab"), "about a tab");
        let s = secrets("abcd");
        assert_eq!(s.scrub("xabcdx"), "x<redacted>x");
    }

    #[test]
    fn reply_text_is_scrubbed_and_debug_shows_no_secret() {
        let s = secrets("hunter2-secret");
        let mut r = Reply { code: 535, enhanced_code: None, text: "bad password hunter2-secret".into() };
        s.scrub_reply(&mut r);
        assert_eq!(r.text, "bad password <redacted>");
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
