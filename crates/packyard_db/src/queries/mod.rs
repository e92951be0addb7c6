//! Queries per aggregate. Every function takes `&mut AnyConnection` and returns `DbResult`; callers run
//! them through [`crate::Db::run`] or [`crate::Db::transaction`].

pub mod cache;
pub mod changes;
pub mod cleanup;
pub mod hosted;
pub mod identity;
pub mod jobs;
pub mod leases;
pub mod registries;

diesel::define_sql_function! {
    /// SQL `lower()`, for case-insensitive matching on both backends.
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

/// A `LIKE` pattern matching `term` anywhere, with `%`, `_` and `\` escaped.
pub fn contains_pattern(term: &str) -> String {
    let mut pattern = String::from("%");
    for c in term.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// One page of rows and the total count.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// The rows of this page.
    pub items: Vec<T>,
    /// All matching rows.
    pub total: i64,
}

/// Checks that the database answers.
pub fn ping(conn: &mut crate::AnyConnection) -> crate::DbResult<()> {
    use diesel::connection::SimpleConnection;
    Ok(conn.batch_execute("SELECT 1")?)
}
