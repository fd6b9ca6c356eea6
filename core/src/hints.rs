//! Hints a person can act on (§5). This is the one place that writes them: the session, TLS and
//! auth layers report an error kind, a stage, the server's reply and a typed [`Cause`]; this
//! module turns those, with how the profile was set up and what the server offered, into the
//! sentence. It never reads another library's message text.

use crate::error::{Cause, CertificateProblem, Error, ErrorKind, NoMechanism, Stage};
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
    match cause {
        Cause::ConnectionRefused => {
            format!("nothing accepts connections on {host}:{port}: check the server and the port")
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Reply;
    use crate::profile::Profile;
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
}
