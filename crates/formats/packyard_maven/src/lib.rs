//! Maven: what a repository path is (artifact, `maven-metadata.xml`, checksum sidecar) and the GitLab
//! virtual registry client endpoint that `mvn`, Gradle and sbt pull through.
//!
//! Depends on `packyard_http` and `packyard_core`; never on another format.

mod path;
mod routes;

pub use path::{MavenPath, classify};
pub use routes::configure;
