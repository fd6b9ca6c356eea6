//! relaykit: SMTP server profiles with encrypted passwords, runtime replacement tags (RRTs),
//! Test and Send. One core for C, Python and Node.

pub mod error;
pub mod session;

pub use error::{Error, ErrorKind, Reply, Result, Stage};
