//! The connection sequence Test and Send share: the session's opening (resolve, connect, TLS,
//! greeting, EHLO, STARTTLS, EHLO) observed stage by stage, then authentication (§4), with
//! what the connection learnt kept for the report and for hints.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use zeroize::Zeroizing;

use crate::auth::{self, AuthOptions, Credentials, Mechanism, Outcome, SaslClient};
use crate::error::{Error, Reply, Result, Stage};
use crate::hints::{self, hint_for};
use crate::report::{AuthAttempt, AuthReport, ServerInfo, StageReport, TlsReport};
use crate::resolve::{AuthSettings, Identity, Settings};
use crate::session::{OpenObserver, SaslStep, Session, TlsInfo, TraceSink};

/// What a connection showed as it opened: the stages (Test reports them), the server, TLS,
/// authentication, warnings, and what hints need to know.
#[derive(Default)]
pub(crate) struct Progress {
    pub stages: Vec<StageReport>,
    pub server: Option<ServerInfo>,
    pub tls: Option<TlsReport>,
    pub auth: Option<AuthReport>,
    pub warnings: Vec<String>,
    known: Known,
}

impl OpenObserver for Progress {
    fn stage(&mut self, stage: Stage, ok: bool, elapsed: Duration) {
        self.stages.push(StageReport { stage, ok, ms: elapsed.as_secs_f64() * 1000.0 });
    }

    fn tls(&mut self, info: Option<&TlsInfo>) {
        self.tls = info.cloned();
    }

    fn ehlo(&mut self, s: &Session) {
        self.known.update(s);
        if let Some(ext) = s.extensions() {
            self.server = Some(ServerInfo {
                banner: s.greeting().map(|g| g.text.clone()).unwrap_or_default(),
                extensions: ext.lines.clone(),
                size_limit: ext.size.filter(|n| *n > 0),
                auth_mechanisms: ext.auth.clone(),
            });
        }
    }

    fn stayed_plain(&mut self, refused: Option<&Reply>) {
        self.warnings.push(match refused {
            None => "the server does not offer STARTTLS: the session is not encrypted (opportunistic TLS)".to_owned(),
            Some(reply) => {
                format!("the server offered STARTTLS but refused it ({reply}); the session went on in plain text")
            }
        });
    }
}

impl Progress {
    /// Times one stage into the report.
    pub(crate) async fn timed<T>(&mut self, stage: Stage, fut: impl Future<Output = Result<T>>) -> Result<T> {
        let start = std::time::Instant::now();
        let r = fut.await;
        self.stage(stage, r.is_ok(), start.elapsed());
        r
    }

    /// `err` with the hint for it, given what the connection knew.
    pub(crate) fn hinted(&self, err: Error, settings: &Settings) -> Error {
        self.known.hinted(err, settings)
    }
}

/// Opens a session as the settings say and authenticates when they require it, telling
/// `progress` about every stage.
pub(crate) async fn open(
    settings: &Settings,
    trace: Option<TraceSink>,
    ntlm_helper: Option<&Vec<String>>,
    progress: &mut Progress,
) -> Result<Session> {
    let mut s = Session::open_observed(settings.session_config(trace), progress).await?;
    if let Some(t) = &progress.tls {
        if !t.verified {
            progress.warnings.push(format!(
                "the server's certificate is not verified: {}",
                t.verify_error.as_deref().unwrap_or("verification is off")
            ));
        }
    }
    if let Some(auth) = &settings.auth {
        let mut a = AuthReport::default();
        let r = progress.timed(Stage::Auth, authenticate(&mut s, auth, ntlm_helper, &mut a)).await;
        progress.auth = Some(a);
        r?;
    }
    Ok(s)
}

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

/// What the connection knew, for hints.
#[derive(Default)]
struct Known {
    offered_auth: Option<Vec<String>>,
    tls_active: bool,
    starttls_offered: bool,
}

impl Known {
    fn update(&mut self, s: &Session) {
        self.tls_active = s.is_tls();
        if let Some(e) = s.extensions() {
            self.offered_auth = Some(e.auth.clone());
            self.starttls_offered |= e.starttls;
        }
    }

    /// `err` with the hint `hints.rs` writes for it, where there is one.
    fn hinted(&self, err: Error, settings: &Settings) -> Error {
        let cx = hints::Context {
            offered_auth: self.offered_auth.as_deref(),
            tls_active: self.tls_active,
            starttls_offered: self.starttls_offered,
        };
        match hint_for(&err, settings, cx) {
            Some(h) => err.with_hint(h),
            None => err,
        }
    }
}

/// Runs the authentication of §4 on an open session: negotiation, then each mechanism in order
/// until one succeeds; every attempt is recorded. Only a mechanism the server refuses without
/// judging the credentials (504, 534, 538, 454 and the like) or one the client cannot run here
/// moves on to the next; a 535 ends authentication with that attempt, and so does a server that
/// fails its SCRAM proof (nothing else is tried, least of all a mechanism that sends the
/// password). [`SaslClient::outcome`] makes that call.
async fn authenticate(
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
        Identity::NtlmCurrentUser => (
            Credentials::new(String::new(), Zeroizing::new(String::new())),
            AuthOptions {
                ntlm_helper: Some(helper.cloned().unwrap_or_else(auth::ntlm_helper_default_argv)),
                ..AuthOptions::default()
            },
        ),
    };
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
        let e = match client.server_error() {
            Some(detail) if !e.message().contains(detail) => {
                let msg = format!("{} ({detail})", e.detail());
                e.with_detail(msg)
            }
            _ => e,
        };
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
