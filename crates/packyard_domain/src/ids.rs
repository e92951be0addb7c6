//! Newtype ids, so that a registry id is never passed where an upstream id is expected.

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<i64> for $name {
            fn from(id: i64) -> Self {
                Self(id)
            }
        }
    )*};
}

id_type!(
    /// A user.
    UserId,
    /// A group (top-level or subgroup).
    GroupId,
    /// A virtual registry.
    RegistryId,
    /// An upstream.
    UpstreamId,
    /// A registry-upstream association.
    RegistryUpstreamId,
    /// A personal access token.
    TokenId,
    /// A group deploy token.
    DeployTokenId,
    /// A cache entry's database row (never shown to clients: they see [`crate::CacheEntryId`]).
    CacheEntryRowId,
);
