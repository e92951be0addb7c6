//! What every page shares (the layout, the response headers, the site's base URL) and the sign-in pages.

use actix_web::http::StatusCode;
use actix_web::http::header::LOCATION;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use packyard_core::identity::{Actor, Credential};
use packyard_core::{Core, CoreError};
use serde::Deserialize;

use crate::PREFIX;
use crate::error::{UiError, safe_next};
use crate::session::{
    self, SESSION_COOKIE, SIGN_IN_COOKIE, Session, new_sign_in_token, sign_in_token_matches,
};

/// The result of a page handler.
pub type Page = Result<HttpResponse, UiError>;

/// What the layout around every signed-in page shows.
pub struct Layout {
    /// The page's title (and its `h1`).
    pub title: String,
    /// The signed-in user.
    pub username: String,
    /// Whether to link the administration page.
    pub is_admin: bool,
    /// The CSRF token every form of the page carries.
    pub csrf: String,
    /// Where the pages live.
    pub prefix: &'static str,
}

impl Layout {
    /// The layout of a page of this session.
    pub fn new(session: &Session, title: impl Into<String>) -> Self {
        Layout {
            title: title.into(),
            username: session.username().to_owned(),
            is_admin: session.actor.is_admin(),
            csrf: session.csrf.clone(),
            prefix: PREFIX,
        }
    }
}

/// An HTML response with the headers every page carries: nothing cached (pages show secrets once), no
/// framing, no script or style from anywhere but here.
pub fn html_response(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .insert_header((
            "Content-Security-Policy",
            "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ))
        .insert_header(("X-Frame-Options", "DENY"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("Referrer-Policy", "same-origin"))
        .body(body)
}

/// Renders a template as a 200 page.
pub fn render(template: &impl Template) -> Page {
    let body = template
        .render()
        .map_err(|e| UiError::Core(CoreError::Internal(format!("template: {e}"))))?;
    Ok(html_response(StatusCode::OK, body))
}

/// A 303 to another page of the interface (after a POST).
pub fn see_other(path: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((LOCATION, format!("{PREFIX}{path}")))
        .finish()
}

/// Percent-encodes a query parameter's value.
pub fn query_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The URL clients reach this server at: the configured external URL, else the scheme and host of the
/// request.
pub fn base_url(req: &HttpRequest, core: &Core) -> String {
    match &core.settings().external_url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => {
            let info = req.connection_info();
            format!("{}://{}", info.scheme(), info.host())
        }
    }
}

/// A size for people: bytes, KiB, MiB, GiB.
pub fn human_size(bytes: i64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut size = bytes as f64 / 1024.0;
    let mut unit = 0;
    while size >= 1024.0 && unit < UNITS.len() - 1 {
        size /= 1024.0;
        unit += 1;
    }
    format!("{size:.1} {}", UNITS[unit])
}

/// A time for people, in UTC.
pub fn when(at: Option<chrono::NaiveDateTime>) -> String {
    at.map(|at| at.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| "never".to_owned())
}

/// `/-/ui`: the groups.
pub async fn home(_session: Session) -> Page {
    Ok(see_other("/groups"))
}

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage {
    prefix: &'static str,
    csrf: String,
    next: String,
    problem: Option<&'static str>,
}

#[derive(Deserialize)]
pub(crate) struct NextQuery {
    #[serde(default)]
    next: String,
}

/// The sign-in form, with a fresh double-submit token in a cookie and in the form.
pub async fn sign_in_form(
    req: HttpRequest,
    core: web::Data<Core>,
    query: web::Query<NextQuery>,
) -> Page {
    sign_in_page(&req, &core, &query.next, None, StatusCode::OK)
}

fn sign_in_page(
    req: &HttpRequest,
    core: &Core,
    next: &str,
    problem: Option<&'static str>,
    status: StatusCode,
) -> Page {
    let csrf = new_sign_in_token();
    let page = SignInPage {
        prefix: PREFIX,
        csrf: csrf.clone(),
        next: safe_next(next).unwrap_or_default().to_owned(),
        problem,
    };
    let body = page
        .render()
        .map_err(|e| UiError::Core(CoreError::Internal(format!("template: {e}"))))?;
    let mut response = html_response(status, body);
    append_cookie(
        &mut response,
        session::cookie(req, core, SIGN_IN_COOKIE, &csrf),
    )?;
    Ok(response)
}

#[derive(Deserialize)]
pub(crate) struct SignInForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    next: String,
}

/// Signs in with a personal access token, and with the username when one is given (it must be the
/// token's owner). Deploy tokens cannot sign in.
pub async fn sign_in(req: HttpRequest, core: web::Data<Core>, form: web::Form<SignInForm>) -> Page {
    if !sign_in_token_matches(&req, &form.csrf) {
        return Err(UiError::Csrf);
    }
    let refused = |core: &Core| {
        sign_in_page(
            &req,
            core,
            &form.next,
            Some("Wrong username or token, or the token was revoked or expired."),
            StatusCode::UNAUTHORIZED,
        )
    };
    let token = form.token.trim();
    if token.is_empty() {
        return refused(&core);
    }
    let actor = match core.authenticate(Credential::Token(token.to_owned())).await {
        Ok(actor) => actor,
        Err(CoreError::Unauthorized) => return refused(&core),
        Err(other) => return Err(other.into()),
    };
    let Actor::User { user, token_id, .. } = &actor else {
        return refused(&core);
    };
    let username = form.username.trim();
    if !username.is_empty() && username != user.username {
        return refused(&core);
    }
    let value = session::session_value(&core, *token_id, chrono::Utc::now().timestamp());
    let target = safe_next(&form.next)
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{PREFIX}/groups"));
    let mut response = HttpResponse::SeeOther()
        .insert_header((LOCATION, target))
        .finish();
    append_cookie(
        &mut response,
        session::cookie(&req, &core, SESSION_COOKIE, &value),
    )?;
    append_cookie(&mut response, session::removal(&req, &core, SIGN_IN_COOKIE))?;
    Ok(response)
}

#[derive(Deserialize)]
pub(crate) struct Empty {}

/// Signs out: the session cookie is removed (the token stays valid; revoke it on the tokens page).
pub async fn sign_out(
    req: HttpRequest,
    core: web::Data<Core>,
    _post: session::Post<Empty>,
) -> Page {
    let mut response = see_other("/sign-in");
    append_cookie(&mut response, session::removal(&req, &core, SESSION_COOKIE))?;
    Ok(response)
}

/// Adds a `Set-Cookie` header.
pub fn append_cookie(response: &mut HttpResponse, cookie: String) -> Result<(), UiError> {
    let value = actix_web::http::header::HeaderValue::from_str(&cookie)
        .map_err(|e| UiError::Core(CoreError::Internal(format!("cookie: {e}"))))?;
    response
        .headers_mut()
        .append(actix_web::http::header::SET_COOKIE, value);
    Ok(())
}

/// True when the actor may do `need` on the group; other errors than a refusal are errors.
pub async fn may(
    core: &Core,
    actor: &Actor,
    group: &packyard_core::rows::Group,
    need: packyard_core::identity::Need,
) -> Result<bool, UiError> {
    match core.authorize(actor, group, need).await {
        Ok(()) => Ok(true),
        Err(CoreError::Forbidden) => Ok(false),
        Err(other) => Err(other.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_query_values_read_well() {
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(5 * 1024 * 1024 * 1024), "5.0 GiB");
        assert_eq!(query_escape("a b/&c"), "a%20b%2F%26c");
    }

    #[test]
    fn sign_in_leads_back_only_to_these_pages() {
        assert_eq!(safe_next("/-/ui/groups/1"), Some("/-/ui/groups/1"));
        assert_eq!(safe_next("//evil.example/-/ui"), None);
        assert_eq!(safe_next("https://evil.example/-/ui"), None);
        assert_eq!(safe_next("/-/ui//evil.example"), None);
        assert_eq!(safe_next("/-/ui/\\evil"), None);
        assert_eq!(safe_next("/api/v4/groups"), None);
    }
}
