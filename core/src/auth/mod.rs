//! SASL client mechanisms for SMTP AUTH (RFC 4954): which mechanism to use, and one
//! authentication exchange at a time.
//!
//! This module is *sans-I/O*: it never touches a socket. The SMTP session drives it:
//!
//! 1. [`negotiate`] turns the server's EHLO `AUTH` list, the profile's allow-list, the TLS
//!    state and the user name into the ordered list of mechanisms to try (spec §4:
//!    SCRAM-SHA-256, SCRAM-SHA-1, NTLM, CRAM-MD5, PLAIN, LOGIN, with NTLM first for a
//!    `DOMAIN\user` name; OAUTHBEARER and XOAUTH2 only when explicitly allowed or a token
//!    provider is given) and the reason each other
//!    mechanism was left out, so an error can say *why* nothing was usable.
//! 2. For each mechanism, [`SaslClient::new`]; then `AUTH <NAME> <base64>` with
//!    [`SaslClient::initial_response`] when it returns `Some` (SASL-IR; an empty response is
//!    sent as `=`), otherwise plain `AUTH <NAME>`.
//! 3. Each `334 <base64>` is decoded by the session and passed to [`SaslClient::respond`]; the
//!    returned bytes are base64-encoded and sent as one line.
//! 4. On `235`, [`SaslClient::finish`]: for SCRAM this fails unless the server proved that it
//!    knows the password (its `v=` signature was received and verified).
//!    On `535`/`454`/…, the session reports the failure; [`SaslClient::server_error`] may add
//!    what the server said inside the exchange (XOAUTH2's JSON error, SCRAM's `e=`).
//! 5. After any failure, [`SaslClient::outcome`] decides whether the next mechanism is tried
//!    ([`Outcome::TryNext`]: the server refused the mechanism without judging the
//!    credentials, or the client cannot run it) or authentication ends (a 535, a server that
//!    failed its SCRAM proof, a broken connection).
//!
//! Only the current-user NTLM variant does I/O: it runs Samba's `ntlm_auth` helper as a child
//! process (see [`AuthOptions::ntlm_helper`]); that is why [`SaslClient::initial_response`] and
//! [`SaslClient::respond`] are `async`. All other mechanisms complete without awaiting.
//!
//! # Secrets
//!
//! Every client response is a secret (it contains or is derived from the password or token):
//! responses are returned in [`Zeroizing`] buffers and the session must log them as
//! [`REDACTED`], never their bytes or base64. Intermediate keys and hashes also live in
//! `Zeroizing` containers, and no `Debug` impl here prints a password, hash, key or response.
//! Server challenges are not secret.

use std::fmt;
use std::time::Duration;

use zeroize::Zeroizing;

use crate::error::{Cause, Error, ErrorKind, NoMechanism, Result, Stage};

pub use outcome::Outcome;

mod cram_md5;
mod login;
mod ntlm;
mod ntlm_helper;
mod oauthbearer;
mod outcome;
mod plain;
mod salted;
mod scram;
mod xoauth2;

mod external;

/// What the session prints instead of a client response (or its base64) in logs and transcripts.
pub const REDACTED: &str = "<redacted>";

/// The SASL mechanisms relaykit speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mechanism {
    /// SCRAM-SHA-256 (RFC 7677).
    ScramSha256,
    /// SCRAM-SHA-1 (RFC 5802).
    ScramSha1,
    /// NTLMv2 with extended session security (MS-NLMP).
    Ntlm,
    /// CRAM-MD5 (RFC 2195).
    CramMd5,
    /// PLAIN (RFC 4616): the password in clear.
    Plain,
    /// LOGIN (draft-murchison-sasl-login): the password in clear.
    Login,
    /// XOAUTH2 (Google/Microsoft): an OAuth 2.0 bearer token in clear.
    Xoauth2,
    /// EXTERNAL (RFC 4422 App. A): the identity established outside SASL, here the TLS client
    /// certificate; only when the allow-list names it.
    External,
    /// OAUTHBEARER (RFC 7628): an OAuth 2.0 bearer token in clear, with a GS2 header.
    OAuthBearer,
}

impl Mechanism {
    /// Every mechanism, in the order of spec §4 (most secure first), then the token mechanisms
    /// (OAUTHBEARER before XOAUTH2), then EXTERNAL.
    pub const ALL: [Mechanism; 9] = [
        Mechanism::ScramSha256,
        Mechanism::ScramSha1,
        Mechanism::Ntlm,
        Mechanism::CramMd5,
        Mechanism::Plain,
        Mechanism::Login,
        Mechanism::OAuthBearer,
        Mechanism::Xoauth2,
        Mechanism::External,
    ];

    /// The order of spec §4, most secure first: [`Mechanism::ALL`] without OAUTHBEARER, XOAUTH2
    /// and EXTERNAL. The token mechanisms are used only when the allow-list names them or a
    /// token provider is given, EXTERNAL only when the allow-list names it (they need a token
    /// or a client certificate, not a password).
    pub const PREFERENCE: &'static [Mechanism] = Mechanism::ALL.split_at(6).0;

    /// The mechanisms that carry an OAuth 2.0 bearer token, in the order of §4.
    pub const TOKEN: &'static [Mechanism] = Mechanism::ALL.split_at(6).1.split_at(2).0;

    /// Whether the secret is an OAuth 2.0 bearer token (OAUTHBEARER, XOAUTH2).
    pub const fn takes_token(self) -> bool {
        matches!(self, Mechanism::OAuthBearer | Mechanism::Xoauth2)
    }

    /// The IANA/EHLO name, e.g. `"SCRAM-SHA-256"`.
    pub const fn name(self) -> &'static str {
        match self {
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
            Mechanism::ScramSha1 => "SCRAM-SHA-1",
            Mechanism::Ntlm => "NTLM",
            Mechanism::CramMd5 => "CRAM-MD5",
            Mechanism::Plain => "PLAIN",
            Mechanism::Login => "LOGIN",
            Mechanism::Xoauth2 => "XOAUTH2",
            Mechanism::External => "EXTERNAL",
            Mechanism::OAuthBearer => "OAUTHBEARER",
        }
    }

    /// The mechanism named `s` (case-insensitive), if relaykit speaks it.
    pub fn from_name(s: &str) -> Option<Self> {
        Mechanism::ALL.into_iter().find(|m| m.name().eq_ignore_ascii_case(s.trim()))
    }

    /// Whether the secret crosses the wire readable (PLAIN, LOGIN, and the bearer token of
    /// OAUTHBEARER and XOAUTH2). These are never used on a connection without TLS unless
    /// plaintext is explicitly allowed.
    pub const fn sends_password_in_clear(self) -> bool {
        matches!(self, Mechanism::Plain | Mechanism::Login | Mechanism::Xoauth2 | Mechanism::OAuthBearer)
    }

    /// Whether the client speaks first (has an initial response for SASL-IR).
    pub const fn client_first(self) -> bool {
        !matches!(self, Mechanism::Login | Mechanism::CramMd5)
    }
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The credentials for one login: a user name and the password (or, for XOAUTH2, the bearer
/// token), the latter in zeroizing memory. `Debug` redacts the secret.
#[derive(Clone)]
pub struct Credentials {
    username: String,
    secret: Zeroizing<String>,
}

impl Credentials {
    /// Credentials for `username` with `secret` (a password or an XOAUTH2 bearer token).
    pub fn new(username: impl Into<String>, secret: Zeroizing<String>) -> Self {
        Credentials { username: username.into(), secret }
    }

    /// The user name.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// The password or token (crate-internal: only mechanisms read it).
    pub(crate) fn secret(&self) -> &str {
        &self.secret
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials").field("username", &self.username).field("secret", &REDACTED).finish()
    }
}

/// Options for an exchange beyond the credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthOptions {
    /// NTLM: the workstation name sent in the AUTHENTICATE message (empty when `None`).
    pub workstation: Option<String>,
    /// NTLM: authenticate as the logged-on user through a helper speaking Samba's
    /// `ntlmssp-client-1` protocol; this is its argv (program first). `None` uses the
    /// credentials' password. [`ntlm_helper_default_argv`] gives Samba's `ntlm_auth`.
    pub ntlm_helper: Option<Vec<String>>,
    /// The longest the NTLM helper may take to start or to answer one request.
    pub helper_timeout: Duration,
    /// OAUTHBEARER: the server's host name and port, sent in the `host` and `port`
    /// key-values (RFC 7628 §3.1). Empty and 0 when unknown.
    pub server: (String, u16),
}

impl Default for AuthOptions {
    fn default() -> Self {
        AuthOptions {
            workstation: None,
            ntlm_helper: None,
            helper_timeout: Duration::from_secs(15),
            server: (String::new(), 0),
        }
    }
}

/// The default argv for current-user NTLM on Linux: Samba's `ntlm_auth` using winbind's cached
/// credentials of the logged-on domain user.
pub fn ntlm_helper_default_argv() -> Vec<String> {
    ntlm_helper::DEFAULT_ARGV.iter().map(|s| (*s).to_owned()).collect()
}

/// Why a mechanism is not in [`Negotiation::to_try`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// The server does not advertise it.
    NotOffered,
    /// The server offers it but the allow-list does not include it (OAUTHBEARER and XOAUTH2
    /// are never used unless listed or a token provider is given).
    NotAllowed,
    /// It sends the password (or token) in clear, the connection has no TLS and
    /// `allow_plaintext_password` is off.
    PlaintextWithoutTls,
}

/// A mechanism left out and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Skipped {
    /// The mechanism.
    pub mechanism: Mechanism,
    /// Why it is not tried.
    pub reason: SkipReason,
}

/// The outcome of [`negotiate`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Negotiation {
    /// The mechanisms to try, in order. When one is rejected, the next is tried.
    pub to_try: Vec<Mechanism>,
    /// Each mechanism left out, with the reason.
    pub skipped: Vec<Skipped>,
    /// Mechanism names the server offers that relaykit does not speak (e.g. `GSSAPI`), as sent.
    pub unsupported_offered: Vec<String>,
}

impl Negotiation {
    /// The mechanisms the server offers that relaykit speaks, in preference order.
    pub fn offered(&self) -> Vec<Mechanism> {
        let mut v: Vec<Mechanism> = self
            .to_try
            .iter()
            .copied()
            .chain(self.skipped.iter().filter(|s| s.reason != SkipReason::NotOffered).map(|s| s.mechanism))
            .collect();
        v.sort_by_key(|m| Mechanism::ALL.iter().position(|x| x == m));
        v.dedup();
        v
    }

    fn with_reason(&self, reason: SkipReason) -> Vec<Mechanism> {
        self.skipped.iter().filter(|s| s.reason == reason).map(|s| s.mechanism).collect()
    }

    /// The `ErrorKind::AuthUnsupported` error for when nothing is left to try (or every tried
    /// mechanism failed to start), saying what the server offers and why each was refused,
    /// e.g. "server offers only PLAIN and LOGIN, which are not sent without TLS", with the cause
    /// that `hints.rs` words.
    pub fn unsupported_error(&self) -> Error {
        let offered = self.offered();
        let (message, cause) = if offered.is_empty() {
            if self.unsupported_offered.is_empty() {
                (
                    "server does not offer authentication (no AUTH in its EHLO reply)".to_owned(),
                    NoMechanism::NoneOffered,
                )
            } else {
                (
                    format!(
                        "server offers only {}, which relaykit does not support",
                        join_and(&self.unsupported_offered)
                    ),
                    NoMechanism::OnlyUnsupported,
                )
            }
        } else {
            let plaintext = self.with_reason(SkipReason::PlaintextWithoutTls);
            let not_allowed = self.with_reason(SkipReason::NotAllowed);
            let names = |v: &[Mechanism]| join_and(&v.iter().map(|m| m.name()).collect::<Vec<_>>());
            let verb = |v: &[Mechanism]| if v.len() == 1 { "is" } else { "are" };
            let mut message = format!("server offers only {}", names(&offered));
            if plaintext.len() == offered.len() {
                message.push_str(", which ");
                message.push_str(verb(&plaintext));
                message.push_str(" not sent without TLS");
            } else {
                let mut parts = Vec::new();
                if !plaintext.is_empty() {
                    parts.push(format!("{} {} not sent without TLS", names(&plaintext), verb(&plaintext)));
                }
                if !not_allowed.is_empty() {
                    parts.push(format!("{} {} not in the allowed mechanisms", names(&not_allowed), verb(&not_allowed)));
                }
                if !parts.is_empty() {
                    message.push_str("; ");
                    message.push_str(&parts.join("; "));
                }
            }
            let cause = if plaintext.is_empty() { NoMechanism::NotAllowed } else { NoMechanism::PlaintextWithoutTls };
            (message, cause)
        };
        Error::new(ErrorKind::AuthUnsupported, message).with_stage(Stage::Auth).with_cause(Cause::NoMechanism(cause))
    }
}

fn join_and<S: AsRef<str>>(items: &[S]) -> String {
    match items {
        [] => String::new(),
        [one] => one.as_ref().to_owned(),
        [init @ .., last] => {
            format!("{} and {}", init.iter().map(AsRef::as_ref).collect::<Vec<_>>().join(", "), last.as_ref())
        }
    }
}

/// Decides which mechanisms to try, in order.
///
/// - `offered_by_server`: the names after `AUTH` in the EHLO reply (any case; unknown ones are
///   recorded in [`Negotiation::unsupported_offered`]).
/// - `allow_list`: the profile's allowed mechanisms, or `None` for "the most secure type
///   supported by both" ([`Mechanism::PREFERENCE`]; XOAUTH2 only when listed).
/// - `as_listed`: try the allow-list in its own order instead of the preference order.
/// - `tls_active`, `allow_plaintext`: PLAIN, LOGIN and XOAUTH2 are left out without TLS unless
///   `allow_plaintext`.
/// - `username`: a name written `DOMAIN\user` is a Windows domain account, which only NTLM
///   understands, so NTLM moves to the front when it is to be tried at all (the server offers
///   it and the allow-list has it). With `as_listed` the listed order is kept as it is: the
///   profile then says exactly what to try first.
///
/// ```
/// use relaykit::auth::{Mechanism, negotiate};
/// let offered = ["SCRAM-SHA-256", "NTLM", "PLAIN"];
/// let n = negotiate(&offered, None, false, true, false, "alice");
/// assert_eq!(n.to_try, [Mechanism::ScramSha256, Mechanism::Ntlm, Mechanism::Plain]);
/// let n = negotiate(&offered, None, false, true, false, "CORP\\alice");
/// assert_eq!(n.to_try, [Mechanism::Ntlm, Mechanism::ScramSha256, Mechanism::Plain]);
/// ```
pub fn negotiate<S: AsRef<str>>(
    offered_by_server: &[S],
    allow_list: Option<&[Mechanism]>,
    as_listed: bool,
    tls_active: bool,
    allow_plaintext: bool,
    username: &str,
) -> Negotiation {
    let mut offered = Vec::new();
    let mut unsupported_offered = Vec::new();
    for name in offered_by_server {
        let name = name.as_ref().trim();
        if name.is_empty() {
            continue;
        }
        match Mechanism::from_name(name) {
            Some(m) => {
                if !offered.contains(&m) {
                    offered.push(m);
                }
            }
            None => {
                if !unsupported_offered.iter().any(|u: &String| u.eq_ignore_ascii_case(name)) {
                    unsupported_offered.push(name.to_owned());
                }
            }
        }
    }

    let candidates: Vec<Mechanism> = match allow_list {
        None => Mechanism::PREFERENCE.to_vec(),
        Some(list) => {
            let mut v: Vec<Mechanism> = Vec::new();
            for m in list {
                if !v.contains(m) {
                    v.push(*m);
                }
            }
            if !as_listed {
                v.sort_by_key(|m| Mechanism::ALL.iter().position(|x| x == m));
            }
            v
        }
    };

    let mut n = Negotiation { unsupported_offered, ..Negotiation::default() };
    for m in &candidates {
        let reason = if !offered.contains(m) {
            Some(SkipReason::NotOffered)
        } else if m.sends_password_in_clear() && !tls_active && !allow_plaintext {
            Some(SkipReason::PlaintextWithoutTls)
        } else {
            None
        };
        match reason {
            Some(reason) => n.skipped.push(Skipped { mechanism: *m, reason }),
            None => n.to_try.push(*m),
        }
    }
    for m in Mechanism::ALL {
        if offered.contains(&m) && !candidates.contains(&m) {
            n.skipped.push(Skipped { mechanism: m, reason: SkipReason::NotAllowed });
        }
    }
    if !as_listed && ntlm::is_domain_account(username) {
        if let Some(i) = n.to_try.iter().position(|m| *m == Mechanism::Ntlm) {
            n.to_try[..=i].rotate_right(1);
        }
    }
    n
}

/// A protocol error in `mech`'s exchange: the server sent something malformed or unexpected.
pub(crate) fn protocol_error(mech: Mechanism, what: impl fmt::Display) -> Error {
    Error::new(ErrorKind::Protocol, format!("{mech}: {what}")).with_stage(Stage::Auth)
}

/// The credentials cannot be used with `mech` (e.g. a NUL in a PLAIN user name).
pub(crate) fn config_error(mech: Mechanism, what: impl fmt::Display) -> Error {
    Error::new(ErrorKind::Config, format!("{mech}: {what}")).with_stage(Stage::Auth)
}

/// `n` random bytes from the operating system.
pub(crate) fn random_bytes<const N: usize>() -> Result<Zeroizing<[u8; N]>> {
    let mut buf = Zeroizing::new([0u8; N]);
    getrandom::fill(buf.as_mut()).map_err(|e| {
        Error::internal(format!("the operating system's random generator failed: {e}")).with_stage(Stage::Auth)
    })?;
    Ok(buf)
}

/// One synchronous mechanism's steps.
trait Exchange {
    /// The initial response (client-first mechanisms only).
    fn initial_response(&mut self) -> Result<Option<Zeroizing<Vec<u8>>>>;
    /// The answer to one server challenge.
    fn respond(&mut self, challenge: &[u8]) -> Result<Zeroizing<Vec<u8>>>;
    /// The server said 235.
    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
    /// What the server said inside the exchange about a failure, if anything.
    fn server_error(&self) -> Option<&str> {
        None
    }
    /// The mechanism's own verdict on a failure, when the exchange reached one (SCRAM's proof
    /// check, its `e=`); `None` leaves it to the server's reply.
    fn outcome(&self) -> Option<Outcome> {
        None
    }
}

enum Inner {
    Plain(plain::Plain),
    Login(login::Login),
    CramMd5(cram_md5::CramMd5),
    Scram(scram::Scram),
    Ntlm(Box<ntlm::Ntlm>),
    NtlmHelper(Box<ntlm_helper::Helper>),
    Xoauth2(xoauth2::Xoauth2),
    External(external::External),
    OAuthBearer(oauthbearer::OAuthBearer),
}

/// One authentication exchange with a server, for one mechanism.
pub struct SaslClient {
    mech: Mechanism,
    inner: Inner,
    initial_done: bool,
}

impl fmt::Debug for SaslClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaslClient")
            .field("mechanism", &self.mech)
            .field("initial_done", &self.initial_done)
            .finish_non_exhaustive()
    }
}

impl SaslClient {
    /// Prepares an exchange with `mech`. Fails with `ErrorKind::Config` when the credentials
    /// cannot be expressed in the mechanism (e.g. a NUL in a PLAIN user name, a user name
    /// SCRAM cannot prepare).
    pub fn new(mech: Mechanism, creds: &Credentials, opts: &AuthOptions) -> Result<Self> {
        let inner = match mech {
            Mechanism::Plain => Inner::Plain(plain::Plain::new(creds)?),
            Mechanism::Login => Inner::Login(login::Login::new(creds)),
            Mechanism::CramMd5 => Inner::CramMd5(cram_md5::CramMd5::new(creds)?),
            Mechanism::ScramSha256 => Inner::Scram(scram::Scram::new(scram::Hash::Sha256, creds, None)?),
            Mechanism::ScramSha1 => Inner::Scram(scram::Scram::new(scram::Hash::Sha1, creds, None)?),
            Mechanism::Ntlm => match &opts.ntlm_helper {
                Some(argv) => Inner::NtlmHelper(Box::new(ntlm_helper::Helper::new(
                    argv.clone(),
                    creds.username(),
                    opts.helper_timeout,
                )?)),
                None => Inner::Ntlm(Box::new(ntlm::Ntlm::new(creds, opts.workstation.as_deref().unwrap_or(""), None)?)),
            },
            Mechanism::Xoauth2 => Inner::Xoauth2(xoauth2::Xoauth2::new(creds)?),
            Mechanism::External => Inner::External(external::External::new(creds)?),
            Mechanism::OAuthBearer => {
                Inner::OAuthBearer(oauthbearer::OAuthBearer::new(creds, &opts.server.0, opts.server.1)?)
            }
        };
        Ok(SaslClient { mech, inner, initial_done: false })
    }

    /// A client whose random inputs (SCRAM's nonce; NTLM's client challenge, time and session
    /// key) are given, so that a fuzz target's input alone decides the exchange; the other
    /// mechanisms are as [`SaslClient::new`] makes them (no helper: built-in NTLM).
    #[cfg(feature = "fuzzing")]
    pub(crate) fn with_fixed_randoms(
        mech: Mechanism,
        creds: &Credentials,
        nonce: &str,
        ntlm: ([u8; 8], u64, [u8; 16]),
    ) -> Result<Self> {
        let inner = match mech {
            Mechanism::ScramSha256 => Inner::Scram(scram::Scram::new(scram::Hash::Sha256, creds, Some(nonce))?),
            Mechanism::ScramSha1 => Inner::Scram(scram::Scram::new(scram::Hash::Sha1, creds, Some(nonce))?),
            Mechanism::Ntlm => {
                let (client_challenge, time, random_session_key) = ntlm;
                let fixed = ntlm::Fixed { client_challenge, time, random_session_key };
                Inner::Ntlm(Box::new(ntlm::Ntlm::new(creds, "", Some(fixed))?))
            }
            _ => return Self::new(mech, creds, &AuthOptions::default()),
        };
        Ok(SaslClient { mech, inner, initial_done: false })
    }

    /// A client for tests, with the given inner state.
    #[cfg(test)]
    fn from_inner(mech: Mechanism, inner: Inner) -> Self {
        SaslClient { mech, inner, initial_done: false }
    }

    /// The mechanism.
    pub fn mechanism(&self) -> Mechanism {
        self.mech
    }

    fn sync(&mut self) -> Option<&mut dyn Exchange> {
        match &mut self.inner {
            Inner::Plain(x) => Some(x),
            Inner::Login(x) => Some(x),
            Inner::CramMd5(x) => Some(x),
            Inner::Scram(x) => Some(x),
            Inner::Ntlm(x) => Some(x.as_mut()),
            Inner::Xoauth2(x) => Some(x),
            Inner::External(x) => Some(x),
            Inner::OAuthBearer(x) => Some(x),
            Inner::NtlmHelper(_) => None,
        }
    }

    /// The data to send with `AUTH <MECH> <base64>` (SASL-IR, RFC 4954) when the mechanism
    /// speaks first (PLAIN, SCRAM's client-first message, NTLM's NEGOTIATE, XOAUTH2); `None`
    /// for LOGIN and CRAM-MD5. The bytes are secret: log them as [`REDACTED`].
    pub async fn initial_response(&mut self) -> Result<Option<Zeroizing<Vec<u8>>>> {
        if self.initial_done {
            return Err(
                Error::internal(format!("{}: initial response requested twice", self.mech)).with_stage(Stage::Auth)
            );
        }
        self.initial_done = true;
        if let Inner::NtlmHelper(h) = &mut self.inner {
            return h.initial_response().await.map(Some);
        }
        match self.sync() {
            Some(x) => x.initial_response(),
            None => Ok(None),
        }
    }

    /// Answers one `334` challenge (already base64-decoded by the caller). If the mechanism
    /// speaks first and [`initial_response`](Self::initial_response) was not sent with `AUTH`,
    /// the server's first (empty) challenge is answered with it. The bytes are secret.
    pub async fn respond(&mut self, challenge: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        if self.mech.client_first() && !self.initial_done {
            // MS-SMTPNTLM servers answer a bare `AUTH NTLM` with `334 NTLM supported`
            // (text, not base64); any first challenge is an invitation to send NEGOTIATE.
            if !challenge.is_empty() && self.mech != Mechanism::Ntlm {
                return Err(protocol_error(
                    self.mech,
                    "server sent a non-empty challenge before the client's first message",
                ));
            }
            return Ok(self.initial_response().await?.unwrap_or_else(|| Zeroizing::new(Vec::new())));
        }
        match &mut self.inner {
            Inner::NtlmHelper(h) => return h.respond(challenge).await,
            Inner::Scram(x) => return x.respond_async(challenge).await,
            _ => {}
        }
        match self.sync() {
            Some(x) => x.respond(challenge),
            None => Err(Error::internal("unreachable SASL state").with_stage(Stage::Auth)),
        }
    }

    /// Called when the server says `235`. Fails for SCRAM (`ErrorKind::AuthFailed`) unless
    /// the server's signature was received and verified.
    pub fn finish(&mut self) -> Result<()> {
        if let Inner::NtlmHelper(h) = &mut self.inner {
            h.finish();
            return Ok(());
        }
        match self.sync() {
            Some(x) => x.finish(),
            None => Ok(()),
        }
    }

    /// What the failure `err` of this client's attempt means for the login: try the next
    /// mechanism, or stop (spec §4; see [`Outcome`]).
    pub fn outcome(&self, err: &Error) -> Outcome {
        let own = match &self.inner {
            Inner::Scram(x) => x.outcome(),
            _ => None,
        };
        Outcome::of(err, own)
    }

    /// What the server said about a failure inside the exchange, for the error message: the
    /// JSON error of an XOAUTH2 `334`, or a SCRAM `e=` value.
    pub fn server_error(&self) -> Option<&str> {
        match &self.inner {
            Inner::Xoauth2(x) => x.server_error(),
            Inner::OAuthBearer(x) => x.server_error(),
            Inner::Scram(x) => x.server_error(),
            Inner::NtlmHelper(h) => h.server_error(),
            _ => None,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test that cannot unwrap has failed
mod tests;
