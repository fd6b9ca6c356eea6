//! `relaykit send`: one message, a raw .eml, or a batch through the mailer.

use crate::args::{Common, SendArgs};
use crate::exit::{Failure, Outcome};

pub fn run(_c: &Common, _a: SendArgs) -> Outcome {
    Err(Failure::usage("send: not yet implemented"))
}
