//! Variables (`${NAME}`, `#{NAME}`) and their substitution (README "Variables").

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

/// The variables a case may use: the process environment first, then
/// `$RELAYKIT_STATE/servers.env`.
#[derive(Clone, Default)]
pub struct Vars {
    map: HashMap<String, String>,
}

/// Names only: values hold passwords (`RK_PASS`, `RK_OUTSIDE_PROFILE`).
impl fmt::Debug for Vars {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&String> = self.map.keys().collect();
        names.sort();
        f.debug_struct("Vars").field("names", &names).finish_non_exhaustive()
    }
}

impl Vars {
    /// The environment over `$RELAYKIT_STATE/servers.env` (default `<repo>/tests/.state`).
    /// A missing servers.env is not an error: the cases that need its variables are skipped.
    pub fn load() -> Self {
        let mut vars = Self::from_env_file(&state_dir().join("servers.env"));
        // Not `std::env::vars()`: it panics on a value that is not UTF-8.
        for (k, v) in std::env::vars_os() {
            if let (Ok(k), Ok(v)) = (k.into_string(), v.into_string()) {
                vars.map.insert(k, v);
            }
        }
        vars
    }

    /// `KEY=VALUE` lines (split at the first `=`, no quoting; `#` starts a comment line).
    pub fn from_env_file(path: &Path) -> Self {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let map = text
            .lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| line.split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
            .collect();
        Self { map }
    }

    /// Exactly these variables (for tests).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self { map: pairs.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect() }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.map.get(name).map(String::as_str)
    }

    /// The role families `RK_ROLES` selects.
    pub fn roles(&self) -> Vec<&str> {
        self.get("RK_ROLES").map(|r| r.split_whitespace().collect()).unwrap_or_default()
    }
}

/// `$RELAYKIT_STATE`, or `<repo>/tests/.state` where `tests/servers/start.sh` writes by default.
pub fn state_dir() -> PathBuf {
    match std::env::var_os("RELAYKIT_STATE") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => crate::repo_root().join("tests/.state"),
    }
}

/// Why a case could not be made concrete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unresolved {
    /// A variable the case uses is not defined: the case is skipped.
    Undefined(String),
    /// The case is malformed (`${` without `}`, `#{NAME}` that is not JSON): the case fails.
    Malformed(String),
}

/// `${NAME}` replaced inside every string; a string that is exactly `#{NAME}` replaced by
/// NAME's value parsed as JSON. Object keys are left alone.
pub fn substitute(v: &Value, vars: &Vars) -> Result<Value, Unresolved> {
    Ok(match v {
        Value::String(s) => substitute_str(s, vars)?,
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

fn substitute_str(s: &str, vars: &Vars) -> Result<Value, Unresolved> {
    let lookup = |name: &str| vars.get(name).ok_or_else(|| Unresolved::Undefined(name.to_owned()));
    if let Some(name) = s.strip_prefix("#{").and_then(|r| r.strip_suffix('}')).filter(|n| !n.contains('}')) {
        return serde_json::from_str(lookup(name)?)
            .map_err(|e| Unresolved::Malformed(format!("#{{{name}}}: the value is not JSON ({e})")));
    }
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let end = after.find('}').ok_or_else(|| Unresolved::Malformed(format!("unterminated ${{ in {s:?}")))?;
        out.push_str(lookup(&after[..end])?);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(Value::String(out))
}

#[cfg(test)]
mod tests {
    use super::{Unresolved, Vars, substitute};
    use serde_json::json;

    #[test]
    fn dollar_in_strings_hash_as_json() {
        let vars = Vars::from_pairs([("H", "127.0.0.1"), ("P", "2525"), ("B", r#"{"port": 1}"#)]);
        let got = substitute(
            &json!({"s": "smtp://${H}:${P}", "p": "#{P}", "b": "#{B}", "n": [1, true], "x": "#{P}x"}),
            &vars,
        );
        assert_eq!(
            got.unwrap(),
            json!({"s": "smtp://127.0.0.1:2525", "p": 2525, "b": {"port": 1}, "n": [1, true], "x": "#{P}x"})
        );
    }

    #[test]
    fn undefined_skips_and_malformed_fails() {
        let vars = Vars::from_pairs([("NOTJSON", "{")]);
        assert_eq!(substitute(&json!(["${NOPE}"]), &vars), Err(Unresolved::Undefined("NOPE".into())));
        assert_eq!(substitute(&json!("#{NOPE}"), &vars), Err(Unresolved::Undefined("NOPE".into())));
        assert!(matches!(substitute(&json!("a ${B"), &vars), Err(Unresolved::Malformed(_))));
        assert!(matches!(substitute(&json!("#{NOTJSON}"), &vars), Err(Unresolved::Malformed(_))));
    }

    #[test]
    fn servers_env_lines_and_roles() {
        let dir = std::env::temp_dir().join(format!("rk-judge-vars-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("servers.env");
        std::fs::write(&file, "# comment\nRK_ROLES=dovecot  ntlm\nRK_X=a=b\nnot a line\n").unwrap();
        let vars = Vars::from_env_file(&file);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(vars.get("RK_X"), Some("a=b"));
        assert_eq!(vars.roles(), ["dovecot", "ntlm"]);
        assert_eq!(vars.get("# comment"), None);
        assert!(!format!("{vars:?}").contains("a=b"), "Debug shows names, not values");
    }
}
