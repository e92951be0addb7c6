//! Groups, members and group deploy tokens. A group `:id` is a numeric id or a URL-encoded full path.

use actix_web::{HttpResponse, web};
use packyard_http::{ApiResult, Authenticated, CoreData, Params};

use crate::API_PREFIX;
use crate::bodies::{DeployTokenCreateRequest, GroupCreateRequest, MemberCreateRequest};
use crate::entities::{DeployTokenResponse, GroupResponse, MemberResponse};
use crate::extract::{expiry, required_integer, route_id, scopes};
use crate::openapi::GroupPath;
use packyard_http::GitlabErrorBody;

/// Registers `/groups`, `/groups/:id`, members and deploy tokens.
pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource(format!("{API_PREFIX}/groups"))
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(web::resource(format!("{API_PREFIX}/groups/{{id}}")).route(web::get().to(show)))
    .service(
        web::resource(format!("{API_PREFIX}/groups/{{id}}/members"))
            .route(web::get().to(list_members))
            .route(web::post().to(add_member)),
    )
    .service(
        web::resource(format!("{API_PREFIX}/groups/{{id}}/members/{{user_id}}"))
            .route(web::delete().to(remove_member)),
    )
    .service(
        web::resource(format!("{API_PREFIX}/groups/{{id}}/deploy_tokens"))
            .route(web::post().to(create_deploy_token)),
    )
    .service(
        web::resource(format!(
            "{API_PREFIX}/groups/{{id}}/deploy_tokens/{{token_id}}"
        ))
        .route(web::delete().to(revoke_deploy_token)),
    );
}

/// `POST /groups`: `name`, `path` (required), `parent_id`, `description`.
#[utoipa::path(post, path = "/api/v4/groups", operation_id = "create_group", tag = "groups",
    request_body = GroupCreateRequest,
    responses(
        (status = 201, description = "The group", body = GroupResponse),
        (status = 400, description = "A parameter is missing or invalid, or the path is taken", body = GitlabErrorBody),
        (status = 404, description = "No such parent group", body = GitlabErrorBody),
    ))]
async fn create(
    Authenticated(actor): Authenticated,
    core: CoreData,
    params: Params,
) -> ApiResult<HttpResponse> {
    let group = core
        .create_group(
            &actor,
            params.required_string("name")?,
            params.required_string("path")?,
            params.integer("parent_id")?,
            params.string("description")?,
        )
        .await?;
    Ok(HttpResponse::Created().json(GroupResponse::from(&group)))
}

/// `GET /groups`: the groups the caller can see.
#[utoipa::path(get, path = "/api/v4/groups", operation_id = "list_groups", tag = "groups",
    responses((status = 200, description = "The groups the caller can see", body = Vec<GroupResponse>)))]
async fn list(Authenticated(actor): Authenticated, core: CoreData) -> ApiResult<HttpResponse> {
    let groups = core.list_groups(&actor).await?;
    let body: Vec<GroupResponse> = groups.iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(body))
}

/// `GET /groups/:id`.
#[utoipa::path(get, path = "/api/v4/groups/{id}", operation_id = "show_group", tag = "groups",
    params(GroupPath),
    responses(
        (status = 200, description = "The group", body = GroupResponse),
        (status = 404, description = "No such group, or not visible to the caller", body = GitlabErrorBody),
    ))]
async fn show(
    Authenticated(actor): Authenticated,
    core: CoreData,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let group = core.find_visible_group(&actor, &id).await?;
    Ok(HttpResponse::Ok().json(GroupResponse::from(&group)))
}

/// `GET /groups/:id/members`.
#[utoipa::path(get, path = "/api/v4/groups/{id}/members", operation_id = "list_members",
    tag = "groups", params(GroupPath),
    responses(
        (status = 200, description = "The group's members", body = Vec<MemberResponse>),
        (status = 404, description = "No such group", body = GitlabErrorBody),
    ))]
async fn list_members(
    Authenticated(actor): Authenticated,
    core: CoreData,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let group = core.find_visible_group(&actor, &id).await?;
    let members = core.list_members(&actor, &group).await?;
    let body: Vec<MemberResponse> = members.iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(body))
}

/// `POST /groups/:id/members`: `user_id`, `access_level`.
#[utoipa::path(post, path = "/api/v4/groups/{id}/members", operation_id = "add_member",
    tag = "groups", params(GroupPath), request_body = MemberCreateRequest,
    responses(
        (status = 201, description = "The member", body = MemberResponse),
        (status = 400, description = "A parameter is missing or invalid", body = GitlabErrorBody),
        (status = 404, description = "No such group or user", body = GitlabErrorBody),
    ))]
async fn add_member(
    Authenticated(actor): Authenticated,
    core: CoreData,
    id: web::Path<String>,
    params: Params,
) -> ApiResult<HttpResponse> {
    let user_id = required_integer(&params, "user_id")?;
    let access_level = required_integer(&params, "access_level")?;
    let group = core.find_visible_group(&actor, &id).await?;
    let level = i32::try_from(access_level).unwrap_or(-1);
    let member = core.add_member(&actor, &group, user_id, level).await?;
    Ok(HttpResponse::Created().json(MemberResponse::from(&member)))
}

/// `DELETE /groups/:id/members/:user_id`.
#[utoipa::path(delete, path = "/api/v4/groups/{id}/members/{user_id}",
    operation_id = "remove_member", tag = "groups",
    params(GroupPath, ("user_id" = i64, Path, description = "The member's user id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, description = "The user id is not an integer", body = GitlabErrorBody),
        (status = 404, description = "No such group or member", body = GitlabErrorBody),
    ))]
async fn remove_member(
    Authenticated(actor): Authenticated,
    core: CoreData,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (id, user_id) = path.into_inner();
    let user_id = route_id(&user_id)?;
    let group = core.find_visible_group(&actor, &id).await?;
    core.remove_member(&actor, &group, user_id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /groups/:id/deploy_tokens`: `name`, `scopes` (required), `username`, `expires_at`; the token is
/// shown once.
#[utoipa::path(post, path = "/api/v4/groups/{id}/deploy_tokens",
    operation_id = "create_deploy_token", tag = "groups", params(GroupPath),
    request_body = DeployTokenCreateRequest,
    responses(
        (status = 201, description = "The token, shown this once", body = DeployTokenResponse),
        (status = 400, description = "A parameter is missing or invalid", body = GitlabErrorBody),
        (status = 404, description = "No such group", body = GitlabErrorBody),
    ))]
async fn create_deploy_token(
    Authenticated(actor): Authenticated,
    core: CoreData,
    id: web::Path<String>,
    params: Params,
) -> ApiResult<HttpResponse> {
    let group = core.find_visible_group(&actor, &id).await?;
    let token = core
        .create_deploy_token(
            &actor,
            &group,
            params.required_string("name")?,
            params.string("username")?.filter(|u| !u.trim().is_empty()),
            scopes(&params)?,
            expiry(&params)?,
        )
        .await?;
    Ok(HttpResponse::Created().json(DeployTokenResponse::from(&token)))
}

/// `DELETE /groups/:id/deploy_tokens/:token_id`: revokes the token.
#[utoipa::path(delete, path = "/api/v4/groups/{id}/deploy_tokens/{token_id}",
    operation_id = "revoke_deploy_token", tag = "groups",
    params(GroupPath, ("token_id" = i64, Path, description = "The deploy token's id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 400, description = "The token id is not an integer", body = GitlabErrorBody),
        (status = 404, description = "No such group or token", body = GitlabErrorBody),
    ))]
async fn revoke_deploy_token(
    Authenticated(actor): Authenticated,
    core: CoreData,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (id, token_id) = path.into_inner();
    let token_id = route_id(&token_id)?;
    let group = core.find_visible_group(&actor, &id).await?;
    core.revoke_deploy_token(&actor, &group, token_id).await?;
    Ok(HttpResponse::NoContent().finish())
}
