//! `relaykit test`: the dialog's Test button.

use relaykit::report::TestReport;
use relaykit::session::TraceSink;
use relaykit::{RelayCheckRequest, TestOptions};

use crate::args::{Common, TestArgs};
use crate::common::{self, Paint};
use crate::exit::{self, Failure, Outcome};

/// Runs the library's Test and prints its report: the §8 JSON exactly (`--json`) or a table.
/// Exit 0 when every stage succeeded, else the error kind's code (1 when only the relay check
/// was refused).
pub fn run(c: &Common, a: &TestArgs) -> Outcome {
    let profile = common::read_profile(&a.file)?;
    let keyring = common::keyring(c)?;
    let ctx = common::rrt_context(c)?;
    let mut options = TestOptions::default();
    if let Some([from, to]) = a.relay_check.as_deref() {
        options.relay_check = Some(RelayCheckRequest { from: from.clone(), to: to.clone() });
    }
    if a.trace {
        options.trace = Some(stderr_trace());
    }
    options.token_provider = common::token_provider(c);
    let report = relaykit::test(&profile, &keyring, &ctx, &options)?;
    if a.json {
        println!("{}", report.to_json());
    } else {
        print_table(&report, Paint::new(common::colour(c)));
    }
    if report.ok {
        return Ok(());
    }
    if a.json {
        // Standard output is the report; the failure in words goes where a person looks.
        if let Some(e) = &report.error {
            eprintln!("relaykit: {}", exit::describe(e));
        }
    }
    Err(Failure::Reported(report.error.as_ref().map_or(exit::PARTIAL, |e| exit::code_for(e.kind()))))
}

/// Trace lines on standard error, as the library hands them over (secrets already masked).
pub fn stderr_trace() -> TraceSink {
    TraceSink::new(|ev| eprintln!("{ev}"))
}

fn print_table(r: &TestReport, paint: Paint) {
    let verdict = if r.ok { paint.good("Test passed") } else { paint.bad("Test failed") };
    println!("{verdict}");
    println!();
    println!("  {:<10} {:<6} {:>9}", "stage", "ok", "ms");
    for s in &r.stages {
        let ok = if s.ok { paint.good("ok    ") } else { paint.bad("FAILED") };
        println!("  {:<10} {ok} {:>9.1}", s.stage.as_str(), s.ms);
    }
    if let Some(srv) = &r.server {
        println!();
        println!("  server      {}", srv.banner);
        if let Some(limit) = srv.size_limit {
            println!("  size limit  {limit} bytes");
        }
        if !srv.auth_mechanisms.is_empty() {
            println!("  mechanisms  {}", srv.auth_mechanisms.join(" "));
        }
        if !srv.extensions.is_empty() {
            println!("  extensions  {}", srv.extensions.join(", "));
        }
    }
    if let Some(tls) = &r.tls {
        println!();
        println!("  TLS         {} {}", tls.version, tls.cipher);
        println!("  subject     {}", tls.subject);
        println!("  issuer      {}", tls.issuer);
        println!("  expires     {}", tls.not_after);
        let verified = if tls.verified {
            paint.good("yes")
        } else {
            paint.warn(&format!("no ({})", tls.verify_error.as_deref().unwrap_or("not checked")))
        };
        println!("  verified    {verified}");
    }
    if let Some(auth) = &r.auth {
        println!();
        println!("  mechanism   {}", auth.mechanism.as_deref().unwrap_or("(none)"));
        for at in &auth.attempts {
            let ok = if at.ok { paint.good("ok") } else { paint.bad("failed") };
            let code = at.code.map(|c| format!(" {c}")).unwrap_or_default();
            let msg = at.message.as_deref().map(|m| format!(": {m}")).unwrap_or_default();
            println!("  attempt     {} {ok}{code}{msg}", at.mechanism);
        }
    }
    if let Some(relay) = &r.relay {
        println!();
        let ok = if relay.ok { paint.good("would relay") } else { paint.bad("refused") };
        println!("  relay check {} -> {}: {ok} ({})", relay.from, relay.to, relay.reply);
    }
    for w in &r.warnings {
        println!("  {} {w}", paint.warn("warning:"));
    }
    if let Some(e) = &r.error {
        println!();
        let stage = e.stage().map_or("-", |s| s.as_str());
        println!("  {} {} error at {stage}", paint.bad("failed:"), e.kind().as_str());
        if let Some(reply) = e.reply() {
            println!("  reply       {reply}");
        }
        println!("  message     {}", e.message());
        if let Some(h) = e.hint() {
            println!("  {}        {h}", paint.bold("hint"));
        }
    }
}
