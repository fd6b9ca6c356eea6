//! `relaykit dialog`: the "SMTP Server Configuration" dialog as a local web page.

use crate::args::{Common, DialogArgs};
use crate::exit::{Failure, Outcome};

pub fn run(_c: &Common, _a: &DialogArgs) -> Outcome {
    Err(Failure::usage("dialog: not yet implemented"))
}
