//! The group cleanup policy: `GET|POST|PATCH|DELETE /groups/:id/-/virtual_registries/cleanup/policy`.

use actix_web::{HttpResponse, web};
use packyard_core::cleanup::CleanupPolicyChanges;
use packyard_http::{ApiResult, Authenticated, CoreData, Params};

use crate::entities::CleanupPolicyResponse;
use crate::extract::{optional_nonblank_boolean, optional_nonblank_integer};

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
pub(crate) async fn show(
    Authenticated(actor): Authenticated,
    core: CoreData,
    group: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let policy = core.find_cleanup_policy(&actor, &group).await?;
    Ok(HttpResponse::Ok().json(CleanupPolicyResponse::from(&policy)))
}

/// `POST …/cleanup/policy`: every setting optional; one policy per group.
pub(crate) async fn create(
    Authenticated(actor): Authenticated,
    core: CoreData,
    group: web::Path<String>,
    params: Params,
) -> ApiResult<HttpResponse> {
    let policy = core
        .create_cleanup_policy(&actor, &group, changes(&params)?)
        .await?;
    Ok(HttpResponse::Created().json(CleanupPolicyResponse::from(&policy)))
}

/// `PATCH …/cleanup/policy`: at least one setting.
pub(crate) async fn update(
    Authenticated(actor): Authenticated,
    core: CoreData,
    group: web::Path<String>,
    params: Params,
) -> ApiResult<HttpResponse> {
    let policy = core
        .update_cleanup_policy(&actor, &group, changes(&params)?)
        .await?;
    Ok(HttpResponse::Ok().json(CleanupPolicyResponse::from(&policy)))
}

/// `DELETE …/cleanup/policy`.
pub(crate) async fn delete(
    Authenticated(actor): Authenticated,
    core: CoreData,
    group: web::Path<String>,
) -> ApiResult<HttpResponse> {
    core.delete_cleanup_policy(&actor, &group).await?;
    Ok(HttpResponse::NoContent().finish())
}
