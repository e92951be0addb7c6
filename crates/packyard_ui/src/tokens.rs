//! Tokens: a person's own personal access tokens, and a group's deploy tokens for its Maintainers. A new
//! token's secret is in the response to its creation only; lists show names, scopes and dates.

use actix_web::web;
use askama::Template;
use packyard_core::Core;
use packyard_core::identity::IssuedToken;
use packyard_core::rows::{DeployToken, Group, PersonalAccessToken};
use packyard_domain::Scope;

use crate::error::UiError;
use crate::groups::visible_group;
use crate::pages::{Layout, Page, render, see_other, when};
use crate::session::{Post, Session};

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

/// A token just created, shown this once.
struct NewToken {
    name: String,
    username: String,
    secret: String,
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
pub async fn personal_tokens(session: Session, core: web::Data<Core>) -> Page {
    personal_page(&core, session, None).await
}

/// Creates a personal access token and shows its secret, this once.
pub async fn create_personal_token(
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
    personal_page(&core, session, Some(NewToken::of(issued))).await
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
    session: Session,
    core: web::Data<Core>,
    path: web::Path<String>,
) -> Page {
    let group = visible_group(&core, &session, &path).await?;
    deploy_page(&core, session, group, None).await
}

/// Creates a deploy token and shows its secret, this once.
pub async fn create_deploy_token(
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
    deploy_page(&core, session, group, Some(NewToken::of(issued))).await
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
