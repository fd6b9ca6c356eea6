//! [`named_enum!`]: an enum whose variants have one stable snake_case name each, used by the
//! JSON forms (serde), by `FromStr`/`as_str` (strum) and by the lists the bindings generate their
//! types from (`ALL`, `NAMES`). One rule, so that the three cannot disagree.

/// Declares a `pub enum` with the derives and the `as_str`/`ALL`/`NAMES`/`Display` every named
/// enum of relaykit has. Extra attributes (doc comments, `#[derive(Default)]`) pass through.
macro_rules! named_enum {
    ($(#[$m:meta])* pub enum $name:ident { $($(#[$vm:meta])* $v:ident),+ $(,)? }) => {
        $(#[$m])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
            strum::EnumString, strum::IntoStaticStr, strum::VariantArray, strum::VariantNames,
        )]
        #[serde(rename_all = "snake_case")]
        #[strum(serialize_all = "snake_case")]
        pub enum $name { $($(#[$vm])* $v),+ }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = <$name as strum::VariantArray>::VARIANTS;

            /// Every name, in declaration order.
            pub const NAMES: &'static [&'static str] = <$name as strum::VariantNames>::VARIANTS;

            /// The stable snake_case name.
            pub fn as_str(self) -> &'static str {
                self.into()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub(crate) use named_enum;
