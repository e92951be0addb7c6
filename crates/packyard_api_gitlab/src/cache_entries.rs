//! Cache entries of an upstream: list (paginated, `search`) and delete by opaque id.

use actix_web::{HttpRequest, HttpResponse, web};
use packyard_domain::{Format, UpstreamId};
use packyard_http::{ApiResult, Pagination, Params, paginated};

use crate::entities::CacheEntryResponse;
use crate::manage::{Id, Manager, no_content};

/// `GET /…/upstreams/:id/cache_entries`: newest first; `page`, `per_page`, `search`.
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
pub(crate) async fn delete(
    m: Manager,
    format: web::Data<Format>,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    m.core.delete_cache_entry(&m.actor, **format, &id).await?;
    Ok(no_content())
}
