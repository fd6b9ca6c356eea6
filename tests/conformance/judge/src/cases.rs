//! Reading the case files and making each case concrete: roles, `requires`, variables,
//! `$base`, and the runner's input record (README "Case files", "Roles", "Runner input").

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::checks::Checks;
use crate::vars::{Unresolved, Vars, substitute};

/// One case of one file, with what to do about it.
#[derive(Debug, Clone)]
pub struct Case {
    /// `<file>#<tcId>`, e.g. `dovecot.json#12`: the key of the runner's outcome line.
    pub id: String,
    pub role: String,
    pub comment: String,
    pub plan: Plan,
}

#[derive(Debug, Clone)]
pub enum Plan {
    /// The runner executes `input`; its outcome must match `expect` and pass `checks`.
    Run { input: Box<Input>, expect: Value, checks: Box<Checks> },
    /// Not run, for this reason (role not selected, variable not defined).
    Skip(String),
    /// The case itself is wrong; it fails without being run.
    Invalid(String),
}

/// What a runner executes: every variable substituted, `$base` applied, the RRT calls listed
/// in order. One JSON line of `expand`'s output.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Input {
    pub id: String,
    pub action: Action,
    /// The profile's JSON form.
    pub profile: Value,
    /// The JSON form of `TestOptions` or `SendOptions`; absent: the defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<Value>,
    /// The message's JSON form (send only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Value>,
    /// The messages' JSON forms, in order (mailer only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<Value>,
    /// Keyring text; absent: an empty keyring.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyring: Option<String>,
    /// RRT context calls, in order; absent: an empty context.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rrt: Vec<RrtCall>,
    /// The declarative token provider each runner builds in its own language (README,
    /// "token_provider"); absent: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_provider: Option<Value>,
}

/// The id and action only: a profile may hold a real password (the `outside` role).
impl fmt::Debug for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Input").field("id", &self.id).field("action", &self.action).finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Test,
    Send,
    /// A `Mailer` from the profile and `options`, `send_many(messages)`, `close()`, `stats()`.
    Mailer,
}

/// One call on the RRT context: `["set", "ID", "name", "value"]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RrtCall(pub RrtMethod, pub String, pub String, pub String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RrtMethod {
    Set,
    SetProtected,
    SetRestricted,
}

impl RrtMethod {
    const ALL: [(Self, &'static str); 3] =
        [(Self::Set, "set"), (Self::SetProtected, "set_protected"), (Self::SetRestricted, "set_restricted")];
}

impl Case {
    /// The line `expand` prints: the input, or `{"id", "skip"}` / `{"id", "invalid"}`, which a
    /// runner passes over.
    pub fn line(&self) -> Value {
        match &self.plan {
            Plan::Run { input, .. } => {
                serde_json::to_value(&**input).unwrap_or_else(|e| json!({"id": self.id, "invalid": e.to_string()}))
            }
            Plan::Skip(why) => json!({"id": self.id, "skip": why}),
            Plan::Invalid(why) => json!({"id": self.id, "invalid": why}),
        }
    }
}

/// The `*.json` files of `dir`, sorted by name.
pub fn case_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|x| x == "json") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// The languages whose runners read the cases (a `languages` key names some of them).
pub const LANGUAGES: [&str; 4] = ["rust", "c", "python", "node"];

/// Every case of `files`, in order, for every language. A file that cannot be read is one
/// invalid case.
pub fn expand(files: &[PathBuf], vars: &Vars) -> Vec<Case> {
    expand_for(files, vars, None)
}

/// Every case of `files`, in order, as the runner of `lang` gets them: a case whose (or whose
/// group's) `languages` does not name `lang` is a skip. `None`: every case runs.
pub fn expand_for(files: &[PathBuf], vars: &Vars, lang: Option<&str>) -> Vec<Case> {
    let mut cases = Vec::new();
    for file in files {
        let name = file.file_name().map_or_else(|| file.display().to_string(), |n| n.to_string_lossy().into_owned());
        let doc = std::fs::read_to_string(file)
            .map_err(|e| e.to_string())
            .and_then(|text| serde_json::from_str::<Value>(&text).map_err(|e| format!("not JSON: {e}")));
        match doc {
            Ok(doc) => expand_file(&name, &doc, vars, lang, &mut cases),
            Err(why) => cases.push(invalid(name, "", &format!("{}: {why}", file.display()))),
        }
    }
    cases
}

fn invalid(id: String, role: &str, why: &str) -> Case {
    Case { id, role: role.to_owned(), comment: String::new(), plan: Plan::Invalid(why.to_owned()) }
}

/// The cases of one parsed file (for tests).
#[cfg(test)]
pub(crate) fn expand_doc(name: &str, doc: &Value, vars: &Vars) -> Vec<Case> {
    expand_doc_for(name, doc, vars, None)
}

/// The cases of one parsed file for one language (for tests).
#[cfg(test)]
pub(crate) fn expand_doc_for(name: &str, doc: &Value, vars: &Vars, lang: Option<&str>) -> Vec<Case> {
    let mut cases = Vec::new();
    expand_file(name, doc, vars, lang, &mut cases);
    cases
}

/// `Ok(None)`: no `languages` key; `Ok(Some(list))`; `Err`: a key that is not a list of known
/// language names.
fn languages(v: Option<&Value>) -> Result<Option<Vec<&str>>, String> {
    let Some(v) = v else { return Ok(None) };
    let list = v.as_array().and_then(|l| l.iter().map(Value::as_str).collect::<Option<Vec<_>>>());
    match list {
        Some(l) if l.iter().all(|x| LANGUAGES.contains(x)) => Ok(Some(l)),
        _ => Err(format!("languages must be a list of {LANGUAGES:?}, not {v}")),
    }
}

fn expand_file(name: &str, doc: &Value, vars: &Vars, lang: Option<&str>, cases: &mut Vec<Case>) {
    let Some(groups) = doc.get("testGroups").and_then(Value::as_array) else {
        cases.push(invalid(name.to_owned(), "", "no testGroups array"));
        return;
    };
    let roles = vars.roles();
    let first = cases.len();
    for (gi, group) in groups.iter().enumerate() {
        let (Some(role), Some(tests)) =
            (group.get("role").and_then(Value::as_str), group.get("tests").and_then(Value::as_array))
        else {
            cases.push(invalid(format!("{name} testGroups[{gi}]"), "", "a group needs a role and a tests array"));
            continue;
        };
        let family = role.split('-').next().unwrap_or(role);
        let group_languages = languages(group.get("languages"));
        for (ti, raw) in tests.iter().enumerate() {
            let Some(tc_id) = raw.get("tcId").and_then(Value::as_u64) else {
                cases.push(invalid(format!("{name} testGroups[{gi}].tests[{ti}]"), role, "no numeric tcId"));
                continue;
            };
            let id = format!("{name}#{tc_id}");
            let comment = raw.get("comment").and_then(Value::as_str).unwrap_or_default().to_owned();
            let langs = match raw.get("languages") {
                Some(own) => languages(Some(own)),
                None => group_languages.clone(),
            };
            let plan = if cases[first..].iter().any(|c| c.id == id) {
                Plan::Invalid(format!("tcId {tc_id} appears twice in {name}"))
            } else if let Err(why) = &langs {
                Plan::Invalid(why.clone())
            } else if let (Some(lang), Ok(Some(list))) = (lang, &langs)
                && !list.contains(&lang)
            {
                Plan::Skip(format!("not a case for {lang} (languages: {})", list.join(", ")))
            } else if !roles.contains(&family) {
                Plan::Skip(format!("role family `{family}` not in RK_ROLES"))
            } else {
                plan(&id, raw, vars)
            };
            cases.push(Case { id, role: role.to_owned(), comment, plan });
        }
    }
}

/// `requires`, then substitution, then the input's shape.
fn plan(id: &str, raw: &Value, vars: &Vars) -> Plan {
    let requires = raw.get("requires").map_or(&[][..], |r| r.as_array().map_or(&[][..], Vec::as_slice));
    for name in requires {
        match name.as_str() {
            Some(name) if vars.get(name).is_none() => return Plan::Skip(format!("{name} is not set")),
            Some(_) => {}
            None => return Plan::Invalid(format!("requires: {name} is not a variable name")),
        }
    }
    let case = match substitute(raw, vars) {
        Ok(case) => case,
        Err(Unresolved::Undefined(name)) => return Plan::Skip(format!("variable {name} is not defined")),
        Err(Unresolved::Malformed(why)) => return Plan::Invalid(why),
    };
    let input = match input(id, &case) {
        Ok(input) => input,
        Err(why) => return Plan::Invalid(why),
    };
    match Checks::of(&case, &input) {
        Ok(checks) => Plan::Run {
            expect: case.get("expect").cloned().unwrap_or(Value::Null),
            input: Box::new(input),
            checks: Box::new(checks),
        },
        Err(why) => Plan::Invalid(why),
    }
}

fn input(id: &str, case: &Value) -> Result<Input, String> {
    if case.get("expect").is_none() {
        return Err("no expect".into());
    }
    let action = match case.get("action").and_then(Value::as_str) {
        Some("test") => Action::Test,
        Some("send") => Action::Send,
        Some("mailer") => Action::Mailer,
        other => return Err(format!("action must be \"test\", \"send\" or \"mailer\", not {other:?}")),
    };
    let message = case.get("message").cloned();
    if action == Action::Send && message.is_none() {
        return Err("a send case needs a message".into());
    }
    let messages = match case.get("messages") {
        None => Vec::new(),
        Some(Value::Array(m)) if action == Action::Mailer && !m.is_empty() => m.clone(),
        Some(_) => return Err("messages must be a non-empty list, in a mailer case".into()),
    };
    if action == Action::Mailer && messages.is_empty() {
        return Err("a mailer case needs messages".into());
    }
    let keyring = match case.get("keyring") {
        None => None,
        Some(Value::String(k)) => Some(k.clone()),
        Some(_) => return Err("keyring must be the keyring's text".into()),
    };
    let token_provider = match case.get("token_provider") {
        None => None,
        Some(t @ Value::Object(_)) => Some(t.clone()),
        Some(_) => return Err("token_provider must be an object".into()),
    };
    Ok(Input {
        id: id.to_owned(),
        action,
        profile: with_base(case.get("profile").cloned().unwrap_or(Value::Null))?,
        options: case.get("options").cloned(),
        message,
        messages,
        keyring,
        rrt: rrt_calls(case.get("rrt"))?,
        token_provider,
    })
}

/// A profile object with `$base`: that object with the other keys laid over it.
pub fn with_base(profile: Value) -> Result<Value, String> {
    let Value::Object(mut o) = profile else { return Ok(profile) };
    let Some(base) = o.remove("$base") else { return Ok(Value::Object(o)) };
    let Value::Object(mut b) = base else { return Err(format!("$base is not an object: {base}")) };
    b.extend(o);
    Ok(Value::Object(b))
}

/// `{"set": [[id, name, value], ...], "set_protected": ..., "set_restricted": ...}` (or, per
/// method, `{"ID::name": value}`) as calls: all `set` first, then protected, then restricted.
fn rrt_calls(rrt: Option<&Value>) -> Result<Vec<RrtCall>, String> {
    let Some(rrt) = rrt else { return Ok(Vec::new()) };
    let Some(methods) = rrt.as_object() else { return Err("rrt must be an object".into()) };
    if let Some(k) = methods.keys().find(|k| RrtMethod::ALL.iter().all(|(_, name)| name != k)) {
        return Err(format!("rrt.{k}: not set, set_protected or set_restricted"));
    }
    let mut calls = Vec::new();
    for (method, name) in RrtMethod::ALL {
        let triples = match methods.get(name) {
            None => Some(Vec::new()),
            Some(Value::Array(list)) => list.iter().map(triple).collect::<Option<Vec<_>>>(),
            Some(Value::Object(map)) => map_form(map),
            Some(_) => None,
        }
        .ok_or_else(|| format!("rrt.{name}: expected [[id, name, value], ...] of strings"))?;
        calls.extend(triples.into_iter().map(|(i, n, v)| RrtCall(method, i, n, v)));
    }
    Ok(calls)
}

fn triple(t: &Value) -> Option<(String, String, String)> {
    match t.as_array()?.as_slice() {
        [Value::String(i), Value::String(n), Value::String(v)] => Some((i.clone(), n.clone(), v.clone())),
        _ => None,
    }
}

fn map_form(map: &Map<String, Value>) -> Option<Vec<(String, String, String)>> {
    map.iter()
        .map(|(k, v)| {
            let (i, n) = k.split_once("::")?;
            Some((i.to_owned(), n.to_owned(), v.as_str()?.to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{Action, Plan, RrtCall, RrtMethod, expand_doc, with_base};
    use crate::vars::Vars;
    use serde_json::json;

    fn plans(doc: &serde_json::Value, vars: &Vars) -> Vec<(String, Plan)> {
        expand_doc("f.json", doc, vars).into_iter().map(|c| (c.id, c.plan)).collect()
    }

    #[test]
    fn roles_requires_and_variables_decide_what_runs() {
        let doc = json!({"testGroups": [
            {"role": "dovecot-plain", "tests": [
                {"tcId": 1, "action": "test", "profile": {"server": "${H}", "port": "#{P}"}, "expect": {"status": "ok"}},
                {"tcId": 2, "action": "test", "profile": {}, "requires": ["RK_NEVER"], "expect": {}},
                {"tcId": 3, "action": "test", "profile": {"server": "${RK_NO_SUCH_VARIABLE}"}, "expect": {}},
                {"tcId": 1, "action": "test", "profile": {}, "expect": {}}]},
            {"role": "cyrus", "tests": [{"tcId": 4, "action": "test", "profile": {}, "expect": {}}]}]});
        let vars = Vars::from_pairs([("RK_ROLES", "dovecot ntlm"), ("H", "127.0.0.1"), ("P", "25")]);
        let got = plans(&doc, &vars);
        let Plan::Run { input, expect, .. } = &got[0].1 else { panic!("{:?}", got[0]) };
        assert_eq!((got[0].0.as_str(), input.action), ("f.json#1", Action::Test));
        assert_eq!(input.profile, json!({"server": "127.0.0.1", "port": 25}));
        assert_eq!(expect, &json!({"status": "ok"}));
        assert!(matches!(&got[1].1, Plan::Skip(w) if w == "RK_NEVER is not set"));
        assert!(matches!(&got[2].1, Plan::Skip(w) if w == "variable RK_NO_SUCH_VARIABLE is not defined"));
        assert!(matches!(&got[3].1, Plan::Invalid(w) if w.contains("twice")));
        assert!(matches!(&got[4].1, Plan::Skip(w) if w == "role family `cyrus` not in RK_ROLES"));
    }

    #[test]
    fn base_is_laid_under_the_other_keys() {
        let vars = Vars::from_pairs([("B", r#"{"server": "x", "port": 1}"#), ("P", "2525"), ("RK_ROLES", "outside")]);
        let doc = json!({"testGroups": [{"role": "outside", "tests": [
            {"tcId": 1, "action": "test", "profile": {"$base": "#{B}", "port": "#{P}"}, "expect": {}},
            {"tcId": 2, "action": "test", "profile": {"$base": "#{P}"}, "expect": {}}]}]});
        let got = plans(&doc, &vars);
        let Plan::Run { input, .. } = &got[0].1 else { panic!("{:?}", got[0]) };
        assert_eq!(input.profile, json!({"server": "x", "port": 2525}));
        assert!(matches!(&got[1].1, Plan::Invalid(w) if w.starts_with("$base is not an object")));
        assert_eq!(with_base(json!([1])).unwrap(), json!([1]));
    }

    #[test]
    fn rrt_becomes_ordered_calls_and_the_line_is_the_runner_input() {
        let vars = Vars::from_pairs([("RK_ROLES", "aiosmtpd"), ("U", "alice")]);
        let doc = json!({"testGroups": [{"role": "aiosmtpd", "tests": [
            {"tcId": 1, "action": "send", "profile": {}, "message": {"to": ["${U}"]}, "keyring": "k:AA",
             "rrt": {"set_restricted": {"APP::r": "3"}, "set": [["APP", "user", "${U}"]]}, "expect": {}},
            {"tcId": 2, "action": "send", "profile": {}, "expect": {}},
            {"tcId": 3, "action": "test", "profile": {}, "rrt": {"set": [["A", "b"]]}, "expect": {}},
            {"tcId": 4, "action": "probe", "profile": {}, "expect": {}}]}]});
        let cases = expand_doc("f.json", &doc, &vars);
        let Plan::Run { input, .. } = &cases[0].plan else { panic!("{:?}", cases[0]) };
        assert_eq!(
            input.rrt,
            [
                RrtCall(RrtMethod::Set, "APP".into(), "user".into(), "alice".into()),
                RrtCall(RrtMethod::SetRestricted, "APP".into(), "r".into(), "3".into())
            ]
        );
        assert_eq!(
            cases[0].line(),
            json!({"id": "f.json#1", "action": "send", "profile": {}, "message": {"to": ["alice"]}, "keyring": "k:AA",
                   "rrt": [["set", "APP", "user", "alice"], ["set_restricted", "APP", "r", "3"]]})
        );
        assert!(matches!(&cases[1].plan, Plan::Invalid(w) if w.contains("needs a message")));
        assert!(matches!(&cases[2].plan, Plan::Invalid(w) if w.starts_with("rrt.set:")));
        let Plan::Invalid(why) = &cases[3].plan else { panic!("{:?}", cases[3]) };
        assert!(why.contains("probe"), "{why}");
        assert_eq!(cases[3].line(), json!({"id": "f.json#4", "invalid": why}));
    }

    #[test]
    fn languages_pick_the_runners_that_get_a_case() {
        let vars = Vars::from_pairs([("RK_ROLES", "hostile")]);
        let doc = json!({"testGroups": [{"role": "hostile", "languages": ["rust"], "tests": [
            {"tcId": 1, "action": "test", "profile": {}, "expect": {}},
            {"tcId": 2, "action": "test", "profile": {}, "languages": ["rust", "c", "python", "node"], "expect": {}},
            {"tcId": 3, "action": "test", "profile": {}, "languages": ["cobol"], "expect": {}},
            {"tcId": 4, "action": "test", "profile": {}, "within_secs": 3, "expect": {}},
            {"tcId": 5, "action": "test", "profile": {}, "within_secs": "soon", "expect": {}}]}]});
        let run = |lang| -> Vec<&'static str> {
            super::expand_doc_for("f.json", &doc, &vars, lang)
                .iter()
                .map(|c| match &c.plan {
                    Plan::Run { .. } => "run",
                    Plan::Skip(_) => "skip",
                    Plan::Invalid(_) => "invalid",
                })
                .collect()
        };
        assert_eq!(run(None), ["run", "run", "invalid", "run", "invalid"]);
        assert_eq!(run(Some("rust")), ["run", "run", "invalid", "run", "invalid"]);
        assert_eq!(run(Some("python")), ["skip", "run", "invalid", "skip", "skip"]);
        let cases = super::expand_doc_for("f.json", &doc, &vars, Some("node"));
        assert!(
            matches!(&cases[0].plan, Plan::Skip(w) if w == "not a case for node (languages: rust)"),
            "{:?}",
            cases[0]
        );
        let Plan::Run { checks, .. } = &super::expand_doc("f.json", &doc, &vars)[3].plan else { panic!() };
        assert_eq!(checks.within_secs, Some(3.0));
    }
}
