//! relaykit: SMTP server profiles with encrypted passwords, runtime replacement tags (RRTs),
//! Test and Send. One core for C, Python and Node.

pub mod auth;
pub mod error;
pub mod session;

pub use error::{Error, ErrorKind, Reply, Result, Stage};
pub mod hints;
pub mod message;
pub mod profile;
pub mod report;
pub mod resolve;
pub mod rrt;
pub mod runtime;
pub mod secret;

pub use profile::{Profile, ProfileBuilder};
pub use rrt::RrtContext;
pub use secret::{Keyring, SecretString};
