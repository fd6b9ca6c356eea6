//! The SMTP client session: our own async protocol engine over tokio and tokio-rustls.
//!
//! Every stage is its own method so that Test can time each one and Send can run them back to
//! back ([`Session::open`] does the usual sequence). Every stage is bounded by
//! [`SessionConfig::timeout`]; a stage that does not finish in time is
//! [`ErrorKind::Timeout`] naming the stage.
//!
//! ```no_run
//! # async fn demo() -> relaykit::Result<()> {
//! use relaykit::session::{MailParams, Session, SessionConfig, TlsMode};
//! let cfg = SessionConfig::new("mail.example.com", 587, TlsMode::StartTlsRequired);
//! let addrs = Session::resolve(&cfg).await?;
//! let mut s = Session::connect(cfg, &addrs).await?;
//! s.read_greeting().await?;
//! s.ehlo().await?;
//! s.negotiate_tls().await?;
//! s.ehlo().await?;
//! let rcpts = ["b@example.org".to_owned()];
//! let out = s.send_mail("a@example.com", &rcpts, b"Subject: hi\r\n\r\nhello\r\n", MailParams::default()).await?;
//! println!("{}", out.data);
//! s.quit().await.ok();
//! # Ok(()) }
//! ```
//!
//! Why not lettre's transport: it authenticates only with PLAIN/LOGIN/XOAUTH2, parses few EHLO
//! keywords, never pipelines, and writes the final `.` in a separate write on a socket without
//! TCP_NODELAY, so Nagle's algorithm delays every message by about 40 ms.

mod auth;
pub mod data;
pub mod ehlo;
mod io;
mod mail;
pub mod reply;
pub mod tls;
pub mod trace;

use rustls_pki_types::CertificateDer;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use zeroize::Zeroize;

use crate::proxy::{Proxy, ProxyScheme};

pub use self::auth::SaslStep;
pub use self::ehlo::Extensions;
pub(crate) use self::mail::Feed;
pub use self::mail::{DEFAULT_STREAM_WINDOW, MAX_STREAM_WINDOW, Mail, MailOutcome, MailParams, RecipientReply};
pub use self::tls::TlsInfo;
pub use self::tls::{ClientCertificate, PemSource};
pub use self::trace::{Direction, TraceEvent, TraceSink};

use self::io::{Stream, Transport};
use self::tls::{Trust, Verification};
use self::trace::{Mode, Tracer};
use crate::error::{Cause, Error, ErrorKind, Reply, Result, Stage};
use crate::secret::Secrets;

/// How the session uses TLS (decided from the profile by [`crate::Profile::resolve`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::IntoStaticStr)]
pub enum TlsMode {
    /// TLS from the first byte (port 465), certificate verified unless `tls_verify` is off.
    #[strum(serialize = "implicit")]
    Implicit,
    /// STARTTLS, and fail if the server does not offer it; certificate verified unless
    /// `tls_verify` is off.
    #[strum(serialize = "starttls")]
    StartTlsRequired,
    /// STARTTLS when offered (RFC 7435): an unverifiable certificate is accepted and reported;
    /// no STARTTLS, or a refused one, continues in plain text.
    #[strum(serialize = "opportunistic")]
    StartTlsOpportunistic,
    /// Never TLS.
    #[strum(serialize = "plain")]
    Plain,
}

impl TlsMode {
    /// A stable name for descriptions and reports.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Everything the session needs, as plain data; the profile layer fills it from effective
/// settings.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Host name, IPv4 address, or IPv6 address with or without brackets.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// How TLS is used.
    pub tls_mode: TlsMode,
    /// Verify the certificate chain and host name (`false`: accept any, report unverified).
    pub tls_verify: bool,
    /// Extra trust anchors (parsed by [`tls::trust_anchors`], which names the field at fault).
    pub trust_anchors: Vec<CertificateDer<'static>>,
    /// The EHLO/HELO argument; empty means this side's address literal (`[192.0.2.1]`).
    pub helo_name: String,
    /// The bound on each stage: connect, TLS, every command/reply, DATA.
    pub timeout: Duration,
    /// Where protocol trace lines go, if anywhere.
    pub trace: Option<TraceSink>,
    /// The client certificate to present when the server asks (mutual TLS).
    pub client_certificate: Option<tls::ClientCertificate>,
    /// The proxy to reach the server through (`socks5`, `socks5h` or HTTP CONNECT), if any.
    pub proxy: Option<Proxy>,
    /// A Unix domain socket to connect to instead of `host:port` (`host` then only names the
    /// server for TLS and messages).
    pub socket: Option<std::path::PathBuf>,
    /// Speak LMTP (RFC 2033): LHLO, and one reply per accepted recipient after the data.
    pub lmtp: bool,
}

impl SessionConfig {
    /// A config with verification on, no extra CAs, an empty helo_name and a 30 s timeout.
    pub fn new(host: impl Into<String>, port: u16, tls_mode: TlsMode) -> SessionConfig {
        SessionConfig {
            host: host.into(),
            port,
            tls_mode,
            tls_verify: true,
            trust_anchors: Vec::new(),
            helo_name: String::new(),
            timeout: Duration::from_secs(30),
            trace: None,
            client_certificate: None,
            proxy: None,
            socket: None,
            lmtp: false,
        }
    }

    /// The host without IPv6 brackets.
    pub fn bare_host(&self) -> &str {
        let h = self.host.trim();
        h.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(h)
    }

    /// `host:port`, with brackets around an IPv6 address; `unix:<path>` for a Unix socket.
    pub fn authority(&self) -> String {
        if let Some(path) = &self.socket {
            return format!("unix:{}", path.display());
        }
        let h = self.bare_host();
        if h.contains(':') { format!("[{h}]:{}", self.port) } else { format!("{h}:{}", self.port) }
    }
}

/// What [`Session::open_observed`] tells as it goes. Every method has an empty default, and
/// `()` observes nothing.
pub trait OpenObserver {
    /// A stage ended, well or not, after `elapsed`.
    fn stage(&mut self, stage: Stage, ok: bool, elapsed: Duration) {
        let _ = (stage, ok, elapsed);
    }
    /// A TLS handshake ended; `info` is what was negotiated, if it got that far.
    fn tls(&mut self, info: Option<&TlsInfo>) {
        let _ = info;
    }
    /// EHLO was answered (or failed): the greeting and extensions are on `session`.
    fn ehlo(&mut self, session: &Session) {
        let _ = session;
    }
    /// Opportunistic STARTTLS did not happen: not offered (`None`) or refused with `reply`.
    fn stayed_plain(&mut self, refused: Option<&Reply>) {
        let _ = refused;
    }
}

impl OpenObserver for () {}

/// Runs one stage of the opening sequence and tells `obs` how it went.
async fn observed<T>(obs: &mut impl OpenObserver, stage: Stage, fut: impl Future<Output = Result<T>>) -> Result<T> {
    let start = Instant::now();
    let r = fut.await;
    obs.stage(stage, r.is_ok(), start.elapsed());
    r
}

/// What [`Session::negotiate_tls`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsUpgrade {
    /// The session was already TLS (implicit TLS).
    AlreadyTls,
    /// STARTTLS succeeded; send EHLO again.
    Upgraded,
    /// The config says plain text.
    NotWanted,
    /// Opportunistic mode, and the server does not offer STARTTLS.
    NotOffered,
    /// Opportunistic mode, and the server refused STARTTLS with this reply; still plain text.
    Refused(Reply),
}

/// One SMTP connection. Not shareable across tasks at once (every method takes `&mut self`),
/// but `Send`, so it may move between threads.
pub struct Session {
    cfg: SessionConfig,
    stream: Stream,
    peer: Option<SocketAddr>,
    local: Option<SocketAddr>,
    rbuf: Vec<u8>,
    rpos: usize,
    wbuf: Vec<u8>,
    tracer: Tracer,
    mode: Mode,
    trust: Option<Arc<Trust>>,
    greeting: Option<Reply>,
    ext: Option<Extensions>,
    /// The most messages a CHUNKING stream writes ahead of their replies.
    stream_window: u32,
    tls: Option<TlsInfo>,
    /// What no text from the server may repeat (the password, what AUTH sent).
    secrets: Secrets,
    /// Told how much of each message's content is written (#16).
    progress: Option<crate::progress::ProgressSink>,
    /// The content of each message in `wbuf` (start, end), for `progress`.
    marks: Vec<(usize, usize)>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("server", &self.cfg.authority())
            .field("peer", &self.peer)
            .field("tls", &self.tls.as_ref().map(|t| &t.version))
            .finish_non_exhaustive()
    }
}

/// `30 s`, `1.5 s`, `500 ms`.
pub(crate) fn human(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// Writes of more than this go out in pieces, each under the stage timeout, so a large body on
/// a slow link fails only when it stops making progress.
const WRITE_PIECE: usize = 1 << 20;

impl Session {
    /// Looks up every address (IPv4 and IPv6) of the server, in the resolver's order. An IP
    /// address is used as it is.
    pub async fn resolve(cfg: &SessionConfig) -> Result<Vec<SocketAddr>> {
        let host = cfg.bare_host();
        if host.is_empty() {
            return Err(Error::config("$.server", "is empty"));
        }
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, cfg.port)]);
        }
        let lookup = tokio::net::lookup_host((host, cfg.port));
        let addrs = match tokio::time::timeout(cfg.timeout, lookup).await {
            Err(_) => {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    format!("no answer resolving {host} within {}", human(cfg.timeout)),
                )
                .with_stage(Stage::Dns));
            }
            Ok(Err(e)) => {
                return Err(Error::new(ErrorKind::Dns, format!("could not resolve {host}: {e}")).with_stage(Stage::Dns));
            }
            Ok(Ok(a)) => a,
        };
        let mut out: Vec<SocketAddr> = Vec::new();
        for a in addrs {
            if !out.contains(&a) {
                out.push(a);
            }
        }
        if out.is_empty() {
            return Err(Error::new(ErrorKind::Dns, format!("{host} has no addresses")).with_stage(Stage::Dns));
        }
        Ok(out)
    }

    /// Opens a TCP connection to the first address that answers, trying them in order; the whole
    /// stage is bounded by the timeout, shared among the addresses still to try. TCP_NODELAY is
    /// set: the session batches its own writes.
    pub async fn connect(cfg: SessionConfig, addrs: &[SocketAddr]) -> Result<Session> {
        let start = tokio::time::Instant::now();
        let deadline = start + cfg.timeout;
        let mut failures: Vec<String> = Vec::new();
        let mut timed_out = false;
        let mut all_refused = true;
        for (i, addr) in addrs.iter().enumerate() {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                timed_out = true;
                break;
            }
            let remaining = u32::try_from(addrs.len() - i).unwrap_or(u32::MAX);
            let budget = left / remaining;
            match tokio::time::timeout(budget, TcpStream::connect(addr)).await {
                Ok(Ok(tcp)) => {
                    tcp.set_nodelay(true).map_err(|e| {
                        Error::new(ErrorKind::Io, format!("setting TCP_NODELAY: {e}")).with_stage(Stage::Connect)
                    })?;
                    let local = tcp.local_addr().ok();
                    return Ok(Session::new(cfg, Stream::Plain(Transport::Tcp(tcp)), Some(*addr), local));
                }
                Ok(Err(e)) => {
                    all_refused &= e.kind() == std::io::ErrorKind::ConnectionRefused;
                    failures.push(format!("{addr}: {e}"));
                }
                Err(_) => {
                    timed_out = true;
                    all_refused = false;
                    failures.push(format!("{addr}: no answer within {}", human(budget)));
                }
            }
        }
        let who = cfg.authority();
        if addrs.is_empty() {
            return Err(Error::new(ErrorKind::Connect, format!("no addresses to connect to for {who}"))
                .with_stage(Stage::Connect));
        }
        let detail = failures.join("; ");
        if timed_out && failures.iter().all(|f| f.contains("no answer within")) {
            return Err(Error::new(
                ErrorKind::Timeout,
                format!("could not connect to {who} within {} ({detail})", human(cfg.timeout)),
            )
            .with_stage(Stage::Connect));
        }
        let e =
            Error::new(ErrorKind::Connect, format!("could not connect to {who} ({detail})")).with_stage(Stage::Connect);
        Err(if all_refused { e.with_cause(Cause::ConnectionRefused) } else { e })
    }

    /// Connects to the Unix domain socket of the config, within the timeout. A path where
    /// there is no socket is a configuration error naming `$.server`.
    pub async fn connect_unix(cfg: SessionConfig) -> Result<Session> {
        let Some(path) = cfg.socket.clone() else {
            return Err(Error::internal("connect_unix without a socket path"));
        };
        let shown = path.display().to_string();
        match tokio::time::timeout(cfg.timeout, tokio::net::UnixStream::connect(&path)).await {
            Ok(Ok(sock)) => Ok(Session::new(cfg, Stream::Plain(Transport::Unix(sock)), None, None)),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::config(
                "$.server",
                format!("there is no Unix socket at {shown} (is the server running, and is the path right?)"),
            )
            .with_stage(Stage::Connect)),
            Ok(Err(e)) => {
                let err = Error::new(ErrorKind::Connect, format!("could not connect to the Unix socket {shown} ({e})"))
                    .with_stage(Stage::Connect);
                Err(if e.kind() == std::io::ErrorKind::ConnectionRefused {
                    err.with_cause(Cause::ConnectionRefused)
                } else {
                    err
                })
            }
            Err(_) => Err(Error::new(
                ErrorKind::Timeout,
                format!("could not connect to the Unix socket {shown} within {}", human(cfg.timeout)),
            )
            .with_stage(Stage::Connect)),
        }
    }

    /// Opens a tunnel to the server through the config's proxy, within the timeout: for
    /// `socks5` to each of `addrs` in turn (relaykit resolved the name), for `socks5h` and
    /// HTTP CONNECT to the name itself (the proxy resolves it). Errors are at [`Stage::Proxy`].
    pub async fn connect_proxied(cfg: SessionConfig, addrs: &[SocketAddr]) -> Result<Session> {
        let Some(proxy) = cfg.proxy.clone() else {
            return Err(Error::internal("connect_proxied without a proxy"));
        };
        let deadline = tokio::time::Instant::now() + cfg.timeout;
        let targets: Vec<String> = if proxy.scheme() == ProxyScheme::Socks5 && !addrs.is_empty() {
            addrs.iter().map(|a| a.ip().to_string()).collect()
        } else {
            vec![cfg.bare_host().to_owned()]
        };
        let mut last = None;
        for host in &targets {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                break;
            }
            match proxy.connect(host, cfg.port, left).await {
                Ok(tcp) => {
                    let (peer, local) = (tcp.peer_addr().ok(), tcp.local_addr().ok());
                    let mut s = Session::new(cfg, Stream::Plain(Transport::Tcp(tcp)), peer, local);
                    if let Some(p) = proxy.password() {
                        s.keep_secret(p.expose());
                    }
                    return Ok(s);
                }
                // The proxy itself is at fault: another address of the server will not help.
                Err(e) if e.cause() != Some(&Cause::ProxyRefusedTarget) => return Err(e),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| {
            Error::new(
                ErrorKind::Timeout,
                format!("the proxy {} did not open a connection within {}", proxy.authority(), human(cfg.timeout)),
            )
            .with_stage(Stage::Proxy)
        }))
    }

    fn new(cfg: SessionConfig, stream: Stream, peer: Option<SocketAddr>, local: Option<SocketAddr>) -> Self {
        let tracer = Tracer::new(cfg.trace.clone());
        Session {
            cfg,
            stream,
            peer,
            local,
            rbuf: Vec::with_capacity(4096),
            rpos: 0,
            wbuf: Vec::with_capacity(4096),
            tracer,
            mode: Mode::Normal,
            trust: None,
            greeting: None,
            ext: None,
            stream_window: mail::DEFAULT_STREAM_WINDOW,
            tls: None,
            secrets: Secrets::default(),
            progress: None,
            marks: Vec::new(),
        }
    }

    /// Sets (or clears) the callback told how much of each message's content is written
    /// (see [`crate::progress`]).
    pub fn set_progress(&mut self, progress: Option<crate::progress::ProgressSink>) {
        self.progress = progress;
    }

    /// Resolve, connect, implicit TLS when configured, greeting, EHLO, STARTTLS when configured
    /// and EHLO again: a session ready for AUTH or MAIL.
    pub async fn open(cfg: SessionConfig) -> Result<Session> {
        Session::open_observed(cfg, &mut ()).await
    }

    /// [`Session::open`], telling `obs` how each stage went: the one connection sequence that
    /// Test (which reports every stage) and Send (which keeps what hints need) share.
    pub async fn open_observed(cfg: SessionConfig, obs: &mut impl OpenObserver) -> Result<Session> {
        let mut s = if cfg.socket.is_some() {
            // No name to resolve: the socket is the server.
            observed(obs, Stage::Connect, Session::connect_unix(cfg)).await?
        } else if let Some(proxy) = &cfg.proxy {
            // socks5h and HTTP CONNECT hand the name to the proxy; only socks5 resolves here.
            let addrs = if proxy.scheme() == ProxyScheme::Socks5 {
                observed(obs, Stage::Dns, Session::resolve(&cfg)).await?
            } else {
                Vec::new()
            };
            observed(obs, Stage::Proxy, Session::connect_proxied(cfg, &addrs)).await?
        } else {
            let addrs = observed(obs, Stage::Dns, Session::resolve(&cfg)).await?;
            observed(obs, Stage::Connect, Session::connect(cfg, &addrs)).await?
        };
        if s.cfg.tls_mode == TlsMode::Implicit {
            let r = observed(obs, Stage::Tls, s.tls_handshake()).await.map(|_| ());
            obs.tls(s.tls_info());
            r?;
        }
        observed(obs, Stage::Greeting, s.read_greeting()).await?;
        s.observed_ehlo(obs).await?;
        let start = Instant::now();
        let upgrade = s.negotiate_tls().await;
        match upgrade {
            // Nothing was attempted, so there is no stage to report.
            Ok(TlsUpgrade::AlreadyTls | TlsUpgrade::NotWanted) => {}
            Ok(TlsUpgrade::NotOffered) => obs.stayed_plain(None),
            Ok(TlsUpgrade::Refused(ref reply)) => {
                obs.stage(Stage::Tls, true, start.elapsed());
                obs.stayed_plain(Some(reply));
            }
            Ok(TlsUpgrade::Upgraded) => {
                obs.stage(Stage::Tls, true, start.elapsed());
                obs.tls(s.tls_info());
                s.observed_ehlo(obs).await?;
            }
            Err(e) => {
                obs.stage(Stage::Tls, false, start.elapsed());
                obs.tls(s.tls_info());
                return Err(e);
            }
        }
        Ok(s)
    }

    async fn observed_ehlo(&mut self, obs: &mut impl OpenObserver) -> Result<()> {
        let r = observed(obs, Stage::Ehlo, self.ehlo()).await.map(|_| ());
        obs.ehlo(self);
        r
    }

    /// Registers a password or token that no text from the server may repeat from now on.
    pub(crate) fn keep_secret(&mut self, password: &str) {
        self.secrets.add_password(password);
    }

    /// Server-derived text (e.g. a detail a SASL mechanism decoded from a challenge) cleaned of
    /// the session's secrets.
    pub(crate) fn scrub<'a>(&self, text: &'a str) -> std::borrow::Cow<'a, str> {
        self.secrets.scrub(text)
    }

    /// The config this session was opened with.
    pub fn config(&self) -> &SessionConfig {
        &self.cfg
    }

    /// The address of the TCP peer: the server, or the proxy when there is one; `None` over a
    /// Unix domain socket.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// The server's 220 greeting, once read.
    pub fn greeting(&self) -> Option<&Reply> {
        self.greeting.as_ref()
    }

    /// The extensions from the latest EHLO (cleared by STARTTLS).
    pub fn extensions(&self) -> Option<&Extensions> {
        self.ext.as_ref()
    }

    /// The TLS parameters, once TLS is up.
    pub fn tls_info(&self) -> Option<&TlsInfo> {
        self.tls.as_ref()
    }

    /// Whether the connection is encrypted.
    pub fn is_tls(&self) -> bool {
        matches!(self.stream, Stream::Tls(_))
    }

    /// The implicit-TLS handshake (or the one after STARTTLS): trust per the config, bounded
    /// by the timeout.
    pub async fn tls_handshake(&mut self) -> Result<&TlsInfo> {
        if !matches!(self.stream, Stream::Plain(_)) {
            return Err(Error::new(ErrorKind::Protocol, "TLS is already active").with_stage(Stage::Tls));
        }
        let mode = match (self.cfg.tls_verify, self.cfg.tls_mode) {
            (false, _) => Verification::Disabled,
            (true, TlsMode::Implicit | TlsMode::StartTlsRequired) => Verification::Strict,
            (true, TlsMode::StartTlsOpportunistic | TlsMode::Plain) => Verification::Opportunistic,
        };
        let trust = if let Some(t) = &self.trust {
            t.clone()
        } else {
            let t = tls::trust(&self.cfg.trust_anchors)?;
            self.trust = Some(t.clone());
            t
        };
        let mut config = trust.config(mode)?;
        let mut cert_sent = None;
        if let Some(cert) = &self.cfg.client_certificate {
            let (c, flag) = tls::with_client_certificate(&config, cert);
            config = c;
            cert_sent = Some(flag);
        }
        let name = tls::server_name(self.cfg.bare_host())?;
        let Stream::Plain(transport) = std::mem::replace(&mut self.stream, Stream::Gone) else {
            return Err(Error::internal("stream changed during the TLS check"));
        };
        let connector = tokio_rustls::TlsConnector::from(config);
        let tls = match tokio::time::timeout(self.cfg.timeout, connector.connect(name.clone(), transport)).await {
            Err(_) => {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    format!("no TLS handshake with {} within {}", self.cfg.authority(), human(self.cfg.timeout)),
                )
                .with_stage(Stage::Tls)
                .with_cause(Cause::NoTlsAnswer));
            }
            Ok(Err(e)) => {
                let presented = cert_sent.as_deref().is_some_and(tls::was_sent);
                return Err(tls::handshake_error(&e, self.cfg.bare_host(), self.cfg.port, presented));
            }
            Ok(Ok(s)) => s,
        };
        let conn = tls.get_ref().1;
        let chain = conn.peer_certificates().unwrap_or(&[]);
        let (verified, verify_error) = match mode {
            Verification::Strict => (true, None),
            Verification::Opportunistic => match trust.check(chain, &name) {
                Ok(()) => (true, None),
                Err(e) => (false, Some(e.to_string())),
            },
            Verification::Disabled => (
                false,
                Some(match trust.check(chain, &name) {
                    Ok(()) => "not checked (tls_verify is off); the certificate would verify".to_owned(),
                    Err(e) => format!("not checked (tls_verify is off); it would fail: {e}"),
                }),
            ),
        };
        let mut info = tls::info(conn, verified, verify_error);
        info.client_certificate_sent = cert_sent.as_deref().is_some_and(tls::was_sent);
        self.stream = Stream::Tls(Box::new(tls));
        Ok(self.tls.insert(info))
    }

    /// Reads the server's greeting. Anything but 220 is an error with the reply.
    pub async fn read_greeting(&mut self) -> Result<&Reply> {
        let r = self.read_reply(Stage::Greeting, "greeting").await?;
        if r.code != 220 {
            return Err(Error::new(ErrorKind::Protocol, "the server refused the session")
                .with_stage(Stage::Greeting)
                .with_reply(r));
        }
        Ok(self.greeting.insert(r))
    }

    fn helo_arg(&self) -> String {
        let name = self.cfg.helo_name.trim();
        if !name.is_empty() {
            return name.to_owned();
        }
        match self.local.map(|a| a.ip()) {
            Some(IpAddr::V4(ip)) => format!("[{ip}]"),
            Some(IpAddr::V6(ip)) => format!("[IPv6:{ip}]"),
            None => "localhost".to_owned(),
        }
    }

    /// EHLO, falling back to HELO when the server does not know EHLO (500/502). With LMTP,
    /// LHLO (RFC 2033 has no fallback).
    pub async fn ehlo(&mut self) -> Result<&Extensions> {
        let name = self.helo_arg();
        if self.cfg.lmtp {
            let r = self.cmd_checked(&format!("LHLO {name}"), Stage::Ehlo, "LHLO").await?;
            if r.code != 250 {
                return Err(ehlo_error("LHLO", r));
            }
            return Ok(self.ext.insert(Extensions::from_ehlo(&r)));
        }
        let r = self.cmd_checked(&format!("EHLO {name}"), Stage::Ehlo, "EHLO").await?;
        let ext = if r.code == 250 {
            Extensions::from_ehlo(&r)
        } else if r.code == 500 || r.code == 502 {
            let h = self.cmd_checked(&format!("HELO {name}"), Stage::Ehlo, "HELO").await?;
            if h.code != 250 {
                return Err(ehlo_error("HELO", h));
            }
            Extensions::from_helo(&h)
        } else {
            return Err(ehlo_error("EHLO", r));
        };
        Ok(self.ext.insert(ext))
    }

    /// Upgrades with STARTTLS as the config says: required → error when not offered;
    /// opportunistic → only when offered, and a refusal leaves the session in plain text.
    /// After [`TlsUpgrade::Upgraded`] call [`Session::ehlo`] again.
    pub async fn negotiate_tls(&mut self) -> Result<TlsUpgrade> {
        if self.is_tls() {
            return Ok(TlsUpgrade::AlreadyTls);
        }
        let required = match self.cfg.tls_mode {
            TlsMode::Plain => return Ok(TlsUpgrade::NotWanted),
            TlsMode::Implicit | TlsMode::StartTlsRequired => true,
            TlsMode::StartTlsOpportunistic => false,
        };
        let offered = self.ext.as_ref().is_some_and(|e| e.starttls);
        if !offered {
            if required {
                return Err(Error::new(
                    ErrorKind::Tls,
                    format!("{} does not offer STARTTLS, and the profile requires TLS", self.cfg.authority()),
                )
                .with_stage(Stage::Tls)
                .with_cause(Cause::StartTlsNotOffered));
            }
            return Ok(TlsUpgrade::NotOffered);
        }
        let r = self.cmd_checked("STARTTLS", Stage::Tls, "STARTTLS").await?;
        if r.code != 220 {
            if required {
                return Err(Error::new(ErrorKind::Tls, "the server refused STARTTLS")
                    .with_stage(Stage::Tls)
                    .with_reply(r));
            }
            return Ok(TlsUpgrade::Refused(r));
        }
        if self.rpos < self.rbuf.len() {
            // Bytes sent before the handshake would be read as if they came through TLS
            // (CVE-2011-0411-style injection).
            return Err(Error::new(
                ErrorKind::Protocol,
                "the server sent data after its STARTTLS reply, before the TLS handshake; refusing it",
            )
            .with_stage(Stage::Tls));
        }
        self.ext = None;
        self.tls_handshake().await?;
        Ok(TlsUpgrade::Upgraded)
    }

    /// Sends any command line and returns the server's reply, whatever its code. The stage for
    /// errors is inferred from the verb. AUTH arguments are redacted in the trace.
    pub async fn command(&mut self, line: &str) -> Result<Reply> {
        let verb = line.split(' ').next().unwrap_or_default().to_ascii_uppercase();
        let stage = match verb.as_str() {
            "EHLO" | "HELO" | "LHLO" => Stage::Ehlo,
            "STARTTLS" => Stage::Tls,
            "AUTH" => Stage::Auth,
            "MAIL" => Stage::MailFrom,
            "RCPT" => Stage::RcptTo,
            "DATA" | "BDAT" => Stage::Data,
            "QUIT" => Stage::Quit,
            _ => return self.cmd_checked(line, None, &verb).await,
        };
        self.cmd_checked(line, stage, &verb).await
    }

    /// RSET; anything but 250 is an error.
    pub async fn rset(&mut self) -> Result<Reply> {
        let r = self.cmd_checked("RSET", Stage::Rset, "RSET").await?;
        if !r.is_positive() {
            return Err(Error::new(ErrorKind::Protocol, "the server refused RSET")
                .with_stage(Stage::Rset)
                .with_reply(r));
        }
        Ok(r)
    }

    /// NOOP; returns the reply whatever its code.
    pub async fn noop(&mut self) -> Result<Reply> {
        self.cmd_checked("NOOP", None, "NOOP").await
    }

    /// QUIT, then closes the connection (with TLS close_notify), each bounded by the timeout.
    /// After a successful send, callers may ignore its error.
    pub async fn quit(mut self) -> Result<Reply> {
        let r = self.cmd_checked("QUIT", Stage::Quit, "QUIT").await;
        let _ = tokio::time::timeout(self.cfg.timeout, self.stream.shutdown()).await;
        r
    }

    // ---- the line layer ----

    /// Appends a command line to the write buffer (and the trace).
    fn queue(&mut self, line: &str) -> Result<()> {
        if line.bytes().any(|b| b == b'\r' || b == b'\n') {
            return Err(Error::config("command", "a command line contains CR or LF"));
        }
        self.tracer.client(line, self.mode);
        self.wbuf.extend_from_slice(line.as_bytes());
        self.wbuf.extend_from_slice(b"\r\n");
        Ok(())
    }

    /// Writes the buffer out, in pieces each bounded by the timeout.
    async fn flush(&mut self, stage: impl Into<Option<Stage>>, what: &str) -> Result<()> {
        let stage = stage.into();
        let t = self.cfg.timeout;
        let mut off = 0;
        let marks = std::mem::take(&mut self.marks);
        let mut reporters: Vec<(usize, usize, crate::progress::Reporter)> = match &self.progress {
            Some(p) => {
                marks.iter().map(|&(s, e)| (s, e, crate::progress::Reporter::new(p.clone(), (e - s) as u64))).collect()
            }
            None => Vec::new(),
        };
        let piece = if reporters.is_empty() { WRITE_PIECE } else { crate::progress::PIECE };
        let result = async {
            while off < self.wbuf.len() {
                let end = (off + piece).min(self.wbuf.len());
                match tokio::time::timeout(t, self.stream.write_all(&self.wbuf[off..end])).await {
                    Err(_) => return Err(None),
                    Ok(Err(e)) => return Err(Some(e)),
                    Ok(Ok(())) => {}
                }
                off = end;
                for (s, e, r) in &mut reporters {
                    if end > *s {
                        r.update((end.min(*e) - *s) as u64);
                    }
                }
            }
            match tokio::time::timeout(t, self.stream.flush()).await {
                Err(_) => Err(None),
                Ok(Err(e)) => Err(Some(e)),
                Ok(Ok(())) => Ok(()),
            }
        }
        .await;
        if self.mode == Mode::Auth {
            self.wbuf.zeroize();
        } else if self.wbuf.capacity() > 4 * WRITE_PIECE {
            self.wbuf = Vec::with_capacity(4096);
        } else {
            self.wbuf.clear();
        }
        match result {
            Ok(()) => Ok(()),
            Err(None) => {
                Err(Error::new(ErrorKind::Timeout, format!("could not send {what} within {}", human(t))).at(stage))
            }
            Err(Some(e)) => Err(Error::new(ErrorKind::Io, format!("sending {what} failed: {e}")).at(stage)),
        }
    }

    /// Reads one reply, bounded by the timeout. `what` names the command for messages.
    async fn read_reply(&mut self, stage: impl Into<Option<Stage>>, what: &str) -> Result<Reply> {
        let stage = stage.into();
        let t = self.cfg.timeout;
        match tokio::time::timeout(t, self.read_reply_unbounded(stage, what)).await {
            Ok(r) => r,
            Err(_) => Err(self.timeout_error(stage, what)),
        }
    }

    fn timeout_error(&self, stage: Option<Stage>, what: &str) -> Error {
        let t = human(self.cfg.timeout);
        if stage == Some(Stage::Greeting) {
            return Error::new(ErrorKind::Timeout, format!("no greeting from {} within {t}", self.cfg.authority()))
                .at(stage)
                .with_cause(Cause::NoGreeting);
        }
        Error::new(ErrorKind::Timeout, format!("no reply to {what} within {t}")).at(stage)
    }

    async fn read_reply_unbounded(&mut self, stage: Option<Stage>, what: &str) -> Result<Reply> {
        loop {
            match reply::parse_reply(&self.rbuf[self.rpos..]) {
                Ok(Some((mut r, n))) => {
                    self.secrets.scrub_reply(&mut r);
                    self.tracer.server(&self.rbuf[self.rpos..self.rpos + n], &self.secrets);
                    self.rpos += n;
                    if self.rpos == self.rbuf.len() {
                        self.rbuf.clear();
                        self.rpos = 0;
                    }
                    return Ok(r);
                }
                Ok(None) => {}
                Err(e) => {
                    let looks_tls = self.rbuf.get(self.rpos) == Some(&0x16);
                    let subject =
                        if stage == Some(Stage::Greeting) { "greeting".to_owned() } else { format!("reply to {what}") };
                    let text = format!("the {subject} is not SMTP: {e}");
                    let mut err = Error::new(ErrorKind::Protocol, self.secrets.scrub(&text)).at(stage);
                    if looks_tls && !self.is_tls() {
                        err = err.with_cause(Cause::TlsOnPlainPort);
                    }
                    return Err(err);
                }
            }
            if self.rpos > 0 {
                self.rbuf.drain(..self.rpos);
                self.rpos = 0;
            }
            self.rbuf.reserve(4096);
            let n = match self.stream.read_buf(&mut self.rbuf).await {
                // A TLS peer that closes without close_notify: the same lost connection as a
                // plain close (rustls' own text for it is a link to its manual).
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => 0,
                Err(e) => {
                    let presented = self.tls.as_ref().is_some_and(|t| t.client_certificate_sent);
                    if let Some(err) = tls::client_certificate_alert(&e, presented) {
                        return Err(err.at(stage));
                    }
                    return Err(Error::new(
                        ErrorKind::Io,
                        format!("the connection was lost reading the reply to {what}: {e}"),
                    )
                    .at(stage));
                }
                Ok(n) => n,
            };
            if n == 0 {
                let subject =
                    if stage == Some(Stage::Greeting) { "greeting".to_owned() } else { format!("reply to {what}") };
                return Err(Error::new(
                    ErrorKind::Io,
                    format!("the connection was lost: the server closed it instead of sending the {subject}"),
                )
                .at(stage));
            }
        }
    }

    /// Sends one command and reads its reply (any code but 421). A 421 to anything but QUIT is
    /// the server closing the connection: an error at the command's stage, with the reply (so
    /// transient), never a reply to act on.
    async fn cmd_checked(&mut self, line: &str, stage: impl Into<Option<Stage>>, what: &str) -> Result<Reply> {
        let stage = stage.into();
        if stage != Some(Stage::Quit) {
            self.ensure_in_step(stage, what)?;
        }
        self.queue(line)?;
        self.flush(stage, what).await?;
        let r = self.read_reply(stage, what).await?;
        if r.code == 421 && stage != Some(Stage::Quit) {
            return Err(closing_error().with_reply(r).at(stage));
        }
        Ok(r)
    }
}

impl Session {
    /// Before a connection that has been waiting carries a message: reads, without waiting,
    /// whatever the server sent meanwhile. A 421 (an idle timeout), a close, or any other
    /// reply nobody asked for is an error at `mail_from` with nothing sent.
    pub(crate) fn check_idle(&mut self) -> Result<()> {
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        self.rbuf.reserve(1024);
        let read = std::pin::pin!(self.stream.read_buf(&mut self.rbuf)).poll(&mut cx);
        match read {
            std::task::Poll::Ready(Ok(0)) if self.rpos >= self.rbuf.len() => {
                Err(Error::new(ErrorKind::Io, "the connection was lost: the server closed it while it was idle")
                    .with_stage(Stage::MailFrom))
            }
            std::task::Poll::Ready(Err(e)) => {
                Err(Error::new(ErrorKind::Io, format!("the idle connection failed: {e}")).with_stage(Stage::MailFrom))
            }
            _ => self.ensure_in_step(Some(Stage::MailFrom), "MAIL FROM"),
        }
    }

    /// Fails when the server has sent bytes nobody asked for yet (an extra reply, or one to a
    /// command not sent): read as the answer to the next command, they would shift every reply
    /// after it. A 421 there is the server closing the connection while it was idle.
    pub(crate) fn ensure_in_step(&mut self, stage: Option<Stage>, what: &str) -> Result<()> {
        if self.rpos >= self.rbuf.len() {
            return Ok(());
        }
        let unasked = reply::parse_reply(&self.rbuf[self.rpos..]).ok().flatten().map(|(mut r, _)| {
            self.secrets.scrub_reply(&mut r);
            r
        });
        self.tracer.server(&self.rbuf[self.rpos..], &self.secrets);
        self.rbuf.clear();
        self.rpos = 0;
        Err(match unasked {
            Some(r) if r.code == 421 => closing_error().with_reply(r).at(stage),
            Some(r) => Error::new(
                ErrorKind::Protocol,
                format!(
                    "the server sent a reply before {what} was sent ({r}); replies do not match the commands, so \
                     the connection is dropped"
                ),
            )
            .at(stage),
            None => Error::new(
                ErrorKind::Protocol,
                format!("the server sent data before {what} was sent; replies do not match the commands, so the connection is dropped"),
            )
            .at(stage),
        })
    }
}

/// The server closed the session (421): the connection is done.
pub(crate) fn closing_error() -> Error {
    Error::new(ErrorKind::Protocol, "the server is closing the connection (421)")
}

/// Sets the stage when there is one.
trait At {
    fn at(self, stage: Option<Stage>) -> Self;
}

impl At for Error {
    fn at(self, stage: Option<Stage>) -> Error {
        match stage {
            Some(s) => self.with_stage(s),
            None => self,
        }
    }
}

fn ehlo_error(verb: &str, r: Reply) -> Error {
    Error::new(ErrorKind::Protocol, format!("{verb} rejected")).with_stage(Stage::Ehlo).with_reply(r)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn host_forms() {
        let mut c = SessionConfig::new("[2001:db8::1]", 25, TlsMode::Plain);
        assert_eq!(c.bare_host(), "2001:db8::1");
        assert_eq!(c.authority(), "[2001:db8::1]:25");
        c.host = "2001:db8::1".into();
        assert_eq!(c.authority(), "[2001:db8::1]:25");
        c.host = "mail.example.com".into();
        assert_eq!(c.authority(), "mail.example.com:25");
    }

    #[test]
    fn human_durations() {
        assert_eq!(human(Duration::from_secs(30)), "30 s");
        assert_eq!(human(Duration::from_millis(500)), "500 ms");
        assert_eq!(human(Duration::from_millis(1500)), "1.5 s");
    }

    #[tokio::test]
    async fn resolve_ip_literals_without_dns() {
        let c = SessionConfig::new("[::1]", 2525, TlsMode::Plain);
        assert_eq!(Session::resolve(&c).await.unwrap(), ["[::1]:2525".parse().unwrap()]);
        let c = SessionConfig::new("", 25, TlsMode::Plain);
        assert_eq!(Session::resolve(&c).await.unwrap_err().kind(), ErrorKind::Config);
    }

    #[tokio::test]
    async fn resolve_failure_is_dns() {
        let c = SessionConfig::new("no-such-host.invalid", 25, TlsMode::Plain);
        let e = Session::resolve(&c).await.unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::Dns | ErrorKind::Timeout), "{e}");
        assert_eq!(e.stage(), Some(Stage::Dns));
    }

    #[tokio::test]
    async fn connect_refused_names_host_and_os_error() {
        // Bind then drop a listener so the port is (almost certainly) closed.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        let c = SessionConfig::new("127.0.0.1", addr.port(), TlsMode::Plain);
        let e = Session::connect(c, &[addr]).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Connect);
        assert!(e.message().contains(&format!("127.0.0.1:{}", addr.port())), "{e}");
        assert!(e.message().to_lowercase().contains("refused"), "{e}");
    }
}
