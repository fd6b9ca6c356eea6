//! The Node.js binding of relaykit: napi-rs classes and functions that translate JavaScript
//! values to the core's types and the core's errors to JavaScript `Error`s. No logic lives here.
//!
//! Names are camelCase on the JavaScript side. The saved profile format (`Profile.fromJSON`,
//! `toJSON()`) stays snake_case, the same file in every language.
//!
//! Test and Send come with the core's engine: they will be `async fn`s here, run on napi's tokio
//! runtime and returning Promises (see README.md).

// napi hands every argument over by value (a JavaScript string arrives as an owned `String`),
// so a binding function cannot borrow what it does not keep.
#![allow(clippy::needless_pass_by_value)]
// napi-derive registers nothing in a `cargo test` build (there is no Node to register with),
// so the exported items look unused there.
#![cfg_attr(test, allow(dead_code))]

mod error;
mod keyring;
mod message;
mod profile;
mod rrt;
