//! Upstreams: list in a group or a registry, create in a registry, show, update, delete, purge the cache,
//! and the connection tests.

use actix_web::{HttpRequest, HttpResponse, web};
use packyard_core::registries::{TestTarget, UpstreamChanges, UpstreamInput};
use packyard_domain::{Format, RegistryId, UpstreamId};
use packyard_http::{ApiResult, Pagination, Params, paginated};

use crate::entities::{ConnectionTestResponse, UpstreamResponse};
use crate::extract::{nullable, optional_nonblank};
use crate::manage::{Id, Manager, created, no_content, ok};

/// `GET /groups/:id/-/…/upstreams`: paginated; `upstream_name` filters by a fuzzy name match.
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
pub(crate) async fn delete(
    m: Manager,
    format: web::Data<Format>,
    Id(id): Id<UpstreamId>,
) -> ApiResult<HttpResponse> {
    m.core.delete_upstream(&m.actor, **format, id).await?;
    Ok(no_content())
}

/// `DELETE /…/upstreams/:id/cache`: asynchronous.
pub(crate) async fn purge_cache(
    m: Manager,
    format: web::Data<Format>,
    Id(id): Id<UpstreamId>,
) -> ApiResult<HttpResponse> {
    m.core.purge_upstream_cache(&m.actor, **format, id).await?;
    Ok(no_content())
}

/// `GET /…/upstreams/:id/test`: tests the saved configuration.
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
