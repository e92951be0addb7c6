//! packyard's web interface: server-rendered pages under `/-/ui/` where people sign in with a personal
//! access token and browse and manage groups, virtual registries (client configuration, upstreams,
//! cache), hosted packages, cleanup policies, tokens, and, for administrators, users and the instance's
//! health.
//!
//! Every page calls the same `packyard_core` services as the JSON APIs with the signed-in person's actor,
//! so what a person may see and change is exactly what their token may do through the API. Templates
//! (askama) are compiled in and escape what they print; the stylesheet and the one small script are
//! embedded; nothing is loaded from elsewhere. Sessions and CSRF protection are in [`session`].
//!
//! Depends on `packyard_core`, `packyard_http` and `packyard_domain`; no format crate, no SQL.

mod admin;
mod error;
mod groups;
mod packages;
mod pages;
mod registries;
pub mod session;
mod tokens;

use actix_web::{FromRequest, Handler, HttpRequest, HttpResponse, Responder, dev, web};
use std::future::Future;
use std::pin::Pin;

pub use error::UiError;

/// Where the pages live.
pub const PREFIX: &str = "/-/ui";

const STYLE: &str = include_str!("../assets/style.css");
const SCRIPT: &str = include_str!("../assets/ui.js");

/// Every page's handler as one type. actix-web builds a route factory per handler type, on every
/// worker at start, and each touches code of its own: with ~30 pages that was a megabyte and a half of
/// an idle server's memory. One type costs one factory; a page's own code runs on its first request.
type PageHandler = fn(HttpRequest, web::Payload) -> PageFuture;
type PageFuture = Pin<Box<dyn Future<Output = Result<HttpResponse, actix_web::Error>>>>;

/// A page handler as a [`PageHandler`]: its extractors run as actix-web would run them.
macro_rules! page {
    ($handler:path) => {{
        fn call(req: HttpRequest, payload: web::Payload) -> PageFuture {
            Box::pin(run($handler, req, payload.into_inner()))
        }
        call as PageHandler
    }};
}

/// Extracts the handler's arguments, calls it, and turns its output into a response.
async fn run<F, Args>(
    handler: F,
    req: HttpRequest,
    mut payload: dev::Payload,
) -> Result<HttpResponse, actix_web::Error>
where
    F: Handler<Args>,
    Args: FromRequest,
    F::Output: Responder,
{
    let args = Args::from_request(&req, &mut payload)
        .await
        .map_err(Into::into)?;
    Ok(handler
        .call(args)
        .await
        .respond_to(&req)
        .map_into_boxed_body())
}

/// Registers the pages and their assets.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope(PREFIX)
            .route("", web::get().to(page!(pages::home)))
            .route("/", web::get().to(page!(pages::home)))
            .route("/assets/style.css", web::get().to(page!(style)))
            .route("/assets/ui.js", web::get().to(page!(script)))
            .route("/sign-in", web::get().to(page!(pages::sign_in_form)))
            .route("/sign-in", web::post().to(page!(pages::sign_in)))
            .route("/sign-out", web::post().to(page!(pages::sign_out)))
            .route("/groups", web::get().to(page!(groups::list)))
            .route("/groups/{group}", web::get().to(page!(groups::show)))
            .route(
                "/groups/{group}/registries",
                web::post().to(page!(groups::create_registry)),
            )
            .route(
                "/groups/{group}/cleanup",
                web::get().to(page!(groups::cleanup)),
            )
            .route(
                "/groups/{group}/cleanup",
                web::post().to(page!(groups::save_cleanup)),
            )
            .route(
                "/groups/{group}/deploy-tokens",
                web::get().to(page!(tokens::deploy_tokens)),
            )
            .route(
                "/groups/{group}/deploy-tokens",
                web::post().to(page!(tokens::create_deploy_token)),
            )
            .route(
                "/groups/{group}/deploy-tokens/{id}/revoke",
                web::post().to(page!(tokens::revoke_deploy_token)),
            )
            .route(
                "/groups/{group}/packages/{uuid}",
                web::get().to(page!(packages::show)),
            )
            .route(
                "/groups/{group}/packages/{uuid}/delete",
                web::post().to(page!(packages::delete)),
            )
            .route(
                "/registries/{format}/{id}",
                web::get().to(page!(registries::show)),
            )
            .route(
                "/registries/{format}/{id}/delete",
                web::post().to(page!(registries::delete)),
            )
            .route(
                "/registries/{format}/{id}/purge",
                web::post().to(page!(registries::purge)),
            )
            .route(
                "/registries/{format}/{id}/upstreams",
                web::post().to(page!(registries::add_upstream)),
            )
            .route(
                "/registries/{format}/{id}/upstreams/{upstream}",
                web::post().to(page!(registries::edit_upstream)),
            )
            .route(
                "/registries/{format}/{id}/upstreams/{upstream}/test",
                web::post().to(page!(registries::test_upstream)),
            )
            .route(
                "/registries/{format}/{id}/links",
                web::post().to(page!(registries::link_upstream)),
            )
            .route(
                "/registries/{format}/{id}/links/{link}/move",
                web::post().to(page!(registries::move_upstream)),
            )
            .route(
                "/registries/{format}/{id}/links/{link}/remove",
                web::post().to(page!(registries::remove_upstream)),
            )
            .route(
                "/registries/{format}/{id}/entries/delete",
                web::post().to(page!(registries::delete_entry)),
            )
            .route("/tokens", web::get().to(page!(tokens::personal_tokens)))
            .route(
                "/tokens",
                web::post().to(page!(tokens::create_personal_token)),
            )
            .route(
                "/tokens/{id}/revoke",
                web::post().to(page!(tokens::revoke_personal_token)),
            )
            .route("/admin", web::get().to(page!(admin::show))),
    );
}

async fn style() -> HttpResponse {
    asset("text/css; charset=utf-8", STYLE)
}

async fn script() -> HttpResponse {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

fn asset(content_type: &str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(body)
}
