//! The one matcher: does an outcome match a case's `expect` pattern
//! (`tests/conformance/README.md`, "Outcome and matching").

use serde_json::{Map, Number, Value};

/// `Ok(())` when `value` (`None`: absent) matches `pattern`; otherwise the first mismatch, as
/// `<path>: expected <what>; got <value>` with a path like `$.report.auth.attempts[0].code`.
pub fn check(pattern: &Value, value: Option<&Value>) -> Result<(), String> {
    at(pattern, value, "$")
}

fn at(pattern: &Value, value: Option<&Value>, path: &str) -> Result<(), String> {
    let fail = |what: &str| {
        let got = value.map_or_else(|| "nothing".to_owned(), Value::to_string);
        Err(format!("{path}: expected {what}; got {got}"))
    };
    match pattern {
        Value::Null => match value {
            None | Some(Value::Null) => Ok(()),
            Some(_) => fail("null or absent"),
        },
        Value::Object(p) => {
            if let Some((op, arg)) = operator(p) {
                return match match_operator(op, arg, value, path) {
                    Ok(()) => Ok(()),
                    Err(Mismatch::Expected(what)) => fail(&what),
                    Err(Mismatch::Inner(why)) => Err(why),
                };
            }
            let Some(Value::Object(o)) = value else { return fail("an object") };
            for (k, want) in p {
                at(want, o.get(k), &format!("{path}.{k}"))?;
            }
            Ok(())
        }
        Value::Array(p) => {
            let Some(Value::Array(a)) = value else { return fail("an array") };
            if a.len() != p.len() {
                return fail(&format!("{} elements", p.len()));
            }
            for (i, (want, got)) in p.iter().zip(a).enumerate() {
                at(want, Some(got), &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        Value::Number(n) => match value {
            Some(Value::Number(m)) if same_number(n, m) => Ok(()),
            _ => fail(&n.to_string()),
        },
        // Strings and booleans: equal type and value, no coercion.
        other if value == Some(other) => Ok(()),
        other => fail(&other.to_string()),
    }
}

/// A one-key object whose key starts with `$` is an operator.
fn operator(p: &Map<String, Value>) -> Option<(&str, &Value)> {
    let mut it = p.iter();
    match (it.next(), it.next()) {
        (Some((k, arg)), None) if k.starts_with('$') => Some((k.as_str(), arg)),
        _ => None,
    }
}

/// Why an operator did not match: what was expected (the caller adds the path and the value),
/// or a whole mismatch found inside it (`$all`'s first failing pattern).
enum Mismatch {
    Expected(String),
    Inner(String),
}

impl From<String> for Mismatch {
    fn from(what: String) -> Self {
        Mismatch::Expected(what)
    }
}

/// `Err` when `value` does not satisfy the operator.
fn match_operator(op: &str, arg: &Value, value: Option<&Value>, path: &str) -> Result<(), Mismatch> {
    match op {
        "$any" => match value {
            Some(v) if !v.is_null() => Ok(()),
            _ => Err(Mismatch::Expected("any value".into())),
        },
        "$contains" => {
            let Value::String(needle) = arg else {
                return Err(format!("a string argument to $contains, not {arg}").into());
            };
            match value {
                Some(Value::String(s)) if s.contains(needle.as_str()) => Ok(()),
                _ => Err(format!("a string containing {arg}").into()),
            }
        }
        "$has" => {
            let Value::Array(wants) = arg else { return Err(format!("a list argument to $has, not {arg}").into()) };
            let Some(Value::Array(items)) = value else { return Err(Mismatch::Expected("an array".into())) };
            for (i, want) in wants.iter().enumerate() {
                if !items.iter().any(|item| at(want, Some(item), path).is_ok()) {
                    return Err(format!("an element matching {want} ($has[{i}])").into());
                }
            }
            Ok(())
        }
        "$not" => match at(arg, value, path) {
            Ok(()) => Err(format!("a value not matching {arg}").into()),
            Err(_) => Ok(()),
        },
        "$all" => {
            let Value::Array(wants) = arg else { return Err(format!("a list argument to $all, not {arg}").into()) };
            for (i, want) in wants.iter().enumerate() {
                at(want, value, path).map_err(|why| Mismatch::Inner(format!("{why} ($all[{i}])")))?;
            }
            Ok(())
        }
        "$in" => {
            let Value::Array(alternatives) = arg else {
                return Err(format!("a list argument to $in, not {arg}").into());
            };
            if alternatives.iter().any(|alt| at(alt, value, path).is_ok()) {
                Ok(())
            } else {
                Err(format!("one of {arg}").into())
            }
        }
        other => Err(format!("a known operator ($any, $contains, $has, $not, $all, $in), not {other}").into()),
    }
}

/// Numbers by value: exact for integers, by `f64` otherwise (`535` matches `535.0`).
fn same_number(a: &Number, b: &Number) -> bool {
    match (a.as_i64(), b.as_i64(), a.as_u64(), b.as_u64()) {
        (Some(x), Some(y), _, _) => x == y,
        (_, _, Some(x), Some(y)) => x == y,
        _ => a.as_f64() == b.as_f64(),
    }
}

#[cfg(test)]
mod tests {
    use super::check;
    use serde_json::{Value, json};

    fn ok(pattern: &Value, value: &Value) -> bool {
        check(pattern, Some(value)).is_ok()
    }

    /// The table every runner's own tests used to check, now checked once.
    #[test]
    fn the_readme_rules() {
        let table = [
            (json!({"a": 1}), json!({"a": 1.0, "b": 2}), true), // extra keys are fine; numbers by value
            (json!({"a": null}), json!({}), true),              // null matches absent...
            (json!({"a": null}), json!({"a": null}), true),     // ...and null
            (json!({"a": null}), json!({"a": 0}), false),
            (json!({"a": 1}), json!({"a": true}), false), // a boolean is not a number
            (json!({"a": true}), json!({"a": 1}), false),
            (json!([1, 2]), json!([1, 2, 3]), false), // arrays: same length
            (json!([1, 2]), json!([1, 3]), false),
            (json!([{"x": 1}]), json!([{"x": 1, "y": 2}]), true),
            (json!({"a": 1}), json!([1]), false),
            (json!({"$contains": "535"}), json!("auth 535 failed"), true),
            (json!({"$contains": "535"}), json!(535), false),
            (json!({"$any": true}), json!(0), true),
            (json!({"$any": true}), json!(null), false),
            (json!({"$has": [{"name": "tls"}, "b"]}), json!([{"name": "tls", "ok": true}, "b", "c"]), true),
            (json!({"$has": ["z"]}), json!(["a"]), false),
            (json!({"$has": ["z"]}), json!("z"), false),
            (json!("x"), json!("x"), true),
            (json!("1"), json!(1), false),
            (json!(535), json!("535"), false),
            (json!(18_446_744_073_709_551_615_u64), json!(18_446_744_073_709_551_615_u64), true),
            (json!(9_007_199_254_740_993_u64), json!(9_007_199_254_740_992_u64), false), // not via f64
            (json!({"$not": {"$contains": "plain SMTP"}}), json!("check the certificate"), true),
            (json!({"$not": {"$contains": "plain SMTP"}}), json!("the server speaks plain SMTP"), false),
            (json!({"a": {"$not": {"$contains": "x"}}}), json!({}), true), // absent is not "containing"
            (json!({"$all": [{"$contains": "temp"}, {"$not": {"$contains": "as this"}}]}), json!("temporary"), true),
            (
                json!({"$all": [{"$contains": "temp"}, {"$not": {"$contains": "as this"}}]}),
                json!("temp as this"),
                false,
            ),
            (json!({"$in": ["timeout", "protocol"]}), json!("protocol"), true),
            (json!({"$in": ["timeout", "protocol"]}), json!("tls"), false),
        ];
        for (pattern, value, want) in table {
            assert_eq!(ok(&pattern, &value), want, "{pattern} against {value}");
        }
    }

    #[test]
    fn any_fails_on_a_missing_key() {
        assert_eq!(
            check(&json!({"a": {"$any": true}}), Some(&json!({}))).unwrap_err(),
            "$.a: expected any value; got nothing"
        );
    }

    #[test]
    fn a_mismatch_names_the_path_what_was_expected_and_what_came() {
        let why = check(
            &json!({"report": {"auth": {"attempts": [{"code": 535}]}}}),
            Some(&json!({"report": {"auth": {"attempts": [{"code": 334}]}}})),
        )
        .unwrap_err();
        assert_eq!(why, "$.report.auth.attempts[0].code: expected 535; got 334");
        let why = check(&json!({"error": {"kind": "tls"}}), Some(&json!({}))).unwrap_err();
        assert_eq!(why, "$.error: expected an object; got nothing");
        let why = check(&json!({"stages": {"$has": [{"name": "x"}]}}), Some(&json!({"stages": [{"name": "tls"}]})))
            .unwrap_err();
        assert_eq!(why, r#"$.stages: expected an element matching {"name":"x"} ($has[0]); got [{"name":"tls"}]"#);
        let why = check(&json!({"hint": {"$contains": "535"}}), Some(&json!({"hint": "no"}))).unwrap_err();
        assert_eq!(why, r#"$.hint: expected a string containing "535"; got "no""#);
        let why =
            check(&json!({"hint": {"$all": [{"$contains": "n"}, {"$contains": "x"}]}}), Some(&json!({"hint": "no"})))
                .unwrap_err();
        assert_eq!(why, r#"$.hint: expected a string containing "x"; got "no" ($all[1])"#);
        let why = check(&json!({"hint": {"$not": {"$contains": "n"}}}), Some(&json!({"hint": "no"}))).unwrap_err();
        assert_eq!(why, r#"$.hint: expected a value not matching {"$contains":"n"}; got "no""#);
    }

    #[test]
    fn a_malformed_operator_never_matches() {
        assert!(!ok(&json!({"$bogus": 1}), &json!(1)));
        assert!(!ok(&json!({"$has": "x"}), &json!(["x"])));
        assert!(!ok(&json!({"$contains": 5}), &json!("5")));
        assert!(!ok(&json!({"$all": "x"}), &json!("x")));
        assert!(!ok(&json!({"$in": "x"}), &json!("x")));
        // Two keys: an ordinary object pattern, `$` or not.
        assert!(ok(&json!({"$a": 1, "b": 2}), &json!({"$a": 1, "b": 2})));
    }
}
