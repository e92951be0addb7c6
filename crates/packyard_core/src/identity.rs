//! Users, groups, memberships and tokens; authentication of credentials and the permission rules.

use chrono::NaiveDateTime;
use packyard_db::queries::identity as q;
use packyard_db::rows::{
    DeployToken, Group, Member, NewDeployToken, NewGroup, NewPersonalAccessToken, NewUser,
    PersonalAccessToken, User,
};
use packyard_domain::{AccessLevel, FieldErrors, Scope};

use crate::hot::{GroupKey, RememberedActor};
use crate::secrets::{generate_token, token_digest};
use crate::{Core, CoreError, CoreResult};

/// A credential as a client presented it.
#[derive(Debug, Clone)]
pub enum Credential {
    /// A personal access token (`PRIVATE-TOKEN`, `Bearer`, Basic password, `private_token`).
    Token(String),
    /// A deploy token (`Deploy-Token` header), or any token sent as a Basic password.
    DeployOrPersonal(String),
}

/// Who is calling, once authenticated.
#[derive(Debug, Clone)]
pub enum Actor {
    /// A user through a personal access token.
    User {
        /// The user.
        user: User,
        /// The personal access token presented.
        token_id: i64,
        /// The token's scopes.
        scopes: Vec<Scope>,
    },
    /// A group deploy token.
    DeployToken {
        /// The token.
        token: DeployToken,
        /// Its scopes.
        scopes: Vec<Scope>,
    },
}

/// What an action needs on a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Read the management API (Guest, `read_api` or `api`).
    Read,
    /// Change things (Maintainer, `api`).
    Write,
    /// Owner-only actions (`api`).
    Own,
    /// Pull through a virtual registry (Guest, `read_virtual_registry` or `api`); deploy tokens allowed.
    Pull,
    /// Install hosted packages (Guest, `read_package_registry`, `read_api` or `api`); deploy tokens
    /// allowed.
    Install,
    /// Publish hosted packages (Developer, `write_package_registry` or `api`); deploy tokens allowed.
    Publish,
}

impl Actor {
    /// The user, if this is one.
    pub fn user(&self) -> Option<&User> {
        match self {
            Actor::User { user, .. } => Some(user),
            Actor::DeployToken { .. } => None,
        }
    }

    /// True for an instance administrator.
    pub fn is_admin(&self) -> bool {
        self.user().is_some_and(|u| u.is_admin)
    }

    fn scopes(&self) -> &[Scope] {
        match self {
            Actor::User { scopes, .. } | Actor::DeployToken { scopes, .. } => scopes,
        }
    }

    /// True when the token's scopes allow the need.
    pub fn has_scope_for(&self, need: Need) -> bool {
        let has = |s: Scope| self.scopes().contains(&s);
        match need {
            Need::Read => has(Scope::Api) || has(Scope::ReadApi),
            Need::Write | Need::Own => has(Scope::Api),
            Need::Pull => has(Scope::Api) || has(Scope::ReadVirtualRegistry),
            Need::Install => {
                has(Scope::Api) || has(Scope::ReadApi) || has(Scope::ReadPackageRegistry)
            }
            Need::Publish => has(Scope::Api) || has(Scope::WritePackageRegistry),
        }
    }
}

/// A token just created: the secret is shown once and never stored.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// Row id.
    pub id: i64,
    /// The secret.
    pub token: String,
    /// Name.
    pub name: String,
    /// Scopes.
    pub scopes: Vec<Scope>,
    /// Expiry.
    pub expires_at: Option<NaiveDateTime>,
    /// Creation time.
    pub created_at: NaiveDateTime,
    /// The owner (personal tokens) or the username (deploy tokens).
    pub owner: String,
}

/// Prefix of personal access tokens.
pub const PERSONAL_TOKEN_PREFIX: &str = "pyat-";
/// Prefix of deploy tokens.
pub const DEPLOY_TOKEN_PREFIX: &str = "pydt-";

fn parse_scopes(stored: &str) -> Vec<Scope> {
    stored.split_whitespace().filter_map(Scope::parse).collect()
}

/// A token named by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenRef {
    /// A personal access token.
    Personal(i64),
    /// A deploy token.
    Deploy(i64),
}

impl Actor {
    /// The token the actor authenticated with.
    pub fn token_ref(&self) -> TokenRef {
        match self {
            Actor::User { token_id, .. } => TokenRef::Personal(*token_id),
            Actor::DeployToken { token, .. } => TokenRef::Deploy(token.id),
        }
    }

    /// The name a client logs in with: the username or the deploy token's username.
    pub fn username(&self) -> &str {
        match self {
            Actor::User { user, .. } => &user.username,
            Actor::DeployToken { token, .. } => &token.username,
        }
    }
}

fn user_actor((token, user): (PersonalAccessToken, User)) -> Option<RememberedActor> {
    (!token.revoked && !expired(token.expires_at)).then(|| RememberedActor {
        expires_at: token.expires_at,
        actor: Actor::User {
            user,
            token_id: token.id,
            scopes: parse_scopes(&token.scopes),
        },
    })
}

fn deploy_actor(token: DeployToken) -> Option<RememberedActor> {
    (!token.revoked && !expired(token.expires_at)).then(|| {
        let scopes = parse_scopes(&token.scopes);
        RememberedActor {
            expires_at: token.expires_at,
            actor: Actor::DeployToken { token, scopes },
        }
    })
}

/// A remembered actor, unless its token expired since.
fn still_valid(remembered: RememberedActor) -> CoreResult<Actor> {
    if expired(remembered.expires_at) {
        Err(CoreError::Unauthorized)
    } else {
        Ok(remembered.actor)
    }
}

fn expired(expires_at: Option<NaiveDateTime>) -> bool {
    expires_at.is_some_and(|at| at <= packyard_db::now())
}

fn valid_path_segment(path: &str) -> bool {
    !path.is_empty()
        && path.len() <= 255
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !path.starts_with(['-', '.'])
        && !path.ends_with('.')
}

impl Core {
    /// Resolves a credential; `Unauthorized` when it is unknown, revoked or expired. Remembered in the hot
    /// index; the expiry is checked on every use.
    pub async fn authenticate(&self, credential: Credential) -> CoreResult<Actor> {
        let (secret, try_deploy) = match credential {
            Credential::Token(secret) => (secret, false),
            Credential::DeployOrPersonal(secret) => (secret, true),
        };
        let digest = token_digest(&secret);
        let key = (digest.clone(), try_deploy);
        let load = async {
            self.db
                .run(move |conn| {
                    if let Some(found) = q::find_personal_access_token(conn, &digest)? {
                        return Ok(user_actor(found));
                    }
                    if try_deploy {
                        return Ok(q::find_deploy_token(conn, &digest)?.and_then(deploy_actor));
                    }
                    Ok(None)
                })
                .await?
                .ok_or(CoreError::Unauthorized)
        };
        still_valid(self.remembered(|hot| &hot.tokens, key, load).await?)
    }

    /// The actor behind a token already authenticated once (named by id in a registry token); it must
    /// still be valid.
    pub async fn actor_by_token_id(&self, token: TokenRef) -> CoreResult<Actor> {
        let load = async {
            self.db
                .run(move |conn| match token {
                    TokenRef::Personal(id) => {
                        Ok(q::find_personal_access_token_by_id(conn, id)?.and_then(user_actor))
                    }
                    TokenRef::Deploy(id) => {
                        Ok(q::find_deploy_token_by_id(conn, id)?.and_then(deploy_actor))
                    }
                })
                .await?
                .ok_or(CoreError::Unauthorized)
        };
        still_valid(self.remembered(|hot| &hot.token_ids, token, load).await?)
    }

    /// The access level of a user in a top-level group, if a member.
    async fn member_level(&self, root: i64, user_id: i64) -> CoreResult<Option<AccessLevel>> {
        let load = async {
            Ok(self
                .db
                .run(move |conn| q::find_member(conn, root, user_id))
                .await?
                .map(|m| m.access_level))
        };
        let level = self
            .remembered(|hot| &hot.members, (root, user_id), load)
            .await?;
        Ok(level.and_then(AccessLevel::from_i32))
    }

    /// Checks that the actor may do `need` on `group` (rights come from the top-level group).
    pub async fn authorize(&self, actor: &Actor, group: &Group, need: Need) -> CoreResult<()> {
        if !actor.has_scope_for(need) {
            return Err(CoreError::Forbidden);
        }
        let root = group.top_level_id();
        let allowed = match actor {
            Actor::User { user, .. } if user.is_admin => true,
            Actor::User { user, .. } => {
                let level = self.member_level(root, user.id).await?;
                let needed = match need {
                    Need::Read | Need::Pull | Need::Install => AccessLevel::Guest,
                    Need::Publish => AccessLevel::Developer,
                    Need::Write => AccessLevel::Maintainer,
                    Need::Own => AccessLevel::Owner,
                };
                level.is_some_and(|level| level >= needed)
            }
            Actor::DeployToken { token, .. } => {
                matches!(need, Need::Pull | Need::Install | Need::Publish) && token.group_id == root
            }
        };
        if allowed {
            Ok(())
        } else {
            Err(CoreError::Forbidden)
        }
    }

    /// Like [`Core::authorize`], but someone with no part in the group's top-level group (neither an
    /// administrator, a member nor one of its deploy tokens) gets `hidden`, the answer a missing record
    /// gives, so outsiders cannot learn which ids exist (GitLab's rule for private groups). Members
    /// without the role and tokens without the scope still get 403.
    pub async fn authorize_or_hide(
        &self,
        actor: &Actor,
        group: &Group,
        need: Need,
        hidden: CoreError,
    ) -> CoreResult<()> {
        match self.authorize(actor, group, need).await {
            Err(CoreError::Forbidden) if !self.belongs_to(actor, group).await? => Err(hidden),
            other => other,
        }
    }

    /// The management API's gate for a group named by id or full path: the group, when the actor may do
    /// `need` on it. Outsiders get `404 Group Not Found`, as for a group that does not exist.
    pub(crate) async fn managed_group(
        &self,
        actor: &Actor,
        id_or_path: &str,
        need: Need,
    ) -> CoreResult<Group> {
        let group = self.find_group(id_or_path).await?;
        self.authorize_or_hide(actor, &group, need, CoreError::not_found("Group"))
            .await?;
        Ok(group)
    }

    /// The management API's gate for a record of a group (a registry, an upstream, an association, a
    /// cache entry): outsiders get `404 Not found`, as for a record that does not exist.
    pub(crate) async fn authorize_record(
        &self,
        actor: &Actor,
        group_id: i64,
        need: Need,
    ) -> CoreResult<()> {
        let group = self.find_group(&group_id.to_string()).await?;
        self.authorize_or_hide(actor, &group, need, CoreError::not_found(""))
            .await
    }

    /// True when the actor has any part in the group's top-level group.
    async fn belongs_to(&self, actor: &Actor, group: &Group) -> CoreResult<bool> {
        let root = group.top_level_id();
        Ok(match actor {
            Actor::User { user, .. } => {
                user.is_admin || self.member_level(root, user.id).await?.is_some()
            }
            Actor::DeployToken { token, .. } => token.group_id == root,
        })
    }

    /// Requires an instance administrator.
    pub fn require_admin(&self, actor: &Actor) -> CoreResult<()> {
        if actor.is_admin() && actor.has_scope_for(Need::Write) {
            Ok(())
        } else {
            Err(CoreError::Forbidden)
        }
    }

    /// Creates a user (admins only).
    pub async fn create_user(
        &self,
        username: String,
        name: String,
        email: Option<String>,
        is_admin: bool,
    ) -> CoreResult<User> {
        let mut errors = FieldErrors::new();
        if !valid_path_segment(&username) {
            errors.add(
                "username",
                "can contain only letters, digits, '_', '-' and '.'",
            );
        }
        errors.check_name("name", &name);
        errors.into_result()?;
        let result = self
            .db
            .run(move |conn| {
                if q::find_user_by_username(conn, &username)?.is_some() {
                    return Ok(None);
                }
                let new = NewUser {
                    username: &username,
                    name: &name,
                    email: email.as_deref(),
                    is_admin,
                    created_at: packyard_db::now(),
                };
                q::insert_user(conn, &new).map(Some)
            })
            .await?;
        result.ok_or_else(|| {
            CoreError::Invalid(FieldErrors::single("username", "has already been taken"))
        })
    }

    /// Lists users.
    pub async fn list_users(&self) -> CoreResult<Vec<User>> {
        Ok(self.db.run(q::list_users).await?)
    }

    /// Finds a user.
    pub async fn find_user(&self, id: i64) -> CoreResult<User> {
        self.db
            .run(move |conn| q::find_user(conn, id))
            .await?
            .ok_or_else(|| CoreError::not_found("User"))
    }

    /// Finds a user by username.
    pub async fn find_user_by_username(&self, username: &str) -> CoreResult<User> {
        let username = username.to_owned();
        self.db
            .run(move |conn| q::find_user_by_username(conn, &username))
            .await?
            .ok_or_else(|| CoreError::not_found("User"))
    }

    /// Creates the admin user if missing and issues a new `api` token for it.
    pub async fn bootstrap_admin(&self, username: &str) -> CoreResult<IssuedToken> {
        let name = username.to_owned();
        let existing = self
            .db
            .run(move |conn| q::find_user_by_username(conn, &name))
            .await?;
        let user = match existing {
            Some(user) if user.is_admin => user,
            Some(_) => {
                return Err(CoreError::Conflict(format!(
                    "user {username} exists and is not an administrator"
                )));
            }
            None => {
                self.create_user(username.to_owned(), username.to_owned(), None, true)
                    .await?
            }
        };
        self.create_personal_access_token(&user, "bootstrap".into(), vec![Scope::Api], None)
            .await
    }

    /// Issues a personal access token for a user.
    pub async fn create_personal_access_token(
        &self,
        user: &User,
        name: String,
        scopes: Vec<Scope>,
        expires_at: Option<NaiveDateTime>,
    ) -> CoreResult<IssuedToken> {
        let mut errors = FieldErrors::new();
        errors.check_name("name", &name);
        if scopes.is_empty() {
            errors.add("scopes", "can't be blank");
        }
        errors.into_result()?;
        let token = generate_token(PERSONAL_TOKEN_PREFIX);
        let digest = token_digest(&token);
        let stored_scopes = scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        let user_id = user.id;
        let row = self
            .db
            .run(move |conn| {
                q::insert_personal_access_token(
                    conn,
                    &NewPersonalAccessToken {
                        user_id,
                        name: &name,
                        token_digest: &digest,
                        scopes: &stored_scopes,
                        expires_at,
                        created_at: packyard_db::now(),
                    },
                )
            })
            .await?;
        Ok(IssuedToken {
            id: row.id,
            token,
            name: row.name,
            scopes,
            expires_at: row.expires_at,
            created_at: row.created_at,
            owner: user.username.clone(),
        })
    }

    /// Finds a group by numeric id or full path.
    pub async fn find_group(&self, id_or_path: &str) -> CoreResult<Group> {
        match id_or_path.parse::<i64>() {
            Ok(id) => self.remembered_group(GroupKey::Id(id)).await,
            Err(_) => self.find_group_by_path(id_or_path).await,
        }
    }

    /// Finds a group by full path (case-insensitive, as GitLab routes are).
    pub async fn find_group_by_path(&self, full_path: &str) -> CoreResult<Group> {
        self.remembered_group(GroupKey::Path(full_path.to_lowercase()))
            .await
    }

    async fn remembered_group(&self, key: GroupKey) -> CoreResult<Group> {
        let lookup = key.clone();
        let load = async {
            self.db
                .run(move |conn| match &lookup {
                    GroupKey::Id(id) => q::find_group(conn, *id),
                    GroupKey::Path(path) => q::find_group_by_full_path(conn, path),
                })
                .await?
                .ok_or_else(|| CoreError::not_found("Group"))
        };
        self.remembered(|hot| &hot.groups, key, load).await
    }

    /// Finds a group the actor may read; others are hidden behind a 404 as GitLab hides private groups.
    pub async fn find_visible_group(&self, actor: &Actor, id_or_path: &str) -> CoreResult<Group> {
        let group = self.find_group(id_or_path).await?;
        self.authorize_or_hide(actor, &group, Need::Read, CoreError::not_found("Group"))
            .await?;
        Ok(group)
    }

    /// Creates a group: top-level (the creator becomes Owner) or a subgroup (Maintainer on the parent).
    pub async fn create_group(
        &self,
        actor: &Actor,
        name: String,
        path: String,
        parent_id: Option<i64>,
        description: Option<String>,
    ) -> CoreResult<Group> {
        let user = actor.user().ok_or(CoreError::Forbidden)?.clone();
        if !actor.has_scope_for(Need::Write) {
            return Err(CoreError::Forbidden);
        }
        let parent = match parent_id {
            Some(id) => {
                let parent = self.find_group(&id.to_string()).await?;
                self.authorize(actor, &parent, Need::Write).await?;
                Some(parent)
            }
            None => None,
        };
        let mut errors = FieldErrors::new();
        errors.check_name("name", &name);
        if !valid_path_segment(&path) {
            errors.add("path", "can contain only letters, digits, '_', '-' and '.'");
        }
        errors.into_result()?;
        let full_path = match &parent {
            Some(p) => format!("{}/{path}", p.full_path),
            None => path.clone(),
        };
        let created = self
            .db
            .transaction(move |conn| {
                if q::find_group_by_full_path(conn, &full_path)?.is_some() {
                    return Ok(None);
                }
                let group = q::insert_group(
                    conn,
                    &NewGroup {
                        name: &name,
                        path: &path,
                        full_path: &full_path,
                        parent_id: parent.as_ref().map(|p| p.id),
                        root_id: parent.as_ref().map(Group::top_level_id),
                        description: description.as_deref().unwrap_or(""),
                        created_at: packyard_db::now(),
                    },
                )?;
                if group.parent_id.is_none() {
                    q::upsert_member(
                        conn,
                        &Member {
                            group_id: group.id,
                            user_id: user.id,
                            access_level: AccessLevel::Owner.as_i32(),
                            created_at: packyard_db::now(),
                        },
                    )?;
                }
                Ok(Some(group))
            })
            .await?;
        created.ok_or_else(|| {
            CoreError::Invalid(FieldErrors::single("path", "has already been taken"))
        })
    }

    /// Lists the groups the actor can see.
    pub async fn list_groups(&self, actor: &Actor) -> CoreResult<Vec<Group>> {
        if !actor.has_scope_for(Need::Read) {
            return Err(CoreError::Forbidden);
        }
        let member = if actor.is_admin() {
            None
        } else {
            Some(actor.user().ok_or(CoreError::Forbidden)?.id)
        };
        Ok(self
            .db
            .run(move |conn| q::list_groups(conn, member))
            .await?)
    }

    /// Lists a group's members.
    pub async fn list_members(
        &self,
        actor: &Actor,
        group: &Group,
    ) -> CoreResult<Vec<(Member, User)>> {
        self.authorize(actor, group, Need::Read).await?;
        let id = group.id;
        Ok(self.db.run(move |conn| q::list_members(conn, id)).await?)
    }

    /// Adds a member (Maintainers may grant up to their own level; Owners and admins anything).
    pub async fn add_member(
        &self,
        actor: &Actor,
        group: &Group,
        user_id: i64,
        access_level: i32,
    ) -> CoreResult<(Member, User)> {
        self.authorize(actor, group, Need::Write).await?;
        let Some(level) = AccessLevel::from_i32(access_level) else {
            return Err(CoreError::BadParameter(
                "access_level does not have a valid value".into(),
            ));
        };
        if level == AccessLevel::Owner {
            self.authorize(actor, group, Need::Own).await?;
        }
        let user = self.find_user(user_id).await?;
        let member = Member {
            group_id: group.id,
            user_id: user.id,
            access_level: level.as_i32(),
            created_at: packyard_db::now(),
        };
        let member = self
            .db
            .write(move |conn| q::upsert_member(conn, &member))
            .await?;
        Ok((member, user))
    }

    /// Removes a member.
    pub async fn remove_member(
        &self,
        actor: &Actor,
        group: &Group,
        user_id: i64,
    ) -> CoreResult<()> {
        self.authorize(actor, group, Need::Write).await?;
        let group_id = group.id;
        let removed = self
            .db
            .write(move |conn| q::delete_member(conn, group_id, user_id))
            .await?;
        if removed {
            Ok(())
        } else {
            Err(CoreError::not_found("Member"))
        }
    }

    /// Revokes a personal access token: `None` is the one the actor authenticated with; users revoke their
    /// own tokens, administrators anyone's. Every instance refuses it within a second or two (see the hot
    /// index), this one at once.
    pub async fn revoke_personal_access_token(
        &self,
        actor: &Actor,
        id: Option<i64>,
    ) -> CoreResult<()> {
        let user = actor.user().ok_or(CoreError::Forbidden)?;
        if !actor.has_scope_for(Need::Write) {
            return Err(CoreError::Forbidden);
        }
        let id = match (id, actor.token_ref()) {
            (Some(id), _) => id,
            (None, TokenRef::Personal(own)) => own,
            (None, TokenRef::Deploy(_)) => return Err(CoreError::Forbidden),
        };
        let owner = (!user.is_admin).then_some(user.id);
        let revoked = self
            .db
            .write(move |conn| q::revoke_personal_access_token(conn, id, owner))
            .await?;
        revoked
            .then_some(())
            .ok_or_else(|| CoreError::not_found("Personal access token"))
    }

    /// Revokes a group deploy token (Maintainer).
    pub async fn revoke_deploy_token(
        &self,
        actor: &Actor,
        group: &Group,
        id: i64,
    ) -> CoreResult<()> {
        self.authorize(actor, group, Need::Write).await?;
        let group_id = group.id;
        let revoked = self
            .db
            .write(move |conn| q::revoke_deploy_token(conn, group_id, id))
            .await?;
        revoked
            .then_some(())
            .ok_or_else(|| CoreError::not_found("Deploy token"))
    }

    /// Issues a group deploy token (Maintainer).
    pub async fn create_deploy_token(
        &self,
        actor: &Actor,
        group: &Group,
        name: String,
        username: Option<String>,
        scopes: Vec<Scope>,
        expires_at: Option<NaiveDateTime>,
    ) -> CoreResult<IssuedToken> {
        self.authorize(actor, group, Need::Write).await?;
        let mut errors = FieldErrors::new();
        errors.check_name("name", &name);
        if scopes.is_empty() {
            errors.add("scopes", "can't be blank");
        }
        errors.into_result()?;
        let token = generate_token(DEPLOY_TOKEN_PREFIX);
        let digest = token_digest(&token);
        let stored_scopes = scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        let group_id = group.id;
        let row = self
            .db
            .run(move |conn| {
                let username = username.unwrap_or_else(|| "packyard+deploy-token".to_owned());
                q::insert_deploy_token(
                    conn,
                    &NewDeployToken {
                        group_id,
                        name: &name,
                        username: &username,
                        token_digest: &digest,
                        scopes: &stored_scopes,
                        expires_at,
                        created_at: packyard_db::now(),
                    },
                )
            })
            .await?;
        Ok(IssuedToken {
            id: row.id,
            token,
            name: row.name,
            scopes,
            expires_at: row.expires_at,
            created_at: row.created_at,
            owner: row.username,
        })
    }

    /// The actor's own personal access tokens (digests only, never the secrets), newest first.
    pub async fn list_personal_access_tokens(
        &self,
        actor: &Actor,
    ) -> CoreResult<Vec<PersonalAccessToken>> {
        let user = actor.user().ok_or(CoreError::Forbidden)?;
        if !actor.has_scope_for(Need::Read) {
            return Err(CoreError::Forbidden);
        }
        let user_id = user.id;
        Ok(self
            .db
            .run(move |conn| q::list_personal_access_tokens(conn, user_id))
            .await?)
    }

    /// A group's deploy tokens (Maintainer, as creating and revoking them), newest first.
    pub async fn list_deploy_tokens(
        &self,
        actor: &Actor,
        group: &Group,
    ) -> CoreResult<Vec<DeployToken>> {
        self.authorize(actor, group, Need::Write).await?;
        let group_id = group.id;
        Ok(self
            .db
            .run(move |conn| q::list_deploy_tokens(conn, group_id))
            .await?)
    }

    /// Issues a personal access token for the actor themselves: a token with `api` may mint its owner's
    /// tokens (as GitLab's profile page does), deploy tokens none.
    pub async fn create_own_personal_access_token(
        &self,
        actor: &Actor,
        name: String,
        scopes: Vec<Scope>,
        expires_at: Option<NaiveDateTime>,
    ) -> CoreResult<IssuedToken> {
        let user = actor.user().ok_or(CoreError::Forbidden)?;
        if !actor.has_scope_for(Need::Write) {
            return Err(CoreError::Forbidden);
        }
        self.create_personal_access_token(user, name, scopes, expires_at)
            .await
    }
}
