//! Change generations: counters that triggers bump whenever data an instance keeps in memory changes.

use diesel::prelude::*;

use crate::schema::change_generations;
use crate::{AnyConnection, DbResult};

/// Every generation counter, by name (`identity`, `registries`, `cache`, `hosted`).
pub fn list_generations(conn: &mut AnyConnection) -> DbResult<Vec<(String, i64)>> {
    Ok(change_generations::table
        .select((change_generations::name, change_generations::value))
        .load(conn)?)
}
