//! Users, groups, memberships, personal access tokens and deploy tokens.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::rows::*;
use crate::schema::{deploy_tokens, group_members, namespaces, personal_access_tokens, users};
use crate::{AnyConnection, DbResult, per_backend};

/// Inserts a user.
pub fn insert_user(conn: &mut AnyConnection, new: &NewUser<'_>) -> DbResult<User> {
    Ok(per_backend!(conn, |c| diesel::insert_into(users::table)
        .values(new)
        .returning(User::as_returning())
        .get_result(c))?)
}

/// Finds a user by id.
pub fn find_user(conn: &mut AnyConnection, id: i64) -> DbResult<Option<User>> {
    Ok(users::table
        .find(id)
        .select(User::as_select())
        .first(conn)
        .optional()?)
}

/// Finds a user by username.
pub fn find_user_by_username(conn: &mut AnyConnection, username: &str) -> DbResult<Option<User>> {
    Ok(users::table
        .filter(users::username.eq(username))
        .select(User::as_select())
        .first(conn)
        .optional()?)
}

/// Lists users by id.
pub fn list_users(conn: &mut AnyConnection) -> DbResult<Vec<User>> {
    Ok(users::table
        .order(users::id.asc())
        .select(User::as_select())
        .load(conn)?)
}

/// Inserts a group; a top-level group gets its own id as `root_id`.
pub fn insert_group(conn: &mut AnyConnection, new: &NewGroup<'_>) -> DbResult<Group> {
    let group: Group = per_backend!(conn, |c| diesel::insert_into(namespaces::table)
        .values(new)
        .returning(Group::as_returning())
        .get_result(c))?;
    if group.root_id.is_some() {
        return Ok(group);
    }
    Ok(per_backend!(conn, |c| diesel::update(
        namespaces::table.find(group.id)
    )
    .set(namespaces::root_id.eq(group.id))
    .returning(Group::as_returning())
    .get_result(c))?)
}

/// Finds a group by id.
pub fn find_group(conn: &mut AnyConnection, id: i64) -> DbResult<Option<Group>> {
    Ok(namespaces::table
        .find(id)
        .select(Group::as_select())
        .first(conn)
        .optional()?)
}

/// Finds a group by full path (case-insensitive, as GitLab routes are).
pub fn find_group_by_full_path(
    conn: &mut AnyConnection,
    full_path: &str,
) -> DbResult<Option<Group>> {
    Ok(namespaces::table
        .filter(super::lower(namespaces::full_path).eq(full_path.to_lowercase()))
        .select(Group::as_select())
        .first(conn)
        .optional()?)
}

/// Lists all groups, or only those whose top-level group `user_id` is a member of.
pub fn list_groups(conn: &mut AnyConnection, member: Option<i64>) -> DbResult<Vec<Group>> {
    let mut query = namespaces::table.select(Group::as_select()).into_boxed();
    if let Some(user_id) = member {
        let roots: Vec<i64> = group_members::table
            .filter(group_members::user_id.eq(user_id))
            .select(group_members::group_id)
            .load(conn)?;
        query = query.filter(
            namespaces::root_id
                .eq_any(roots.clone())
                .or(namespaces::id.eq_any(roots)),
        );
    }
    Ok(query.order(namespaces::id.asc()).load(conn)?)
}

/// Adds a member or changes their level.
pub fn upsert_member(conn: &mut AnyConnection, member: &Member) -> DbResult<Member> {
    Ok(per_backend!(conn, |c| diesel::insert_into(
        group_members::table
    )
    .values(member)
    .on_conflict((group_members::group_id, group_members::user_id))
    .do_update()
    .set(group_members::access_level.eq(member.access_level))
    .returning(Member::as_returning())
    .get_result(c))?)
}

/// Finds one membership.
pub fn find_member(
    conn: &mut AnyConnection,
    group_id: i64,
    user_id: i64,
) -> DbResult<Option<Member>> {
    Ok(group_members::table
        .find((group_id, user_id))
        .select(Member::as_select())
        .first(conn)
        .optional()?)
}

/// Lists a group's direct members with their users.
pub fn list_members(conn: &mut AnyConnection, group_id: i64) -> DbResult<Vec<(Member, User)>> {
    Ok(group_members::table
        .inner_join(users::table)
        .filter(group_members::group_id.eq(group_id))
        .order(users::id.asc())
        .select((Member::as_select(), User::as_select()))
        .load(conn)?)
}

/// Removes a membership; returns whether it existed.
pub fn delete_member(conn: &mut AnyConnection, group_id: i64, user_id: i64) -> DbResult<bool> {
    Ok(diesel::delete(group_members::table.find((group_id, user_id))).execute(conn)? > 0)
}

/// Inserts a personal access token.
pub fn insert_personal_access_token(
    conn: &mut AnyConnection,
    new: &NewPersonalAccessToken<'_>,
) -> DbResult<PersonalAccessToken> {
    Ok(per_backend!(conn, |c| diesel::insert_into(
        personal_access_tokens::table
    )
    .values(new)
    .returning(PersonalAccessToken::as_returning())
    .get_result(c))?)
}

/// Finds a personal access token and its user by the secret's digest.
pub fn find_personal_access_token(
    conn: &mut AnyConnection,
    digest: &str,
) -> DbResult<Option<(PersonalAccessToken, User)>> {
    Ok(personal_access_tokens::table
        .inner_join(users::table)
        .filter(personal_access_tokens::token_digest.eq(digest))
        .select((PersonalAccessToken::as_select(), User::as_select()))
        .first(conn)
        .optional()?)
}

/// Finds a personal access token and its user by id.
pub fn find_personal_access_token_by_id(
    conn: &mut AnyConnection,
    id: i64,
) -> DbResult<Option<(PersonalAccessToken, User)>> {
    Ok(personal_access_tokens::table
        .inner_join(users::table)
        .filter(personal_access_tokens::id.eq(id))
        .select((PersonalAccessToken::as_select(), User::as_select()))
        .first(conn)
        .optional()?)
}

/// Records when a token was last used.
pub fn touch_personal_access_token(
    conn: &mut AnyConnection,
    id: i64,
    at: NaiveDateTime,
) -> DbResult<()> {
    diesel::update(personal_access_tokens::table.find(id))
        .set(personal_access_tokens::last_used_at.eq(at))
        .execute(conn)?;
    Ok(())
}

/// Revokes a personal access token, if it is the user's (any user's when `user_id` is `None`); returns
/// whether one was revoked.
pub fn revoke_personal_access_token(
    conn: &mut AnyConnection,
    id: i64,
    user_id: Option<i64>,
) -> DbResult<bool> {
    let mut query = diesel::update(personal_access_tokens::table)
        .filter(personal_access_tokens::id.eq(id))
        .filter(personal_access_tokens::revoked.eq(false))
        .into_boxed();
    if let Some(user_id) = user_id {
        query = query.filter(personal_access_tokens::user_id.eq(user_id));
    }
    Ok(query
        .set(personal_access_tokens::revoked.eq(true))
        .execute(conn)?
        > 0)
}

/// Revokes a group's deploy token; returns whether one was revoked.
pub fn revoke_deploy_token(conn: &mut AnyConnection, group_id: i64, id: i64) -> DbResult<bool> {
    Ok(diesel::update(
        deploy_tokens::table
            .filter(deploy_tokens::id.eq(id))
            .filter(deploy_tokens::group_id.eq(group_id))
            .filter(deploy_tokens::revoked.eq(false)),
    )
    .set(deploy_tokens::revoked.eq(true))
    .execute(conn)?
        > 0)
}

/// Inserts a deploy token.
pub fn insert_deploy_token(
    conn: &mut AnyConnection,
    new: &NewDeployToken<'_>,
) -> DbResult<DeployToken> {
    Ok(per_backend!(conn, |c| diesel::insert_into(
        deploy_tokens::table
    )
    .values(new)
    .returning(DeployToken::as_returning())
    .get_result(c))?)
}

/// Finds a deploy token by the secret's digest.
pub fn find_deploy_token(conn: &mut AnyConnection, digest: &str) -> DbResult<Option<DeployToken>> {
    Ok(deploy_tokens::table
        .filter(deploy_tokens::token_digest.eq(digest))
        .select(DeployToken::as_select())
        .first(conn)
        .optional()?)
}

/// Finds a deploy token by id.
pub fn find_deploy_token_by_id(conn: &mut AnyConnection, id: i64) -> DbResult<Option<DeployToken>> {
    Ok(deploy_tokens::table
        .find(id)
        .select(DeployToken::as_select())
        .first(conn)
        .optional()?)
}

/// A user's personal access tokens, revoked ones too, newest first.
pub fn list_personal_access_tokens(
    conn: &mut AnyConnection,
    user_id: i64,
) -> DbResult<Vec<PersonalAccessToken>> {
    Ok(personal_access_tokens::table
        .filter(personal_access_tokens::user_id.eq(user_id))
        .order(personal_access_tokens::id.desc())
        .select(PersonalAccessToken::as_select())
        .load(conn)?)
}

/// A group's deploy tokens, revoked ones too, newest first.
pub fn list_deploy_tokens(conn: &mut AnyConnection, group_id: i64) -> DbResult<Vec<DeployToken>> {
    Ok(deploy_tokens::table
        .filter(deploy_tokens::group_id.eq(group_id))
        .order(deploy_tokens::id.desc())
        .select(DeployToken::as_select())
        .load(conn)?)
}
