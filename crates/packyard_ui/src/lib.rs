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

use actix_web::{HttpResponse, web};

pub use error::UiError;

/// Where the pages live.
pub const PREFIX: &str = "/-/ui";

const STYLE: &str = include_str!("../assets/style.css");
const SCRIPT: &str = include_str!("../assets/ui.js");

/// Registers the pages and their assets.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope(PREFIX)
            .route("", web::get().to(pages::home))
            .route("/", web::get().to(pages::home))
            .route("/assets/style.css", web::get().to(style))
            .route("/assets/ui.js", web::get().to(script))
            .route("/sign-in", web::get().to(pages::sign_in_form))
            .route("/sign-in", web::post().to(pages::sign_in))
            .route("/sign-out", web::post().to(pages::sign_out))
            .route("/groups", web::get().to(groups::list))
            .route("/groups/{group}", web::get().to(groups::show))
            .route(
                "/groups/{group}/registries",
                web::post().to(groups::create_registry),
            )
            .route("/groups/{group}/cleanup", web::get().to(groups::cleanup))
            .route(
                "/groups/{group}/cleanup",
                web::post().to(groups::save_cleanup),
            )
            .route(
                "/groups/{group}/deploy-tokens",
                web::get().to(tokens::deploy_tokens),
            )
            .route(
                "/groups/{group}/deploy-tokens",
                web::post().to(tokens::create_deploy_token),
            )
            .route(
                "/groups/{group}/deploy-tokens/{id}/revoke",
                web::post().to(tokens::revoke_deploy_token),
            )
            .route(
                "/groups/{group}/packages/{uuid}",
                web::get().to(packages::show),
            )
            .route(
                "/groups/{group}/packages/{uuid}/delete",
                web::post().to(packages::delete),
            )
            .route("/registries/{format}/{id}", web::get().to(registries::show))
            .route(
                "/registries/{format}/{id}/delete",
                web::post().to(registries::delete),
            )
            .route(
                "/registries/{format}/{id}/purge",
                web::post().to(registries::purge),
            )
            .route(
                "/registries/{format}/{id}/upstreams",
                web::post().to(registries::add_upstream),
            )
            .route(
                "/registries/{format}/{id}/upstreams/{upstream}",
                web::post().to(registries::edit_upstream),
            )
            .route(
                "/registries/{format}/{id}/upstreams/{upstream}/test",
                web::post().to(registries::test_upstream),
            )
            .route(
                "/registries/{format}/{id}/links",
                web::post().to(registries::link_upstream),
            )
            .route(
                "/registries/{format}/{id}/links/{link}/move",
                web::post().to(registries::move_upstream),
            )
            .route(
                "/registries/{format}/{id}/links/{link}/remove",
                web::post().to(registries::remove_upstream),
            )
            .route(
                "/registries/{format}/{id}/entries/delete",
                web::post().to(registries::delete_entry),
            )
            .route("/tokens", web::get().to(tokens::personal_tokens))
            .route("/tokens", web::post().to(tokens::create_personal_token))
            .route(
                "/tokens/{id}/revoke",
                web::post().to(tokens::revoke_personal_token),
            )
            .route("/admin", web::get().to(admin::show)),
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
