//! GitLab's offset pagination: `page` and `per_page` in, `x-*` and `Link` headers out.

use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder};
use packyard_core::CoreError;
use serde::Serialize;
use utoipa::IntoParams;

use crate::Params;
use crate::openapi::operations_mut;

/// A validated page request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Pagination {
    /// 1-based page.
    #[param(required = false, default = 1, minimum = 1)]
    pub page: i64,
    /// Items per page; above 100 means 100.
    #[param(required = false, default = 20, minimum = 1)]
    pub per_page: i64,
}

impl Pagination {
    /// Reads `page` (default 1) and `per_page` (default 20, at most 100) as GitLab does.
    pub fn from_params(params: &Params) -> Result<Self, CoreError> {
        let page = params.integer("page")?.unwrap_or(1);
        let per_page = params.integer("per_page")?.unwrap_or(20);
        if page < 1 {
            return Err(CoreError::BadParameter(
                "page does not have a valid value".into(),
            ));
        }
        if per_page < 1 {
            return Err(CoreError::BadParameter(
                "per_page does not have a valid value".into(),
            ));
        }
        Ok(Self {
            page,
            per_page: per_page.min(100),
        })
    }

    /// Rows to skip.
    pub fn offset(&self) -> i64 {
        (self.page - 1).saturating_mul(self.per_page)
    }
}

fn page_link(req: &HttpRequest, page: i64, per_page: i64, rel: &str) -> String {
    let info = req.connection_info();
    let mut query: Vec<(String, String)> =
        url::form_urlencoded::parse(req.query_string().as_bytes())
            .into_owned()
            .filter(|(k, _)| k != "page" && k != "per_page" && k != "private_token")
            .collect();
    query.push(("page".into(), page.to_string()));
    query.push(("per_page".into(), per_page.to_string()));
    let encoded = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(query)
        .finish();
    format!(
        "<{}://{}{}?{}>; rel=\"{rel}\"",
        info.scheme(),
        info.host(),
        req.path(),
        encoded
    )
}

/// A 200 JSON response of one page with GitLab's pagination headers.
pub fn paginated<T: Serialize>(
    req: &HttpRequest,
    pagination: Pagination,
    total: i64,
    items: &[T],
) -> HttpResponse {
    let Pagination { page, per_page } = pagination;
    let total_pages = ((total + per_page - 1) / per_page).max(1);
    let mut response: HttpResponseBuilder = HttpResponse::Ok();
    response
        .insert_header(("x-page", page.to_string()))
        .insert_header(("x-per-page", per_page.to_string()))
        .insert_header(("x-total", total.to_string()))
        .insert_header(("x-total-pages", total_pages.to_string()))
        .insert_header((
            "x-next-page",
            if page < total_pages {
                (page + 1).to_string()
            } else {
                String::new()
            },
        ))
        .insert_header((
            "x-prev-page",
            if page > 1 {
                (page - 1).to_string()
            } else {
                String::new()
            },
        ));
    let mut links = vec![page_link(req, 1, per_page, "first")];
    if page > 1 {
        links.push(page_link(
            req,
            (page - 1).min(total_pages),
            per_page,
            "prev",
        ));
    }
    if page < total_pages {
        links.push(page_link(req, page + 1, per_page, "next"));
    }
    links.push(page_link(req, total_pages, per_page, "last"));
    response.insert_header(("Link", links.join(", ")));
    response.json(items)
}

/// The headers [`paginated`] writes, as the description names them.
const HEADERS: [(&str, &str, utoipa::openapi::Type); 7] = {
    use utoipa::openapi::Type::{Integer, String};
    [
        ("x-total", "Items in all pages", Integer),
        ("x-total-pages", "Pages", Integer),
        ("x-page", "This page", Integer),
        ("x-per-page", "Items per page", Integer),
        ("x-next-page", "The next page, empty on the last", String),
        (
            "x-prev-page",
            "The previous page, empty on the first",
            String,
        ),
        (
            "link",
            "`first`, `prev`, `next` and `last` page links",
            String,
        ),
    ]
};

/// Describes the pagination headers on the success answer of every operation that takes
/// [`Pagination`]'s parameters.
pub fn describe_pagination_headers(api: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::header::HeaderBuilder;
    use utoipa::openapi::{KnownFormat, ObjectBuilder, RefOr, SchemaFormat, Type};
    for item in api.paths.paths.values_mut() {
        for operation in operations_mut(item) {
            let paginated = operation
                .parameters
                .iter()
                .flatten()
                .any(|parameter| parameter.name == "per_page");
            let success = operation.responses.responses.get_mut("200");
            let Some(RefOr::T(response)) = success.filter(|_| paginated) else {
                continue;
            };
            for (name, description, kind) in HEADERS {
                // Integers are i64, as the handlers write them.
                let format = (kind == Type::Integer)
                    .then_some(SchemaFormat::KnownFormat(KnownFormat::Int64));
                let header = HeaderBuilder::new()
                    .schema(ObjectBuilder::new().schema_type(kind).format(format))
                    .description(Some(description))
                    .build();
                response.headers.insert(name.to_owned(), header);
            }
        }
    }
}
