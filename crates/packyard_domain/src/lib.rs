//! Pure domain types of packyard: newtype ids, formats, access levels, validation rules and limits,
//! upstream URL normalisation, cache entry ids and repository paths.
//!
//! This crate does no I/O and is not async; every other crate may depend on it, it depends on none of them.

mod cache_entry_id;
mod hosted;
mod ids;
mod path;
mod upstream_url;
mod validation;

#[cfg(test)]
mod proptests;

pub use cache_entry_id::CacheEntryId;
pub use hosted::{
    OwnerType, PackageType, UploadType, is_valid_generic_name, is_valid_generic_version,
    is_valid_pypi_name, is_valid_pypi_version, normalize_pypi_name,
};
pub use ids::{
    CacheEntryRowId, DeployTokenId, GroupId, RegistryId, RegistryUpstreamId, TokenId, UpstreamId,
    UserId,
};
pub use path::{RepositoryPath, RepositoryPathError};
pub use upstream_url::{UpstreamUrlError, normalize_upstream_url, stored_url, upstream_url_twin};
pub use validation::{FieldErrors, limits};

use serde::{Deserialize, Serialize};

/// The kind of virtual registry: each has its own limits and client protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Maven repositories (`/api/v4/virtual_registries/packages/maven`).
    Maven,
    /// OCI / Docker registries (`/api/v4/virtual_registries/container`).
    Container,
    /// npm registries (`/api/v4/virtual_registries/packages/npm`).
    Npm,
    /// PyPI simple indexes (`/api/v4/virtual_registries/packages/pypi`).
    Pypi,
}

impl Format {
    /// Every format, in the order GitLab reports them (Maven, then container), then npm and PyPI.
    pub const ALL: [Format; 4] = [Format::Maven, Format::Container, Format::Npm, Format::Pypi];

    /// The name stored in the database and used in URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Maven => "maven",
            Format::Container => "container",
            Format::Npm => "npm",
            Format::Pypi => "pypi",
        }
    }

    /// Parses the stored name.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "maven" => Some(Format::Maven),
            "container" => Some(Format::Container),
            "npm" => Some(Format::Npm),
            "pypi" => Some(Format::Pypi),
            _ => None,
        }
    }

    /// How many registries of this format a top-level group may have.
    pub fn max_registries_per_group(self) -> i64 {
        match self {
            Format::Maven | Format::Npm | Format::Pypi => 20,
            Format::Container => 5,
        }
    }

    /// How many upstreams one registry of this format may link.
    pub fn max_upstreams_per_registry(self) -> i64 {
        match self {
            Format::Maven | Format::Npm | Format::Pypi => 20,
            Format::Container => 5,
        }
    }

    /// Whether upstreams of this format keep a separate `metadata_cache_validity_hours` (for their
    /// mutable documents: `maven-metadata.xml`, packuments, project pages).
    pub fn has_metadata(self) -> bool {
        self != Format::Container
    }

    /// Whether a registry of this format may use a group's hosted repository as a local upstream.
    pub fn has_local_upstreams(self) -> bool {
        self != Format::Container
    }
}

/// The scheme and authority of a local upstream's URL: `gid://packyard/Group/<id>` names a top-level
/// group whose hosted repository of the registry's format is an upstream (GitLab's GlobalID spelling).
pub const LOCAL_UPSTREAM_PREFIX: &str = "gid://packyard/Group/";

/// The group a local upstream's URL names; `None` when the URL is not a local upstream's.
pub fn local_upstream_group(url: &str) -> Option<i64> {
    let id = url.strip_prefix(LOCAL_UPSTREAM_PREFIX)?;
    (!id.is_empty() && id.len() <= 18 && id.bytes().all(|b| b.is_ascii_digit()))
        .then(|| id.parse().ok())
        .flatten()
        .filter(|id| *id > 0)
}

/// The URL of the local upstream of a group.
pub fn local_upstream_url(group_id: i64) -> String {
    format!("{LOCAL_UPSTREAM_PREFIX}{group_id}")
}

#[cfg(test)]
mod local_upstream_tests {
    use super::*;

    #[test]
    fn local_upstream_urls_name_a_group() {
        assert_eq!(local_upstream_group("gid://packyard/Group/42"), Some(42));
        assert_eq!(local_upstream_url(42), "gid://packyard/Group/42");
        for bad in [
            "gid://packyard/Group/",
            "gid://packyard/Group/0",
            "gid://packyard/Group/4a",
            "gid://packyard/Group/-1",
            "gid://gitlab/Group/4",
            "https://example.com/Group/4",
            "gid://packyard/Group/99999999999999999999",
        ] {
            assert_eq!(local_upstream_group(bad), None, "{bad}");
        }
    }
}

/// GitLab's group access levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AccessLevel {
    /// 10
    Guest,
    /// 20
    Reporter,
    /// 30
    Developer,
    /// 40
    Maintainer,
    /// 50
    Owner,
}

impl AccessLevel {
    /// The numeric level as GitLab's API shows it.
    pub fn as_i32(self) -> i32 {
        match self {
            AccessLevel::Guest => 10,
            AccessLevel::Reporter => 20,
            AccessLevel::Developer => 30,
            AccessLevel::Maintainer => 40,
            AccessLevel::Owner => 50,
        }
    }

    /// Parses GitLab's numeric level.
    pub fn from_i32(value: i32) -> Option<Self> {
        match value {
            10 => Some(AccessLevel::Guest),
            20 => Some(AccessLevel::Reporter),
            30 => Some(AccessLevel::Developer),
            40 => Some(AccessLevel::Maintainer),
            50 => Some(AccessLevel::Owner),
            _ => None,
        }
    }
}

/// Token scopes, as GitLab names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Full API access, read and write.
    Api,
    /// Read-only API access.
    ReadApi,
    /// Pulling through virtual registries.
    ReadVirtualRegistry,
    /// Installing hosted packages.
    ReadPackageRegistry,
    /// Publishing hosted packages.
    WritePackageRegistry,
}

impl Scope {
    /// GitLab's scope name.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Api => "api",
            Scope::ReadApi => "read_api",
            Scope::ReadVirtualRegistry => "read_virtual_registry",
            Scope::ReadPackageRegistry => "read_package_registry",
            Scope::WritePackageRegistry => "write_package_registry",
        }
    }

    /// Parses a scope name.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "api" => Some(Scope::Api),
            "read_api" => Some(Scope::ReadApi),
            "read_virtual_registry" => Some(Scope::ReadVirtualRegistry),
            "read_package_registry" => Some(Scope::ReadPackageRegistry),
            "write_package_registry" => Some(Scope::WritePackageRegistry),
            _ => None,
        }
    }
}

/// Status of a cache entry; only `Default` entries are visible.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheEntryStatus {
    /// Visible and servable.
    Default = 0,
    /// Being written (unused: packyard commits entries only when complete).
    Processing = 1,
    /// Hidden, waiting for the destruction worker.
    PendingDestruction = 2,
    /// Failed.
    Error = 3,
}

impl CacheEntryStatus {
    /// The stored integer.
    pub fn as_i16(self) -> i16 {
        self as i16
    }
}

/// Digests and size of a stored file, computed in one pass while it streamed in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDigests {
    /// Lowercase hex sha256: also the blob's storage key.
    pub sha256: String,
    /// Lowercase hex sha1.
    pub sha1: String,
    /// Lowercase hex md5.
    pub md5: String,
    /// Lowercase hex sha512.
    pub sha512: String,
    /// Size in bytes.
    pub size: i64,
}
