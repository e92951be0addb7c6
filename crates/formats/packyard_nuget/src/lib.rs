//! NuGet: .NET packages on hosted repositories, spoken to with the NuGet v3 protocol.
//!
//! Pure modules, unit-tested in place: package ids and normalized versions ([`version`]) and the
//! `.nuspec` manifest inside a `.nupkg` ([`nuspec`]). The routes ([`configure`]) are GitFlic's
//! service-level content routes `PUT /registry/package/nuget` and `GET /registry/package/nuget/
//! {packageName}/{packageVersion}` and, under `/company/{group}/package/-/nuget/`, the v3 protocol
//! NuGet.exe and dotnet speak: the service index, flat container, registrations, search, push (with
//! `X-NuGet-ApiKey`), unlist and relist.
//!
//! Depends on `packyard_http` and `packyard_core`; never on another format.

pub mod nuspec;
#[cfg(test)]
mod proptests;
mod routes;
pub mod version;

pub use nuspec::{Dependency, DependencyGroup, Nuspec, read_nupkg_nuspec, read_nuspec};
pub use routes::{configure_company, configure_global};
pub use version::{is_valid_id, normalize_version};
