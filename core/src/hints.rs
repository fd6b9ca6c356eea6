//! Hints a person can act on, from what failed, where, and how the profile was set up (§5).

use crate::error::{Error, ErrorKind, Stage};
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
    let port = s.port;
    let host = &s.host;
    let text = err.message().to_ascii_lowercase();
    match (err.kind(), err.stage()) {
        (ErrorKind::Dns, _) => Some(format!("the name `{host}` does not resolve: check the server field")),
        (ErrorKind::Connect, _) if text.contains("refused") => {
            Some(format!("nothing accepts connections on {host}:{port}: check the server and the port"))
        }
        (ErrorKind::Connect | ErrorKind::Timeout, Some(Stage::Connect)) => {
            Some(format!("{host}:{port} cannot be reached: check the server, the port, and any firewall between"))
        }
        (ErrorKind::Timeout, Some(Stage::Greeting)) if s.tls != TlsMode::Implicit => Some(format!(
            "no greeting on port {port}: the port may expect implicit TLS (port 465 does): set \
             encrypted_connection with tls_mode implicit"
        )),
        (ErrorKind::Tls | ErrorKind::Timeout, Some(Stage::Tls)) if s.tls == TlsMode::Implicit && looks_plain(&text) => {
            Some(format!(
                "the server speaks plain SMTP on port {port}, not implicit TLS: use STARTTLS \
                 (tls_mode starttls) or the implicit-TLS port 465"
            ))
        }
        (ErrorKind::Tls, _)
            if text.contains("certificate") || text.contains("unknownissuer") || text.contains("issuer") =>
        {
            Some(format!(
                "the certificate of {host} is not trusted: give its CA in tls_ca_file or tls_ca_pem \
                 (or, for a test server only, set tls_verify false)"
            ))
        }
        (ErrorKind::Tls, _) if s.tls == TlsMode::StartTlsRequired && !cx.starttls_offered => Some(format!(
            "the server on port {port} does not offer STARTTLS: use its implicit-TLS port (465) with \
             tls_mode implicit, or clear encrypted_connection"
        )),
        // No server reply to hint from, and the auth layer named the cause (a server that
        // failed its SCRAM proof): its hint stands.
        (ErrorKind::AuthFailed, _) if err.code().is_none() && err.hint().is_some() => None,
        (ErrorKind::AuthFailed, _) => match err.code() {
            Some(535) => Some("535: user name or password rejected".to_owned()),
            Some(534) => Some("534: the server wants a stronger mechanism or an app password".to_owned()),
            Some(454) => Some("454: temporary authentication failure at the server; try again later".to_owned()),
            Some(code) => Some(format!("{code}: the server refused the login")),
            None => Some("the server did not accept the login".to_owned()),
        },
        (ErrorKind::AuthUnsupported, _) => Some(auth_unsupported_hint(s, cx)),
        (ErrorKind::SenderRejected, _) => {
            Some("the server refused the sender: the account may not send as this address".to_owned())
        }
        (ErrorKind::RecipientRejected, _) => match err.code() {
            Some(554 | 550)
                if text.contains("relay")
                    || err.reply().is_some_and(|r| r.text.to_ascii_lowercase().contains("relay")) =>
            {
                Some("relaying denied: authenticate (requires_authentication) or send to a local domain".to_owned())
            }
            _ => Some("the server refused every recipient".to_owned()),
        },
        (ErrorKind::MessageRejected, _) if err.code() == Some(552) => {
            Some("552: the message is larger than the server accepts".to_owned())
        }
        _ => None,
    }
}

fn looks_plain(text: &str) -> bool {
    text.contains("corrupt message")
        || text.contains("invalidcontenttype")
        || text.contains("content type")
        || text.contains("plain")
        || text.contains("wrong version")
}

fn auth_unsupported_hint(s: &Settings, cx: Context<'_>) -> String {
    let offered = cx.offered_auth.unwrap_or_default();
    if offered.is_empty() {
        return if !cx.tls_active && cx.starttls_offered {
            "the server offers no AUTH before STARTTLS: set encrypted_connection, or keep starttls \
             opportunistic"
                .to_owned()
        } else {
            "the server offers no authentication on this port: try the submission port 587 or 465".to_owned()
        };
    }
    let plain_only = offered.iter().all(|m| m.eq_ignore_ascii_case("PLAIN") || m.eq_ignore_ascii_case("LOGIN"));
    let allowed_plain = s.auth.as_ref().is_some_and(|a| a.allow_plaintext_password);
    if plain_only && !cx.tls_active && !allowed_plain {
        return format!(
            "the server offers only {} without TLS, and relaykit never sends a password in clear: use \
             STARTTLS or implicit TLS, or set allow_plaintext_password",
            offered.join(" and ")
        );
    }
    format!("the server offers {}, none of which the profile allows (auth_mechanisms)", offered.join(", "))
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
        assert!(hint_for(&e, &plain_on_465, Context::default()).unwrap().contains("implicit TLS"));
        let implicit_on_25 =
            settings(r#"{"server": "127.0.0.1", "port": 25, "encrypted_connection": true, "tls_mode": "implicit"}"#);
        let e =
            Error::new(ErrorKind::Tls, "received corrupt message of type InvalidContentType").with_stage(Stage::Tls);
        assert!(hint_for(&e, &implicit_on_25, Context::default()).unwrap().contains("STARTTLS"));
    }

    #[test]
    fn auth_hints() {
        let s =
            settings(r#"{"server": "127.0.0.1", "requires_authentication": true, "username": "u", "password": "p"}"#);
        let e = Error::new(ErrorKind::AuthFailed, "PLAIN rejected").with_reply(Reply {
            code: 535,
            enhanced_code: Some("5.7.8".into()),
            text: "Error: authentication failed".into(),
        });
        assert_eq!(hint_for(&e, &s, Context::default()).unwrap(), "535: user name or password rejected");
        let offered = vec!["PLAIN".to_owned(), "LOGIN".to_owned()];
        let e = Error::new(ErrorKind::AuthUnsupported, "no mechanism");
        let cx = Context { offered_auth: Some(&offered), tls_active: false, starttls_offered: false };
        assert!(hint_for(&e, &s, cx).unwrap().contains("allow_plaintext_password"));
        let cx = Context { offered_auth: Some(&[]), tls_active: false, starttls_offered: true };
        assert!(hint_for(&e, &s, cx).unwrap().contains("no AUTH before STARTTLS"));
    }
}
