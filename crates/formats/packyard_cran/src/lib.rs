//! CRAN: R packages (sources, Windows and macOS binaries) on hosted repositories.
//!
//! Pure code, unit-tested in place: the DCF format of `DESCRIPTION` and `PACKAGES`, reading
//! `<pkg>/DESCRIPTION` out of a tarball or a zip and checking it against the kind of package, R's
//! version order and the `PACKAGES` index ([`description`]). The routes ([`configure`]) are GitFlic's service-level content routes
//! `PUT /registry/package/cran/{languageVersion}/{fileName}` and
//! `GET /registry/package/cran/{fileName}`, and, under `/company/{group}/package/-/cran`, GitFlic's
//! upload (`PUT src/<file>`) and the repository layout `install.packages` reads (`src/contrib/PACKAGES`,
//! `PACKAGES.gz`, the newest tarballs, and older ones under `src/contrib/Archive/<pkg>/`), and the
//! binary trees `bin/windows/contrib/<x.y>/` and `bin/macosx[/<flavor>]/contrib/<x.y>/`, each with its
//! own `PACKAGES`, where binaries are published with a `PUT` to the path they are read from.
//!
//! Depends on `packyard_http` and `packyard_core`; never on another format.

pub mod description;
#[cfg(test)]
mod proptests;
mod routes;

pub use routes::{configure_company, configure_global};
