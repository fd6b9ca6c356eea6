//! The password envelope decoder and the key text reader. Input: a line of key text, a line
//! naming the field, then the envelope text.
//!
//! Properties: no panic on any key text or envelope; no error carries key material; what the
//! keyring encrypts it decrypts to the same text, and only for the same field and profile.
#![no_main]

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use libfuzzer_sys::fuzz_target;
use relaykit::Keyring;
use relaykit_fuzz::split_lines;

fuzz_target!(|data: &[u8]| {
    let Some((lines, rest)) = split_lines(data, 2) else { return };
    let (Ok(keys), Ok(field), Ok(envelope)) =
        (std::str::from_utf8(lines[0]), std::str::from_utf8(lines[1]), std::str::from_utf8(rest))
    else {
        return;
    };
    // The key material of each well-formed `id:base64` entry (32 bytes, given once in the whole
    // input: the fuzzer may copy it into the field name or the envelope, which errors may
    // quote); other text may well be echoed, as a key id or an invalid entry's name is.
    let input = String::from_utf8_lossy(data);
    let material: Vec<&str> = keys
        .split(',')
        .filter_map(|e| e.split_once(':'))
        .filter(|(id, _)| {
            !id.trim().is_empty() && id.trim().bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        })
        .map(|(_, k)| k.trim())
        .filter(|k| input.matches(k).count() == 1)
        .filter(|k| {
            [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD]
                .iter()
                .any(|e| e.decode(k).is_ok_and(|b| b.len() == 32))
        })
        .collect();
    let no_key_in = |msg: &str| {
        for k in &material {
            assert!(!msg.contains(k), "key material in an error: {msg}");
        }
    };

    let ring = match Keyring::from_text(keys) {
        Ok(r) => r,
        Err(e) => {
            no_key_in(&e.to_string());
            Keyring::new()
        }
    };
    for profile_id in [None, Some("prod")] {
        if let Err(e) = ring.decrypt(envelope, field, profile_id) {
            no_key_in(&e.to_string());
        }
    }
    if ring.is_empty() {
        return;
    }
    let nonce: [u8; 12] = std::array::from_fn(|i| data.get(i).copied().unwrap_or(0));
    let sealed = match ring.encrypt_with_nonce(envelope, field, Some("prod"), nonce) {
        Ok(s) => s,
        Err(e) => {
            no_key_in(&e.to_string());
            return;
        }
    };
    assert!(sealed.starts_with(relaykit::secret::ENVELOPE_PREFIX));
    let opened = ring.decrypt(&sealed, field, Some("prod")).expect("own envelope decrypts");
    assert_eq!(opened.expose(), envelope);
    assert!(ring.decrypt(&sealed, field, None).is_err(), "decrypted without its profile id");
    assert!(ring.decrypt(&sealed, &format!("{field}x"), Some("prod")).is_err(), "decrypted for another field");
});
