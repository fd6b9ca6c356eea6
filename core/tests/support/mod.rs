//! The scripted fake SMTP server (on 127.0.0.1:0) and the helpers the `session_fake_*` tests
//! share.
//!
//! CONVENTIONS.md wants real servers (tests/servers/) for integration tests. These use a fake,
//! and each test says why: either the fault cannot be produced by a real server on demand (a
//! server that never answers, speaks the wrong protocol on a port, sends 354 with no valid
//! recipient), or the point is the exact bytes and their grouping on the wire (pipelining),
//! which a real server does not let us observe. The real-server suite is `servers.rs` and the
//! conformance cases.
//!
//! Every wait is bounded: the fake server's reads by `SERVER_WAIT`, the client by its
//! configured timeout, and each test as a whole by `TEST_WAIT`. No sleeps.
//!
//! The `pub use` lines are the tests' prelude: `use support::*` is all a test file imports.
// Each test file is its own crate and uses a different part of this module.
#![allow(dead_code, unused_imports)]

pub use std::future::Future;
pub use std::net::SocketAddr;
pub use std::sync::{Arc, Mutex};
pub use std::time::{Duration, Instant};

pub use relaykit::session::{
    Direction, Mail, MailParams, SaslStep, Session, SessionConfig, TlsMode, TlsUpgrade, TraceEvent, TraceSink,
};
pub use relaykit::{Error, ErrorKind, Stage};
pub use rustls::ServerConfig;
pub use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
pub use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
pub use tokio::net::TcpListener;
pub use tokio::task::JoinHandle;
pub use zeroize::Zeroizing;

pub const SERVER_WAIT: Duration = Duration::from_secs(10);
pub const TEST_WAIT: Duration = Duration::from_secs(20);

#[derive(Clone, Debug)]
pub enum Step {
    /// Write these bytes.
    Send(&'static str),
    /// Read a line; it must start with this.
    Expect(&'static str),
    /// Like `Expect`, and the line must already be buffered: it came in the same read as the
    /// previous line, i.e. the client wrote them together without waiting for a reply.
    Buffered(&'static str),
    /// Read message content up to the `.` line; logged as one `DATA:<content>` entry.
    Data,
    /// TLS handshake as the server.
    StartTls,
    /// Stop answering; wait (bounded) for the client to go away.
    Hang,
}
pub use Step::{Buffered, Data, Expect, Hang, Send, StartTls};

pub struct Fake {
    pub port: u16,
    task: JoinHandle<Result<Vec<String>, String>>,
}

impl Fake {
    /// The lines the server received, or why its script failed.
    pub async fn log(self) -> Vec<String> {
        match tokio::time::timeout(TEST_WAIT, self.task).await {
            Ok(Ok(Ok(log))) => log,
            Ok(Ok(Err(e))) => panic!("fake server script failed: {e}"),
            Ok(Err(e)) => panic!("fake server panicked: {e}"),
            Err(elapsed) => panic!("fake server did not finish: {elapsed}"),
        }
    }
}

pub async fn read_line<S: AsyncRead + AsyncWrite + Unpin>(rd: &mut BufReader<S>) -> Result<String, String> {
    let mut line = String::new();
    match tokio::time::timeout(SERVER_WAIT, rd.read_line(&mut line)).await {
        Err(_) => Err("timed out waiting for the client".into()),
        Ok(Err(e)) => Err(format!("read: {e}")),
        Ok(Ok(0)) => Err("client closed the connection".into()),
        Ok(Ok(_)) => Ok(line.trim_end_matches(['\r', '\n']).to_owned()),
    }
}

/// Plays `steps` until the end or a `StartTls`; returns the index where it stopped.
pub async fn play<S: AsyncRead + AsyncWrite + Unpin>(
    rd: &mut BufReader<S>,
    steps: &[Step],
    log: &mut Vec<String>,
) -> Result<usize, String> {
    for (i, step) in steps.iter().enumerate() {
        match step {
            Send(s) => {
                rd.get_mut().write_all(s.as_bytes()).await.map_err(|e| e.to_string())?;
                rd.get_mut().flush().await.map_err(|e| e.to_string())?;
            }
            Expect(p) | Buffered(p) => {
                if matches!(step, Buffered(_)) && !rd.buffer().starts_with(p.as_bytes()) {
                    return Err(format!(
                        "{p:?} was not sent together with the previous line; buffer: {:?}",
                        String::from_utf8_lossy(rd.buffer())
                    ));
                }
                let line = read_line(rd).await?;
                if !line.starts_with(p) {
                    return Err(format!("expected {p:?}, got {line:?}"));
                }
                log.push(line);
            }
            Data => {
                let mut content = Vec::new();
                loop {
                    let line = read_line(rd).await?;
                    if line == "." {
                        break;
                    }
                    content.push(line);
                }
                log.push(format!("DATA:{}", content.join("\n")));
            }
            StartTls => return Ok(i),
            Hang => {
                let mut sink = String::new();
                let _ = tokio::time::timeout(SERVER_WAIT, rd.read_line(&mut sink)).await;
                return Ok(steps.len());
            }
        }
    }
    Ok(steps.len())
}

/// Starts a fake server playing `steps` for one connection. `tls` is used by `StartTls` steps,
/// or from the first byte when `implicit`.
pub async fn fake(steps: Vec<Step>, tls: Option<Arc<ServerConfig>>, implicit: bool) -> Fake {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let (tcp, _) = tokio::time::timeout(SERVER_WAIT, listener.accept())
            .await
            .map_err(|_| "no client connected".to_owned())?
            .map_err(|e| e.to_string())?;
        let mut log = Vec::new();
        let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
        if implicit {
            let acceptor = acceptor.ok_or("implicit without a TLS config")?;
            match tokio::time::timeout(SERVER_WAIT, acceptor.accept(tcp)).await {
                Ok(Ok(s)) => {
                    play(&mut BufReader::new(s), &steps, &mut log).await?;
                }
                Ok(Err(e)) => log.push(format!("TLS-FAILED: {e}")),
                Err(_) => log.push("TLS-FAILED: timeout".into()),
            }
            return Ok(log);
        }
        let mut rd = BufReader::new(tcp);
        let at = play(&mut rd, &steps, &mut log).await?;
        if at == steps.len() {
            return Ok(log);
        }
        if !rd.buffer().is_empty() {
            return Err("client sent data before the TLS handshake".into());
        }
        let acceptor = acceptor.ok_or("StartTls without a TLS config")?;
        match tokio::time::timeout(SERVER_WAIT, acceptor.accept(rd.into_inner())).await {
            Ok(Ok(s)) => {
                play(&mut BufReader::new(s), &steps[at + 1..], &mut log).await?;
            }
            Ok(Err(e)) => log.push(format!("TLS-FAILED: {e}")),
            Err(_) => log.push("TLS-FAILED: timeout".into()),
        }
        Ok(log)
    });
    Fake { port, task }
}

pub fn cfg(port: u16, mode: TlsMode) -> SessionConfig {
    let mut c = SessionConfig::new("127.0.0.1", port, mode);
    c.helo_name = "client.test".into();
    c.timeout = Duration::from_secs(2);
    c
}

pub async fn connect(c: SessionConfig) -> Session {
    let addr: SocketAddr = ([127, 0, 0, 1], c.port).into();
    Session::connect(c, &[addr]).await.unwrap()
}

/// A plain session to a fake, greeted and past EHLO: where most scripted faults start.
pub async fn ready(port: u16) -> Session {
    let mut s = connect(cfg(port, TlsMode::Plain)).await;
    s.read_greeting().await.unwrap();
    s.ehlo().await.unwrap();
    s
}

/// Bounds a whole test.
pub async fn bounded<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(TEST_WAIT, f).await.expect("test took too long")
}

pub const EHLO_PIPELINING: &str = "250-fake.test\r\n250-PIPELINING\r\n250-SIZE 1000000\r\n\
                               250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n";

/// A test CA and a leaf for 127.0.0.1 / localhost signed by it.
pub struct Pki {
    pub ca_pem: String,
    pub server: Arc<ServerConfig>,
}

pub fn pki() -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "relaykit test CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let mut leaf_params = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    leaf_params.distinguished_name.push(DnType::CommonName, "fake.smtp.test");
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let chain: Vec<CertificateDer<'static>> = vec![leaf.der().clone()];
    let server = ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    Pki { ca_pem: ca_cert.pem(), server: Arc::new(server) }
}

pub fn rcpts(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

pub fn collect_trace(c: &mut SessionConfig) -> Arc<Mutex<Vec<TraceEvent>>> {
    let events = Arc::new(Mutex::new(Vec::new()));
    let e = events.clone();
    c.trace = Some(TraceSink::new(move |ev| e.lock().unwrap().push(ev)));
    events
}
