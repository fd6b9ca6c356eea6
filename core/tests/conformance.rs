//! The Rust runner of the conformance cases (`tests/conformance/cases/*.json`) against the real
//! servers: it executes each concrete input through relaykit's public API; expanding the cases
//! and judging the outcomes is the judge's (`relaykit-conformance`, tests/conformance/README.md).
//! Run by `cargo test -p relaykit --test conformance` (no libtest harness: one line per case).
//!
//! Beside README's outcome it adds what the judge checks on every case: `elapsed_ms`, `trace`
//! (every line of the trace callback), `logs` (every `tracing` event relaykit emitted during the
//! case), `memory_peak_kb` (how far the process's peak resident set rose above its size before
//! the case; Linux) and, for a case against a hostile scenario that requires TLS,
//! `credentials_before_tls` from the hostile server's record (`RK_HOSTILE_RECORD`), and for a
//! case with a `token_provider`, `token_calls` (the reasons the provider was asked, in order).

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use relaykit::session::TraceSink;
use relaykit::{Keyring, Mailer, MailerOptions, Message, Profile, RrtContext, SendOptions, TestOptions};
use relaykit_conformance::{Action, Input, RrtCall, RrtMethod, Value, Vars, judge_in_process, load_cases_for};
use serde_json::json;

type Lines = Arc<Mutex<Vec<String>>>;

fn take(lines: &Lines) -> Vec<String> {
    std::mem::take(&mut *lines.lock().unwrap_or_else(PoisonError::into_inner))
}

/// Every `tracing` event, formatted as `LEVEL target: message field=value ...`, into `LOGS`.
struct Collect(Lines);

impl tracing::Subscriber for Collect {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        struct Fields(String);
        impl tracing::field::Visit for Fields {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    let _ = write!(self.0, " {value:?}");
                } else {
                    let _ = write!(self.0, " {}={value:?}", field.name());
                }
            }
        }
        let m = event.metadata();
        let mut f = Fields(format!("{} {}:", m.level(), m.target()));
        event.record(&mut f);
        self.0.lock().unwrap_or_else(PoisonError::into_inner).push(f.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// The hostile server's scenarios that require TLS, by port, and its record.
struct Hostile {
    record: String,
    tls_ports: Vec<u64>,
}

impl Hostile {
    fn load(vars: &Vars) -> Option<Hostile> {
        let record = vars.get("RK_HOSTILE_RECORD")?.to_owned();
        let base: u64 = vars.get("RK_HOSTILE_BASE_PORT")?.parse().ok()?;
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/faults/scenarios.json");
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
        let tls_ports = doc["scenarios"]
            .as_array()?
            .iter()
            .zip(base..)
            .filter(|(s, _)| s["tls_required"] == true)
            .map(|(_, port)| port)
            .collect();
        Some(Hostile { record, tls_ports })
    }

    fn len(&self) -> u64 {
        std::fs::metadata(&self.record).map_or(0, |m| m.len())
    }

    /// Whether a connection to `port` recorded after byte `from` of the record got AUTH
    /// before TLS; `None` when no such connection is recorded within a bounded wait.
    fn credentials_before_tls(&self, port: u64, from: u64) -> Option<bool> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let text = std::fs::read(&self.record).unwrap_or_default();
            let new = String::from_utf8_lossy(text.get(usize::try_from(from).unwrap_or(0)..).unwrap_or_default())
                .into_owned();
            let mine: Vec<Value> = new
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .filter(|r| r["port"] == port)
                .collect();
            if !mine.is_empty() {
                return Some(mine.iter().any(|r| r["auth_before_tls"] == true));
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20)); // a bounded poll of the record file
        }
    }
}

/// A `kB` field of /proc/self/status (`VmRSS`, `VmHWM`).
fn status_kb(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line[field.len()..].trim_start_matches(':').trim().trim_end_matches("kB").trim().parse().ok()
}

/// Resets the peak resident set (VmHWM) to the current one (`clear_refs` 5, Linux >= 4.0) and
/// returns the current one; `None` where that cannot be done.
fn reset_peak_rss() -> Option<u64> {
    std::fs::write("/proc/self/clear_refs", "5").ok()?;
    status_kb("VmRSS")
}

/// A form POST to the issuer of a case's token provider (plain HTTP on loopback): its JSON.
fn post(url: &str, form: &[(&str, &str)]) -> Result<Value, String> {
    use std::io::{Read as _, Write as _};
    let rest = url.strip_prefix("http://").ok_or("token_url: only http:// on loopback")?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let enc = |v: &str| -> String {
        v.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    };
    let body = form.iter().map(|(k, v)| format!("{k}={}", enc(v))).collect::<Vec<_>>().join("&");
    let mut s = std::net::TcpStream::connect(authority).map_err(|e| format!("{url}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
    write!(
        s,
        "POST {path} HTTP/1.0\r\nHost: {authority}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .map_err(|e| e.to_string())?;
    let mut text = String::new();
    s.read_to_string(&mut text).map_err(|e| e.to_string())?;
    let (head, json) = text.split_once("\r\n\r\n").ok_or("no HTTP body")?;
    if !head.starts_with("HTTP/1.0 200") && !head.starts_with("HTTP/1.1 200") {
        return Err(format!("{url} answered {}", head.lines().next().unwrap_or_default()));
    }
    serde_json::from_str(json).map_err(|e| e.to_string())
}

/// The case's declarative `token_provider` (tests/conformance/README.md) and the reasons it was
/// asked: tokens from `token_url` (`grant_type=password`), kept and given to each new
/// connection, a new one on refresh; `revoke_first` revokes the first before giving it,
/// `refresh_same` gives the same again on refresh, `fail` fails with that text. (`returns` is
/// for languages where a provider can return a non-string: not Rust.)
fn token_provider(spec: &Value) -> (relaykit::token::SharedTokenProvider, Lines) {
    #[derive(Default)]
    struct State {
        token: Option<String>,
        fetched: usize,
    }
    let calls: Lines = Arc::default();
    let state = Arc::new(Mutex::new(State::default()));
    let (spec, seen) = (spec.clone(), calls.clone());
    let provider = relaykit::token::token_provider_fn(move |req: relaykit::token::TokenRequest| {
        let (spec, state, seen) = (spec.clone(), state.clone(), seen.clone());
        async move {
            tokio::task::spawn_blocking(move || {
                seen.lock().unwrap_or_else(PoisonError::into_inner).push(req.reason.as_str().to_owned());
                let field = |k: &str| spec.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
                if let Some(why) = spec.get("fail").and_then(Value::as_str) {
                    return Err(why.to_owned());
                }
                let mut st = state.lock().unwrap_or_else(PoisonError::into_inner);
                let refresh = req.reason == relaykit::token::TokenReason::Refresh;
                if st.token.is_none() || (refresh && spec.get("refresh_same") != Some(&json!(true))) {
                    let (user, pass) = (field("username"), field("password"));
                    let got = post(
                        &field("token_url"),
                        &[("grant_type", "password"), ("username", &user), ("password", &pass)],
                    )?;
                    let token = got["access_token"].as_str().ok_or("no access_token")?.to_owned();
                    st.fetched += 1;
                    if st.fetched == 1 && spec.get("revoke_first") == Some(&json!(true)) {
                        post(&field("revoke_url"), &[("token", &token)])?;
                    }
                    st.token = Some(token);
                }
                Ok(relaykit::SecretString::new(st.token.clone().unwrap_or_default()))
            })
            .await
            .unwrap_or_else(|e| Err(format!("the provider panicked: {e}")))
        }
    });
    (provider, calls)
}

/// The outcome with `elapsed_ms`, `trace`, `logs`, `memory_peak_kb`, `token_calls` and, where
/// the hostile record tells, `credentials_before_tls`.
fn execute_observed(input: &Input, logs: &Lines, hostile: Option<&Hostile>) -> Result<Value, String> {
    let trace: Lines = Arc::default();
    let sink = {
        let trace = trace.clone();
        TraceSink::new(move |e| trace.lock().unwrap_or_else(PoisonError::into_inner).push(e.to_string()))
    };
    let port = input.profile.get("port").and_then(Value::as_u64);
    let watched = hostile.zip(port).filter(|(h, p)| h.tls_ports.contains(p));
    let from = watched.map(|(h, _)| h.len());
    take(logs);
    let rss_before = reset_peak_rss();
    let start = Instant::now();
    let tokens = input.token_provider.as_ref().map(token_provider);
    let mut outcome = execute(input, &sink, tokens.as_ref().map(|t| &t.0))?;
    let elapsed_ms = start.elapsed().as_secs_f64() * 1000.0;
    let peak = status_kb("VmHWM");
    let o = outcome.as_object_mut().ok_or("the outcome is not an object")?;
    if let (Some(before), Some(peak)) = (rss_before, peak) {
        o.insert("memory_peak_kb".into(), json!(peak.saturating_sub(before)));
    }
    o.insert("elapsed_ms".into(), json!(elapsed_ms.round()));
    o.insert("trace".into(), json!(take(&trace)));
    o.insert("logs".into(), json!(take(logs)));
    if let Some((_, calls)) = &tokens {
        o.insert("token_calls".into(), json!(take(calls)));
    }
    if let (Some((h, port)), Some(from)) = (watched, from) {
        if let Some(before) = h.credentials_before_tls(port, from) {
            o.insert("credentials_before_tls".into(), json!(before));
        }
    }
    Ok(outcome)
}

/// The outcome of README's table; `Err` when the input itself cannot be executed.
fn execute(
    input: &Input,
    sink: &TraceSink,
    tokens: Option<&relaykit::token::SharedTokenProvider>,
) -> Result<Value, String> {
    let failed = |e: relaykit::Error| json!({"status": "error", "error": e.to_json_value()});
    let profile = match Profile::from_json_value(&input.profile) {
        Ok(p) => p,
        Err(e) => return Ok(failed(e)),
    };
    let keyring = match &input.keyring {
        Some(text) => Keyring::from_text(text).map_err(|e| format!("keyring: {e}"))?,
        None => Keyring::new(),
    };
    let mut ctx = RrtContext::new();
    for RrtCall(method, id, name, value) in &input.rrt {
        let set = match method {
            RrtMethod::Set => ctx.set(id, name, value),
            RrtMethod::SetProtected => ctx.set_protected(id, name, value),
            RrtMethod::SetRestricted => ctx.set_restricted(id, name, value),
        };
        if let Err(e) = set {
            return Ok(failed(e));
        }
    }
    let options = input.options.clone().unwrap_or(Value::Null);
    Ok(match input.action {
        Action::Test => TestOptions::from_json_value(&options)
            .and_then(|o| {
                let o = TestOptions { trace: Some(sink.clone()), token_provider: tokens.cloned(), ..o };
                relaykit::test(&profile, &keyring, &ctx, &o)
            })
            .map_or_else(failed, |report| json!({"status": "ok", "report": report.to_json_value()})),
        Action::Send => Message::from_json_value(input.message.as_ref().unwrap_or(&Value::Null))
            .and_then(|m| SendOptions::from_json_value(&options).map(|o| (m, o)))
            .and_then(|(m, o)| {
                let o = SendOptions { trace: Some(sink.clone()), token_provider: tokens.cloned(), ..o };
                relaykit::send(&profile, &keyring, &ctx, &m, &o)
            })
            .map_or_else(failed, |result| json!({"status": "ok", "result": result.to_json_value()})),
        Action::Mailer => {
            mailer(&profile, &keyring, &ctx, &options, &input.messages, sink, tokens).unwrap_or_else(failed)
        }
    })
}

/// A mailer case: `send_many`, then `close`, then the stats (README's mailer outcome).
fn mailer(
    profile: &Profile,
    keyring: &Keyring,
    ctx: &RrtContext,
    options: &Value,
    messages: &[Value],
    sink: &TraceSink,
    tokens: Option<&relaykit::token::SharedTokenProvider>,
) -> relaykit::Result<Value> {
    let messages = messages.iter().map(Message::from_json_value).collect::<relaykit::Result<Vec<_>>>()?;
    let options = MailerOptions {
        trace: Some(sink.clone()),
        token_provider: tokens.cloned(),
        ..MailerOptions::from_json_value(options)?
    };
    let m = Mailer::new(profile, keyring, ctx, options)?;
    let outcomes: Vec<Value> = m
        .send_many_blocking(&messages)?
        .into_iter()
        .map(|r| match r {
            Ok(result) => json!({"status": "ok", "result": result.to_json_value()}),
            Err(e) => json!({"status": "error", "error": e.to_json_value()}),
        })
        .collect();
    m.close_blocking()?;
    Ok(json!({"status": "ok", "outcomes": outcomes, "stats": m.stats()}))
}

fn main() -> ExitCode {
    let logs: Lines = Arc::default();
    if tracing::subscriber::set_global_default(Collect(logs.clone())).is_err() {
        eprintln!("conformance: a tracing subscriber was already set; logs are not collected");
    }
    let hostile = Hostile::load(&Vars::load());
    let summary = load_cases_for(&[], Some("rust")).and_then(|cases| {
        judge_in_process(&cases, |i| execute_observed(i, &logs, hostile.as_ref()), &mut std::io::stdout().lock())
    });
    match summary {
        Ok(s) if s.success() => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("conformance: {e}");
            ExitCode::FAILURE
        }
    }
}
