//! The SMTP reply parser (RFC 5321 §4.2): sans-I/O, works on whatever bytes are buffered.
//!
//! [`parse_reply`] either finds one complete reply at the start of the buffer, says it needs more
//! bytes, or rejects the input. It never panics, whatever the bytes (a proptest checks this).

use crate::error::Reply;

/// Longest reply line accepted, CRLF included. RFC 5321 says 512; real servers (long EHLO AUTH
/// lists, Exchange banners, XOAUTH2 JSON challenges) go beyond it, so be lenient.
pub const MAX_LINE: usize = 8 * 1024;
/// Most lines in one reply.
pub const MAX_LINES: usize = 1000;

/// Why bytes from the server are not an SMTP reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// A line is longer than [`MAX_LINE`].
    LineTooLong,
    /// A reply has more than [`MAX_LINES`] lines.
    TooManyLines,
    /// A line does not start with a three-digit code from 200 to 599 and a separator.
    BadLine(String),
    /// The lines of a multi-line reply carry different codes.
    InconsistentCodes(u16, u16),
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParseError::LineTooLong => write!(f, "a reply line is longer than {MAX_LINE} bytes"),
            ParseError::TooManyLines => write!(f, "a reply has more than {MAX_LINES} lines"),
            ParseError::BadLine(l) => write!(f, "not an SMTP reply line: {l:?}"),
            ParseError::InconsistentCodes(a, b) => {
                write!(f, "a multi-line reply mixes the codes {a} and {b}")
            }
        }
    }
}

/// Parses one reply from the start of `buf`.
///
/// Returns `Ok(Some((reply, consumed)))` when a complete reply is there, `Ok(None)` when more
/// bytes are needed, and `Err` when the bytes are not a reply. Lines end in CRLF; a bare LF is
/// accepted. The enhanced status code (RFC 3463) is taken from the first line when its text
/// starts with `class.subject.detail` whose class matches the reply code's first digit, and
/// stripped from every line that repeats it.
pub fn parse_reply(buf: &[u8]) -> Result<Option<(Reply, usize)>, ParseError> {
    let mut pos = 0;
    let mut code: Option<u16> = None;
    let mut lines: Vec<&[u8]> = Vec::new();
    loop {
        let rest = &buf[pos..];
        let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
            if rest.len() >= MAX_LINE {
                return Err(ParseError::LineTooLong);
            }
            return Ok(None);
        };
        if nl + 1 > MAX_LINE {
            return Err(ParseError::LineTooLong);
        }
        let mut line = &rest[..nl];
        if let [head @ .., b'\r'] = line {
            line = head;
        }
        pos += nl + 1;
        let (this_code, last, text) = split_line(line)?;
        match code {
            None => code = Some(this_code),
            Some(c) if c != this_code => return Err(ParseError::InconsistentCodes(c, this_code)),
            Some(_) => {}
        }
        lines.push(text);
        if last {
            return Ok(Some((build(this_code, &lines), pos)));
        }
        if lines.len() >= MAX_LINES {
            return Err(ParseError::TooManyLines);
        }
    }
}

/// Splits `250-text` / `250 text` / `250` into the code, whether it is the last line, and text.
fn split_line(line: &[u8]) -> Result<(u16, bool, &[u8]), ParseError> {
    let bad = || ParseError::BadLine(String::from_utf8_lossy(&line[..line.len().min(80)]).into());
    let [a, b, c, rest @ ..] = line else {
        return Err(bad());
    };
    if !(b'2'..=b'5').contains(a) || !b.is_ascii_digit() || !c.is_ascii_digit() {
        return Err(bad());
    }
    let code = u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0');
    match rest {
        [] => Ok((code, true, rest)),
        [b' ', text @ ..] => Ok((code, true, text)),
        [b'-', text @ ..] => Ok((code, false, text)),
        _ => Err(bad()),
    }
}

fn build(code: u16, lines: &[&[u8]]) -> Reply {
    let class = u8::try_from(code / 100).unwrap_or(0) + b'0';
    let enhanced = lines.first().and_then(|l| enhanced_prefix(l, class));
    let mut text = String::new();
    for (i, line) in lines.iter().enumerate() {
        if i > 0 {
            text.push('\n');
        }
        let mut l: &[u8] = line;
        if let Some(e) = enhanced {
            if l.starts_with(e) && (l.len() == e.len() || l[e.len()] == b' ') {
                l = l[e.len()..].strip_prefix(b" ").unwrap_or(&l[e.len()..]);
            }
        }
        text.push_str(&String::from_utf8_lossy(l));
    }
    Reply { code, enhanced_code: enhanced.map(|e| String::from_utf8_lossy(e).into_owned()), text }
}

/// The `X.Y.Z` at the start of `text` (RFC 3463: class 2, 4 or 5, then 1–3 digits twice),
/// followed by a space or the end of the line, when the class is `class`.
fn enhanced_prefix(text: &[u8], class: u8) -> Option<&[u8]> {
    if !matches!(class, b'2' | b'4' | b'5') || text.first() != Some(&class) {
        return None;
    }
    let mut i = 1;
    for _ in 0..2 {
        if text.get(i) != Some(&b'.') {
            return None;
        }
        i += 1;
        let start = i;
        while i < text.len() && text[i].is_ascii_digit() && i - start < 3 {
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    match text.get(i) {
        None | Some(b' ') => Some(&text[..i]),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn one(s: &str) -> Reply {
        let (r, n) = parse_reply(s.as_bytes()).unwrap().unwrap();
        assert_eq!(n, s.len());
        r
    }

    #[test]
    fn single_line() {
        let r = one("250 2.1.0 Ok\r\n");
        assert_eq!(r.code, 250);
        assert_eq!(r.enhanced_code.as_deref(), Some("2.1.0"));
        assert_eq!(r.text, "Ok");
    }

    #[test]
    fn bare_code_and_bare_lf() {
        let r = one("354\n");
        assert_eq!((r.code, r.text.as_str(), r.enhanced_code), (354, "", None));
    }

    #[test]
    fn multi_line_strips_repeated_enhanced_code() {
        let r = one("550-5.7.1 Message rejected\r\n550-5.7.1 see https://x.example/why\r\n550 5.7.1 bye\r\n");
        assert_eq!(r.enhanced_code.as_deref(), Some("5.7.1"));
        assert_eq!(r.text, "Message rejected\nsee https://x.example/why\nbye");
    }

    #[test]
    fn enhanced_code_needs_matching_class_and_shape() {
        assert_eq!(one("250 4.1.0 x\r\n").enhanced_code, None);
        assert_eq!(one("250 2.1 x\r\n").enhanced_code, None);
        assert_eq!(one("250 2.1.0000 x\r\n").enhanced_code, None);
        assert_eq!(one("250 2.1.0x\r\n").enhanced_code, None);
        assert_eq!(one("535 5.7.8\r\n").enhanced_code.as_deref(), Some("5.7.8"));
        // 334 challenges are base64 and never carry one.
        assert_eq!(one("334 VXNlcm5hbWU6\r\n").text, "VXNlcm5hbWU6");
    }

    #[test]
    fn incomplete_needs_more() {
        assert_eq!(parse_reply(b""), Ok(None));
        assert_eq!(parse_reply(b"250-a\r\n250-b\r\n"), Ok(None));
        assert_eq!(parse_reply(b"250 partial"), Ok(None));
    }

    #[test]
    fn leaves_following_bytes() {
        let buf = b"250 a\r\n354 go\r\n";
        let (r, n) = parse_reply(buf).unwrap().unwrap();
        assert_eq!((r.code, n), (250, 7));
        let (r, _) = parse_reply(&buf[n..]).unwrap().unwrap();
        assert_eq!(r.code, 354);
    }

    #[test]
    fn rejects_garbage() {
        assert!(matches!(parse_reply(b"hello\r\n"), Err(ParseError::BadLine(_))));
        assert!(matches!(parse_reply(b"25\r\n"), Err(ParseError::BadLine(_))));
        assert!(matches!(parse_reply(b"150 x\r\n"), Err(ParseError::BadLine(_))));
        assert!(matches!(parse_reply(b"250x\r\n"), Err(ParseError::BadLine(_))));
        assert!(matches!(parse_reply(b"\x16\x03\x03\x00\x2a\x02\r\n"), Err(ParseError::BadLine(_))));
        assert_eq!(parse_reply(b"250-a\r\n251 b\r\n"), Err(ParseError::InconsistentCodes(250, 251)));
    }

    #[test]
    fn bounds_line_length_and_count() {
        let long = vec![b'2'; MAX_LINE + 1];
        assert_eq!(parse_reply(&long), Err(ParseError::LineTooLong));
        let mut ok_long = b"250 ".to_vec();
        ok_long.extend(std::iter::repeat_n(b'a', MAX_LINE - 6));
        ok_long.extend(b"\r\n");
        assert!(matches!(parse_reply(&ok_long), Ok(Some(_))));
        let many = "250-x\r\n".repeat(MAX_LINES + 1);
        assert_eq!(parse_reply(many.as_bytes()), Err(ParseError::TooManyLines));
    }

    #[test]
    fn non_utf8_text_is_lossy_not_an_error() {
        let r = one("220 caf\u{e9} \r\n");
        assert_eq!(r.text, "caf\u{e9} ");
        let (r, _) = parse_reply(b"220 \xff\xfe\r\n").unwrap().unwrap();
        assert_eq!(r.code, 220);
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = parse_reply(&bytes);
        }

        #[test]
        fn never_panics_on_reply_like_input(
            lines in proptest::collection::vec("[2-5][0-9]{2}[ -]?[0-9. a-z]{0,12}", 0..8),
            crlf in any::<bool>(),
        ) {
            let sep = if crlf { "\r\n" } else { "\n" };
            let s: String = lines.iter().flat_map(|l| [l.as_str(), sep]).collect();
            if let Ok(Some((_, n))) = parse_reply(s.as_bytes()) {
                prop_assert!(n <= s.len());
            }
        }
    }
}
