//! `/metrics`: off unless enabled, then readable by administrators and by the configured scraper token
//! only; its figures move with the requests served (a miss through an upstream, a hit, an upstream
//! error, a hosted download) and the text is the Prometheus exposition format.

use std::collections::HashMap;

use packyard_domain::Format;
use reqwest::Method;

use crate::fixtures::{PullThrough, pull_through_with};
use crate::hosted::call;
use crate::{Backend, Reply, TestApp, both_backends};

const SCRAPER_TOKEN: &str = "scraper-token-0123456789";

fn enabled(settings: &mut packyard::settings::Settings) {
    settings.metrics.enabled = true;
    settings.metrics.token = Some(SCRAPER_TOKEN.into());
}

/// Every sample of the exposition, `name{labels}` → value; panics on a line the format does not allow.
fn parse(text: &str) -> HashMap<String, f64> {
    let mut samples = HashMap::new();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix("# ") {
            let kind = comment.split(' ').next().unwrap();
            assert!(kind == "HELP" || kind == "TYPE", "comment {line}");
            if kind == "TYPE" {
                let kind = comment.rsplit(' ').next().unwrap();
                assert!(
                    ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                    "{line}"
                );
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("a sample is `series value`");
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        assert!(
            name.starts_with("packyard_")
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "metric name in {line}"
        );
        if name_end < series.len() {
            let labels = &series[name_end..];
            assert!(labels.starts_with('{') && labels.ends_with('}'), "{line}");
            for pair in labels[1..labels.len() - 1].split("\",") {
                let (label, value) = pair.split_once("=\"").expect("label=\"value\"");
                assert!(
                    label.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                    "{line}"
                );
                assert!(!value.contains('\n'), "{line}");
            }
        }
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            value => value.parse().unwrap_or_else(|_| panic!("value in {line}")),
        };
        samples.insert(series.to_owned(), value);
    }
    samples
}

async fn scrape(app: &TestApp) -> HashMap<String, f64> {
    let response = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth(SCRAPER_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    parse(&response.text().await.unwrap())
}

fn value(samples: &HashMap<String, f64>, series: &str) -> f64 {
    samples.get(series).copied().unwrap_or(0.0)
}

async fn metrics_move_with_the_requests_served(backend: Backend) {
    let Some(PullThrough {
        app,
        upstream,
        registry,
        upstreams,
        ..
    }) = pull_through_with(backend, Format::Maven, enabled).await
    else {
        return;
    };
    let upstream_label = format!("upstream=\"{}\"", upstreams[0]);
    let before = scrape(&app).await;

    let jar = vec![7u8; 1000];
    let path = "org/example/app/1.0/app-1.0.jar";
    upstream.set(
        &format!("/{path}"),
        Reply::file(jar.clone(), "application/java-archive"),
    );
    upstream.set("/org/example/broken/1.0/broken-1.0.jar", Reply::Status(502));
    let get = |path: &str| {
        app.client
            .get(app.url(&format!(
                "/api/v4/virtual_registries/packages/maven/{registry}/{path}"
            )))
            .header("PRIVATE-TOKEN", &app.admin_token)
            .send()
    };
    // A miss through the upstream, then a hit, then an upstream error.
    for expected in [200, 200] {
        let response = get(path).await.unwrap();
        assert_eq!(response.status(), expected);
        assert_eq!(response.bytes().await.unwrap(), jar);
    }
    let broken = get("org/example/broken/1.0/broken-1.0.jar").await.unwrap();
    assert!(broken.status().is_server_error() || broken.status() == 404);
    // A hosted download.
    let hosted = "/registry/package/generic/tool/1.0.0/tool.bin";
    let put = call(
        &app,
        Method::PUT,
        hosted,
        Some(&app.admin_token),
        Some(b"0123456789"),
    )
    .await;
    assert_eq!(put.status(), 200);
    let got = call(&app, Method::GET, hosted, Some(&app.admin_token), None).await;
    assert_eq!(got.bytes().await.unwrap().as_ref(), b"0123456789");

    let after = scrape(&app).await;
    let moved = |series: &str| value(&after, series) - value(&before, series);
    let maven = "format=\"maven\",route=\"maven.download\"";
    assert_eq!(
        moved(&format!(
            "packyard_http_requests_total{{{maven},status=\"200\"}}"
        )),
        2.0
    );
    assert!(moved(&format!("packyard_http_response_bytes_total{{{maven}}}")) >= 2000.0);
    assert!(
        moved(&format!(
            "packyard_http_request_duration_seconds_count{{{maven}}}"
        )) >= 3.0
    );
    assert_eq!(moved("packyard_cache_hits_total"), 1.0);
    assert_eq!(moved("packyard_cache_misses_total"), 2.0);
    assert!(
        moved(&format!(
            "packyard_upstream_requests_total{{{upstream_label}}}"
        )) >= 3.0
    );
    assert!(
        moved(&format!(
            "packyard_upstream_errors_total{{{upstream_label}}}"
        )) >= 1.0
    );
    assert_eq!(moved("packyard_upstream_fetched_bytes_total"), 1000.0);
    assert_eq!(
        moved(
            "packyard_http_requests_total{format=\"generic\",route=\"generic.global_file\",status=\"200\"}"
        ),
        2.0,
        "the upload and the download"
    );
    assert!(value(&after, "packyard_db_pool_max_connections") >= 1.0);
    assert_eq!(value(&after, "packyard_fills_in_flight"), 0.0);
}

async fn metrics_are_read_only_with_the_scraper_token_or_as_an_administrator(backend: Backend) {
    let Some(app) = TestApp::start_with(backend, enabled).await else {
        return;
    };
    let (_, user_token) = app.create_user_with_token("watcher").await;
    let status = |token: Option<String>| {
        let mut request = app.client.get(app.url("/metrics"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(status(None).await, 401);
    assert_eq!(status(Some("not-the-token-at-all".into())).await, 401);
    assert_eq!(status(Some(user_token)).await, 403);
    assert_eq!(status(Some(app.admin_token.clone())).await, 200);
    assert_eq!(status(Some(SCRAPER_TOKEN.into())).await, 200);

    let Some(off) = TestApp::start(backend).await else {
        return;
    };
    let response = off
        .client
        .get(off.url("/metrics"))
        .bearer_auth(&off.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404, "off by default");
}

both_backends!(
    metrics_move_with_the_requests_served,
    metrics_are_read_only_with_the_scraper_token_or_as_an_administrator,
);
