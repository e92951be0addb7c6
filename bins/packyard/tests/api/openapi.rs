//! The OpenAPI description: served without a token as OpenAPI 3.1 JSON whose references resolve, and
//! listing exactly the management routes the router has, method for method.

use std::collections::BTreeSet;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{CONTENT_TYPE, HeaderValue};
use actix_web::{App, HttpRequest, HttpResponse, test, web};
use serde_json::Value;

/// The app's routes with no services behind them (the description needs none), a route that answers
/// the router's resource map, and each answer's matched pattern in `x-pattern`.
fn routes_app() -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .wrap_fn(|req, service| {
            let answer = service.call(req);
            async move {
                let mut response = answer.await?;
                let pattern = response.request().match_pattern().unwrap_or_default();
                response.headers_mut().insert(
                    "x-pattern".try_into().unwrap(),
                    HeaderValue::from_str(&pattern).unwrap(),
                );
                Ok(response)
            }
        })
        .route(
            "/--resource-map",
            web::get().to(|req: HttpRequest| async move {
                HttpResponse::Ok().body(format!("{:#?}", req.resource_map()))
            }),
        )
        .configure(packyard::app::configure)
}

#[actix_web::test]
async fn the_description_is_served_without_a_token_as_openapi_3_1() {
    let app = test::init_service(routes_app()).await;
    let response = test::call_service(
        &app,
        test::TestRequest::get()
            .uri("/api/v4/openapi.json")
            .to_request(),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers().get(CONTENT_TYPE).unwrap(),
        "application/json"
    );
    let body = test::read_body(response).await;
    let document: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    assert_eq!(document["info"]["version"], env!("CARGO_PKG_VERSION"));
    // utoipa's model of OpenAPI 3.1 reads it back.
    serde_json::from_slice::<utoipa::openapi::OpenApi>(&body).unwrap();

    let mut operation_ids = BTreeSet::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        let in_path: BTreeSet<String> = path_variables(path).collect();
        for (method, operation) in item.as_object().unwrap() {
            let id = operation["operationId"].as_str().unwrap();
            assert!(operation_ids.insert(id.to_owned()), "{id} is not unique");
            let declared: BTreeSet<String> = operation["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|parameter| parameter["in"] == "path")
                .map(|parameter| parameter["name"].as_str().unwrap().to_owned())
                .collect();
            assert_eq!(declared, in_path, "{method} {path}: path parameters");
            assert!(
                operation["responses"]
                    .as_object()
                    .unwrap()
                    .keys()
                    .any(|status| status.starts_with('2')),
                "{method} {path} has no success answer"
            );
        }
    }
    // Every reference names a schema the document has, and every security scheme used is declared.
    let schemas = document["components"]["schemas"].as_object().unwrap();
    let mut references = Vec::new();
    collect_references(&document, &mut references);
    assert!(!references.is_empty());
    for reference in references {
        let name = reference
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected reference {reference}"));
        assert!(schemas.contains_key(name), "{reference} names nothing");
    }
    let schemes = document["components"]["securitySchemes"]
        .as_object()
        .unwrap();
    for requirement in document["security"].as_array().unwrap() {
        for scheme in requirement.as_object().unwrap().keys() {
            assert!(schemes.contains_key(scheme), "{scheme} is not declared");
        }
    }
    assert_eq!(
        schemes["private_token"],
        serde_json::json!({"type": "apiKey", "in": "header", "name": "PRIVATE-TOKEN",
            "description": "A personal access token."})
    );
}

#[actix_web::test]
async fn the_description_lists_every_management_route_and_no_other() {
    let app = test::init_service(routes_app()).await;
    let map = test::call_and_read_body(
        &app,
        test::TestRequest::get().uri("/--resource-map").to_request(),
    )
    .await;
    let patterns: Vec<String> = routed_patterns(std::str::from_utf8(&map).unwrap())
        .into_iter()
        .filter(|pattern| is_management(pattern))
        .collect();
    assert!(patterns.len() > 40, "{patterns:?}");
    // The methods the router takes on each: anything but 405 from the resource of this pattern.
    let mut routed = BTreeSet::new();
    for pattern in &patterns {
        let path = path_variables(pattern).fold(without_regexes(pattern), |path, name| {
            let value = if name == "packageUuid" {
                "0b7e8f7a-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
            } else {
                "1"
            };
            path.replace(&format!("{{{name}}}"), value)
        });
        for method in [
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ] {
            let response = test::call_service(
                &app,
                test::TestRequest::default()
                    .method(method.clone())
                    .uri(&path)
                    .to_request(),
            )
            .await;
            if response.status() != 405
                && response.headers().get("x-pattern").unwrap() == pattern.as_str()
            {
                routed.insert(format!("{method} {}", without_regexes(pattern)));
            }
        }
    }
    let body = test::call_and_read_body(
        &app,
        test::TestRequest::get()
            .uri("/api/v4/openapi.json")
            .to_request(),
    )
    .await;
    let document: Value = serde_json::from_slice(&body).unwrap();
    let described: BTreeSet<String> = document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |method| format!("{} {path}", method.to_uppercase()))
        })
        .collect();
    assert_eq!(
        routed.difference(&described).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "routed but not described"
    );
    assert_eq!(
        described.difference(&routed).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "described but not routed"
    );
}

/// Whether a routed pattern is one the description covers: everything under `/api/v4` but the Maven
/// client's artifact paths (which end in a `{path:.*}` wildcard), and GitFlic's package listing
/// (`/registry/package` and what follows a package uuid). The formats' content routes under
/// `/registry/package/<type>/…` and the listing's 404 catch-alls are not management operations.
fn is_management(pattern: &str) -> bool {
    // The virtual registries' client endpoints (Maven's `{path:.*}`, npm's and PyPI's under `{id}`) are
    // package-manager protocols, not management routes.
    let client = pattern.contains("{path:.*}")
        || ["npm", "pypi"].iter().any(|format| {
            pattern.starts_with(&format!(
                "/api/v4/virtual_registries/packages/{format}/{{id}}/"
            ))
        });
    (pattern.starts_with("/api/v4/") && !client)
        || pattern == "/registry/package"
        || pattern.starts_with("/registry/package/{packageUuid")
}

/// The names of a pattern's variables (`{id}`, `{id:.+}`).
fn path_variables(pattern: &str) -> impl Iterator<Item = String> + '_ {
    pattern.split('{').skip(1).map(|rest| {
        let end = rest.find(['}', ':']).unwrap();
        rest[..end].to_owned()
    })
}

/// A pattern as OpenAPI writes it: `{id:.+}` is `{id}`.
fn without_regexes(pattern: &str) -> String {
    let mut plain = String::new();
    let mut rest = pattern;
    while let Some(start) = rest.find('{') {
        plain.push_str(&rest[..=start]);
        let name_end = rest[start..].find([':', '}']).unwrap() + start;
        plain.push_str(&rest[start + 1..name_end]);
        // The variable ends at the brace that closes it, past any braces of its regex.
        let mut depth = 0;
        let mut end = start;
        for (offset, c) in rest[start..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                _ => {}
            }
            if depth == 0 {
                end = start + offset;
                break;
            }
        }
        plain.push('}');
        rest = &rest[end + 1..];
    }
    plain.push_str(rest);
    plain
}

/// Every `$ref` in a JSON value.
fn collect_references(value: &Value, references: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                match (key.as_str(), inner) {
                    ("$ref", Value::String(reference)) => references.push(reference.clone()),
                    _ => collect_references(inner, references),
                }
            }
        }
        Value::Array(items) => items
            .iter()
            .for_each(|item| collect_references(item, references)),
        _ => {}
    }
}

/// The full patterns of every resource in the router's map, read from its `{:#?}` form (actix lists
/// them nowhere else): each resource's patterns after those of the scopes it sits in. Resources named
/// for URL generation appear a second time under `named`, which is skipped.
fn routed_patterns(map: &str) -> Vec<String> {
    let lines: Vec<&str> = map.lines().collect();
    let unquote =
        |line: &str| -> String { serde_json::from_str(line.trim().trim_end_matches(',')).unwrap() };
    // The resource on this line and the scopes around it: (indentation, their patterns).
    let mut stack: Vec<(usize, Vec<String>)> = Vec::new();
    let mut routes = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let indent = line.len() - line.trim_start().len();
        match line.trim_start() {
            "named: {" => {
                let close = format!("{}}},", " ".repeat(indent));
                while lines[i] != close {
                    i += 1;
                }
            }
            text if text.ends_with("ResourceMap {") => {
                while stack.last().is_some_and(|(depth, _)| *depth >= indent) {
                    stack.pop();
                }
                stack.push((indent, Vec::new()));
            }
            "patterns: Single(" => {
                i += 1;
                stack.last_mut().unwrap().1.push(unquote(lines[i]));
            }
            "patterns: List(" => {
                i += 2;
                while lines[i].trim_start().starts_with('"') {
                    stack.last_mut().unwrap().1.push(unquote(lines[i]));
                    i += 1;
                }
            }
            "nodes: None," => {
                let mut full = vec![String::new()];
                for (_, patterns) in &stack {
                    full = full
                        .iter()
                        .flat_map(|prefix| patterns.iter().map(move |p| format!("{prefix}{p}")))
                        .collect();
                }
                routes.extend(full);
            }
            _ => {}
        }
        i += 1;
    }
    routes
}
