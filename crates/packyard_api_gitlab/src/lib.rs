//! GitLab's /api/v4 management JSON: users, groups, tokens, virtual registries, upstreams and cache entries.

/// Registers the /api/v4 management routes.
pub fn configure(_cfg: &mut actix_web::web::ServiceConfig) {}
