//! relaykit: SMTP server profiles with encrypted passwords, runtime replacement tags (RRTs),
//! Test and Send. One core for C, Python and Node.

pub mod auth;
mod call;
pub mod capture;
mod connection;
pub mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod login;
mod mailer;
mod names;
pub mod options;
mod probe;
pub mod progress;
mod send;
pub mod session;
pub mod token;

pub use error::{Error, ErrorKind, Fate, Reply, Result, Stage};
pub mod hints;
mod json;
pub mod message;
pub mod profile;
pub mod proxy;
pub mod report;
pub mod resolve;
pub mod rrt;
pub mod runtime;
pub mod secret;

pub use call::Call;
pub use mailer::{Mailer, MailerOptions, MailerStats, RateLimit, RetryPolicy};
pub use message::{Attachment, Message};
pub use options::{RelayCheckRequest, SendOptions, TestOptions};
pub use probe::{test, test_async};
pub use profile::{Profile, ProfileBuilder};
pub use report::{SendResult, TestReport};
pub use rrt::RrtContext;
pub use secret::{Keyring, SecretString};
pub use send::{send, send_async};

/// The crate README's example, compiled as a doctest so it stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
