//! Upstreams: list in a group or a registry, create in a registry, show, update, delete, purge the cache,
//! and the connection tests.

use actix_web::{HttpRequest, HttpResponse, web};
use packyard_core::registries::{TestTarget, UpstreamChanges, UpstreamInput};
use packyard_domain::{Format, RegistryId, UpstreamId};
use packyard_http::{ApiResult, Pagination, Params, paginated};

use crate::bodies::{
    ConnectionTestOverrides, ConnectionTestRequest, UpstreamCreateRequest, UpstreamUpdateRequest,
};
use crate::entities::{ConnectionTestResponse, UpstreamResponse};
use crate::extract::{nullable, optional_nonblank};
use crate::manage::{Id, Manager, created, no_content, ok};
use crate::openapi::{GroupPath, RouteId};
use packyard_http::GitlabErrorBody;

/// `GET /groups/:id/-/…/upstreams`: paginated; `upstream_name` filters by a fuzzy name match.
#[utoipa::path(get, path = "/api/v4/groups/{id}/-/virtual_registries/FORMAT/upstreams", operation_id = "list_group_upstreams",
    params(GroupPath, Pagination,
        ("upstream_name" = Option<String>, Query, description = "Only upstreams whose name contains this")),
    responses(
        (status = 200, description = "A page of the group's upstreams", body = Vec<UpstreamResponse>),
        (status = 400, description = "A parameter is invalid", body = GitlabErrorBody),
        (status = 404, description = "No such group", body = GitlabErrorBody),
    ))]
pub(crate) async fn list_for_group(
    req: HttpRequest,
    m: Manager,
    format: web::Data<Format>,
    group: web::Path<String>,
    params: Params,
) -> ApiResult<HttpResponse> {
    let pagination = Pagination::from_params(&params)?;
    let name = params.string("upstream_name")?;
    let page = m
        .core
        .list_group_upstreams(
            &m.actor,
            **format,
            &group,
            name,
            pagination.offset(),
            pagination.per_page,
        )
        .await?;
    let body: Vec<UpstreamResponse> = page.items.iter().map(Into::into).collect();
    Ok(paginated(&req, pagination, page.total, &body))
}

/// `POST /groups/:id/-/…/upstreams/test`: `url` (required), `username` and `password` (both or neither).
#[utoipa::path(post, path = "/api/v4/groups/{id}/-/virtual_registries/FORMAT/upstreams/test", operation_id = "test_new_upstream",
    params(GroupPath), request_body = ConnectionTestRequest,
    responses(
        (status = 200, description = "Whether the upstream answered", body = ConnectionTestResponse),
        (status = 400, description = "A parameter is missing or invalid", body = GitlabErrorBody),
        (status = 404, description = "No such group", body = GitlabErrorBody),
    ))]
pub(crate) async fn test_new(
    m: Manager,
    format: web::Data<Format>,
    group: web::Path<String>,
    params: Params,
) -> ApiResult<HttpResponse> {
    let target = TestTarget {
        url: Some(params.required_string("url")?),
        username: params.string("username")?,
        password: params.string("password")?,
    };
    let result = m
        .core
        .test_new_upstream(&m.actor, **format, &group, target)
        .await?;
    Ok(ok(ConnectionTestResponse::from(result)))
}

/// `GET /…/registries/:id/upstreams`: by position, each with its `registry_upstream`.
#[utoipa::path(get, path = "/api/v4/virtual_registries/FORMAT/registries/{id}/upstreams", operation_id = "list_registry_upstreams",
    params(RouteId),
    responses(
        (status = 200, description = "The registry's upstreams by position", body = Vec<UpstreamResponse>),
        (status = 400, description = "The id is not an integer", body = GitlabErrorBody),
        (status = 404, description = "No such registry", body = GitlabErrorBody),
    ))]
pub(crate) async fn list_for_registry(
    m: Manager,
    format: web::Data<Format>,
    Id(id): Id<RegistryId>,
) -> ApiResult<HttpResponse> {
    let linked = m
        .core
        .list_registry_upstreams(&m.actor, **format, id)
        .await?;
    let body: Vec<UpstreamResponse> = linked
        .iter()
        .map(|(upstream, association)| UpstreamResponse::in_registry(upstream, association))
        .collect();
    Ok(ok(body))
}

/// `POST /…/registries/:id/upstreams`: creates an upstream and links it last.
#[utoipa::path(post, path = "/api/v4/virtual_registries/FORMAT/registries/{id}/upstreams", operation_id = "create_upstream",
    params(RouteId), request_body = UpstreamCreateRequest,
    responses(
        (status = 201, description = "The upstream with its association", body = UpstreamResponse),
        (status = 400, description = "A parameter is missing or invalid, the group has an upstream with this URL and credentials or the registry as many upstreams as it may", body = GitlabErrorBody),
        (status = 404, description = "No such registry", body = GitlabErrorBody),
    ))]
pub(crate) async fn create(
    m: Manager,
    format: web::Data<Format>,
    Id(id): Id<RegistryId>,
    params: Params,
) -> ApiResult<HttpResponse> {
    let input = UpstreamInput {
        url: params.required_string("url")?,
        name: params.string("name")?,
        description: params.string("description")?,
        username: params.string("username")?,
        password: params.string("password")?,
        cache_validity_hours: params.integer("cache_validity_hours")?,
        metadata_cache_validity_hours: params.integer("metadata_cache_validity_hours")?,
    };
    let (upstream, association) = m
        .core
        .create_upstream(&m.actor, **format, id, input)
        .await?;
    Ok(created(UpstreamResponse::in_registry(
        &upstream,
        &association,
    )))
}

/// `GET /…/upstreams/:id`: with every `registry_upstreams` link.
#[utoipa::path(get, path = "/api/v4/virtual_registries/FORMAT/upstreams/{id}", operation_id = "show_upstream",
    params(RouteId),
    responses(
        (status = 200, description = "The upstream with every association", body = UpstreamResponse),
        (status = 400, description = "The id is not an integer", body = GitlabErrorBody),
        (status = 404, description = "No such upstream", body = GitlabErrorBody),
    ))]
pub(crate) async fn show(
    m: Manager,
    format: web::Data<Format>,
    Id(id): Id<UpstreamId>,
) -> ApiResult<HttpResponse> {
    let details = m.core.find_upstream(&m.actor, **format, id).await?;
    Ok(ok(UpstreamResponse::with_registries(
        &details.upstream,
        &details.associations,
    )))
}

/// `PATCH /…/upstreams/:id`: at least one field; answers with the updated upstream.
#[utoipa::path(patch, path = "/api/v4/virtual_registries/FORMAT/upstreams/{id}", operation_id = "update_upstream",
    params(RouteId), request_body = UpstreamUpdateRequest,
    responses(
        (status = 200, description = "The upstream", body = UpstreamResponse),
        (status = 400, description = "No change given, or a parameter is invalid", body = GitlabErrorBody),
        (status = 404, description = "No such upstream", body = GitlabErrorBody),
    ))]
pub(crate) async fn update(
    m: Manager,
    format: web::Data<Format>,
    Id(id): Id<UpstreamId>,
    params: Params,
) -> ApiResult<HttpResponse> {
    let changes = UpstreamChanges {
        name: optional_nonblank(&params, "name")?,
        description: nullable(&params, "description")?,
        url: optional_nonblank(&params, "url")?,
        username: params.string("username")?,
        password: params.string("password")?,
        cache_validity_hours: params.integer("cache_validity_hours")?,
        metadata_cache_validity_hours: params.integer("metadata_cache_validity_hours")?,
    };
    let upstream = m
        .core
        .update_upstream(&m.actor, **format, id, changes)
        .await?;
    Ok(ok(UpstreamResponse::from(&upstream)))
}

/// `DELETE /…/upstreams/:id`: re-packs positions in every linked registry.
#[utoipa::path(delete, path = "/api/v4/virtual_registries/FORMAT/upstreams/{id}", operation_id = "delete_upstream",
    params(RouteId),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "The id is not an integer", body = GitlabErrorBody),
        (status = 404, description = "No such upstream", body = GitlabErrorBody),
    ))]
pub(crate) async fn delete(
    m: Manager,
    format: web::Data<Format>,
    Id(id): Id<UpstreamId>,
) -> ApiResult<HttpResponse> {
    m.core.delete_upstream(&m.actor, **format, id).await?;
    Ok(no_content())
}

/// `DELETE /…/upstreams/:id/cache`: asynchronous.
#[utoipa::path(delete, path = "/api/v4/virtual_registries/FORMAT/upstreams/{id}/cache", operation_id = "purge_upstream_cache",
    params(RouteId),
    responses(
        (status = 204, description = "The purge is under way"),
        (status = 400, description = "The id is not an integer", body = GitlabErrorBody),
        (status = 404, description = "No such upstream", body = GitlabErrorBody),
    ))]
pub(crate) async fn purge_cache(
    m: Manager,
    format: web::Data<Format>,
    Id(id): Id<UpstreamId>,
) -> ApiResult<HttpResponse> {
    m.core.purge_upstream_cache(&m.actor, **format, id).await?;
    Ok(no_content())
}

/// `GET /…/upstreams/:id/test`: tests the saved configuration (Maven only).
#[utoipa::path(get, path = "/api/v4/virtual_registries/FORMAT/upstreams/{id}/test", operation_id = "test_saved_upstream",
    params(RouteId),
    responses(
        (status = 200, description = "Whether the upstream answered", body = ConnectionTestResponse),
        (status = 400, description = "The id is not an integer", body = GitlabErrorBody),
        (status = 404, description = "No such upstream", body = GitlabErrorBody),
    ))]
pub(crate) async fn test_saved(
    m: Manager,
    format: web::Data<Format>,
    Id(id): Id<UpstreamId>,
) -> ApiResult<HttpResponse> {
    let result = m
        .core
        .test_upstream(&m.actor, **format, id, TestTarget::default())
        .await?;
    Ok(ok(ConnectionTestResponse::from(result)))
}

/// `POST /…/upstreams/:id/test`: optional `url`, `username`, `password` overrides.
#[utoipa::path(post, path = "/api/v4/virtual_registries/FORMAT/upstreams/{id}/test", operation_id = "test_upstream",
    params(RouteId), request_body = ConnectionTestOverrides,
    responses(
        (status = 200, description = "Whether the upstream answered", body = ConnectionTestResponse),
        (status = 400, description = "A parameter is invalid", body = GitlabErrorBody),
        (status = 404, description = "No such upstream", body = GitlabErrorBody),
    ))]
pub(crate) async fn test_existing(
    m: Manager,
    format: web::Data<Format>,
    Id(id): Id<UpstreamId>,
    params: Params,
) -> ApiResult<HttpResponse> {
    let overrides = TestTarget {
        url: optional_nonblank(&params, "url")?,
        username: params.string("username")?,
        password: params.string("password")?,
    };
    let result = m
        .core
        .test_upstream(&m.actor, **format, id, overrides)
        .await?;
    Ok(ok(ConnectionTestResponse::from(result)))
}
