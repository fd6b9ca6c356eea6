//! Delivery status notifications (RFC 3461) and List-Unsubscribe (RFC 2369, RFC 8058) fields
//! of a message, and their validation.
//!
//! ```
//! use relaykit::message::Message;
//! let m = Message::from_json(r#"{"from": "a@example.com", "to": "b@example.com", "text": "hi",
//!     "dsn": {"ret": "hdrs", "envid": "inv-42", "notify": ["success", "failure"]}}"#).unwrap();
//! let d = m.dsn.as_ref().unwrap();
//! assert_eq!(d.mail_params(), " RET=HDRS ENVID=inv-42");
//! assert_eq!(d.rcpt_params("b@example.com"), " NOTIFY=SUCCESS,FAILURE");
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// What a notification returns of the message (`RET=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Ret {
    /// The whole message (`RET=FULL`).
    Full,
    /// Only its header (`RET=HDRS`).
    Hdrs,
}

/// When the recipient's server notifies the sender (`NOTIFY=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Notify {
    /// Never (alone only).
    Never,
    /// On delivery.
    Success,
    /// On failure.
    Failure,
    /// On delay.
    Delay,
}

impl Notify {
    fn keyword(self) -> &'static str {
        match self {
            Notify::Never => "NEVER",
            Notify::Success => "SUCCESS",
            Notify::Failure => "FAILURE",
            Notify::Delay => "DELAY",
        }
    }
}

/// Per-recipient DSN settings, overriding the message's.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DsnRecipient {
    /// `NOTIFY=` for this recipient; empty: the message's `notify`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notify: Vec<Notify>,
    /// `ORCPT=rfc822;<address>`: the original recipient address to report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub orcpt: Option<String>,
}

/// The DSN request of a message. JSON: `{"ret": "full"|"hdrs", "envid": "...", "notify":
/// ["success", "failure", "delay"] or ["never"], "orcpt": true, "recipients": {"addr":
/// {"notify": [...], "orcpt": "addr"}}, "required": true}`.
///
/// Sent only to a server that offers `DSN`; when it does not, a `required` request (the
/// default) fails the send before MAIL FROM (cause `dsn_required`), otherwise the message goes
/// without it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Dsn {
    /// `RET=` on MAIL FROM.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ret: Option<Ret>,
    /// `ENVID=` on MAIL FROM (printable ASCII, at most 100 characters; sent xtext-encoded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub envid: Option<String>,
    /// `NOTIFY=` on every RCPT TO (unless the recipient has its own).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notify: Vec<Notify>,
    /// Send `ORCPT=rfc822;<recipient>` on every RCPT TO (unless the recipient has its own).
    pub orcpt: bool,
    /// Per-recipient settings, by envelope address.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub recipients: BTreeMap<String, DsnRecipient>,
    /// Fail the send when the server does not offer DSN (on by default).
    pub required: bool,
}

impl Default for Dsn {
    fn default() -> Self {
        Dsn { ret: None, envid: None, notify: Vec::new(), orcpt: false, recipients: BTreeMap::new(), required: true }
    }
}

fn dsn_err(path: &str, reason: impl std::fmt::Display) -> Error {
    Error::config(&format!("message.dsn.{path}"), reason)
}

fn check_notify(path: &str, n: &[Notify]) -> Result<()> {
    if n.contains(&Notify::Never) && n.len() > 1 {
        return Err(dsn_err(path, "\"never\" cannot be combined with other values"));
    }
    Ok(())
}

fn check_xchars(path: &str, v: &str) -> Result<()> {
    if let Some(c) = v.chars().find(|c| !(' '..='~').contains(c)) {
        return Err(dsn_err(path, format!("{c:?} is not allowed: printable ASCII only")));
    }
    Ok(())
}

/// RFC 3461 §4 xtext: `+`, `=`, and characters outside `!`..`~` as `+XX`.
pub fn xtext(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if (b'!'..=b'~').contains(&b) && b != b'+' && b != b'=' {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "+{b:02X}");
        }
    }
    out
}

impl Dsn {
    /// Checks the request; errors name `message.dsn.<field>`.
    pub fn validate(&self) -> Result<()> {
        check_notify("notify", &self.notify)?;
        if let Some(e) = &self.envid {
            if e.is_empty() || e.len() > 100 {
                return Err(dsn_err("envid", "must be 1 to 100 characters"));
            }
            check_xchars("envid", e)?;
        }
        for (addr, r) in &self.recipients {
            check_notify(&format!("recipients.{addr}.notify"), &r.notify)?;
            if let Some(o) = &r.orcpt {
                check_xchars(&format!("recipients.{addr}.orcpt"), o)?;
            }
        }
        Ok(())
    }

    /// The MAIL FROM parameters, each with a leading space.
    pub fn mail_params(&self) -> String {
        let mut s = String::new();
        match self.ret {
            Some(Ret::Full) => s.push_str(" RET=FULL"),
            Some(Ret::Hdrs) => s.push_str(" RET=HDRS"),
            None => {}
        }
        if let Some(e) = &self.envid {
            s.push_str(" ENVID=");
            s.push_str(&xtext(e));
        }
        s
    }

    /// The RCPT TO parameters for `rcpt`, each with a leading space.
    pub fn rcpt_params(&self, rcpt: &str) -> String {
        let own = self.recipients.get(rcpt);
        let notify = own.filter(|r| !r.notify.is_empty()).map_or(&self.notify, |r| &r.notify);
        let mut s = String::new();
        if !notify.is_empty() {
            s.push_str(" NOTIFY=");
            s.push_str(&notify.iter().map(|n| n.keyword()).collect::<Vec<_>>().join(","));
        }
        let orcpt = own.and_then(|r| r.orcpt.as_deref()).or(self.orcpt.then_some(rcpt));
        if let Some(o) = orcpt {
            s.push_str(" ORCPT=rfc822;");
            s.push_str(&xtext(o));
        }
        s
    }
}

/// Checks `list_unsubscribe` URIs: `https:` or `mailto:`, no spaces, controls or angle brackets.
pub(crate) fn check_unsubscribe(uris: &[String]) -> Result<()> {
    for (i, u) in uris.iter().enumerate() {
        let path = format!("message.list_unsubscribe[{i}]");
        let lower = u.to_ascii_lowercase();
        let rest = lower.strip_prefix("https://").or_else(|| lower.strip_prefix("mailto:"));
        if rest.is_none_or(str::is_empty) {
            return Err(Error::config(&path, format!("{u:?} is not an https: or mailto: URI")));
        }
        if u.chars().any(|c| c.is_control() || c.is_whitespace() || c == '<' || c == '>' || !c.is_ascii()) {
            return Err(Error::config(
                &path,
                format!("{u:?} has a space, control character, angle bracket or non-ASCII character"),
            ));
        }
    }
    Ok(())
}

/// The `List-Unsubscribe` header value.
pub(crate) fn unsubscribe_header(uris: &[String]) -> String {
    uris.iter().map(|u| format!("<{u}>")).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xtext_encodes_plus_equals_and_space() {
        assert_eq!(xtext("a+b=c d"), "a+2Bb+3Dc+20d");
        assert_eq!(xtext("inv-42"), "inv-42");
    }

    #[test]
    fn never_with_others_is_refused_naming_the_field() {
        let d = Dsn { notify: vec![Notify::Never, Notify::Success], ..Dsn::default() };
        assert!(d.validate().unwrap_err().to_string().contains("message.dsn.notify"));
        let mut d = Dsn::default();
        d.recipients
            .insert("b@x.test".into(), DsnRecipient { notify: vec![Notify::Delay, Notify::Never], orcpt: None });
        assert!(d.validate().unwrap_err().to_string().contains("message.dsn.recipients.b@x.test.notify"));
    }

    #[test]
    fn bad_envid_is_refused() {
        for bad in ["", "caf\u{e9}", "a\r\nb", &"x".repeat(101)] {
            let d = Dsn { envid: Some(bad.into()), ..Dsn::default() };
            assert!(d.validate().unwrap_err().to_string().contains("message.dsn.envid"), "{bad:?}");
        }
    }

    #[test]
    fn per_recipient_overrides() {
        let mut d = Dsn { notify: vec![Notify::Failure], orcpt: true, ..Dsn::default() };
        d.recipients.insert(
            "c@x.test".into(),
            DsnRecipient { notify: vec![Notify::Never], orcpt: Some("old+c@x.test".into()) },
        );
        assert_eq!(d.rcpt_params("b@x.test"), " NOTIFY=FAILURE ORCPT=rfc822;b@x.test");
        assert_eq!(d.rcpt_params("c@x.test"), " NOTIFY=NEVER ORCPT=rfc822;old+2Bc@x.test");
    }

    #[test]
    fn unsubscribe_uris() {
        check_unsubscribe(&["https://x.test/u?id=1".into(), "mailto:u@x.test?subject=unsub".into()]).unwrap();
        for bad in ["http://x.test/u", "javascript:alert(1)", "https://", "https://x.test/a b", "mailto:a@x.test>"] {
            let e = check_unsubscribe(&["https://ok.test".into(), bad.into()]).unwrap_err();
            assert!(e.to_string().contains("message.list_unsubscribe[1]"), "{bad}: {e}");
        }
        assert_eq!(
            unsubscribe_header(&["https://a.test".into(), "mailto:u@a.test".into()]),
            "<https://a.test>, <mailto:u@a.test>"
        );
    }
}
