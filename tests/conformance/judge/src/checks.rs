//! The checks the judge makes on every outcome beside its `expect` pattern (README "Checks on
//! every outcome"): the elapsed bound (`within_secs`), no secret of the input anywhere in the
//! outcome (error, report, trace lines, log records), and no credential that reached a
//! hostile server before TLS where TLS was required.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};

use crate::cases::{Input, RrtCall};

/// Fragments shorter than this are not looked for: they would match by chance.
pub const MIN_FRAGMENT: usize = 6;

/// What the judge checks on a case's outcome beside `expect`.
#[derive(Clone, Default, PartialEq)]
pub struct Checks {
    /// The case's `within_secs`: the runner's `elapsed_ms` must not be above it.
    pub within_secs: Option<f64>,
    /// The case's `max_memory_mb`: the runner's `memory_peak_kb`, where it reports one (Rust),
    /// must not be above it.
    pub max_memory_mb: Option<f64>,
    /// Texts that must appear nowhere in the outcome, each with what it is.
    pub secrets: Vec<Secret>,
    /// The case's `arrives_in`: Maildirs in which every delivered message must be found once.
    pub arrives_in: Vec<String>,
}

/// A text that must not appear in an outcome, and what it is (the only part ever printed).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    pub what: String,
    pub text: String,
}

/// What it is, never the text.
impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secret").field("what", &self.what).finish_non_exhaustive()
    }
}

/// What the secrets are, never their texts.
impl fmt::Debug for Checks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Checks")
            .field("within_secs", &self.within_secs)
            .field("max_memory_mb", &self.max_memory_mb)
            .field("secrets", &self.secrets.iter().map(|s| s.what.as_str()).collect::<Vec<_>>())
            .field("arrives_in", &self.arrives_in)
            .finish()
    }
}

/// The stable middle of `base64(pad + data)` for a pad of `pad` bytes: the characters whose
/// six bits all come from `data` (so they are the same whatever the pad bytes and whatever
/// follows `data`). Every base64 text that holds `data` at some byte offset holds the stable
/// middle of one of the three pads.
pub fn stable_base64(data: &[u8], pad: usize) -> String {
    let mut bytes = vec![0u8; pad];
    bytes.extend_from_slice(data);
    let encoded = STANDARD.encode(&bytes);
    let (first, end) = (8 * pad, 8 * (pad + data.len()));
    encoded.chars().enumerate().filter(|(j, _)| 6 * j >= first && 6 * j + 6 <= end).map(|(_, c)| c).collect()
}

impl Checks {
    /// The checks of a concrete case: its `within_secs` and `max_memory_mb`, and the secrets of
    /// its input.
    pub fn of(case: &Value, input: &Input) -> Result<Checks, String> {
        let positive = |key: &str| match case.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .filter(|s| *s > 0.0)
                .map(Some)
                .ok_or_else(|| format!("{key} must be a positive number, not {v}")),
        };
        let arrives_in = match case.get("arrives_in") {
            None => Vec::new(),
            Some(Value::Array(dirs)) if !dirs.is_empty() => dirs
                .iter()
                .map(|d| d.as_str().map(str::to_owned).ok_or_else(|| format!("arrives_in: {d} is not a Maildir path")))
                .collect::<Result<_, _>>()?,
            Some(v) => return Err(format!("arrives_in must be a non-empty list of Maildir paths, not {v}")),
        };
        Ok(Checks {
            within_secs: positive("within_secs")?,
            max_memory_mb: positive("max_memory_mb")?,
            secrets: secrets_of(input),
            arrives_in,
        })
    }

    /// Every problem of `outcome` beside its pattern, each a sentence that holds no secret.
    pub fn problems(&self, outcome: &Value) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(limit) = self.within_secs {
            match outcome.get("elapsed_ms").and_then(Value::as_f64) {
                None => out.push(format!("within_secs {limit}: the runner reported no elapsed_ms")),
                Some(ms) if ms > limit * 1000.0 => {
                    out.push(format!("took {:.1} s, more than within_secs {limit}", ms / 1000.0));
                }
                Some(_) => {}
            }
        }
        if let (Some(limit), Some(kb)) = (self.max_memory_mb, outcome.get("memory_peak_kb").and_then(Value::as_f64)) {
            if kb > limit * 1024.0 {
                out.push(format!("the peak resident set rose {:.1} MB, more than max_memory_mb {limit}", kb / 1024.0));
            }
        }
        let mut found = Vec::new();
        self.find(outcome, "$", &mut found);
        out.extend(found);
        if !self.arrives_in.is_empty() {
            out.extend(crate::arrival::problems(&self.arrives_in, &crate::arrival::delivered_ids(outcome)));
        }
        if outcome.get("credentials_before_tls") == Some(&Value::Bool(true)) {
            out.push(
                "the server received AUTH (credentials) before TLS on a connection where TLS was required \
                 ($.credentials_before_tls)"
                    .to_owned(),
            );
        }
        out
    }

    fn look(&self, s: &str, path: &str, found: &mut Vec<String>) {
        let what: Vec<&str> =
            self.secrets.iter().filter(|secret| s.contains(&secret.text)).map(|secret| secret.what.as_str()).collect();
        if !what.is_empty() {
            found.push(format!("a secret of the input ({}) appears in the outcome at {path}", what.join("; ")));
        }
    }

    fn find(&self, v: &Value, path: &str, found: &mut Vec<String>) {
        match v {
            Value::String(s) => self.look(s, path, found),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.find(item, &format!("{path}[{i}]"), found);
                }
            }
            Value::Object(o) => {
                for (k, item) in o {
                    let path = format!("{path}.{k}");
                    self.look(k, &path, found);
                    self.find(item, &path, found);
                }
            }
            _ => {}
        }
    }

    /// `s` with every secret replaced by `<secret: what>`, for printing.
    pub fn redact_str(&self, s: &str) -> String {
        let mut s = s.to_owned();
        for secret in &self.secrets {
            s = s.replace(&secret.text, &format!("<secret: {}>", secret.what));
        }
        s
    }

    /// `v` with every secret replaced by `<secret: what>`, for printing.
    pub fn redact(&self, v: &Value) -> Value {
        let scrub = |s: &str| self.redact_str(s);
        match v {
            Value::String(s) => Value::String(scrub(s)),
            Value::Array(items) => Value::Array(items.iter().map(|i| self.redact(i)).collect()),
            Value::Object(o) => Value::Object(o.iter().map(|(k, i)| (scrub(k), self.redact(i))).collect::<Map<_, _>>()),
            other => other.clone(),
        }
    }
}

/// The secrets of an input: the profile's password (and, when it is an RRT, the values of the
/// RRT calls it names), its UTF-8 base64 at each of the three alignments, the base64 of the
/// PLAIN payload `\0user\0password` and of the password alone (LOGIN), the keyring's keys.
/// An encrypted password (`enc:v1:...`) is not decrypted here: its plaintext is not known.
pub fn secrets_of(input: &Input) -> Vec<Secret> {
    let mut out: Vec<Secret> = Vec::new();
    let mut add = |what: String, text: String| {
        if text.chars().count() >= MIN_FRAGMENT && !out.iter().any(|s| s.text == text) {
            out.push(Secret { what, text });
        }
    };
    let profile = &input.profile;
    let user = profile.get("username").and_then(Value::as_str).unwrap_or_default();
    let mut passwords: Vec<(String, String)> = Vec::new();
    if let Some(p) = profile.get("password").and_then(Value::as_str) {
        if !p.starts_with("enc:") {
            passwords.push(("the password".into(), p.to_owned()));
        }
        for RrtCall(_, id, name, value) in &input.rrt {
            if p.contains(&format!("{id}::%{name}%")) {
                passwords.push((format!("the RRT {id}::{name} in the password"), value.clone()));
            }
        }
    }
    for (what, p) in &passwords {
        add(what.clone(), p.clone());
        for pad in 0..3 {
            add(format!("{what} in base64, alignment {pad}"), stable_base64(p.as_bytes(), pad));
        }
        add(format!("{what}'s PLAIN payload in base64"), STANDARD.encode(format!("\0{user}\0{p}")));
        add(format!("{what} in base64 (LOGIN)"), STANDARD.encode(p));
    }
    for (i, line) in client_key_lines(profile).into_iter().enumerate() {
        add(format!("line {} of the client key", i + 2), line);
    }
    // The proxy's password (#15): in its own field, or in the proxy URL's `user:pass@`, and
    // HTTP Basic's base64 of `user:pass`.
    let proxy = profile.get("proxy").and_then(Value::as_str).unwrap_or_default();
    let userinfo = proxy.split_once("://").and_then(|(_, rest)| rest.rsplit_once('@')).map(|(u, _)| u);
    let proxy_user = userinfo.map(|u| u.split_once(':').map_or(u, |(u, _)| u)).unwrap_or_default();
    let mut proxy_passwords: Vec<(&str, &str)> = Vec::new();
    if let Some(p) = userinfo.and_then(|u| u.split_once(':')).map(|(_, p)| p) {
        proxy_passwords.push(("the proxy URL's password", p));
    }
    if let Some(p) = profile.get("proxy_password").and_then(Value::as_str).filter(|p| !p.starts_with("enc:")) {
        proxy_passwords.push(("the proxy password", p));
    }
    for (what, p) in proxy_passwords {
        add(what.to_owned(), p.to_owned());
        for pad in 0..3 {
            add(format!("{what} in base64, alignment {pad}"), stable_base64(p.as_bytes(), pad));
        }
        add(format!("{what} in HTTP Basic"), STANDARD.encode(format!("{proxy_user}:{p}")));
    }
    // The token provider's password at its issuer (the tokens themselves only the runner sees).
    if let Some(p) = input.token_provider.as_ref().and_then(|t| t.get("password")).and_then(Value::as_str) {
        add("the token provider's password".into(), p.to_owned());
    }
    if let Some(keyring) = &input.keyring {
        for entry in keyring.split(',') {
            if let Some((kid, key)) = entry.split_once(':') {
                add(format!("the keyring key {}", kid.trim()), key.trim().to_owned());
            }
        }
    }
    out
}

/// The base64 body lines of the profile's client certificate key (mutual TLS): the inline
/// `tls_client_key` unless it is an envelope, or the text of `tls_client_key_file` when the
/// judge can read it. Any of them in an outcome is a leak of the private key.
fn client_key_lines(profile: &Value) -> Vec<String> {
    let text = match (profile.get("tls_client_key").and_then(Value::as_str), profile.get("tls_client_key_file")) {
        (Some(k), _) if !k.starts_with("enc:") => k.to_owned(),
        (_, Some(Value::String(path))) => std::fs::read_to_string(path).unwrap_or_default(),
        _ => String::new(),
    };
    text.lines().map(str::trim).filter(|l| !l.starts_with("-----") && l.len() >= 16).map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::{Checks, Secret, secrets_of, stable_base64};
    use crate::cases::{Action, Input, RrtCall, RrtMethod};
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde_json::json;

    #[test]
    fn a_client_key_line_is_a_secret() {
        let key = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nshort\n-----END PRIVATE KEY-----\n";
        let s = secrets_of(&input(json!({"tls_client_key": key})));
        assert!(s.iter().any(|s| s.text == "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC" && s.what == "line 2 of the client key"));
        assert!(!s.iter().any(|s| s.text == "short" || s.text.starts_with("-----")));
        let s = secrets_of(&input(json!({"tls_client_key": "enc:v1:k1:AAAAAAAAAAAAAAAAAAAAAAAA"})));
        assert!(!s.iter().any(|s| s.what.contains("client key")));
    }

    fn input(profile: serde_json::Value) -> Input {
        Input {
            id: "t#1".into(),
            action: Action::Test,
            profile,
            options: None,
            message: None,
            messages: Vec::new(),
            keyring: Some("k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".into()),
            rrt: vec![RrtCall(RrtMethod::SetProtected, "ACC".into(), "pw".into(), "rrt-secret-9".into())],
            token_provider: None,
        }
    }

    fn checks() -> Checks {
        let profile = json!({"username": "alice@relaykit.test", "password": "Alice-Pass-1 ~ACC::%pw%~"});
        Checks {
            within_secs: Some(3.0),
            max_memory_mb: Some(64.0),
            secrets: secrets_of(&input(profile)),
            ..Checks::default()
        }
    }

    #[test]
    fn the_stable_middle_is_found_inside_any_base64_holding_the_password() {
        let pw = b"Alice-Pass-1";
        let middles: Vec<String> = (0..3).map(|pad| stable_base64(pw, pad)).collect();
        assert!(middles.iter().all(|m| m.len() >= 14), "{middles:?}");
        for prefix_len in 0..7 {
            for suffix in [&b""[..], b"x", b"yz", b"\0tail"] {
                let mut data = b"\0user@x\0".repeat(3)[..prefix_len].to_vec();
                data.extend_from_slice(pw);
                data.extend_from_slice(suffix);
                let text = STANDARD.encode(&data);
                assert!(middles.iter().any(|m| text.contains(m.as_str())), "{prefix_len} {suffix:?}: {text}");
            }
        }
        // Alignment 0 of "abc" is all of base64("abc"); a 1-byte pad leaves the middle two chars.
        assert_eq!(stable_base64(b"abc", 0), "YWJj");
        assert_eq!(stable_base64(b"abc", 1), "FiY"); // AGFiYw==: chars 2..=4 hold only the bits of "abc"
    }

    #[test]
    fn every_form_of_a_secret_fails_the_case_and_is_never_printed() {
        let c = checks();
        let plain = STANDARD.encode("\0alice@relaykit.test\0Alice-Pass-1 ~ACC::%pw%~");
        let login = STANDARD.encode("rrt-secret-9");
        let leaks = [
            json!({"error": {"message": "535 Alice-Pass-1 ~ACC::%pw%~ wrong"}}),
            json!({"error": {"message": format!("535 failed for {plain}")}}),
            json!({"trace": [format!("S: 535 echo {login}")]}),
            json!({"logs": ["rrt-secret-9 was used"]}),
            json!({"report": {"error": {"hint": "key AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="}}}),
            json!({"trace": [format!("S: 535 {}", &STANDARD.encode("xAlice-Pass-1 ~ACC::%pw%~")[2..])]}),
        ];
        for leak in leaks {
            let problems = c.problems(&json!({"elapsed_ms": 1, "outcome": leak}));
            assert!(!problems.is_empty(), "not caught: {leak}");
            let said = problems.join(" ") + &c.redact(&leak).to_string();
            for Secret { text, .. } in &c.secrets {
                assert!(!said.contains(text.as_str()), "printed a secret: {said}");
            }
        }
        let clean = json!({"elapsed_ms": 5, "error": {"message": "535 authentication failed", "hint": "check the password"},
                           "trace": ["C: AUTH PLAIN <redacted>", "S: 535 5.7.8 no"]});
        assert_eq!(c.problems(&clean), Vec::<String>::new());
    }

    #[test]
    fn the_proxy_password_in_its_field_and_in_the_url_is_a_secret() {
        let mut i =
            input(json!({"proxy": "http://rkproxy:Url-Secret-7@127.0.0.1:3128", "proxy_password": "Field-Secret-8"}));
        i.keyring = None;
        i.rrt.clear();
        let c = Checks { secrets: secrets_of(&i), ..Checks::default() };
        let basic = STANDARD.encode("rkproxy:Field-Secret-8");
        for leak in [
            json!({"error": {"message": "proxy said Url-Secret-7"}}),
            json!({"trace": ["C: Field-Secret-8"]}),
            json!({"logs": [format!("Proxy-Authorization: Basic {basic}")]}),
        ] {
            assert!(!c.problems(&json!({"outcome": leak})).is_empty(), "not caught: {leak}");
        }
        assert!(
            c.problems(&json!({"outcome": {"error": {"hint": "proxy authentication failed at 127.0.0.1:3128"}}}))
                .is_empty()
        );
    }

    #[test]
    fn short_fragments_and_encrypted_passwords_are_not_looked_for() {
        let mut i = input(json!({"username": "u", "password": "abc"}));
        i.keyring = None;
        i.rrt.clear();
        // "abc" is too short; its PLAIN payload base64 ("AHUAYWJj") is not.
        let s = secrets_of(&i);
        assert_eq!(s.iter().map(|s| s.text.as_str()).collect::<Vec<_>>(), ["AHUAYWJj"]);
        i.profile = json!({"password": "enc:v1:k1:AAAAAAAAAAAAAAAAAAAA"});
        assert!(secrets_of(&i).is_empty());
    }

    #[test]
    fn elapsed_and_credentials_before_tls() {
        let c = checks();
        assert_eq!(c.problems(&json!({"elapsed_ms": 2999})), Vec::<String>::new());
        assert_eq!(c.problems(&json!({"elapsed_ms": 3001})), ["took 3.0 s, more than within_secs 3"]);
        assert_eq!(c.problems(&json!({})), ["within_secs 3: the runner reported no elapsed_ms"]);
        let p = c.problems(&json!({"elapsed_ms": 1, "credentials_before_tls": true}));
        assert!(p[0].contains("before TLS"), "{p:?}");
        assert!(c.problems(&json!({"elapsed_ms": 1, "credentials_before_tls": false})).is_empty());
        assert!(Checks::default().problems(&json!({})).is_empty(), "no within_secs: no elapsed needed");
        assert!(c.problems(&json!({"elapsed_ms": 1, "memory_peak_kb": 65536})).is_empty());
        assert_eq!(
            c.problems(&json!({"elapsed_ms": 1, "memory_peak_kb": 70000})),
            ["the peak resident set rose 68.4 MB, more than max_memory_mb 64"]
        );
        assert!(!format!("{c:?}").contains("Alice"), "Debug holds no secret");
    }
}
