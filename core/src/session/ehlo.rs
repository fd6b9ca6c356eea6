//! What the server said it supports: the EHLO reply (RFC 5321 §4.1.1.1) parsed into keywords.

use crate::error::Reply;

/// The server's extensions, from its EHLO reply (or none after a HELO fallback).
// One flag per EHLO keyword is what the protocol is; an enum set would only obscure it.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extensions {
    /// The first line of the EHLO reply, e.g. `mail.example.com Hello client [192.0.2.1]`.
    pub greeting: String,
    /// Every keyword line after the first, in the server's order and spelling (`SIZE 10240000`,
    /// `AUTH PLAIN LOGIN`), for reports.
    pub lines: Vec<String>,
    /// Whether the session fell back to HELO (the server does not speak ESMTP).
    pub helo_fallback: bool,
    /// `SIZE`: the largest message the server accepts, when it gave a non-zero limit.
    pub size: Option<u64>,
    /// `AUTH` (and the legacy `AUTH=`): the mechanisms, upper-cased, without duplicates, in the
    /// server's order.
    pub auth: Vec<String>,
    /// `PIPELINING` (RFC 2920).
    pub pipelining: bool,
    /// `8BITMIME` (RFC 6152).
    pub eight_bit_mime: bool,
    /// `SMTPUTF8` (RFC 6531).
    pub smtputf8: bool,
    /// `STARTTLS` (RFC 3207).
    pub starttls: bool,
    /// `CHUNKING` (RFC 3030).
    pub chunking: bool,
    /// `DSN` (RFC 3461).
    pub dsn: bool,
    /// `ENHANCEDSTATUSCODES` (RFC 2034).
    pub enhanced_status_codes: bool,
}

impl Extensions {
    /// Parses a positive EHLO reply.
    pub fn from_ehlo(reply: &Reply) -> Extensions {
        let mut lines = reply.text.split('\n');
        let mut ext =
            Extensions { greeting: lines.next().unwrap_or_default().trim_end().to_owned(), ..Extensions::default() };
        for line in lines {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            ext.lines.push(line.to_owned());
            let (keyword, params) = split_keyword(line);
            let keyword = keyword.to_ascii_uppercase();
            match keyword.as_str() {
                "SIZE" => {
                    ext.size = params.split_whitespace().next().and_then(|v| v.parse().ok());
                    if ext.size == Some(0) {
                        ext.size = None;
                    }
                }
                "AUTH" => {
                    for m in params.split_whitespace() {
                        let m = m.to_ascii_uppercase();
                        if !ext.auth.contains(&m) {
                            ext.auth.push(m);
                        }
                    }
                }
                "PIPELINING" => ext.pipelining = true,
                "8BITMIME" => ext.eight_bit_mime = true,
                "SMTPUTF8" => ext.smtputf8 = true,
                "STARTTLS" => ext.starttls = true,
                "CHUNKING" => ext.chunking = true,
                "DSN" => ext.dsn = true,
                "ENHANCEDSTATUSCODES" => ext.enhanced_status_codes = true,
                _ => {}
            }
        }
        ext
    }

    /// The extensions after a HELO: none, with the server's HELO greeting.
    pub fn from_helo(reply: &Reply) -> Extensions {
        Extensions {
            greeting: reply.text.split('\n').next().unwrap_or_default().to_owned(),
            helo_fallback: true,
            ..Extensions::default()
        }
    }

    /// Whether the server advertised `keyword` (case-insensitive; `AUTH=` counts as `AUTH`).
    pub fn has(&self, keyword: &str) -> bool {
        self.param(keyword).is_some()
    }

    /// The parameters after `keyword` (empty when it had none), if the server advertised it.
    pub fn param(&self, keyword: &str) -> Option<&str> {
        self.lines.iter().find_map(|l| {
            let (k, p) = split_keyword(l);
            k.eq_ignore_ascii_case(keyword).then_some(p)
        })
    }

    /// Whether the server offers the SASL mechanism `mech` (case-insensitive).
    pub fn supports_auth(&self, mech: &str) -> bool {
        self.auth.iter().any(|m| m.eq_ignore_ascii_case(mech))
    }
}

/// `AUTH PLAIN LOGIN` → (`AUTH`, `PLAIN LOGIN`); legacy `AUTH=PLAIN LOGIN` → (`AUTH`, `PLAIN LOGIN`).
fn split_keyword(line: &str) -> (&str, &str) {
    let end = line.find([' ', '=']).unwrap_or(line.len());
    let keyword = &line[..end];
    let params = line.get(end + 1..).unwrap_or("").trim();
    (keyword, params)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;
    use crate::session::reply::parse_reply;

    fn ext(raw: &str) -> Extensions {
        let (reply, _) = parse_reply(raw.as_bytes()).unwrap().unwrap();
        Extensions::from_ehlo(&reply)
    }

    #[test]
    fn postfix() {
        let e = ext("250-mail.example.org\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n\
                     250-ETRN\r\n250-STARTTLS\r\n250-AUTH PLAIN LOGIN\r\n250-AUTH=PLAIN LOGIN\r\n\
                     250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n\
                     250 CHUNKING\r\n");
        assert_eq!(e.greeting, "mail.example.org");
        assert_eq!(e.size, Some(10_240_000));
        assert_eq!(e.auth, ["PLAIN", "LOGIN"]);
        assert!(e.pipelining && e.starttls && e.enhanced_status_codes && e.eight_bit_mime);
        assert!(e.dsn && e.smtputf8 && e.chunking);
        assert!(!e.helo_fallback);
        assert_eq!(e.lines[1], "SIZE 10240000");
        assert_eq!(e.lines[5], "AUTH PLAIN LOGIN");
        assert_eq!(e.lines.len(), 12);
        assert!(e.has("vrfy") && e.has("ETRN") && !e.has("XCLIENT"));
        assert_eq!(e.param("SIZE"), Some("10240000"));
    }

    #[test]
    fn dovecot_submission() {
        let e = ext("250-imap.example.org\r\n250-8BITMIME\r\n250-AUTH PLAIN SCRAM-SHA-256 SCRAM-SHA-1\r\n\
                     250-BURL imap\r\n250-CHUNKING\r\n250-ENHANCEDSTATUSCODES\r\n250-SIZE\r\n\
                     250 PIPELINING\r\n");
        assert_eq!(e.auth, ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-1"]);
        assert_eq!(e.size, None);
        assert!(e.has("SIZE"));
        assert!(e.supports_auth("scram-sha-256"));
        assert!(!e.starttls);
    }

    #[test]
    fn exchange() {
        let e = ext("250-EX01.corp.example.com Hello [10.0.0.5]\r\n250-SIZE 37748736\r\n\
                     250-PIPELINING\r\n250-DSN\r\n250-ENHANCEDSTATUSCODES\r\n250-STARTTLS\r\n\
                     250-AUTH GSSAPI NTLM\r\n250-8BITMIME\r\n250-BINARYMIME\r\n250-CHUNKING\r\n\
                     250 XRDST\r\n");
        assert_eq!(e.greeting, "EX01.corp.example.com Hello [10.0.0.5]");
        assert_eq!(e.size, Some(37_748_736));
        assert_eq!(e.auth, ["GSSAPI", "NTLM"]);
        assert!(e.has("BINARYMIME") && e.has("xrdst"));
    }

    #[test]
    fn gmail() {
        let e = ext("250-smtp.gmail.com at your service, [203.0.113.7]\r\n250-SIZE 35882577\r\n\
                     250-8BITMIME\r\n250-AUTH LOGIN PLAIN XOAUTH2 PLAIN-CLIENTTOKEN OAUTHBEARER XOAUTH\r\n\
                     250-ENHANCEDSTATUSCODES\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 SMTPUTF8\r\n");
        assert_eq!(e.auth, ["LOGIN", "PLAIN", "XOAUTH2", "PLAIN-CLIENTTOKEN", "OAUTHBEARER", "XOAUTH"]);
        assert_eq!(e.size, Some(35_882_577));
    }

    #[test]
    fn legacy_auth_equals_only_and_lowercase_keywords() {
        let e = ext("250-old.example\r\n250-auth=login cram-md5\r\n250 size 1000\r\n");
        assert_eq!(e.auth, ["LOGIN", "CRAM-MD5"]);
        assert_eq!(e.size, Some(1000));
    }

    #[test]
    fn single_line_ehlo() {
        let e = ext("250 tiny.example\r\n");
        assert_eq!(e.greeting, "tiny.example");
        assert!(e.lines.is_empty() && e.auth.is_empty() && !e.pipelining);
    }
}
