//! The binary as the run_tests.sh scripts use it: variables from a servers.env, `expand`, and
//! `run` over a runner that is a shell loop.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::path::PathBuf;
use std::process::{Command, Output};

struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A state directory with servers.env and one case file.
fn setup(name: &str) -> (Dir, PathBuf) {
    let dir = std::env::temp_dir().join(format!("rk-judge-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("servers.env"), "RK_ROLES=aiosmtpd\nRK_HOST=127.0.0.1\nRK_PORT=2525\n").unwrap();
    let cases = dir.join("c.json");
    std::fs::write(
        &cases,
        r##"{"testGroups": [{"role": "aiosmtpd-x", "tests": [
            {"tcId": 7, "comment": "one", "action": "test", "profile": {"server": "${RK_HOST}", "port": "#{RK_PORT}"},
             "expect": {"status": "ok", "report": {"ok": true}}},
            {"tcId": 8, "comment": "two", "action": "test", "profile": {"server": "${RK_NOPE}"}, "expect": {}}]}]}"##,
    )
    .unwrap();
    (Dir(dir), cases)
}

fn judge(dir: &Dir, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_relaykit-conformance"))
        .args(args)
        .env("RELAYKIT_STATE", &dir.0)
        .env_remove("RK_ROLES")
        .output()
        .unwrap()
}

#[test]
fn expand_prints_resolved_inputs_and_skips() {
    let (dir, cases) = setup("expand");
    let out = judge(&dir, &["expand", cases.to_str().unwrap()]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "{\"id\":\"c.json#7\",\"action\":\"test\",\"profile\":{\"server\":\"127.0.0.1\",\"port\":2525}}\n\
         {\"id\":\"c.json#8\",\"skip\":\"variable RK_NOPE is not defined\"}\n"
    );
}

#[test]
fn run_judges_the_runner_and_fails_a_wrong_outcome() {
    let (dir, cases) = setup("run");
    let case = cases.to_str().unwrap();
    let answer = |report: &str| {
        format!(
            r#"read -r line; read -r skip; printf '{{"id":"c.json#7","outcome":{{"status":"ok","report":{report}}}}}\n'"#
        )
    };
    let good = judge(&dir, &["run", case, "--", "sh", "-c", &answer(r#"{"ok":true}"#)]);
    let text = String::from_utf8(good.stdout).unwrap();
    assert!(good.status.success(), "{text}");
    assert_eq!(
        text,
        "skip c.json#8: variable RK_NOPE is not defined\nok   c.json#7 [aiosmtpd-x] one\n\n1 passed, 0 failed, 1 skipped\n"
    );

    let bad = judge(&dir, &["run", case, "--", "sh", "-c", &answer(r#"{"ok":false}"#)]);
    let text = String::from_utf8(bad.stdout).unwrap();
    assert_eq!(bad.status.code(), Some(1), "{text}");
    assert!(text.contains("FAIL c.json#7: $.report.ok: expected true; got false\n"), "{text}");
    assert!(text.ends_with("\n0 passed, 1 failed, 1 skipped\n"), "{text}");
}

#[test]
fn judge_reads_outcomes_from_stdin_and_usage_errors_exit_2() {
    let (dir, cases) = setup("judge");
    let mut child = Command::new(env!("CARGO_BIN_EXE_relaykit-conformance"))
        .args(["judge", cases.to_str().unwrap()])
        .env("RELAYKIT_STATE", &dir.0)
        .env_remove("RK_ROLES")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8(std::mem::take(&mut child.stdout)).unwrap();
    assert_eq!(child.status.code(), Some(1), "no outcome at all: {text}");
    assert!(text.contains("FAIL c.json#7: no outcome"), "{text}");
    assert_eq!(judge(&dir, &["run", cases.to_str().unwrap()]).status.code(), Some(2), "run needs -- RUNNER");
    assert_eq!(judge(&dir, &["bogus"]).status.code(), Some(2));
}

#[test]
fn lang_skips_the_cases_of_other_languages_and_within_factor_scales_the_bound() {
    let (dir, _) = setup("lang");
    let cases = dir.0.join("l.json");
    std::fs::write(
        &cases,
        r#"{"testGroups": [{"role": "aiosmtpd", "languages": ["rust"], "tests": [
            {"tcId": 1, "comment": "rust only", "action": "test", "profile": {}, "within_secs": 1, "expect": {"status": "ok"}},
            {"tcId": 2, "comment": "all", "action": "test", "profile": {}, "languages": ["rust", "c", "python", "node"],
             "within_secs": 1, "expect": {"status": "ok"}}]}]}"#,
    )
    .unwrap();
    let case = cases.to_str().unwrap();
    let out = judge(&dir, &["expand", "--lang", "python", case]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("{\"id\":\"l.json#1\",\"skip\":\"not a case for python (languages: rust)\"}\n"), "{text}");
    assert!(text.contains("\"id\":\"l.json#2\",\"action\":\"test\""), "{text}");
    // A runner that takes 1.5 s by its own account: over within_secs 1, under 1 x 2.
    let runner =
        r#"read -r skip; read -r line; printf '{"id":"l.json#2","outcome":{"status":"ok","elapsed_ms":1500}}\n'"#;
    let slow = judge(&dir, &["run", "--lang", "c", case, "--", "sh", "-c", runner]);
    let text = String::from_utf8(slow.stdout).unwrap();
    assert!(text.contains("FAIL l.json#2: took 1.5 s, more than within_secs 1\n"), "{text}");
    let scaled = judge(&dir, &["run", "--lang", "c", "--within-factor", "2", case, "--", "sh", "-c", runner]);
    assert!(scaled.status.success(), "{}", String::from_utf8_lossy(&scaled.stdout));
    assert_eq!(judge(&dir, &["expand", "--lang", "cobol", case]).status.code(), Some(2));
}
