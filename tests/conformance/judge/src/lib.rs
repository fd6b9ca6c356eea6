//! The one judge of relaykit's conformance cases (`tests/conformance/README.md`).
//!
//! The language runners (Rust, C, Python, Node) only execute: they read concrete inputs (every
//! variable substituted, `$base` applied, roles and `requires` decided — [`cases`]) and print
//! what happened. Whether that is what the case expects is decided here, once ([`pattern`],
//! [`verdict`]), so the four runners cannot drift apart.
//!
//! The binary (`relaykit-conformance expand | judge | run`) serves the C, Python and Node
//! runners; the Rust runner (`core/tests/conformance.rs`) calls [`judge_in_process`].

pub mod arrival;
pub mod cases;
pub mod checks;
pub mod pattern;
pub mod vars;
pub mod verdict;

use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub use cases::{Action, Case, Input, LANGUAGES, Plan, RrtCall, RrtMethod, case_files, expand, expand_for};
pub use serde_json::Value;
pub use vars::Vars;
pub use verdict::{Judge, Summary};

/// The repository this crate lives in (`tests/conformance/judge/../../..`).
pub fn repo_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors().nth(3).unwrap_or(here).to_path_buf()
}

/// `tests/conformance/cases`.
pub fn cases_dir() -> PathBuf {
    repo_root().join("tests/conformance/cases")
}

/// The cases of `files` (none: every file in [`cases_dir`]) with the variables of
/// [`Vars::load`], for every language.
pub fn load_cases(files: &[PathBuf]) -> io::Result<Vec<Case>> {
    load_cases_for(files, None)
}

/// [`load_cases`] as the runner of `lang` gets them (a case not for it is a skip).
pub fn load_cases_for(files: &[PathBuf], lang: Option<&str>) -> io::Result<Vec<Case>> {
    let files = if files.is_empty() { case_files(&cases_dir())? } else { files.to_vec() };
    Ok(expand_for(&files, &Vars::load(), lang))
}

/// Runs each input through `execute` (`Ok(outcome)`, or `Err` when the input cannot be
/// executed) and prints the verdicts as they come, then the summary.
pub fn judge_in_process(
    cases: &[Case],
    mut execute: impl FnMut(&Input) -> Result<Value, String>,
    out: &mut impl Write,
) -> io::Result<Summary> {
    let mut judge = Judge::new(cases);
    print_lines(out, judge.opening())?;
    for case in cases {
        if let Plan::Run { input, .. } = &case.plan {
            let outcome = execute(input);
            writeln!(out, "{}", judge.outcome(&input.id, outcome.as_ref().map_err(String::as_str)))?;
        }
    }
    finish(judge, out)
}

/// Starts `command` with the inputs on its stdin and judges its stdout line by line as it
/// comes. A runner that exits non-zero (a crash, valgrind's error exit) fails the run even
/// when every outcome it printed matched; the cases it never answered fail as missing.
pub fn judge_command(cases: &[Case], command: &[String], out: &mut impl Write) -> io::Result<Summary> {
    let (program, args) =
        command.split_first().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no runner command"))?;
    let mut child = Command::new(program).args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn()?;
    let inputs: String = cases.iter().map(|c| c.line().to_string() + "\n").collect();
    let mut stdin = child.stdin.take().ok_or_else(|| io::Error::other("no stdin pipe"))?;
    // A thread, so that a runner answering before it has read everything cannot deadlock us.
    // A write error means the runner stopped reading; its missing outcomes say the rest.
    let writer = std::thread::spawn(move || drop(stdin.write_all(inputs.as_bytes())));
    let stdout = child.stdout.take().ok_or_else(|| io::Error::other("no stdout pipe"))?;
    let mut judge = Judge::new(cases);
    print_lines(out, judge.opening())?;
    for line in BufReader::new(stdout).lines() {
        if let Some(verdict) = judge.outcome_line(&line?) {
            writeln!(out, "{verdict}")?;
            out.flush()?;
        }
    }
    let status = child.wait()?;
    let _ = writer.join();
    if !status.success() {
        writeln!(out, "{}", judge.problem(&format!("runner: {program} exited with {status}")))?;
    }
    finish(judge, out)
}

/// Judges outcome lines read from `input` (the `judge` command).
pub fn judge_lines(cases: &[Case], input: impl BufRead, out: &mut impl Write) -> io::Result<Summary> {
    let mut judge = Judge::new(cases);
    print_lines(out, judge.opening())?;
    for line in input.lines() {
        if let Some(verdict) = judge.outcome_line(&line?) {
            writeln!(out, "{verdict}")?;
        }
    }
    finish(judge, out)
}

fn finish(judge: Judge<'_>, out: &mut impl Write) -> io::Result<Summary> {
    let summary = judge.finish();
    print_lines(out, summary.lines.clone())?;
    writeln!(out, "\n{}", summary.totals())?;
    out.flush()?;
    Ok(summary)
}

fn print_lines(out: &mut impl Write, lines: Vec<String>) -> io::Result<()> {
    for line in lines {
        writeln!(out, "{line}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{Case, judge_command};
    use crate::cases::expand_doc;
    use crate::vars::Vars;
    use serde_json::json;

    fn two_cases() -> Vec<Case> {
        let doc = json!({"testGroups": [{"role": "aiosmtpd", "tests": [
            {"tcId": 1, "comment": "c1", "action": "test", "profile": {}, "expect": {"status": "ok"}},
            {"tcId": 2, "comment": "c2", "action": "test", "profile": {}, "expect": {"status": "ok"}}]}]});
        expand_doc("t.json", &doc, &Vars::from_pairs([("RK_ROLES", "aiosmtpd")]))
    }

    fn run(script: &str) -> (super::Summary, String) {
        let mut out = Vec::new();
        let cmd = ["sh".to_owned(), "-c".to_owned(), script.to_owned()];
        let summary = judge_command(&two_cases(), &cmd, &mut out).unwrap();
        (summary, String::from_utf8(out).unwrap())
    }

    /// A runner that reads each input and answers `ok` (the ids come from the input lines).
    const ECHO_OK: &str = r#"while read -r line; do id=${line#*\"id\":\"}; id=${id%%\"*}; printf '{"id":"%s","outcome":{"status":"ok"}}\n' "$id"; done"#;

    #[test]
    fn a_runner_answering_everything_passes() {
        let (summary, out) = run(ECHO_OK);
        assert!(summary.success(), "{out}");
        assert!(out.ends_with("\n2 passed, 0 failed, 0 skipped\n"), "{out}");
    }

    #[test]
    fn a_runner_that_crashes_after_one_case_fails() {
        let (summary, out) = run(&format!("{}; exit 0", ECHO_OK.replace("done", "exit 3; done")));
        assert!(!summary.success(), "{out}");
        assert!(out.contains("ok   t.json#1"), "{out}");
        assert!(out.contains("FAIL t.json#2: no outcome"), "{out}");
        assert!(out.contains("FAIL runner: sh exited with exit status: 3"), "{out}");
        assert!(out.ends_with("\n1 passed, 2 failed, 0 skipped\n"), "{out}");
    }

    #[test]
    fn a_runner_exiting_non_zero_fails_even_when_every_outcome_matched() {
        let (summary, out) = run(&format!("{ECHO_OK}; exit 1"));
        assert_eq!((summary.passed, summary.failed), (2, 1), "{out}");
        assert!(!summary.success());
    }

    #[test]
    fn a_runner_that_reads_nothing_fails_every_case() {
        let (summary, out) = run("exit 0");
        assert_eq!((summary.passed, summary.failed), (0, 2), "{out}");
    }
}
