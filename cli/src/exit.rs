//! The command's outcome: an exit code per error kind, and the failure a person reads.

use std::process::ExitCode;

use relaykit::{Error, ErrorKind};

/// The exit code for an error of `kind` (the table is `args::EXIT_CODES`). The match is
/// exhaustive, so a new kind in the core breaks this build until it has a code.
pub fn code_for(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::Config => 3,
        ErrorKind::Rrt => 4,
        ErrorKind::Crypto => 5,
        ErrorKind::Dns => 6,
        ErrorKind::Connect => 7,
        ErrorKind::Timeout => 8,
        ErrorKind::Tls => 9,
        ErrorKind::Protocol => 10,
        ErrorKind::AuthUnsupported => 11,
        ErrorKind::AuthFailed => 12,
        ErrorKind::SenderRejected => 13,
        ErrorKind::RecipientRejected => 14,
        ErrorKind::MessageRejected => 15,
        ErrorKind::Io => 16,
        ErrorKind::Internal => 70,
    }
}

/// Some of the work was refused (recipients, messages of a batch); the output says which.
pub const PARTIAL: u8 = 1;
/// A usage error (clap's own, and ours for flag combinations clap cannot express).
pub const USAGE: u8 = 2;

/// Why the command stopped: printed once by `main` on standard error, then its exit code.
#[derive(Debug)]
pub enum Failure {
    /// An error of the library (its message names the field, stage or tag; its hint says
    /// what to do).
    Relaykit(Error),
    /// A usage problem: the message says which flag and how to fix it.
    Usage(String),
    /// The work was done but not all of it succeeded; the output already said what failed.
    Partial,
    /// Already reported (e.g. a failed Test's report was printed): exit with this code.
    Reported(u8),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Relaykit(e)
    }
}

impl Failure {
    pub fn usage(msg: impl Into<String>) -> Self {
        Failure::Usage(msg.into())
    }

    /// The exit code.
    pub fn code(&self) -> u8 {
        match self {
            Failure::Relaykit(e) => code_for(e.kind()),
            Failure::Usage(_) => USAGE,
            Failure::Partial => PARTIAL,
            Failure::Reported(code) => *code,
        }
    }

    /// What to print (nothing for `Partial`/`Reported`: the output already said it).
    pub fn text(&self) -> Option<String> {
        match self {
            Failure::Relaykit(e) => Some(describe(e)),
            Failure::Usage(msg) => Some(msg.clone()),
            Failure::Partial | Failure::Reported(_) => None,
        }
    }

    /// Prints the failure on standard error and returns the exit code.
    pub fn report(self) -> ExitCode {
        if let Some(text) = self.text() {
            eprintln!("relaykit: {text}");
        }
        ExitCode::from(self.code())
    }
}

/// The error in words: kind, stage, message and hint. The library's messages never contain a
/// secret, so neither does this.
pub fn describe(e: &Error) -> String {
    use std::fmt::Write as _;
    let mut s = format!("{} error", e.kind().as_str());
    if let Some(stage) = e.stage() {
        let _ = write!(s, " at {}", stage.as_str());
    }
    let _ = write!(s, ": {}", e.message());
    if let Some(hint) = e.hint() {
        let _ = write!(s, "\n  hint: {hint}");
    }
    s
}

/// The result of a subcommand.
pub type Outcome = Result<(), Failure>;
