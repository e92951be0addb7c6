//! Cache entries of an upstream: list (paginated, `search`) and delete by opaque id.

use actix_web::{HttpRequest, HttpResponse, web};
use packyard_domain::{Format, UpstreamId};
use packyard_http::{ApiResult, Pagination, Params, paginated};

use crate::entities::CacheEntryResponse;
use crate::manage::{Id, Manager, no_content};
use crate::openapi::RouteId;
use packyard_http::GitlabErrorBody;

/// `GET /…/upstreams/:id/cache_entries`: newest first; `page`, `per_page`, `search`.
#[utoipa::path(get, path = "/api/v4/virtual_registries/FORMAT/upstreams/{id}/cache_entries", operation_id = "list_cache_entries",
    params(RouteId, Pagination,
        ("search" = Option<String>, Query, description = "Only entries whose path contains this")),
    responses(
        (status = 200, description = "A page of the upstream's cache entries, newest first",
        body = Vec<CacheEntryResponse>),
        (status = 400, description = "A parameter is invalid", body = GitlabErrorBody),
        (status = 404, description = "No such upstream", body = GitlabErrorBody),
    ))]
pub(crate) async fn list(
    req: HttpRequest,
    m: Manager,
    format: web::Data<Format>,
    Id(id): Id<UpstreamId>,
    params: Params,
) -> ApiResult<HttpResponse> {
    let pagination = Pagination::from_params(&params)?;
    let search = params.string("search")?;
    let page = m
        .core
        .list_cache_entries(
            &m.actor,
            **format,
            id,
            search,
            pagination.offset(),
            pagination.per_page,
        )
        .await?;
    let body: Vec<CacheEntryResponse> = page
        .items
        .iter()
        .map(|entry| CacheEntryResponse::new(entry, **format))
        .collect();
    Ok(paginated(&req, pagination, page.total, &body))
}

/// `DELETE /…/cache_entries/*id`: hidden at once, removed in the background.
#[utoipa::path(delete, path = "/api/v4/virtual_registries/FORMAT/cache_entries/{id}", operation_id = "delete_cache_entry",
    params(("id" = String, Path, description = "The entry's opaque id, as listed")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "The id is not one the API gave", body = GitlabErrorBody),
        (status = 404, description = "No such entry", body = GitlabErrorBody),
    ))]
pub(crate) async fn delete(
    m: Manager,
    format: web::Data<Format>,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    m.core.delete_cache_entry(&m.actor, **format, &id).await?;
    Ok(no_content())
}
