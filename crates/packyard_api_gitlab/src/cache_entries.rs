//! Cache entries of an upstream: list (paginated, `search`) and delete by opaque id.

use actix_web::{HttpRequest, HttpResponse, web};
use packyard_domain::{Format, UpstreamId};
use packyard_http::{ApiResult, Authenticated, CoreData, Pagination, Params, paginated};

use crate::entities::CacheEntryResponse;
use crate::extract::route_id;

/// `GET /…/upstreams/:id/cache_entries`: newest first; `page`, `per_page`, `search`.
pub(crate) async fn list(
    req: HttpRequest,
    Authenticated(actor): Authenticated,
    core: CoreData,
    format: web::Data<Format>,
    id: web::Path<String>,
    params: Params,
) -> ApiResult<HttpResponse> {
    let id = UpstreamId(route_id(&id)?);
    let pagination = Pagination::from_params(&params)?;
    let search = params.string("search")?;
    let page = core
        .list_cache_entries(
            &actor,
            **format,
            id,
            search,
            pagination.offset(),
            pagination.per_page,
        )
        .await?;
    let body: Vec<CacheEntryResponse> = page.items.iter().map(Into::into).collect();
    Ok(paginated(&req, pagination, page.total, &body))
}

/// `DELETE /…/cache_entries/*id`: hidden at once, removed in the background.
pub(crate) async fn delete(
    Authenticated(actor): Authenticated,
    core: CoreData,
    format: web::Data<Format>,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    core.delete_cache_entry(&actor, **format, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}
