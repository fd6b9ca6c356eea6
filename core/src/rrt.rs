//! Runtime replacement tags (RRTs): `~ID::NAME~` inside a field's text, expanded at the moment
//! of Test or Send from values the host registers in an [`RrtContext`].
//!
//! - `ID` is three ASCII letters or digits naming the owner of the value (`WIN`, `ACC`, …).
//! - `NAME` is a reserved name (`~STF::FileName~`) or a field name in percent signs
//!   (`~ACC::%Customer%~`). A field name starting with `$` is *protected*, one starting with `@`
//!   is *restricted* (protected, and accepted only in the password field).
//! - `~WIN::NAME~` is the environment variable `NAME` of the process.
//! - Text that does not form a well-formed tag (a lone `~`, `~ab~`) is literal.
//!
//! ```
//! use relaykit::rrt::{RrtContext, Field};
//! let mut ctx = RrtContext::new();
//! ctx.set("ACC", "Customer", "acme").unwrap();
//! ctx.set_protected("ACC", "invoice", "INV-42").unwrap();
//! let out = ctx.expand("user-~ACC::%Customer%~-~ACC::%$invoice%~~x", Field::Username).unwrap();
//! assert_eq!(out.expose(), "user-acme-INV-42~x");
//! ```

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{AeadInOut, KeyInit};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::names::named_enum;
use crate::secret::{SecretString, fill_random};

/// How a field-name value is protected, from its first character.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protection {
    /// A plain value (`%Name%`).
    Plain,
    /// A protected value (`%$Name%`): encrypted in memory, never shown.
    Protected,
    /// A restricted value (`%@Name%`): protected, and usable in the password field only.
    Restricted,
}

impl Protection {
    fn sigil(self) -> &'static str {
        match self {
            Protection::Plain => "",
            Protection::Protected => "$",
            Protection::Restricted => "@",
        }
    }
}

/// What a tag names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagName<'a> {
    /// A reserved name: `~STF::FileName~`, or an environment variable for `WIN`.
    Reserved(&'a str),
    /// A field name in percent signs, without the signs and without its `$`/`@` sigil.
    Field {
        /// The name.
        name: &'a str,
        /// Plain, protected or restricted.
        protection: Protection,
    },
}

/// A piece of a parsed value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece<'a> {
    /// Literal text at `range`.
    Literal {
        /// Byte range in the input.
        range: Range<usize>,
        /// The text.
        text: &'a str,
    },
    /// A tag at `range` (from the opening to the closing `~`, both included).
    Tag {
        /// Byte range in the input.
        range: Range<usize>,
        /// The three-character owner id, as written.
        id: &'a str,
        /// The name.
        name: TagName<'a>,
    },
}

impl Piece<'_> {
    /// The byte range of the piece in the input.
    pub fn range(&self) -> Range<usize> {
        match self {
            Piece::Literal { range, .. } | Piece::Tag { range, .. } => range.clone(),
        }
    }
}

/// The field a value is expanded for; only the password accepts restricted tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field<'a> {
    /// `server`
    Server,
    /// `username`
    Username,
    /// `password`
    Password,
    /// `helo_name`
    HeloName,
    /// A message field (`from`, `subject`, …).
    Message(&'a str),
    /// `proxy` (the proxy URL)
    Proxy,
    /// `proxy_password`
    ProxyPassword,
}

impl<'a> Field<'a> {
    /// The field named `name` (a profile key, or else a message field): the inverse of
    /// [`Field::name`].
    pub fn from_name(name: &'a str) -> Field<'a> {
        match name {
            "server" => Field::Server,
            "username" => Field::Username,
            "password" => Field::Password,
            "helo_name" => Field::HeloName,
            "proxy" => Field::Proxy,
            "proxy_password" => Field::ProxyPassword,
            other => Field::Message(other),
        }
    }

    /// The field's name as in the profile JSON or the message.
    pub fn name(&self) -> &str {
        match self {
            Field::Server => "server",
            Field::Username => "username",
            Field::Password => "password",
            Field::HeloName => "helo_name",
            Field::Message(n) => n,
            Field::Proxy => "proxy",
            Field::ProxyPassword => "proxy_password",
        }
    }

    /// The field's JSON path: `$.server` for a profile field, `message.subject` for a message's.
    pub fn path(&self) -> String {
        match self {
            Field::Message(n) => format!("message.{n}"),
            other => format!("$.{}", other.name()),
        }
    }

    /// Whether the field accepts restricted (`@`) tags.
    pub fn accepts_restricted(&self) -> bool {
        matches!(self, Field::Password | Field::ProxyPassword)
    }
}

/// Tries to read a well-formed tag starting at `start` (where `s[start]` is `~`); returns the
/// tag and the index just past its closing `~`.
fn tag_at(s: &str, start: usize) -> Option<(Piece<'_>, usize)> {
    let b = s.as_bytes();
    let id_end = start + 4;
    if b.len() < id_end + 2 + 2 {
        return None;
    }
    if !b[start + 1..id_end].iter().all(u8::is_ascii_alphanumeric) || &b[id_end..id_end + 2] != b"::" {
        return None;
    }
    let name_start = id_end + 2;
    let close = name_start + s[name_start..].find('~')?;
    let raw = &s[name_start..close];
    let name = parse_name(raw)?;
    Some((Piece::Tag { range: start..close + 1, id: &s[start + 1..id_end], name }, close + 1))
}

fn parse_name(raw: &str) -> Option<TagName<'_>> {
    if raw.is_empty() || raw.contains("::") || raw.chars().any(char::is_control) {
        return None;
    }
    if let Some(inner) = raw.strip_prefix('%') {
        let inner = inner.strip_suffix('%')?;
        let (protection, name) = if let Some(n) = inner.strip_prefix('$') {
            (Protection::Protected, n)
        } else if let Some(n) = inner.strip_prefix('@') {
            (Protection::Restricted, n)
        } else {
            (Protection::Plain, inner)
        };
        if name.is_empty() || name.contains('%') {
            return None;
        }
        return Some(TagName::Field { name, protection });
    }
    if raw.chars().any(|c| c.is_whitespace() || c == '%' || c == ':') {
        return None;
    }
    Some(TagName::Reserved(raw))
}

/// Splits `s` into literal and tag pieces. Never fails: what is not a well-formed tag is
/// literal. Adjacent literal text is one piece.
pub fn parse(s: &str) -> Vec<Piece<'_>> {
    let mut pieces = Vec::new();
    let mut lit_start = 0;
    let mut i = 0;
    while let Some(off) = s[i..].find('~') {
        let at = i + off;
        if let Some((tag, next)) = tag_at(s, at) {
            if lit_start < at {
                pieces.push(Piece::Literal { range: lit_start..at, text: &s[lit_start..at] });
            }
            pieces.push(tag);
            lit_start = next;
            i = next;
        } else {
            i = at + 1;
        }
    }
    if lit_start < s.len() {
        pieces.push(Piece::Literal { range: lit_start..s.len(), text: &s[lit_start..] });
    }
    pieces
}

/// Whether `s` contains at least one well-formed tag.
pub fn has_tags(s: &str) -> bool {
    parse(s).iter().any(|p| matches!(p, Piece::Tag { .. }))
}

named_enum! {
    /// What to do with a well-formed tag that has no value (`"error"` or `"empty"`).
    #[derive(Default)]
    pub enum Missing {
        /// An [`crate::ErrorKind::Rrt`] error naming the tag (the default).
        #[default]
        Error,
        /// Expand to the empty string.
        Empty,
    }
}

/// Where `~WIN::NAME~` values come from.
#[derive(Clone, Default)]
enum Environment {
    /// The process environment.
    #[default]
    Process,
    /// A fixed map (for tests and sandboxed hosts).
    Map(HashMap<String, SecretString>),
}

/// A stored value: plain text, or AES-GCM ciphertext under the context's key.
#[derive(Clone)]
enum Stored {
    Plain(String),
    Sealed { nonce: [u8; 12], data: Vec<u8> },
}

/// The values runtime replacement tags expand to: host values per owner id and name (plain,
/// protected `$`, restricted `@`), plus `WIN` from the environment.
///
/// Protected and restricted values are held encrypted (AES-256-GCM under a random per-context
/// key) and decrypted only while expanding. `Debug` shows ids and names, never values.
#[derive(Clone)]
pub struct RrtContext {
    /// Made on the first protected or restricted value, so that [`RrtContext::new`] cannot fail
    /// and a failing OS random source surfaces from a setter that returns `Result`.
    key: Option<Zeroizing<[u8; 32]>>,
    values: HashMap<(String, String, Protection), Stored>,
    env: Environment,
    missing: Missing,
}

impl Default for RrtContext {
    fn default() -> Self {
        RrtContext::new()
    }
}

impl fmt::Debug for RrtContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<String> =
            self.values.keys().map(|(id, name, p)| format!("~{id}::%{}{name}%~", p.sigil())).collect();
        names.sort();
        f.debug_struct("RrtContext")
            .field("tags", &names)
            .field("environment", &matches!(self.env, Environment::Process).then_some("process"))
            .field("missing", &self.missing)
            .finish_non_exhaustive()
    }
}

fn check_id(id: &str) -> Result<String> {
    if id.len() == 3 && id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(id.to_ascii_uppercase())
    } else {
        Err(Error::rrt(format!("RRT owner id `{id}` is not valid: it must be three letters or digits")))
    }
}

fn check_name(name: &str, protection: Protection) -> Result<&str> {
    let bare = match protection {
        Protection::Plain if name.starts_with('$') || name.starts_with('@') => {
            return Err(Error::rrt(format!(
                "RRT name `{name}`: a plain value cannot start with `$` or `@`; use set_protected or set_restricted"
            )));
        }
        Protection::Plain => name,
        Protection::Protected => name.strip_prefix('$').unwrap_or(name),
        Protection::Restricted => name.strip_prefix('@').unwrap_or(name),
    };
    if bare.is_empty() || bare.contains(['~', '%']) || bare.contains("::") || bare.chars().any(char::is_control) {
        return Err(Error::rrt(format!("RRT name `{name}` is not valid: no `~`, `%`, `::` or control characters")));
    }
    Ok(bare)
}

impl RrtContext {
    /// An empty context whose `WIN` values come from the process environment.
    pub fn new() -> Self {
        RrtContext { key: None, values: HashMap::new(), env: Environment::Process, missing: Missing::Error }
    }

    /// Takes `WIN` values from `vars` instead of the process environment.
    #[must_use]
    pub fn with_environment<K: Into<String>, V: Into<String>>(
        mut self,
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        self.env = Environment::Map(vars.into_iter().map(|(k, v)| (k.into(), SecretString::new(v))).collect());
        self
    }

    /// Sets what an undefined tag does (an error by default).
    pub fn set_missing(&mut self, missing: Missing) {
        self.missing = missing;
    }

    /// Registers a plain value for `~ID::%name%~` (and `~ID::name~`).
    pub fn set(&mut self, id: &str, name: &str, value: &str) -> Result<()> {
        self.insert(id, name, value, Protection::Plain)
    }

    /// Registers a protected value for `~ID::%$name%~` (`name` with or without the `$`).
    pub fn set_protected(&mut self, id: &str, name: &str, value: &str) -> Result<()> {
        self.insert(id, name, value, Protection::Protected)
    }

    /// Registers a restricted value for `~ID::%@name%~` (`name` with or without the `@`), usable
    /// only in the password field.
    pub fn set_restricted(&mut self, id: &str, name: &str, value: &str) -> Result<()> {
        self.insert(id, name, value, Protection::Restricted)
    }

    /// Removes a value; returns whether there was one.
    pub fn remove(&mut self, id: &str, name: &str) -> bool {
        let Ok(id) = check_id(id) else { return false };
        let (protection, bare) = match name.chars().next() {
            Some('$') => (Protection::Protected, &name[1..]),
            Some('@') => (Protection::Restricted, &name[1..]),
            _ => (Protection::Plain, name),
        };
        self.values.remove(&(id, bare.to_owned(), protection)).is_some()
    }

    fn insert(&mut self, id: &str, name: &str, value: &str, protection: Protection) -> Result<()> {
        let id = check_id(id)?;
        let bare = check_name(name, protection)?.to_owned();
        let stored = match protection {
            Protection::Plain => Stored::Plain(value.to_owned()),
            Protection::Protected | Protection::Restricted => {
                if self.key.is_none() {
                    let mut key = Zeroizing::new([0u8; 32]);
                    fill_random(key.as_mut())?;
                    self.key = Some(key);
                }
                self.seal(value)?
            }
        };
        self.values.insert((id, bare, protection), stored);
        Ok(())
    }

    fn cipher(&self) -> Result<Aes256Gcm> {
        let key = self.key.as_ref().ok_or_else(|| Error::internal("RRT sealing key used before it was made"))?;
        Aes256Gcm::new_from_slice(key.as_ref()).map_err(|_| Error::internal("AES key length"))
    }

    fn seal(&self, value: &str) -> Result<Stored> {
        let mut nonce = [0u8; 12];
        fill_random(&mut nonce)?;
        let mut data = value.as_bytes().to_vec();
        let tag = self
            .cipher()?
            .encrypt_inout_detached(&nonce.into(), b"relaykit rrt", data.as_mut_slice().into())
            .map_err(|_| Error::rrt("a protected value is too long"))?;
        data.extend_from_slice(&tag);
        Ok(Stored::Sealed { nonce, data })
    }

    fn open(&self, nonce: &[u8; 12], data: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let split = data.len().checked_sub(16).ok_or_else(|| Error::internal("sealed RRT value too short"))?;
        let mut pt = Zeroizing::new(data[..split].to_vec());
        let tag: [u8; 16] = data[split..].try_into().map_err(|_| Error::internal("tag length"))?;
        self.cipher()?
            .decrypt_inout_detached(&(*nonce).into(), b"relaykit rrt", pt.as_mut_slice().into(), &tag.into())
            .map_err(|_| Error::internal("a protected RRT value failed to decrypt"))?;
        Ok(pt)
    }

    /// Expands every tag in `value` for `field`. The result is secret when any protected value
    /// went into it; it is always held in zeroizing memory.
    pub fn expand(&self, value: &str, field: Field<'_>) -> Result<SecretString> {
        Ok(self.expand_tracked(value, field)?.0)
    }

    /// Like [`RrtContext::expand`], and says whether a protected or restricted value (or an
    /// environment variable) went into the result, so callers know not to show it.
    pub fn expand_tracked(&self, value: &str, field: Field<'_>) -> Result<(SecretString, bool)> {
        let mut out = SecretString::new(String::with_capacity(value.len()));
        let mut sensitive = false;
        for piece in parse(value) {
            match piece {
                Piece::Literal { text, .. } => out.push_str(text),
                Piece::Tag { range, id, name } => {
                    let tag = &value[range];
                    sensitive |= self.expand_tag(tag, id, &name, field, &mut out)?;
                }
            }
        }
        Ok((out, sensitive))
    }

    /// Appends the value of one tag to `out`; returns whether it was sensitive.
    fn expand_tag(
        &self,
        tag: &str,
        id: &str,
        name: &TagName<'_>,
        field: Field<'_>,
        out: &mut SecretString,
    ) -> Result<bool> {
        let upper = id.to_ascii_uppercase();
        let (bare, protection) = match name {
            TagName::Reserved(n) => (*n, Protection::Plain),
            TagName::Field { name, protection } => (*name, *protection),
        };
        if protection == Protection::Restricted && !field.accepts_restricted() {
            return Err(Error::rrt(format!(
                "restricted tag {tag} is not allowed in field `{}`: restricted values are accepted only in the password",
                field.name()
            ))
            .with_field(field.path()));
        }
        if let Some(stored) = self.values.get(&(upper.clone(), bare.to_owned(), protection)) {
            match stored {
                Stored::Plain(v) => out.push_str(v),
                Stored::Sealed { nonce, data } => {
                    let pt = self.open(nonce, data)?;
                    let s = std::str::from_utf8(&pt).map_err(|_| Error::internal("protected value not UTF-8"))?;
                    out.push_str(s);
                }
            }
            return Ok(protection != Protection::Plain);
        }
        if upper == "WIN" && protection == Protection::Plain {
            if let Some(v) = self.env_var(bare)? {
                out.push_str(v.expose());
                return Ok(false);
            }
        }
        match self.missing {
            Missing::Empty => Ok(false),
            Missing::Error => {
                let what = if upper == "WIN" {
                    format!("the environment variable `{bare}` is not set")
                } else {
                    "no value is registered for it".to_owned()
                };
                Err(Error::rrt(format!("undefined tag {tag} in field `{}`: {what}", field.name()))
                    .with_field(field.path()))
            }
        }
    }

    fn env_var(&self, name: &str) -> Result<Option<SecretString>> {
        match &self.env {
            Environment::Map(m) => Ok(m.get(name).cloned()),
            Environment::Process => match std::env::var_os(name) {
                None => Ok(None),
                Some(v) => v
                    .into_string()
                    .map(|s| Some(SecretString::from(s)))
                    .map_err(|_| Error::rrt(format!("the environment variable `{name}` is not valid UTF-8"))),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(s: &str) -> Vec<String> {
        parse(s)
            .into_iter()
            .filter_map(|p| match p {
                Piece::Tag { range, .. } => Some(s[range].to_owned()),
                Piece::Literal { .. } => None,
            })
            .collect()
    }

    #[test]
    fn parses_tags_and_literals_with_offsets() {
        let s = "a~WIN::HOME~b~ACC::%$x%~";
        let p = parse(s);
        assert_eq!(p.len(), 4);
        assert_eq!(p[0], Piece::Literal { range: 0..1, text: "a" });
        assert_eq!(p[1], Piece::Tag { range: 1..12, id: "WIN", name: TagName::Reserved("HOME") });
        assert_eq!(
            p[3],
            Piece::Tag {
                range: 13..24,
                id: "ACC",
                name: TagName::Field { name: "x", protection: Protection::Protected }
            }
        );
    }

    #[test]
    fn malformed_tags_are_literal() {
        for s in [
            "~",
            "~ab~",
            "~~",
            "~AB::x~",
            "~ABCD::x~",
            "~ABC:x~",
            "~ABC::~",
            "~ABC::a::b~",
            "~ABC::%%~",
            "~ABC::%x~",
            "~ABC::a b~",
            "~ABC::%$%~",
        ] {
            assert!(tags(s).is_empty(), "{s:?} should be literal");
        }
        // A failed start does not hide a later tag.
        assert_eq!(tags("x~y~ABC::n~"), vec!["~ABC::n~"]);
        assert_eq!(tags("~~ABC::n~~"), vec!["~ABC::n~"]);
    }

    #[test]
    fn debug_hides_values() {
        let mut c = RrtContext::new();
        c.set("ACC", "plainname", "plain-value-1").unwrap();
        c.set_protected("ACC", "$prot", "protected-value-2").unwrap();
        c.set_restricted("ACC", "rest", "restricted-value-3").unwrap();
        let d = format!("{c:?}");
        assert!(d.contains("~ACC::%$prot%~"), "{d}");
        for v in ["plain-value-1", "protected-value-2", "restricted-value-3"] {
            assert!(!d.contains(v), "{d}");
        }
    }
    #[test]
    fn sealing_key_is_made_on_the_first_protected_value_and_kept() {
        let mut c = RrtContext::new();
        c.set("ACC", "plain", "p").unwrap();
        assert!(c.key.is_none(), "plain values need no key, so new() and set() touch no RNG");
        c.set_protected("ACC", "one", "v1").unwrap();
        let first = c.key.clone().unwrap();
        c.set_restricted("ACC", "two", "v2").unwrap();
        assert_eq!(c.key.as_ref().unwrap().as_ref(), first.as_ref(), "a second value reuses the key");
        let copy = c.clone();
        let out = copy.expand("~ACC::%$one%~~ACC::%@two%~~ACC::%plain%~", Field::Password).unwrap();
        assert_eq!(out.expose(), "v1v2p");
    }
}
