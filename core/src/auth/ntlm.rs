//! NTLM (MS-NLMP): NTLMv2 responses with extended session security, for `AUTH NTLM`.
//!
//! The exchange: `AUTH NTLM <NEGOTIATE>` → `334 <CHALLENGE>` → `<AUTHENTICATE>` → `235`.
//!
//! # NEGOTIATE flags
//!
//! [`CLIENT_FLAGS`]: `UNICODE | REQUEST_TARGET | SIGN | NTLM | ALWAYS_SIGN |
//! EXTENDED_SESSIONSECURITY | TARGET_INFO | VERSION | 128 | KEY_EXCH | 56` (0xE2888215).
//! - UNICODE, not OEM: all strings are UTF-16LE; OEM code pages are ambiguous. A server that
//!   does not agree to Unicode is refused.
//! - NTLM and EXTENDED_SESSIONSECURITY: required for NTLMv2 on every current Windows/Samba
//!   acceptor; LM_KEY is never requested (it would allow a downgrade to LM-based keys).
//! - REQUEST_TARGET and TARGET_INFO: ask for the TargetInfo the NTLMv2 response is built from
//!   (TARGET_INFO is formally a server flag; it is harmless from a client and some older
//!   acceptors only fill TargetInfo when it is present).
//! - SIGN, ALWAYS_SIGN, 128, 56, KEY_EXCH: what Windows clients send. SMTP never signs or seals
//!   after AUTH, but servers only return 128/KEY_EXCH when SIGN is requested, and KEY_EXCH makes
//!   the session key (which keys the MIC) a fresh random value rather than one derived only
//!   from the password hash.
//! - VERSION: sent (10.0, revision 15) because a MIC-carrying AUTHENTICATE has the Version
//!   field at a fixed place anyway.
//!
//! The AUTHENTICATE message carries the flags the server agreed to (CHALLENGE flags ∩ ours).
//!
//! # MIC and MsvAvTimestamp
//!
//! When the CHALLENGE's TargetInfo has an `MsvAvTimestamp` (every Windows since Vista/2008), the
//! client uses that time in the NTLMv2 blob, sends an all-zero LmChallengeResponse
//! (MS-NLMP 3.1.5.1.2), sets bit 0x2 of `MsvAvFlags` and computes the MIC:
//! `HMAC_MD5(ExportedSessionKey, NEGOTIATE ‖ CHALLENGE ‖ AUTHENTICATE)`. Without a timestamp
//! (old servers, and the §4.2.4 test vector) the local clock is used, the LMv2 response is
//! computed, TargetInfo is echoed unchanged and no MIC field is sent, as Windows does.
//!
//! No MsvAvTargetName or MsvAvChannelBindings pair is added: SMTP servers do not enforce
//! Extended Protection, and channel binding would need the TLS layer's data.
//!
//! # User names
//!
//! - `user` → user `user`, empty domain (the server uses its own domain).
//! - `DOMAIN\user` → domain `DOMAIN`, user `user`.
//! - `user@domain` (a UPN) → user `user@domain`, **empty** domain, as Windows SSPI sends a UPN;
//!   domain controllers resolve the UPN themselves. NTOWFv2 then hashes `UPPER(user@domain)`.
//!
//! NTOWFv2 = HMAC_MD5(MD4(UTF-16LE(password)), UTF-16LE(UPPER(user) ‖ domain)): the user is
//! upper-cased (character by character, as Windows' simple case mapping does; `ß` stays `ß`),
//! the domain is not.

use hmac::{Hmac, KeyInit, Mac};
use md4::{Digest, Md4};
use md5::Md5;
use rc4::{Rc4, StreamCipher as _};
use zeroize::Zeroizing;

use super::{Credentials, Exchange, Mechanism, config_error, protocol_error, random_bytes};
use crate::error::{Error, Result, Stage};

pub(crate) const NEGOTIATE_UNICODE: u32 = 0x0000_0001;
pub(crate) const REQUEST_TARGET: u32 = 0x0000_0004;
pub(crate) const NEGOTIATE_SIGN: u32 = 0x0000_0010;
pub(crate) const NEGOTIATE_NTLM: u32 = 0x0000_0200;
pub(crate) const NEGOTIATE_ALWAYS_SIGN: u32 = 0x0000_8000;
pub(crate) const NEGOTIATE_EXTENDED_SESSIONSECURITY: u32 = 0x0008_0000;
pub(crate) const NEGOTIATE_TARGET_INFO: u32 = 0x0080_0000;
pub(crate) const NEGOTIATE_VERSION: u32 = 0x0200_0000;
pub(crate) const NEGOTIATE_128: u32 = 0x2000_0000;
pub(crate) const NEGOTIATE_KEY_EXCH: u32 = 0x4000_0000;
pub(crate) const NEGOTIATE_56: u32 = 0x8000_0000;

/// The flags of our NEGOTIATE message; see the module docs for why each is there.
pub(crate) const CLIENT_FLAGS: u32 = NEGOTIATE_UNICODE
    | REQUEST_TARGET
    | NEGOTIATE_SIGN
    | NEGOTIATE_NTLM
    | NEGOTIATE_ALWAYS_SIGN
    | NEGOTIATE_EXTENDED_SESSIONSECURITY
    | NEGOTIATE_TARGET_INFO
    | NEGOTIATE_VERSION
    | NEGOTIATE_128
    | NEGOTIATE_KEY_EXCH
    | NEGOTIATE_56;

/// Version 10.0 build 0, NTLMSSP revision 15 (MS-NLMP 2.2.2.10).
const CLIENT_VERSION: [u8; 8] = [10, 0, 0, 0, 0, 0, 0, 0x0f];

const SIGNATURE: &[u8; 8] = b"NTLMSSP\0";
const AV_EOL: u16 = 0;
const AV_FLAGS: u16 = 6;
const AV_TIMESTAMP: u16 = 7;
const AV_FLAG_MIC: u32 = 0x2;

/// The FILETIME of the Unix epoch (100 ns ticks since 1601-01-01).
const FILETIME_UNIX_EPOCH: u64 = 116_444_736_000_000_000;

const MECH: Mechanism = Mechanism::Ntlm;

type HmacMd5 = Hmac<Md5>;

fn hmac_md5(key: &[u8], parts: &[&[u8]]) -> Zeroizing<[u8; 16]> {
    let mut mac =
        <HmacMd5 as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    for p in parts {
        mac.update(p);
    }
    let mut out = Zeroizing::new([0u8; 16]);
    out.copy_from_slice(&mac.finalize().into_bytes());
    out
}

/// UTF-16LE bytes of `s`.
fn utf16le(s: &str) -> Zeroizing<Vec<u8>> {
    // Sized up front (UTF-16 never takes more than twice the UTF-8 length) so that no
    // reallocation leaves a copy of a password behind.
    let mut out = Zeroizing::new(Vec::with_capacity(s.len() * 2));
    for unit in s.encode_utf16() {
        out.extend_from_slice(&unit.to_le_bytes());
    }
    out
}

/// Upper-cases character by character, keeping characters whose upper case is not a single
/// character (Windows' RtlUpcaseUnicodeString maps code units one to one).
fn upper_simple(s: &str) -> String {
    s.chars()
        .map(|c| {
            let mut up = c.to_uppercase();
            match (up.next(), up.next()) {
                (Some(u), None) => u,
                _ => c,
            }
        })
        .collect()
}

/// NTOWFv1: MD4(UTF-16LE(password)) — the "NT hash".
pub(crate) fn nt_hash(password: &str) -> Zeroizing<[u8; 16]> {
    let bytes = utf16le(password);
    let mut out = Zeroizing::new([0u8; 16]);
    out.copy_from_slice(&Md4::digest(&bytes[..]));
    out
}

/// NTOWFv2 (= LMOWFv2): HMAC_MD5(NT hash, UTF-16LE(UPPER(user) ‖ domain)).
pub(crate) fn ntowfv2(nt_hash: &[u8; 16], user: &str, domain: &str) -> Zeroizing<[u8; 16]> {
    let mut ud = upper_simple(user);
    ud.push_str(domain);
    hmac_md5(nt_hash, &[&utf16le(&ud)])
}

/// RC4K(KeyExchangeKey, ExportedSessionKey) (MS-NLMP 3.4.5.1), NTLM's one use of RC4.
fn rc4k(key: &[u8; 16], data: &[u8; 16]) -> Result<Zeroizing<[u8; 16]>> {
    let mut out = Zeroizing::new(*data);
    // A 16-byte key is always accepted (RC4 takes 1 to 256 bytes).
    let mut cipher = <Rc4 as rc4::KeyInit>::new_from_slice(key).map_err(|_| Error::internal("RC4 key length"))?;
    cipher.apply_keystream(out.as_mut());
    Ok(out)
}

/// Values normally random or from the clock, fixed for test vectors.
#[derive(Clone, Copy)]
pub(crate) struct Fixed {
    pub(crate) client_challenge: [u8; 8],
    /// FILETIME used when the server sends no MsvAvTimestamp.
    pub(crate) time: u64,
    pub(crate) random_session_key: [u8; 16],
}

/// A parsed CHALLENGE message.
pub(crate) struct ChallengeMessage {
    pub(crate) flags: u32,
    pub(crate) server_challenge: [u8; 8],
    /// AV pairs in order, without MsvAvEOL.
    pub(crate) av_pairs: Vec<(u16, Vec<u8>)>,
    pub(crate) timestamp: Option<[u8; 8]>,
}

fn read_u16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at.checked_add(2)?)?.try_into().ok()?))
}

fn read_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at.checked_add(4)?)?.try_into().ok()?))
}

/// The bytes a security buffer (len u16, maxlen u16, offset u32) at `at` points to.
fn security_buffer<'a>(msg: &'a [u8], at: usize, name: &str) -> Result<&'a [u8]> {
    let len =
        usize::from(read_u16(msg, at).ok_or_else(|| protocol_error(MECH, format!("CHALLENGE too short for {name}")))?);
    let offset =
        read_u32(msg, at + 4).ok_or_else(|| protocol_error(MECH, format!("CHALLENGE too short for {name}")))?;
    if len == 0 {
        return Ok(&[]);
    }
    let start = usize::try_from(offset)
        .map_err(|_| protocol_error(MECH, format!("CHALLENGE {name} offset is out of range")))?;
    start.checked_add(len).and_then(|end| msg.get(start..end)).ok_or_else(|| {
        protocol_error(
            MECH,
            format!("CHALLENGE {name} ({len} bytes at offset {offset}) lies outside the {}-byte message", msg.len()),
        )
    })
}

/// Parses a CHALLENGE_MESSAGE (MS-NLMP 2.2.1.2) with bounds checks on every field.
pub(crate) fn parse_challenge(msg: &[u8]) -> Result<ChallengeMessage> {
    if msg.len() < 32 {
        return Err(protocol_error(
            MECH,
            format!("CHALLENGE message is {} bytes, shorter than its 32-byte header", msg.len()),
        ));
    }
    if &msg[..8] != SIGNATURE {
        return Err(protocol_error(MECH, "server's challenge is not an NTLMSSP message (bad signature)"));
    }
    let kind = read_u32(msg, 8).unwrap_or(0);
    if kind != 2 {
        return Err(protocol_error(MECH, format!("expected a CHALLENGE (type 2) message, got type {kind}")));
    }
    // TargetName is not used, but a broken reference still means a broken message.
    security_buffer(msg, 12, "TargetName")?;
    let flags = read_u32(msg, 20).unwrap_or(0);
    let mut server_challenge = [0u8; 8];
    server_challenge.copy_from_slice(&msg[24..32]);

    let target_info = if msg.len() >= 48 { security_buffer(msg, 40, "TargetInfo")? } else { &[] };
    let mut av_pairs = Vec::new();
    let mut timestamp = None;
    if !target_info.is_empty() {
        let mut i = 0usize;
        loop {
            let (Some(id), Some(len)) = (read_u16(target_info, i), read_u16(target_info, i + 2)) else {
                return Err(protocol_error(MECH, "CHALLENGE TargetInfo ends without MsvAvEOL"));
            };
            i += 4;
            let len = usize::from(len);
            let value = target_info.get(i..i + len).ok_or_else(|| {
                protocol_error(MECH, format!("CHALLENGE TargetInfo pair {id} ({len} bytes) runs past its end"))
            })?;
            i += len;
            match id {
                AV_EOL => break,
                AV_TIMESTAMP => {
                    let ts: [u8; 8] = value
                        .try_into()
                        .map_err(|_| protocol_error(MECH, format!("CHALLENGE MsvAvTimestamp is {len} bytes, not 8")))?;
                    timestamp = Some(ts);
                }
                AV_FLAGS if len != 4 => {
                    return Err(protocol_error(MECH, format!("CHALLENGE MsvAvFlags is {len} bytes, not 4")));
                }
                _ => {}
            }
            av_pairs.push((id, value.to_vec()));
        }
    }
    Ok(ChallengeMessage { flags, server_challenge, av_pairs, timestamp })
}

/// The NTLMv2 computation's outputs (MS-NLMP 3.3.2).
pub(crate) struct V2Response {
    pub(crate) nt_response: Zeroizing<Vec<u8>>,
    pub(crate) lm_response: Zeroizing<Vec<u8>>,
    pub(crate) session_base_key: Zeroizing<[u8; 16]>,
}

/// ComputeResponse for NTLMv2. `av_pairs` is the serialised TargetInfo to embed (with EOL).
pub(crate) fn compute_v2(
    response_key: &[u8; 16],
    server_challenge: [u8; 8],
    client_challenge: [u8; 8],
    time: [u8; 8],
    av_pairs: &[u8],
    lm_zero: bool,
) -> V2Response {
    let mut temp = Zeroizing::new(Vec::with_capacity(28 + av_pairs.len() + 4));
    temp.extend_from_slice(&[1, 1, 0, 0, 0, 0, 0, 0]);
    temp.extend_from_slice(&time);
    temp.extend_from_slice(&client_challenge);
    temp.extend_from_slice(&[0; 4]);
    temp.extend_from_slice(av_pairs);
    temp.extend_from_slice(&[0; 4]);
    let nt_proof = hmac_md5(response_key, &[&server_challenge, &temp]);
    let mut nt_response = Zeroizing::new(Vec::with_capacity(16 + temp.len()));
    nt_response.extend_from_slice(&nt_proof[..]);
    nt_response.extend_from_slice(&temp);
    let lm_response = if lm_zero {
        Zeroizing::new(vec![0u8; 24])
    } else {
        let mut lm = Zeroizing::new(hmac_md5(response_key, &[&server_challenge, &client_challenge]).to_vec());
        lm.extend_from_slice(&client_challenge);
        lm
    };
    let session_base_key = hmac_md5(response_key, &[&nt_proof[..]]);
    V2Response { nt_response, lm_response, session_base_key }
}

/// Whether `name` is written `DOMAIN\user` (a Windows domain account).
pub(crate) fn is_domain_account(name: &str) -> bool {
    matches!(name.split_once('\\'), Some((domain, user)) if !domain.is_empty() && !user.is_empty())
}

/// Splits `DOMAIN\user`, `user@domain` and `user` as described in the module docs.
pub(crate) fn split_user(name: &str) -> (String, String) {
    match name.split_once('\\') {
        Some((domain, user)) => (user.to_owned(), domain.to_owned()),
        None => (name.to_owned(), String::new()),
    }
}

fn now_filetime() -> u64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let ticks = since.as_secs() * 10_000_000 + u64::from(since.subsec_nanos() / 100);
    FILETIME_UNIX_EPOCH + ticks
}

enum State {
    Initial,
    SentNegotiate(Vec<u8>),
    Done,
}

pub(crate) struct Ntlm {
    user: String,
    domain: String,
    workstation: String,
    nt_hash: Zeroizing<[u8; 16]>,
    fixed: Option<Fixed>,
    client_flags: u32,
    version: [u8; 8],
    state: State,
}

impl Ntlm {
    pub(crate) fn new(creds: &Credentials, workstation: &str, fixed: Option<Fixed>) -> Result<Self> {
        let (user, domain) = split_user(creds.username());
        if user.is_empty() {
            return Err(config_error(
                MECH,
                "the user name is empty (to log in as the current Windows/domain user, use current-user NTLM)",
            ));
        }
        Ok(Ntlm {
            user,
            domain,
            workstation: workstation.to_owned(),
            nt_hash: nt_hash(creds.secret()),
            fixed,
            client_flags: CLIENT_FLAGS,
            version: CLIENT_VERSION,
            state: State::Initial,
        })
    }

    fn negotiate_message(&self) -> Vec<u8> {
        let mut m = Vec::with_capacity(40);
        m.extend_from_slice(SIGNATURE);
        m.extend_from_slice(&1u32.to_le_bytes());
        m.extend_from_slice(&self.client_flags.to_le_bytes());
        // DomainNameFields and WorkstationFields: empty (not OEM_*_SUPPLIED), offset = end.
        for _ in 0..2 {
            m.extend_from_slice(&[0, 0, 0, 0]);
            m.extend_from_slice(&40u32.to_le_bytes());
        }
        m.extend_from_slice(&self.version);
        m
    }

    /// The AUTHENTICATE message answering `challenge_msg`, with its MIC over all three messages
    /// when the server sent a timestamp.
    fn authenticate(&self, negotiate: &[u8], challenge_msg: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let ch = parse_challenge(challenge_msg)?;
        if ch.flags & NEGOTIATE_UNICODE == 0 {
            return Err(protocol_error(
                MECH,
                "server did not agree to Unicode strings (OEM only), which relaykit does not support",
            ));
        }
        let flags = ch.flags & self.client_flags;
        let mic = ch.timestamp.is_some();
        let inputs = self.inputs()?;
        let time = ch.timestamp.unwrap_or(inputs.clock.to_le_bytes());

        let av = target_info(&ch.av_pairs, mic);
        let response_key = ntowfv2(&self.nt_hash, &self.user, &self.domain);
        let r = compute_v2(&response_key, ch.server_challenge, inputs.client_challenge, time, &av, mic);
        let keys = session_keys(&r, flags & NEGOTIATE_KEY_EXCH != 0, inputs.random_session_key)?;

        let (mut m, mic_at) = self.authenticate_message(flags, mic, &r, keys.encrypted.as_ref().map(|k| &k[..]))?;
        if let Some(at) = mic_at {
            let code = hmac_md5(&keys.exported[..], &[negotiate, challenge_msg, &m]);
            m[at..at + 16].copy_from_slice(&code[..]);
        }
        Ok(m)
    }

    /// The client challenge, the clock and the random session key: fixed for test vectors,
    /// else from the OS random source and the system clock.
    fn inputs(&self) -> Result<Inputs> {
        Ok(match self.fixed {
            Some(f) => Inputs {
                client_challenge: f.client_challenge,
                clock: f.time,
                random_session_key: Zeroizing::new(f.random_session_key),
            },
            None => Inputs {
                client_challenge: *random_bytes::<8>()?,
                clock: now_filetime(),
                random_session_key: random_bytes::<16>()?,
            },
        })
    }

    /// Lays out the AUTHENTICATE message (MS-NLMP 2.2.1.3) with a zeroed MIC field when `mic`;
    /// returns it and where the MIC goes.
    fn authenticate_message(
        &self,
        flags: u32,
        mic: bool,
        r: &V2Response,
        encrypted_key: Option<&[u8]>,
    ) -> Result<(Zeroizing<Vec<u8>>, Option<usize>)> {
        let domain = utf16le(&self.domain);
        let user = utf16le(&self.user);
        let workstation = utf16le(&self.workstation);
        let with_version = mic || flags & NEGOTIATE_VERSION != 0;
        let header_len = 64 + if with_version { 8 } else { 0 } + if mic { 16 } else { 0 };
        let fields: [&[u8]; 6] =
            [&r.lm_response, &r.nt_response, &domain, &user, &workstation, encrypted_key.unwrap_or(&[])];
        // Payload order as Windows writes it: domain, user, workstation, LM, NT, session key.
        let order = [2usize, 3, 4, 0, 1, 5];
        let mut offsets = [0u32; 6];
        let mut at = header_len;
        for &i in &order {
            offsets[i] = u32::try_from(at).map_err(|_| too_big())?;
            at += fields[i].len();
        }
        let mut m = Zeroizing::new(Vec::with_capacity(at));
        m.extend_from_slice(SIGNATURE);
        m.extend_from_slice(&3u32.to_le_bytes());
        for (i, f) in fields.iter().enumerate() {
            let len = u16::try_from(f.len()).map_err(|_| too_big())?;
            m.extend_from_slice(&len.to_le_bytes());
            m.extend_from_slice(&len.to_le_bytes());
            m.extend_from_slice(&offsets[i].to_le_bytes());
        }
        m.extend_from_slice(&flags.to_le_bytes());
        if with_version {
            if flags & NEGOTIATE_VERSION != 0 {
                m.extend_from_slice(&self.version);
            } else {
                m.extend_from_slice(&[0; 8]);
            }
        }
        let mic_at = mic.then_some(m.len());
        if mic {
            m.extend_from_slice(&[0; 16]);
        }
        for &i in &order {
            m.extend_from_slice(fields[i]);
        }
        Ok((m, mic_at))
    }
}

/// What [`Ntlm::authenticate`] would otherwise take from the OS and the clock.
struct Inputs {
    client_challenge: [u8; 8],
    /// FILETIME, used when the server sends no MsvAvTimestamp.
    clock: u64,
    random_session_key: Zeroizing<[u8; 16]>,
}

/// The TargetInfo sent back inside the NTLMv2 blob: the server's pairs, with bit 0x2 of
/// MsvAvFlags set when a MIC is sent, serialised and ended by MsvAvEOL.
fn target_info(pairs: &[(u16, Vec<u8>)], mic: bool) -> Vec<u8> {
    let mut pairs = pairs.to_vec();
    if mic {
        match pairs.iter_mut().find(|(id, _)| *id == AV_FLAGS) {
            Some((_, v)) => {
                let old = read_u32(v, 0).unwrap_or(0);
                *v = (old | AV_FLAG_MIC).to_le_bytes().to_vec();
            }
            None => pairs.push((AV_FLAGS, AV_FLAG_MIC.to_le_bytes().to_vec())),
        }
    }
    let mut av = Vec::new();
    for (id, v) in &pairs {
        av.extend_from_slice(&id.to_le_bytes());
        av.extend_from_slice(&u16::try_from(v.len()).unwrap_or(u16::MAX).to_le_bytes());
        av.extend_from_slice(v);
    }
    av.extend_from_slice(&[0, 0, 0, 0]);
    av
}

/// The key that keys the MIC, and the EncryptedRandomSessionKey to send (with KEY_EXCH).
struct SessionKeys {
    exported: Zeroizing<[u8; 16]>,
    encrypted: Option<Zeroizing<[u8; 16]>>,
}

/// With KEY_EXCH the exported key is the random one, sent RC4K-encrypted under the
/// KeyExchangeKey (for NTLMv2, the SessionBaseKey); without it, the SessionBaseKey itself.
fn session_keys(r: &V2Response, key_exch: bool, random_key: Zeroizing<[u8; 16]>) -> Result<SessionKeys> {
    if key_exch {
        let encrypted = rc4k(&r.session_base_key, &random_key)?;
        Ok(SessionKeys { exported: random_key, encrypted: Some(encrypted) })
    } else {
        Ok(SessionKeys { exported: r.session_base_key.clone(), encrypted: None })
    }
}

fn too_big() -> Error {
    protocol_error(MECH, "CHALLENGE TargetInfo is too large for an AUTHENTICATE message")
}

impl Exchange for Ntlm {
    fn initial_response(&mut self) -> Result<Option<Zeroizing<Vec<u8>>>> {
        let m = self.negotiate_message();
        self.state = State::SentNegotiate(m.clone());
        Ok(Some(Zeroizing::new(m)))
    }

    fn respond(&mut self, challenge: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        match std::mem::replace(&mut self.state, State::Done) {
            State::SentNegotiate(neg) => self.authenticate(&neg, challenge),
            State::Initial => Err(Error::internal("NTLM: challenge before NEGOTIATE").with_stage(Stage::Auth)),
            State::Done => Err(protocol_error(MECH, "server sent another challenge after the AUTHENTICATE message")),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test that cannot unwrap has failed
mod tests;
