//! Server addresses: parsing the `server` field (and `helo_name`) into a [`Host`].

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::error::{Error, Result};

/// A server address after RRT expansion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// A DNS name.
    Name(String),
    /// An IPv4 address.
    V4(Ipv4Addr),
    /// An IPv6 address (written without brackets).
    V6(Ipv6Addr),
}

impl Host {
    /// The host as it is given to the resolver and to TLS (IPv6 without brackets).
    pub fn as_string(&self) -> String {
        match self {
            Host::Name(n) => n.clone(),
            Host::V4(a) => a.to_string(),
            Host::V6(a) => a.to_string(),
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(n) => f.write_str(n),
            Host::V4(a) => write!(f, "{a}"),
            Host::V6(a) => write!(f, "[{a}]"),
        }
    }
}

/// Parses an expanded server value into a [`Host`], naming `path` in errors.
pub fn parse_host(s: &str, path: &str) -> Result<Host> {
    if s.is_empty() {
        return Err(Error::config(path, "is empty: give a host name or an IP address"));
    }
    if let Some(c) = s.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::config(
            path,
            format!("contains {}: a host name has no spaces or control characters", describe_char(c)),
        ));
    }
    if let Some(inner) = s.strip_prefix('[') {
        let inner = inner.strip_suffix(']').ok_or_else(|| Error::config(path, "has `[` without a closing `]`"))?;
        return inner
            .parse::<Ipv6Addr>()
            .map(Host::V6)
            .map_err(|_| Error::config(path, format!("`{inner}` in brackets is not an IPv6 address")));
    }
    if let Ok(a) = s.parse::<Ipv6Addr>() {
        return Ok(Host::V6(a));
    }
    if let Ok(a) = s.parse::<Ipv4Addr>() {
        return Ok(Host::V4(a));
    }
    if s.contains(':') {
        return Err(Error::config(
            path,
            format!("`{s}` is not a host name or IP address (give the port in `port`, not after a colon)"),
        ));
    }
    let name = s.strip_suffix('.').unwrap_or(s);
    if name.len() > 253 {
        return Err(Error::config(path, "is longer than 253 characters"));
    }
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(Error::config(path, format!("`{s}` has an empty label or one longer than 63 characters")));
        }
        if !label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') || !label.is_ascii() {
            return Err(Error::config(
                path,
                format!("`{s}` is not a valid host name (letters, digits, `-` and `.` only)"),
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(Error::config(path, format!("`{s}`: a host name label cannot start or end with `-`")));
        }
    }
    if name.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(Error::config(path, format!("`{s}` is not a valid IPv4 address")));
    }
    Ok(Host::Name(name.to_owned()))
}

pub(super) fn describe_char(c: char) -> String {
    if c == ' ' { "a space".to_owned() } else { format!("the character U+{:04X}", c as u32) }
}
