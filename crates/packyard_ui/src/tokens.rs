//! Tokens: a person's own personal access tokens, and a group's deploy tokens for its Maintainers. A new
//! token's secret is shown once: its creation redirects to the list (so reloading the page never makes
//! another token), handing the secret over in a cookie sealed with the secret key (AES-GCM), bound to the
//! session and the list, that lasts two minutes and that the list removes as it shows it. Lists show
//! names, scopes and dates.

use actix_web::{HttpRequest, web};
use askama::Template;
use packyard_core::Core;
use packyard_core::identity::IssuedToken;
use packyard_core::rows::{DeployToken, Group, PersonalAccessToken};
use packyard_domain::Scope;

use crate::error::UiError;
use crate::groups::visible_group;
use crate::pages::{Layout, Page, append_cookie, render, see_other, when};
use crate::session::{self, Post, Session};

/// The scopes a personal access token may have.
const PERSONAL_SCOPES: [Scope; 5] = [
    Scope::Api,
    Scope::ReadApi,
    Scope::ReadVirtualRegistry,
    Scope::ReadPackageRegistry,
    Scope::WritePackageRegistry,
];
/// The scopes a deploy token may have.
const DEPLOY_SCOPES: [Scope; 3] = [
    Scope::ReadVirtualRegistry,
    Scope::ReadPackageRegistry,
    Scope::WritePackageRegistry,
];

struct TokenRow {
    id: i64,
    name: String,
    username: String,
    scopes: String,
    created: String,
    expires: String,
    last_used: String,
    revoked: bool,
}

impl From<PersonalAccessToken> for TokenRow {
    fn from(t: PersonalAccessToken) -> Self {
        TokenRow {
            id: t.id,
            name: t.name,
            username: String::new(),
            scopes: t.scopes,
            created: when(Some(t.created_at)),
            expires: when(t.expires_at),
            last_used: when(t.last_used_at),
            revoked: t.revoked,
        }
    }
}

impl From<DeployToken> for TokenRow {
    fn from(t: DeployToken) -> Self {
        TokenRow {
            id: t.id,
            name: t.name,
            username: t.username,
            scopes: t.scopes,
            created: when(Some(t.created_at)),
            expires: when(t.expires_at),
            last_used: String::new(),
            revoked: t.revoked,
        }
    }
}

/// The cookie that hands a new token over to the list.
const NEW_TOKEN_COOKIE: &str = "packyard_new_token";
/// How long the hand-over cookie lasts: enough for the redirect.
const NEW_TOKEN_SECS: i64 = 120;

/// A token just created, shown this once.
#[derive(serde::Serialize, serde::Deserialize)]
struct NewToken {
    name: String,
    username: String,
    secret: String,
}

/// What the hand-over cookie seals: the token, and the session and list it is for.
#[derive(serde::Serialize, serde::Deserialize)]
struct Handover {
    session: String,
    list: String,
    token: NewToken,
}

impl NewToken {
    fn of(issued: IssuedToken) -> Self {
        NewToken {
            name: issued.name,
            username: issued.owner,
            secret: issued.token,
        }
    }
}

/// Redirects to the list `path` (under the pages' prefix), handing the new token over.
fn hand_over(
    req: &HttpRequest,
    core: &Core,
    session: &Session,
    path: &str,
    issued: IssuedToken,
) -> Page {
    let handover = Handover {
        session: session.csrf.clone(),
        list: path.to_owned(),
        token: NewToken::of(issued),
    };
    let json = serde_json::to_string(&handover)
        .map_err(|e| UiError::Core(packyard_core::CoreError::Internal(e.to_string())))?;
    let sealed = core.secret().encrypt(&json)?;
    let mut response = see_other(path);
    append_cookie(
        &mut response,
        session::set_cookie(req, core, NEW_TOKEN_COOKIE, &sealed, NEW_TOKEN_SECS),
    )?;
    Ok(response)
}

/// Shows the list `path`: the token handed over to it in this session, if any, and the cookie removed.
async fn show_list(
    req: &HttpRequest,
    core: &Core,
    path: &str,
    session_csrf: &str,
    render_list: impl AsyncFnOnce(Option<NewToken>) -> Page,
) -> Page {
    let sealed = session::read_cookie(req, NEW_TOKEN_COOKIE);
    let created = sealed
        .as_deref()
        .and_then(|sealed| core.secret().decrypt(sealed).ok())
        .and_then(|json| serde_json::from_str::<Handover>(&json).ok())
        .filter(|h| h.session == session_csrf && h.list == path)
        .map(|h| h.token);
    let mut response = render_list(created).await?;
    if sealed.is_some() {
        append_cookie(&mut response, session::removal(req, core, NEW_TOKEN_COOKIE))?;
    }
    Ok(response)
}

#[derive(Template)]
#[template(path = "tokens.html")]
struct TokensPage {
    layout: Layout,
    /// The group of deploy tokens; `None` for personal tokens.
    group: Option<Group>,
    tokens: Vec<TokenRow>,
    scopes: Vec<&'static str>,
    created: Option<NewToken>,
    action: String,
}

/// The single fields of a token form; its scopes come one field per ticked box.
struct TokenForm {
    name: String,
    username: String,
    expires_at: String,
}

/// The scopes ticked on a form, all of them (the form repeats the field).
fn ticked_scopes(raw: &[(String, String)], allowed: &[Scope]) -> Result<Vec<Scope>, UiError> {
    raw.iter()
        .filter(|(key, _)| key == "scope")
        .map(|(_, value)| {
            Scope::parse(value)
                .filter(|s| allowed.contains(s))
                .ok_or_else(|| UiError::BadForm(format!("unknown scope {value:?}")))
        })
        .collect()
}

fn expiry(text: &str) -> Result<Option<chrono::NaiveDateTime>, UiError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(Some)
        .ok_or_else(|| UiError::BadForm("the expiry date must be YYYY-MM-DD".into()))
}

async fn personal_page(core: &Core, session: Session, created: Option<NewToken>) -> Page {
    let tokens = core.list_personal_access_tokens(&session.actor).await?;
    render(&TokensPage {
        layout: Layout::new(&session, "Personal access tokens"),
        group: None,
        tokens: tokens.into_iter().map(TokenRow::from).collect(),
        scopes: PERSONAL_SCOPES.iter().map(|s| s.as_str()).collect(),
        created,
        action: format!("{}/tokens", crate::PREFIX),
    })
}

/// The person's own personal access tokens.
pub async fn personal_tokens(req: HttpRequest, session: Session, core: web::Data<Core>) -> Page {
    let csrf = session.csrf.clone();
    show_list(&req, &core, "/tokens", &csrf, async |created| {
        personal_page(&core, session, created).await
    })
    .await
}

/// Creates a personal access token and hands its secret over to the list, which shows it once.
pub async fn create_personal_token(
    req: HttpRequest,
    post: Post<Vec<(String, String)>>,
    core: web::Data<Core>,
) -> Page {
    let Post { session, form } = post;
    let fields = token_fields(&form)?;
    let scopes = ticked_scopes(&form, &PERSONAL_SCOPES)?;
    let issued = core
        .create_own_personal_access_token(
            &session.actor,
            fields.name.trim().to_owned(),
            scopes,
            expiry(&fields.expires_at)?,
        )
        .await?;
    hand_over(&req, &core, &session, "/tokens", issued)
}

fn token_fields(raw: &[(String, String)]) -> Result<TokenForm, UiError> {
    let get = |key: &str| {
        raw.iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    Ok(TokenForm {
        name: get("name"),
        username: get("username"),
        expires_at: get("expires_at"),
    })
}

/// Revokes one of the person's personal access tokens (administrators: anyone's).
pub async fn revoke_personal_token(
    post: Post<crate::pages::Empty>,
    core: web::Data<Core>,
    path: web::Path<i64>,
) -> Page {
    let Post { session, .. } = post;
    core.revoke_personal_access_token(&session.actor, Some(path.into_inner()))
        .await?;
    Ok(see_other("/tokens"))
}

async fn deploy_page(
    core: &Core,
    session: Session,
    group: Group,
    created: Option<NewToken>,
) -> Page {
    let tokens = core.list_deploy_tokens(&session.actor, &group).await?;
    render(&TokensPage {
        layout: Layout::new(&session, format!("Deploy tokens of {}", group.name)),
        action: format!("{}/groups/{}/deploy-tokens", crate::PREFIX, group.id),
        group: Some(group),
        tokens: tokens.into_iter().map(TokenRow::from).collect(),
        scopes: DEPLOY_SCOPES.iter().map(|s| s.as_str()).collect(),
        created,
    })
}

/// A group's deploy tokens (Maintainers).
pub async fn deploy_tokens(
    req: HttpRequest,
    session: Session,
    core: web::Data<Core>,
    path: web::Path<String>,
) -> Page {
    let group = visible_group(&core, &session, &path).await?;
    let list = format!("/groups/{}/deploy-tokens", group.id);
    let csrf = session.csrf.clone();
    show_list(&req, &core, &list, &csrf, async |created| {
        deploy_page(&core, session, group, created).await
    })
    .await
}

/// Creates a deploy token and hands its secret over to the list, which shows it once.
pub async fn create_deploy_token(
    req: HttpRequest,
    post: Post<Vec<(String, String)>>,
    core: web::Data<Core>,
    path: web::Path<String>,
) -> Page {
    let Post { session, form } = post;
    let group = visible_group(&core, &session, &path).await?;
    let fields = token_fields(&form)?;
    let scopes = ticked_scopes(&form, &DEPLOY_SCOPES)?;
    let username = Some(fields.username.trim().to_owned()).filter(|u| !u.is_empty());
    let issued = core
        .create_deploy_token(
            &session.actor,
            &group,
            fields.name.trim().to_owned(),
            username,
            scopes,
            expiry(&fields.expires_at)?,
        )
        .await?;
    let list = format!("/groups/{}/deploy-tokens", group.id);
    hand_over(&req, &core, &session, &list, issued)
}

/// Revokes a deploy token of the group.
pub async fn revoke_deploy_token(
    post: Post<crate::pages::Empty>,
    core: web::Data<Core>,
    path: web::Path<(String, i64)>,
) -> Page {
    let Post { session, .. } = post;
    let (group, id) = path.into_inner();
    let group = visible_group(&core, &session, &group).await?;
    core.revoke_deploy_token(&session.actor, &group, id).await?;
    Ok(see_other(&format!("/groups/{}/deploy-tokens", group.id)))
}
