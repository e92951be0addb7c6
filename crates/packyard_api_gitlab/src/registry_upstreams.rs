//! Associations between registries and upstreams: create, move, delete.

use actix_web::{HttpResponse, web};
use packyard_domain::{Format, RegistryId, RegistryUpstreamId, UpstreamId};
use packyard_http::{ApiResult, Params};

use crate::bodies::{RegistryUpstreamCreateRequest, RegistryUpstreamUpdateRequest};
use crate::entities::RegistryUpstreamResponse;
use crate::extract::{position, required_integer};
use crate::manage::{Id, Manager, created, no_content, ok};
use crate::openapi::RouteId;
use packyard_http::GitlabErrorBody;

/// `POST /…/registry_upstreams`: `registry_id` and `upstream_id`; the new association goes last.
#[utoipa::path(post, path = "/api/v4/virtual_registries/FORMAT/registry_upstreams", operation_id = "create_registry_upstream",
    request_body = RegistryUpstreamCreateRequest,
    responses(
        (status = 201, description = "The association", body = RegistryUpstreamResponse),
        (status = 400, description = "A parameter is missing or invalid, the two are associated already or the registry has as many upstreams as it may", body = GitlabErrorBody),
        (status = 404, description = "No such registry or upstream", body = GitlabErrorBody),
    ))]
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
#[utoipa::path(patch, path = "/api/v4/virtual_registries/FORMAT/registry_upstreams/{id}", operation_id = "move_registry_upstream",
    params(RouteId), request_body = RegistryUpstreamUpdateRequest,
    responses(
        (status = 200, description = "The association at its new position", body = RegistryUpstreamResponse),
        (status = 400, description = "A parameter is missing or invalid", body = GitlabErrorBody),
        (status = 404, description = "No such association", body = GitlabErrorBody),
    ))]
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
#[utoipa::path(delete, path = "/api/v4/virtual_registries/FORMAT/registry_upstreams/{id}", operation_id = "delete_registry_upstream",
    params(RouteId),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "The id is not an integer", body = GitlabErrorBody),
        (status = 404, description = "No such association", body = GitlabErrorBody),
    ))]
pub(crate) async fn delete(
    m: Manager,
    format: web::Data<Format>,
    Id(id): Id<RegistryUpstreamId>,
) -> ApiResult<HttpResponse> {
    m.core.dissociate_upstream(&m.actor, **format, id).await?;
    Ok(no_content())
}
