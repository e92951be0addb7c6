//! Composer: PHP packages on hosted repositories.
//!
//! Pure modules, unit-tested in place: package names, version normalisation and reading
//! `composer.json` out of a dist zip ([`manifest`]), and the repository documents
//! `packages.json` and `p2/<vendor>/<name>.json` ([`repository`]). The routes ([`configure`]) are
//! GitFlic's service-level content routes `PUT /registry/package/composer/{packageVersion}` and
//! `GET /registry/package/composer/{groupId}/{artifactId}/{packageVersion}` and, under
//! `/company/{group}/package/-/composer`, a Composer 2 repository with uploads and dist downloads.
//!
//! Depends on `packyard_http` and `packyard_core`; never on another format.

pub mod manifest;
#[cfg(test)]
mod proptests;
pub mod repository;
mod routes;

pub use routes::{configure_company, configure_global};
