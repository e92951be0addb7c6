//! NuGet v3 packages: the `.nuspec` inside a `.nupkg`, the v3 protocol (service index, flat container,
//! registrations, search, push, unlist) under `/company/<group>/package/-/nuget/`, and GitFlic's NuGet
//! content routes under `/registry/package/nuget`.

mod nuspec;
mod routes;
mod version;

pub use nuspec::{Dependency, DependencyGroup, Nuspec, read_nupkg_nuspec, read_nuspec};
pub use routes::configure;
pub use version::{is_valid_id, normalize_version};
