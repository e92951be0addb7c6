//! Shared fixtures of the in-process API tests (`tests/api`): the setups most tests start from, and
//! JSON calls to the management API. Included by `tests/api/main.rs`; the end-to-end tests use
//! `common/mod.rs` instead.

use packyard_domain::Format;
use serde_json::{Value, json};

use crate::{Backend, FakeUpstream, TestApp};

/// The Maven management API's prefix.
pub(crate) const MAVEN: &str = "/api/v4/virtual_registries/packages/maven";

/// The setup most API tests start from: the app on `backend` (`None` when that backend is not
/// available here) and its top-level group `acme`.
pub(crate) async fn app_with_group(backend: Backend) -> Option<(TestApp, i64)> {
    let app = TestApp::start(backend).await?;
    let group = app.create_group("acme").await;
    Some((app, group))
}

/// A virtual registry of group `acme` in front of one fake upstream: what the pull-through tests of
/// every format start from.
pub(crate) struct PullThrough {
    /// The app.
    pub app: TestApp,
    /// The registry's only upstream, scripted by the test.
    pub upstream: FakeUpstream,
    /// The group `acme`.
    pub group: i64,
    /// The registry.
    pub registry: i64,
    /// The upstream's id, alone in a list as `TestApp::virtual_registry` returns them.
    pub upstreams: Vec<i64>,
}

/// Starts [`PullThrough`] on `backend` with a registry of `format`.
pub(crate) async fn pull_through(backend: Backend, format: Format) -> Option<PullThrough> {
    pull_through_with(backend, format, |_| {}).await
}

/// Starts [`PullThrough`] after `tweak` adjusts the app's settings.
pub(crate) async fn pull_through_with(
    backend: Backend,
    format: Format,
    tweak: impl FnOnce(&mut packyard::settings::Settings),
) -> Option<PullThrough> {
    let app = TestApp::start_with(backend, tweak).await?;
    let group = app.create_group("acme").await;
    let upstream = FakeUpstream::start().await;
    let (registry, upstreams) = app.virtual_registry(format, group, &[&upstream.url]).await;
    Some(PullThrough {
        app,
        upstream,
        group,
        registry,
        upstreams,
    })
}

/// The group-scoped prefix for a group id or URL-encoded full path.
pub(crate) fn group_maven(group: impl std::fmt::Display) -> String {
    format!("/api/v4/groups/{group}/-/virtual_registries/packages/maven")
}

/// A response: status, JSON body (`Null` when empty) and headers.
pub(crate) struct Answer {
    pub status: u16,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Answer {
    /// A header that must be there.
    pub(crate) fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or_else(|| panic!("no {name} header"))
    }
}

/// Sends a request with an optional `PRIVATE-TOKEN` and JSON body.
pub(crate) async fn call(
    app: &TestApp,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Answer {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = app.client.request(method, app.url(path));
    if let Some(token) = token {
        request = request.header("PRIVATE-TOKEN", token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    Answer {
        status,
        body,
        headers,
    }
}

pub(crate) async fn get(app: &TestApp, token: &str, path: &str) -> Answer {
    call(app, "GET", path, Some(token), None).await
}

pub(crate) async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> Answer {
    call(app, "POST", path, Some(token), Some(body)).await
}

pub(crate) async fn patch(app: &TestApp, token: &str, path: &str, body: Value) -> Answer {
    call(app, "PATCH", path, Some(token), Some(body)).await
}

pub(crate) async fn delete(app: &TestApp, token: &str, path: &str) -> Answer {
    call(app, "DELETE", path, Some(token), None).await
}

/// The sorted keys of a JSON object.
pub(crate) fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

/// True for GitLab's `2024-05-30T12:28:27.855Z` form.
pub(crate) fn is_timestamp(value: &Value) -> bool {
    let Some(text) = value.as_str() else {
        return false;
    };
    text.len() == 24
        && text.ends_with('Z')
        && text.as_bytes()[19] == b'.'
        && chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.3fZ").is_ok()
}

pub(crate) async fn create_registry(app: &TestApp, token: &str, group: i64, name: &str) -> i64 {
    let answer = post(
        app,
        token,
        &format!("{}/registries", group_maven(group)),
        json!({"name": name}),
    )
    .await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    answer.body["id"].as_i64().unwrap()
}

pub(crate) async fn create_upstream(
    app: &TestApp,
    token: &str,
    registry: i64,
    body: Value,
) -> Value {
    let answer = post(
        app,
        token,
        &format!("{MAVEN}/registries/{registry}/upstreams"),
        body,
    )
    .await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    answer.body
}

pub(crate) async fn add_member(app: &TestApp, group: i64, user: i64, level: i32) {
    let answer = post(
        app,
        &app.admin_token,
        &format!("/api/v4/groups/{group}/members"),
        json!({"user_id": user, "access_level": level}),
    )
    .await;
    assert_eq!(answer.status, 201, "{}", answer.body);
}

pub(crate) async fn create_subgroup(app: &TestApp, parent: i64, path: &str) -> i64 {
    let answer = post(
        app,
        &app.admin_token,
        "/api/v4/groups",
        json!({"name": path, "path": path, "parent_id": parent}),
    )
    .await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    answer.body["id"].as_i64().unwrap()
}

/// The upstream ids of a registry, by position, after checking positions are 1..k.
pub(crate) async fn order(app: &TestApp, registry: i64) -> Vec<i64> {
    let answer = get(
        app,
        &app.admin_token,
        &format!("{MAVEN}/registries/{registry}/upstreams"),
    )
    .await;
    assert_eq!(answer.status, 200);
    let list = answer.body.as_array().unwrap();
    for (index, upstream) in list.iter().enumerate() {
        assert_eq!(
            upstream["registry_upstream"]["position"],
            index as i64 + 1,
            "{}",
            answer.body
        );
    }
    list.iter().map(|u| u["id"].as_i64().unwrap()).collect()
}

/// Pulls a file through the Maven client endpoint so that it becomes a cache entry.
pub(crate) async fn pull(app: &TestApp, registry: i64, path: &str) {
    let response = app
        .client
        .get(app.url(&format!("{MAVEN}/{registry}/{path}")))
        .header("PRIVATE-TOKEN", &app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "pulling {path}");
    response.bytes().await.unwrap();
}
