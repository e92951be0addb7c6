//! PyPI: Python distributions (wheels and sdists) on hosted repositories and through virtual registries.
//!
//! Pure modules, unit-tested in place: core metadata and how to read it out of a wheel or an sdist
//! ([`metadata`]), distribution file names ([`filename`]), and the simple repository API's HTML and JSON
//! with its content negotiation ([`index`]). The routes ([`configure`]) are GitFlic's service-level
//! content routes `GET`/`PUT /registry/package/pypi/{packageName}/{packageVersion}/{fileName}` and, under
//! `/company/{group}/package/-/pypi`, the protocol twine and pip speak: the legacy upload API, the PEP 503
//! and PEP 691 simple index, and file downloads. Virtual registries ([`configure_virtual`]) serve
//! upstream indexes' project pages ([`proxied`]) and files through the pull-through cache, after the
//! groups' hosted projects of their local upstreams.
//!
//! Depends on `packyard_http` and `packyard_core`; never on another format.

pub mod filename;
pub mod index;
pub mod metadata;
#[cfg(test)]
mod proptests;
pub mod proxied;
mod routes;
mod virtual_registry;

pub use routes::{configure_company, configure_global};
pub use virtual_registry::{CLIENT_PREFIX, configure_other_ids, configure_virtual};
