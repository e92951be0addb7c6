//! CRAN: R source packages on hosted repositories.
//!
//! Pure code, unit-tested in place: the DCF format of `DESCRIPTION` and `PACKAGES`, reading
//! `<pkg>/DESCRIPTION` out of a source tarball, R's version order and the `PACKAGES` index
//! ([`description`]). The routes ([`configure`]) are GitFlic's service-level content routes
//! `PUT /registry/package/cran/{languageVersion}/{fileName}` and
//! `GET /registry/package/cran/{fileName}`, and, under `/company/{group}/package/-/cran`, GitFlic's
//! upload (`PUT src/<file>`) and the repository layout `install.packages` reads (`src/contrib/PACKAGES`,
//! `PACKAGES.gz`, the newest tarballs, and older ones under `src/contrib/Archive/<pkg>/`).
//!
//! Depends on `packyard_http` and `packyard_core`; never on another format.

pub mod description;
mod routes;

pub use routes::configure;
