//! `Profile::from_json` on any text: never panics; an error is a config error naming a JSON
//! path (`$...`) and never repeats the password; a profile it accepts writes JSON that reads
//! back to the same profile (a fixed point after one round).
#![no_main]

use libfuzzer_sys::fuzz_target;
use relaykit::{ErrorKind, Profile};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match Profile::from_json(text) {
        Ok(p) => {
            let written = p.to_json();
            let again = Profile::from_json(&written).unwrap_or_else(|e| panic!("own JSON rejected: {e}\n{written}"));
            assert_eq!(again.to_json(), written, "the written JSON is not a fixed point");
            assert_eq!(again.effective_port(), p.effective_port());
        }
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::Config, "{e}");
            let msg = e.message();
            assert!(msg.starts_with('$'), "error without a JSON path: {msg}");
            // A password given once in the input must not come back in the error.
            if let Ok(serde_json::Value::Object(o)) = serde_json::from_str::<serde_json::Value>(text) {
                if let Some(serde_json::Value::String(pw)) = o.get("password") {
                    if pw.len() >= 6 && text.matches(pw.as_str()).count() == 1 && msg.contains(pw.as_str()) {
                        // Only a leak if it came from the input: the same input with another
                        // password must not give an error that says it too (a password such as
                        // `starttls` is a word of the error's own text, e.g. its field list).
                        let other = text.replacen(pw.as_str(), &"Q".repeat(pw.len()), 1);
                        let from_text = Profile::from_json(&other).err().is_some_and(|e| e.message().contains(pw.as_str()));
                        assert!(from_text, "the password is in the error: {msg}");
                    }
                }
            }
        }
    }
});
