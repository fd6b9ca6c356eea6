//! The Rust runner of the conformance cases (`tests/conformance/cases/*.json`) against the real
//! servers: it executes each concrete input through relaykit's public API; expanding the cases
//! and judging the outcomes is the judge's (`relaykit-conformance`, tests/conformance/README.md).
//! Run by `cargo test -p relaykit --test conformance` (no libtest harness: one line per case).

use std::process::ExitCode;

use relaykit::{Keyring, Mailer, MailerOptions, Message, Profile, RrtContext, SendOptions, TestOptions};
use relaykit_conformance::{Action, Input, RrtCall, RrtMethod, Value, judge_in_process, load_cases};
use serde_json::json;

/// The outcome of README's table; `Err` when the input itself cannot be executed.
fn execute(input: &Input) -> Result<Value, String> {
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
            .and_then(|o| relaykit::test(&profile, &keyring, &ctx, &o))
            .map_or_else(failed, |report| json!({"status": "ok", "report": report.to_json_value()})),
        Action::Send => Message::from_json_value(input.message.as_ref().unwrap_or(&Value::Null))
            .and_then(|m| SendOptions::from_json_value(&options).map(|o| (m, o)))
            .and_then(|(m, o)| relaykit::send(&profile, &keyring, &ctx, &m, &o))
            .map_or_else(failed, |result| json!({"status": "ok", "result": result.to_json_value()})),
        Action::Mailer => mailer(&profile, &keyring, &ctx, &options, &input.messages).unwrap_or_else(failed),
    })
}

/// A mailer case: `send_many`, then `close`, then the stats (README's mailer outcome).
fn mailer(
    profile: &Profile,
    keyring: &Keyring,
    ctx: &RrtContext,
    options: &Value,
    messages: &[Value],
) -> relaykit::Result<Value> {
    let messages = messages.iter().map(Message::from_json_value).collect::<relaykit::Result<Vec<_>>>()?;
    let m = Mailer::new(profile, keyring, ctx, MailerOptions::from_json_value(options)?)?;
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
    let summary = load_cases(&[]).and_then(|cases| judge_in_process(&cases, execute, &mut std::io::stdout().lock()));
    match summary {
        Ok(s) if s.success() => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("conformance: {e}");
            ExitCode::FAILURE
        }
    }
}
