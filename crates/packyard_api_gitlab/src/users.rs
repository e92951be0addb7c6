//! Users and their personal access tokens (administrators only, but for revoking one's own token).

use actix_web::{HttpResponse, web};
use packyard_http::{ApiResult, Authenticated, CoreData, Params};

use crate::API_PREFIX;
use crate::entities::{PersonalAccessTokenResponse, UserResponse};
use crate::extract::{expiry, route_id, scopes};

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
async fn list(Authenticated(actor): Authenticated, core: CoreData) -> ApiResult<HttpResponse> {
    core.require_admin(&actor)?;
    let users = core.list_users().await?;
    let body: Vec<UserResponse> = users.iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(body))
}

/// `POST /users/:id/personal_access_tokens`: `name`, `scopes[]`, `expires_at`; the token is shown once.
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
