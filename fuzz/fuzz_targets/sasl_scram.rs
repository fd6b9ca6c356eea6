//! The SCRAM-SHA-1 and SCRAM-SHA-256 clients fed any server-first and server-final message.
//! Input: a first line choosing the hash (`1` SHA-1, anything else SHA-256), a line with the
//! server-first message, then the server-final message. The client nonce is fixed
//! (`fyko+d2lbbFgONRv9qkxdawL`, RFC 5802's), the credentials are `user` / `pencil`.
//!
//! Properties (checked against RFC 5802 computed here): the client-first message is exact;
//! a server-first is accepted only when its nonce extends the client's, and then the
//! client-final carries that nonce and the right proof; `finish()` succeeds exactly when the
//! server-final's `v=` is the right server signature; the password never leaves the client.
#![no_main]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{KeyInit, Mac};
use libfuzzer_sys::fuzz_target;
use relaykit::auth::Mechanism;
use relaykit::fuzzing::{block_on, sasl_client};
use relaykit_fuzz::{leaks, split_lines};

const NONCE: &str = "fyko+d2lbbFgONRv9qkxdawL";
const USER: &str = "user";
const PASSWORD: &str = "pencil";
/// PBKDF2 cost is not what is fuzzed: iteration counts above this are left out (relaykit
/// accepts up to its MAX_ITERATIONS; tests/faults covers the huge ones).
const FUZZ_MAX_ITERATIONS: u32 = 4096;

fn hmac<M: Mac + KeyInit>(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut m = <M as KeyInit>::new_from_slice(key).expect("any key length");
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

/// (client proof, server signature) for `auth_message` (RFC 5802 §3).
fn oracle(sha1: bool, salt: &[u8], i: u32, auth_message: &str) -> (Vec<u8>, Vec<u8>) {
    use sha2::Digest as _;
    let (salted, h): (Vec<u8>, fn(&[u8], &[u8]) -> Vec<u8>) = if sha1 {
        let mut out = vec![0u8; 20];
        pbkdf2::pbkdf2_hmac::<sha1::Sha1>(PASSWORD.as_bytes(), salt, i, &mut out);
        (out, hmac::<hmac::Hmac<sha1::Sha1>>)
    } else {
        let mut out = vec![0u8; 32];
        pbkdf2::pbkdf2_hmac::<sha2::Sha256>(PASSWORD.as_bytes(), salt, i, &mut out);
        (out, hmac::<hmac::Hmac<sha2::Sha256>>)
    };
    let client_key = h(&salted, b"Client Key");
    let stored_key =
        if sha1 { sha1::Sha1::digest(&client_key).to_vec() } else { sha2::Sha256::digest(&client_key).to_vec() };
    let client_signature = h(&stored_key, auth_message.as_bytes());
    let proof = client_key.iter().zip(&client_signature).map(|(a, b)| a ^ b).collect();
    let server_key = h(&salted, b"Server Key");
    (proof, h(&server_key, auth_message.as_bytes()))
}

fuzz_target!(|data: &[u8]| {
    let Some((lines, server_final)) = split_lines(data, 2) else { return };
    let sha1 = lines[0] == b"1";
    let server_first = lines[1];
    // Leave out costly iteration counts before the client sees them.
    if let Ok(t) = std::str::from_utf8(server_first) {
        if let Some(i) = t.split(',').find_map(|a| a.strip_prefix("i=")) {
            if i.parse::<u64>().is_ok_and(|i| i > u64::from(FUZZ_MAX_ITERATIONS)) {
                return;
            }
        }
    }
    let mech = if sha1 { Mechanism::ScramSha1 } else { Mechanism::ScramSha256 };
    let mut c = sasl_client(mech, USER, PASSWORD, NONCE, ([0; 8], 0, [0; 16])).expect("valid credentials");
    let first = block_on(c.initial_response()).expect("first message").expect("client first");
    let bare = format!("n={USER},r={NONCE}");
    assert_eq!(&first[..], format!("n,,{bare}").as_bytes());

    // (A server that puts the password in its own text gets it echoed: scrubbing server text
    // is #12's redaction item, not this target's.)
    let echoed = leaks(data, PASSWORD.as_bytes());
    let check_err = |e: &relaykit::Error| {
        assert!(echoed || !e.to_string().contains(PASSWORD), "password in an error: {e}");
    };
    let final_msg = match block_on(c.respond(server_first)) {
        Ok(m) => m,
        Err(e) => {
            check_err(&e);
            assert!(c.finish().is_err(), "finish() after a refused server-first");
            return;
        }
    };
    // Accepted: the server-first was well formed; recompute everything from it.
    let sf = std::str::from_utf8(server_first).expect("accepted as UTF-8");
    let mut attrs = sf.split(',');
    let nonce = attrs.next().and_then(|a| a.strip_prefix("r=")).expect("r=");
    let salt = B64.decode(attrs.next().and_then(|a| a.strip_prefix("s=")).expect("s=")).expect("salt base64");
    let i: u32 = attrs.next().and_then(|a| a.strip_prefix("i=")).expect("i=").parse().expect("i");
    assert!(nonce.starts_with(NONCE) && nonce.len() > NONCE.len(), "nonce {nonce:?} does not extend the client's");
    assert!(i >= 1 && !salt.is_empty());
    let without_proof = format!("c=biws,r={nonce}");
    let auth_message = format!("{bare},{sf},{without_proof}");
    let (proof, server_signature) = oracle(sha1, &salt, i, &auth_message);
    // What the client adds to the server's nonce carries no password.
    assert!(!leaks(&final_msg[without_proof.len()..], PASSWORD.as_bytes()), "password in the client proof");
    assert_eq!(
        std::str::from_utf8(&final_msg).expect("client-final is text"),
        format!("{without_proof},p={}", B64.encode(&proof)),
        "client-final differs from RFC 5802"
    );

    let verified = match block_on(c.respond(server_final)) {
        Ok(_) => true,
        Err(e) => {
            check_err(&e);
            false
        }
    };
    let right = std::str::from_utf8(server_final)
        .ok()
        .and_then(|t| t.split(',').next())
        .and_then(|v| v.strip_prefix("v="))
        .and_then(|v| B64.decode(v).ok())
        .is_some_and(|sig| sig == server_signature);
    assert_eq!(verified, right, "server signature accepted = {verified}, right = {right}");
    assert_eq!(c.finish().is_ok(), right, "finish() without a verified server signature");
});
