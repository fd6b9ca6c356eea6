//! The NTLM client fed any CHALLENGE (type 2) message: the input is the challenge's bytes
//! (as decoded from the server's 334). Client randoms are fixed; credentials `CORP\alice` /
//! `Secret123!`.
//!
//! Properties: NEGOTIATE is a type-1 NTLMSSP message; a challenge is refused or answered
//! with a well-formed AUTHENTICATE (type 3) whose every security buffer lies inside it, whose
//! user and domain are the credentials' (UTF-16LE), whose NTLMv2 response carries the client
//! challenge, and which holds neither the password nor its UTF-16 form; a second challenge is
//! refused; the password is in no error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use relaykit::auth::Mechanism;
use relaykit::fuzzing::{block_on, sasl_client};
use relaykit_fuzz::leaks;

const PASSWORD: &str = "Secret123!";
const CLIENT_CHALLENGE: [u8; 8] = *b"\x01\x23\x45\x67\x89\xab\xcd\xef";

fn u16le(b: &[u8], at: usize) -> usize {
    usize::from(u16::from_le_bytes([b[at], b[at + 1]]))
}

fn u32le(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// The bytes of the security buffer at `at`, asserting they lie inside `msg`.
fn buffer<'a>(msg: &'a [u8], at: usize, name: &str) -> &'a [u8] {
    let len = u16le(msg, at);
    let off = usize::try_from(u32le(msg, at + 4)).expect("offset");
    assert!(off.checked_add(len).is_some_and(|end| end <= msg.len()), "{name}: {len} bytes at {off} of {}", msg.len());
    &msg[off..off + len]
}

fuzz_target!(|data: &[u8]| {
    let mut c =
        sasl_client(Mechanism::Ntlm, "CORP\\alice", PASSWORD, "", (CLIENT_CHALLENGE, 0x01d9_0000_0000_0000, [7; 16]))
            .expect("valid credentials");
    let neg = block_on(c.initial_response()).expect("negotiate").expect("client first");
    assert!(neg.starts_with(b"NTLMSSP\0\x01\0\0\0"), "NEGOTIATE header");

    let auth = match block_on(c.respond(data)) {
        Ok(a) => a,
        Err(e) => {
            assert!(!e.to_string().contains(PASSWORD), "password in an error: {e}");
            return;
        }
    };
    // It was accepted, so it was a CHALLENGE.
    assert!(data.len() >= 32 && data.starts_with(b"NTLMSSP\0") && u32le(data, 8) == 2);

    assert!(auth.len() >= 88 && auth.starts_with(b"NTLMSSP\0"), "AUTHENTICATE header");
    assert_eq!(u32le(&auth, 8), 3, "message type");
    let _lm = buffer(&auth, 12, "LmChallengeResponse");
    let nt = buffer(&auth, 20, "NtChallengeResponse");
    let domain = buffer(&auth, 28, "DomainName");
    let user = buffer(&auth, 36, "UserName");
    let _ws = buffer(&auth, 44, "Workstation");
    let _key = buffer(&auth, 52, "EncryptedRandomSessionKey");
    assert_eq!(user, utf16("alice").as_slice(), "user name");
    assert_eq!(domain, utf16("CORP").as_slice(), "domain");
    // NTLMv2: NTProofStr (16), then the blob: 1, 1, 6 reserved, timestamp (8), client challenge.
    assert!(nt.len() >= 16 + 28, "NTLMv2 response of {} bytes", nt.len());
    assert_eq!(&nt[16..18], &[1, 1], "blob version");
    assert_eq!(&nt[32..40], &CLIENT_CHALLENGE, "client challenge in the blob");
    // (Unless the server put it in its own challenge: its target info is echoed.)
    for pw in [PASSWORD.as_bytes().to_vec(), utf16(PASSWORD)] {
        assert!(leaks(data, &pw) || !leaks(&auth, &pw), "password in AUTHENTICATE");
    }

    assert!(block_on(c.respond(data)).is_err(), "a second challenge is refused");
});
