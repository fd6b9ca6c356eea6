//! [`Call`]: everything one Test or Send works on, owned, with the defaults every binding
//! shares. A binding's async form outlives the caller's handles, so it clones what it was
//! given into a `Call`; one that was given no keyring or context gets the same defaults as
//! every other binding, decided here.

use crate::error::Result;
use crate::message::Message;
use crate::options::{SendOptions, TestOptions};
use crate::profile::Profile;
use crate::report::{SendResult, TestReport};
use crate::rrt::RrtContext;
use crate::secret::Keyring;

/// The inputs of one Test or Send.
#[derive(Debug, Clone)]
pub struct Call {
    /// The profile.
    pub profile: Profile,
    /// Decrypts an encrypted password. Default: an empty keyring (an encrypted password then
    /// fails with a `crypto` error naming its key id; nothing is read from the environment
    /// unless the host asks for [`Keyring::from_env`]).
    pub keyring: Keyring,
    /// Expands RRTs. Default: no host values, `~WIN::NAME~` from the environment.
    pub rrt: RrtContext,
}

impl Call {
    /// A call with the given parts, and the defaults above for those not given.
    pub fn new(profile: Profile, keyring: Option<Keyring>, rrt: Option<RrtContext>) -> Call {
        Call { profile, keyring: keyring.unwrap_or_default(), rrt: rrt.unwrap_or_default() }
    }

    /// Test (§5): [`crate::test_async`] on these inputs.
    pub async fn test(&self, options: &TestOptions) -> Result<TestReport> {
        crate::test_async(&self.profile, &self.keyring, &self.rrt, options).await
    }

    /// Send (§6): [`crate::send_async`] on these inputs.
    pub async fn send(&self, message: &Message, options: &SendOptions) -> Result<SendResult> {
        crate::send_async(&self.profile, &self.keyring, &self.rrt, message, options).await
    }
}
