//! `relaykit`: the command-line tool and the configuration page. Thin: every rule is the
//! library's (`relaykit`); this crate parses flags, prints, and maps errors to exit codes.

mod args;
mod commands;
mod common;
mod dialog;
mod exit;

use std::process::ExitCode;

use clap::Parser as _;

use crate::args::{Cli, Command, KeyCmd, ProfileCmd};

fn main() -> ExitCode {
    // Like other Unix tools, end quietly when the reader of standard output goes away
    // (`relaykit send --batch --json | head`) instead of failing on every later line.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread is started.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version are not failures; every other clap error is usage (2).
            let code = if e.use_stderr() { exit::USAGE } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let c = &cli.common;
    let outcome = match cli.command {
        Command::Profile(ProfileCmd::New(a)) => commands::profile::new(c, *a),
        Command::Profile(ProfileCmd::Show(a)) => commands::profile::show(c, &a),
        Command::Profile(ProfileCmd::Validate(a)) => commands::profile::validate(c, &a),
        Command::Key(KeyCmd::Generate(a)) => commands::key::generate(c, &a),
        Command::Key(KeyCmd::Rotate(a)) => commands::key::rotate(c, &a),
        Command::EncryptPassword(a) => commands::key::encrypt_password(c, &a),
        Command::Test(a) => commands::test::run(c, &a),
        Command::Send(a) => commands::send::run(c, &a),
        Command::Dialog(a) => dialog::run(c, &a),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => f.report(),
    }
}
