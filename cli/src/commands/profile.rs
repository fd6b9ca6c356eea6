//! `relaykit profile new|show|validate`.

use std::io::{BufRead as _, IsTerminal as _, Write as _};

use relaykit::{Error, ErrorKind, Profile};
use serde::Serialize;
use serde_json::{Map, Value, json};
use zeroize::Zeroizing;

use crate::args::{Common, ProfileFields, ProfileNewArgs, ProfileShowArgs, ProfileValidateArgs};
use crate::common::{self, Paint};
use crate::exit::{self, Failure, Outcome};

/// `profile new FILE`: the §1 object from the flags (and the prompts on a terminal), checked by
/// the library (`Profile::from_json_value`, so errors name `$.field`, here with the flag), then
/// written atomically with mode 0600.
pub fn new(c: &Common, mut a: ProfileNewArgs) -> Outcome {
    if a.file.exists() && !a.force {
        return Err(Failure::usage(format!(
            "{} exists: give --force to replace it, or `relaykit profile show {}` to see it",
            a.file.display(),
            a.file.display()
        )));
    }
    // The key first: no point asking for a password that cannot be encrypted.
    let keyring = if a.fields.encrypt_password || a.fields.encrypt_tls_client_key {
        Some(common::keyring_with_key(c)?)
    } else {
        None
    };
    let interactive = !a.no_input && std::io::stdin().is_terminal();
    if interactive && a.fields.server.is_none() {
        prompt_fields(&mut a.fields)?;
    }
    let f = &a.fields;
    let auth = f.auth || f.username.is_some() || f.password_stdin || f.password_prompt;
    let password = if f.ntlm_current_user {
        None
    } else if f.password_stdin {
        Some(common::read_secret("", true)?)
    } else if f.password_prompt || (auth && interactive) {
        Some(common::read_secret("Password (not shown): ", false)?)
    } else {
        None
    };
    let proxy_password =
        if f.proxy_password_prompt { Some(common::read_secret("Proxy password (not shown): ", false)?) } else { None };
    let mut value = fields_json(f, auth);
    if let (Some(pem), Value::Object(obj)) = (&f.tls_ca_pem_from, &mut value) {
        let text = std::fs::read_to_string(pem)
            .map_err(|e| Error::new(ErrorKind::Io, format!("--tls-ca-pem-from {}: {e}", pem.display())))?;
        obj.insert("tls_ca_pem".into(), Value::String(text));
    }
    copy_client_certificate(f, &mut value)?;
    if let Value::Object(obj) = &mut value {
        match &password {
            Some(p) => {
                obj.insert("password".into(), Value::String(p.as_str().to_owned()));
            }
            // "Encrypted" without a password: the library's rule says what is wrong.
            None if f.encrypt_password => {
                obj.insert("password_encrypted".into(), Value::Bool(true));
            }
            None => {}
        }
    }
    let built = Profile::from_json_value(&value);
    // The JSON copy of the password is not zeroizing: wipe it now.
    if let Value::Object(obj) = &mut value {
        if let Some(Value::String(s)) = obj.remove("password") {
            drop(Zeroizing::new(s));
        }
        if let Some(Value::String(s)) = obj.remove("tls_client_key") {
            drop(Zeroizing::new(s));
        }
    }
    let mut profile = built.map_err(with_flag)?;
    if let Some(p) = &proxy_password {
        match &keyring {
            Some(k) => profile.encrypt_proxy_password(p.as_str(), k)?,
            None => profile.set_proxy_password(p.as_str()),
        }
        profile.validate().map_err(with_flag)?;
    }
    if f.ntlm_current_user {
        // The library's setter decides what "Log on using NTLM authentication" implies.
        profile.set_ntlm_current_user(true);
        profile.validate().map_err(with_flag)?;
    }
    if let Some(k) = &keyring {
        if let Some(p) = &password {
            common::warn_if_encrypting_rrt(p);
        }
        if f.encrypt_password {
            profile.encrypt_current_password(k)?;
        }
        if f.encrypt_tls_client_key {
            profile.encrypt_current_tls_client_key(k)?;
        }
    }
    common::write_profile(&a.file, &profile)?;
    let note = match (profile.password_encrypted(), profile.password().is_some()) {
        (true, _) => format!(
            ", password encrypted under key {}",
            keyring.as_ref().and_then(|k| k.newest_key_id()).unwrap_or("?")
        ),
        (false, true) => ", password in plain text (run `relaykit encrypt-password` to encrypt it)".to_owned(),
        (false, false) => String::new(),
    };
    println!("wrote {} (server {}, port {}{note})", a.file.display(), profile.server, profile.effective_port());
    Ok(())
}

/// The §1 object the flags describe (keys left out are the library's defaults).
fn fields_json(f: &ProfileFields, auth: bool) -> Value {
    let mut o = Map::new();
    let mut put = |k: &str, v: Value| {
        o.insert(k.to_owned(), v);
    };
    if let Some(id) = &f.id {
        put("id", json!(id));
    }
    put("server", json!(f.server.clone().unwrap_or_default()));
    if let Some(p) = f.port {
        put("port", json!(p));
    }
    if f.encrypted {
        put("encrypted_connection", json!(true));
    }
    if let Some(m) = &f.tls_mode {
        put("tls_mode", json!(m));
    }
    if let Some(s) = &f.starttls {
        put("starttls", json!(s));
    }
    if auth {
        put("requires_authentication", json!(true));
    }
    if let Some(u) = &f.username {
        put("username", json!(u));
    }
    if let Some(m) = &f.auth_mechanisms {
        put("auth_mechanisms", json!(m));
    }
    if let Some(o) = &f.auth_order {
        put("auth_order", json!(o));
    }
    if f.allow_plaintext_password {
        put("allow_plaintext_password", json!(true));
    }
    if f.no_tls_verify {
        put("tls_verify", json!(false));
    }
    if let Some(ca) = &f.tls_ca_file {
        put("tls_ca_file", json!(ca));
    }
    if let Some(h) = &f.helo_name {
        put("helo_name", json!(h));
    }
    if let Some(t) = f.timeout_secs {
        put("timeout_secs", json!(t));
    }
    if let Some(c) = &f.tls_client_cert_file {
        put("tls_client_cert_file", json!(c));
    }
    if let Some(k) = &f.tls_client_key_file {
        put("tls_client_key_file", json!(k));
    }
    if let Some(p) = &f.proxy {
        put("proxy", json!(p));
    }
    if let Some(p) = &f.protocol {
        put("protocol", json!(p));
    }
    Value::Object(o)
}

/// The flag that sets the field a `$.field` error names.
fn flag_for(path: &str) -> Option<&'static str> {
    let key = path.strip_prefix("$.")?;
    let key = key.split(['[', '.']).next().unwrap_or(key);
    Some(match key {
        "server" => "--server",
        "port" => "--port",
        "encrypted_connection" => "--encrypted",
        "tls_mode" => "--tls-mode",
        "starttls" => "--starttls",
        "requires_authentication" => "--auth",
        "username" => "--username",
        "password" => "--password-stdin or --password-prompt",
        "password_encrypted" => "--encrypt-password",
        "use_ntlm_current_user" => "--ntlm-current-user",
        "auth_mechanisms" => "--auth-mechanisms",
        "auth_order" => "--auth-order",
        "allow_plaintext_password" => "--allow-plaintext-password",
        "tls_verify" => "--no-tls-verify",
        "tls_ca_file" => "--tls-ca-file",
        "tls_ca_pem" => "--tls-ca-pem-from",
        "helo_name" => "--helo-name",
        "timeout_secs" => "--timeout-secs",
        "id" => "--id",
        "tls_client_cert_file" => "--tls-client-cert-file",
        "tls_client_cert_pem" => "--tls-client-cert-pem-from",
        "tls_client_key_file" => "--tls-client-key-file",
        "tls_client_key" => "--tls-client-key-from",
        "proxy" => "--proxy",
        "proxy_password" => "--proxy-password-prompt",
        "protocol" => "--protocol",
        _ => return None,
    })
}

/// A profile error from flags, with the flag named after the library's `$.field` message.
fn with_flag(e: Error) -> Failure {
    let msg = e.message();
    let path = msg.split(':').next().unwrap_or("");
    match flag_for(path) {
        Some(flag) if e.kind() == ErrorKind::Config => {
            Failure::Relaykit(Error::new(ErrorKind::Config, format!("{msg} (flag {flag})")))
        }
        _ => Failure::Relaykit(e),
    }
}

/// Asks for what a person fills in first in the dialog: server, port, encryption, authentication
/// and user name (the password is asked for afterwards, without echo).
fn prompt_fields(f: &mut ProfileFields) -> Result<(), Failure> {
    f.server = Some(ask("Server (host name or address)", None)?);
    f.encrypted = yes_no("This server requires an encrypted connection", f.encrypted)?;
    let default_port = if f.encrypted { 465 } else { 25 };
    let port = ask("Port", Some(&f.port.unwrap_or(default_port).to_string()))?;
    f.port = match port.trim().parse::<i64>() {
        Ok(p) if p == default_port && f.port.is_none() => None,
        Ok(p) => Some(p),
        Err(_) => {
            return Err(Failure::Relaykit(Error::config("$.port", format!("`{port}` is not a number (flag --port)"))));
        }
    };
    f.auth = yes_no("Requires authentication", f.auth || f.username.is_some())?;
    if f.auth && f.username.is_none() && !f.ntlm_current_user {
        f.username = Some(ask("User name", None)?);
    }
    Ok(())
}

fn ask(question: &str, default: Option<&str>) -> Result<String, Failure> {
    match default {
        Some(d) => eprint!("{question} [{d}]: "),
        None => eprint!("{question}: "),
    }
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).map_err(|e| Failure::usage(format!("cannot read the answer: {e}")))?;
    let line = line.trim().to_owned();
    Ok(if line.is_empty() { default.unwrap_or_default().to_owned() } else { line })
}

fn yes_no(question: &str, default: bool) -> Result<bool, Failure> {
    let answer = ask(&format!("{question}? (y/n)"), Some(if default { "y" } else { "n" }))?;
    Ok(matches!(answer.to_ascii_lowercase().as_str(), "y" | "yes"))
}

/// `profile show FILE`: a table of the fields as the dialog shows them, or the JSON with the
/// password masked.
pub fn show(c: &Common, a: &ProfileShowArgs) -> Outcome {
    let profile = common::read_profile(&a.file)?;
    if a.json {
        let mut v = profile.to_json_value();
        if let Some(pw) = v.get_mut("password") {
            *pw = json!(relaykit::secret::MASK);
        }
        if let Some(k) = v.get_mut("tls_client_key") {
            *k = json!(relaykit::secret::MASK);
        }
        if let Some(pw) = v.get_mut("proxy_password") {
            *pw = json!(relaykit::secret::MASK);
        }
        if let (Some(url), Some(shown)) = (v.get_mut("proxy"), profile.proxy_display()) {
            *url = json!(shown);
        }
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return Ok(());
    }
    let paint = Paint::new(common::colour(c));
    let v = profile.to_json_value();
    let yes = |b: bool| if b { "yes" } else { "no" };
    let mut rows: Vec<(&str, String)> = vec![
        ("Server", profile.server.clone()),
        (
            "Port",
            match profile.port {
                Some(p) => p.to_string(),
                None => format!("{} (default)", profile.effective_port()),
            },
        ),
        ("Requires an encrypted connection", yes(profile.encrypted_connection).to_owned()),
    ];
    if profile.encrypted_connection {
        rows.push(("TLS mode", v.get("tls_mode").and_then(Value::as_str).unwrap_or("auto").to_owned()));
    } else {
        rows.push(("STARTTLS", v.get("starttls").and_then(Value::as_str).unwrap_or("opportunistic").to_owned()));
    }
    rows.push(("Requires authentication", yes(profile.requires_authentication).to_owned()));
    if profile.use_ntlm_current_user {
        rows.push(("Log on using NTLM authentication", "yes (as the current user)".to_owned()));
    }
    rows.push(("User name", profile.username.clone().unwrap_or_default()));
    let password = match profile.password() {
        None => String::new(),
        Some(_) if profile.password_encrypted() => {
            let pw = v.get("password").and_then(Value::as_str).unwrap_or_default();
            let key =
                pw.strip_prefix(relaykit::secret::ENVELOPE_PREFIX).and_then(|r| r.split(':').next()).unwrap_or("?");
            format!("{} (encrypted, key {key})", relaykit::secret::MASK)
        }
        Some(_) => {
            format!("{} ({})", relaykit::secret::MASK, paint.warn("not encrypted: run `relaykit encrypt-password`"))
        }
    };
    rows.push(("Password", password));
    if let Some(m) = &profile.auth_mechanisms {
        rows.push(("Mechanisms", m.join(", ")));
    }
    if let Some(o) = v.get("auth_order").and_then(Value::as_str) {
        rows.push(("Mechanism order", o.to_owned()));
    }
    if profile.allow_plaintext_password {
        rows.push(("Plain-text password without TLS", "allowed".to_owned()));
    }
    if !profile.tls_verify {
        rows.push(("Certificate verification", paint.warn("off")));
    }
    if let Some(ca) = &profile.tls_ca_file {
        rows.push(("Extra trust anchors", ca.clone()));
    }
    if profile.tls_ca_pem.is_some() {
        rows.push(("Extra trust anchors", "(PEM in the profile)".to_owned()));
    }
    if let Some(h) = &profile.helo_name {
        rows.push(("HELO name", h.clone()));
    }
    rows.push(("Timeout per stage", format!("{} s", profile.timeout_secs)));
    if let Some(p) = profile.proxy_display() {
        rows.push(("Proxy", p));
    }
    if profile.proxy_password().is_some() {
        let how = if profile.proxy_password_encrypted() { "encrypted" } else { "not encrypted" };
        rows.push(("Proxy password", format!("{} ({how})", relaykit::secret::MASK)));
    }
    if profile.protocol != relaykit::profile::Protocol::Smtp {
        rows.push(("Protocol", profile.protocol.as_str().to_owned()));
    }
    if let Some(id) = &profile.id {
        rows.push(("Profile id", id.clone()));
    }
    client_certificate_rows(&profile, paint, &mut rows);
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    println!("{}", paint.bold(&a.file.display().to_string()));
    for (k, val) in rows {
        println!("  {k:<width$}  {val}");
    }
    Ok(())
}

/// One line of `profile validate --json`.
#[derive(Serialize)]
struct Validated<'a> {
    file: String,
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a Error>,
}

/// `profile validate FILE...`: each file checked by the library; exit 0 when all are valid,
/// else the first failure's code (3 for an invalid profile).
pub fn validate(c: &Common, a: &ProfileValidateArgs) -> Outcome {
    let paint = Paint::new(common::colour(c));
    let mut first_failure = None;
    for file in &a.files {
        let outcome = common::read_profile(file);
        let err = outcome.as_ref().err();
        if a.json {
            let line = Validated { file: file.display().to_string(), ok: err.is_none(), error: err };
            println!("{}", serde_json::to_string(&line).unwrap_or_default());
        } else if let Some(e) = err {
            println!("{}: {} {}", file.display(), paint.bad("invalid:"), exit::describe(e));
        } else {
            println!("{}: {}", file.display(), paint.good("valid"));
        }
        if let (Some(e), None) = (err, first_failure) {
            first_failure = Some(exit::code_for(e.kind()));
        }
    }
    match first_failure {
        Some(code) => Err(Failure::Reported(code)),
        None => Ok(()),
    }
}

/// `--tls-client-cert-pem-from` and `--tls-client-key-from`: the files' text copied into the
/// profile (the key in zeroizing memory until it is in the JSON value, which `new` wipes).
fn copy_client_certificate(f: &ProfileFields, value: &mut Value) -> Result<(), Failure> {
    let Value::Object(obj) = value else { return Ok(()) };
    if let Some(path) = &f.tls_client_cert_pem_from {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::new(ErrorKind::Io, format!("--tls-client-cert-pem-from {}: {e}", path.display())))?;
        obj.insert("tls_client_cert_pem".into(), Value::String(text));
    }
    if let Some(path) = &f.tls_client_key_from {
        let text = std::fs::read_to_string(path)
            .map(Zeroizing::new)
            .map_err(|e| Error::new(ErrorKind::Io, format!("--tls-client-key-from {}: {e}", path.display())))?;
        obj.insert("tls_client_key".into(), Value::String(text.as_str().to_owned()));
    }
    Ok(())
}

/// `profile show`'s rows for the client certificate: paths, or that the PEM is inline; never
/// the key.
fn client_certificate_rows(profile: &Profile, paint: Paint, rows: &mut Vec<(&str, String)>) {
    if let Some(c) = &profile.tls_client_cert_file {
        rows.push(("Client certificate", c.clone()));
    }
    if profile.tls_client_cert_pem.is_some() {
        rows.push(("Client certificate", "(PEM in the profile)".to_owned()));
    }
    if let Some(k) = &profile.tls_client_key_file {
        rows.push(("Client key", k.clone()));
    }
    if profile.tls_client_key().is_some() {
        let how = if profile.tls_client_key_encrypted() {
            format!("{} (encrypted)", relaykit::secret::MASK)
        } else {
            format!(
                "{} ({})",
                relaykit::secret::MASK,
                paint.warn("not encrypted: run `relaykit encrypt-password --tls-client-key`")
            )
        };
        rows.push(("Client key", how));
    }
}
