//! Prometheus metrics: what the services count (cache, upstreams, fills, jobs, storage, the database
//! pool) and the per-route request table the HTTP layer records into, rendered in the Prometheus text
//! format by [`Core::metrics_text`].
//!
//! Recording costs an atomic add: counters are plain atomics reached without a lookup, except the ones
//! labelled by upstream, which are on the cold path (an upstream round trip dwarfs a map lookup). A
//! request is recorded into a [`RouteStats`] its caller resolves once per route and keeps.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::exemplar::Exemplar;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use sha2::{Digest, Sha256};

use crate::identity::Credential;
use crate::{Core, CoreError, CoreResult};

/// The content type of [`Core::metrics_text`].
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Upper bounds, in seconds, of the latency histograms: a warm hit takes well under a millisecond, an
/// upstream fetch up to its timeouts.
const SECONDS_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0, 30.0,
];

/// `upstream="<id>"`: upstreams are named by id, which a rename does not change.
type UpstreamLabel = [(&'static str, String); 1];

/// Every metric the services keep.
pub struct Metrics {
    registry: Registry,
    /// Requests answered from a fresh cache entry.
    pub(crate) cache_hits: Counter,
    /// Requests that found no usable cache entry.
    pub(crate) cache_misses: Counter,
    /// Stale entries served because their upstream could not be asked or refetched.
    pub(crate) stale_served: Counter,
    revalidations: Family<[(&'static str, &'static str); 1], Counter>,
    upstream_requests: Family<UpstreamLabel, Counter>,
    upstream_errors: Family<UpstreamLabel, Counter>,
    upstream_seconds: Family<UpstreamLabel, Histogram>,
    /// Bytes received from upstreams by completed fills.
    pub(crate) fetched_bytes: Counter,
    /// Fills running in this instance.
    pub(crate) fills_in_flight: Gauge,
    /// Misses that joined a fill or a resolution already under way instead of asking upstreams.
    pub(crate) fill_waiters: Counter,
    jobs_queued: Gauge,
    /// Jobs this instance is running.
    pub(crate) jobs_running: Gauge,
    /// Job runs that failed.
    pub(crate) jobs_failed: Counter,
    db_connections: Family<[(&'static str, &'static str); 1], Gauge>,
    db_max_connections: Gauge,
    /// Blob store reads and writes that failed (a missing blob is not an error of the store).
    pub(crate) storage_errors: Counter,
    requests: Arc<RequestTable>,
}

/// How a revalidation against the upstream came out.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Revalidated {
    Unchanged,
    Changed,
    Unreachable,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut root = Registry::default();
        let registry = root.sub_registry_with_prefix("packyard");
        let metrics = Self {
            registry: Registry::default(),
            cache_hits: Counter::default(),
            cache_misses: Counter::default(),
            stale_served: Counter::default(),
            revalidations: Family::default(),
            upstream_requests: Family::default(),
            upstream_errors: Family::default(),
            upstream_seconds: Family::new_with_constructor(|| {
                Histogram::new(SECONDS_BUCKETS.iter().copied())
            }),
            fetched_bytes: Counter::default(),
            fills_in_flight: Gauge::default(),
            fill_waiters: Counter::default(),
            jobs_queued: Gauge::default(),
            jobs_running: Gauge::default(),
            jobs_failed: Counter::default(),
            db_connections: Family::default(),
            db_max_connections: Gauge::default(),
            storage_errors: Counter::default(),
            requests: Arc::default(),
        };
        let m = &metrics;
        registry.register_collector(Box::new(m.requests.clone()));
        registry.register(
            "cache_hits",
            "Requests answered from a fresh cache entry",
            m.cache_hits.clone(),
        );
        registry.register(
            "cache_misses",
            "Requests that found no usable cache entry and went to the upstreams",
            m.cache_misses.clone(),
        );
        registry.register(
            "cache_stale_served",
            "Stale cache entries served because the upstream could not be reached",
            m.stale_served.clone(),
        );
        registry.register(
            "cache_revalidations",
            "Stale cache entries checked against their upstream, by result",
            m.revalidations.clone(),
        );
        registry.register(
            "upstream_requests",
            "Requests sent to upstreams (HEAD and GET), by upstream id",
            m.upstream_requests.clone(),
        );
        registry.register(
            "upstream_errors",
            "Upstream requests that failed (unreachable, timed out, or a 5xx answer), by upstream id",
            m.upstream_errors.clone(),
        );
        registry.register_with_unit(
            "upstream_request_duration",
            "Time from an upstream request to its response headers, by upstream id",
            Unit::Seconds,
            m.upstream_seconds.clone(),
        );
        registry.register_with_unit(
            "upstream_fetched",
            "Bytes received from upstreams by completed fills",
            Unit::Bytes,
            m.fetched_bytes.clone(),
        );
        registry.register(
            "fills_in_flight",
            "Upstream fetches being streamed into the cache by this instance",
            m.fills_in_flight.clone(),
        );
        registry.register(
            "fill_waiters",
            "Misses that joined a fetch already under way instead of asking the upstreams again",
            m.fill_waiters.clone(),
        );
        registry.register(
            "jobs_queued",
            "Background jobs due and waiting for a worker (all instances)",
            m.jobs_queued.clone(),
        );
        registry.register(
            "jobs_running",
            "Background jobs this instance is running",
            m.jobs_running.clone(),
        );
        registry.register(
            "jobs_failed",
            "Background job runs that failed (each retry counts)",
            m.jobs_failed.clone(),
        );
        registry.register(
            "db_pool_connections",
            "Database connections of this instance's pool, by state (idle, in_use)",
            m.db_connections.clone(),
        );
        registry.register(
            "db_pool_max_connections",
            "The most database connections this instance's pool opens",
            m.db_max_connections.clone(),
        );
        registry.register(
            "storage_errors",
            "Blob store operations that failed",
            m.storage_errors.clone(),
        );
        Self {
            registry: root,
            ..metrics
        }
    }
}

impl Metrics {
    /// Counts a revalidation.
    pub(crate) fn revalidated(&self, result: Revalidated) {
        let result = match result {
            Revalidated::Unchanged => "unchanged",
            Revalidated::Changed => "changed",
            Revalidated::Unreachable => "unreachable",
        };
        self.revalidations
            .get_or_create(&[("result", result)])
            .inc();
    }

    /// Times an upstream request and counts it, and its failure when `failed` says it failed.
    pub(crate) async fn upstream_call<T, E>(
        &self,
        upstream_id: i64,
        call: impl Future<Output = Result<T, E>>,
        failed: impl FnOnce(&T) -> bool,
    ) -> Result<T, E> {
        let started = Instant::now();
        let result = call.await;
        let label = [("upstream", upstream_id.to_string())];
        self.upstream_requests.get_or_create(&label).inc();
        self.upstream_seconds
            .get_or_create(&label)
            .observe(started.elapsed().as_secs_f64());
        if result.as_ref().map_or(true, failed) {
            self.upstream_errors.get_or_create(&label).inc();
        }
        result
    }

    /// The statistics of a route, created on first use; resolve once per route and keep them.
    pub fn route(&self, format: &str, route: &str) -> Arc<RouteStats> {
        self.requests.route(format, route)
    }
}

impl Core {
    /// Whether a request may read the metrics: not found while they are off; then the configured
    /// scraper token, or an administrator's token.
    pub async fn authorize_metrics(&self, credential: Option<Credential>) -> CoreResult<()> {
        let access = &self.settings.metrics;
        if !access.enabled {
            return Err(CoreError::not_found("Page"));
        }
        let credential = credential.ok_or(CoreError::Unauthorized)?;
        if let (
            Credential::Token(presented) | Credential::DeployOrPersonal(presented),
            Some(token),
        ) = (&credential, &access.token)
        {
            // Digests are compared, so the comparison's time tells nothing of the token.
            if Sha256::digest(presented.as_bytes()) == Sha256::digest(token.as_bytes()) {
                return Ok(());
            }
        }
        let actor = self.authenticate(credential).await?;
        if actor.is_admin() {
            Ok(())
        } else {
            Err(CoreError::Forbidden)
        }
    }

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Every metric in the Prometheus text format, with the gauges read now (jobs waiting, the pool).
    pub async fn metrics_text(&self) -> CoreResult<String> {
        let now = self.now();
        let queued = self
            .db
            .run(move |conn| packyard_db::queries::jobs::count_waiting(conn, now))
            .await?;
        let metrics = &self.metrics;
        metrics.jobs_queued.set(queued);
        let pool = self.db.pool_state();
        metrics
            .db_connections
            .get_or_create(&[("state", "idle")])
            .set(i64::from(pool.idle));
        metrics
            .db_connections
            .get_or_create(&[("state", "in_use")])
            .set(i64::from(pool.connections - pool.idle));
        metrics.db_max_connections.set(i64::from(pool.max));
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &metrics.registry)
            .map_err(|e| CoreError::Internal(format!("metrics encoding: {e}")))?;
        Ok(text)
    }
}

/// The status codes counted one by one; any other is counted under its class (`2xx` ... `5xx`).
const STATUSES: [u16; 21] = [
    200, 201, 202, 204, 206, 301, 302, 304, 307, 308, 400, 401, 403, 404, 405, 409, 413, 416, 500,
    502, 503,
];
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// What is counted of one route: requests by status, time to the last byte, bytes sent.
pub struct RouteStats {
    format: String,
    route: String,
    by_status: [AtomicU64; STATUSES.len()],
    by_class: [AtomicU64; CLASSES.len()],
    seconds: AtomicHistogram,
    bytes: AtomicU64,
}

impl RouteStats {
    /// Records one request: its status, how long it took to its last byte, the body bytes sent.
    pub fn record(&self, status: u16, elapsed: Duration, bytes: u64) {
        let counter = match STATUSES.iter().position(|s| *s == status) {
            Some(i) => &self.by_status[i],
            None => &self.by_class[usize::from(status / 100).clamp(1, 5) - 1],
        };
        counter.fetch_add(1, Ordering::Relaxed);
        self.seconds.observe(elapsed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }
}

/// A latency histogram of atomics: observing takes no lock.
struct AtomicHistogram {
    buckets: [AtomicU64; SECONDS_BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl AtomicHistogram {
    fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        if let Some(i) = SECONDS_BUCKETS.iter().position(|upper| seconds <= *upper) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// Per-bucket counts (the encoder accumulates them), the sum in seconds and the count.
    fn snapshot(&self) -> (Vec<(f64, u64)>, f64, u64) {
        let mut buckets: Vec<(f64, u64)> = SECONDS_BUCKETS
            .iter()
            .zip(&self.buckets)
            .map(|(upper, n)| (*upper, n.load(Ordering::Relaxed)))
            .collect();
        let count = self.count.load(Ordering::Relaxed);
        let bounded: u64 = buckets.iter().map(|(_, n)| n).sum();
        buckets.push((f64::INFINITY, count.saturating_sub(bounded)));
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        (buckets, sum, count)
    }
}

/// Every route seen, by (format, route).
#[derive(Debug, Default)]
struct RequestTable {
    routes: Mutex<HashMap<(String, String), Arc<RouteStats>>>,
}

impl std::fmt::Debug for RouteStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RouteStats({} {})", self.format, self.route)
    }
}

impl RequestTable {
    fn route(&self, format: &str, route: &str) -> Arc<RouteStats> {
        let mut routes = match self.routes.lock() {
            Ok(routes) => routes,
            Err(poisoned) => poisoned.into_inner(),
        };
        routes
            .entry((format.to_owned(), route.to_owned()))
            .or_insert_with(|| {
                Arc::new(RouteStats {
                    format: format.to_owned(),
                    route: route.to_owned(),
                    by_status: Default::default(),
                    by_class: Default::default(),
                    seconds: AtomicHistogram {
                        buckets: Default::default(),
                        count: AtomicU64::new(0),
                        sum_micros: AtomicU64::new(0),
                    },
                    bytes: AtomicU64::new(0),
                })
            })
            .clone()
    }

    fn snapshot(&self) -> Vec<Arc<RouteStats>> {
        let routes = match self.routes.lock() {
            Ok(routes) => routes,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut all: Vec<_> = routes.values().cloned().collect();
        all.sort_by(|a, b| (&a.format, &a.route).cmp(&(&b.format, &b.route)));
        all
    }
}

const NO_EXEMPLAR: Option<&Exemplar<NoLabelSet, u64>> = None;

impl Collector for RequestTable {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let routes = self.snapshot();
        let route_labels = |stats: &RouteStats| {
            vec![
                ("format", stats.format.clone()),
                ("route", stats.route.clone()),
            ]
        };
        let mut requests = encoder.encode_descriptor(
            "http_requests",
            "HTTP requests answered, by format, route and status",
            None,
            MetricType::Counter,
        )?;
        for stats in &routes {
            let statuses = STATUSES.iter().map(|s| s.to_string());
            let counts = stats.by_status.iter().chain(&stats.by_class);
            for (status, count) in statuses.chain(CLASSES.map(str::to_owned)).zip(counts) {
                let count = count.load(Ordering::Relaxed);
                if count == 0 {
                    continue;
                }
                let mut labels = route_labels(stats);
                labels.push(("status", status));
                requests
                    .encode_family(&labels)?
                    .encode_counter(&count, NO_EXEMPLAR)?;
            }
        }
        let mut seconds = encoder.encode_descriptor(
            "http_request_duration",
            "Time from a request to its response's last byte, by format and route",
            Some(&Unit::Seconds),
            MetricType::Histogram,
        )?;
        for stats in &routes {
            let (buckets, sum, count) = stats.seconds.snapshot();
            seconds
                .encode_family(&route_labels(stats))?
                .encode_histogram::<NoLabelSet>(sum, count, &buckets, None)?;
        }
        let mut bytes = encoder.encode_descriptor(
            "http_response",
            "Response body bytes sent, by format and route",
            Some(&Unit::Bytes),
            MetricType::Counter,
        )?;
        for stats in &routes {
            bytes
                .encode_family(&route_labels(stats))?
                .encode_counter(&stats.bytes.load(Ordering::Relaxed), NO_EXEMPLAR)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_request_shows_under_its_route_and_status() {
        let metrics = Metrics::default();
        let route = metrics.route("maven", "maven.download");
        route.record(200, Duration::from_millis(3), 1024);
        route.record(200, Duration::from_millis(3), 1024);
        route.record(418, Duration::from_millis(1), 0);
        metrics.cache_hits.inc();
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &metrics.registry).unwrap();
        for line in [
            "packyard_http_requests_total{format=\"maven\",route=\"maven.download\",status=\"200\"} 2",
            "packyard_http_requests_total{format=\"maven\",route=\"maven.download\",status=\"4xx\"} 1",
            "packyard_http_response_bytes_total{format=\"maven\",route=\"maven.download\"} 2048",
            "packyard_http_request_duration_seconds_bucket{format=\"maven\",route=\"maven.download\",le=\"0.005\"} 3",
            "packyard_http_request_duration_seconds_count{format=\"maven\",route=\"maven.download\"} 3",
            "packyard_cache_hits_total 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
    }
}
