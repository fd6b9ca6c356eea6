//! Property tests: RRT parse/expand round trips, and no parser panics on any input.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use std::fmt::Write as _;

use proptest::prelude::*;
use relaykit::rrt::{self, Field, Piece, RrtContext};
use relaykit::{Keyring, Profile};

/// Literal text that cannot form a tag: anything without `~`.
fn literal() -> impl Strategy<Value = String> {
    "[^~]{0,12}"
}

fn tag_name() -> impl Strategy<Value = String> {
    "[A-Za-z][A-Za-z0-9 _.-]{0,10}"
}

proptest! {
    #[test]
    fn parse_covers_the_input_exactly(s in "\\PC{0,64}|[~A-Z:%$@a ]{0,40}") {
        let pieces = rrt::parse(&s);
        let mut at = 0;
        for p in &pieces {
            let r = p.range();
            prop_assert_eq!(r.start, at);
            prop_assert!(r.end > r.start);
            at = r.end;
        }
        prop_assert_eq!(at, s.len());
        // Literal pieces are never adjacent: they are merged.
        for w in pieces.windows(2) {
            let both = matches!(w[0], Piece::Literal { .. }) && matches!(w[1], Piece::Literal { .. });
            prop_assert!(!both, "adjacent literals");
        }
    }

    #[test]
    fn expand_round_trips(parts in proptest::collection::vec((literal(), tag_name(), "[^\\x00]{0,10}", 0u8..3), 0..6), tail in literal()) {
        let mut ctx = RrtContext::new().with_environment(Vec::<(String, String)>::new());
        let mut input = String::new();
        let mut expected = String::new();
        for (i, (lit, name, value, kind)) in parts.iter().enumerate() {
            let name = format!("{name}{i}");
            input.push_str(lit);
            expected.push_str(lit);
            let sigil = match kind {
                0 => { ctx.set("ACC", &name, value).unwrap(); "" }
                1 => { ctx.set_protected("ACC", &name, value).unwrap(); "$" }
                _ => { ctx.set_restricted("ACC", &name, value).unwrap(); "@" }
            };
            write!(input, "~ACC::%{sigil}{name}%~").unwrap();
            expected.push_str(value);
        }
        input.push_str(&tail);
        expected.push_str(&tail);
        let tags = rrt::parse(&input).iter().filter(|p| matches!(p, Piece::Tag{..})).count();
        prop_assert_eq!(tags, parts.len());
        let out = ctx.expand(&input, Field::Password).unwrap();
        prop_assert_eq!(out.expose(), expected.as_str());
        // Text without tags expands to itself.
        let out = ctx.expand(&tail, Field::Username).unwrap();
        prop_assert_eq!(out.expose(), tail.as_str());
    }

    #[test]
    fn expand_never_panics(s in "\\PC{0,64}|[~A-Z:%$@a ]{0,40}") {
        let ctx = RrtContext::new();
        for f in [Field::Server, Field::Username, Field::Password, Field::Message("subject")] {
            let _ = ctx.expand(&s, f);
        }
    }

    #[test]
    fn profile_parser_never_panics(s in "\\PC{0,200}") {
        let _ = Profile::from_json(&s);
    }

    #[test]
    fn profile_parser_never_panics_on_objects(
        keys in proptest::collection::vec(prop_oneof![
            Just("server"), Just("port"), Just("encrypted_connection"), Just("tls_mode"), Just("starttls"),
            Just("requires_authentication"), Just("username"), Just("password"), Just("password_encrypted"),
            Just("auth_mechanisms"), Just("auth_order"), Just("timeout_secs"), Just("helo_name"), Just("id"), Just("version"),
            Just("tls_ca_pem"), Just("use_ntlm_current_user")], 0..8),
        values in proptest::collection::vec(prop_oneof![
            Just(serde_json::json!(null)), Just(serde_json::json!(true)), any::<i64>().prop_map(|n| serde_json::json!(n)),
            any::<f64>().prop_map(|n| serde_json::json!(n)), "\\PC{0,20}".prop_map(|s| serde_json::json!(s)),
            Just(serde_json::json!(["PLAIN"])), Just(serde_json::json!({}))], 8)) {
        let mut m = serde_json::Map::new();
        for (k, v) in keys.iter().zip(values) { m.insert((*k).to_owned(), v); }
        if let Ok(p) = Profile::from_json_value(&serde_json::Value::Object(m)) {
            // Whatever validates, round-trips.
            prop_assert_eq!(Profile::from_json(&p.to_json()).unwrap(), p);
        }
    }

    #[test]
    fn envelope_and_key_parsers_never_panic(s in "\\PC{0,120}|enc:v1:[a-z0-9]{1,4}:[A-Za-z0-9_-]{0,80}") {
        let k = Keyring::generate().unwrap();
        let _ = k.decrypt(&s, "password", None);
        let _ = Keyring::from_text(&s);
    }

    #[test]
    fn encryption_round_trips(pt in "\\PC{0,64}", pid in proptest::option::of("[a-z0-9-]{1,12}")) {
        let k = Keyring::generate().unwrap();
        let env = k.encrypt(&pt, "password", pid.as_deref()).unwrap();
        let out = k.decrypt(&env, "password", pid.as_deref()).unwrap();
        prop_assert_eq!(out.expose(), pt.as_str());
    }
}
