//! Upstreams: list in a group or a registry, create in a registry, show, update, delete, purge the cache,
//! and the connection tests.

use actix_web::{HttpRequest, HttpResponse, web};
use packyard_core::registries::{TestTarget, UpstreamChanges, UpstreamInput};
use packyard_domain::{Format, RegistryId, UpstreamId};
use packyard_http::{ApiResult, Authenticated, CoreData, Pagination, Params, paginated};

use crate::entities::{ConnectionTestResponse, UpstreamResponse};
use crate::extract::{nullable, optional_nonblank, route_id};

/// `GET /groups/:id/-/…/upstreams`: paginated; `upstream_name` filters by a fuzzy name match.
pub(crate) async fn list_for_group(
    req: HttpRequest,
    Authenticated(actor): Authenticated,
    core: CoreData,
    format: web::Data<Format>,
    group: web::Path<String>,
    params: Params,
) -> ApiResult<HttpResponse> {
    let pagination = Pagination::from_params(&params)?;
    let name = params.string("upstream_name")?;
    let page = core
        .list_group_upstreams(
            &actor,
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
    Authenticated(actor): Authenticated,
    core: CoreData,
    format: web::Data<Format>,
    group: web::Path<String>,
    params: Params,
) -> ApiResult<HttpResponse> {
    let target = TestTarget {
        url: Some(params.required_string("url")?),
        username: params.string("username")?,
        password: params.string("password")?,
    };
    let result = core
        .test_new_upstream(&actor, **format, &group, target)
        .await?;
    Ok(HttpResponse::Ok().json(ConnectionTestResponse::from(result)))
}

/// `GET /…/registries/:id/upstreams`: by position, each with its `registry_upstream`.
pub(crate) async fn list_for_registry(
    Authenticated(actor): Authenticated,
    core: CoreData,
    format: web::Data<Format>,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = RegistryId(route_id(&id)?);
    let linked = core.list_registry_upstreams(&actor, **format, id).await?;
    let body: Vec<UpstreamResponse> = linked
        .iter()
        .map(|(upstream, association)| UpstreamResponse::in_registry(upstream, association))
        .collect();
    Ok(HttpResponse::Ok().json(body))
}

/// `POST /…/registries/:id/upstreams`: creates an upstream and links it last.
pub(crate) async fn create(
    Authenticated(actor): Authenticated,
    core: CoreData,
    format: web::Data<Format>,
    id: web::Path<String>,
    params: Params,
) -> ApiResult<HttpResponse> {
    let id = RegistryId(route_id(&id)?);
    let input = UpstreamInput {
        url: params.required_string("url")?,
        name: params.string("name")?,
        description: params.string("description")?,
        username: params.string("username")?,
        password: params.string("password")?,
        cache_validity_hours: params.integer("cache_validity_hours")?,
        metadata_cache_validity_hours: params.integer("metadata_cache_validity_hours")?,
    };
    let (upstream, association) = core.create_upstream(&actor, **format, id, input).await?;
    Ok(HttpResponse::Created().json(UpstreamResponse::in_registry(&upstream, &association)))
}

/// `GET /…/upstreams/:id`: with every `registry_upstreams` link.
pub(crate) async fn show(
    Authenticated(actor): Authenticated,
    core: CoreData,
    format: web::Data<Format>,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = UpstreamId(route_id(&id)?);
    let details = core.find_upstream(&actor, **format, id).await?;
    Ok(HttpResponse::Ok().json(UpstreamResponse::with_registries(
        &details.upstream,
        &details.associations,
    )))
}

/// `PATCH /…/upstreams/:id`: at least one field; answers with the updated upstream.
pub(crate) async fn update(
    Authenticated(actor): Authenticated,
    core: CoreData,
    format: web::Data<Format>,
    id: web::Path<String>,
    params: Params,
) -> ApiResult<HttpResponse> {
    let id = UpstreamId(route_id(&id)?);
    let changes = UpstreamChanges {
        name: optional_nonblank(&params, "name")?,
        description: nullable(&params, "description")?,
        url: optional_nonblank(&params, "url")?,
        username: params.string("username")?,
        password: params.string("password")?,
        cache_validity_hours: params.integer("cache_validity_hours")?,
        metadata_cache_validity_hours: params.integer("metadata_cache_validity_hours")?,
    };
    let upstream = core.update_upstream(&actor, **format, id, changes).await?;
    Ok(HttpResponse::Ok().json(UpstreamResponse::from(&upstream)))
}

/// `DELETE /…/upstreams/:id`: re-packs positions in every linked registry.
pub(crate) async fn delete(
    Authenticated(actor): Authenticated,
    core: CoreData,
    format: web::Data<Format>,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = UpstreamId(route_id(&id)?);
    core.delete_upstream(&actor, **format, id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `DELETE /…/upstreams/:id/cache`: asynchronous.
pub(crate) async fn purge_cache(
    Authenticated(actor): Authenticated,
    core: CoreData,
    format: web::Data<Format>,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = UpstreamId(route_id(&id)?);
    core.purge_upstream_cache(&actor, **format, id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /…/upstreams/:id/test`: tests the saved configuration.
pub(crate) async fn test_saved(
    Authenticated(actor): Authenticated,
    core: CoreData,
    format: web::Data<Format>,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = UpstreamId(route_id(&id)?);
    let result = core
        .test_upstream(&actor, **format, id, TestTarget::default())
        .await?;
    Ok(HttpResponse::Ok().json(ConnectionTestResponse::from(result)))
}

/// `POST /…/upstreams/:id/test`: optional `url`, `username`, `password` overrides.
pub(crate) async fn test_existing(
    Authenticated(actor): Authenticated,
    core: CoreData,
    format: web::Data<Format>,
    id: web::Path<String>,
    params: Params,
) -> ApiResult<HttpResponse> {
    let id = UpstreamId(route_id(&id)?);
    let overrides = TestTarget {
        url: optional_nonblank(&params, "url")?,
        username: params.string("username")?,
        password: params.string("password")?,
    };
    let result = core.test_upstream(&actor, **format, id, overrides).await?;
    Ok(HttpResponse::Ok().json(ConnectionTestResponse::from(result)))
}
