//! `relaykit-conformance`: the judge of the conformance cases for the C, Python and Node
//! runners (tests/conformance/README.md).

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use relaykit_conformance::{LANGUAGES, Plan, judge_command, judge_lines, load_cases_for};

const USAGE: &str = "\
usage: relaykit-conformance expand [OPTIONS] [CASE_FILE ...]
       relaykit-conformance judge  [OPTIONS] [CASE_FILE ...] < outcome-lines
       relaykit-conformance run    [OPTIONS] [CASE_FILE ...] -- RUNNER [ARG ...]

expand  prints one JSON line per case: the runner's input, or {\"id\", \"skip\"} / {\"id\", \"invalid\"}
judge   reads the runner's {\"id\", \"outcome\"} lines and prints ok / FAIL / skip per case
run     both at once: starts RUNNER with the inputs on its stdin and judges its stdout

OPTIONS: --lang rust|c|python|node: the runner's language; a case whose `languages` does not
name it is a skip (without --lang every case runs). --within-factor F (>= 1): multiply every
within_secs by F, for a runner under valgrind (CPU-bound work such as PBKDF2 is ~20x slower). CASE_FILE defaults to every tests/conformance/cases/*.json. Variables: the environment, then
$RELAYKIT_STATE/servers.env. Exits 1 if a case failed or got no outcome, or if no case ran.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else { return usage() };
    let (mut files, runner) = match rest.iter().position(|a| a == "--") {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let (mut lang, mut factor) = (None, 1.0);
    while let [flag, value, more @ ..] = files {
        match flag.as_str() {
            "--lang" if LANGUAGES.contains(&value.as_str()) => lang = Some(value.as_str()),
            "--within-factor" => match value.parse::<f64>() {
                Ok(f) if f >= 1.0 => factor = f,
                _ => return usage(),
            },
            _ => break,
        }
        files = more;
    }
    if files.iter().any(|f| f.starts_with('-')) || (command == "run") == runner.is_empty() {
        return usage();
    }
    let files: Vec<PathBuf> = files.iter().map(PathBuf::from).collect();
    match run(command, lang, factor, &files, runner) {
        Ok(Some(true)) => ExitCode::SUCCESS,
        Ok(Some(false)) => ExitCode::FAILURE,
        Ok(None) => usage(),
        Err(e) => {
            eprintln!("relaykit-conformance {command}: {e}");
            ExitCode::from(2)
        }
    }
}

/// `Some(success)`, or `None` for an unknown command.
fn run(
    command: &str,
    lang: Option<&str>,
    factor: f64,
    files: &[PathBuf],
    runner: &[String],
) -> io::Result<Option<bool>> {
    let mut cases = load_cases_for(files, lang)?;
    for case in &mut cases {
        if let Plan::Run { checks, .. } = &mut case.plan {
            checks.within_secs = checks.within_secs.map(|s| s * factor);
        }
    }
    let mut out = BufWriter::new(io::stdout().lock());
    let summary = match command {
        "expand" => {
            for case in &cases {
                writeln!(out, "{}", case.line())?;
            }
            out.flush()?;
            return Ok(Some(true));
        }
        "judge" => judge_lines(&cases, io::stdin().lock(), &mut out)?,
        "run" => judge_command(&cases, runner, &mut out)?,
        _ => return Ok(None),
    };
    Ok(Some(summary.success()))
}

fn usage() -> ExitCode {
    eprintln!("{USAGE}");
    ExitCode::from(2)
}
