//! The DATA content encoding (RFC 5321 §4.5.2): dot-stuffing and line-end normalisation over the
//! whole buffer at once.
//!
//! Bare LF and bare CR become CRLF. The message builder already produces CRLF, but raw messages
//! from hosts often do not, and a bare `\n.\r\n` inside a body is exactly the "SMTP smuggling"
//! end-of-data ambiguity: normalising first means every `.` at the start of any line is stuffed
//! and no receiver can read an early end of data.

/// Appends `body` to `out` ready to follow a 354: line ends normalised to CRLF, a `.` doubled at
/// the start of every line, a CRLF added when the body does not end with one, then the `.\r\n`
/// terminator.
///
/// Copies runs between line ends in bulk (the scan looks at eight bytes per step), so the cost is
/// one pass and one copy of the body.
pub fn encode_body(body: &[u8], out: &mut Vec<u8>) {
    copy_lines(body, out, true);
    out.extend_from_slice(b".\r\n");
}

/// Appends `body` to `out` as a BDAT chunk carries it (RFC 3030): line ends normalised to
/// CRLF and a CRLF added when the body does not end with one; no dot-stuffing, no terminator.
pub fn encode_chunk(body: &[u8], out: &mut Vec<u8>) {
    copy_lines(body, out, false);
}

fn copy_lines(body: &[u8], out: &mut Vec<u8>, stuff: bool) {
    out.reserve(body.len() + body.len() / 512 + 8);
    let mut pos = 0;
    let mut line_start = true;
    while pos < body.len() {
        if stuff && line_start && body[pos] == b'.' {
            out.push(b'.');
        }
        let rest = &body[pos..];
        match find_eol(rest) {
            None => {
                out.extend_from_slice(rest);
                pos = body.len();
                line_start = false;
            }
            Some(i) => {
                out.extend_from_slice(&rest[..i]);
                out.extend_from_slice(b"\r\n");
                pos += i + if rest[i] == b'\r' && rest.get(i + 1) == Some(&b'\n') { 2 } else { 1 };
                line_start = true;
            }
        }
    }
    if !line_start {
        out.extend_from_slice(b"\r\n");
    }
}

/// The index of the first `\r` or `\n` in `h`.
fn find_eol(h: &[u8]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    const CR: u64 = LO * b'\r' as u64;
    const LF: u64 = LO * b'\n' as u64;
    let zero_bytes = |x: u64| x.wrapping_sub(LO) & !x & HI;
    let mut chunks = h.chunks_exact(8);
    let mut base = 0;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        // The lowest flagged byte of each test is exact (borrows only run upwards), so the lowest
        // flagged byte of the union is the first line-end byte.
        let hits = zero_bytes(w ^ CR) | zero_bytes(w ^ LF);
        if hits != 0 {
            return Some(base + (hits.trailing_zeros() / 8) as usize);
        }
        base += 8;
    }
    chunks.remainder().iter().position(|&b| b == b'\r' || b == b'\n').map(|i| base + i)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn enc(body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_body(body, &mut out);
        out
    }

    /// The obvious line-by-line version, to check the fast one against.
    fn naive(body: &[u8]) -> Vec<u8> {
        let mut lines: Vec<Vec<u8>> = Vec::new();
        let mut cur = Vec::new();
        let mut i = 0;
        while i < body.len() {
            match body[i] {
                b'\r' if body.get(i + 1) == Some(&b'\n') => {
                    lines.push(std::mem::take(&mut cur));
                    i += 1;
                }
                b'\r' | b'\n' => lines.push(std::mem::take(&mut cur)),
                b => cur.push(b),
            }
            i += 1;
        }
        if !cur.is_empty() {
            lines.push(cur);
        }
        let mut out = Vec::new();
        for l in lines {
            if l.first() == Some(&b'.') {
                out.push(b'.');
            }
            out.extend(l);
            out.extend(b"\r\n");
        }
        out.extend(b".\r\n");
        out
    }

    #[test]
    fn stuffs_dots_at_line_starts() {
        assert_eq!(enc(b".hidden\r\n"), b"..hidden\r\n.\r\n");
        assert_eq!(enc(b"a\r\n.\r\nb\r\n"), b"a\r\n..\r\nb\r\n.\r\n");
        assert_eq!(enc(b"a\r\n..x\r\n"), b"a\r\n...x\r\n.\r\n");
        assert_eq!(enc(b"a.b\r\n"), b"a.b\r\n.\r\n");
        assert_eq!(enc(b"."), b"..\r\n.\r\n");
    }

    #[test]
    fn normalises_bare_line_ends() {
        assert_eq!(enc(b"a\n.\nb"), b"a\r\n..\r\nb\r\n.\r\n");
        assert_eq!(enc(b"a\r.\r\n"), b"a\r\n..\r\n.\r\n");
        assert_eq!(enc(b"smuggle\n.\r\nMAIL FROM:<x>\r\n"), b"smuggle\r\n..\r\nMAIL FROM:<x>\r\n.\r\n");
        assert_eq!(enc(b"\n\n"), b"\r\n\r\n.\r\n");
    }

    #[test]
    fn ends_with_crlf_and_terminator() {
        assert_eq!(enc(b""), b".\r\n");
        assert_eq!(enc(b"no newline"), b"no newline\r\n.\r\n");
        assert_eq!(enc(b"x\r\n"), b"x\r\n.\r\n");
    }

    #[test]
    fn a_chunk_is_normalised_but_not_stuffed() {
        let chunk = |b: &[u8]| {
            let mut out = Vec::new();
            encode_chunk(b, &mut out);
            out
        };
        assert_eq!(chunk(b".hidden\n.\r\nend"), b".hidden\r\n.\r\nend\r\n");
        assert_eq!(chunk(b""), b"");
        assert_eq!(chunk(b"x\r\n"), b"x\r\n");
    }

    #[test]
    fn long_lines_cross_word_boundaries() {
        let mut body = vec![b'a'; 20];
        body.extend(b"\r\n.");
        body.extend(vec![b'b'; 13]);
        assert_eq!(enc(&body), naive(&body));
    }

    #[test]
    fn find_eol_every_position() {
        for len in 0..40 {
            for at in 0..len {
                for b in [b'\r', b'\n'] {
                    let mut h = vec![b'x'; len];
                    h[at] = b;
                    assert_eq!(find_eol(&h), Some(at));
                }
            }
            assert_eq!(find_eol(&vec![0x8d; len]), None);
        }
    }

    proptest! {
        #[test]
        fn matches_naive(body in proptest::collection::vec(
            prop_oneof![Just(b'\r'), Just(b'\n'), Just(b'.'), any::<u8>()], 0..300)) {
            prop_assert_eq!(enc(&body), naive(&body));
        }
    }
}
