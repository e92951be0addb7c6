//! The OpenAPI description of this crate's routes. Each handler carries its own `#[utoipa::path]`; the
//! virtual registry handlers serve every format of [`VIRTUAL_REGISTRIES`], so their paths say `FORMAT`
//! where the format's segment goes, and [`openapi`] writes them out once per format.

use packyard_domain::Format;
use packyard_http::openapi::operations_mut;
use utoipa::openapi::path::PathItem;
use utoipa::openapi::{OpenApi as Document, Ref};
use utoipa::{IntoParams, OpenApi};

use crate::bodies::ContainerUpstreamCreateRequest;
use crate::{
    VIRTUAL_REGISTRIES, cache_entries, cleanup, groups, has_saved_test, registries,
    registry_upstreams, upstreams, users,
};

/// Where a virtual registry path names its format.
const FORMAT: &str = "FORMAT";

/// A group in a route: its id or its URL-encoded full path (`acme%2Fteam`).
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct GroupPath {
    /// A group id or URL-encoded full path.
    #[expect(
        dead_code,
        reason = "describes the route; handlers read it as a string"
    )]
    id: String,
}

/// The integer id of the record a route names (GitLab's `type: Integer`).
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct RouteId {
    /// The record's id.
    #[expect(dead_code, reason = "describes the route; the `Id` extractor reads it")]
    id: i64,
}

/// Users, tokens, groups, members and the cleanup policy: one path each.
#[derive(OpenApi)]
#[openapi(paths(
    users::list,
    users::create,
    users::create_token,
    users::revoke_token,
    groups::list,
    groups::create,
    groups::show,
    groups::list_members,
    groups::add_member,
    groups::remove_member,
    groups::create_deploy_token,
    groups::revoke_deploy_token,
    cleanup::show,
    cleanup::create,
    cleanup::update,
    cleanup::delete,
))]
struct IdentityApi;

/// The virtual registry routes, with `FORMAT` for the format's segment.
#[derive(OpenApi)]
#[openapi(
    components(schemas(ContainerUpstreamCreateRequest)),
    paths(
        registries::list,
        registries::create,
        registries::show,
        registries::update,
        registries::delete,
        registries::purge_cache,
        upstreams::list_for_group,
        upstreams::test_new,
        upstreams::list_for_registry,
        upstreams::create,
        upstreams::show,
        upstreams::update,
        upstreams::delete,
        upstreams::purge_cache,
        upstreams::test_saved,
        upstreams::test_existing,
        registry_upstreams::create,
        registry_upstreams::update,
        registry_upstreams::delete,
        cache_entries::list,
        cache_entries::delete,
    )
)]
struct VirtualRegistryApi;

/// The description of every route this crate registers: the identity routes as they are, the virtual
/// registry routes once per format (operation ids and tags prefixed with the format).
pub fn openapi() -> Document {
    let mut document = IdentityApi::openapi();
    let mut formats = VirtualRegistryApi::openapi();
    let template = std::mem::take(&mut formats.paths.paths);
    for (format, kind) in VIRTUAL_REGISTRIES {
        let name = format.as_str();
        for (path, item) in &template {
            let mut item = item.clone();
            if path.ends_with("/upstreams/{id}/test") && !has_saved_test(format) {
                item.get = None;
            }
            if path.ends_with("/registries/{id}/upstreams") && format == Format::Container {
                name_required(&mut item);
            }
            for operation in operations_mut(&mut item) {
                operation.operation_id = operation
                    .operation_id
                    .take()
                    .map(|id| format!("{name}_{id}"));
                operation.tags = Some(vec![format!("{name} virtual registries")]);
            }
            formats.paths.paths.insert(path.replace(FORMAT, kind), item);
        }
    }
    document.merge(formats);
    packyard_http::describe_pagination_headers(&mut document);
    document
}

/// Container upstreams are created with a name: their creation takes [`ContainerUpstreamCreateRequest`].
fn name_required(item: &mut PathItem) {
    let body = item
        .post
        .as_mut()
        .and_then(|operation| operation.request_body.as_mut());
    for content in body.into_iter().flat_map(|body| body.content.values_mut()) {
        content.schema = Some(Ref::from_schema_name("ContainerUpstreamCreateRequest").into());
    }
}
