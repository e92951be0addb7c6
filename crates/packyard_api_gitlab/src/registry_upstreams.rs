//! Associations between registries and upstreams: create, move, delete.

use actix_web::{HttpResponse, web};
use packyard_domain::{Format, RegistryId, RegistryUpstreamId, UpstreamId};
use packyard_http::{ApiResult, Params};

use crate::entities::RegistryUpstreamResponse;
use crate::extract::{position, required_integer};
use crate::manage::{Id, Manager, created, no_content, ok};

/// `POST /…/registry_upstreams`: `registry_id` and `upstream_id`; the new association goes last.
pub(crate) async fn create(
    m: Manager,
    format: web::Data<Format>,
    params: Params,
) -> ApiResult<HttpResponse> {
    let registry_id = RegistryId(required_integer(&params, "registry_id")?);
    let upstream_id = UpstreamId(required_integer(&params, "upstream_id")?);
    let association = m
        .core
        .associate_upstream(&m.actor, **format, registry_id, upstream_id)
        .await?;
    Ok(created(RegistryUpstreamResponse::from(&association)))
}

/// `PATCH /…/registry_upstreams/:id`: `position` (1..20, capped at the registry's last position).
pub(crate) async fn update(
    m: Manager,
    format: web::Data<Format>,
    Id(id): Id<RegistryUpstreamId>,
    params: Params,
) -> ApiResult<HttpResponse> {
    let position = position(&params)?;
    let association = m
        .core
        .move_association(&m.actor, **format, id, position)
        .await?;
    Ok(ok(RegistryUpstreamResponse::from(&association)))
}

/// `DELETE /…/registry_upstreams/:id`: the upstream itself stays.
pub(crate) async fn delete(
    m: Manager,
    format: web::Data<Format>,
    Id(id): Id<RegistryUpstreamId>,
) -> ApiResult<HttpResponse> {
    m.core.dissociate_upstream(&m.actor, **format, id).await?;
    Ok(no_content())
}
