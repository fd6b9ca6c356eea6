//! `relaykit profile new|show|validate`.

use crate::args::{Common, ProfileNewArgs, ProfileShowArgs, ProfileValidateArgs};
use crate::exit::{Failure, Outcome};

pub fn new(_c: &Common, _a: ProfileNewArgs) -> Outcome {
    Err(Failure::usage("profile new: not yet implemented"))
}

pub fn show(_c: &Common, _a: &ProfileShowArgs) -> Outcome {
    Err(Failure::usage("profile show: not yet implemented"))
}

pub fn validate(_c: &Common, _a: &ProfileValidateArgs) -> Outcome {
    Err(Failure::usage("profile validate: not yet implemented"))
}
