//! OneScript opm: oscript packages (`.ospx`) on hosted repositories.
//!
//! Pure module, unit-tested in place: reading `opm-metadata.xml` (else `packagedef`) out of an
//! `.ospx` zip and comparing versions ([`metadata`]). The routes ([`configure`]) are GitFlic's
//! service-level content routes `PUT /registry/package/opm/{fileName}` and
//! `GET /registry/package/opm/{packageName}/{packageVersion}/{fileName}` and, under
//! `/company/{group}/package/-/opm/`, an opm hub: `list.txt`, `{name}/{name}-{version}.ospx`,
//! `{name}/{name}.ospx` (the newest version) and `push` as `opm push` sends it.
//!
//! Depends on `packyard_http` and `packyard_core`; never on another format.

pub mod metadata;
#[cfg(test)]
mod proptests;
mod routes;

pub use routes::{configure_company, configure_global};
