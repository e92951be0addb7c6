//! Registries: list and create in a group; show, update, delete and purge the cache of one.

use actix_web::{HttpResponse, web};
use packyard_core::registries::{RegistryChanges, RegistryInput};
use packyard_domain::{Format, RegistryId};
use packyard_http::{ApiResult, Params};

use crate::entities::RegistryResponse;
use crate::extract::optional_nonblank;
use crate::manage::{Id, Manager, created, no_content, ok};

/// `GET /groups/:id/-/…/registries`: not paginated.
pub(crate) async fn list(
    m: Manager,
    format: web::Data<Format>,
    group: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let registries = m.core.list_registries(&m.actor, **format, &group).await?;
    Ok(ok(registries
        .iter()
        .map(RegistryResponse::from)
        .collect::<Vec<_>>()))
}

/// `POST /groups/:id/-/…/registries`: `name` (required), `description`.
pub(crate) async fn create(
    m: Manager,
    format: web::Data<Format>,
    group: web::Path<String>,
    params: Params,
) -> ApiResult<HttpResponse> {
    let input = RegistryInput {
        name: params.required_string("name")?,
        description: params.string("description")?,
    };
    let registry = m
        .core
        .create_registry(&m.actor, **format, &group, input)
        .await?;
    Ok(created(RegistryResponse::from(&registry)))
}

/// `GET /…/registries/:id`: with its ordered `registry_upstreams`.
pub(crate) async fn show(
    m: Manager,
    format: web::Data<Format>,
    Id(id): Id<RegistryId>,
) -> ApiResult<HttpResponse> {
    let (registry, associations) = m
        .core
        .find_registry_with_associations(&m.actor, **format, id)
        .await?;
    Ok(ok(RegistryResponse::with_upstreams(
        &registry,
        &associations,
    )))
}

/// `PATCH /…/registries/:id`: `name` and/or `description`, neither blank (Grape's `allow_blank: false`).
pub(crate) async fn update(
    m: Manager,
    format: web::Data<Format>,
    Id(id): Id<RegistryId>,
    params: Params,
) -> ApiResult<HttpResponse> {
    let changes = RegistryChanges {
        name: optional_nonblank(&params, "name")?,
        description: optional_nonblank(&params, "description")?.map(Some),
    };
    let registry = m
        .core
        .update_registry(&m.actor, **format, id, changes)
        .await?;
    Ok(ok(RegistryResponse::from(&registry)))
}

/// `DELETE /…/registries/:id`: also deletes its exclusive upstreams.
pub(crate) async fn delete(
    m: Manager,
    format: web::Data<Format>,
    Id(id): Id<RegistryId>,
) -> ApiResult<HttpResponse> {
    m.core.delete_registry(&m.actor, **format, id).await?;
    Ok(no_content())
}

/// `DELETE /…/registries/:id/cache`: purges the cache of its exclusive upstreams, asynchronously.
pub(crate) async fn purge_cache(
    m: Manager,
    format: web::Data<Format>,
    Id(id): Id<RegistryId>,
) -> ApiResult<HttpResponse> {
    m.core.purge_registry_cache(&m.actor, **format, id).await?;
    Ok(no_content())
}
