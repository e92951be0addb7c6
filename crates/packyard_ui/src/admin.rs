//! Administration: users, the readiness checks and the key metrics of this instance.

use actix_web::web;
use askama::Template;
use packyard_core::Core;
use packyard_core::health::Check;
use packyard_core::rows::User;

use crate::pages::{Layout, Page, render, when};
use crate::session::Session;

/// The metric families the page shows: the cache's effect, the upstreams' health, background work and
/// the database pool (the request histograms stay in `/metrics`).
const KEY_METRICS: [&str; 12] = [
    "packyard_cache_hits",
    "packyard_cache_misses",
    "packyard_cache_stale_served",
    "packyard_cache_revalidations",
    "packyard_upstream_errors",
    "packyard_fills_in_flight",
    "packyard_jobs_queued",
    "packyard_jobs_running",
    "packyard_jobs_failed",
    "packyard_db_pool_connections",
    "packyard_db_pool_max_connections",
    "packyard_storage_errors",
];

struct UserRow {
    username: String,
    name: String,
    admin: bool,
    created: String,
}

struct Metric {
    name: String,
    value: String,
}

#[derive(Template)]
#[template(path = "admin.html")]
struct AdminPage {
    layout: Layout,
    users: Vec<UserRow>,
    ready: bool,
    checks: Vec<Check>,
    metrics: Vec<Metric>,
}

/// The key samples of the metrics text.
fn key_metrics(text: &str) -> Vec<Metric> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.rsplit_once(' '))
        .filter(|(name, _)| {
            let family = name.split('{').next().unwrap_or_default();
            let family = family.strip_suffix("_total").unwrap_or(family);
            KEY_METRICS.contains(&family)
        })
        .map(|(name, value)| Metric {
            name: name.to_owned(),
            value: value.to_owned(),
        })
        .collect()
}

/// The administration page (administrators with an `api` token).
pub async fn show(session: Session, core: web::Data<Core>) -> Page {
    core.require_admin(&session.actor)?;
    let users = core
        .list_users()
        .await?
        .into_iter()
        .map(|u: User| UserRow {
            username: u.username,
            name: u.name,
            admin: u.is_admin,
            created: when(Some(u.created_at)),
        })
        .collect();
    let readiness = core.readiness().await;
    let metrics = key_metrics(&core.metrics_text().await?);
    render(&AdminPage {
        layout: Layout::new(&session, "Administration"),
        users,
        ready: readiness.is_ready(),
        checks: readiness.checks,
        metrics,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_key_metrics_are_shown() {
        let text = "# HELP packyard_cache_hits Requests\n\
                    packyard_cache_hits_total 3\n\
                    packyard_http_requests_total{route=\"x\"} 9\n\
                    packyard_db_pool_connections{state=\"idle\"} 2\n";
        let shown: Vec<(String, String)> = key_metrics(text)
            .into_iter()
            .map(|m| (m.name, m.value))
            .collect();
        assert_eq!(
            shown,
            [
                ("packyard_cache_hits_total".to_owned(), "3".to_owned()),
                (
                    "packyard_db_pool_connections{state=\"idle\"}".to_owned(),
                    "2".to_owned()
                ),
            ]
        );
    }
}
