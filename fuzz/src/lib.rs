//! Helpers shared by the fuzz targets: input splitting and independent oracles (written from
//! the RFCs here, not calling relaykit, so that a target compares relaykit with something).

/// Splits `data` at its first `n` line feeds: `n` lines (without the `\n`) and the rest.
/// `None` when there are fewer than `n` lines.
pub fn split_lines(data: &[u8], n: usize) -> Option<(Vec<&[u8]>, &[u8])> {
    let mut lines = Vec::with_capacity(n);
    let mut rest = data;
    for _ in 0..n {
        let nl = rest.iter().position(|&b| b == b'\n')?;
        lines.push(&rest[..nl]);
        rest = &rest[nl + 1..];
    }
    Some((lines, rest))
}

/// RFC 5321 §2.3.8 line ends: every bare CR and bare LF becomes CRLF; a CRLF stays.
pub fn normalize_crlf(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len() + 8);
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\r' if b.get(i + 1) == Some(&b'\n') => {
                out.extend_from_slice(b"\r\n");
                i += 2;
            }
            b'\r' | b'\n' => {
                out.extend_from_slice(b"\r\n");
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// Whether every CR is followed by LF and every LF preceded by CR.
pub fn all_crlf(b: &[u8]) -> bool {
    b.iter().enumerate().all(|(i, &c)| match c {
        b'\r' => b.get(i + 1) == Some(&b'\n'),
        b'\n' => i > 0 && b[i - 1] == b'\r',
        _ => true,
    })
}

/// What a receiver reads from DATA content (RFC 5321 §4.5.2): lines up to the first `.` line,
/// each leading `.` removed. `None` when there is no terminator, or bytes follow it.
pub fn unstuff(encoded: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(encoded.len());
    let mut rest = encoded;
    loop {
        let end = rest.windows(2).position(|w| w == b"\r\n")? + 2;
        let line = &rest[..end];
        rest = &rest[end..];
        if line == b".\r\n" {
            return rest.is_empty().then_some(out);
        }
        out.extend_from_slice(line.strip_prefix(b".").unwrap_or(line));
    }
}

/// `b` with a CRLF appended unless it is empty or already ends with one (what SMTP needs).
pub fn with_final_crlf(mut b: Vec<u8>) -> Vec<u8> {
    if !b.is_empty() && !b.ends_with(b"\r\n") {
        b.extend_from_slice(b"\r\n");
    }
    b
}

/// Whether `secret` (at least 4 bytes, to keep chance matches out) occurs in `text`.
pub fn leaks(text: &[u8], secret: &[u8]) -> bool {
    secret.len() >= 4 && text.windows(secret.len()).any(|w| w == secret)
}
