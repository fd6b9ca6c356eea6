//! The profile's enumerated choices, each with its one JSON name (serde and strum derive both
//! from the same `snake_case` rule, so `FromStr`, `as_str` and the JSON form cannot disagree).

/// Derives for a profile choice: serde for the JSON form, strum for `FromStr`/`as_str`/the list.
macro_rules! choice {
    ($(#[$m:meta])* pub enum $name:ident { $($(#[$vm:meta])* $v:ident),+ $(,)? }) => {
        $(#[$m])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize,
            strum::EnumString, strum::IntoStaticStr, strum::VariantArray, strum::VariantNames,
        )]
        #[serde(rename_all = "snake_case")]
        #[strum(serialize_all = "snake_case")]
        pub enum $name { $($(#[$vm])* $v),+ }

        impl $name {
            /// The JSON name.
            pub fn as_str(self) -> &'static str {
                self.into()
            }

            /// Every JSON name, in declaration order (for messages and type definitions).
            pub const NAMES: &'static [&'static str] = <$name as strum::VariantNames>::VARIANTS;
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

choice! {
    /// The profile's choice of how TLS starts when `encrypted_connection` is true (`tls_mode`).
    /// The session's mode, decided from it and the port, is [`crate::session::TlsMode`].
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

choice! {
    /// What to do about STARTTLS when `encrypted_connection` is false (`starttls`).
    pub enum StarttlsPolicy {
        /// Upgrade when the server offers STARTTLS; an unverifiable certificate is tolerated
        /// (RFC 7435) and reported by Test as a warning.
        #[default]
        Opportunistic,
        /// Stay in plain text.
        Never,
    }
}

choice! {
    /// The order in which allowed mechanisms are tried (`auth_order`).
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
