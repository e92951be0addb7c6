//! GitLab's `/api/v4` management JSON: users, groups, members and tokens, and the virtual registry
//! management API (registries, upstreams, their ordered associations, connection tests and cache entries)
//! and the group cleanup policy.
//!
//! Handlers are thin: they extract parameters, call one `packyard_core` service and render GitLab's
//! entities. Each carries its OpenAPI path (utoipa), and [`openapi()`] gathers them, with the
//! request bodies of [`bodies`]. Depends on `packyard_http` and `packyard_core`; never on a format
//! crate or on the database.
//!
//! The management routes are format-generic: [`configure_format`] wires them for one [`Format`] under its
//! two prefixes. Register [`configure`] before the format crates' client endpoints: the Maven client route
//! `/api/v4/virtual_registries/packages/maven/{id}/{path}` would otherwise also match management paths
//! such as `…/maven/registries/1`.

pub mod bodies;
mod cache_entries;
mod cleanup;
mod entities;
mod extract;
mod groups;
mod manage;
mod openapi;
#[cfg(test)]
mod proptests;
mod registries;
mod registry_upstreams;
mod upstreams;
mod users;

use actix_web::web;
use packyard_domain::Format;

pub use openapi::openapi;

pub use entities::{
    CacheEntryResponse, CleanupPolicyResponse, ConnectionTestResponse, DeployTokenResponse,
    GroupResponse, MemberResponse, PersonalAccessTokenResponse, RegistryResponse,
    RegistryUpstreamLink, RegistryUpstreamResponse, UpstreamRegistryLink, UpstreamResponse,
    UserResponse, timestamp,
};

/// The prefix of every route of this crate.
pub const API_PREFIX: &str = "/api/v4";

/// The formats with virtual registries, each with the path segment that names it: their management
/// routes are under `/virtual_registries/<kind>` and `/groups/{id}/-/virtual_registries/<kind>`.
pub const VIRTUAL_REGISTRIES: [(Format, &str); 4] = [
    (Format::Maven, "packages/maven"),
    (Format::Container, "container"),
    (Format::Npm, "packages/npm"),
    (Format::Pypi, "packages/pypi"),
];

/// Whether a format's upstreams have `GET …/upstreams/:id/test` (GitLab's container API has none).
fn has_saved_test(format: Format) -> bool {
    format != Format::Container
}

/// Registers the identity routes and the virtual registry management routes under `/api/v4`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    users::configure(cfg);
    for (format, kind) in VIRTUAL_REGISTRIES {
        configure_format(
            cfg,
            format,
            &format!("/virtual_registries/{kind}"),
            &format!("/groups/{{id}}/-/virtual_registries/{kind}"),
        );
    }
    cfg.service(
        web::resource(format!(
            "{API_PREFIX}/groups/{{id}}/-/virtual_registries/cleanup/policy"
        ))
        .route(web::get().to(cleanup::show))
        .route(web::post().to(cleanup::create))
        .route(web::patch().to(cleanup::update))
        .route(web::delete().to(cleanup::delete)),
    );
    // After the group-scoped registry routes, which share the `/groups/{id}` prefix.
    groups::configure(cfg);
}

/// Registers the virtual registry management routes of one format: `prefix` holds the registry, upstream,
/// association and cache entry routes, `group_prefix` (with an `{id}` segment: a group id or URL-encoded
/// full path) the group-scoped ones. Both are relative to `/api/v4`.
pub fn configure_format(
    cfg: &mut web::ServiceConfig,
    format: Format,
    prefix: &str,
    group_prefix: &str,
) {
    let format = web::Data::new(format);
    let at = |path: &str| web::resource(format!("{API_PREFIX}{path}")).app_data(format.clone());
    cfg.service(
        at(&format!("{group_prefix}/registries"))
            .route(web::get().to(registries::list))
            .route(web::post().to(registries::create)),
    )
    .service(
        at(&format!("{group_prefix}/upstreams")).route(web::get().to(upstreams::list_for_group)),
    )
    .service(
        at(&format!("{group_prefix}/upstreams/test")).route(web::post().to(upstreams::test_new)),
    )
    .service(
        at(&format!("{prefix}/registries/{{id}}"))
            .route(web::get().to(registries::show))
            .route(web::patch().to(registries::update))
            .route(web::delete().to(registries::delete)),
    )
    .service(
        at(&format!("{prefix}/registries/{{id}}/cache"))
            .route(web::delete().to(registries::purge_cache)),
    )
    .service(
        at(&format!("{prefix}/registries/{{id}}/upstreams"))
            .route(web::get().to(upstreams::list_for_registry))
            .route(web::post().to(upstreams::create)),
    )
    .service(
        at(&format!("{prefix}/upstreams/{{id}}"))
            .route(web::get().to(upstreams::show))
            .route(web::patch().to(upstreams::update))
            .route(web::delete().to(upstreams::delete)),
    )
    .service(
        at(&format!("{prefix}/upstreams/{{id}}/cache"))
            .route(web::delete().to(upstreams::purge_cache)),
    )
    .service({
        let test = at(&format!("{prefix}/upstreams/{{id}}/test"))
            .route(web::post().to(upstreams::test_existing));
        if has_saved_test(**format) {
            test.route(web::get().to(upstreams::test_saved))
        } else {
            test
        }
    })
    .service(
        at(&format!("{prefix}/upstreams/{{id}}/cache_entries"))
            .route(web::get().to(cache_entries::list)),
    )
    .service(
        at(&format!("{prefix}/registry_upstreams"))
            .route(web::post().to(registry_upstreams::create)),
    )
    .service(
        at(&format!("{prefix}/registry_upstreams/{{id}}"))
            .route(web::patch().to(registry_upstreams::update))
            .route(web::delete().to(registry_upstreams::delete)),
    )
    .service(
        // A wildcard: standard base64 ids may contain `/`.
        at(&format!("{prefix}/cache_entries/{{id:.+}}"))
            .route(web::delete().to(cache_entries::delete)),
    );
}
