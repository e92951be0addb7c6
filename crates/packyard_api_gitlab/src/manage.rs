//! What every management handler starts from and ends with: the caller, the route's typed id, and
//! GitLab's success answers. Who may see or change a record is decided once, in `packyard_core`
//! (`Core::managed_group`, `Core::authorize_record`); this module decides who may call at all.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, HttpResponse};
use packyard_core::CoreError;
use packyard_core::identity::Actor;
use packyard_http::{ApiError, Authenticated, CoreData};
use serde::Serialize;

use crate::extract::route_id;

/// The caller of the management API with the services. GitLab's management API authenticates personal,
/// job and OAuth tokens only: a deploy token is no credential there (401, not 403).
pub(crate) struct Manager {
    /// Who calls.
    pub actor: Actor,
    /// The services.
    pub core: CoreData,
}

impl FromRequest for Manager {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let authenticated = Authenticated::from_request(req, payload);
        let core = CoreData::extract(req);
        Box::pin(async move {
            let Authenticated(actor) = authenticated.await?;
            if matches!(actor, Actor::DeployToken { .. }) {
                return Err(ApiError(CoreError::Unauthorized));
            }
            let core = core
                .await
                .map_err(|_| ApiError(CoreError::Internal("core missing from app data".into())))?;
            Ok(Manager { actor, core })
        })
    }
}

/// The `{id}` segment of a route, declared `type: Integer` as in GitLab's API (anything else is
/// `400 {"error":"id is invalid"}`), as the id type of what the route names.
pub(crate) struct Id<T>(pub T);

impl<T: From<i64> + 'static> FromRequest for Id<T> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let raw = req.match_info().get("id").unwrap_or_default();
        std::future::ready(route_id(raw).map(|id| Id(T::from(id))).map_err(ApiError))
    }
}

/// `200 OK` with the entity.
pub(crate) fn ok(body: impl Serialize) -> HttpResponse {
    HttpResponse::Ok().json(body)
}

/// `201 Created` with the entity.
pub(crate) fn created(body: impl Serialize) -> HttpResponse {
    HttpResponse::Created().json(body)
}

/// `204 No Content`.
pub(crate) fn no_content() -> HttpResponse {
    HttpResponse::NoContent().finish()
}
