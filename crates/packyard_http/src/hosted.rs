//! Shared by the hosted package surfaces (the GitFlic `/registry/package` API and the `/company/…`
//! client protocols): their error body, authentication with a Basic challenge, request bodies as streams,
//! file responses, and GitFlic's package file model.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::http::header::{ACCEPT_RANGES, CONTENT_DISPOSITION, CONTENT_TYPE, WWW_AUTHENTICATE};
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, web};
use bytes::Bytes;
use chrono::NaiveDateTime;
use futures_util::StreamExt;
use futures_util::stream::LocalBoxStream;
use packyard_core::CoreError;
use packyard_core::hosted::HostedDownload;
use packyard_core::identity::{Actor, Credential};
use packyard_core::rows::PackageFile;
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

use crate::{CoreData, credential_from_request};

/// The challenge of every hosted surface: pip and twine send credentials only after a Basic challenge.
/// GitFlic's service-level package API: every format's content routes (`/registry/package/<type>/…`)
/// and the listing are registered relative to this one scope, so that the router compares one literal
/// prefix instead of trying each of their patterns in turn.
pub const GLOBAL_SCOPE: &str = "/registry/package";

/// A company's package repositories: every format's client protocol (`…/-/<type>/…`) is registered
/// relative to this one scope.
pub const COMPANY_SCOPE: &str = "/company/{group}/package/-";

pub const BASIC_CHALLENGE: &str = "Basic realm=\"packyard\"";

/// A core error as the hosted surfaces answer it: `{"status": 404, "error": "Not Found", "message": …}`
/// (the attributes of the Spring error body GitFlic's server is built on), with a Basic challenge on 401.
#[derive(Debug)]
pub struct HostedError(pub CoreError);

/// Result of hosted handlers.
pub type HostedResult<T> = Result<T, HostedError>;

impl<E: Into<CoreError>> From<E> for HostedError {
    fn from(error: E) -> Self {
        HostedError(error.into())
    }
}

impl std::fmt::Display for HostedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// The message of a hosted error body.
pub fn hosted_error_message(error: &CoreError) -> String {
    match error {
        CoreError::Unauthorized => "Authentication required".into(),
        CoreError::Forbidden => "No access rights".into(),
        CoreError::NotFound(what) => format!("{what} not found"),
        CoreError::Invalid(fields) => fields
            .0
            .iter()
            .map(|(field, messages)| format!("{field} {}", messages.join(", ")))
            .collect::<Vec<_>>()
            .join("; "),
        CoreError::BadParameter(message)
        | CoreError::BadRequest(message)
        | CoreError::Conflict(message)
        | CoreError::TooLarge(message)
        | CoreError::InsufficientStorage(message) => message.clone(),
        CoreError::NoUpstreams => "No upstreams set".into(),
        CoreError::UpstreamUnavailable(_) | CoreError::Unavailable(_) => {
            "Service unavailable".into()
        }
        CoreError::Internal(_) => "Internal server error".into(),
    }
}

impl ResponseError for HostedError {
    fn status_code(&self) -> StatusCode {
        crate::error::status_of(&self.0)
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let mut response = crate::error_response_builder(&self.0);
        if matches!(self.0, CoreError::Unauthorized) {
            response.insert_header((WWW_AUTHENTICATE, BASIC_CHALLENGE));
        }
        response.json(HostedErrorBody {
            status: status.as_u16(),
            error: status.canonical_reason().unwrap_or("").to_owned(),
            message: hosted_error_message(&self.0),
        })
    }
}

/// The hosted surfaces' error body: `{"status": 404, "error": "Not Found", "message": "Package not found"}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct HostedErrorBody {
    /// The HTTP status.
    pub status: u16,
    /// The status's reason phrase.
    pub error: String,
    /// What went wrong.
    pub message: String,
}

/// An authenticated caller of a hosted surface; extracting it answers 401 with a Basic challenge when the
/// request has no valid credential. Every form of credential may carry a personal or a deploy token here
/// (npm sends either as `Authorization: Bearer`).
pub struct HostedActor(pub Actor);

impl FromRequest for HostedActor {
    type Error = HostedError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        Self::authenticate(req, credential_from_request(req))
    }
}

impl HostedActor {
    /// Authenticates a credential a route found in its own way (a client's own header).
    pub fn authenticate(
        req: &HttpRequest,
        credential: Option<Credential>,
    ) -> Pin<Box<dyn Future<Output = Result<Self, HostedError>>>> {
        let core = req.app_data::<CoreData>().cloned();
        Box::pin(async move {
            let core = core.ok_or_else(|| {
                HostedError(CoreError::Internal("core missing from app data".into()))
            })?;
            let credential = match credential.ok_or(HostedError(CoreError::Unauthorized))? {
                Credential::Token(secret) | Credential::DeployOrPersonal(secret) => {
                    Credential::DeployOrPersonal(secret)
                }
            };
            Ok(HostedActor(core.authenticate(credential).await?))
        })
    }
}

/// A request body as the stream the services read.
pub fn payload_stream(body: web::Payload) -> LocalBoxStream<'static, std::io::Result<Bytes>> {
    body.map(|chunk| chunk.map_err(|e| std::io::Error::other(e.to_string())))
        .boxed_local()
}

/// A hosted file as a download: sized, seekable (a `Range` gets its part), with its name and its sha256.
pub fn file_response(download: HostedDownload, content_type: &str) -> HttpResponse {
    let length = download.file.size as u64;
    let mut response = file_headers(&download.file, content_type);
    response.extensions_mut().insert(download.seekable);
    response.body(crate::stream_body(Some(length), download.body))
}

/// The answer to a `HEAD` of a hosted file, with the headers of [`file_response`], for a route that
/// need not open the file to answer it.
pub fn file_head(file: &PackageFile, content_type: &str) -> HttpResponse {
    file_headers(file, content_type).body(crate::head_body(Some(file.size as u64)))
}

fn file_headers(file: &PackageFile, content_type: &str) -> actix_web::HttpResponseBuilder {
    let mut response = HttpResponse::Ok();
    response
        .insert_header((CONTENT_TYPE, content_type.to_owned()))
        .insert_header((ACCEPT_RANGES, crate::BYTES))
        .insert_header((
            CONTENT_DISPOSITION,
            format!(
                "attachment; filename=\"{}\"",
                file.name.replace(['"', '\\'], "_")
            ),
        ))
        .insert_header(("x-checksum-sha256", file.blob_sha256.clone()))
        .insert_header(("x-checksum-sha1", file.file_sha1.clone()))
        .insert_header(("x-checksum-md5", file.file_md5.clone()));
    crate::set_validators(&mut response, &file.blob_sha256, Some(file.created_at));
    response
}

/// GitFlic's timestamps: `2024-08-01T06:57:07.150295` (UTC, microseconds, no offset).
pub fn gitflic_timestamp(at: NaiveDateTime) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}

/// GitFlic's package file model (`simplePackageFileModel`).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PackageFileModel {
    /// File uuid.
    pub id: String,
    /// File name.
    pub name: String,
    /// Size in bytes.
    pub size: i64,
    /// md5 hex.
    pub hash_md5: String,
    /// sha1 hex.
    #[serde(rename = "hashSHA1")]
    pub hash_sha1: String,
    /// sha256 hex.
    #[serde(rename = "hashSHA256")]
    pub hash_sha256: String,
    /// `MANUALLY`, `API` or `TRANSPORT`.
    pub package_upload_type: String,
    /// Creation time.
    pub created_at: String,
}

impl From<&PackageFile> for PackageFileModel {
    fn from(file: &PackageFile) -> Self {
        Self {
            id: file.uuid.clone(),
            name: file.name.clone(),
            size: file.size,
            hash_md5: file.file_md5.clone(),
            hash_sha1: file.file_sha1.clone(),
            hash_sha256: file.blob_sha256.clone(),
            package_upload_type: file.upload_type.clone(),
            created_at: gitflic_timestamp(file.created_at),
        }
    }
}

/// GitFlic's page request: 0-based `page` and `size`, as Spring reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageRequest {
    /// 0-based page; below 0 means 0.
    #[param(required = false, default = 0)]
    pub page: i64,
    /// Items per page; below 1 means 10, above 100 means 100.
    #[param(required = false, default = 10)]
    pub size: i64,
}

impl PageRequest {
    /// Items per page when `size` is not given.
    pub const DEFAULT_SIZE: i64 = 10;
    /// The largest `size` served; larger requests get this many.
    pub const MAX_SIZE: i64 = 100;

    /// Reads `page` (default 0; below 0 means 0) and `size` (default 10; below 1 means the default,
    /// above 100 means 100). Text that is not an integer is a 400.
    pub fn from_query(
        query: &std::collections::HashMap<String, String>,
    ) -> Result<Self, CoreError> {
        let number = |name: &str| -> Result<Option<i64>, CoreError> {
            query
                .get(name)
                .map(|text| {
                    text.trim()
                        .parse::<i64>()
                        .map_err(|_| CoreError::BadParameter(format!("{name} must be an integer")))
                })
                .transpose()
        };
        let page = number("page")?.unwrap_or(0).max(0);
        let size = match number("size")?.unwrap_or(Self::DEFAULT_SIZE) {
            size if size < 1 => Self::DEFAULT_SIZE,
            size => size.min(Self::MAX_SIZE),
        };
        Ok(Self { page, size })
    }

    /// Rows to skip.
    pub fn offset(&self) -> i64 {
        self.page.saturating_mul(self.size)
    }
}

/// GitFlic's page metadata.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PageMetadata {
    /// Items per page.
    pub size: i64,
    /// Items in all pages.
    pub total_elements: i64,
    /// Pages (0 when there are no items).
    pub total_pages: i64,
    /// This page, 0-based.
    pub number: i64,
}

/// A HAL page: `{"_embedded": {"<list name>": [...]}, "page": {...}}`, the list named by `E`'s one field.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HalPage<E> {
    /// The items.
    #[serde(rename = "_embedded")]
    pub embedded: E,
    /// Where they are among all items.
    pub page: PageMetadata,
}

impl<E> HalPage<E> {
    /// The page `request` asked for, of `total` items, holding `embedded`.
    pub fn new(embedded: E, request: PageRequest, total: i64) -> Self {
        Self {
            embedded,
            page: PageMetadata {
                size: request.size,
                total_elements: total,
                total_pages: (total + request.size - 1) / request.size,
                number: request.page,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> std::collections::HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn pages_are_read_as_spring_reads_them() {
        assert_eq!(
            PageRequest::from_query(&query(&[])).unwrap(),
            PageRequest { page: 0, size: 10 }
        );
        assert_eq!(
            PageRequest::from_query(&query(&[("page", "-3"), ("size", "0")])).unwrap(),
            PageRequest { page: 0, size: 10 }
        );
        assert_eq!(
            PageRequest::from_query(&query(&[("page", "2"), ("size", "1000")])).unwrap(),
            PageRequest { page: 2, size: 100 }
        );
        assert!(PageRequest::from_query(&query(&[("page", "x")])).is_err());
    }

    #[test]
    fn timestamps_have_microseconds_and_no_offset() {
        let at = chrono::NaiveDate::from_ymd_opt(2024, 8, 1)
            .unwrap()
            .and_hms_micro_opt(6, 57, 7, 150_295)
            .unwrap();
        assert_eq!(gitflic_timestamp(at), "2024-08-01T06:57:07.150295");
    }
}
