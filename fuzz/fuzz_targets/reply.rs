//! The SMTP reply parser (`session::reply::parse_reply`) on any bytes: never panics, and a
//! reply it returns is consistent with the bytes it says it consumed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use relaykit::session::reply::{MAX_LINE, MAX_LINES, parse_reply};

fuzz_target!(|data: &[u8]| {
    // Read replies one after another, as the session does with its buffer.
    let mut buf = data;
    let mut replies = 0;
    while let Ok(Some((reply, used))) = parse_reply(buf) {
        assert!(used > 0 && used <= buf.len(), "consumed {used} of {} bytes", buf.len());
        let raw = &buf[..used];
        assert_eq!(raw.last(), Some(&b'\n'), "a reply ends at a line feed");
        assert!((200..=599).contains(&reply.code), "code {}", reply.code);
        // One text line per line read; the text never holds a line feed of its own.
        let lines = raw.iter().filter(|&&b| b == b'\n').count();
        assert!(lines <= MAX_LINES);
        assert_eq!(reply.text.matches('\n').count() + 1, lines, "text lines vs lines read");
        // Each line starts with the same code.
        let code = reply.code.to_string();
        for line in raw.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            assert!(line.starts_with(code.as_bytes()));
            assert!(line.len() < MAX_LINE);
        }
        if let Some(e) = &reply.enhanced_code {
            let parts: Vec<&str> = e.split('.').collect();
            assert_eq!(parts.len(), 3, "enhanced code {e:?}");
            assert_eq!(parts[0], &code[..1], "enhanced class matches the code");
            assert!(parts[1..].iter().all(|p| (1..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit())));
        }
        // The reply does not depend on what follows it.
        let alone = parse_reply(raw).expect("the consumed bytes parse alone").expect("and are complete");
        assert_eq!(alone, (reply, used));
        buf = &buf[used..];
        replies += 1;
    }
    assert!(replies <= data.len());
});
