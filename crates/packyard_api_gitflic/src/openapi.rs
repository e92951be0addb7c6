//! The OpenAPI description of the package listing; each handler carries its own `#[utoipa::path]`.

use utoipa::OpenApi;

/// The listing routes.
#[derive(OpenApi)]
#[openapi(paths(
    crate::list_packages,
    crate::show_package,
    crate::list_versions,
    crate::list_files,
    crate::show_version,
))]
struct GitflicApi;

/// The description of every route this crate registers but the catch-alls, which only answer 404.
pub fn openapi() -> utoipa::openapi::OpenApi {
    GitflicApi::openapi()
}
