//! `relaykit key generate|rotate` and `relaykit encrypt-password`.

use crate::args::{Common, EncryptPasswordArgs, KeyGenerateArgs, KeyRotateArgs};
use crate::exit::{Failure, Outcome};

pub fn generate(_c: &Common, _a: &KeyGenerateArgs) -> Outcome {
    Err(Failure::usage("key generate: not yet implemented"))
}

pub fn rotate(_c: &Common, _a: &KeyRotateArgs) -> Outcome {
    Err(Failure::usage("key rotate: not yet implemented"))
}

pub fn encrypt_password(_c: &Common, _a: &EncryptPasswordArgs) -> Outcome {
    Err(Failure::usage("encrypt-password: not yet implemented"))
}
