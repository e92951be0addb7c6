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
    let blobs = BlobStore::from_url(&settings.storage_url()).with_context(|| "storage.url")?;
    let secret = settings.secret_key()?;
    Core::new(db, blobs, settings.core_settings(), secret).map_err(|e| anyhow::anyhow!("{e}"))
}

/// Registers every surface's routes. The router tries them in order, so the warm path's come first.
pub fn configure(cfg: &mut web::ServiceConfig) {
    packyard_maven::configure_numeric_ids(cfg);
    cfg.route("/-/health", web::get().to(health))
        .route("/-/readiness", web::get().to(readiness));
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
    packyard_api_gitlab::configure(cfg);
    packyard_maven::configure_other_ids(cfg);
}

async fn health() -> HttpResponse {
    HttpResponse::Ok().body("ok")
}

async fn readiness(core: packyard_http::CoreData) -> HttpResponse {
    match core.db().run(packyard_db::queries::ping).await {
        Ok(()) => HttpResponse::Ok().body("ready"),
        Err(error) => {
            tracing::warn!(%error, "readiness check failed");
            HttpResponse::ServiceUnavailable().body("database unavailable")
        }
    }
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
        .app_data(web::Data::new(core))
        .wrap(packyard_http::Ranges)
        .wrap(packyard_http::Connections(limits))
        .wrap(tracing_actix::RequestLog)
        .configure(configure)
}

mod tracing_actix {
    //! One log line per request, with status and duration.
    use std::future::{Ready, ready};
    use std::time::Instant;

    use actix_web::Error;
    use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
    use futures_util::future::LocalBoxFuture;

    /// The request log middleware.
    pub struct RequestLog;

    impl<S, B> Transform<S, ServiceRequest> for RequestLog
    where
        S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
        B: 'static,
    {
        type Response = ServiceResponse<B>;
        type Error = Error;
        type Transform = RequestLogService<S>;
        type InitError = ();
        type Future = Ready<Result<Self::Transform, Self::InitError>>;

        fn new_transform(&self, service: S) -> Self::Future {
            ready(Ok(RequestLogService { service }))
        }
    }

    /// The wrapped service.
    pub struct RequestLogService<S> {
        service: S,
    }

    impl<S, B> Service<ServiceRequest> for RequestLogService<S>
    where
        S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
        B: 'static,
    {
        type Response = ServiceResponse<B>;
        type Error = Error;
        type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

        forward_ready!(service);

        fn call(&self, req: ServiceRequest) -> Self::Future {
            let started = Instant::now();
            let method = req.method().to_string();
            let path = req.path().to_owned();
            let future = self.service.call(req);
            Box::pin(async move {
                let response = future.await?;
                tracing::info!(
                    %method,
                    %path,
                    status = response.status().as_u16(),
                    ms = started.elapsed().as_millis() as u64,
                    "request"
                );
                Ok(response)
            })
        }
    }
}

/// Sets the socket options of an accepted connection.
pub fn tune_connection(connection: &dyn std::any::Any, send_timeout: Duration) {
    if let Some(tcp) = connection.downcast_ref::<actix_web::rt::net::TcpStream>() {
        // Headers and body go out as separate writes; without NODELAY a kept-alive small download
        // waits on the client's delayed ACK.
        let _ = tcp.set_nodelay(true);
        // A client that stops reading leaves sent bytes unacknowledged (its window closes): the kernel
        // drops the connection after this long instead of holding it forever.
        let _ = socket2::SockRef::from(tcp).set_tcp_user_timeout(Some(send_timeout));
    }
}

/// How long a stopping server waits for its running jobs.
const JOB_SHUTDOWN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Runs the server and this instance's job workers (unless `jobs.worker` is off) until SIGINT or
/// SIGTERM; in-flight transfers and jobs get time to finish.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    let listen = settings.listen_addr()?;
    let core = build_core(&settings).await?;
    let workers = settings.jobs.worker.then(|| core.start_job_workers());
    let hot_sync = core.start_hot_sync();
    let limits = settings.connection_limits();
    let send_timeout = Duration::from_secs(settings.server.send_timeout_secs);
    let mut server = HttpServer::new(move || app(core.clone(), limits))
        .on_connect(move |connection, _| tune_connection(connection, send_timeout))
        .shutdown_timeout(60)
        .bind(listen)
        .with_context(|| format!("server.listen = {listen}"))?;
    if let Some(workers) = settings.server.workers {
        server = server.workers(workers);
    }
    tracing::info!(%listen, "packyard is listening");
    let served = server.run().await.context("server failed");
    // Every download counted in memory is written before the process ends.
    hot_sync.stop().await;
    if let Some(workers) = workers {
        // Jobs in progress get time to finish; the others wait in the database. A job cut short is taken
        // over by another worker when its lease runs out.
        if tokio::time::timeout(JOB_SHUTDOWN_TIMEOUT, workers.stop())
            .await
            .is_err()
        {
            tracing::warn!("jobs still running at shutdown were abandoned; they will run again");
        }
    }
    served
}
