//! The page's JSON API. The form is the profile's §1 JSON object as the page shows it; every
//! rule is asked of the core: defaults ([`Profile::new`], [`Profile::effective_port`]),
//! validation ([`Profile::from_json_value`]), encryption ([`Profile::encrypt_password`]), Test
//! ([`relaykit::test_async`]), which field a failure concerns ([`hints::field_for`]) and the
//! warning about an RRT in an encrypted password ([`hints::encrypted_rrt_warning`]).
//!
//! The page never receives a decrypted password: an encrypted one is sent as the core's mask,
//! and the page says `keep_password` when the person did not retype it, so the envelope in the
//! file is kept (or, when the profile id changed, re-encrypted for the new id).

use std::path::PathBuf;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use relaykit::auth::Mechanism;
use relaykit::profile::{AuthOrder, Protocol, StarttlsPolicy, TlsChoice};
use relaykit::{Error, ErrorKind, Keyring, Profile, RrtContext, TestOptions, hints, secret};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use zeroize::Zeroizing;

use crate::common;
use crate::exit::Failure;

/// What the server holds for one run.
pub struct App {
    /// The one profile file the page edits.
    pub file: PathBuf,
    pub keyring: Keyring,
    pub rrt: RrtContext,
    pub token: String,
    pub port: u16,
}

/// A request carrying the form.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormRequest {
    /// The §1 object as the form has it (a password only when the person typed one).
    profile: Value,
    /// The password field was not retyped: keep the file's password (its envelope).
    #[serde(default)]
    keep_password: bool,
    /// Test only: `{"from": ..., "to": ...}` for the relay check, when both are given.
    #[serde(default)]
    relay_check: Option<Value>,
}

/// The file's password as stored: the text (an envelope when encrypted), whether it is
/// encrypted, and the profile id it was bound to.
struct Stored {
    text: Zeroizing<String>,
    encrypted: bool,
    id: Option<String>,
}

/// Where the password of the profile being built comes from.
enum Source {
    None,
    KeptEnvelope { id: Option<String> },
    Plain,
}

/// A form turned into a profile, with what the page shows beside it.
struct Built {
    profile: Result<Profile, Error>,
    warnings: Vec<Value>,
    effective_port: Option<u16>,
}

fn error_body(e: &Error, profile: Option<&Profile>) -> Value {
    let fallback = Profile::new("");
    json!({
        "ok": false,
        "error": e,
        "field": hints::field_for(e, profile.unwrap_or(&fallback)),
    })
}

fn reply(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

/// A profile JSON object as the form shows it: an encrypted password as the core's mask.
fn view(mut v: Value) -> Value {
    if let Some(obj) = v.as_object_mut() {
        if obj.get("password_encrypted") == Some(&Value::Bool(true)) && obj.get("password").is_some() {
            obj.insert("password".into(), Value::String(secret::MASK.into()));
        }
    }
    v
}

/// The file as JSON, `None` when it does not exist yet. Its errors are the core's words.
fn read_raw(app: &App) -> Result<Option<Value>, Error> {
    let text = match std::fs::read_to_string(&app.file) {
        Ok(t) => Zeroizing::new(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::new(ErrorKind::Io, format!("profile file {}: {e}", app.file.display()))),
    };
    match serde_json::from_str::<Value>(&text) {
        Ok(v) => Ok(Some(v)),
        // Let the core word the syntax error.
        Err(_) => Err(Profile::from_json(&text).err().unwrap_or_else(|| Error::config("$", "not valid JSON"))),
    }
}

fn stored_password(raw: Option<&Value>) -> Option<Stored> {
    let obj = raw?.as_object()?;
    let text = obj.get("password")?.as_str()?;
    Some(Stored {
        text: Zeroizing::new(text.to_owned()),
        encrypted: obj.get("password_encrypted") == Some(&Value::Bool(true)),
        id: obj.get("id").and_then(Value::as_str).map(str::to_owned),
    })
}

/// The port the core puts in effect for the form's port and encryption check box (whether the
/// rest of the form is valid or not), so the page shows 25 or 465 by the core's rule.
fn effective_port(obj: &Map<String, Value>) -> Option<u16> {
    let mut p = Profile::new("");
    p.encrypted_connection = obj.get("encrypted_connection").and_then(Value::as_bool).unwrap_or(false);
    match obj.get("port") {
        None | Some(Value::Null) => {}
        Some(v) => p.set_port(Some(v.as_i64()?)).ok()?,
    }
    Some(p.effective_port())
}

fn build(app: &App, req: &FormRequest) -> Built {
    let Some(form) = req.profile.as_object() else {
        return Built {
            profile: Err(Error::config("$", "expected an object")),
            warnings: Vec::new(),
            effective_port: None,
        };
    };
    let port = effective_port(form);
    let mut warnings = Vec::new();
    let profile = build_profile(app, req, form, &mut warnings);
    Built { profile, warnings, effective_port: port }
}

fn build_profile(
    app: &App,
    req: &FormRequest,
    form: &Map<String, Value>,
    warnings: &mut Vec<Value>,
) -> Result<Profile, Error> {
    let encrypted = match form.get("password_encrypted") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(Error::config("$.password_encrypted", "expected a boolean")),
    };
    let mut obj = form.clone();
    let typed = obj.remove("password");
    obj.remove("password_encrypted");
    // "Log on using NTLM authentication" implies what the core's setter says it implies.
    if obj.get("use_ntlm_current_user") == Some(&Value::Bool(true)) {
        let mut implied = Profile::new("");
        implied.set_ntlm_current_user(true);
        if implied.requires_authentication {
            obj.insert("requires_authentication".into(), Value::Bool(true));
        }
    }
    let stored = if req.keep_password { stored_password(read_raw(app).ok().flatten().as_ref()) } else { None };
    let source = match (req.keep_password, stored, typed) {
        (true, Some(s), _) if s.encrypted => {
            obj.insert("password".into(), Value::String(s.text.to_string()));
            obj.insert("password_encrypted".into(), Value::Bool(true));
            Source::KeptEnvelope { id: s.id }
        }
        (true, Some(s), _) => {
            warn_rrt(warnings, &s.text, encrypted);
            obj.insert("password".into(), Value::String(s.text.to_string()));
            Source::Plain
        }
        (false, _, Some(Value::String(t))) if !t.is_empty() => {
            warn_rrt(warnings, &t, encrypted);
            obj.insert("password".into(), Value::String(t));
            Source::Plain
        }
        (keep, _, typed) => {
            // No password; a value that is not a string goes to the core, which names it.
            if let (false, Some(v @ (Value::Bool(_) | Value::Number(_) | Value::Array(_) | Value::Object(_)))) =
                (keep, typed)
            {
                obj.insert("password".into(), v);
            }
            obj.insert("password_encrypted".into(), Value::Bool(encrypted));
            Source::None
        }
    };
    let mut profile = Profile::from_json_value(&Value::Object(obj))?;
    match source {
        Source::KeptEnvelope { .. } if !encrypted => {
            return Err(Error::config(
                "$.password",
                "Encrypted was cleared: type the password again to store it unencrypted",
            ));
        }
        Source::KeptEnvelope { id } if id != profile.id => {
            // The envelope is bound to the old id: re-encrypt it for the new one.
            if let Some(relaykit::profile::Password::Encrypted(env)) = profile.password() {
                let plain = app.keyring.decrypt(env, secret::PASSWORD_FIELD, id.as_deref())?;
                profile.encrypt_password(plain.expose(), &app.keyring)?;
            }
        }
        Source::Plain if encrypted => profile.encrypt_current_password(&app.keyring)?,
        _ => {}
    }
    Ok(profile)
}

fn warn_rrt(warnings: &mut Vec<Value>, password: &str, encrypted: bool) {
    if let Some(w) = hints::encrypted_rrt_warning(password, encrypted) {
        warnings.push(json!({"field": "$.password", "message": w}));
    }
}

/// `GET /api/profile`: the file as the form shows it (the defaults when it does not exist),
/// with the core's lists of choices for the advanced fields.
pub async fn load(State(app): State<Arc<App>>) -> Response {
    let file = app.file.display().to_string();
    let (exists, form, error) = match read_raw(&app) {
        Ok(None) => (false, view(Profile::new("").to_json_value()), None),
        Ok(Some(raw)) => match Profile::from_json_value(&raw) {
            Ok(p) => (true, view(p.to_json_value()), None),
            Err(e) => {
                let form = if raw.is_object() { view(raw) } else { view(Profile::new("").to_json_value()) };
                (true, form, Some(e))
            }
        },
        Err(e) => (true, view(Profile::new("").to_json_value()), Some(e)),
    };
    let port = form.as_object().and_then(effective_port);
    let choices = json!({
        "tls_mode": TlsChoice::NAMES,
        "starttls": StarttlsPolicy::NAMES,
        "auth_order": AuthOrder::NAMES,
        "protocol": Protocol::NAMES,
        "auth_mechanisms": Mechanism::ALL.map(Mechanism::name),
    });
    let mut body = json!({
        "ok": error.is_none(),
        "file": file,
        "exists": exists,
        "profile": form,
        "effective_port": port,
        "mask": secret::MASK,
        "choices": choices,
    });
    if let Some(e) = error {
        body["error"] = json!(e);
        body["field"] = json!(hints::field_for(&e, &Profile::new("")));
    }
    reply(StatusCode::OK, body)
}

/// `POST /api/validate`: the core's verdict on the form, the port in effect, and warnings.
pub async fn validate(State(app): State<Arc<App>>, Json(req): Json<FormRequest>) -> Response {
    let built = build(&app, &req);
    let mut body = match &built.profile {
        Ok(p) => json!({"ok": true, "profile": view(p.to_json_value())}),
        Err(e) => error_body(e, None),
    };
    body["effective_port"] = json!(built.effective_port);
    body["warnings"] = json!(built.warnings);
    reply(StatusCode::OK, body)
}

/// `POST /api/save`: writes the profile file (atomically, owner-only), never the plaintext of
/// an encrypted password.
pub async fn save(State(app): State<Arc<App>>, Json(req): Json<FormRequest>) -> Response {
    let built = build(&app, &req);
    let profile = match built.profile {
        Ok(p) => p,
        Err(e) => return reply(StatusCode::UNPROCESSABLE_ENTITY, error_body(&e, None)),
    };
    let path = app.file.clone();
    let written = tokio::task::spawn_blocking(move || common::write_profile(&path, &profile)).await;
    match written {
        Ok(Ok(())) => reply(
            StatusCode::OK,
            json!({"ok": true, "file": app.file.display().to_string(), "warnings": built.warnings}),
        ),
        Ok(Err(Failure::Relaykit(e))) => reply(StatusCode::INTERNAL_SERVER_ERROR, error_body(&e, None)),
        Ok(Err(Failure::Usage(m))) => reply(StatusCode::INTERNAL_SERVER_ERROR, json!({"ok": false, "message": m})),
        Ok(Err(_)) | Err(_) => reply(StatusCode::INTERNAL_SERVER_ERROR, json!({"ok": false, "message": "save failed"})),
    }
}

/// `POST /api/test`: the core's Test with this run's keyring and tag values; the report, and
/// the field its failure concerns.
pub async fn test(State(app): State<Arc<App>>, Json(req): Json<FormRequest>) -> Response {
    let built = build(&app, &req);
    let profile = match built.profile {
        Ok(p) => p,
        Err(e) => return reply(StatusCode::UNPROCESSABLE_ENTITY, error_body(&e, None)),
    };
    let options = match &req.relay_check {
        None | Some(Value::Null) => Ok(TestOptions::default()),
        Some(rc) => TestOptions::from_json_value(&json!({"relay_check": rc})),
    };
    let options = match options {
        Ok(o) => o,
        Err(e) => return reply(StatusCode::UNPROCESSABLE_ENTITY, error_body(&e, Some(&profile))),
    };
    match relaykit::test_async(&profile, &app.keyring, &app.rrt, &options).await {
        Ok(report) => {
            let field = report.error.as_ref().and_then(|e| hints::field_for(e, &profile));
            reply(
                StatusCode::OK,
                json!({"ok": report.ok, "report": report.to_json_value(), "field": field, "warnings": built.warnings}),
            )
        }
        Err(e) => {
            let mut body = error_body(&e, Some(&profile));
            body["warnings"] = json!(built.warnings);
            reply(StatusCode::UNPROCESSABLE_ENTITY, body)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    fn app(dir: &tempfile::TempDir, keyring: Keyring) -> App {
        App { file: dir.path().join("p.json"), keyring, rrt: RrtContext::new(), token: String::new(), port: 1 }
    }

    fn req(profile: Value, keep_password: bool) -> FormRequest {
        FormRequest { profile, keep_password, relay_check: None }
    }

    fn auth_form(extra: &Value) -> Value {
        let mut v = json!({"server": "127.0.0.1", "requires_authentication": true, "username": "u"});
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    }

    fn envelope(p: &Profile) -> String {
        p.to_json_value()["password"].as_str().unwrap().to_owned()
    }

    #[test]
    fn a_new_password_with_encrypted_is_saved_as_an_envelope_only() {
        let dir = tempfile::tempdir().unwrap();
        let app = app(&dir, Keyring::generate().unwrap());
        let p = build(&app, &req(auth_form(&json!({"password": "s3cret", "password_encrypted": true})), false))
            .profile
            .unwrap();
        let text = p.to_json();
        assert!(!text.contains("s3cret"), "{text}");
        let env = envelope(&p);
        assert!(env.starts_with("enc:v1:"));
        assert_eq!(app.keyring.decrypt(&env, secret::PASSWORD_FIELD, None).unwrap().expose(), "s3cret");
        assert_eq!(view(p.to_json_value())["password"], secret::MASK);
    }

    #[test]
    fn a_kept_password_keeps_the_envelope_and_follows_a_new_id() {
        let dir = tempfile::tempdir().unwrap();
        let app = app(&dir, Keyring::generate().unwrap());
        let first = build(&app, &req(auth_form(&json!({"password": "s3cret", "password_encrypted": true})), false))
            .profile
            .unwrap();
        common::write_profile(&app.file, &first).unwrap();
        let env = envelope(&first);
        // The form as the page sends it when the password was not retyped.
        let kept = build(&app, &req(auth_form(&json!({"password_encrypted": true, "port": 2525})), true));
        assert_eq!(envelope(&kept.profile.unwrap()), env);
        // A new id: the envelope is bound to the id, so it is re-encrypted for the new one.
        let moved = build(&app, &req(auth_form(&json!({"password_encrypted": true, "id": "prod"})), true));
        let moved = envelope(&moved.profile.unwrap());
        assert_ne!(moved, env);
        assert_eq!(app.keyring.decrypt(&moved, secret::PASSWORD_FIELD, Some("prod")).unwrap().expose(), "s3cret");
        // Clearing Encrypted without retyping: the page cannot know the plaintext, so it asks.
        let e = build(&app, &req(auth_form(&json!({"password_encrypted": false})), true)).profile.unwrap_err();
        assert_eq!(hints::field_for(&e, &Profile::new("")), Some("$.password"), "{e}");
    }

    #[test]
    fn a_kept_plain_password_is_encrypted_when_encrypted_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        let app = app(&dir, Keyring::generate().unwrap());
        std::fs::write(&app.file, auth_form(&json!({"password": "plain-pw"})).to_string()).unwrap();
        let p = build(&app, &req(auth_form(&json!({"password_encrypted": true})), true)).profile.unwrap();
        assert!(p.password_encrypted());
        assert!(!p.to_json().contains("plain-pw"));
        let p = build(&app, &req(auth_form(&json!({"password_encrypted": false})), true)).profile.unwrap();
        assert_eq!(p.password_display(), Some("plain-pw"));
    }

    #[test]
    fn encrypting_without_a_key_is_an_error_at_the_password() {
        let dir = tempfile::tempdir().unwrap();
        let app = app(&dir, Keyring::new());
        let e = build(&app, &req(auth_form(&json!({"password": "x", "password_encrypted": true})), false))
            .profile
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Crypto);
        assert_eq!(error_body(&e, None)["field"], "$.password");
    }

    #[test]
    fn the_rrt_warning_the_ntlm_implication_and_the_port_come_from_the_core() {
        let dir = tempfile::tempdir().unwrap();
        let app = app(&dir, Keyring::generate().unwrap());
        let built =
            build(&app, &req(auth_form(&json!({"password": "~ACC::%pw%~", "password_encrypted": true})), false));
        assert_eq!(built.warnings.len(), 1);
        assert_eq!(built.warnings[0]["message"], hints::ENCRYPTED_RRT_WARNING);
        let built = build(&app, &req(auth_form(&json!({"password": "~ACC::%pw%~"})), false));
        assert!(built.warnings.is_empty());
        let ntlm = build(&app, &req(json!({"server": "h", "use_ntlm_current_user": true}), false));
        assert!(ntlm.profile.unwrap().requires_authentication);
        let port = |v: Value| effective_port(v.as_object().unwrap());
        assert_eq!(port(json!({})), Some(25));
        assert_eq!(port(json!({"encrypted_connection": true})), Some(465));
        assert_eq!(port(json!({"encrypted_connection": true, "port": 2525})), Some(2525));
        assert_eq!(port(json!({"port": "x"})), None);
        // An invalid form still gets the port in effect, and the core's error at its field.
        let bad = build(&app, &req(json!({"server": "", "encrypted_connection": true}), false));
        assert_eq!(bad.effective_port, Some(465));
        assert_eq!(error_body(&bad.profile.unwrap_err(), None)["field"], "$.server");
    }
}
