//! The OpenAPI description of the package listing; each handler carries its own `#[utoipa::path]`.

use packyard_domain::PackageType;
use utoipa::OpenApi;
use utoipa::openapi::{ObjectBuilder, Type};

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
    let mut document = GitflicApi::openapi();
    // The listing's `type` is one of the domain's package types.
    let listing = document
        .paths
        .paths
        .get_mut("/registry/package")
        .and_then(|item| item.get.as_mut());
    for parameter in listing
        .into_iter()
        .flat_map(|operation| operation.parameters.iter_mut().flatten())
        .filter(|parameter| parameter.name == "type")
    {
        parameter.schema = Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(PackageType::ALL.map(PackageType::as_str)))
                .into(),
        );
    }
    document
}
