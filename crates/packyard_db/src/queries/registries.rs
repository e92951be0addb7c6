//! Virtual registries, upstreams and their ordered associations.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{Page, contains_pattern, lower};
use crate::rows::*;
use crate::schema::{cache_entries, registry_upstreams, upstreams, virtual_registries};
use crate::{AnyConnection, DbResult, per_backend};

/// Counts a group's registries of one format.
pub fn count_registries(conn: &mut AnyConnection, group_id: i64, format: &str) -> DbResult<i64> {
    Ok(virtual_registries::table
        .filter(virtual_registries::group_id.eq(group_id))
        .filter(virtual_registries::format.eq(format))
        .count()
        .get_result(conn)?)
}

/// True when the group has a registry of that format and name (other than `except`).
pub fn registry_name_taken(
    conn: &mut AnyConnection,
    group_id: i64,
    format: &str,
    name: &str,
    except: Option<i64>,
) -> DbResult<bool> {
    let count: i64 = virtual_registries::table
        .filter(virtual_registries::group_id.eq(group_id))
        .filter(virtual_registries::format.eq(format))
        .filter(virtual_registries::name.eq(name))
        .filter(virtual_registries::id.ne(except.unwrap_or(-1)))
        .count()
        .get_result(conn)?;
    Ok(count > 0)
}

/// Inserts a registry.
pub fn insert_registry(conn: &mut AnyConnection, new: &NewRegistry<'_>) -> DbResult<Registry> {
    Ok(per_backend!(conn, |c| diesel::insert_into(
        virtual_registries::table
    )
    .values(new)
    .returning(Registry::as_returning())
    .get_result(c))?)
}

/// Finds a registry of a format.
pub fn find_registry(
    conn: &mut AnyConnection,
    id: i64,
    format: &str,
) -> DbResult<Option<Registry>> {
    Ok(virtual_registries::table
        .find(id)
        .filter(virtual_registries::format.eq(format))
        .select(Registry::as_select())
        .first(conn)
        .optional()?)
}

/// Lists a group's registries of a format by id.
pub fn list_registries(
    conn: &mut AnyConnection,
    group_id: i64,
    format: &str,
) -> DbResult<Vec<Registry>> {
    Ok(virtual_registries::table
        .filter(virtual_registries::group_id.eq(group_id))
        .filter(virtual_registries::format.eq(format))
        .order(virtual_registries::id.asc())
        .select(Registry::as_select())
        .load(conn)?)
}

/// Updates a registry's name and description.
pub fn update_registry(
    conn: &mut AnyConnection,
    id: i64,
    name: &str,
    description: Option<&str>,
    now: NaiveDateTime,
) -> DbResult<Registry> {
    Ok(per_backend!(conn, |c| diesel::update(
        virtual_registries::table.find(id)
    )
    .set((
        virtual_registries::name.eq(name),
        virtual_registries::description.eq(description),
        virtual_registries::updated_at.eq(now),
    ))
    .returning(Registry::as_returning())
    .get_result(c))?)
}

/// Ids of the upstreams linked to this registry and to no other.
pub fn exclusive_upstream_ids(conn: &mut AnyConnection, registry_id: i64) -> DbResult<Vec<i64>> {
    let linked: Vec<i64> = registry_upstreams::table
        .filter(registry_upstreams::registry_id.eq(registry_id))
        .select(registry_upstreams::upstream_id)
        .load(conn)?;
    let shared: Vec<i64> = registry_upstreams::table
        .filter(registry_upstreams::upstream_id.eq_any(&linked))
        .filter(registry_upstreams::registry_id.ne(registry_id))
        .select(registry_upstreams::upstream_id)
        .load(conn)?;
    Ok(linked
        .into_iter()
        .filter(|id| !shared.contains(id))
        .collect())
}

/// Deletes a registry, its associations and its exclusive upstreams (whose cache entries go with them).
pub fn delete_registry(conn: &mut AnyConnection, id: i64) -> DbResult<bool> {
    let exclusive = exclusive_upstream_ids(conn, id)?;
    diesel::delete(registry_upstreams::table.filter(registry_upstreams::registry_id.eq(id)))
        .execute(conn)?;
    for upstream_id in exclusive {
        delete_upstream(conn, upstream_id)?;
    }
    Ok(diesel::delete(virtual_registries::table.find(id)).execute(conn)? > 0)
}

/// Inserts an upstream.
pub fn insert_upstream(conn: &mut AnyConnection, new: &NewUpstream) -> DbResult<Upstream> {
    Ok(per_backend!(conn, |c| diesel::insert_into(
        upstreams::table
    )
    .values(new)
    .returning(Upstream::as_returning())
    .get_result(c))?)
}

/// Replaces an upstream's stored state.
pub fn update_upstream(
    conn: &mut AnyConnection,
    id: i64,
    state: &NewUpstream,
) -> DbResult<Upstream> {
    Ok(per_backend!(conn, |c| diesel::update(
        upstreams::table.find(id)
    )
    .set(state)
    .returning(Upstream::as_returning())
    .get_result(c))?)
}

/// Finds an upstream of a format.
pub fn find_upstream(
    conn: &mut AnyConnection,
    id: i64,
    format: &str,
) -> DbResult<Option<Upstream>> {
    Ok(upstreams::table
        .find(id)
        .filter(upstreams::format.eq(format))
        .select(Upstream::as_select())
        .first(conn)
        .optional()?)
}

/// The group's upstreams of a format whose URL is `url` or `twin`, except `except`.
pub fn upstreams_with_url(
    conn: &mut AnyConnection,
    group_id: i64,
    format: &str,
    url: &str,
    twin: &str,
    except: Option<i64>,
) -> DbResult<Vec<Upstream>> {
    let mut query = upstreams::table
        .filter(upstreams::group_id.eq(group_id))
        .filter(upstreams::format.eq(format))
        .filter(upstreams::url.eq(url).or(upstreams::url.eq(twin)))
        .select(Upstream::as_select())
        .into_boxed();
    if let Some(id) = except {
        query = query.filter(upstreams::id.ne(id));
    }
    Ok(query.load(conn)?)
}

/// One page of a group's upstreams of a format, optionally filtered by name, by id.
pub fn list_group_upstreams(
    conn: &mut AnyConnection,
    group_id: i64,
    format: &str,
    name_filter: Option<&str>,
    offset: i64,
    limit: i64,
) -> DbResult<Page<Upstream>> {
    let filtered = || {
        let mut query = upstreams::table
            .filter(upstreams::group_id.eq(group_id))
            .filter(upstreams::format.eq(format))
            .into_boxed();
        if let Some(name) = name_filter {
            query = query.filter(
                lower(upstreams::name)
                    .like(contains_pattern(name))
                    .escape('\\'),
            );
        }
        query
    };
    let total = filtered().count().get_result(conn)?;
    let items = filtered()
        .order(upstreams::id.asc())
        .offset(offset)
        .limit(limit)
        .select(Upstream::as_select())
        .load(conn)?;
    Ok(Page { items, total })
}

/// A registry's upstreams with their association, by position.
pub fn list_registry_upstreams(
    conn: &mut AnyConnection,
    registry_id: i64,
) -> DbResult<Vec<(Upstream, RegistryUpstream)>> {
    Ok(upstreams::table
        .inner_join(registry_upstreams::table)
        .filter(registry_upstreams::registry_id.eq(registry_id))
        .order(registry_upstreams::position.asc())
        .select((Upstream::as_select(), RegistryUpstream::as_select()))
        .load(conn)?)
}

/// The associations of an upstream, by registry.
pub fn list_upstream_associations(
    conn: &mut AnyConnection,
    upstream_id: i64,
) -> DbResult<Vec<RegistryUpstream>> {
    Ok(registry_upstreams::table
        .filter(registry_upstreams::upstream_id.eq(upstream_id))
        .order(registry_upstreams::registry_id.asc())
        .select(RegistryUpstream::as_select())
        .load(conn)?)
}

/// The associations of a registry, by position.
pub fn list_registry_associations(
    conn: &mut AnyConnection,
    registry_id: i64,
) -> DbResult<Vec<RegistryUpstream>> {
    Ok(registry_upstreams::table
        .filter(registry_upstreams::registry_id.eq(registry_id))
        .order(registry_upstreams::position.asc())
        .select(RegistryUpstream::as_select())
        .load(conn)?)
}

/// Finds an association.
pub fn find_association(conn: &mut AnyConnection, id: i64) -> DbResult<Option<RegistryUpstream>> {
    Ok(registry_upstreams::table
        .find(id)
        .select(RegistryUpstream::as_select())
        .first(conn)
        .optional()?)
}

/// The highest position in a registry (0 when it has no upstreams).
pub fn max_position(conn: &mut AnyConnection, registry_id: i64) -> DbResult<i32> {
    Ok(registry_upstreams::table
        .filter(registry_upstreams::registry_id.eq(registry_id))
        .select(diesel::dsl::max(registry_upstreams::position))
        .first::<Option<i32>>(conn)?
        .unwrap_or(0))
}

/// Links an upstream at `position`.
pub fn insert_association(
    conn: &mut AnyConnection,
    group_id: i64,
    registry_id: i64,
    upstream_id: i64,
    position: i32,
) -> DbResult<RegistryUpstream> {
    Ok(per_backend!(conn, |c| diesel::insert_into(
        registry_upstreams::table
    )
    .values((
        registry_upstreams::group_id.eq(group_id),
        registry_upstreams::registry_id.eq(registry_id),
        registry_upstreams::upstream_id.eq(upstream_id),
        registry_upstreams::position.eq(position),
    ))
    .returning(RegistryUpstream::as_returning())
    .get_result(c))?)
}

/// Rewrites a registry's positions from `order` (association ids, first = position 1). Positions go
/// through negative values first so the unique (registry, position) index never sees a duplicate.
fn write_positions(conn: &mut AnyConnection, order: &[i64]) -> DbResult<()> {
    for (index, id) in order.iter().enumerate() {
        let position = -(index as i32 + 1);
        diesel::update(registry_upstreams::table.find(id))
            .set(registry_upstreams::position.eq(position))
            .execute(conn)?;
    }
    for (index, id) in order.iter().enumerate() {
        diesel::update(registry_upstreams::table.find(id))
            .set(registry_upstreams::position.eq(index as i32 + 1))
            .execute(conn)?;
    }
    Ok(())
}

/// Moves an association to `target` (capped at the registry's highest position), shifting the others so
/// positions stay 1..k.
pub fn move_association(
    conn: &mut AnyConnection,
    id: i64,
    target: i32,
) -> DbResult<Option<RegistryUpstream>> {
    let Some(moved) = find_association(conn, id)? else {
        return Ok(None);
    };
    let mut order: Vec<i64> = list_registry_associations(conn, moved.registry_id)?
        .iter()
        .map(|a| a.id)
        .collect();
    let capped = target.clamp(1, order.len() as i32) as usize;
    if capped != moved.position as usize {
        order.retain(|a| *a != id);
        order.insert(capped - 1, id);
        write_positions(conn, &order)?;
    }
    find_association(conn, id)
}

/// Removes an association and closes the gap it leaves.
pub fn delete_association(conn: &mut AnyConnection, id: i64) -> DbResult<bool> {
    let Some(association) = find_association(conn, id)? else {
        return Ok(false);
    };
    diesel::delete(registry_upstreams::table.find(id)).execute(conn)?;
    let order: Vec<i64> = list_registry_associations(conn, association.registry_id)?
        .iter()
        .map(|a| a.id)
        .collect();
    write_positions(conn, &order)?;
    Ok(true)
}

/// Deletes an upstream with its associations (closing each registry's gap) and its cache entries.
pub fn delete_upstream(conn: &mut AnyConnection, id: i64) -> DbResult<bool> {
    for association in list_upstream_associations(conn, id)? {
        delete_association(conn, association.id)?;
    }
    diesel::delete(cache_entries::table.filter(cache_entries::upstream_id.eq(id))).execute(conn)?;
    Ok(diesel::delete(upstreams::table.find(id)).execute(conn)? > 0)
}

/// Number of upstreams linked to a registry.
pub fn count_registry_upstreams(conn: &mut AnyConnection, registry_id: i64) -> DbResult<i64> {
    Ok(registry_upstreams::table
        .filter(registry_upstreams::registry_id.eq(registry_id))
        .count()
        .get_result(conn)?)
}
