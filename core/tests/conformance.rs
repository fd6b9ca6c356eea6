//! The Rust runner of the conformance cases (`tests/conformance/cases/*.json`) against the real
//! servers. The rules are in `tests/conformance/README.md`; the C, Python and Node runners follow
//! the same ones. Run by `cargo test -p relaykit --test conformance` (no libtest harness: one
//! line per case, always printed).

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use relaykit::{Keyring, Message, Profile, RrtContext, SendOptions, TestOptions};
use serde_json::{Map, Value, json};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// Variables: the environment first, then `$RELAYKIT_STATE/servers.env`.
fn variables() -> HashMap<String, String> {
    let state = std::env::var("RELAYKIT_STATE").map_or_else(|_| repo_root().join("tests/.state"), PathBuf::from);
    let mut vars = HashMap::new();
    if let Ok(text) = std::fs::read_to_string(state.join("servers.env")) {
        for line in text.lines() {
            if line.starts_with('#') {
                continue;
            }
            if let Some((k, v)) = line.split_once('=') {
                vars.insert(k.trim().to_owned(), v.to_owned());
            }
        }
    }
    for (k, v) in std::env::vars() {
        if k.starts_with("RK_") {
            vars.insert(k, v);
        }
    }
    vars
}

/// Substitutes `${NAME}` and `#{NAME}` everywhere; `Err(name)` names a missing variable.
fn substitute(v: &Value, vars: &HashMap<String, String>) -> Result<Value, String> {
    Ok(match v {
        Value::String(s) => {
            if let Some(name) = s.strip_prefix("#{").and_then(|r| r.strip_suffix('}')) {
                let raw = vars.get(name).ok_or_else(|| name.to_owned())?;
                serde_json::from_str(raw).map_err(|e| format!("{name} (not JSON: {e})"))?
            } else {
                let mut out = String::new();
                let mut rest = s.as_str();
                while let Some(i) = rest.find("${") {
                    out.push_str(&rest[..i]);
                    let after = &rest[i + 2..];
                    let end = after.find('}').ok_or_else(|| format!("unterminated ${{ in {s:?}"))?;
                    let name = &after[..end];
                    out.push_str(vars.get(name).ok_or_else(|| name.to_owned())?);
                    rest = &after[end + 1..];
                }
                out.push_str(rest);
                Value::String(out)
            }
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| substitute(x, vars)).collect::<Result<_, _>>()?),
        Value::Object(o) => {
            let mut m = Map::new();
            for (k, x) in o {
                m.insert(k.clone(), substitute(x, vars)?);
            }
            Value::Object(m)
        }
        other => other.clone(),
    })
}

/// Applies `$base` to a profile object.
fn with_base(profile: Value) -> Result<Value, String> {
    let Value::Object(mut o) = profile else { return Ok(profile) };
    let Some(base) = o.remove("$base") else { return Ok(Value::Object(o)) };
    let Value::Object(mut b) = base else { return Err("$base is not an object".into()) };
    for (k, v) in o {
        b.insert(k, v);
    }
    Ok(Value::Object(b))
}

/// Matches `value` (None: missing) against `pattern`; `Err` names the first mismatch.
fn matches(pattern: &Value, value: Option<&Value>, path: &str) -> Result<(), String> {
    let fail = |why: &str| Err(format!("{path}: {why}; got {}", value.map_or("nothing".into(), Value::to_string)));
    match pattern {
        Value::Null => match value {
            None | Some(Value::Null) => Ok(()),
            _ => fail("expected null or absent"),
        },
        Value::Object(p) if p.len() == 1 && p.keys().next().is_some_and(|k| k.starts_with('$')) => {
            let (op, arg) = p.iter().next().unwrap();
            match (op.as_str(), value) {
                ("$any", Some(v)) if !v.is_null() => Ok(()),
                ("$contains", Some(Value::String(s))) if arg.as_str().is_some_and(|a| s.contains(a)) => Ok(()),
                ("$has", Some(Value::Array(items))) => {
                    for (i, want) in arg.as_array().into_iter().flatten().enumerate() {
                        if !items.iter().any(|it| matches(want, Some(it), path).is_ok()) {
                            return fail(&format!("no element matches {op}[{i}] = {want}"));
                        }
                    }
                    Ok(())
                }
                _ => fail(&format!("expected {op} {arg}")),
            }
        }
        Value::Object(p) => {
            let Some(Value::Object(o)) = value else { return fail("expected an object") };
            for (k, want) in p {
                matches(want, o.get(k), &format!("{path}.{k}"))?;
            }
            Ok(())
        }
        Value::Array(p) => {
            let Some(Value::Array(a)) = value else { return fail("expected an array") };
            if a.len() != p.len() {
                return fail(&format!("expected {} elements", p.len()));
            }
            for (i, (want, got)) in p.iter().zip(a).enumerate() {
                matches(want, Some(got), &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        Value::Number(n) => match value {
            Some(Value::Number(m)) if n.as_f64() == m.as_f64() => Ok(()),
            _ => fail(&format!("expected {n}")),
        },
        other => {
            if value == Some(other) {
                Ok(())
            } else {
                fail(&format!("expected {other}"))
            }
        }
    }
}

fn run_case(case: &Value) -> Result<Value, String> {
    let profile = with_base(case["profile"].clone())?;
    let profile = match Profile::from_json_value(&profile) {
        Ok(p) => p,
        Err(e) => return Ok(json!({"status": "error", "error": e.to_json_value()})),
    };
    let keyring = match case.get("keyring").and_then(Value::as_str) {
        Some(text) => Keyring::from_text(text).map_err(|e| format!("keyring: {e}"))?,
        None => Keyring::new(),
    };
    let mut ctx = RrtContext::new();
    if let Some(rrt) = case.get("rrt") {
        for method in ["set", "set_protected", "set_restricted"] {
            for triple in rrt.get(method).and_then(Value::as_array).into_iter().flatten() {
                let t: Vec<&str> = triple.as_array().into_iter().flatten().filter_map(Value::as_str).collect();
                let [id, name, value] = t[..] else { return Err(format!("rrt.{method}: expected [id, name, value]")) };
                let r = match method {
                    "set" => ctx.set(id, name, value),
                    "set_protected" => ctx.set_protected(id, name, value),
                    _ => ctx.set_restricted(id, name, value),
                };
                if let Err(e) = r {
                    return Ok(json!({"status": "error", "error": e.to_json_value()}));
                }
            }
        }
    }
    let options = case.get("options").cloned().unwrap_or(Value::Null);
    let outcome = match case["action"].as_str() {
        Some("test") => {
            let r = TestOptions::from_json_value(&options).and_then(|o| relaykit::test(&profile, &keyring, &ctx, &o));
            match r {
                Ok(report) => json!({"status": "ok", "report": report.to_json_value()}),
                Err(e) => json!({"status": "error", "error": e.to_json_value()}),
            }
        }
        Some("send") => {
            let r = Message::from_json_value(&case["message"]).and_then(|m| {
                SendOptions::from_json_value(&options).and_then(|o| relaykit::send(&profile, &keyring, &ctx, &m, &o))
            });
            match r {
                Ok(result) => json!({"status": "ok", "result": result.to_json_value()}),
                Err(e) => json!({"status": "error", "error": e.to_json_value()}),
            }
        }
        other => return Err(format!("unknown action {other:?}")),
    };
    Ok(outcome)
}

fn main() -> ExitCode {
    let vars = variables();
    let roles: Vec<String> =
        vars.get("RK_ROLES").map(|r| r.split_whitespace().map(str::to_owned).collect()).unwrap_or_default();
    let dir = repo_root().join("tests/conformance/cases");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        for group in doc["testGroups"].as_array().unwrap() {
            let role = group["role"].as_str().unwrap();
            let family = role.split('-').next().unwrap();
            for case in group["tests"].as_array().unwrap() {
                let id = format!("{name} #{} [{role}] {}", case["tcId"], case["comment"].as_str().unwrap_or(""));
                if !roles.iter().any(|r| r == family) {
                    println!("skip {id}: role family `{family}` not in RK_ROLES");
                    skipped += 1;
                    continue;
                }
                if let Some(missing) = case
                    .get("requires")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .find(|v| !vars.contains_key(*v))
                {
                    println!("skip {id}: {missing} is not set");
                    skipped += 1;
                    continue;
                }
                let case = match substitute(case, &vars) {
                    Ok(c) => c,
                    Err(missing) => {
                        println!("skip {id}: variable {missing} is not defined");
                        skipped += 1;
                        continue;
                    }
                };
                let result = run_case(&case).and_then(|outcome| {
                    matches(&case["expect"], Some(&outcome), "$").map_err(|e| format!("{e}\n     outcome: {outcome}"))
                });
                match result {
                    Ok(()) => {
                        println!("ok   {id}");
                        passed += 1;
                    }
                    Err(e) => {
                        println!("FAIL {id}: {e}");
                        failed += 1;
                    }
                }
            }
        }
    }
    println!("\nconformance (rust): {passed} passed, {failed} failed, {skipped} skipped");
    if failed > 0 || passed == 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}
