//! NTLM tests, with the MS-NLMP §4.2.1/§4.2.4 (NTLMv2) test vectors.

use super::*;

/// The bytes of hex text laid out with spaces and line breaks, as the spec prints it.
fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    hex::decode(s).unwrap()
}

const SERVER_CHALLENGE: [u8; 8] = [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef];
const CLIENT_CHALLENGE: [u8; 8] = [0xaa; 8];
const RANDOM_SESSION_KEY: [u8; 16] = [0x55; 16];
/// MS-NLMP §4.2.4 flags: KEY_EXCH | 56 | 128 | VERSION | TARGET_INFO | EXTENDED_SESSIONSECURITY
/// | TARGET_TYPE_SERVER | ALWAYS_SIGN | NTLM | SEAL | SIGN | OEM | UNICODE.
const SPEC_FLAGS: u32 = 0xe28a_8233;

/// MS-NLMP §4.2.4.2: the CHALLENGE_MESSAGE (TargetName "Server", TargetInfo with
/// MsvAvNbDomainName "Domain" and MsvAvNbComputerName "Server", Version 6.0.6000).
fn spec_challenge() -> Vec<u8> {
    hex("4e544c4d53535000 02000000 0c000c00 38000000 33828ae2 0123456789abcdef
         0000000000000000 24002400 44000000 0600701700000000f
         530065007200760065007200
         02000c0044006f006d00610069006e00 01000c00530065007200760065007200 00000000"
        .replace("0600701700000000f", "060070170000000f")
        .as_str())
}

fn spec_target_info() -> Vec<u8> {
    hex("02000c0044006f006d00610069006e00 01000c00530065007200760065007200 00000000")
}

#[test]
fn nt_hash_vectors() {
    // §4.2.2.1.2 NTOWFv1("Password"); and the well-known hash of the empty password.
    assert_eq!(nt_hash("Password")[..], hex("a4f49c406510bdcab6824ee7c30fd852")[..]);
    assert_eq!(nt_hash("")[..], hex("31d6cfe0d16ae931b73c59d7e0c089c0")[..]);
}

#[test]
fn ntowfv2_vector() {
    // §4.2.4.1.1: user upper-cased, domain as is.
    let k = ntowfv2(&nt_hash("Password"), "User", "Domain");
    assert_eq!(k[..], hex("0c868a403bfd7a93a3001ef22ef02e3f")[..]);
    // The user's case does not matter, the domain's does.
    assert_eq!(ntowfv2(&nt_hash("Password"), "user", "Domain")[..], k[..]);
    assert_ne!(ntowfv2(&nt_hash("Password"), "User", "DOMAIN")[..], k[..]);
}

#[test]
fn compute_v2_vectors() {
    let k = ntowfv2(&nt_hash("Password"), "User", "Domain");
    let r = compute_v2(&k, SERVER_CHALLENGE, CLIENT_CHALLENGE, [0; 8], &spec_target_info(), false);
    // §4.2.4.2.2 NTLMv2 response: NTProofStr then temp.
    assert_eq!(r.nt_response[..16], hex("68cd0ab851e51c96aabc927bebef6a1c")[..]);
    let temp = hex("0101000000000000 0000000000000000 aaaaaaaaaaaaaaaa 00000000
         02000c0044006f006d00610069006e00 01000c00530065007200760065007200 00000000
         00000000");
    assert_eq!(r.nt_response[16..], temp[..]);
    // §4.2.4.2.1 LMv2 response.
    assert_eq!(r.lm_response[..], hex("86c35097ac9cec102554764a57cccc19 aaaaaaaaaaaaaaaa")[..]);
    // §4.2.4.1.2 session base key (= KeyExchangeKey for NTLMv2).
    assert_eq!(r.session_base_key[..], hex("8de40ccadbc14a82f15cb0ad0de95ca3")[..]);
    // §4.2.4.2.3 encrypted session key = RC4K(KeyExchangeKey, RandomSessionKey).
    assert_eq!(
        rc4k(&r.session_base_key, &RANDOM_SESSION_KEY).unwrap()[..],
        hex("c5dad2544fc9799094ce1ce90bc9d03e")[..]
    );
}

fn spec_client() -> Ntlm {
    let creds = Credentials::new("Domain\\User", Zeroizing::new("Password".into()));
    let mut n = Ntlm::new(
        &creds,
        "COMPUTER",
        Some(Fixed { client_challenge: CLIENT_CHALLENGE, time: 0, random_session_key: RANDOM_SESSION_KEY }),
    )
    .unwrap();
    n.client_flags = SPEC_FLAGS;
    // §4.2.4.3 Version: 5.1 build 2600, revision 15.
    n.version = [0x05, 0x01, 0x28, 0x0a, 0, 0, 0, 0x0f];
    n
}

#[test]
fn spec_authenticate_message() {
    let mut n = spec_client();
    let neg = n.initial_response().unwrap().unwrap();
    assert_eq!(&neg[..8], b"NTLMSSP\0");
    let msg = n.respond(&spec_challenge()).unwrap();
    // §4.2.4.3 AUTHENTICATE_MESSAGE: Version, no MIC (the challenge has no MsvAvTimestamp),
    // payload Domain, User, Workstation, LmChallengeResponse, NtChallengeResponse,
    // EncryptedRandomSessionKey from offset 0x48.
    let expected = hex("4e544c4d53535000 03000000
         18001800 6c000000  54005400 84000000  0c000c00 48000000
         08000800 54000000  10001000 5c000000  10001000 d8000000
         33828ae2 0501280a0000000f
         44006f006d00610069006e00 5500730065007200 43004f004d0050005500540045005200
         86c35097ac9cec102554764a57cccc19aaaaaaaaaaaaaaaa
         68cd0ab851e51c96aabc927bebef6a1c
         0101000000000000 0000000000000000 aaaaaaaaaaaaaaaa 00000000
         02000c0044006f006d00610069006e00 01000c00530065007200760065007200 00000000 00000000
         c5dad2544fc9799094ce1ce90bc9d03e");
    assert_eq!(msg[..], expected[..]);
    let e = n.respond(&spec_challenge()).unwrap_err();
    assert_eq!(e.kind(), crate::ErrorKind::Protocol);
}

#[test]
fn negotiate_message_layout() {
    let mut n = Ntlm::new(&Credentials::new("u", Zeroizing::new("p".into())), "", None).unwrap();
    let m = n.initial_response().unwrap().unwrap();
    assert_eq!(m.len(), 40);
    assert_eq!(&m[..12], b"NTLMSSP\0\x01\0\0\0");
    assert_eq!(read_u32(&m, 12), Some(CLIENT_FLAGS));
    assert_eq!(CLIENT_FLAGS, 0xe288_8215);
    assert_eq!(&m[32..], &CLIENT_VERSION);
}

/// A CHALLENGE like a current Windows server's: with MsvAvTimestamp and MsvAvFlags.
fn windows_like_challenge(flags: u32) -> Vec<u8> {
    let mut ti = spec_target_info();
    ti.truncate(ti.len() - 4); // drop EOL
    ti.extend_from_slice(&hex("0700 0800 0090d336b734c301")); // MsvAvTimestamp
    ti.extend_from_slice(&hex("0600 0400 01000000")); // MsvAvFlags: constrained
    ti.extend_from_slice(&[0, 0, 0, 0]);
    let mut m = Vec::new();
    m.extend_from_slice(b"NTLMSSP\0\x02\0\0\0");
    m.extend_from_slice(&hex("0000 0000 38000000"));
    m.extend_from_slice(&flags.to_le_bytes());
    m.extend_from_slice(&SERVER_CHALLENGE);
    m.extend_from_slice(&[0; 8]);
    m.extend_from_slice(&u16::try_from(ti.len()).unwrap().to_le_bytes());
    m.extend_from_slice(&u16::try_from(ti.len()).unwrap().to_le_bytes());
    m.extend_from_slice(&0x38u32.to_le_bytes());
    m.extend_from_slice(&[10, 0, 0x61, 0x4a, 0, 0, 0, 0x0f]);
    m.extend_from_slice(&ti);
    m
}

fn field(msg: &[u8], at: usize) -> &[u8] {
    let len = usize::from(read_u16(msg, at).unwrap());
    let off = usize::try_from(read_u32(msg, at + 4).unwrap()).unwrap();
    &msg[off..off + len]
}

#[test]
fn timestamp_means_zero_lm_and_a_valid_mic() {
    let creds = Credentials::new("user@example.com", Zeroizing::new("Pässwörd".into()));
    let mut n = Ntlm::new(
        &creds,
        "WS",
        Some(Fixed { client_challenge: CLIENT_CHALLENGE, time: 0, random_session_key: RANDOM_SESSION_KEY }),
    )
    .unwrap();
    let neg = n.initial_response().unwrap().unwrap();
    let server_flags = 0xe28a_8215;
    let chal = windows_like_challenge(server_flags);
    let msg = n.respond(&chal).unwrap();

    assert_eq!(read_u32(&msg, 60), Some(server_flags & CLIENT_FLAGS));
    assert_eq!(field(&msg, 12), &[0u8; 24][..], "LMv2 must be zeros");
    // UPN: whole name as user, empty domain.
    assert!(field(&msg, 28).is_empty());
    assert_eq!(field(&msg, 36), &utf16le("user@example.com")[..]);
    assert_eq!(field(&msg, 44), &utf16le("WS")[..]);

    // The blob carries the server's timestamp and MsvAvFlags with the MIC bit.
    let nt = field(&msg, 20);
    assert_eq!(&nt[24..32], &hex("0090d336b734c301")[..]);
    let blob_pairs = &nt[44..];
    let flags_pair = hex("0600 0400 03000000");
    assert!(blob_pairs.windows(8).any(|w| w == flags_pair.as_slice()));

    // Recompute everything independently and check the NT proof and MIC.
    let k = ntowfv2(&nt_hash("Pässwörd"), "USER@EXAMPLE.COM", "");
    let proof = hmac_md5(&k[..], &[&SERVER_CHALLENGE, &nt[16..]]);
    assert_eq!(&nt[..16], &proof[..]);
    let base = hmac_md5(&k[..], &[&proof[..]]);
    assert_eq!(field(&msg, 52), &rc4k(&base, &RANDOM_SESSION_KEY).unwrap()[..]);
    let mic = &msg[72..88];
    let mut zeroed = msg.to_vec();
    zeroed[72..88].fill(0);
    let expect = hmac_md5(&RANDOM_SESSION_KEY, &[&neg, &chal, &zeroed]);
    assert_eq!(mic, &expect[..]);
    assert_eq!(&msg[64..72], &CLIENT_VERSION);
    assert_eq!(read_u32(&msg, 32), Some(88), "payload after Version and MIC");
}

#[test]
fn without_key_exch_the_session_key_is_not_sent() {
    let creds = Credentials::new("u", Zeroizing::new("p".into()));
    let mut n = Ntlm::new(&creds, "", None).unwrap();
    n.initial_response().unwrap();
    let msg = n.respond(&windows_like_challenge(0x0088_8205)).unwrap();
    assert!(field(&msg, 52).is_empty());
}

#[test]
fn user_forms() {
    assert_eq!(split_user("user"), ("user".into(), String::new()));
    assert_eq!(split_user("DOM\\user"), ("user".into(), "DOM".into()));
    assert_eq!(split_user("user@example.com"), ("user@example.com".into(), String::new()));
    assert_eq!(upper_simple("straße"), "STRAßE");
    let e = Ntlm::new(&Credentials::new("DOM\\", Zeroizing::new("p".into())), "", None).err().unwrap();
    assert_eq!(e.kind(), crate::ErrorKind::Config);
}

#[test]
fn malformed_challenges_are_protocol_errors() {
    let good = spec_challenge();
    let mut cases: Vec<(Vec<u8>, &str)> = vec![
        (Vec::new(), "shorter"),
        (good[..31].to_vec(), "shorter"),
        (b"NTLMSSQ\0\x02\0\0\0".iter().copied().chain([0; 40]).collect(), "signature"),
    ];
    let mut wrong_type = good.clone();
    wrong_type[8] = 3;
    cases.push((wrong_type, "type 3"));
    let mut ti_out = good.clone();
    ti_out[44..48].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
    cases.push((ti_out, "outside"));
    let mut name_out = good.clone();
    name_out[16..20].copy_from_slice(&200u32.to_le_bytes());
    cases.push((name_out, "TargetName"));
    let mut no_eol = good.clone();
    no_eol.truncate(no_eol.len() - 4);
    let l = u16::try_from(no_eol.len() - 0x44).unwrap().to_le_bytes();
    no_eol[40..42].copy_from_slice(&l);
    cases.push((no_eol, "EOL"));
    let mut av_over = good.clone();
    av_over[0x44 + 2] = 0x40; // first pair claims 64 bytes
    cases.push((av_over, "runs past"));
    let mut bad_ts = windows_like_challenge(0xe28a_8215);
    let pos = bad_ts.windows(4).position(|w| w == [7, 0, 8, 0]).unwrap();
    bad_ts[pos + 2] = 4;
    cases.push((bad_ts, "MsvAvTimestamp"));
    let mut oem = good.clone();
    oem[20] &= !1;
    cases.push((oem, "Unicode"));

    for (msg, what) in cases {
        let mut n = spec_client();
        n.initial_response().unwrap();
        let e = n.respond(&msg).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Protocol, "{what}");
        assert!(e.message().starts_with("NTLM:"), "{e}");
        assert!(e.message().contains(what), "{e} should mention {what}");
    }
}

#[test]
fn short_challenge_without_target_info_still_answers() {
    // A 32-byte (pre-NT4 style) CHALLENGE: no TargetInfo, the blob has only MsvAvEOL.
    let mut m = spec_challenge()[..32].to_vec();
    m[12..20].fill(0);
    let mut n = spec_client();
    n.initial_response().unwrap();
    let msg = n.respond(&m).unwrap();
    assert_eq!(field(&msg, 20).len(), 16 + 28 + 4 + 4);
}

proptest::proptest! {
    /// Mutations of a valid CHALLENGE (byte flips, truncation) give Ok or a Protocol error.
    #[test]
    fn mutated_challenges_never_panic(
        flips in proptest::collection::vec((0usize..200, proptest::prelude::any::<u8>()), 0..6),
        cut in 0usize..200,
        windows in proptest::prelude::any::<bool>(),
    ) {
        let mut m = if windows { windows_like_challenge(0xe28a_8215) } else { spec_challenge() };
        for (at, v) in flips {
            if let Some(b) = m.get_mut(at) {
                *b ^= v;
            }
        }
        m.truncate(cut.max(1) * m.len() / 200 + 1);
        let mut n = spec_client();
        n.initial_response().unwrap();
        if let Err(e) = n.respond(&m) {
            proptest::prop_assert_eq!(e.kind(), crate::ErrorKind::Protocol);
        }
    }
}
