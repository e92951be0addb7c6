//! actix plumbing shared by every surface: core errors to GitLab-style responses, credential extraction
//! and authentication, request parameters (query, JSON or form), pagination headers, streaming bodies and range requests on them,
//! and what the hosted package surfaces share (their error body, Basic challenge, GitFlic page and file
//! models). Its error bodies, page parameters and models derive their OpenAPI schemas (utoipa).
//!
//! Depends on `packyard_core`; knows nothing of any one format.

mod auth;
mod connection;
mod error;
pub mod hosted;
pub mod openapi;
mod pagination;
mod params;
#[cfg(test)]
mod proptests;
mod range;
mod stream;
pub mod virtual_client;

pub use auth::{Authenticated, CoreData, credential_from_request, header_text};
pub use connection::{ConnectionLimits, Connections};
pub use error::{ApiError, ApiResult, GitlabErrorBody, error_response_builder, gitlab_error_body};
pub use pagination::{Pagination, describe_pagination_headers, paginated};
pub use params::Params;
pub use range::{
    BYTES, RangeRequest, Ranges, RangesService, is_head, not_modified, requested_range,
};
pub use stream::{head_body, set_validators, stream_body};

/// Largest JSON or form body the management APIs accept.
pub const MAX_PARAMS_BODY: usize = 1024 * 1024;
