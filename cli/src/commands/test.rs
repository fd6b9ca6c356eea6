//! `relaykit test`: the dialog's Test button.

use crate::args::{Common, TestArgs};
use crate::exit::{Failure, Outcome};

pub fn run(_c: &Common, _a: &TestArgs) -> Outcome {
    Err(Failure::usage("test: not yet implemented"))
}
