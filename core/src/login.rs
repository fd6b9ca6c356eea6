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
pub(crate) async fn authenticate(
    session: &mut Session,
    auth: &AuthSettings,
    helper: Option<&Vec<String>>,
    report: &mut AuthReport,
) -> Result<()> {
    let offered = session.extensions().map(|e| e.auth.clone()).unwrap_or_default();
    let (creds, opts) = match &auth.identity {
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
    if !creds.secret().is_empty() {
        session.keep_secret(creds.secret());
    }
    let negotiation = auth::negotiate(
        &offered,
        auth.allowed.as_deref(),
        auth.as_listed,
        session.is_tls(),
        auth.allow_plaintext_password,
        creds.username(),
    );
    let mut last: Option<Error> = None;
    for mech in &negotiation.to_try {
        let name = mech.name().to_owned();
        match attempt(session, *mech, &creds, &opts).await {
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
                last = Some(e);
                if !outcome.goes_on() {
                    break;
                }
            }
        }
    }
    Err(last.unwrap_or_else(|| negotiation.unsupported_error()))
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
