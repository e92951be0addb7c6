//! Associations between registries and upstreams: create, move, delete.

use actix_web::{HttpResponse, web};
use packyard_domain::{Format, RegistryId, RegistryUpstreamId, UpstreamId};
use packyard_http::{ApiResult, Authenticated, CoreData, Params};

use crate::entities::RegistryUpstreamResponse;
use crate::extract::{required_integer, route_id};

/// `POST /…/registry_upstreams`: `registry_id` and `upstream_id`; the new association goes last.
pub(crate) async fn create(
    Authenticated(actor): Authenticated,
    core: CoreData,
    format: web::Data<Format>,
    params: Params,
) -> ApiResult<HttpResponse> {
    let registry_id = RegistryId(required_integer(&params, "registry_id")?);
    let upstream_id = UpstreamId(required_integer(&params, "upstream_id")?);
    let association = core
        .associate_upstream(&actor, **format, registry_id, upstream_id)
        .await?;
    Ok(HttpResponse::Created().json(RegistryUpstreamResponse::from(&association)))
}

/// `PATCH /…/registry_upstreams/:id`: `position` (1..20, capped at the registry's last position).
pub(crate) async fn update(
    Authenticated(actor): Authenticated,
    core: CoreData,
    format: web::Data<Format>,
    id: web::Path<String>,
    params: Params,
) -> ApiResult<HttpResponse> {
    let id = RegistryUpstreamId(route_id(&id)?);
    let position = required_integer(&params, "position")?;
    let association = core
        .move_association(&actor, **format, id, position)
        .await?;
    Ok(HttpResponse::Ok().json(RegistryUpstreamResponse::from(&association)))
}

/// `DELETE /…/registry_upstreams/:id`: the upstream itself stays.
pub(crate) async fn delete(
    Authenticated(actor): Authenticated,
    core: CoreData,
    format: web::Data<Format>,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = RegistryUpstreamId(route_id(&id)?);
    core.dissociate_upstream(&actor, **format, id).await?;
    Ok(HttpResponse::NoContent().finish())
}
