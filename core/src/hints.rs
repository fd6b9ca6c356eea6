//! Hints a person can act on (§5). This is the one place that writes them: the session, TLS and
//! auth layers report an error kind, a stage, the server's reply and a typed [`Cause`]; this
//! module turns those, with how the profile was set up and what the server offered, into the
//! sentence. It never reads another library's message text.

use crate::error::{Cause, CertificateProblem, Error, ErrorKind, NoMechanism, Stage};
use crate::profile::Profile;
use crate::resolve::Settings;
use crate::session::TlsMode;

/// What the connection knew when it failed.
#[derive(Debug, Clone, Copy, Default)]
pub struct Context<'a> {
    /// The AUTH mechanisms the server offered, if EHLO got that far.
    pub offered_auth: Option<&'a [String]>,
    /// Whether TLS was active when the failure happened.
    pub tls_active: bool,
    /// Whether the server offered STARTTLS.
    pub starttls_offered: bool,
}

/// A hint for `err`, or `None` when there is nothing useful to add.
pub fn hint_for(err: &Error, s: &Settings, cx: Context<'_>) -> Option<String> {
    if let Some(cause) = err.cause() {
        return Some(cause_hint(cause, s, cx));
    }
    let (port, host) = (s.port, &s.host);
    let code = err.code();
    if code == Some(421) {
        return Some("the server is busy or shutting down and closed the connection (421): try again later".to_owned());
    }
    if let Some(what) = deferred(err) {
        return Some(format!(
            "the server deferred the {what} ({}): a temporary condition on its side (greylisting, a rate limit, \
             a busy back end); try again later",
            code.unwrap_or_default()
        ));
    }
    match (err.kind(), err.stage()) {
        (ErrorKind::Dns, _) => Some(format!("the name `{host}` does not resolve: check the server field")),
        (ErrorKind::Connect | ErrorKind::Timeout, Some(Stage::Connect)) if s.socket.is_some() => {
            Some("the Unix socket cannot be reached: check the server field's path and that the server runs".to_owned())
        }
        (ErrorKind::Connect | ErrorKind::Timeout, Some(Stage::Connect)) => {
            Some(format!("{host}:{port} cannot be reached: check the server, the port, and any firewall between"))
        }
        (ErrorKind::Io, Some(Stage::Greeting)) => Some(format!(
            "the server closed the connection without a greeting: it may refuse this client or be overloaded \
             (try again later), or port {port} may expect implicit TLS (port 465 does)"
        )),
        (ErrorKind::Protocol, Some(Stage::Greeting)) => Some(match code {
            Some(554) => "the server refuses connections from this host (554): check its access rules or \
                          blocklists, or use the submission port 587"
                .to_owned(),
            _ => "the server did not greet with 220".to_owned(),
        }),
        (ErrorKind::Protocol, Some(Stage::Ehlo)) if err.reply().is_some_and(crate::Reply::is_transient) => {
            Some("the server is temporarily unavailable: try again later".to_owned())
        }
        (ErrorKind::Protocol, Some(Stage::Ehlo)) => Some(
            "the server refused the greeting: check helo_name (some servers want a fully qualified host name)"
                .to_owned(),
        ),
        (ErrorKind::AuthFailed | ErrorKind::AuthUnsupported | ErrorKind::Protocol, Some(Stage::Auth)) => {
            auth_reply_hint(err)
        }
        (ErrorKind::SenderRejected, _) => {
            Some("the server refused the sender: the account may not send as this address".to_owned())
        }
        (ErrorKind::RecipientRejected, _) => match code {
            Some(554 | 550) if err.reply().is_some_and(|r| r.text.to_ascii_lowercase().contains("relay")) => {
                Some("relaying denied: authenticate (requires_authentication) or send to a local domain".to_owned())
            }
            _ => Some("the server refused every recipient".to_owned()),
        },
        (ErrorKind::MessageRejected, _) if code == Some(552) => {
            Some("552: the message is larger than the server accepts".to_owned())
        }
        _ => None,
    }
}

/// What a 4xx refused for now, when it refused part of a mail transaction: the sender, the
/// recipients or the message (a temporary refusal is never about the account or address).
fn deferred(err: &Error) -> Option<&'static str> {
    if !err.reply().is_some_and(crate::Reply::is_transient) {
        return None;
    }
    match err.kind() {
        ErrorKind::SenderRejected => Some("sender"),
        ErrorKind::RecipientRejected => Some("recipients"),
        ErrorKind::MessageRejected => Some("message"),
        _ => None,
    }
}

/// The hint for a typed cause (every cause has one).
fn cause_hint(cause: &Cause, s: &Settings, cx: Context<'_>) -> String {
    let (port, host) = (s.port, &s.host);
    let implicit = s.tls == TlsMode::Implicit;
    let proxy = s.proxy.as_ref().map(crate::proxy::Proxy::authority).unwrap_or_default();
    match cause {
        Cause::ConnectionRefused if s.socket.is_some() => {
            "nothing accepts connections on the Unix socket: is the server running?".to_owned()
        }
        Cause::ConnectionRefused => {
            format!("nothing accepts connections on {host}:{port}: check the server and the port")
        }
        Cause::ProxyUnreachable => format!(
            "could not reach the proxy at {proxy}: check the proxy field (host and port) and that the proxy is running"
        ),
        Cause::ProxyAuthFailed => {
            format!("proxy authentication failed at {proxy}: check the user name in the proxy URL and proxy_password")
        }
        Cause::ProxyNoAnswer => format!(
            "the proxy at {proxy} did not open the connection to {host}:{port} in time: the server may be down \
             or unreachable from the proxy, or the proxy overloaded"
        ),
        Cause::ProxyRefusedTarget => format!(
            "the proxy refused the connection to {host}:{port}: the proxy's rules may not allow this server or port,              or the server is down behind it"
        ),
        Cause::NoTlsAnswer | Cause::PlainTextOnTlsPort if implicit => format!(
            "the server speaks plain SMTP on port {port}, not implicit TLS: use STARTTLS (tls_mode starttls) \
             or the implicit-TLS port 465"
        ),
        Cause::NoTlsAnswer | Cause::PlainTextOnTlsPort => {
            "the server did not answer the TLS handshake with TLS: check that this port speaks TLS after \
             STARTTLS"
                .to_owned()
        }
        Cause::ClosedDuringTls => "the server closed the connection during the TLS handshake: check that this port \
                                   speaks TLS (465 implicit TLS, 587/25 STARTTLS)"
            .to_owned(),
        Cause::TlsOnPlainPort | Cause::NoGreeting if !implicit => format!(
            "no greeting on port {port}: the port may expect implicit TLS (port 465 does): set \
             encrypted_connection with tls_mode implicit"
        ),
        Cause::TlsOnPlainPort | Cause::NoGreeting => {
            "the server sent no greeting after the TLS handshake: the server or a firewall is holding the \
             connection"
                .to_owned()
        }
        Cause::TlsIncompatible => "the server supports no TLS version or cipher in common with relaykit (TLS 1.2+ \
                                   with modern ciphers)"
            .to_owned(),
        Cause::Certificate(p) => certificate_hint(*p, host),
        Cause::StartTlsNotOffered => format!(
            "the server on port {port} does not offer STARTTLS: use its implicit-TLS port (465) with tls_mode \
             implicit, or clear encrypted_connection"
        ),
        Cause::NoMechanism(why) => no_mechanism_hint(*why, s, cx),
        Cause::NtlmHelperMissing => "install ntlm_auth (package samba-common-bin and winbind on Debian/Ubuntu, \
                                     samba-winbind-clients on Fedora/RHEL) on a domain-joined machine, or use SSPI on \
                                     Windows, or give a user name and password"
            .to_owned(),
        Cause::NtlmHelperRefused => {
            "check that winbind runs and the logged-on user is a domain user with cached credentials".to_owned()
        }
        Cause::NtlmNoCachedCredentials => {
            "log in with a domain account through winbind, or give a user name and password".to_owned()
        }
        Cause::ServerNotProven => "this may not be the server you meant, or someone is intercepting the connection: \
                                   check the server name, and use a verified TLS connection (encrypted_connection \
                                   with tls_verify)"
            .to_owned(),
        Cause::TooLarge => "the message is larger than the server's SIZE limit: send smaller attachments".to_owned(),
        Cause::No8BitMime => {
            "the server does not take 8-bit content: encode it as quoted-printable or base64".to_owned()
        }
        Cause::NoSmtpUtf8 => "the server does not take non-ASCII addresses (no SMTPUTF8): use ASCII addresses with \
                              this server"
            .to_owned(),
        Cause::ClientCertificateRequired => "the server admits only clients with a certificate: give \
                                             tls_client_cert_file and tls_client_key_file (or their inline forms)"
            .to_owned(),
        Cause::ClientCertificateRefused => "the server refused the client certificate: give one issued by a CA \
                                            the server trusts for clients, not expired (tls_client_cert_file)"
            .to_owned(),
        Cause::TokenProvider => "the error is the token provider's, not the server's: check how it obtains access \
                                 tokens (its token endpoint, client credentials and scopes)"
            .to_owned(),
        Cause::TokenRejected => "535: the server rejected the OAuth2 access token: it may have expired or been \
                                 revoked, be for another user than the profile's username, or lack the mail scope"
            .to_owned(),
        Cause::NoRequireTls => "the message requires REQUIRETLS: send it over TLS (encrypted_connection or \
                                STARTTLS) to a server that offers REQUIRETLS, or turn requiretls off"
            .to_owned(),
        Cause::DsnRequired => "the server does not offer DSN: set dsn.required to false to send without delivery \
                               notifications, or use a server that offers DSN"
            .to_owned(),
    }
}

fn certificate_hint(p: CertificateProblem, host: &crate::profile::Host) -> String {
    match p {
        CertificateProblem::Untrusted => format!(
            "the certificate of {host} is not trusted: give its CA in tls_ca_file or tls_ca_pem (or, for a \
             test server only, set tls_verify false)"
        ),
        CertificateProblem::WrongName => {
            format!("the certificate is not valid for {host}: use the host name the certificate names")
        }
        CertificateProblem::Expired => {
            "the server's certificate has expired: ask its administrator to renew it".to_owned()
        }
        CertificateProblem::NotYetValid => "the certificate is not valid yet: check this machine's clock".to_owned(),
    }
}

/// The hint for the reply that ended authentication.
fn auth_reply_hint(err: &Error) -> Option<String> {
    let enhanced = err.enhanced_code();
    Some(match err.code()? {
        535 => "535: user name or password rejected".to_owned(),
        534 if enhanced == Some("5.7.9") => "allow a stronger mechanism (auth_mechanisms), or use TLS".to_owned(),
        534 => "534: the server wants another way to log in (an app password or OAuth2): see its text".to_owned(),
        538 => "use TLS: encrypted_connection, or starttls opportunistic".to_owned(),
        530 => "the server wants STARTTLS before AUTH: enable TLS".to_owned(),
        454 => "454: temporary authentication failure at the server; try again later".to_owned(),
        503 => "already authenticated, or AUTH before EHLO".to_owned(),
        500 | 502 | 504 => "the server does not support this mechanism: allow another one (auth_mechanisms)".to_owned(),
        code => format!("{code}: the server refused the login"),
    })
}

fn no_mechanism_hint(why: NoMechanism, s: &Settings, cx: Context<'_>) -> String {
    let offered = cx.offered_auth.unwrap_or_default();
    match why {
        NoMechanism::NoneOffered if !cx.tls_active && cx.starttls_offered => {
            "the server offers no AUTH before STARTTLS: set encrypted_connection, or keep starttls opportunistic"
                .to_owned()
        }
        NoMechanism::NoneOffered => {
            "the server offers no authentication on this port: send without authentication, or try the \
             submission port 587 or 465"
                .to_owned()
        }
        NoMechanism::OnlyUnsupported => "ask the server's administrator to enable one of SCRAM-SHA-256, SCRAM-SHA-1, \
                                         NTLM, CRAM-MD5, PLAIN or LOGIN"
            .to_owned(),
        NoMechanism::PlaintextWithoutTls if s.auth.as_ref().is_some_and(|a| a.allow_plaintext_password) => {
            format!("the server offers {}, none of which the profile allows (auth_mechanisms)", offered.join(", "))
        }
        NoMechanism::PlaintextWithoutTls => format!(
            "the server offers only {} without TLS, and relaykit never sends a password in clear: use STARTTLS \
             or implicit TLS, or set allow_plaintext_password",
            offered.join(" and ")
        ),
        NoMechanism::NotAllowed => {
            format!("the server offers {}, none of which the profile allows (auth_mechanisms)", offered.join(", "))
        }
    }
}

/// The §1 keys (and Test's option paths) a failure can concern, as the JSON paths
/// [`field_for`] returns.
const FIELD_PATHS: &[&str] = &[
    "$.version",
    "$.id",
    "$.server",
    "$.port",
    "$.encrypted_connection",
    "$.tls_mode",
    "$.starttls",
    "$.requires_authentication",
    "$.username",
    "$.password",
    "$.password_encrypted",
    "$.use_ntlm_current_user",
    "$.auth_mechanisms",
    "$.auth_order",
    "$.allow_plaintext_password",
    "$.tls_verify",
    "$.tls_ca_file",
    "$.tls_ca_pem",
    "$.helo_name",
    "$.timeout_secs",
    "$.tls_client_cert_file",
    "$.tls_client_cert_pem",
    "$.tls_client_key_file",
    "$.tls_client_key",
    "$.proxy",
    "$.proxy_password",
    "$.protocol",
    "options.relay_check.from",
    "options.relay_check.to",
];

/// The one path of [`FIELD_PATHS`] that `text` starts with, followed by the end, `:`, `[`,
/// ` ` or `.` (so `$.port` is not found in `$.portal`). Only relaykit's own paths are read:
/// [`Error::field`], or a config error's message, which [`Error::config`] starts with the path.
fn known_path(text: &str) -> Option<&'static str> {
    FIELD_PATHS
        .iter()
        .copied()
        .filter(|p| text.starts_with(p))
        .max_by_key(|p| p.len())
        .filter(|p| text[p.len()..].chars().next().is_none_or(|c| matches!(c, ':' | '[' | ' ' | '.')))
}

/// Which field of the dialog a failure concerns, as a §1 JSON path (`$.password`), so that a
/// form can show the hint beside that field. `None` when no one field is at fault (the server
/// closed the connection, no TLS version in common).
///
/// Config errors name their own path; an RRT error the field the tag was in; a 535 the
/// password; a name that does not resolve the server; a port that answers with the wrong kind
/// of TLS the port when it was typed and the encryption check box when it was the default; a
/// certificate that is not trusted `tls_ca_file`, one for another name the server.
///
/// ```
/// use relaykit::{Error, ErrorKind, Profile};
/// let p = Profile::from_json(r#"{"server": "smtp.example.com"}"#).unwrap();
/// let e = Error::config("$.timeout_secs", "0 is out of range");
/// assert_eq!(relaykit::hints::field_for(&e, &p), Some("$.timeout_secs"));
/// ```
pub fn field_for(err: &Error, profile: &Profile) -> Option<&'static str> {
    let typed_port = profile.port.is_some();
    let port_or_encryption = if typed_port { "$.port" } else { "$.encrypted_connection" };
    if let Some(cause) = err.cause() {
        return match cause {
            Cause::ConnectionRefused | Cause::ProxyRefusedTarget | Cause::ProxyNoAnswer => Some("$.port"),
            Cause::NoTlsAnswer | Cause::PlainTextOnTlsPort | Cause::ClosedDuringTls | Cause::TlsOnPlainPort => {
                Some(port_or_encryption)
            }
            Cause::NoGreeting if !profile.encrypted_connection => Some(port_or_encryption),
            Cause::NoGreeting
            | Cause::TlsIncompatible
            | Cause::TooLarge
            | Cause::No8BitMime
            | Cause::NoSmtpUtf8
            | Cause::TokenProvider
            | Cause::TokenRejected
            | Cause::NoRequireTls
            | Cause::DsnRequired => None,
            Cause::Certificate(CertificateProblem::Untrusted) => Some("$.tls_ca_file"),
            Cause::Certificate(CertificateProblem::WrongName) | Cause::ServerNotProven => Some("$.server"),
            Cause::Certificate(CertificateProblem::Expired | CertificateProblem::NotYetValid) => Some("$.tls_verify"),
            Cause::StartTlsNotOffered => Some(port_or_encryption),
            Cause::NoMechanism(NoMechanism::NoneOffered | NoMechanism::OnlyUnsupported) => {
                Some("$.requires_authentication")
            }
            Cause::NoMechanism(NoMechanism::PlaintextWithoutTls) => Some("$.allow_plaintext_password"),
            Cause::NoMechanism(NoMechanism::NotAllowed) => Some("$.auth_mechanisms"),
            Cause::NtlmHelperMissing | Cause::NtlmHelperRefused | Cause::NtlmNoCachedCredentials => {
                Some("$.use_ntlm_current_user")
            }
            Cause::ClientCertificateRequired | Cause::ClientCertificateRefused => Some("$.tls_client_cert_file"),
            Cause::ProxyAuthFailed if profile.proxy_password().is_some() => Some("$.proxy_password"),
            Cause::ProxyUnreachable | Cause::ProxyAuthFailed => Some("$.proxy"),
        };
    }
    match (err.kind(), err.stage()) {
        (ErrorKind::Config, _) => known_path(err.field().unwrap_or(err.detail())),
        (ErrorKind::Rrt, _) => err.field().and_then(known_path),
        (ErrorKind::Dns, _) => Some("$.server"),
        (ErrorKind::Connect | ErrorKind::Timeout, Some(Stage::Connect)) if profile.socket_path().is_some() => {
            Some("$.server")
        }
        (ErrorKind::Connect | ErrorKind::Timeout, Some(Stage::Connect)) => Some("$.port"),
        (ErrorKind::Io, Some(Stage::Greeting)) => Some(port_or_encryption),
        (ErrorKind::Protocol, Some(Stage::Ehlo)) if !err.reply().is_some_and(crate::Reply::is_transient) => {
            Some("$.helo_name")
        }
        (ErrorKind::AuthFailed, _) if profile.use_ntlm_current_user => Some("$.use_ntlm_current_user"),
        // A password that does not decrypt, or that the server rejected.
        (ErrorKind::Crypto | ErrorKind::AuthFailed, _) => Some("$.password"),
        (ErrorKind::AuthUnsupported, _) => Some("$.auth_mechanisms"),
        (ErrorKind::Protocol, Some(Stage::Auth)) if matches!(err.code(), Some(530 | 538)) => Some(port_or_encryption),
        (ErrorKind::SenderRejected, _) => Some("options.relay_check.from"),
        (ErrorKind::RecipientRejected, _) => Some("options.relay_check.to"),
        _ => None,
    }
}

/// The dialog's advice for a password that holds an RRT while "Encrypted" is checked, or `None`
/// when there is nothing to warn about. An encrypted password is literal (§1, §3): the tag would
/// be encrypted as text and sent as the password.
///
/// ```
/// assert!(relaykit::hints::encrypted_rrt_warning("~ACC::%pw%~", true).is_some());
/// assert!(relaykit::hints::encrypted_rrt_warning("~ACC::%pw%~", false).is_none());
/// assert!(relaykit::hints::encrypted_rrt_warning("pa~ss", true).is_none());
/// ```
pub fn encrypted_rrt_warning(password: &str, encrypted: bool) -> Option<&'static str> {
    (encrypted && crate::rrt::has_tags(password)).then_some(ENCRYPTED_RRT_WARNING)
}

/// The dialog's own words (its Password and Encrypted entries).
pub const ENCRYPTED_RRT_WARNING: &str = "The password looks like an RRT. If you specify the password using RRTs, \
     make sure that the Encrypted check box is cleared, because otherwise the RRT value will be encrypted in the \
     configuration and will be treated as a plain password.";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Reply;
    use crate::rrt::RrtContext;
    use crate::secret::Keyring;

    fn settings(json: &str) -> Settings {
        Profile::from_json(json).unwrap().resolve(&Keyring::new(), &RrtContext::new()).unwrap()
    }

    #[test]
    fn tls_mode_mismatch_names_the_fix_both_ways() {
        let plain_on_465 = settings(r#"{"server": "127.0.0.1", "port": 465}"#);
        let e = Error::new(ErrorKind::Timeout, "no greeting within 2 s").with_stage(Stage::Greeting);
        let e = e.with_cause(Cause::NoGreeting);
        assert!(hint_for(&e, &plain_on_465, Context::default()).unwrap().contains("implicit TLS"));
        let implicit_on_25 =
            settings(r#"{"server": "127.0.0.1", "port": 25, "encrypted_connection": true, "tls_mode": "implicit"}"#);
        let e =
            Error::new(ErrorKind::Tls, "handshake failed").with_stage(Stage::Tls).with_cause(Cause::PlainTextOnTlsPort);
        assert!(hint_for(&e, &implicit_on_25, Context::default()).unwrap().contains("STARTTLS"));
    }

    #[test]
    fn every_cause_has_a_hint() {
        let s = settings(r#"{"server": "127.0.0.1"}"#);
        let causes = [
            Cause::ConnectionRefused,
            Cause::NoTlsAnswer,
            Cause::ClosedDuringTls,
            Cause::PlainTextOnTlsPort,
            Cause::TlsOnPlainPort,
            Cause::TlsIncompatible,
            Cause::Certificate(CertificateProblem::Untrusted),
            Cause::StartTlsNotOffered,
            Cause::NoGreeting,
            Cause::NoMechanism(NoMechanism::NoneOffered),
            Cause::NtlmHelperMissing,
            Cause::ServerNotProven,
            Cause::TooLarge,
            Cause::No8BitMime,
            Cause::NoSmtpUtf8,
            Cause::NoRequireTls,
            Cause::DsnRequired,
            Cause::ClientCertificateRequired,
            Cause::ClientCertificateRefused,
        ];
        for c in causes {
            let e = Error::new(ErrorKind::Protocol, "x").with_cause(c.clone());
            assert!(hint_for(&e, &s, Context::default()).is_some_and(|h| !h.is_empty()), "{c:?}");
        }
        let e = Error::new(ErrorKind::Tls, "x").with_cause(Cause::Certificate(CertificateProblem::Untrusted));
        assert!(hint_for(&e, &s, Context::default()).unwrap().contains("tls_ca_file"));
        let e = Error::new(ErrorKind::AuthUnsupported, "x").with_cause(Cause::NtlmHelperMissing);
        assert!(hint_for(&e, &s, Context::default()).unwrap().contains("samba-common-bin"));
    }

    #[test]
    fn temporary_refusals_say_try_again_not_what_a_permanent_one_would() {
        let s = settings(r#"{"server": "127.0.0.1"}"#);
        let reply = |code, text: &str| Reply { code, enhanced_code: None, text: text.into() };
        let e = Error::new(ErrorKind::SenderRejected, "MAIL FROM refused")
            .with_stage(Stage::MailFrom)
            .with_reply(reply(451, "4.3.0 try later"));
        let h = hint_for(&e, &s, Context::default()).unwrap();
        assert!(h.contains("deferred the sender (451)") && h.contains("try again later"), "{h}");
        assert!(!h.contains("may not send as"), "{h}");
        let e = e.with_reply(reply(553, "5.7.1 not yours"));
        assert!(hint_for(&e, &s, Context::default()).unwrap().contains("may not send as this address"));
        for stage in [Stage::Greeting, Stage::MailFrom, Stage::RcptTo, Stage::Auth, Stage::Rset] {
            let e = Error::new(ErrorKind::Protocol, "closing").with_stage(stage).with_reply(reply(421, "bye"));
            assert!(hint_for(&e, &s, Context::default()).unwrap().contains("(421): try again later"), "{stage:?}");
        }
    }

    #[test]
    fn auth_hints() {
        let s =
            settings(r#"{"server": "127.0.0.1", "requires_authentication": true, "username": "u", "password": "p"}"#);
        let e = Error::new(ErrorKind::AuthFailed, "PLAIN rejected").with_stage(Stage::Auth).with_reply(Reply {
            code: 535,
            enhanced_code: Some("5.7.8".into()),
            text: "Error: authentication failed".into(),
        });
        assert_eq!(hint_for(&e, &s, Context::default()).unwrap(), "535: user name or password rejected");
        let offered = vec!["PLAIN".to_owned(), "LOGIN".to_owned()];
        let e = Error::new(ErrorKind::AuthUnsupported, "no mechanism")
            .with_cause(Cause::NoMechanism(NoMechanism::PlaintextWithoutTls));
        let cx = Context { offered_auth: Some(&offered), tls_active: false, starttls_offered: false };
        assert!(hint_for(&e, &s, cx).unwrap().contains("allow_plaintext_password"));
        let e = Error::new(ErrorKind::AuthUnsupported, "no mechanism")
            .with_cause(Cause::NoMechanism(NoMechanism::NoneOffered));
        let cx = Context { offered_auth: Some(&[]), tls_active: false, starttls_offered: true };
        assert!(hint_for(&e, &s, cx).unwrap().contains("no AUTH before STARTTLS"));
    }

    fn profile(json: &str) -> Profile {
        Profile::from_json(json).unwrap()
    }

    #[test]
    fn config_errors_concern_their_own_path() {
        let any = profile(r#"{"server": "127.0.0.1"}"#);
        for (json, path) in [
            (r#"{"server": ""}"#, "$.server"),
            (r#"{"server": "a", "port": 0}"#, "$.port"),
            (r#"{"server": "a", "timeout_secs": 0}"#, "$.timeout_secs"),
            (r#"{"server": "a", "requires_authentication": true}"#, "$.username"),
            (r#"{"server": "a", "requires_authentication": true, "username": "u"}"#, "$.password"),
            (r#"{"server": "a", "tls_mode": "implicit"}"#, "$.tls_mode"),
            (r#"{"server": "a", "auth_mechanisms": ["NOPE"]}"#, "$.auth_mechanisms"),
            (r#"{"server": "a", "tls_ca_file": ""}"#, "$.tls_ca_file"),
        ] {
            let e = Profile::from_json(json).unwrap_err();
            assert_eq!(field_for(&e, &any), Some(path), "{json}: {e}");
        }
        // A key that is not a field of the form concerns none.
        let e = Profile::from_json(r#"{"server": "a", "prot": 1}"#).unwrap_err();
        assert_eq!(field_for(&e, &any), None, "{e}");
        // `$.portal` is not `$.port`.
        assert_eq!(known_path("$.portal: x"), None);
        let p = profile(r#"{"server": "127.0.0.1", "tls_ca_file": "/nonexistent/ca.pem"}"#);
        let e = p.resolve(&Keyring::new(), &RrtContext::new()).unwrap_err();
        assert_eq!(field_for(&e, &p), Some("$.tls_ca_file"), "{e}");
        let e = crate::TestOptions::from_json(r#"{"relay_check": {"from": "a@b"}}"#).unwrap_err();
        assert_eq!(field_for(&e, &any), Some("options.relay_check.to"), "{e}");
    }

    #[test]
    fn every_profile_key_is_a_field_a_hint_may_name() {
        // The keys serde lists for an unknown one are the profile's JSON keys, all of them.
        let e = Profile::from_json(r#"{"server": "a", "no_such_key": 1}"#).unwrap_err();
        let text = e.message();
        let keys: Vec<&str> = text.split("expected one of ").nth(1).unwrap().split('`').skip(1).step_by(2).collect();
        assert!(keys.len() > 20, "{keys:?}");
        for k in keys {
            let path = format!("$.{k}");
            assert!(FIELD_PATHS.contains(&path.as_str()), "{path} is missing from FIELD_PATHS");
        }
    }

    #[test]
    fn rrt_errors_concern_the_field_the_tag_was_in() {
        let ctx = RrtContext::new();
        let p = profile(
            r#"{"server": "127.0.0.1", "requires_authentication": true, "username": "~ACC::%user%~", "password": "p"}"#,
        );
        let e = p.resolve(&Keyring::new(), &ctx).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Rrt);
        assert_eq!(e.field(), Some("$.username"), "the field travels as data, not as text to parse");
        assert_eq!(field_for(&e, &p), Some("$.username"), "{e}");
        let p = profile(
            r#"{"server": "~ACC::%host%~", "requires_authentication": true, "username": "u", "password": "p"}"#,
        );
        assert_eq!(field_for(&p.resolve(&Keyring::new(), &ctx).unwrap_err(), &p), Some("$.server"));
        let p =
            profile(r#"{"server": "a", "requires_authentication": true, "username": "u", "password": "~ACC::%@pw%~"}"#);
        assert_eq!(field_for(&p.resolve(&Keyring::new(), &ctx).unwrap_err(), &p), Some("$.password"));
        let mut ctx = RrtContext::new();
        ctx.set_restricted("ACC", "u", "x").unwrap();
        let p =
            profile(r#"{"server": "a", "requires_authentication": true, "username": "~ACC::%@u%~", "password": "p"}"#);
        let e = p.resolve(&Keyring::new(), &ctx).unwrap_err();
        assert!(e.message().contains("restricted"), "{e}");
        assert_eq!(field_for(&e, &p), Some("$.username"));
    }

    #[test]
    fn session_failures_concern_the_field_to_change() {
        let auth = profile(r#"{"server": "a", "requires_authentication": true, "username": "u", "password": "p"}"#);
        let e = Error::new(ErrorKind::AuthFailed, "PLAIN rejected").with_stage(Stage::Auth).with_reply(Reply {
            code: 535,
            enhanced_code: Some("5.7.8".into()),
            text: "bad".into(),
        });
        assert_eq!(field_for(&e, &auth), Some("$.password"));
        let e = Error::new(ErrorKind::Dns, "no such host").with_stage(Stage::Dns);
        assert_eq!(field_for(&e, &auth), Some("$.server"));
        let e = Error::new(ErrorKind::Timeout, "connect").with_stage(Stage::Connect);
        assert_eq!(field_for(&e, &auth), Some("$.port"));
        // A TLS/port mismatch: the port when it was typed, else the check box that chose it.
        let typed = profile(r#"{"server": "a", "port": 465}"#);
        let defaulted = profile(r#"{"server": "a"}"#);
        let e = Error::new(ErrorKind::Timeout, "no greeting").with_stage(Stage::Greeting).with_cause(Cause::NoGreeting);
        assert_eq!(field_for(&e, &typed), Some("$.port"));
        assert_eq!(field_for(&e, &defaulted), Some("$.encrypted_connection"));
        let e = Error::new(ErrorKind::Tls, "x").with_cause(Cause::Certificate(CertificateProblem::Untrusted));
        assert_eq!(field_for(&e, &defaulted), Some("$.tls_ca_file"));
        let e = Error::new(ErrorKind::Tls, "x").with_cause(Cause::Certificate(CertificateProblem::Expired));
        assert_eq!(field_for(&e, &defaulted), Some("$.tls_verify"));
        let e = Error::new(ErrorKind::Tls, "x").with_cause(Cause::TlsIncompatible);
        assert_eq!(field_for(&e, &defaulted), None);
        let e = Error::new(ErrorKind::AuthUnsupported, "x").with_cause(Cause::NoMechanism(NoMechanism::NotAllowed));
        assert_eq!(field_for(&e, &auth), Some("$.auth_mechanisms"));
        let e = Error::new(ErrorKind::Io, "closed").with_stage(Stage::Data);
        assert_eq!(field_for(&e, &auth), None);
    }

    #[test]
    fn the_encrypted_rrt_warning_quotes_the_dialog() {
        let w = encrypted_rrt_warning("~ACC::%$pw%~", true).unwrap();
        assert!(w.contains("make sure that the Encrypted check box is cleared"), "{w}");
        assert!(encrypted_rrt_warning("~WIN::SMTP_PASS~x", true).is_some());
        assert_eq!(encrypted_rrt_warning("~ACC::%pw%~", false), None);
        assert_eq!(encrypted_rrt_warning("a~b~c", true), None, "not a well-formed tag");
    }
}
