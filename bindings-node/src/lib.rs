//! The Node.js binding of relaykit: napi-rs classes and functions that translate JavaScript
//! values to the core's types and the core's errors to JavaScript `Error`s. No logic lives here.
//!
//! Names are camelCase on the JavaScript side. The saved profile format (`Profile.fromJSON`,
//! `toJSON()`) stays snake_case, the same file in every language.
//!
//! `test()`, `send()` and the `Mailer` methods return Promises and run on the core's tokio runtime (`engine.rs`);
//! their results are the core's §8 JSON as plain objects with camelCase keys and a `toJSON()`
//! giving the JSON itself (`js.rs`).

// napi hands every argument over by value (a JavaScript string arrives as an owned `String`),
// so a binding function cannot borrow what it does not keep.
#![allow(clippy::needless_pass_by_value)]
// napi-derive registers nothing in a `cargo test` build (there is no Node to register with),
// so the exported items look unused there.
#![cfg_attr(test, allow(dead_code))]

mod engine;
mod error;
mod js;
mod keyring;
mod mailer;
mod message;
mod profile;
mod rrt;
mod token;
