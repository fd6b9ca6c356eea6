//! Judging a runner's outcomes against the cases' `expect` (README "Outcome lines").

use std::collections::HashMap;

use serde_json::Value;

use crate::cases::{Case, Plan};
use crate::pattern;

/// Takes a runner's outcomes one by one and keeps the score. Every case to run must get exactly
/// one outcome; [`Judge::finish`] fails the ones that got none (a runner that crashed half-way).
#[derive(Debug)]
pub struct Judge<'a> {
    cases: &'a [Case],
    /// Index in `cases` of each case to run.
    to_run: HashMap<&'a str, usize>,
    answered: Vec<bool>,
    opening: Vec<String>,
    passed: usize,
    failed: usize,
    skipped: usize,
    lines_read: usize,
}

/// The score, and the lines [`Judge::finish`] adds (missing outcomes, "no case ran").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub lines: Vec<String>,
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
}

impl Summary {
    /// The final line: `N passed, N failed, N skipped`.
    pub fn totals(&self) -> String {
        format!("{} passed, {} failed, {} skipped", self.passed, self.failed, self.skipped)
    }

    /// Nothing failed and something passed.
    pub fn success(&self) -> bool {
        self.failed == 0 && self.passed > 0
    }
}

impl<'a> Judge<'a> {
    /// Skipped and invalid cases are scored here; their lines come from [`Judge::opening`].
    pub fn new(cases: &'a [Case]) -> Self {
        let mut judge = Self {
            cases,
            to_run: HashMap::new(),
            answered: vec![false; cases.len()],
            opening: Vec::new(),
            passed: 0,
            failed: 0,
            skipped: 0,
            lines_read: 0,
        };
        for (i, case) in cases.iter().enumerate() {
            match &case.plan {
                Plan::Run { .. } => {
                    judge.to_run.insert(case.id.as_str(), i);
                }
                Plan::Skip(why) => {
                    judge.skipped += 1;
                    judge.opening.push(format!("skip {}: {why}", case.id));
                }
                Plan::Invalid(why) => {
                    judge.failed += 1;
                    judge.opening.push(format!("FAIL {}: invalid case: {why}", case.id));
                }
            }
        }
        judge
    }

    /// The skip and invalid-case lines, once.
    pub fn opening(&mut self) -> Vec<String> {
        std::mem::take(&mut self.opening)
    }

    /// One line of a runner's output: `{"id", "outcome"}` or `{"id", "runner_error"}`. `None`
    /// for a blank line.
    pub fn outcome_line(&mut self, text: &str) -> Option<String> {
        self.lines_read += 1;
        if text.trim().is_empty() {
            return None;
        }
        let n = self.lines_read;
        let line: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => return Some(self.problem(&format!("runner output line {n} is not JSON ({e}): {}", clip(text)))),
        };
        let id = line.get("id").and_then(Value::as_str).unwrap_or_default();
        Some(match (line.get("outcome"), line.get("runner_error")) {
            (Some(outcome), None) if outcome.is_object() => self.outcome(id, Ok(outcome)),
            (None, Some(Value::String(why))) => self.outcome(id, Err(why)),
            _ => self.problem(&format!(
                "runner output line {n} has neither an outcome object nor a runner_error: {}",
                clip(text)
            )),
        })
    }

    /// The outcome of case `id`; `Err`: the runner could not execute the input, and says why.
    pub fn outcome(&mut self, id: &str, outcome: Result<&Value, &str>) -> String {
        let Some(&i) = self.to_run.get(id) else {
            return self.problem(&format!("{id}: an outcome for no case that was given to the runner"));
        };
        if std::mem::replace(&mut self.answered[i], true) {
            return self.problem(&format!("{id}: a second outcome"));
        }
        let case = &self.cases[i];
        let Plan::Run { expect, checks, .. } = &case.plan else { unreachable!("to_run holds runnable cases only") };
        let verdict = match outcome {
            Err(why) => Err(format!("the runner could not run it: {}", checks.redact_str(why))),
            Ok(outcome) => {
                let mut problems: Vec<String> = pattern::check(expect, Some(outcome)).err().into_iter().collect();
                problems.extend(checks.problems(outcome));
                if problems.is_empty() {
                    Ok(())
                } else {
                    // Never print a secret, whatever failed.
                    let shown = checks.redact_str(&problems.join("\n     "));
                    Err(format!("{shown}\n     outcome: {}", checks.redact(outcome)))
                }
            }
        };
        match verdict {
            Ok(()) => {
                self.passed += 1;
                format!("ok   {} [{}] {}", case.id, case.role, case.comment)
            }
            Err(why) => {
                self.failed += 1;
                fail_line(case, &why)
            }
        }
    }

    /// A failure that belongs to no case (an unreadable line, the runner's exit status).
    pub fn problem(&mut self, what: &str) -> String {
        self.failed += 1;
        format!("FAIL {what}")
    }

    /// Fails every case that got no outcome, and says so when no case ran at all.
    pub fn finish(mut self) -> Summary {
        let mut lines = Vec::new();
        for (i, case) in self.cases.iter().enumerate() {
            if matches!(case.plan, Plan::Run { .. }) && !self.answered[i] {
                self.failed += 1;
                lines.push(fail_line(case, "no outcome (the runner stopped before it, or passed over it)"));
            }
        }
        if self.passed + self.failed == 0 {
            lines.push("no case ran: RK_ROLES selects none of these cases' roles, or every case was skipped".into());
        }
        Summary { lines, passed: self.passed, failed: self.failed, skipped: self.skipped }
    }
}

fn fail_line(case: &Case, why: &str) -> String {
    format!("FAIL {}: {why}\n     [{}] {}", case.id, case.role, case.comment)
}

fn clip(text: &str) -> String {
    let mut s: String = text.chars().take(200).collect();
    if s.len() < text.len() {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::Judge;
    use crate::cases::expand_doc as expand;
    use crate::vars::Vars;
    use serde_json::json;

    /// The self-check the C runner's run.sh made: a correct expectation passes, a wrong one
    /// fails with the path of the mismatch, an undefined variable skips.
    fn three_cases() -> Vec<crate::Case> {
        let doc = json!({"testGroups": [{"role": "aiosmtpd", "tests": [
            {"tcId": 1, "comment": "bad profile is a config error", "action": "test",
             "profile": {"server": "${RK_HOST}", "prot": 1},
             "expect": {"status": "error", "error": {"kind": "config", "message": {"$contains": "prot"}, "code": null}}},
            {"tcId": 2, "comment": "wrong expectation", "action": "test", "profile": {"server": "${RK_HOST}"},
             "expect": {"status": "ok", "report": {"ok": true, "stages": {"$has": [{"name": "no-such-stage"}]}}}},
            {"tcId": 3, "comment": "undefined variable", "action": "test",
             "profile": {"server": "${RK_NO_SUCH_VARIABLE}"}, "expect": {"status": "ok"}}]}]});
        expand("self.json", &doc, &Vars::from_pairs([("RK_ROLES", "aiosmtpd"), ("RK_HOST", "127.0.0.1")]))
    }

    const CONFIG_ERROR: &str = r#"{"id": "self.json#1", "outcome": {"status": "error", "error": {"kind": "config", "message": "unknown field `prot`"}}}"#;
    const REPORT: &str = r#"{"id": "self.json#2", "outcome": {"status": "ok", "report": {"ok": true, "stages": [{"name": "connect"}]}}}"#;

    #[test]
    fn a_wrong_expectation_fails_with_its_path_and_an_undefined_variable_skips() {
        let cases = three_cases();
        let mut judge = Judge::new(&cases);
        assert_eq!(judge.opening(), ["skip self.json#3: variable RK_NO_SUCH_VARIABLE is not defined"]);
        assert!(judge.opening().is_empty(), "once");
        let first = judge.outcome_line(CONFIG_ERROR).unwrap();
        assert_eq!(first, "ok   self.json#1 [aiosmtpd] bad profile is a config error");
        let second = judge.outcome_line(REPORT).unwrap();
        assert!(
            second.starts_with(
                r#"FAIL self.json#2: $.report.stages: expected an element matching {"name":"no-such-stage"} ($has[0]); got [{"name":"connect"}]"#
            ),
            "{second}"
        );
        let summary = judge.finish();
        assert_eq!(summary.totals(), "1 passed, 1 failed, 1 skipped");
        assert!(!summary.success());
    }

    #[test]
    fn a_runner_that_stops_half_way_fails_the_rest() {
        let cases = three_cases();
        let mut judge = Judge::new(&cases);
        judge.outcome_line(CONFIG_ERROR);
        let summary = judge.finish();
        assert_eq!((summary.passed, summary.failed), (1, 1));
        assert!(summary.lines[0].starts_with("FAIL self.json#2: no outcome"), "{:?}", summary.lines);
        assert!(!summary.success());
    }

    #[test]
    fn nothing_ran_is_a_failure() {
        let cases = three_cases();
        let summary = Judge::new(&cases[2..]).finish();
        assert_eq!(summary.totals(), "0 passed, 0 failed, 1 skipped");
        assert!(summary.lines[0].starts_with("no case ran"));
        assert!(!summary.success());
    }

    #[test]
    fn stray_duplicate_garbled_and_runner_error_lines_fail() {
        let cases = three_cases();
        let mut judge = Judge::new(&cases);
        assert_eq!(
            judge.outcome_line(CONFIG_ERROR).unwrap(),
            "ok   self.json#1 [aiosmtpd] bad profile is a config error"
        );
        assert_eq!(judge.outcome_line(CONFIG_ERROR).unwrap(), "FAIL self.json#1: a second outcome");
        assert!(
            judge.outcome_line(r#"{"id": "self.json#3", "outcome": {}}"#).unwrap().contains("no case that was given")
        );
        assert!(judge.outcome_line("Traceback (most recent call last):").unwrap().contains("line 4 is not JSON"));
        assert!(judge.outcome_line(r#"{"id": "self.json#2"}"#).unwrap().contains("neither an outcome"));
        assert_eq!(judge.outcome_line("  "), None);
        let err = judge.outcome_line(r#"{"id": "self.json#2", "runner_error": "TypeError: x"}"#).unwrap();
        assert!(err.starts_with("FAIL self.json#2: the runner could not run it: TypeError: x"), "{err}");
        let summary = judge.finish();
        assert_eq!((summary.passed, summary.failed, summary.skipped), (1, 5, 1));
        assert!(summary.lines.is_empty(), "every case was answered: {:?}", summary.lines);
    }

    #[test]
    fn all_answered_and_matching_is_a_success() {
        let cases = three_cases();
        let mut judge = Judge::new(&cases[..1]);
        judge.outcome_line(CONFIG_ERROR);
        let summary = judge.finish();
        assert!(summary.success(), "{summary:?}");
        assert_eq!(summary.totals(), "1 passed, 0 failed, 0 skipped");
    }

    #[test]
    fn a_secret_in_any_outcome_fails_the_case_and_the_verdict_never_prints_it() {
        let doc = json!({"testGroups": [{"role": "aiosmtpd", "tests": [
            {"tcId": 1, "comment": "c", "action": "test", "profile": {"username": "u@x", "password": "Hunter-22-pw"},
             "expect": {"status": "error"}}]}]});
        let cases = expand("s.json", &doc, &Vars::from_pairs([("RK_ROLES", "aiosmtpd")]));
        let mut judge = Judge::new(&cases);
        let line = r#"{"id": "s.json#1", "outcome": {"status": "error", "trace": ["S: 535 no Hunter-22-pw"]}}"#;
        let verdict = judge.outcome_line(line).unwrap();
        assert!(
            verdict.starts_with(
                "FAIL s.json#1: a secret of the input (the password) appears in the outcome at $.trace[0]"
            ),
            "{verdict}"
        );
        assert!(!verdict.contains("Hunter-22-pw"), "{verdict}");
        assert!(verdict.contains("S: 535 no <secret: the password>"), "{verdict}");
        assert_eq!(judge.finish().totals(), "0 passed, 1 failed, 0 skipped");
    }
}
