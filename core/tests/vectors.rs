//! Runs the shared conformance vectors (`tests/conformance/vectors/*.json`) against the core.
//! The C, Python and Node runners read the same files.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use std::path::PathBuf;

use relaykit::rrt::{Field, Missing, RrtContext};
use relaykit::{ErrorKind, Keyring, Profile};
use serde_json::Value;

fn vectors(name: &str) -> Vec<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/conformance/vectors").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let v: Value = serde_json::from_str(&text).unwrap();
    v["tests"].as_array().unwrap().clone()
}

fn id(t: &Value) -> &str {
    t["id"].as_str().unwrap()
}

fn check_error(t: &Value, err: &relaykit::Error) {
    let exp = &t["expected"];
    assert_eq!(err.kind().as_str(), exp["kind"].as_str().unwrap(), "{}: {err}", id(t));
    if let Some(path) = exp["path"].as_str() {
        assert!(
            err.message().starts_with(&format!("{path}: ")),
            "{}: message {:?} should name {path}",
            id(t),
            err.message()
        );
    }
    if let Some(words) = exp["message_contains"].as_array() {
        for w in words {
            let w = w.as_str().unwrap();
            assert!(err.message().contains(w), "{}: message {:?} should contain {w:?}", id(t), err.message());
        }
    }
}

#[test]
fn profile_vectors() {
    let tests = vectors("profile.json");
    assert!(tests.len() >= 20);
    for t in &tests {
        let text = match t.get("input_text") {
            Some(s) => s.as_str().unwrap().to_owned(),
            None => t["input"].to_string(),
        };
        let exp = &t["expected"];
        let got = Profile::from_json(&text);
        match exp["result"].as_str().unwrap() {
            "valid" => {
                let p = got.unwrap_or_else(|e| panic!("{}: {e}", id(t)));
                assert_eq!(u64::from(p.effective_port()), exp["effective_port"].as_u64().unwrap(), "{}", id(t));
                if let Some(json) = exp.get("json") {
                    assert_eq!(&p.to_json_value(), json, "{}", id(t));
                }
                // Whatever the profile writes, it reads back unchanged.
                let again = Profile::from_json(&p.to_json()).unwrap_or_else(|e| panic!("{}: round trip: {e}", id(t)));
                assert_eq!(again, p, "{}: round trip", id(t));
            }
            "invalid" => check_error(t, &got.expect_err(id(t))),
            other => panic!("{}: unknown result {other}", id(t)),
        }
    }
}

#[test]
fn rrt_vectors() {
    let tests = vectors("rrt.json");
    assert!(tests.len() >= 25);
    for t in &tests {
        let input = &t["input"];
        let mut ctx = match input.get("env") {
            Some(Value::Object(env)) => {
                RrtContext::new().with_environment(env.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned())))
            }
            _ => RrtContext::new().with_environment(Vec::<(String, String)>::new()),
        };
        if input["missing"] == "empty" {
            ctx.set_missing(Missing::Empty);
        }
        for v in input["values"].as_array().into_iter().flatten() {
            let (oid, name, value) =
                (v["id"].as_str().unwrap(), v["name"].as_str().unwrap(), v["value"].as_str().unwrap());
            match v["kind"].as_str().unwrap() {
                "plain" => ctx.set(oid, name, value),
                "protected" => ctx.set_protected(oid, name, value),
                "restricted" => ctx.set_restricted(oid, name, value),
                k => panic!("{}: kind {k}", id(t)),
            }
            .unwrap();
        }
        let field = match input["field"].as_str().unwrap() {
            "server" => Field::Server,
            "username" => Field::Username,
            "password" => Field::Password,
            other => Field::Message(other),
        };
        let got = ctx.expand(input["value"].as_str().unwrap(), field);
        let exp = &t["expected"];
        match exp["result"].as_str().unwrap() {
            "ok" => assert_eq!(
                got.unwrap_or_else(|e| panic!("{}: {e}", id(t))).expose(),
                exp["value"].as_str().unwrap(),
                "{}",
                id(t)
            ),
            "error" => check_error(t, &got.expect_err(id(t))),
            other => panic!("{}: unknown result {other}", id(t)),
        }
    }
}

#[test]
fn secret_vectors() {
    let tests = vectors("secret.json");
    assert!(tests.len() >= 15);
    for t in &tests {
        let exp = &t["expected"];
        let keys = t["keys"].as_str().unwrap();
        let keyring = if keys.is_empty() { Ok(Keyring::new()) } else { Keyring::from_text(keys) };
        let pid = t["profile_id"].as_str();
        let field = t["field"].as_str().unwrap_or("password");
        let result: Result<Value, relaykit::Error> = keyring.and_then(|k| match t["action"].as_str().unwrap() {
            "encrypt" => {
                let nonce: [u8; 12] = hex(t["nonce"].as_str().unwrap()).try_into().unwrap();
                k.encrypt_with_nonce(t["plaintext"].as_str().unwrap(), field, pid, nonce)
                    .map(|e| serde_json::json!({"envelope": e}))
            }
            "decrypt" => k
                .decrypt(t["envelope"].as_str().unwrap(), field, pid)
                .map(|p| serde_json::json!({"plaintext": p.expose()})),
            "load_keys" => Ok(serde_json::json!({"key_ids": k.key_ids(), "newest": k.newest_key_id()})),
            a => panic!("{}: action {a}", id(t)),
        });
        match exp["result"].as_str().unwrap() {
            "ok" => {
                let got = result.unwrap_or_else(|e| panic!("{}: {e}", id(t)));
                for (key, want) in exp.as_object().unwrap() {
                    match key.as_str() {
                        "result" => {}
                        "key_ids_count" => {
                            assert_eq!(
                                got["key_ids"].as_array().unwrap().len() as u64,
                                want.as_u64().unwrap(),
                                "{}",
                                id(t)
                            );
                        }
                        _ => assert_eq!(&got[key], want, "{}: {key}", id(t)),
                    }
                }
            }
            "error" => {
                let e = result.expect_err(id(t));
                assert_eq!(e.kind(), ErrorKind::Crypto);
                check_error(t, &e);
            }
            other => panic!("{}: unknown result {other}", id(t)),
        }
    }
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// What a rules vector's action gave: an error, or the values `expected` may check.
fn run_rule(t: &Value) -> relaykit::Result<Value> {
    use base64::Engine as _;
    use relaykit::message::{Attachment, Content, Message};
    let profile = || Profile::from_json(&t["profile"].to_string());
    let prepared = |p: relaykit::message::Prepared| {
        serde_json::json!({"envelope_from": p.envelope_from, "recipients": p.recipients,
                           "bytes": String::from_utf8_lossy(&p.bytes)})
    };
    match t["action"].as_str().unwrap() {
        "set_ntlm_current_user" => {
            let mut p = profile()?;
            p.set_ntlm_current_user(true);
            Ok(serde_json::json!({"requires_authentication": p.requires_authentication, "valid": p.validate().is_ok()}))
        }
        "set_port" => {
            let mut p = profile()?;
            p.set_port(t["value"].as_i64())?;
            Ok(serde_json::json!({"effective_port": p.effective_port()}))
        }
        "raw_message" => {
            let to = t["to"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect();
            let m = Message::raw(t["envelope_from"].as_str().unwrap(), to, t["raw"].as_str().unwrap().into());
            let mut ctx = RrtContext::new();
            for v in t["rrt"].as_array().unwrap() {
                ctx.set(v[0].as_str().unwrap(), v[1].as_str().unwrap(), v[2].as_str().unwrap())?;
            }
            Ok(prepared(m.prepare(&ctx)?))
        }
        "attachment_default_type" => {
            let mut m = Message::new(t["from"].as_str().unwrap());
            m.to.push(t["to"].as_str().unwrap().into());
            m.text = Some(t["text"].as_str().unwrap().into());
            let bytes =
                base64::engine::general_purpose::STANDARD.decode(t["content_base64"].as_str().unwrap()).unwrap();
            m.attachments.push(Attachment {
                filename: Some(t["filename"].as_str().unwrap().into()),
                content_type: None,
                content_id: None,
                content: Content::Bytes(bytes),
            });
            Ok(prepared(m.prepare(&RrtContext::new())?))
        }
        "profile_json" => profile().map(|p| p.to_json_value()),
        other => panic!("{}: unknown action {other}", id(t)),
    }
}

#[test]
fn rules_vectors() {
    let tests = vectors("rules.json");
    assert!(tests.len() >= 9);
    for t in &tests {
        let exp = &t["expected"];
        match (run_rule(t), exp.get("error")) {
            (Err(e), Some(want)) => {
                assert_eq!(e.kind().as_str(), want["kind"], "{}", id(t));
                assert_eq!(e.message(), want["message"].as_str().unwrap(), "{}", id(t));
            }
            (Err(e), None) => panic!("{}: unexpected error {e}", id(t)),
            (Ok(got), Some(_)) => panic!("{}: expected an error, got {got}", id(t)),
            (Ok(got), None) => {
                for (k, want) in exp.as_object().unwrap() {
                    match k.as_str() {
                        "bytes_contain" => {
                            assert!(
                                got["bytes"].as_str().unwrap().contains(want.as_str().unwrap()),
                                "{}: {got}",
                                id(t)
                            );
                        }
                        _ => assert_eq!(&got[k], want, "{}: {k}", id(t)),
                    }
                }
            }
        }
    }
}
