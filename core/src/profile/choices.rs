//! The profile's enumerated choices, each with its one JSON name ([`named_enum!`]: serde and
//! strum derive both from the same `snake_case` rule, so `FromStr`, `as_str` and the JSON form
//! cannot disagree).

use crate::names::named_enum;

named_enum! {
    /// The profile's choice of how TLS starts when `encrypted_connection` is true (`tls_mode`).
    /// The session's mode, decided from it and the port, is [`crate::session::TlsMode`].
    #[derive(Default)]
    pub enum TlsChoice {
        /// Implicit TLS on port 465, STARTTLS (required) on any other port.
        #[default]
        Auto,
        /// TLS from the first byte (SMTPS).
        Implicit,
        /// STARTTLS, required.
        Starttls,
    }
}

named_enum! {
    /// What to do about STARTTLS when `encrypted_connection` is false (`starttls`).
    #[derive(Default)]
    pub enum StarttlsPolicy {
        /// Upgrade when the server offers STARTTLS; an unverifiable certificate is tolerated
        /// (RFC 7435) and reported by Test as a warning.
        #[default]
        Opportunistic,
        /// Stay in plain text.
        Never,
    }
}

named_enum! {
    /// The order in which allowed mechanisms are tried (`auth_order`).
    #[derive(Default)]
    pub enum AuthOrder {
        /// Most secure first (§4), whatever the order of `auth_mechanisms`.
        #[default]
        Preference,
        /// The order of `auth_mechanisms`.
        AsListed,
    }
}

/// A choice from its JSON name, or a configuration error about `path` listing the names.
pub fn parse_choice<T>(path: &str, name: &str) -> crate::Result<T>
where
    T: std::str::FromStr + strum::VariantNames,
{
    name.parse().map_err(|_| {
        let list = T::VARIANTS.iter().map(|a| format!("`{a}`")).collect::<Vec<_>>().join(", ");
        crate::Error::config(path, format!("`{name}` is not one of {list}"))
    })
}
