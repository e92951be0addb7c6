//! Maven: what a repository path is (artifact, `maven-metadata.xml`, checksum sidecar), the GitLab
//! virtual registry client endpoint that `mvn`, Gradle and sbt pull through, and hosted repositories
//! (`mvn deploy` to a group's repository and GitFlic's Maven content routes).
//!
//! Depends on `packyard_http` and `packyard_core`; never on another format.

mod hosted;
mod layout;
mod metadata;
mod path;
mod pom;
#[cfg(test)]
mod proptests;
mod routes;

pub use hosted::{configure_company, configure_global};
pub use path::{MavenPath, classify};
pub use routes::{configure_numeric_ids, configure_other_ids};
