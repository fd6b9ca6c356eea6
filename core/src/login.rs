//! Authentication (§4) on an open session: negotiation, then each mechanism in order, with the
//! rule that decides after each attempt whether another is tried.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use zeroize::Zeroizing;

use crate::auth::{self, AuthOptions, Credentials, Mechanism, Outcome, SaslClient};
use crate::error::{Error, Reply, Result};
use crate::report::{AuthAttempt, AuthReport};
use crate::resolve::{AuthSettings, Identity};
use crate::session::{SaslStep, Session};
use crate::token::{self, SharedTokenProvider, TokenReason};

/// [`SaslClient`] as the session's [`SaslStep`].
struct Step<'a>(&'a mut SaslClient);

impl SaslStep for Step<'_> {
    async fn initial_response(&mut self) -> Result<Option<Zeroizing<Vec<u8>>>> {
        // Mechanisms the server speaks first (LOGIN, CRAM-MD5) have no initial response; the
        // client-first ones send theirs with AUTH (RFC 4954 SASL-IR).
        if self.0.mechanism().client_first() { self.0.initial_response().await } else { Ok(None) }
    }

    async fn respond(&mut self, challenge: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        self.0.respond(challenge).await
    }
}

/// Runs the authentication of §4 on an open session: negotiation, then each mechanism in order
/// until one succeeds; every attempt is recorded. Only a mechanism the server refuses without
/// judging the credentials (504, 534, 538, 454 and the like) or one the client cannot run here
/// moves on to the next; a 535 ends authentication with that attempt, and so does a server that
/// fails its SCRAM proof (nothing else is tried, least of all a mechanism that sends the
/// password). [`SaslClient::outcome`] makes that call.
///
/// With a token provider (`tokens`) and a profile that wants tokens ([`wants_tokens`]), only
/// OAUTHBEARER and XOAUTH2 are considered (those of the allow-list, or both), the token comes from the provider instead of the password, and a token
/// the server rejects (535) is replaced once: the provider is asked again with
/// [`TokenReason::Refresh`] and the same mechanism runs once more on this connection. When the
/// server closed the connection with its rejection (the retry meets a closed connection or a
/// 421), the fresh token is left in `carried` and the error returned: the caller opens a new
/// connection and calls again, and a `carried` token is used as it is (no provider call, no
/// further refresh).
pub(crate) async fn authenticate(
    session: &mut Session,
    auth: &AuthSettings,
    helper: Option<&Vec<String>>,
    tokens: Option<&SharedTokenProvider>,
    carried: &mut Option<Zeroizing<String>>,
    report: &mut AuthReport,
) -> Result<()> {
    let offered = session.extensions().map(|e| e.auth.clone()).unwrap_or_default();
    let server = (session.config().host.clone(), session.config().port);
    let tokens = tokens.filter(|_| wants_tokens(auth));
    let (mut creds, mut opts) = match &auth.identity {
        Identity::Password { username, password, .. } => {
            (Credentials::new(username.clone(), Zeroizing::new(password.expose().to_owned())), AuthOptions::default())
        }
        Identity::Certificate { authzid } => {
            (Credentials::new(authzid.clone(), Zeroizing::new(String::new())), AuthOptions::default())
        }
        Identity::NtlmCurrentUser => (
            Credentials::new(String::new(), Zeroizing::new(String::new())),
            AuthOptions {
                ntlm_helper: Some(helper.cloned().unwrap_or_else(auth::ntlm_helper_default_argv)),
                ..AuthOptions::default()
            },
        ),
    };
    opts.server = server;
    if !creds.secret().is_empty() {
        session.keep_secret(creds.secret());
    }
    // A token provider's token is only for the token mechanisms.
    let token_allowed: Option<Vec<Mechanism>> = tokens.map(|_| match &auth.allowed {
        None => Mechanism::TOKEN.to_vec(),
        Some(list) => list.iter().copied().filter(|m| m.takes_token()).collect(),
    });
    let negotiation = auth::negotiate(
        &offered,
        token_allowed.as_deref().or(auth.allowed.as_deref()),
        auth.as_listed,
        session.is_tls(),
        auth.allow_plaintext_password,
        creds.username(),
    );
    let mut refreshed = false;
    if let (Some(p), Some(_)) = (tokens, negotiation.to_try.first()) {
        let token = match carried.take() {
            Some(t) => {
                // The fresh token of the connection the server closed.
                refreshed = true;
                session.keep_secret(&t);
                t
            }
            None => fetch_token(session, p, &creds, TokenReason::Initial).await?,
        };
        creds = Credentials::new(creds.username().to_owned(), token);
    }
    let mut on_retry = false;
    let mut last: Option<Error> = None;
    let mut queue: std::collections::VecDeque<Mechanism> = negotiation.to_try.iter().copied().collect();
    while let Some(mech) = queue.pop_front() {
        let name = mech.name().to_owned();
        let retrying = std::mem::take(&mut on_retry);
        match attempt(session, mech, &creds, &opts).await {
            Ok(reply) => {
                report.attempts.push(AuthAttempt {
                    mechanism: name.clone(),
                    ok: true,
                    code: Some(reply.code),
                    message: None,
                });
                report.mechanism = Some(name);
                return Ok(());
            }
            Err((e, outcome)) => {
                report.attempts.push(AuthAttempt {
                    mechanism: name,
                    ok: false,
                    code: e.code(),
                    message: Some(e.message().into_owned()),
                });
                let rejected = outcome == Outcome::CredentialsRejected;
                if retrying && (e.kind() == crate::ErrorKind::Io || e.code() == Some(421)) {
                    // The server closed the connection with its rejection of the first token:
                    // the fresh one goes to a new connection (the caller's).
                    *carried = Some(Zeroizing::new(creds.secret().to_owned()));
                }
                last = Some(e);
                if let Some(p) = tokens.filter(|_| rejected && !refreshed && mech.takes_token()) {
                    // The token was rejected (expired, revoked): ask once for a fresh one and
                    // run the same mechanism again on this connection.
                    refreshed = true;
                    let fresh = fetch_token(session, p, &creds, TokenReason::Refresh).await?;
                    creds = Credentials::new(creds.username().to_owned(), fresh);
                    queue.push_front(mech);
                    on_retry = true;
                    continue;
                }
                if !outcome.goes_on() {
                    break;
                }
            }
        }
    }
    Err(match last {
        // A bearer token the server judged: say so, not "user name or password".
        Some(e)
            if e.code() == Some(535) && report.attempts.last().is_some_and(|a| is_token_mechanism(&a.mechanism)) =>
        {
            e.with_cause(crate::error::Cause::TokenRejected)
        }
        Some(e) => e,
        None => negotiation.unsupported_error(),
    })
}

/// Whether a token provider serves this login: the profile asks for tokens (its allow-list
/// names OAUTHBEARER or XOAUTH2), or it has no password to offer. A password profile beside a
/// provider (C's process-wide token callback, or a provider a host gives to every call) logs
/// in with its password as before.
pub(crate) fn wants_tokens(auth: &AuthSettings) -> bool {
    match &auth.identity {
        Identity::Password { password, .. } => match &auth.allowed {
            Some(list) => list.iter().any(|m| m.takes_token()),
            None => password.expose().is_empty(),
        },
        Identity::Certificate { .. } | Identity::NtlmCurrentUser => false,
    }
}

fn is_token_mechanism(name: &str) -> bool {
    Mechanism::from_name(name).is_some_and(Mechanism::takes_token)
}

/// A token from the host's provider for `creds`' user, bounded by the session's timeout and
/// registered as a secret of the session; a failure's message is cleaned of every secret the
/// session knows (the previous token included).
async fn fetch_token(
    session: &mut Session,
    provider: &SharedTokenProvider,
    creds: &Credentials,
    reason: TokenReason,
) -> Result<Zeroizing<String>> {
    let timeout = session.config().timeout;
    match token::ask(provider, creds.username(), reason, timeout).await {
        Ok(t) => {
            session.keep_secret(t.expose());
            Ok(Zeroizing::new(t.expose().to_owned()))
        }
        Err(e) => {
            let detail = session.scrub(e.detail()).into_owned();
            Err(e.with_detail(detail))
        }
    }
}

/// One mechanism's exchange: the server's 235, or the failure with what it means for the login
/// (a failure to prepare the credentials is the client not being able to run the mechanism).
async fn attempt(
    session: &mut Session,
    mech: Mechanism,
    creds: &Credentials,
    opts: &AuthOptions,
) -> std::result::Result<Reply, (Error, Outcome)> {
    let mut client = SaslClient::new(mech, creds, opts).map_err(|e| {
        let outcome = Outcome::of(&e, None);
        (e, outcome)
    })?;
    let result = match session.auth(mech.name(), &mut Step(&mut client)).await {
        Ok(reply) => finish(&mut client, &reply).await,
        Err(e) => Err(e),
    };
    result.map_err(|e| {
        let outcome = client.outcome(&e);
        // The mechanism's details come from decoded challenges: server text like any other.
        let detail = match client.server_error() {
            Some(detail) if !e.message().contains(detail) => format!("{} ({detail})", e.detail()),
            _ => e.detail().to_owned(),
        };
        let e = e.with_detail(session.scrub(&detail).into_owned());
        (e, outcome)
    })
}

/// After 235: SCRAM must have verified the server's signature. Some servers send the SCRAM
/// server-final message as the 235's text (RFC 4954 §4 "additional data with success"); fed to
/// the client, it completes the verification or shows the signature wrong.
async fn finish(client: &mut SaslClient, reply: &Reply) -> Result<Reply> {
    if client.finish().is_err() {
        if let Some(extra) = B64.decode(reply.text.trim()).ok().filter(|b| !b.is_empty()) {
            // Its failure is the client's state, which `finish` reports below.
            let _ = client.respond(&extra).await;
        }
        client.finish()?;
    }
    Ok(reply.clone())
}
