//! The way out to the SMTP server when the network allows only a proxy (#15): SOCKS5 (RFC 1928,
//! username/password from RFC 1929) through `tokio-socks`, with `socks5h` letting the proxy
//! resolve the server's name, and HTTP CONNECT (RFC 9110 §9.3.6), a few lines on tokio.
//!
//! The proxy's password is a secret like the SMTP password: kept in a [`SecretString`], never
//! in Debug output, errors or traces.
//!
//! ```
//! use relaykit::proxy::{Proxy, ProxyScheme};
//! let p = Proxy::parse("socks5h://relay:s3cret@proxy.example.com:1080").unwrap();
//! assert_eq!(p.scheme(), ProxyScheme::Socks5h);
//! assert_eq!(p.authority(), "proxy.example.com:1080");
//! assert!(!format!("{p:?}").contains("s3cret"));
//! let e = Proxy::parse("ftp://proxy.example.com").unwrap_err();
//! assert!(e.message().starts_with("$.proxy: "));
//! ```

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use percent_encoding::percent_decode_str;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;

use crate::error::{Cause, Error, ErrorKind, Result, Stage};
use crate::secret::SecretString;

/// How the proxy is spoken to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyScheme {
    /// SOCKS5; relaykit resolves the server's name and gives the proxy an address.
    Socks5,
    /// SOCKS5; the proxy resolves the server's name (for networks without outside DNS).
    Socks5h,
    /// HTTP CONNECT.
    Http,
}

/// A parsed proxy URL: `socks5://[user:pass@]host:port`, `socks5h://…` or `http://…`.
#[derive(Clone, PartialEq, Eq)]
pub struct Proxy {
    scheme: ProxyScheme,
    host: String,
    port: u16,
    user: Option<String>,
    password: Option<SecretString>,
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("scheme", &self.scheme)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// The error for a malformed proxy URL, naming the field. The URL is never quoted: it may hold
/// the proxy's password.
fn malformed(reason: impl fmt::Display) -> Error {
    Error::config("$.proxy", reason)
}

impl Proxy {
    /// Parses a proxy URL; the error names `$.proxy` and what is wrong, never the password.
    pub fn parse(text: &str) -> Result<Proxy> {
        let url = url::Url::parse(text).map_err(|e| {
            malformed(format_args!(
                "not a proxy URL ({e}); write socks5://[user:pass@]host:port, socks5h://… or http://…"
            ))
        })?;
        let scheme = match url.scheme() {
            "socks5" => ProxyScheme::Socks5,
            "socks5h" => ProxyScheme::Socks5h,
            "http" => ProxyScheme::Http,
            other => {
                return Err(malformed(format_args!(
                    "scheme `{other}` is not supported: use socks5, socks5h or http (HTTP CONNECT)"
                )));
            }
        };
        let host = match url.host() {
            Some(url::Host::Domain(d)) => d.to_owned(),
            Some(url::Host::Ipv4(a)) => a.to_string(),
            Some(url::Host::Ipv6(a)) => a.to_string(),
            None => return Err(malformed("the proxy URL has no host")),
        };
        let port =
            url.port().ok_or_else(|| malformed("the proxy URL has no port (e.g. :1080 for SOCKS, :3128 for HTTP)"))?;
        if url.path() != "/" && !url.path().is_empty() || url.query().is_some() || url.fragment().is_some() {
            return Err(malformed("a proxy URL is scheme://[user:pass@]host:port, with nothing after the port"));
        }
        let decode = |s: &str, what: &str| {
            percent_decode_str(s)
                .decode_utf8()
                .map(std::borrow::Cow::into_owned)
                .map_err(|_| malformed(format_args!("the proxy {what} is not UTF-8 once percent-decoded")))
        };
        let user = match url.username() {
            "" => None,
            u => Some(decode(u, "user name")?),
        };
        let password = match url.password() {
            None => None,
            Some(p) => Some(SecretString::new(decode(p, "password")?)),
        };
        if password.is_some() && user.is_none() {
            return Err(malformed("the proxy URL has a password but no user name"));
        }
        if scheme != ProxyScheme::Http {
            // RFC 1929: each is 1 to 255 bytes.
            let too_long = user.as_ref().is_some_and(|u| u.len() > 255)
                || password.as_ref().is_some_and(|p| p.expose().is_empty() || p.expose().len() > 255);
            if too_long {
                return Err(malformed("a SOCKS5 user name and password are 1 to 255 bytes each (RFC 1929)"));
            }
        }
        Ok(Proxy { scheme, host, port, user, password })
    }

    /// The password for the proxy, if any.
    pub fn password(&self) -> Option<&SecretString> {
        self.password.as_ref()
    }

    /// The user name for the proxy, if any.
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// Sets (or replaces) the password, as the profile's `proxy_password` does over a
    /// password in the URL; the error names `$.proxy_password`.
    pub fn set_password(&mut self, password: SecretString) -> Result<()> {
        if self.user.is_none() {
            return Err(Error::config("$.proxy_password", "the proxy URL has no user name to go with it"));
        }
        if self.scheme != ProxyScheme::Http && (password.expose().is_empty() || password.expose().len() > 255) {
            return Err(Error::config("$.proxy_password", "a SOCKS5 password is 1 to 255 bytes (RFC 1929)"));
        }
        self.password = Some(password);
        Ok(())
    }

    /// The URL scheme: `socks5`, `socks5h` or `http`.
    pub fn scheme_name(&self) -> &'static str {
        match self.scheme {
            ProxyScheme::Socks5 => "socks5",
            ProxyScheme::Socks5h => "socks5h",
            ProxyScheme::Http => "http",
        }
    }

    /// How the proxy is spoken to.
    pub fn scheme(&self) -> ProxyScheme {
        self.scheme
    }

    /// `host:port` of the proxy (an IPv6 address in brackets).
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// Opens a TCP connection to `host:port` through the proxy, within `timeout`. With
    /// [`ProxyScheme::Socks5`] and [`ProxyScheme::Http`] a name is given to the proxy as it
    /// is only for `socks5h`/`http`; for `socks5` the caller resolves it first and passes an
    /// address. Errors are at [`Stage::Proxy`], say "proxy" and name the proxy and the target.
    pub async fn connect(&self, host: &str, port: u16, timeout: Duration) -> Result<TcpStream> {
        let target = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
        // Whether the TCP connection to the proxy is up: a timeout after it is the proxy (or the
        // server behind it) not answering, not the proxy being out of reach.
        let reached = AtomicBool::new(false);
        let work = async {
            match self.scheme {
                ProxyScheme::Socks5 | ProxyScheme::Socks5h => self.socks5(host, port, &target, &reached).await,
                ProxyScheme::Http => self.http_connect(&target, &reached).await,
            }
        };
        match tokio::time::timeout(timeout, work).await {
            Ok(r) => r,
            Err(_) if reached.load(Ordering::Relaxed) => Err(Error::new(
                ErrorKind::Timeout,
                format!("the proxy {} did not open a connection to {target} within {timeout:?}", self.authority()),
            )
            .with_stage(Stage::Proxy)
            .with_cause(Cause::ProxyNoAnswer)),
            Err(_) => Err(Error::new(
                ErrorKind::Timeout,
                format!("could not reach the proxy {} within {timeout:?}", self.authority()),
            )
            .with_stage(Stage::Proxy)
            .with_cause(Cause::ProxyUnreachable)),
        }
    }

    async fn socks5(&self, host: &str, port: u16, target: &str, reached: &AtomicBool) -> Result<TcpStream> {
        use tokio_socks::tcp::Socks5Stream;
        // Our own TCP connection to the proxy, so its failure keeps the OS's reason (tokio-socks
        // would say only "unreachable").
        let socket = self.reach(reached).await?;
        let dest: tokio_socks::TargetAddr<'_> = match host.parse::<std::net::IpAddr>() {
            Ok(ip) => tokio_socks::TargetAddr::Ip((ip, port).into()),
            Err(_) => tokio_socks::TargetAddr::Domain(host.into(), port),
        };
        let r = match (&self.user, &self.password) {
            (Some(u), Some(p)) => Socks5Stream::connect_with_password_and_socket(socket, dest, u, p.expose()).await,
            _ => Socks5Stream::connect_with_socket(socket, dest).await,
        };
        match r {
            Ok(s) => Ok(s.into_inner()),
            Err(e) => Err(self.socks_error(&e, target)),
        }
    }

    /// A SOCKS failure in words a person can act on; the proxy's password is never in them.
    fn socks_error(&self, e: &tokio_socks::Error, target: &str) -> Error {
        use tokio_socks::Error as S;
        let proxy = self.authority();
        let (kind, text, cause) = match e {
            S::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => (
                ErrorKind::Connect,
                format!("the proxy {proxy} refused the connection ({io})"),
                Cause::ProxyUnreachable,
            ),
            S::Io(io) => {
                (ErrorKind::Connect, format!("could not reach the proxy {proxy} ({io})"), Cause::ProxyUnreachable)
            }
            S::PasswordAuthFailure(_) | S::AuthorizationRequired | S::NoAcceptableAuthMethods => {
                (ErrorKind::AuthFailed, format!("proxy authentication failed at {proxy} ({e})"), Cause::ProxyAuthFailed)
            }
            S::ConnectionNotAllowedByRuleset
            | S::ConnectionRefused
            | S::HostUnreachable
            | S::NetworkUnreachable
            | S::TtlExpired => (
                ErrorKind::Connect,
                format!("the proxy {proxy} refused the connection to {target} ({e})"),
                Cause::ProxyRefusedTarget,
            ),
            _ => (
                ErrorKind::Protocol,
                format!("the proxy {proxy} failed the SOCKS5 exchange for {target} ({e})"),
                Cause::ProxyRefusedTarget,
            ),
        };
        Error::new(kind, text).with_stage(Stage::Proxy).with_cause(cause)
    }

    /// The TCP connection to the proxy itself (TCP_NODELAY: the session batches its writes).
    async fn reach(&self, reached: &AtomicBool) -> Result<TcpStream> {
        let proxy = self.authority();
        let tcp = TcpStream::connect((self.host.as_str(), self.port)).await.map_err(|e| {
            let text = if e.kind() == std::io::ErrorKind::ConnectionRefused {
                format!("the proxy {proxy} refused the connection ({e}): is the proxy running there?")
            } else {
                format!("could not reach the proxy {proxy} ({e})")
            };
            Error::new(ErrorKind::Connect, text).with_stage(Stage::Proxy).with_cause(Cause::ProxyUnreachable)
        })?;
        reached.store(true, Ordering::Relaxed);
        tcp.set_nodelay(true)
            .map_err(|e| Error::new(ErrorKind::Io, format!("setting TCP_NODELAY: {e}")).with_stage(Stage::Proxy))?;
        Ok(tcp)
    }

    async fn http_connect(&self, target: &str, reached: &AtomicBool) -> Result<TcpStream> {
        let proxy = self.authority();
        let mut tcp = self.reach(reached).await?;
        let mut req = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
        if let (Some(u), Some(p)) = (&self.user, &self.password) {
            use base64::Engine as _;
            let creds = zeroize::Zeroizing::new(format!("{u}:{}", p.expose()));
            let b64 = zeroize::Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(creds.as_bytes()));
            req.push_str("Proxy-Authorization: Basic ");
            req.push_str(&b64);
            req.push_str("\r\n");
        }
        req.push_str("\r\n");
        let req = zeroize::Zeroizing::new(req);
        let io = |e: std::io::Error| {
            Error::new(ErrorKind::Io, format!("the proxy {proxy} closed the connection during CONNECT ({e})"))
                .with_stage(Stage::Proxy)
        };
        tcp.write_all(req.as_bytes()).await.map_err(io)?;
        // The reply's head, one line at a time through a one-byte buffer, so nothing after the
        // blank line is consumed: the SMTP greeting that follows is the session's to read.
        let mut reader = BufReader::with_capacity(1, &mut tcp);
        let mut status = String::new();
        reader.read_line(&mut status).await.map_err(io)?;
        let mut head_bytes = status.len();
        loop {
            let mut line = String::new();
            let n = reader.read_line(&mut line).await.map_err(io)?;
            head_bytes += n;
            if n == 0 || line == "\r\n" || line == "\n" {
                break;
            }
            if head_bytes > 16 * 1024 {
                return Err(Error::new(
                    ErrorKind::Protocol,
                    format!("the proxy {proxy} sent an endless CONNECT reply"),
                )
                .with_stage(Stage::Proxy));
            }
        }
        drop(reader);
        let code: Option<u16> = status.split_whitespace().nth(1).and_then(|c| c.parse().ok());
        let said = status.trim_end();
        match code {
            Some(200..=299) => Ok(tcp),
            // Tinyproxy answers a wrong password with 401, no credentials with 407: both are the
            // proxy refusing us.
            Some(401 | 407) => Err(Error::new(
                ErrorKind::AuthFailed,
                format!("proxy authentication failed at {proxy} (it answered CONNECT with `{said}`)"),
            )
            .with_stage(Stage::Proxy)
            .with_cause(Cause::ProxyAuthFailed)),
            Some(_) => Err(Error::new(
                ErrorKind::Connect,
                format!("the proxy {proxy} refused the connection to {target} (it answered CONNECT with `{said}`)"),
            )
            .with_stage(Stage::Proxy)
            .with_cause(Cause::ProxyRefusedTarget)),
            None => Err(Error::new(ErrorKind::Protocol, format!("the proxy {proxy} did not answer CONNECT in HTTP"))
                .with_stage(Stage::Proxy)),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn urls_parse_with_percent_decoded_credentials_and_errors_name_the_field_without_the_password() {
        let p = Proxy::parse("http://us%40er:p%3Ass@[::1]:3128").unwrap();
        assert_eq!(p.scheme(), ProxyScheme::Http);
        assert_eq!(p.authority(), "[::1]:3128");
        assert_eq!(p.user.as_deref(), Some("us@er"));
        assert_eq!(p.password.as_ref().unwrap().expose(), "p:ss");
        for (url, want) in [
            ("socks4://h:1", "scheme `socks4` is not supported"),
            ("socks5://h", "no port"),
            ("socks5://:pw@h:1", "password but no user name"),
            ("socks5://h:1/x", "nothing after the port"),
            ("not a url", "not a proxy URL"),
        ] {
            let e = Proxy::parse(url).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Config, "{url}");
            assert!(e.message().starts_with("$.proxy: "), "{url}: {e}");
            assert!(e.message().contains(want), "{url}: {e}");
        }
        let e = Proxy::parse("socks5://u:hunter2-secret@h/").unwrap_err();
        assert!(!e.message().contains("hunter2-secret"), "{e}");
        assert!(!format!("{:?}", Proxy::parse("socks5://u:hunter2-secret@h:1").unwrap()).contains("hunter2"));
    }

    /// A scripted fake (a listener that accepts and never answers): a proxy that takes the
    /// connection and then says nothing cannot be made of Dante or Tinyproxy on demand.
    #[tokio::test]
    async fn a_proxy_that_accepts_and_never_answers_times_out_as_no_answer_not_unreachable() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        // Holds every connection open, answering nothing; aborted when the test ends.
        let hold = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((sock, _)) = l.accept().await {
                held.push(sock);
            }
        });
        for scheme in ["socks5", "http"] {
            let p = Proxy::parse(&format!("{scheme}://127.0.0.1:{port}")).unwrap();
            let e = p.connect("192.0.2.1", 25, Duration::from_millis(300)).await.unwrap_err();
            let got = (e.kind(), e.stage(), e.cause());
            assert_eq!(got, (ErrorKind::Timeout, Some(Stage::Proxy), Some(&Cause::ProxyNoAnswer)), "{scheme}: {e}");
            assert!(e.message().contains("did not open a connection to 192.0.2.1:25"), "{e}");
        }
        hold.abort();
    }
}
