//! The group cleanup policy: `GET|POST|PATCH|DELETE /groups/:id/-/virtual_registries/cleanup/policy`.

use actix_web::{HttpResponse, web};
use packyard_core::cleanup::CleanupPolicyChanges;
use packyard_http::{ApiResult, Params};

use crate::bodies::CleanupPolicyRequest;
use crate::entities::CleanupPolicyResponse;
use crate::extract::{optional_nonblank_boolean, optional_nonblank_integer};
use crate::manage::{Manager, created, no_content, ok};
use crate::openapi::GroupPath;
use packyard_http::GitlabErrorBody;

/// The policy settings a POST or PATCH may carry.
fn changes(params: &Params) -> ApiResult<CleanupPolicyChanges> {
    Ok(CleanupPolicyChanges {
        enabled: optional_nonblank_boolean(params, "enabled")?,
        keep_n_days_after_download: optional_nonblank_integer(
            params,
            "keep_n_days_after_download",
        )?,
        cadence: optional_nonblank_integer(params, "cadence")?,
        notify_on_success: optional_nonblank_boolean(params, "notify_on_success")?,
        notify_on_failure: optional_nonblank_boolean(params, "notify_on_failure")?,
    })
}

/// `GET …/cleanup/policy`.
#[utoipa::path(get, path = "/api/v4/groups/{id}/-/virtual_registries/cleanup/policy", operation_id = "show_cleanup_policy", tag = "cleanup policy",
    params(GroupPath),
    responses(
        (status = 200, description = "The group's policy", body = CleanupPolicyResponse),
        (status = 404, description = "No such group, or it has no policy", body = GitlabErrorBody),
    ))]
pub(crate) async fn show(m: Manager, group: web::Path<String>) -> ApiResult<HttpResponse> {
    let policy = m.core.find_cleanup_policy(&m.actor, &group).await?;
    Ok(ok(CleanupPolicyResponse::from(&policy)))
}

/// `POST …/cleanup/policy`: every setting optional; one policy per group.
#[utoipa::path(post, path = "/api/v4/groups/{id}/-/virtual_registries/cleanup/policy", operation_id = "create_cleanup_policy", tag = "cleanup policy",
    params(GroupPath), request_body = CleanupPolicyRequest,
    responses(
        (status = 201, description = "The policy", body = CleanupPolicyResponse),
        (status = 400, description = "A parameter is invalid, the group is not top-level or has a policy", body = GitlabErrorBody),
        (status = 404, description = "No such group", body = GitlabErrorBody),
    ))]
pub(crate) async fn create(
    m: Manager,
    group: web::Path<String>,
    params: Params,
) -> ApiResult<HttpResponse> {
    let policy = m
        .core
        .create_cleanup_policy(&m.actor, &group, changes(&params)?)
        .await?;
    Ok(created(CleanupPolicyResponse::from(&policy)))
}

/// `PATCH …/cleanup/policy`: at least one setting.
#[utoipa::path(patch, path = "/api/v4/groups/{id}/-/virtual_registries/cleanup/policy", operation_id = "update_cleanup_policy", tag = "cleanup policy",
    params(GroupPath), request_body = CleanupPolicyRequest,
    responses(
        (status = 200, description = "The policy", body = CleanupPolicyResponse),
        (status = 400, description = "No change given, or a parameter is invalid", body = GitlabErrorBody),
        (status = 404, description = "No such group, or it has no policy", body = GitlabErrorBody),
    ))]
pub(crate) async fn update(
    m: Manager,
    group: web::Path<String>,
    params: Params,
) -> ApiResult<HttpResponse> {
    let policy = m
        .core
        .update_cleanup_policy(&m.actor, &group, changes(&params)?)
        .await?;
    Ok(ok(CleanupPolicyResponse::from(&policy)))
}

/// `DELETE …/cleanup/policy`.
#[utoipa::path(delete, path = "/api/v4/groups/{id}/-/virtual_registries/cleanup/policy", operation_id = "delete_cleanup_policy", tag = "cleanup policy",
    params(GroupPath),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such group, or it has no policy", body = GitlabErrorBody),
    ))]
pub(crate) async fn delete(m: Manager, group: web::Path<String>) -> ApiResult<HttpResponse> {
    m.core.delete_cleanup_policy(&m.actor, &group).await?;
    Ok(no_content())
}
