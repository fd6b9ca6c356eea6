//! The connection sequence Test and Send share: the session's opening (resolve, connect, TLS,
//! greeting, EHLO, STARTTLS, EHLO) observed stage by stage, then authentication
//! ([`crate::login`]), with what the connection learnt kept for the report and for hints.

use std::time::Duration;

use crate::error::{Error, Reply, Result, Stage};
use crate::hints::{self, hint_for};
use crate::login;
use crate::report::{AuthReport, ServerInfo, StageReport, TlsReport};
use crate::resolve::Settings;
use crate::session::{OpenObserver, Session, TlsInfo, TraceSink};

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
    tokens: Option<&crate::token::SharedTokenProvider>,
    progress: &mut Progress,
) -> Result<Session> {
    let mut s = Session::open_observed(settings.session_config(trace.clone()), progress).await?;
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
        let mut carried = None;
        let mut r = progress
            .timed(Stage::Auth, login::authenticate(&mut s, auth, ntlm_helper, tokens, &mut carried, &mut a))
            .await;
        if r.is_err() && carried.is_some() {
            // The server closed the connection with its rejection of the token: the fresh token
            // logs in on a new connection (its stages are reported again).
            s = Session::open_observed(settings.session_config(trace), progress).await?;
            r = progress
                .timed(Stage::Auth, login::authenticate(&mut s, auth, ntlm_helper, tokens, &mut carried, &mut a))
                .await;
        }
        progress.auth = Some(a);
        r?;
    }
    Ok(s)
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
