//! npm: packages for Node.js on hosted repositories and through virtual registries.
//!
//! Pure modules, unit-tested in place: package names and versions ([`name`]), the `package.json`
//! manifest inside a tarball ([`manifest`]), the registry's package documents, full and abbreviated
//! ([`packument`]), and the JSON body of `npm publish` ([`publish`]). The routes ([`configure`]) are
//! GitFlic's service-level content routes `GET`/`PUT /registry/package/npm/{packageName}[/{packageScope}]
//! /{packageVersion}/{fileName}` and, under `/company/{group}/package/-/npm/`, the registry protocol the
//! npm client speaks: packuments, tarballs, publish, dist-tags, whoami, login and ping. Virtual
//! registries ([`configure_virtual`]) serve upstream registries' packuments ([`proxied`]) and tarballs
//! through the pull-through cache, after the groups' hosted packages of their local upstreams.
//!
//! Depends on `packyard_http` and `packyard_core`; never on another format.

pub mod attachment;
pub mod manifest;
pub mod name;
pub mod packument;
#[cfg(test)]
mod proptests;
pub mod proxied;
pub mod publish;
mod routes;
mod virtual_registry;

pub use routes::{configure_company, configure_global};
pub use virtual_registry::{CLIENT_PREFIX, configure_other_ids, configure_virtual};
