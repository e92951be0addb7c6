//! The OpenAPI 3.1 description of the management APIs, assembled from what each API crate derives from
//! its handlers and entities, and served at [`PATH`] without a token: it describes the code, the same
//! on every installation, and holds no data of this one.

use actix_web::HttpResponse;
use packyard_http::openapi::operations_mut;
use utoipa::OpenApi as _;
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{
    Content, InfoBuilder, LicenseBuilder, OpenApi, Ref, Response, ResponseBuilder,
};

/// Where the description is served.
pub const PATH: &str = "/api/v4/openapi.json";

/// The ways a token may be sent to the management APIs, by scheme name.
fn security_schemes() -> [(&'static str, SecurityScheme); 4] {
    let http = |scheme, description: &str| {
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(scheme)
                .description(Some(description))
                .build(),
        )
    };
    [
        (
            "private_token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "PRIVATE-TOKEN",
                "A personal access token.",
            ))),
        ),
        (
            "bearer",
            http(
                HttpAuthScheme::Bearer,
                "A personal access token (`Authorization: token …` works too).",
            ),
        ),
        (
            "basic",
            http(
                HttpAuthScheme::Basic,
                "Any username, a personal access token as the password.",
            ),
        ),
        (
            "private_token_query",
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::with_description(
                "private_token",
                "A personal access token in the query string.",
            ))),
        ),
    ]
}

/// The description of the GitLab-shaped and GitFlic-shaped management APIs.
pub fn document() -> OpenApi {
    let mut gitlab = packyard_api_gitlab::openapi();
    with_token_errors(&mut gitlab, "GitlabErrorBody");
    let mut gitflic = packyard_api_gitflic::openapi();
    with_token_errors(&mut gitflic, "HostedErrorBody");
    let mut document = DescriptionApi::openapi();
    document.info = InfoBuilder::new()
        .title("packyard management APIs")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "GitLab's `/api/v4` users, groups, tokens, virtual registries and cleanup policy, and \
             GitFlic's `/registry/package` listing. Every operation but this description needs a \
             token; management operations take personal access tokens only.",
        ))
        .license(Some(LicenseBuilder::new().name("Apache-2.0").build()))
        .build();
    document.merge(gitlab);
    document.merge(gitflic);
    let components = document.components.get_or_insert_with(Default::default);
    for (name, scheme) in security_schemes() {
        components.add_security_scheme(name, scheme);
    }
    document.security = Some(
        security_schemes()
            .map(|(name, _)| SecurityRequirement::new(name, Vec::<String>::new()))
            .into(),
    );
    document
}

/// Adds the answers of every operation that needs a token: 401 without a valid one, 403 when it may not
/// do this. `error_body` names the API's error schema.
fn with_token_errors(api: &mut OpenApi, error_body: &str) {
    let error = |description: &str| -> Response {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                Content::new(Some(Ref::from_schema_name(error_body))),
            )
            .build()
    };
    for item in api.paths.paths.values_mut() {
        for operation in operations_mut(item) {
            let responses = &mut operation.responses.responses;
            responses
                .entry("401".into())
                .or_insert_with(|| error("No token, or one that is not valid here").into());
            responses
                .entry("403".into())
                .or_insert_with(|| error("The token may not do this").into());
        }
    }
}

/// This route.
#[derive(utoipa::OpenApi)]
#[openapi(paths(serve))]
struct DescriptionApi;

/// `GET /api/v4/openapi.json`: this description.
#[utoipa::path(get, path = "/api/v4/openapi.json", operation_id = "openapi", tag = "description",
    security(()),
    responses((status = 200, description = "The OpenAPI 3.1 description of the management APIs",
        content_type = "application/json")))]
pub async fn serve() -> packyard_http::ApiResult<HttpResponse> {
    let json = document()
        .to_json()
        .map_err(|e| packyard_core::CoreError::Internal(format!("OpenAPI description: {e}")))?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(json))
}
