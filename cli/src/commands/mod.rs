//! One module per subcommand.

pub mod key;
pub mod profile;
pub mod send;
pub mod test;
