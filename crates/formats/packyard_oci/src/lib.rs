//! OCI distribution: the container virtual registry endpoints that docker, podman and skopeo pull
//! through (`/v2/virtual_registries/container/<id>/<image>/manifests|blobs/…`), and the Docker token
//! flow (`/v2/` challenge, `/jwt/auth`).
//!
//! Depends on `packyard_http` and `packyard_core`; never on another format.

mod error;
pub mod manifest;
#[cfg(test)]
mod proptests;
pub mod reference;
mod routes;

pub use error::OciError;
pub use routes::configure;
