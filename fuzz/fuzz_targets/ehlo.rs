//! EHLO reply parsing (`Extensions::from_ehlo`) and SASL mechanism negotiation
//! (`auth::negotiate`) on any server reply. Input: one flag byte (bit 0 TLS active, bit 1
//! plaintext allowed, bit 2 allow-list in listed order, bits 3-7 with the next byte: which of
//! the nine mechanisms the profile allows, all when 0), then the reply bytes.
//!
//! Properties: the flags agree with the keyword lines; negotiation tries only mechanisms the
//! server offered and the profile allows, each once, never a clear-text one without TLS unless
//! allowed, never a token mechanism or EXTERNAL unless listed, and accounts for every offered mechanism it skips.
#![no_main]

use libfuzzer_sys::fuzz_target;
use relaykit::auth::{Mechanism, SkipReason, negotiate};
use relaykit::session::Extensions;
use relaykit::session::reply::parse_reply;

fuzz_target!(|data: &[u8]| {
    let [flags, mask, rest @ ..] = data else { return };
    let Ok(Some((reply, _))) = parse_reply(rest) else { return };
    let ext = Extensions::from_ehlo(&reply);

    for (keyword, flag) in [
        ("PIPELINING", ext.pipelining),
        ("8BITMIME", ext.eight_bit_mime),
        ("SMTPUTF8", ext.smtputf8),
        ("STARTTLS", ext.starttls),
        ("CHUNKING", ext.chunking),
        ("DSN", ext.dsn),
        ("ENHANCEDSTATUSCODES", ext.enhanced_status_codes),
    ] {
        assert_eq!(ext.has(keyword), flag, "{keyword}");
        assert_eq!(ext.has(&keyword.to_ascii_lowercase()), flag, "{keyword} in lower case");
    }
    for m in &ext.auth {
        assert!(ext.supports_auth(m) && ext.supports_auth(&m.to_ascii_lowercase()));
        assert!(!m.is_empty() && !m.contains(char::is_whitespace), "mechanism {m:?}");
    }
    assert_eq!(ext.lines.len(), reply.text.split('\n').skip(1).filter(|l| !l.trim().is_empty()).count());
    assert!(ext.size != Some(0));

    let tls = flags & 1 != 0;
    let allow_plaintext = flags & 2 != 0;
    let as_listed = flags & 4 != 0;
    // One bit per mechanism of Mechanism::ALL (nine).
    let bits = (u16::from(*flags >> 3) | (u16::from(*mask) << 5)) & 0x1ff;
    let allow: Vec<Mechanism> =
        Mechanism::ALL.iter().enumerate().filter(|(i, _)| bits & (1 << i) != 0).map(|(_, m)| *m).collect();
    let allow_list = (!allow.is_empty()).then_some(allow.as_slice());
    for user in ["alice", "CORP\\alice"] {
        let n = negotiate(&ext.auth, allow_list, as_listed, tls, allow_plaintext, user);
        let offered: Vec<Mechanism> = ext.auth.iter().filter_map(|a| Mechanism::from_name(a)).collect();
        for (i, m) in n.to_try.iter().enumerate() {
            assert!(offered.contains(m), "{m} tried but not offered");
            assert!(!n.to_try[..i].contains(m), "{m} tried twice");
            assert!(tls || allow_plaintext || !m.sends_password_in_clear(), "{m} in clear text");
            match allow_list {
                Some(list) => assert!(list.contains(m), "{m} not allowed"),
                None => assert!(Mechanism::PREFERENCE.contains(m), "{m} not in the default preference"),
            }
        }
        for m in &offered {
            let skipped = n.skipped.iter().any(|s| s.mechanism == *m && s.reason != SkipReason::NotOffered);
            assert!(n.to_try.contains(m) || skipped, "{m} offered, neither tried nor skipped with a reason");
        }
        assert_eq!(
            n.offered().len(),
            offered
                .iter()
                .fold(Vec::new(), |mut v, m| {
                    if !v.contains(m) {
                        v.push(*m)
                    }
                    v
                })
                .len()
        );
        if n.to_try.is_empty() {
            let _ = n.unsupported_error().to_string();
        }
    }
});
