//! Registries: list and create in a group; show, update, delete and purge the cache of one.

use actix_web::{HttpResponse, web};
use packyard_core::registries::{RegistryChanges, RegistryInput};
use packyard_domain::{Format, RegistryId};
use packyard_http::{ApiResult, Authenticated, CoreData, Params};

use crate::entities::RegistryResponse;
use crate::extract::{nullable, optional_nonblank, route_id};

/// `GET /groups/:id/-/…/registries`: not paginated.
pub(crate) async fn list(
    Authenticated(actor): Authenticated,
    core: CoreData,
    format: web::Data<Format>,
    group: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let registries = core.list_registries(&actor, **format, &group).await?;
    let body: Vec<RegistryResponse> = registries.iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(body))
}

/// `POST /groups/:id/-/…/registries`: `name` (required), `description`.
pub(crate) async fn create(
    Authenticated(actor): Authenticated,
    core: CoreData,
    format: web::Data<Format>,
    group: web::Path<String>,
    params: Params,
) -> ApiResult<HttpResponse> {
    let input = RegistryInput {
        name: params.required_string("name")?,
        description: params.string("description")?,
    };
    let registry = core
        .create_registry(&actor, **format, &group, input)
        .await?;
    Ok(HttpResponse::Created().json(RegistryResponse::from(&registry)))
}

/// `GET /…/registries/:id`.
pub(crate) async fn show(
    Authenticated(actor): Authenticated,
    core: CoreData,
    format: web::Data<Format>,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = RegistryId(route_id(&id)?);
    let registry = core.find_registry(&actor, **format, id).await?;
    Ok(HttpResponse::Ok().json(RegistryResponse::from(&registry)))
}

/// `PATCH /…/registries/:id`: `name` and/or `description`.
pub(crate) async fn update(
    Authenticated(actor): Authenticated,
    core: CoreData,
    format: web::Data<Format>,
    id: web::Path<String>,
    params: Params,
) -> ApiResult<HttpResponse> {
    let id = RegistryId(route_id(&id)?);
    let changes = RegistryChanges {
        name: optional_nonblank(&params, "name")?,
        description: nullable(&params, "description")?,
    };
    let registry = core.update_registry(&actor, **format, id, changes).await?;
    Ok(HttpResponse::Ok().json(RegistryResponse::from(&registry)))
}

/// `DELETE /…/registries/:id`: also deletes its exclusive upstreams.
pub(crate) async fn delete(
    Authenticated(actor): Authenticated,
    core: CoreData,
    format: web::Data<Format>,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = RegistryId(route_id(&id)?);
    core.delete_registry(&actor, **format, id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `DELETE /…/registries/:id/cache`: purges the cache of its exclusive upstreams, asynchronously.
pub(crate) async fn purge_cache(
    Authenticated(actor): Authenticated,
    core: CoreData,
    format: web::Data<Format>,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = RegistryId(route_id(&id)?);
    core.purge_registry_cache(&actor, **format, id).await?;
    Ok(HttpResponse::NoContent().finish())
}
