//! Upstream traffic in a company network: through an HTTP proxy (forwarded, or tunnelled with `CONNECT`
//! for https, and around it for `no_proxy` hosts), to upstreams signed by a private certificate
//! authority, and to private addresses an administrator put on the SSRF allowlist, redirects included.
//! The network is the same on both database backends: these run on SQLite.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use packyard::settings::{ProxyUrl, Settings, TlsSettings};
use serde_json::json;

use crate::common::{TestCertificates, TestProxy};
use crate::fixtures::{MAVEN, create_registry, create_upstream, patch, post};
use crate::{Backend, FakeUpstream, Reply, TestApp};

const JAR: &str = "org/example/app/1.0/app-1.0.jar";

fn address(url: &str) -> SocketAddr {
    url.trim_start_matches("http://").parse().unwrap()
}

async fn pull(app: &TestApp, registry: i64) -> reqwest::Response {
    app.client
        .get(app.url(&format!("{MAVEN}/{registry}/{JAR}")))
        .header("PRIVATE-TOKEN", &app.admin_token)
        .send()
        .await
        .unwrap()
}

/// Asserts the jar comes through the registry with these bytes.
async fn assert_pulls(app: &TestApp, registry: i64, expected: &str) {
    let response = pull(app, registry).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), expected);
}

/// A registry with one upstream at `url`, saved through the management API.
async fn registry_with_upstream(app: &TestApp, url: &str) -> i64 {
    let group = app.create_group("acme").await;
    let registry = create_registry(app, &app.admin_token, group, "company").await;
    create_upstream(app, &app.admin_token, registry, json!({ "url": url })).await;
    registry
}

#[actix_web::test]
async fn a_proxied_upstream_is_reached_only_through_the_proxy() {
    let upstream = FakeUpstream::start().await;
    upstream.set(
        JAR,
        Reply::file("jar via proxy", "application/java-archive"),
    );
    let proxy = TestProxy::start(address(&upstream.url)).await;
    let proxy_url = proxy.url.replace("http://", "http://builder:s3cret@");
    let Some(app) = TestApp::start_with(Backend::Sqlite, |settings| {
        settings.upstream.allow_local_network = false;
        settings.upstream.proxy = Some(ProxyUrl(proxy_url));
    })
    .await
    else {
        return;
    };
    // Only the proxy knows this name: a direct request could not even resolve it.
    let registry = registry_with_upstream(&app, "http://maven.proxied.test").await;

    assert_pulls(&app, registry, "jar via proxy").await;
    let seen = proxy.seen();
    assert!(
        seen.iter()
            .any(|s| s.request_line == format!("GET http://maven.proxied.test/{JAR} HTTP/1.1")),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .all(|s| s.authorization.as_deref() == Some("Basic YnVpbGRlcjpzM2NyZXQ=")),
        "the proxy's credentials go with every request: {seen:?}"
    );
    assert_eq!(upstream.count("GET", &format!("/{JAR}")), 1);
}

#[actix_web::test]
async fn through_a_proxy_local_destinations_are_refused_before_sending() {
    let upstream = FakeUpstream::start().await;
    upstream.set(JAR, Reply::file("secret", "application/java-archive"));
    let proxy = TestProxy::start(address(&upstream.url)).await;
    let proxy_url = proxy.url.clone();
    let Some(app) = TestApp::start_with(Backend::Sqlite, |settings| {
        settings.upstream.allow_local_network = false;
        settings.upstream.proxy = Some(ProxyUrl(proxy_url));
    })
    .await
    else {
        return;
    };
    let group = app.create_group("acme").await;
    // Saved straight into the database, past the management API's own check: the guard on each request
    // must refuse them by itself, a literal local address and a name that resolves to one.
    let local_literal = upstream.url.clone();
    let local_name = upstream.url.replace("127.0.0.1", "localhost");
    let (registry, _) = app
        .maven_registry(group, &[&local_literal, &local_name])
        .await;

    assert_eq!(pull(&app, registry).await.status(), 404);
    assert!(proxy.seen().is_empty(), "{:?}", proxy.seen());
    assert!(upstream.requests().is_empty());
}

#[actix_web::test]
async fn no_proxy_hosts_are_reached_directly() {
    let upstream = FakeUpstream::start().await;
    upstream.set(JAR, Reply::file("jar direct", "application/java-archive"));
    let proxy = TestProxy::start(address(&upstream.url)).await;
    let proxy_url = proxy.url.clone();
    let Some(app) = TestApp::start_with(Backend::Sqlite, |settings| {
        settings.upstream.proxy = Some(ProxyUrl(proxy_url));
        settings.upstream.no_proxy = Some(vec!["nexus.corp.example".into(), "127.0.0.0/8".into()]);
    })
    .await
    else {
        return;
    };
    let registry = registry_with_upstream(&app, &upstream.url).await;

    assert_pulls(&app, registry, "jar direct").await;
    assert!(proxy.seen().is_empty(), "{:?}", proxy.seen());
    assert_eq!(upstream.count("GET", &format!("/{JAR}")), 1);
}

/// An upstream on `https://localhost` with a certificate from the test authority, serving `JAR`, and
/// the number of requests (HEAD or GET) it answered.
async fn tls_upstream(certificates: &TestCertificates) -> (String, Arc<Mutex<usize>>) {
    let mut settings = Settings::default();
    settings.server.tls = Some(TlsSettings {
        certificate: certificates.certificate.clone(),
        private_key: certificates.private_key.clone(),
    });
    let config = settings.tls_config().unwrap().unwrap();
    let served = Arc::new(Mutex::new(0));
    let count = served.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = actix_web::HttpServer::new(move || {
        let count = count.clone();
        actix_web::App::new().route(
            &format!("/{JAR}"),
            actix_web::web::route().to(move || {
                *count.lock().unwrap() += 1;
                async {
                    actix_web::HttpResponse::Ok()
                        .content_type("application/java-archive")
                        .body("jar over tls")
                }
            }),
        )
    })
    .workers(1)
    .listen_rustls_0_23(listener, config)
    .unwrap()
    .run();
    tokio::spawn(server);
    (format!("https://localhost:{port}"), served)
}

#[actix_web::test]
async fn an_upstream_signed_by_a_private_ca_is_trusted_only_with_that_ca() {
    let dir = tempfile::tempdir().unwrap();
    let certificates = TestCertificates::create(dir.path());
    let (url, served) = tls_upstream(&certificates).await;

    let Some(without) = TestApp::start(Backend::Sqlite).await else {
        return;
    };
    let registry = registry_with_upstream(&without, &url).await;
    assert_ne!(pull(&without, registry).await.status(), 200);
    assert_eq!(*served.lock().unwrap(), 0, "the handshake failed first");

    let ca = certificates.ca.clone();
    let Some(with) = TestApp::start_with(Backend::Sqlite, |settings| {
        settings.upstream.ca_certificates = vec![ca];
    })
    .await
    else {
        return;
    };
    let registry = registry_with_upstream(&with, &url).await;
    assert_pulls(&with, registry, "jar over tls").await;
    assert!(*served.lock().unwrap() > 0);
}

#[actix_web::test]
async fn private_upstreams_on_the_allowlist_are_accepted_and_others_refused() {
    let upstream = FakeUpstream::start().await;
    upstream.set(
        JAR,
        Reply::file("jar from the lan", "application/java-archive"),
    );
    let Some(app) = TestApp::start_with(Backend::Sqlite, |settings| {
        settings.upstream.allow_local_network = false;
        settings.upstream.allowlist = vec!["10.20.0.0/16".into(), "127.0.0.1".into()];
    })
    .await
    else {
        return;
    };
    let token = app.admin_token.clone();
    let registry = registry_with_upstream(&app, &upstream.url).await;
    assert_pulls(&app, registry, "jar from the lan").await;

    let listed = create_upstream(
        &app,
        &token,
        registry,
        json!({"url": "http://10.20.1.2/maven"}),
    )
    .await;
    let refused = post(
        &app,
        &token,
        &format!("{MAVEN}/registries/{registry}/upstreams"),
        json!({"url": "http://10.30.1.2/maven"}),
    )
    .await;
    assert_eq!(refused.status, 400);
    assert_eq!(
        refused.body,
        json!({"message": {"url": ["is blocked: Requests to the local network are not allowed"]}})
    );
    let moved = patch(
        &app,
        &token,
        &format!("{MAVEN}/upstreams/{}", listed["id"]),
        json!({"url": "http://192.168.1.10/maven"}),
    )
    .await;
    assert_eq!(
        moved.body,
        json!({"message": {"url": ["is blocked: Requests to the local network are not allowed"]}})
    );
}

#[actix_web::test]
async fn redirects_are_followed_only_to_allowed_destinations() {
    let upstream = FakeUpstream::start().await;
    let port = address(&upstream.url).port();
    let listed = format!("http://127.0.0.1:{port}/moved/app.jar");
    // The same loopback address, written as an IPv4-mapped IPv6 address: not on the allowlist.
    let unlisted = format!("http://[::ffff:127.0.0.1]:{port}/moved/app.jar");
    upstream.set(
        "moved/app.jar",
        Reply::file("moved jar", "application/java-archive"),
    );
    let Some(app) = TestApp::start_with(Backend::Sqlite, |settings| {
        settings.upstream.allow_local_network = false;
        settings.upstream.allowlist = vec!["127.0.0.1".into()];
    })
    .await
    else {
        return;
    };
    let registry = registry_with_upstream(&app, &upstream.url).await;

    upstream.set(JAR, Reply::Status(302).with_header("Location", &unlisted));
    assert_ne!(pull(&app, registry).await.status(), 200);
    assert!(
        upstream
            .requests()
            .iter()
            .all(|r| r.path != "/moved/app.jar"),
        "the refused redirect was never followed"
    );

    upstream.set(JAR, Reply::Status(302).with_header("Location", &listed));
    assert_pulls(&app, registry, "moved jar").await;
}

#[actix_web::test]
async fn an_https_upstream_is_tunnelled_through_the_proxy() {
    let dir = tempfile::tempdir().unwrap();
    let certificates = TestCertificates::create(dir.path());
    let (url, served) = tls_upstream(&certificates).await;
    let port = url.rsplit(':').next().unwrap();
    let proxy = TestProxy::start(format!("127.0.0.1:{port}").parse().unwrap()).await;
    let (proxy_url, ca) = (proxy.url.clone(), certificates.ca.clone());
    let Some(app) = TestApp::start_with(Backend::Sqlite, |settings| {
        settings.upstream.proxy = Some(ProxyUrl(proxy_url));
        settings.upstream.ca_certificates = vec![ca];
    })
    .await
    else {
        return;
    };
    let registry = registry_with_upstream(&app, &url).await;

    assert_pulls(&app, registry, "jar over tls").await;
    let seen = proxy.seen();
    assert!(
        seen.iter()
            .any(|s| s.request_line == format!("CONNECT localhost:{port} HTTP/1.1")),
        "{seen:?}"
    );
    assert!(*served.lock().unwrap() > 0);
}
