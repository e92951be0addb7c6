//! Users and their personal access tokens (administrators only, but for revoking one's own token).

use actix_web::{HttpResponse, web};
use packyard_http::{ApiResult, Authenticated, CoreData, Params};

use crate::API_PREFIX;
use crate::bodies::{PersonalAccessTokenCreateRequest, UserCreateRequest};
use crate::entities::{PersonalAccessTokenResponse, UserResponse};
use crate::extract::{expiry, route_id, scopes};
use crate::openapi::RouteId;
use packyard_http::GitlabErrorBody;

/// Registers `/users` and `/users/:id/personal_access_tokens`.
pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource(format!("{API_PREFIX}/users"))
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(
        web::resource(format!("{API_PREFIX}/users/{{id}}/personal_access_tokens"))
            .route(web::post().to(create_token)),
    )
    .service(
        web::resource(format!("{API_PREFIX}/personal_access_tokens/{{id}}"))
            .route(web::delete().to(revoke_token)),
    );
}

/// `POST /users`: `username`, `name` (required), `email`, `admin`.
#[utoipa::path(post, path = "/api/v4/users", operation_id = "create_user", tag = "users",
    request_body = UserCreateRequest,
    responses(
        (status = 201, description = "The user", body = UserResponse),
        (status = 400, description = "A parameter is missing or invalid, or the username is taken", body = GitlabErrorBody),
    ))]
async fn create(
    Authenticated(actor): Authenticated,
    core: CoreData,
    params: Params,
) -> ApiResult<HttpResponse> {
    core.require_admin(&actor)?;
    let user = core
        .create_user(
            params.required_string("username")?,
            params.required_string("name")?,
            params.string("email")?,
            params.boolean("admin")?.unwrap_or(false),
        )
        .await?;
    Ok(HttpResponse::Created().json(UserResponse::from(&user)))
}

/// `GET /users`.
#[utoipa::path(get, path = "/api/v4/users", operation_id = "list_users", tag = "users",
    responses((status = 200, description = "Every user", body = Vec<UserResponse>)))]
async fn list(Authenticated(actor): Authenticated, core: CoreData) -> ApiResult<HttpResponse> {
    core.require_admin(&actor)?;
    let users = core.list_users().await?;
    let body: Vec<UserResponse> = users.iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(body))
}

/// `POST /users/:id/personal_access_tokens`: `name`, `scopes[]`, `expires_at`; the token is shown once.
#[utoipa::path(post, path = "/api/v4/users/{id}/personal_access_tokens",
    operation_id = "create_personal_access_token", tag = "users", params(RouteId),
    request_body = PersonalAccessTokenCreateRequest,
    responses(
        (status = 201, description = "The token, shown this once", body = PersonalAccessTokenResponse),
        (status = 400, description = "A parameter is missing or invalid", body = GitlabErrorBody),
        (status = 404, description = "No such user", body = GitlabErrorBody),
    ))]
async fn create_token(
    Authenticated(actor): Authenticated,
    core: CoreData,
    id: web::Path<String>,
    params: Params,
) -> ApiResult<HttpResponse> {
    core.require_admin(&actor)?;
    let user = core.find_user(route_id(&id)?).await?;
    let token = core
        .create_personal_access_token(
            &user,
            params.required_string("name")?,
            scopes(&params)?,
            expiry(&params)?,
        )
        .await?;
    Ok(HttpResponse::Created().json(PersonalAccessTokenResponse::new(&token, user.id)))
}

/// `DELETE /personal_access_tokens/:id` (or `self`, the token used): revokes it. Users revoke their own
/// tokens, administrators anyone's.
#[utoipa::path(delete, path = "/api/v4/personal_access_tokens/{id}",
    operation_id = "revoke_personal_access_token", tag = "users",
    params(("id" = String, Path, pattern = "^([0-9]+|self)$",
        description = "A token id, or `self` for the token of the request")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 400, description = "The id is not an integer", body = GitlabErrorBody),
        (status = 404, description = "No such token", body = GitlabErrorBody),
    ))]
async fn revoke_token(
    Authenticated(actor): Authenticated,
    core: CoreData,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = match id.as_str() {
        "self" => None,
        other => Some(route_id(other)?),
    };
    core.revoke_personal_access_token(&actor, id).await?;
    Ok(HttpResponse::NoContent().finish())
}
