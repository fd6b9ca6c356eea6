//! CRAM-MD5, LOGIN, PLAIN and XOAUTH2 fed any server challenges. Input: the first byte picks
//! the mechanism (mod 4), the rest are challenges separated by line feeds (as decoded from
//! each 334). Credentials `tim` / `tanstaaftanstaaf`.
//!
//! Properties: CRAM-MD5 answers its one non-empty challenge with `user SP hex(HMAC-MD5)`
//! (RFC 2195, computed here) and refuses any other; LOGIN answers the user name, then the
//! password, then refuses; PLAIN sends `\0user\0password` first and refuses every challenge;
//! XOAUTH2 sends its bearer message first and answers a challenge (the error JSON) with an
//! empty line, keeping the error; the password is in no error and, for CRAM-MD5, in no message.
#![no_main]

use hmac::{KeyInit, Mac};
use libfuzzer_sys::fuzz_target;
use relaykit::auth::Mechanism;
use relaykit::fuzzing::{block_on, sasl_client};
use relaykit_fuzz::leaks;

const USER: &str = "tim";
const PASSWORD: &str = "tanstaaftanstaaf";

fuzz_target!(|data: &[u8]| {
    let [pick, rest @ ..] = data else { return };
    let mech = [Mechanism::CramMd5, Mechanism::Login, Mechanism::Plain, Mechanism::Xoauth2][usize::from(pick % 4)];
    let mut c = sasl_client(mech, USER, PASSWORD, "", ([0; 8], 0, [0; 16])).expect("valid credentials");
    let first = block_on(c.initial_response()).expect("initial response");
    match mech {
        Mechanism::Plain => assert_eq!(first.as_deref().map(|v| &v[..]), Some(&b"\0tim\0tanstaaftanstaaf"[..])),
        Mechanism::Xoauth2 => {
            assert_eq!(
                first.as_deref().map(|v| &v[..]),
                Some(&b"user=tim\x01auth=Bearer tanstaaftanstaaf\x01\x01"[..])
            );
        }
        _ => assert!(first.is_none(), "{mech} does not speak first"),
    }
    let challenges: Vec<&[u8]> = if rest.is_empty() { Vec::new() } else { rest.split(|&b| b == b'\n').collect() };
    let mut answered = 0usize;
    for ch in challenges {
        let r = block_on(c.respond(ch));
        match (&mech, &r) {
            (Mechanism::CramMd5, Ok(out)) => {
                assert_eq!(answered, 0, "CRAM-MD5 answered a second challenge");
                assert!(!ch.is_empty(), "CRAM-MD5 answered an empty challenge");
                let mut m = <hmac::Hmac<md5::Md5> as KeyInit>::new_from_slice(PASSWORD.as_bytes()).expect("key");
                m.update(ch);
                let want = format!("{USER} {}", hex::encode(m.finalize().into_bytes()));
                assert_eq!(&out[..], want.as_bytes(), "RFC 2195 response");
                assert!(!leaks(out, PASSWORD.as_bytes()));
            }
            (Mechanism::CramMd5, Err(_)) => assert!(answered == 1 || ch.is_empty(), "CRAM-MD5 refused its challenge"),
            (Mechanism::Login, Ok(out)) => {
                let want: &[u8] = if answered == 0 { USER.as_bytes() } else { PASSWORD.as_bytes() };
                assert!(answered < 2 && &out[..] == want, "LOGIN step {answered}");
            }
            (Mechanism::Login, Err(_)) => assert_eq!(answered, 2, "LOGIN refused step {answered}"),
            (Mechanism::Plain, Ok(_)) => panic!("PLAIN answered a challenge"),
            (Mechanism::Xoauth2, Ok(out)) => {
                assert_eq!(answered, 0, "XOAUTH2 answered a second challenge");
                assert!(out.is_empty(), "XOAUTH2 answers the error challenge with an empty line");
                assert!(c.server_error().is_some(), "XOAUTH2 keeps the server's error");
            }
            (_, Err(_)) => {}
            _ => unreachable!(),
        }
        if let Err(e) = &r {
            assert!(!e.to_string().contains(PASSWORD), "password in an error: {e}");
        } else {
            answered += 1;
        }
    }
});
