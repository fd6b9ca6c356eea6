//! The profile's range and cross-field rules, in one place: [`Profile::validate`] runs them
//! after the JSON reader, after the builder, and before every Test or Send.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::host::{Host, describe_char, parse_host};
use super::{AuthOrder, MAX_TIMEOUT_SECS, Password, Profile};
use crate::auth::Mechanism;
use crate::error::{Error, Result};
use crate::{rrt, secret};

/// A port number from any integer a caller has, or the one error every binding gives for a
/// port out of range (0 included: leave the port unset for the default).
pub(super) fn port_number(n: impl TryInto<u16> + std::fmt::Display + Copy) -> Result<u16> {
    n.try_into().ok().filter(|&p| p != 0).ok_or_else(|| {
        Error::config("$.port", format!("{n} is out of range: a port is 1 to 65535 (leave it unset for the default)"))
    })
}

impl Profile {
    /// Checks every key, naming the JSON path and the reason of the first problem.
    pub fn validate(&self) -> Result<()> {
        validate_server(&self.server)?;
        if let Some(p) = self.port {
            port_number(p)?;
        }
        self.validate_tls()?;
        self.validate_auth()?;
        self.validate_reach()?;
        if let Some(h) = &self.helo_name {
            validate_helo(h)?;
        }
        if !self.timeout_secs.is_finite() || self.timeout_secs <= 0.0 || self.timeout_secs > MAX_TIMEOUT_SECS {
            return Err(Error::config(
                "$.timeout_secs",
                format!(
                    "{} is out of range: give more than 0 and at most {MAX_TIMEOUT_SECS} seconds",
                    self.timeout_secs
                ),
            ));
        }
        if let Some(id) = &self.id {
            if id.is_empty() || id.len() > 256 || id.chars().any(char::is_control) {
                return Err(Error::config("$.id", "must be 1 to 256 characters without control characters"));
            }
        }
        Ok(())
    }

    fn validate_tls(&self) -> Result<()> {
        if self.tls_mode.is_some() && !self.encrypted_connection {
            return Err(Error::config("$.tls_mode", "applies only when encrypted_connection is true"));
        }
        if self.starttls.is_some() && self.encrypted_connection {
            return Err(Error::config(
                "$.starttls",
                "applies only when encrypted_connection is false (an encrypted connection always requires TLS)",
            ));
        }
        if let Some(pem) = &self.tls_ca_pem {
            if !pem.contains("-----BEGIN CERTIFICATE-----") {
                return Err(Error::config("$.tls_ca_pem", "contains no PEM certificate (-----BEGIN CERTIFICATE-----)"));
            }
        }
        if self.tls_ca_file.as_deref() == Some("") {
            return Err(Error::config("$.tls_ca_file", "is empty"));
        }
        self.validate_client_certificate()
    }

    fn validate_auth(&self) -> Result<()> {
        if let Some(u) = &self.username {
            if u.chars().any(char::is_control) {
                return Err(Error::config("$.username", "contains a control character"));
            }
        }
        match &self.password {
            Some(Password::Plain(p)) if p.expose().contains('\0') => {
                return Err(Error::config("$.password", "contains a NUL character"));
            }
            Some(Password::Encrypted(env)) if !env.starts_with(secret::ENVELOPE_PREFIX) => {
                return Err(Error::config(
                    "$.password",
                    "password_encrypted is true but the password is not an `enc:v1:<key-id>:<data>` envelope",
                ));
            }
            _ => {}
        }
        if self.use_ntlm_current_user && !self.requires_authentication {
            return Err(Error::config("$.use_ntlm_current_user", "needs requires_authentication to be true"));
        }
        if self.requires_authentication && !self.use_ntlm_current_user && !self.external_only() {
            if self.username.as_deref().is_none_or(str::is_empty) {
                return Err(Error::config("$.username", "required when requires_authentication is true"));
            }
            // A profile whose allow-list has only token mechanisms may leave the password out:
            // a token provider gives the tokens (#15); without one, resolving it says so.
            let tokens_only = self.auth_mechanisms.as_ref().is_some_and(|l| {
                !l.is_empty() && l.iter().all(|n| Mechanism::from_name(n).is_some_and(Mechanism::takes_token))
            });
            if self.password.is_none() && !tokens_only {
                return Err(Error::config("$.password", "required when requires_authentication is true"));
            }
        }
        self.validate_mechanisms()
    }

    fn validate_mechanisms(&self) -> Result<()> {
        let Some(list) = &self.auth_mechanisms else {
            if self.auth_order == AuthOrder::AsListed {
                return Err(Error::config("$.auth_order", "`as_listed` needs auth_mechanisms"));
            }
            return Ok(());
        };
        if list.is_empty() {
            return Err(Error::config("$.auth_mechanisms", "is empty: leave it out to allow every mechanism"));
        }
        for (i, name) in list.iter().enumerate() {
            let path = format!("$.auth_mechanisms[{i}]");
            if Mechanism::from_name(name).is_none() {
                let known: Vec<&str> = Mechanism::ALL.iter().map(|m| m.name()).collect();
                return Err(Error::config(
                    &path,
                    format!("unknown mechanism `{name}`; supported: {}", known.join(", ")),
                ));
            }
            if list[..i].iter().any(|n| n.eq_ignore_ascii_case(name)) {
                return Err(Error::config(&path, format!("`{name}` is listed twice")));
            }
        }
        if self.use_ntlm_current_user && !list.iter().any(|n| n.eq_ignore_ascii_case("NTLM")) {
            return Err(Error::config("$.auth_mechanisms", "must include NTLM when use_ntlm_current_user is true"));
        }
        self.validate_external()
    }
}

/// Validates the server field before expansion: required, and where it has no tags, a host.
/// With tags, the literal parts may not contain spaces or control characters; the expanded
/// value is checked again at Test or Send.
fn validate_server(server: &str) -> Result<()> {
    if server.trim().is_empty() {
        return Err(Error::config("$.server", "is required and cannot be empty"));
    }
    if let Some(path) = server.trim().strip_prefix(super::SOCKET_PREFIX) {
        return super::reach::validate_socket(path);
    }
    let pieces = rrt::parse(server);
    if pieces.iter().all(|p| matches!(p, rrt::Piece::Literal { .. })) {
        return parse_host(server, "$.server").map(|_| ());
    }
    for p in pieces {
        if let rrt::Piece::Literal { text, .. } = p {
            if let Some(c) = text.chars().find(|c| c.is_whitespace() || c.is_control()) {
                return Err(Error::config(
                    "$.server",
                    format!("contains {}: a host name has no spaces or control characters", describe_char(c)),
                ));
            }
        }
    }
    Ok(())
}

pub(super) fn validate_helo(h: &str) -> Result<()> {
    // An address literal ([192.0.2.1], [IPv6:…]) or a host name.
    if let Some(inner) = h.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        let ok = inner.parse::<Ipv4Addr>().is_ok()
            || inner.strip_prefix("IPv6:").is_some_and(|a| a.parse::<Ipv6Addr>().is_ok());
        return if ok {
            Ok(())
        } else {
            Err(Error::config(
                "$.helo_name",
                format!("`{h}` is not an address literal like [192.0.2.1] or [IPv6:2001:db8::1]"),
            ))
        };
    }
    match parse_host(h, "$.helo_name")? {
        Host::Name(_) => Ok(()),
        _ => Err(Error::config("$.helo_name", format!("an IP address must be written as an address literal: [{h}]"))),
    }
}
