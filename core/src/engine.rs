//! Test and Send: the profile's settings driven through the session layer (§5, §6).
//!
//! Both resolve the profile first (decrypting the password and expanding tags at this moment
//! only), and Send prepares the message before it connects, so that bad input fails before a
//! byte goes out. Test puts every server-side failure in its [`TestReport`]; only invalid
//! input makes it return `Err`. Send returns `Err` for any failure, with the stage and reply.

use std::time::Instant;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::Value;
use zeroize::Zeroizing;

use crate::auth::{self, AuthOptions, Credentials, Mechanism, Outcome, SaslClient};
use crate::error::{Error, ErrorKind, Reply, Result, Stage};
use crate::hints::{self, hint_for};
use crate::message::Message;
use crate::profile::{AuthOrder, Profile};
use crate::report::{
    AuthAttempt, AuthReport, Rejection, RelayCheck, SendResult, ServerInfo, StageReport, TestReport, TlsReport,
};
use crate::resolve::{AuthSettings, Identity, Settings, TlsPolicy};
use crate::rrt::RrtContext;
use crate::secret::Keyring;
use crate::session::{self, MailParams, SaslStep, Session, SessionConfig, TlsInfo, TlsUpgrade, TraceSink};

/// The optional relay check of a Test: MAIL FROM `from`, RCPT TO `to`, then RSET. Nothing is
/// sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayCheckRequest {
    /// The sender to try.
    pub from: String,
    /// The recipient to try.
    pub to: String,
}

/// Options of a Test.
#[derive(Debug, Clone, Default)]
pub struct TestOptions {
    /// Check that the server would relay from `from` to `to` (MAIL FROM/RCPT TO, then RSET).
    pub relay_check: Option<RelayCheckRequest>,
    /// Where the protocol trace goes (AUTH payloads are always redacted).
    pub trace: Option<TraceSink>,
    /// The current-user NTLM helper's argv (default: Samba's `ntlm_auth`).
    pub ntlm_helper: Option<Vec<String>>,
}

/// Options of a Send.
#[derive(Debug, Clone, Default)]
pub struct SendOptions {
    /// Where the protocol trace goes (AUTH payloads are always redacted).
    pub trace: Option<TraceSink>,
    /// The current-user NTLM helper's argv (default: Samba's `ntlm_auth`).
    pub ntlm_helper: Option<Vec<String>>,
}

fn opt_err(path: &str, reason: impl std::fmt::Display) -> Error {
    Error::config(&format!("options.{path}"), reason)
}

fn helper_from_json(v: Option<&Value>) -> Result<Option<Vec<String>>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|i| i.as_str().map(str::to_owned).ok_or_else(|| opt_err("ntlm_helper", "must be a list of strings")))
            .collect::<Result<Vec<_>>>()
            .map(Some),
        Some(_) => Err(opt_err("ntlm_helper", "must be a non-empty list of strings (the command and its arguments)")),
    }
}

/// The options object (`None` for `null`), with every key checked against `known`.
fn options_object<'v>(v: &'v Value, known: &[&str]) -> Result<Option<&'v serde_json::Map<String, Value>>> {
    match v {
        Value::Null => Ok(None),
        Value::Object(o) => check_keys(o, known).map(|()| Some(o)),
        _ => Err(Error::config("options", "expected an object")),
    }
}

fn check_keys(obj: &serde_json::Map<String, Value>, known: &[&str]) -> Result<()> {
    for k in obj.keys() {
        if !known.contains(&k.as_str()) {
            return Err(opt_err(k, format!("unknown option (known: {})", known.join(", "))));
        }
    }
    Ok(())
}

impl TestOptions {
    /// Options from their JSON form: `{"relay_check": {"from": "...", "to": "..."},
    /// "ntlm_helper": ["ntlm_auth", "..."]}`; `null` gives the defaults.
    pub fn from_json_value(v: &Value) -> Result<TestOptions> {
        let Some(obj) = options_object(v, &["relay_check", "ntlm_helper"])? else {
            return Ok(TestOptions::default());
        };
        let relay_check = match obj.get("relay_check") {
            None | Some(Value::Null) => None,
            Some(Value::Object(r)) => {
                check_keys(r, &["from", "to"]).map_err(|_| opt_err("relay_check", "takes only `from` and `to`"))?;
                let field = |k: &str| -> Result<String> {
                    match r.get(k) {
                        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
                        _ => Err(opt_err(&format!("relay_check.{k}"), "is required (an address)")),
                    }
                };
                Some(RelayCheckRequest { from: field("from")?, to: field("to")? })
            }
            Some(_) => return Err(opt_err("relay_check", "expected an object with `from` and `to`")),
        };
        Ok(TestOptions { relay_check, trace: None, ntlm_helper: helper_from_json(obj.get("ntlm_helper"))? })
    }
}

impl SendOptions {
    /// Options from their JSON form: `{"ntlm_helper": [...]}`; `null` gives the defaults.
    pub fn from_json_value(v: &Value) -> Result<SendOptions> {
        let Some(obj) = options_object(v, &["ntlm_helper"])? else { return Ok(SendOptions::default()) };
        Ok(SendOptions { trace: None, ntlm_helper: helper_from_json(obj.get("ntlm_helper"))? })
    }
}

/// The session layer's view of the effective settings.
fn session_config(s: &Settings, trace: Option<TraceSink>) -> SessionConfig {
    let tls_mode = match s.tls {
        TlsPolicy::Implicit => session::TlsMode::Implicit,
        TlsPolicy::StarttlsRequired => session::TlsMode::StartTlsRequired,
        TlsPolicy::StarttlsOpportunistic => session::TlsMode::StartTlsOpportunistic,
        TlsPolicy::Plain => session::TlsMode::Plain,
    };
    let ca = s.ca_pem.iter().fold(Vec::new(), |mut acc, pem| {
        acc.extend_from_slice(pem);
        acc.push(b'\n');
        acc
    });
    SessionConfig {
        host: s.host.to_string(),
        port: s.port,
        tls_mode,
        tls_verify: s.tls_verify,
        tls_ca_pem: if ca.is_empty() { None } else { Some(ca) },
        tls_ca_file: None,
        helo_name: s.helo_name.clone(),
        timeout: s.timeout,
        trace,
    }
}

fn tls_report(t: &TlsInfo) -> TlsReport {
    TlsReport {
        version: t.version.clone(),
        cipher: t.cipher.clone(),
        subject: t.subject.clone(),
        issuer: t.issuer.clone(),
        not_after: t.not_after.clone(),
        verified: t.verified,
        verify_error: t.verify_error.clone(),
    }
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

    /// `err` with the profile-aware hint, where there is one.
    fn hinted(&self, err: Error, settings: &Settings) -> Error {
        let cx = hints::Context {
            offered_auth: self.offered_auth.as_deref(),
            tls_active: self.tls_active,
            starttls_offered: self.starttls_offered,
        };
        match hint_for(&err, settings, cx) {
            Some(h) if err.hint().is_none() || !matches!(err.kind(), ErrorKind::AuthUnsupported) => err.with_hint(h),
            _ => err,
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
    let allow: Vec<Mechanism> = auth.mechanisms.iter().filter_map(|m| Mechanism::from_name(m)).collect();
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
        Some(&allow),
        auth.order == AuthOrder::AsListed,
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
                    message: Some(e.full_message()),
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
                let msg = format!("{} ({detail})", e.message());
                e.with_message(msg)
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

/// Times one stage into `stages`.
async fn timed<T>(stages: &mut Vec<StageReport>, stage: Stage, fut: impl Future<Output = Result<T>>) -> Result<T> {
    let t = Instant::now();
    let r = fut.await;
    stages.push(StageReport { stage, ok: r.is_ok(), ms: t.elapsed().as_secs_f64() * 1000.0 });
    r
}

fn server_info(s: &Session) -> Option<ServerInfo> {
    let ext = s.extensions()?;
    Some(ServerInfo {
        banner: s.greeting().map(|g| g.text.clone()).unwrap_or_default(),
        extensions: ext.lines.clone(),
        size_limit: ext.size.filter(|n| *n > 0),
        auth_mechanisms: ext.auth.clone(),
    })
}

/// Test (§5): the staged probe. Invalid input is `Err`; anything the server does is in the
/// report.
pub async fn test_async(
    profile: &Profile,
    keyring: &Keyring,
    ctx: &RrtContext,
    options: &TestOptions,
) -> Result<TestReport> {
    let settings = profile.resolve(keyring, ctx)?;
    if let Some(r) = &options.relay_check {
        for (k, v) in [("from", &r.from), ("to", &r.to)] {
            if v.contains(['\r', '\n', '\0', '<', '>']) {
                return Err(opt_err(&format!("relay_check.{k}"), "contains a control character or angle bracket"));
            }
        }
    }
    let mut report = TestReport::default();
    let mut known = Known::default();
    let result = probe(&settings, options, &mut report, &mut known).await;
    if let Err(e) = result {
        report.error = Some(known.hinted(e, &settings));
        report.ok = false;
    } else {
        report.ok = report.relay.as_ref().is_none_or(|r| r.ok);
    }
    Ok(report)
}

async fn probe(settings: &Settings, options: &TestOptions, report: &mut TestReport, known: &mut Known) -> Result<()> {
    let cfg = session_config(settings, options.trace.clone());
    let stages = &mut report.stages;
    let addrs = timed(stages, Stage::Dns, Session::resolve(&cfg)).await?;
    let mut s = timed(stages, Stage::Connect, Session::connect(cfg, &addrs)).await?;
    if settings.tls == TlsPolicy::Implicit {
        let r = timed(stages, Stage::Tls, s.tls_handshake()).await.map(|_| ());
        report.tls = s.tls_info().map(tls_report);
        r?;
    }
    timed(stages, Stage::Greeting, s.read_greeting()).await?;
    let r = timed(stages, Stage::Ehlo, s.ehlo()).await.map(|_| ());
    known.update(&s);
    report.server = server_info(&s);
    r?;
    if !s.is_tls() && settings.tls != TlsPolicy::Plain {
        let offered = s.extensions().is_some_and(|e| e.starttls);
        if settings.tls == TlsPolicy::StarttlsRequired || offered {
            let upgrade = timed(stages, Stage::Tls, s.negotiate_tls()).await;
            report.tls = s.tls_info().map(tls_report);
            match upgrade? {
                TlsUpgrade::Upgraded => {
                    let r = timed(stages, Stage::Ehlo, s.ehlo()).await.map(|_| ());
                    known.update(&s);
                    report.server = server_info(&s);
                    r?;
                }
                TlsUpgrade::Refused(reply) => {
                    report.warnings.push(format!(
                        "the server offered STARTTLS but refused it ({reply}); the session went on in plain text"
                    ));
                }
                TlsUpgrade::AlreadyTls | TlsUpgrade::NotWanted | TlsUpgrade::NotOffered => {}
            }
        } else {
            report.warnings.push(
                "the server does not offer STARTTLS: the session is not encrypted (opportunistic TLS)".to_owned(),
            );
        }
    }
    if let Some(t) = &report.tls {
        if !t.verified {
            report.warnings.push(format!(
                "the server's certificate is not verified: {}",
                t.verify_error.as_deref().unwrap_or("verification is off")
            ));
        }
    }
    if let Some(auth) = &settings.auth {
        let mut a = AuthReport::default();
        let r = timed(stages, Stage::Auth, authenticate(&mut s, auth, options.ntlm_helper.as_ref(), &mut a)).await;
        report.auth = Some(a);
        r?;
    }
    if let Some(rc) = &options.relay_check {
        report.relay = Some(relay_check(&mut s, rc, stages).await?);
    }
    let _ = timed(stages, Stage::Quit, s.quit()).await;
    Ok(())
}

async fn relay_check(s: &mut Session, rc: &RelayCheckRequest, stages: &mut Vec<StageReport>) -> Result<RelayCheck> {
    let from = rc.from.trim();
    let to = rc.to.trim();
    let mail = timed(stages, Stage::MailFrom, s.command(&format!("MAIL FROM:<{from}>"))).await?;
    let mut check = RelayCheck { from: from.to_owned(), to: to.to_owned(), ok: false, reply: mail.to_string() };
    if mail.is_positive() {
        let rcpt = timed(stages, Stage::RcptTo, s.command(&format!("RCPT TO:<{to}>"))).await?;
        check.ok = rcpt.is_positive();
        check.reply = rcpt.to_string();
        if let Some(st) = stages.last_mut() {
            st.ok = check.ok;
        }
    } else if let Some(st) = stages.last_mut() {
        st.ok = false;
    }
    timed(stages, Stage::Rset, s.rset()).await?;
    Ok(check)
}

/// Send (§6): prepares the message (expanding tags with `ctx` when it asks for that), opens a
/// session as the profile says, authenticates, and sends. Fails with the stage and reply; a
/// partial rejection is in the result, no accepted recipient is `recipient_rejected`.
pub async fn send_async(
    profile: &Profile,
    keyring: &Keyring,
    ctx: &RrtContext,
    message: &Message,
    options: &SendOptions,
) -> Result<SendResult> {
    let settings = profile.resolve(keyring, ctx)?;
    let prepared = message.prepare(ctx)?;
    let mut known = Known::default();
    let result = deliver(&settings, options, &prepared, &mut known).await;
    result.map_err(|e| known.hinted(e, &settings))
}

async fn deliver(
    settings: &Settings,
    options: &SendOptions,
    prepared: &crate::message::Prepared,
    known: &mut Known,
) -> Result<SendResult> {
    let cfg = session_config(settings, options.trace.clone());
    let addrs = Session::resolve(&cfg).await?;
    let mut s = Session::connect(cfg, &addrs).await?;
    if settings.tls == TlsPolicy::Implicit {
        s.tls_handshake().await?;
    }
    s.read_greeting().await?;
    s.ehlo().await?;
    known.update(&s);
    if s.negotiate_tls().await? == TlsUpgrade::Upgraded {
        s.ehlo().await?;
        known.update(&s);
    }
    if let Some(auth) = &settings.auth {
        let mut a = AuthReport::default();
        authenticate(&mut s, auth, options.ntlm_helper.as_ref(), &mut a).await?;
    }
    let params = MailParams { smtputf8: prepared.needs_smtputf8, eight_bit_mime: prepared.eight_bit };
    let out = s.send_mail(&prepared.envelope_from, &prepared.recipients, &prepared.bytes, params).await?;
    let _ = s.quit().await;
    Ok(SendResult {
        accepted: out.accepted().map(|r| r.address.clone()).collect(),
        rejected: out.rejected().map(|r| Rejection { address: r.address.clone(), reply: r.reply.clone() }).collect(),
        message_id: prepared.message_id.clone(),
        reply: out.data,
    })
}

/// [`test_async`], blocking the calling thread (not from inside an async runtime).
pub fn test(profile: &Profile, keyring: &Keyring, ctx: &RrtContext, options: &TestOptions) -> Result<TestReport> {
    crate::runtime::block_on(test_async(profile, keyring, ctx, options))?
}

/// [`send_async`], blocking the calling thread (not from inside an async runtime).
pub fn send(
    profile: &Profile,
    keyring: &Keyring,
    ctx: &RrtContext,
    message: &Message,
    options: &SendOptions,
) -> Result<SendResult> {
    crate::runtime::block_on(send_async(profile, keyring, ctx, message, options))?
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn options_from_json_name_the_field_at_fault() {
        let o = TestOptions::from_json_value(&json!({"relay_check": {"from": "a@x.test", "to": "b@x.test"}})).unwrap();
        assert_eq!(o.relay_check.unwrap().to, "b@x.test");
        assert!(TestOptions::from_json_value(&Value::Null).unwrap().relay_check.is_none());
        let e = TestOptions::from_json_value(&json!({"relay": true})).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(e.message().starts_with("options.relay: unknown option"), "{e}");
        let e = TestOptions::from_json_value(&json!({"relay_check": {"from": "a@x.test"}})).unwrap_err();
        assert!(e.message().starts_with("options.relay_check.to: is required"), "{e}");
        let e = SendOptions::from_json_value(&json!({"ntlm_helper": "ntlm_auth"})).unwrap_err();
        assert!(e.message().starts_with("options.ntlm_helper:"), "{e}");
        let e = SendOptions::from_json_value(&json!([1])).unwrap_err();
        assert!(e.message().starts_with("options: expected an object"), "{e}");
    }

    #[test]
    fn a_relay_check_address_with_crlf_is_refused_before_connecting() {
        // Port 9 on a documentation address: connecting would fail differently (and slowly).
        let p = Profile::from_json(r#"{"server": "192.0.2.1", "port": 9, "timeout_secs": 1}"#).unwrap();
        let o = TestOptions {
            relay_check: Some(RelayCheckRequest { from: "a@x.test".into(), to: "b@x.test\r\nRCPT TO:<c@y>".into() }),
            ..TestOptions::default()
        };
        let e = test(&p, &Keyring::new(), &RrtContext::new(), &o).unwrap_err();
        assert!(e.message().starts_with("options.relay_check.to:"), "{e}");
    }
}
