//! The assembled server: services from settings, and the actix app with every surface's routes.

use actix_web::{App, HttpResponse, HttpServer, web};
use std::time::Duration;

use anyhow::Context;
use packyard_core::{BlobStore, Core, Db};
use packyard_http::hosted::{COMPANY_SCOPE, GLOBAL_SCOPE};

use crate::settings::Settings;

/// Connects the database (applying migrations), opens blob storage and assembles the services.
pub async fn build_core(settings: &Settings) -> anyhow::Result<Core> {
    let db_url = settings.database_url();
    let db = Db::connect(&db_url, settings.database.max_connections.unwrap_or(10))
        .await
        .with_context(|| format!("database.url = {}", packyard_db::redacted_url(&db_url)))?;
    let storage = settings.storage_url();
    let blobs = BlobStore::open(&storage, &settings.s3_options()?)
        .with_context(|| format!("storage.url = {storage}"))?;
    blobs
        .check_writable()
        .await
        .with_context(|| format!("storage.url = {storage}: the blob store takes no writes"))?;
    let secret = settings.secret_key()?;
    Core::new(db, blobs, settings.core_settings(), secret).map_err(|e| anyhow::anyhow!("{e}"))
}

/// Registers every surface's routes. The router tries them in order, so the warm path's come first.
pub fn configure(cfg: &mut web::ServiceConfig) {
    packyard_maven::configure_numeric_ids(cfg);
    packyard_npm::configure_virtual(cfg);
    packyard_pypi::configure_virtual(cfg);
    cfg.route("/-/health", web::get().to(health))
        .route("/-/readiness", web::get().to(readiness))
        .route("/metrics", web::get().to(metrics));
    packyard_oci::configure(cfg);
    // Each scope is one literal or one pattern for the router; the formats' routes inside it are
    // relative, so they differ from their first characters.
    cfg.service(
        web::scope(GLOBAL_SCOPE)
            .configure(packyard_generic::configure_global)
            .configure(packyard_npm::configure_global)
            .configure(packyard_pypi::configure_global)
            .configure(packyard_maven::configure_global)
            .configure(packyard_nuget::configure_global)
            .configure(packyard_composer::configure_global)
            .configure(packyard_cran::configure_global)
            .configure(packyard_opm::configure_global)
            // The listing ends in catch-all routes: formats first.
            .configure(packyard_api_gitflic::configure),
    )
    .service(
        web::scope(COMPANY_SCOPE)
            .configure(packyard_generic::configure_company)
            .configure(packyard_npm::configure_company)
            .configure(packyard_pypi::configure_company)
            .configure(packyard_maven::configure_company)
            .configure(packyard_nuget::configure_company)
            .configure(packyard_composer::configure_company)
            .configure(packyard_cran::configure_company)
            .configure(packyard_opm::configure_company),
    );
    packyard_ui::configure(cfg);
    cfg.service(web::resource(crate::openapi::PATH).route(web::get().to(crate::openapi::serve)));
    packyard_api_gitlab::configure(cfg);
    packyard_maven::configure_other_ids(cfg);
    packyard_npm::configure_other_ids(cfg);
    packyard_pypi::configure_other_ids(cfg);
}

async fn health() -> HttpResponse {
    HttpResponse::Ok().body("ok")
}

/// Ready when the database answers and the blob store takes writes (the checks the administration page
/// shows too).
async fn readiness(core: packyard_http::CoreData) -> HttpResponse {
    match core.readiness().await.first_problem() {
        None => HttpResponse::Ok().body("ready"),
        Some(problem) => HttpResponse::ServiceUnavailable().body(problem),
    }
}

/// The metrics in the Prometheus text format, for whoever `[metrics]` lets read them.
async fn metrics(
    req: actix_web::HttpRequest,
    core: packyard_http::CoreData,
) -> packyard_http::ApiResult<HttpResponse> {
    core.authorize_metrics(packyard_http::credential_from_request(&req))
        .await?;
    let text = core.metrics_text().await?;
    Ok(HttpResponse::Ok()
        .content_type(packyard_core::metrics::CONTENT_TYPE)
        .body(text))
}

/// Builds the actix app around the services.
pub fn app(
    core: Core,
    limits: packyard_http::ConnectionLimits,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(web::Data::new(core.clone()))
        .wrap(packyard_http::Ranges)
        .wrap(packyard_http::Connections(limits))
        .wrap(tracing_actix::RequestLog(core.clone()))
        .configure(configure)
}

mod tracing_actix {
    //! One log line per request, written when its response body is sent to its end (or given up):
    //! method, path, status, bytes sent, time to the last byte, the client's address and a request id
    //! (the client's `X-Request-Id` when it sends a sane one, echoed back; else a new one). The same
    //! figures go to the request metrics, logged or not.
    use std::cell::RefCell;
    use std::collections::HashMap;
    use std::future::{Ready, ready};
    use std::net::IpAddr;
    use std::pin::Pin;
    use std::rc::Rc;
    use std::sync::Arc;
    use std::task::{Context, Poll};
    use std::time::Instant;

    use actix_web::Error;
    use actix_web::body::{BodySize, MessageBody};
    use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
    use actix_web::http::header::{HeaderName, HeaderValue};
    use actix_web::web::Bytes;
    use futures_util::future::LocalBoxFuture;
    use packyard_core::metrics::RouteStats;

    const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

    /// The request log and metrics middleware.
    pub struct RequestLog(pub packyard_core::Core);

    impl<S, B> Transform<S, ServiceRequest> for RequestLog
    where
        S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
        B: MessageBody + 'static,
    {
        type Response = ServiceResponse<LoggedBody<B>>;
        type Error = Error;
        type Transform = RequestLogService<S>;
        type InitError = ();
        type Future = Ready<Result<Self::Transform, Self::InitError>>;

        fn new_transform(&self, service: S) -> Self::Future {
            ready(Ok(RequestLogService {
                service,
                core: self.0.clone(),
                routes: Rc::default(),
            }))
        }
    }

    /// The wrapped service: one per worker thread.
    pub struct RequestLogService<S> {
        service: S,
        core: packyard_core::Core,
        /// This worker's statistics by route name or pattern, resolved once per route: recording a
        /// request then takes no lock and, on a named route, no allocation.
        routes: Rc<RefCell<HashMap<String, RouteHandle>>>,
    }

    /// A worker's handle on a route's statistics: cloning the `Rc` per request touches no cache line
    /// another worker writes, as cloning the shared `Arc` would.
    type RouteHandle = Rc<Arc<RouteStats>>;

    /// The route a request took, for its metrics: the resource's name when it has one (the warm path's
    /// routes do: reading it allocates nothing), else its pattern.
    fn route_stats(
        routes: &RefCell<HashMap<String, RouteHandle>>,
        core: &packyard_core::Core,
        req: &actix_web::HttpRequest,
    ) -> RouteHandle {
        let pattern;
        let route = match req.match_name() {
            Some(name) => name,
            None => {
                pattern = req.match_pattern();
                pattern.as_deref().unwrap_or(UNMATCHED)
            }
        };
        if let Some(stats) = routes.borrow().get(route) {
            return stats.clone();
        }
        let stats = Rc::new(core.metrics().route(format_of(route), route));
        routes.borrow_mut().insert(route.to_owned(), stats.clone());
        stats
    }

    /// The route label of a request no route took.
    const UNMATCHED: &str = "unmatched";

    /// The format a route serves: the first part of its name (`maven.download`), else read from its
    /// pattern's prefix; `api` for the management APIs, `server` for the rest.
    fn format_of(route: &str) -> &str {
        if !route.starts_with('/') {
            return match route.split_once('.') {
                Some((format, _)) => format,
                None => "server",
            };
        }
        if route.starts_with("/v2") || route.starts_with("/jwt/") {
            return "container";
        }
        for prefix in [
            "/registry/package/",
            "/company/{group}/package/-/",
            "/api/v4/virtual_registries/packages/",
        ] {
            if let Some(format) = route
                .strip_prefix(prefix)
                .and_then(|rest| rest.split('/').next())
                .filter(|format| !format.is_empty() && !format.starts_with('{'))
            {
                return format;
            }
        }
        if route.starts_with("/api/") || route.starts_with("/registry/") {
            return "api";
        }
        "server"
    }

    /// A client's request id, when it is one a log can carry as it is.
    fn sane_request_id(value: &HeaderValue) -> Option<&str> {
        let id = value.to_str().ok()?;
        let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':');
        (!id.is_empty() && id.len() <= 128 && id.chars().all(plain)).then_some(id)
    }

    /// The client's address: the peer's, or, when the peer is a trusted proxy, the last address of
    /// `X-Forwarded-For` that is not a trusted proxy itself.
    fn client_address(req: &ServiceRequest, trusted: &[ipnet::IpNet]) -> Option<IpAddr> {
        let peer = req.peer_addr()?.ip();
        let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
        if !is_trusted(&peer) {
            return Some(peer);
        }
        let forwarded: Vec<IpAddr> = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .filter_map(|part| part.trim().parse().ok())
            .collect();
        Some(
            forwarded
                .into_iter()
                .rev()
                .find(|ip| !is_trusted(ip))
                .unwrap_or(peer),
        )
    }

    impl<S, B> Service<ServiceRequest> for RequestLogService<S>
    where
        S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
        B: MessageBody + 'static,
    {
        type Response = ServiceResponse<LoggedBody<B>>;
        type Error = Error;
        type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

        forward_ready!(service);

        fn call(&self, req: ServiceRequest) -> Self::Future {
            let started = Instant::now();
            let client_id = req
                .headers()
                .get(X_REQUEST_ID)
                .and_then(sane_request_id)
                .map(str::to_owned);
            // Without a log the warm path pays for the metrics and for echoing the client's id only.
            let log = tracing::enabled!(tracing::Level::INFO).then(|| {
                let trusted = &self.core.settings().trusted_proxies;
                LogFields {
                    method: req.method().to_string(),
                    path: req.path().to_owned(),
                    client: client_address(&req, trusted),
                    request_id: client_id
                        .clone()
                        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string()),
                }
            });
            let (core, routes) = (self.core.clone(), self.routes.clone());
            let future = self.service.call(req);
            Box::pin(async move {
                let mut response = future.await?;
                let echoed = log
                    .as_ref()
                    .map(|log| &log.request_id)
                    .or(client_id.as_ref());
                if let Some(id) = echoed.and_then(|id| HeaderValue::from_str(id).ok()) {
                    response.headers_mut().insert(X_REQUEST_ID, id);
                }
                let route = route_stats(&routes, &core, response.request());
                let line = RequestLine {
                    started,
                    route,
                    log,
                    status: response.status().as_u16(),
                    bytes: 0,
                    complete: false,
                };
                Ok(response.map_body(|_, body| {
                    let mut line = line;
                    // A body with nothing to send may never be polled.
                    line.complete = matches!(body.size(), BodySize::None | BodySize::Sized(0));
                    LoggedBody { body, line }
                }))
            })
        }
    }

    /// What the request line says, logged when dropped: after the body's last byte, or when the
    /// client went away before it.
    pub struct RequestLine {
        started: Instant,
        route: RouteHandle,
        /// What only the log line needs, when there is a log.
        log: Option<LogFields>,
        status: u16,
        bytes: u64,
        complete: bool,
    }

    /// The request line's fields beyond the metrics'.
    pub struct LogFields {
        method: String,
        path: String,
        client: Option<IpAddr>,
        request_id: String,
    }

    impl Drop for RequestLine {
        fn drop(&mut self) {
            let elapsed = self.started.elapsed();
            self.route.record(self.status, elapsed, self.bytes);
            let Some(log) = &self.log else {
                return;
            };
            tracing::info!(
                method = %log.method,
                path = %log.path,
                status = self.status,
                bytes = self.bytes,
                complete = self.complete,
                ms = elapsed.as_millis() as u64,
                client = log.client.map(|ip| ip.to_string()).unwrap_or_default(),
                request_id = %log.request_id,
                "request"
            );
        }
    }

    pin_project_lite::pin_project! {
        /// A response body that counts what it sends for its request line.
        pub struct LoggedBody<B> {
            #[pin]
            body: B,
            line: RequestLine,
        }
    }

    impl<B: MessageBody> MessageBody for LoggedBody<B> {
        type Error = B::Error;

        fn size(&self) -> BodySize {
            self.body.size()
        }

        fn poll_next(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Bytes, Self::Error>>> {
            let this = self.project();
            let polled = this.body.poll_next(cx);
            match &polled {
                Poll::Ready(Some(Ok(chunk))) => this.line.bytes += chunk.len() as u64,
                Poll::Ready(None) => this.line.complete = true,
                _ => {}
            }
            polled
        }
    }

    #[cfg(test)]
    mod tests {
        use actix_web::test::TestRequest;

        use super::*;

        #[test]
        fn forwarded_addresses_count_only_from_trusted_proxies() {
            let trusted: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
            let from = |peer: &str| {
                TestRequest::default()
                    .peer_addr(format!("{peer}:5000").parse().unwrap())
                    .insert_header(("X-Forwarded-For", "198.51.100.7, 10.1.1.1"))
                    .to_srv_request()
            };
            let ip = |text: &str| Some(text.parse::<IpAddr>().unwrap());
            assert_eq!(
                client_address(&from("10.2.2.2"), &trusted),
                ip("198.51.100.7")
            );
            assert_eq!(
                client_address(&from("192.0.2.1"), &trusted),
                ip("192.0.2.1")
            );
            assert_eq!(client_address(&from("10.2.2.2"), &[]), ip("10.2.2.2"));
        }

        #[test]
        fn request_ids_are_taken_only_when_a_log_can_carry_them() {
            let id = |text: &str| sane_request_id(&HeaderValue::from_str(text).unwrap()).is_some();
            assert!(id("0f8c2a1e-5b7d-4c3e-9a10-1d2e3f4a5b6c"));
            assert!(id("build-42.step:7"));
            assert!(!id("two words"));
            assert!(!id(""));
            assert!(!id(&"x".repeat(129)));
        }
    }
}

/// Sets the socket options of an accepted connection, plain or TLS.
pub fn tune_connection(connection: &dyn std::any::Any, send_timeout: Duration) {
    use actix_web::rt::net::TcpStream;
    let tcp = connection.downcast_ref::<TcpStream>().or_else(|| {
        connection
            .downcast_ref::<actix_tls::accept::rustls_0_23::TlsStream<TcpStream>>()
            .map(|tls| tls.get_ref().0)
    });
    if let Some(tcp) = tcp {
        // Headers and body go out as separate writes; without NODELAY a kept-alive small download
        // waits on the client's delayed ACK.
        let _ = tcp.set_nodelay(true);
        // A client that stops reading leaves sent bytes unacknowledged (its window closes): the kernel
        // drops the connection after this long instead of holding it forever.
        let _ = socket2::SockRef::from(tcp).set_tcp_user_timeout(Some(send_timeout));
    }
}

/// Runs the server and this instance's job workers (unless `jobs.worker` is off) until SIGINT or
/// SIGTERM; in-flight transfers and jobs get time to finish.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    let listen = settings.listen_addr()?;
    let tls = settings.tls_config()?;
    let core = build_core(&settings).await?;
    let workers = settings.jobs.worker.then(|| core.start_job_workers());
    let hot_sync = core.start_hot_sync();
    let limits = settings.connection_limits();
    let send_timeout = Duration::from_secs(settings.server.send_timeout_secs);
    let server = HttpServer::new(move || app(core.clone(), limits))
        .on_connect(move |connection, _| tune_connection(connection, send_timeout))
        .shutdown_timeout(settings.server.shutdown_timeout_secs);
    let scheme = if tls.is_some() { "https" } else { "http" };
    let mut server = match tls {
        Some(tls) => server.bind_rustls_0_23(listen, tls),
        None => server.bind(listen),
    }
    .with_context(|| format!("server.listen = {listen}"))?;
    if let Some(workers) = settings.server.workers {
        server = server.workers(workers);
    }
    tracing::info!(%listen, scheme, "packyard is listening");
    let served = server.run().await.context("server failed");
    // Every download counted in memory is written before the process ends.
    hot_sync.stop().await;
    if let Some(workers) = workers {
        // Jobs in progress get time to finish; the others wait in the database. A job cut short is taken
        // over by another worker when its lease runs out.
        let drain = Duration::from_secs(settings.server.shutdown_timeout_secs);
        if tokio::time::timeout(drain, workers.stop()).await.is_err() {
            tracing::warn!("jobs still running at shutdown were abandoned; they will run again");
        }
    }
    served
}
