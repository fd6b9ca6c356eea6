//! TLS for the session: rustls with the ring provider, trust anchors (webpki-roots, the
//! platform's store, and the profile's extra CAs), the per-connection verification result, and
//! errors with typed causes (`hints.rs` words them).
//!
//! Client configurations are shared: one `Arc<ClientConfig>` per distinct trust setting, cached
//! for the life of the process, so rustls' session cache lets a second connection to the same
//! server resume instead of doing a full handshake.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use rustls::client::ResolvesClientCert;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

use crate::error::{Cause, CertificateProblem, Error, ErrorKind, Result, Stage};

/// What was negotiated, and what the server's certificate says; as a Test report's `tls`, its
/// §8 JSON form.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TlsInfo {
    /// `"TLSv1.3"` or `"TLSv1.2"`.
    pub version: String,
    /// The cipher suite, e.g. `"TLS13_AES_256_GCM_SHA384"`.
    pub cipher: String,
    /// The certificate's subject, e.g. `"CN=mail.example.com"`.
    pub subject: String,
    /// The certificate's issuer.
    pub issuer: String,
    /// The end of the certificate's validity, RFC 3339 UTC (`"2036-11-28T00:00:00Z"`).
    pub not_after: String,
    /// Whether the certificate chain and host name verified against the trust anchors.
    pub verified: bool,
    /// Why it did not verify, when it did not (opportunistic STARTTLS or `tls_verify: false`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verify_error: Option<String>,
    /// Whether the handshake resumed an earlier session (no certificate exchange; the fields
    /// above come from the stored session). Not in §8's JSON.
    #[serde(skip)]
    pub resumed: bool,
    /// Whether a client certificate was presented in this handshake: the profile has one and
    /// the server asked for it (a server that does not ask never sees it).
    pub client_certificate_sent: bool,
}

/// How a handshake treats the server's certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verification {
    /// An untrusted certificate aborts the handshake (encrypted_connection, implicit/required).
    Strict,
    /// Anything is accepted (tls_verify: false); the report still says what would have failed.
    Disabled,
    /// RFC 7435: anything is accepted, the failure is recorded for a warning.
    Opportunistic,
}

/// Trust anchors from PEM text, each checked as a usable CA; errors name `field` (the profile
/// key the text came from, e.g. `$.tls_ca_file`) and `origin` (a file's path, or empty).
pub fn trust_anchors(pem: &[u8], field: &str, origin: &str) -> Result<Vec<CertificateDer<'static>>> {
    let at = if origin.is_empty() { String::new() } else { format!("{origin}: ") };
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::config(field, format!("{at}not PEM certificates: {e}")))?;
    if certs.is_empty() {
        return Err(Error::config(field, format!("{at}contains no CERTIFICATE block")));
    }
    for (i, ca) in certs.iter().enumerate() {
        RootCertStore::empty()
            .add(ca.clone())
            .map_err(|e| Error::config(field, format!("{at}certificate {} is not a usable CA: {e}", i + 1)))?;
    }
    Ok(certs)
}

fn provider() -> Arc<CryptoProvider> {
    static P: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    P.get_or_init(|| Arc::new(rustls::crypto::ring::default_provider())).clone()
}

/// The platform's trust store, loaded once, on first need. Load errors are tolerated
/// (webpki-roots remain).
fn native_roots() -> &'static [CertificateDer<'static>] {
    static N: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    N.get_or_init(|| {
        let r = rustls_native_certs::load_native_certs();
        for e in &r.errors {
            tracing::debug!(target: "relaykit::tls", "platform trust store: {e}");
        }
        r.certs
    })
}

/// One trust setting: its verifier, and (built on first use) its strict client config.
#[derive(Debug)]
pub(crate) struct Trust {
    verifier: Arc<Layered>,
    strict: OnceLock<Arc<ClientConfig>>,
}

/// Verifies against the profile's extra CAs and webpki-roots first, and reads the platform's
/// store only when a chain's issuer is unknown to those. Reading the whole platform store
/// (hundreds of PEM files) was most of a fresh process's first Test; most servers chain to a
/// root webpki-roots has, or to the profile's own CA, so most processes never read it.
#[derive(Debug)]
struct Layered {
    first: Arc<WebPkiServerVerifier>,
    extra: Vec<CertificateDer<'static>>,
    full: OnceLock<Option<Arc<WebPkiServerVerifier>>>,
}

fn verifier(roots: RootCertStore) -> Result<Arc<WebPkiServerVerifier>> {
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
        .build()
        .map_err(|e| Error::internal(format!("building the certificate verifier: {e}")))
}

fn roots(extra: &[CertificateDer<'static>]) -> Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for ca in extra {
        // Each anchor was checked by `trust_anchors`, which names its field.
        roots.add(ca.clone()).map_err(|e| Error::internal(format!("a checked trust anchor was refused: {e}")))?;
    }
    Ok(roots)
}

impl Layered {
    /// The verifier with the platform's store added; `None` when it adds nothing usable.
    fn full(&self) -> Option<&Arc<WebPkiServerVerifier>> {
        self.full
            .get_or_init(|| {
                let mut r = roots(&self.extra).ok()?;
                let (added, _) = r.add_parsable_certificates(native_roots().iter().cloned());
                if added == 0 {
                    return None;
                }
                verifier(r).ok()
            })
            .as_ref()
    }
}

impl ServerCertVerifier for Layered {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let r = self.first.verify_server_cert(end_entity, intermediates, server_name, ocsp, now);
        match r {
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)) => match self.full() {
                Some(full) => full.verify_server_cert(end_entity, intermediates, server_name, ocsp, now),
                None => r,
            },
            r => r,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.first.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.first.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.first.supported_verify_schemes()
    }
}

/// The trust setting for these extra CAs, shared by every session that uses the same ones.
pub(crate) fn trust(extra: &[CertificateDer<'static>]) -> Result<Arc<Trust>> {
    type Cache = Mutex<HashMap<Vec<Vec<u8>>, Arc<Trust>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    // Keyed by the exact DER bytes: no hash collision can hand one profile another's anchors.
    let key: Vec<Vec<u8>> = extra.iter().map(|c| c.as_ref().to_vec()).collect();
    let cache = CACHE.get_or_init(Cache::default);
    if let Some(t) = cache.lock().unwrap_or_else(PoisonError::into_inner).get(&key) {
        return Ok(t.clone());
    }
    let layered = Layered { first: verifier(roots(extra)?)?, extra: extra.to_vec(), full: OnceLock::new() };
    let t = Arc::new(Trust { verifier: Arc::new(layered), strict: OnceLock::new() });
    let mut map = cache.lock().unwrap_or_else(PoisonError::into_inner);
    Ok(map.entry(key).or_insert(t).clone())
}

impl Trust {
    /// The client config for `mode`.
    pub(crate) fn config(&self, mode: Verification) -> Result<Arc<ClientConfig>> {
        match mode {
            Verification::Strict => {
                if let Some(c) = self.strict.get() {
                    return Ok(c.clone());
                }
                let verifier: Arc<dyn ServerCertVerifier> = self.verifier.clone();
                let c = Arc::new(
                    base_builder()?.dangerous().with_custom_certificate_verifier(verifier).with_no_client_auth(),
                );
                Ok(self.strict.get_or_init(|| c).clone())
            }
            Verification::Disabled | Verification::Opportunistic => lenient_config(),
        }
    }

    /// Verifies a presented chain as the strict config would have; used after a lenient
    /// handshake to report what failed.
    pub(crate) fn check(
        &self,
        chain: &[CertificateDer<'_>],
        name: &ServerName<'_>,
    ) -> std::result::Result<(), rustls::Error> {
        let Some((end, intermediates)) = chain.split_first() else {
            return Err(rustls::Error::NoCertificatesPresented);
        };
        self.verifier.verify_server_cert(end, intermediates, name, &[], UnixTime::now()).map(|_| ())
    }
}

fn base_builder() -> Result<rustls::ConfigBuilder<ClientConfig, rustls::WantsVerifier>> {
    ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::internal(format!("TLS configuration: {e}")))
}

/// The one config that accepts any certificate (signatures are still checked); shared by every
/// lenient session so resumption works across them.
fn lenient_config() -> Result<Arc<ClientConfig>> {
    static L: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    if let Some(c) = L.get() {
        return Ok(c.clone());
    }
    let verifier = Arc::new(AcceptAnyCert { algorithms: provider().signature_verification_algorithms });
    let c = Arc::new(base_builder()?.dangerous().with_custom_certificate_verifier(verifier).with_no_client_auth());
    Ok(L.get_or_init(|| c).clone())
}

/// Accepts any certificate chain but still requires the handshake signature to be valid for the
/// presented key. Used only where the profile says an unverifiable certificate is acceptable;
/// the session re-checks the chain afterwards and reports the outcome.
#[derive(Debug)]
struct AcceptAnyCert {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// A client certificate chain and its private key (mutual TLS), checked to belong together.
/// `Debug` shows the certificate's subject, never the key.
#[derive(Clone)]
pub struct ClientCertificate {
    key: Arc<CertifiedKey>,
    subject: String,
}

impl std::fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("subject", &self.subject)
            .field("chain_len", &self.key.cert.len())
            .field("key", &"<redacted>")
            .finish()
    }
}

/// Where one half of a client certificate came from, for error messages: the profile field
/// (`$.tls_client_cert_file`) and, for a file, its path.
#[derive(Debug, Clone, Copy)]
pub struct PemSource<'a> {
    /// The profile field, e.g. `$.tls_client_key`.
    pub field: &'a str,
    /// The file's path, or empty for inline text.
    pub origin: &'a str,
}

impl PemSource<'_> {
    fn error(&self, what: impl std::fmt::Display) -> Error {
        if self.origin.is_empty() {
            Error::config(self.field, what.to_string())
        } else {
            Error::config(self.field, format!("{}: {what}", self.origin))
        }
    }
}

impl ClientCertificate {
    /// The chain (end-entity certificate first) and its key from PEM text. Errors name the
    /// field at fault; no error ever quotes the key's text (a PEM parser's message may quote a
    /// line of it, so those are replaced by our own words).
    pub fn from_pem(chain_pem: &[u8], chain: PemSource<'_>, key_pem: &[u8], key: PemSource<'_>) -> Result<Self> {
        let certs = CertificateDer::pem_slice_iter(chain_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| chain.error(format!("not PEM certificates: {e}")))?;
        if certs.is_empty() {
            return Err(chain.error("contains no certificate (-----BEGIN CERTIFICATE-----)"));
        }
        let subject = match x509_parser::parse_x509_certificate(certs[0].as_ref()) {
            Ok((_, c)) => c.subject().to_string(),
            Err(_) => return Err(chain.error("the first certificate cannot be parsed")),
        };
        let der = match PrivateKeyDer::from_pem_slice(key_pem) {
            Ok(der) => der,
            Err(rustls_pki_types::pem::Error::NoItemsFound) => {
                return Err(
                    key.error("is not a private key: no -----BEGIN PRIVATE KEY----- (or RSA / EC PRIVATE KEY) block")
                );
            }
            Err(_) => return Err(key.error("is not a private key: its PEM block cannot be read")),
        };
        let signing = provider()
            .key_provider
            .load_private_key(der)
            .map_err(|_| key.error("is not a private key relaykit can use (RSA, ECDSA P-256/P-384 or Ed25519)"))?;
        let certified = CertifiedKey::new(certs, signing);
        match certified.keys_match() {
            Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
            Err(rustls::Error::InconsistentKeys(_)) => return Err(key.error("does not match the certificate")),
            Err(e) => return Err(chain.error(format!("the first certificate cannot be used: {e}"))),
        }
        Ok(ClientCertificate { key: Arc::new(certified), subject })
    }

    /// The end-entity certificate's subject, e.g. `CN=relaykit test client`.
    pub fn subject(&self) -> &str {
        &self.subject
    }
}

/// Hands the client certificate to rustls when the server asks for one, and records that it
/// did: rustls calls a resolver only for a CertificateRequest, so `asked` is the report's
/// `client_certificate_sent`. One per connection (the flag is that handshake's).
struct Presenter {
    key: Arc<CertifiedKey>,
    sent: Arc<AtomicBool>,
}

impl std::fmt::Debug for Presenter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Presenter").finish_non_exhaustive()
    }
}

impl ResolvesClientCert for Presenter {
    fn resolve(&self, _hints: &[&[u8]], schemes: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        // A key that can sign none of the server's schemes is not sent (rustls would send an
        // empty certificate message anyway).
        self.key.key.choose_scheme(schemes)?;
        self.sent.store(true, Ordering::Relaxed);
        Some(self.key.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// `base` with the client certificate presented when asked, and the flag that says whether it
/// was. Resumption is off for these connections: a resumed session skips the certificate
/// exchange (the report could not say it was sent), and a ticket made with one certificate
/// must never stand in for another certificate or none, which a shared session cache allows.
pub(crate) fn with_client_certificate(
    base: &Arc<ClientConfig>,
    cert: &ClientCertificate,
) -> (Arc<ClientConfig>, Arc<AtomicBool>) {
    let sent = Arc::new(AtomicBool::new(false));
    let mut c = ClientConfig::clone(base);
    c.client_auth_cert_resolver = Arc::new(Presenter { key: cert.key.clone(), sent: sent.clone() });
    c.resumption = rustls::client::Resumption::disabled();
    (Arc::new(c), sent)
}

/// Whether the flag from [`with_client_certificate`] was set.
pub(crate) fn was_sent(flag: &AtomicBool) -> bool {
    flag.load(Ordering::Relaxed)
}

/// The server name for SNI and verification: a DNS name or an IP address (brackets removed).
pub(crate) fn server_name(host: &str) -> Result<ServerName<'static>> {
    ServerName::try_from(host.to_owned())
        .map_err(|e| Error::config("$.server", format!("{host:?} is not a valid TLS server name: {e}")))
}

/// Reads the negotiated parameters and the certificate fields.
pub(crate) fn info(conn: &rustls::ClientConnection, verified: bool, verify_error: Option<String>) -> TlsInfo {
    let version = match conn.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".to_owned(),
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".to_owned(),
        Some(v) => format!("{v:?}"),
        None => String::new(),
    };
    let cipher = conn
        .negotiated_cipher_suite()
        .map(|s| {
            let s = s.suite();
            s.as_str().map_or_else(|| format!("{s:?}"), str::to_owned)
        })
        .unwrap_or_default();
    let (mut subject, mut issuer, mut not_after) = (String::new(), String::new(), String::new());
    if let Some(end) = conn.peer_certificates().and_then(<[_]>::first) {
        if let Ok((_, cert)) = x509_parser::parse_x509_certificate(end.as_ref()) {
            subject = cert.subject().to_string();
            issuer = cert.issuer().to_string();
            not_after = rfc3339(cert.validity().not_after.timestamp());
        }
    }
    TlsInfo {
        version,
        cipher,
        subject,
        issuer,
        not_after,
        verified,
        verify_error,
        resumed: conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed),
        client_certificate_sent: false,
    }
}

/// Unix seconds → `YYYY-MM-DDTHH:MM:SSZ` (UTC). Whole seconds, as certificates carry them.
/// A time RFC 3339 cannot write (a year outside 0000–9999) gives the empty string, as an
/// unreadable certificate does.
pub(crate) fn rfc3339(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

/// What was wrong with a certificate that did not verify (rustls' typed error, not its text).
pub(crate) fn certificate_problem(err: &rustls::Error) -> Option<CertificateProblem> {
    use rustls::CertificateError as C;
    let rustls::Error::InvalidCertificate(c) = err else {
        return None;
    };
    Some(match c {
        C::UnknownIssuer | C::BadSignature | C::UnhandledCriticalExtension => CertificateProblem::Untrusted,
        C::NotValidForName | C::NotValidForNameContext { .. } => CertificateProblem::WrongName,
        C::Expired | C::ExpiredContext { .. } => CertificateProblem::Expired,
        C::NotValidYet | C::NotValidYetContext { .. } => CertificateProblem::NotYetValid,
        _ => return None,
    })
}

/// The error for a TLS alert about the client certificate, which a TLS 1.3 server sends after
/// the client's side of the handshake is complete (so it surfaces at the first read, as the
/// greeting or the EHLO reply) and a TLS 1.2 server during the handshake. `presented`: whether
/// this connection sent a certificate. `None` for any other error.
pub(crate) fn client_certificate_alert(io: &std::io::Error, presented: bool) -> Option<Error> {
    use rustls::AlertDescription as A;
    let Some(rustls::Error::AlertReceived(alert)) = io.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) else {
        return None;
    };
    let about_the_certificate = matches!(
        alert,
        A::BadCertificate
            | A::UnsupportedCertificate
            | A::CertificateRevoked
            | A::CertificateExpired
            | A::CertificateUnknown
            | A::UnknownCA
            | A::AccessDenied
    );
    // After a certificate was presented, a decrypt_error alert is the server failing to verify
    // it (rustls servers send it for a certificate they cannot verify).
    let about_the_certificate = about_the_certificate || (presented && *alert == A::DecryptError);
    let (message, cause) = if *alert == A::CertificateRequired || (about_the_certificate && !presented) {
        ("the server requires a client certificate and none was presented", Cause::ClientCertificateRequired)
    } else if about_the_certificate {
        ("the server refused the client certificate", Cause::ClientCertificateRefused)
    } else {
        return None;
    };
    Some(Error::new(ErrorKind::Tls, format!("{message} (TLS alert {alert:?})")).with_cause(cause))
}

/// The error for a failed handshake, with its typed cause. `io` is what tokio-rustls returned.
pub(crate) fn handshake_error(io: &std::io::Error, host: &str, port: u16, presented: bool) -> Error {
    if let Some(e) = client_certificate_alert(io, presented) {
        return e.with_stage(Stage::Tls);
    }
    let tls = io.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>());
    let Some(tls) = tls else {
        let e =
            Error::new(ErrorKind::Tls, format!("TLS handshake with {host}:{port} failed: {io}")).with_stage(Stage::Tls);
        return if io.kind() == std::io::ErrorKind::UnexpectedEof { e.with_cause(Cause::ClosedDuringTls) } else { e };
    };
    let e =
        Error::new(ErrorKind::Tls, format!("TLS handshake with {host}:{port} failed: {tls}")).with_stage(Stage::Tls);
    let cause = match tls {
        rustls::Error::InvalidMessage(_) => Some(Cause::PlainTextOnTlsPort),
        rustls::Error::PeerIncompatible(_) | rustls::Error::AlertReceived(_) => Some(Cause::TlsIncompatible),
        other => certificate_problem(other).map(Cause::Certificate),
    };
    match cause {
        Some(c) => e.with_cause(c),
        None => e,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(2_111_443_200), "2036-11-28T00:00:00Z");
        assert_eq!(rfc3339(951_782_400 + 3661), "2000-02-29T01:01:01Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
        assert_eq!(rfc3339(253_402_300_799), "9999-12-31T23:59:59Z");
        assert_eq!(rfc3339(253_402_300_800), "", "year 10000 does not fit RFC 3339");
        assert_eq!(rfc3339(-62_167_219_201), "", "year -1 does not fit RFC 3339");
        assert_eq!(rfc3339(-62_167_219_200), "0000-01-01T00:00:00Z");
    }

    #[test]
    fn server_names() {
        assert!(matches!(server_name("mail.example.com"), Ok(ServerName::DnsName(_))));
        assert!(matches!(server_name("192.0.2.1"), Ok(ServerName::IpAddress(_))));
        assert!(matches!(server_name("::1"), Ok(ServerName::IpAddress(_))));
        assert!(server_name("bad name!").is_err());
    }

    #[test]
    fn trust_is_cached_per_ca_set() {
        let a = trust(&[]).unwrap();
        let b = trust(&[]).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        let ca = rcgen::generate_simple_self_signed(vec!["x.test".into()]).unwrap();
        let c = trust(&[ca.cert.der().clone()]).unwrap();
        assert!(!Arc::ptr_eq(&a, &c));
        let s1 = a.config(Verification::Strict).unwrap();
        let s2 = b.config(Verification::Strict).unwrap();
        assert!(Arc::ptr_eq(&s1, &s2));
        let l1 = a.config(Verification::Opportunistic).unwrap();
        let l2 = c.config(Verification::Disabled).unwrap();
        assert!(Arc::ptr_eq(&l1, &l2));
    }

    #[test]
    fn client_certificate_alerts_say_required_or_refused() {
        use rustls::AlertDescription as A;
        let io = |a: A| std::io::Error::other(rustls::Error::AlertReceived(a));
        let cause =
            |a: A, presented: bool| client_certificate_alert(&io(a), presented).and_then(|e| e.cause().cloned());
        assert_eq!(cause(A::CertificateRequired, false), Some(Cause::ClientCertificateRequired));
        assert_eq!(cause(A::UnknownCA, false), Some(Cause::ClientCertificateRequired));
        assert_eq!(cause(A::UnknownCA, true), Some(Cause::ClientCertificateRefused));
        assert_eq!(cause(A::DecryptError, true), Some(Cause::ClientCertificateRefused));
        assert_eq!(cause(A::DecryptError, false), None);
        assert_eq!(cause(A::ProtocolVersion, true), None);
        assert!(client_certificate_alert(&std::io::Error::other("plain"), true).is_none());
    }

    #[test]
    fn extra_ca_parsing_errors_name_the_field() {
        let e = trust_anchors(b"not pem", "$.tls_ca_pem", "").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(e.message().starts_with("$.tls_ca_pem: contains no CERTIFICATE"), "{e}");
        let e = trust_anchors(b"not pem", "$.tls_ca_file", "/etc/ca.pem").unwrap_err();
        assert!(e.message().starts_with("$.tls_ca_file: /etc/ca.pem: contains no"), "{e}");
        let ca = rcgen::generate_simple_self_signed(vec!["x.test".into()]).unwrap();
        let got = trust_anchors(ca.cert.pem().as_bytes(), "$.tls_ca_pem", "").unwrap();
        assert_eq!(got.len(), 1);
    }
}
