//! Hosted packages, their versions and files.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{Page, contains_pattern, lower};
use crate::rows::*;
use crate::schema::{namespaces, npm_dist_tags, package_files, package_versions, packages};
use crate::{AnyConnection, DbResult, per_backend};

/// The group's owner uuid, assigning `candidate` when it has none yet.
pub fn ensure_group_uuid(
    conn: &mut AnyConnection,
    group_id: i64,
    candidate: &str,
) -> DbResult<String> {
    diesel::update(
        namespaces::table
            .filter(namespaces::id.eq(group_id))
            .filter(namespaces::uuid.eq("")),
    )
    .set(namespaces::uuid.eq(candidate))
    .execute(conn)?;
    Ok(namespaces::table
        .find(group_id)
        .select(namespaces::uuid)
        .first(conn)?)
}

/// Which package a lookup means: its owner, type and identity within them.
#[derive(Debug, Clone, Copy)]
pub struct PackageIdentity<'a> {
    /// Owning top-level group, or `None` (GLOBAL).
    pub owner_group_id: Option<i64>,
    /// Type name.
    pub package_type: &'a str,
    /// Normalised name.
    pub normalized_name: &'a str,
    /// Maven groupId or npm scope, or empty.
    pub group_name: &'a str,
    /// Maven artifactId, or empty.
    pub artifact_id: &'a str,
}

/// Finds a package by its identity.
pub fn find_package(
    conn: &mut AnyConnection,
    identity: PackageIdentity<'_>,
) -> DbResult<Option<Package>> {
    let mut query = packages::table
        .filter(packages::package_type.eq(identity.package_type))
        .filter(packages::normalized_name.eq(identity.normalized_name))
        .filter(packages::group_name.eq(identity.group_name))
        .filter(packages::artifact_id.eq(identity.artifact_id))
        .select(Package::as_select())
        .into_boxed();
    query = match identity.owner_group_id {
        Some(owner) => query.filter(packages::owner_group_id.eq(owner)),
        None => query.filter(packages::owner_group_id.is_null()),
    };
    Ok(query.first(conn).optional()?)
}

/// Finds a package by uuid, with its owner group's uuid.
pub fn find_package_by_uuid(
    conn: &mut AnyConnection,
    uuid: &str,
) -> DbResult<Option<(Package, Option<String>)>> {
    Ok(packages::table
        .left_join(namespaces::table)
        .filter(packages::uuid.eq(uuid))
        .select((Package::as_select(), namespaces::uuid.nullable()))
        .first(conn)
        .optional()?)
}

/// Inserts a package.
pub fn insert_package(conn: &mut AnyConnection, new: &NewPackage) -> DbResult<Package> {
    Ok(per_backend!(conn, |c| diesel::insert_into(
        packages::table
    )
    .values(new)
    .returning(Package::as_returning())
    .get_result(c))?)
}

/// Records the version published last.
pub fn set_latest_version(
    conn: &mut AnyConnection,
    package_id: i64,
    version: &str,
    now: NaiveDateTime,
) -> DbResult<()> {
    diesel::update(packages::table.find(package_id))
        .set((
            packages::latest_version.eq(version),
            packages::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Finds a version of a package.
pub fn find_version(
    conn: &mut AnyConnection,
    package_id: i64,
    version: &str,
) -> DbResult<Option<PackageVersion>> {
    Ok(package_versions::table
        .filter(package_versions::package_id.eq(package_id))
        .filter(package_versions::version.eq(version))
        .select(PackageVersion::as_select())
        .first(conn)
        .optional()?)
}

/// Inserts a version. The row returned leaves out `metadata`, which is not read back (it may be
/// several MiB).
pub fn insert_version(
    conn: &mut AnyConnection,
    new: &NewPackageVersion,
) -> DbResult<PackageVersion> {
    let id = per_backend!(conn, |c| diesel::insert_into(package_versions::table)
        .values(new)
        .returning(package_versions::id)
        .get_result(c))?;
    Ok(PackageVersion {
        id,
        uuid: new.uuid.clone(),
        package_id: new.package_id,
        version: new.version.clone(),
        base_version: new.base_version.clone(),
        lower_version: new.lower_version.clone(),
        language_version: new.language_version.clone(),
        download_count: 0,
        upload_type: new.upload_type.clone(),
        metadata: None,
        created_at: new.created_at,
        updated_at: new.updated_at,
        index_metadata: new.index_metadata.clone(),
    })
}

/// Replaces a version's format metadata and its index's part of it.
pub fn set_version_metadata(
    conn: &mut AnyConnection,
    version_id: i64,
    metadata: &str,
    index_metadata: Option<&str>,
    now: NaiveDateTime,
) -> DbResult<()> {
    diesel::update(package_versions::table.find(version_id))
        .set((
            package_versions::metadata.eq(metadata),
            package_versions::index_metadata.eq(index_metadata),
            package_versions::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Finds a file of a version by name.
pub fn find_file(
    conn: &mut AnyConnection,
    version_id: i64,
    name: &str,
) -> DbResult<Option<PackageFile>> {
    Ok(package_files::table
        .filter(package_files::version_id.eq(version_id))
        .filter(package_files::name.eq(name))
        .select(PackageFile::as_select())
        .first(conn)
        .optional()?)
}

/// Finds a file of a version by uuid.
pub fn find_file_by_uuid(
    conn: &mut AnyConnection,
    version_id: i64,
    uuid: &str,
) -> DbResult<Option<PackageFile>> {
    Ok(package_files::table
        .filter(package_files::version_id.eq(version_id))
        .filter(package_files::uuid.eq(uuid))
        .select(PackageFile::as_select())
        .first(conn)
        .optional()?)
}

/// Commits a completely stored file whose blob is published and pinned: creates the file or points the
/// existing one at the new content. Returns the file and the blob it replaced, if any. Run inside a
/// transaction.
pub fn commit_file(
    conn: &mut AnyConnection,
    version_id: i64,
    new: &NewPackageFile,
    now: NaiveDateTime,
) -> DbResult<(PackageFile, Option<String>)> {
    let changes = (
        package_files::blob_sha256.eq(&new.blob_sha256),
        package_files::size.eq(new.size),
        package_files::file_md5.eq(&new.file_md5),
        package_files::file_sha1.eq(&new.file_sha1),
        package_files::file_sha512.eq(&new.file_sha512),
        package_files::upload_type.eq(&new.upload_type),
        package_files::metadata.eq(&new.metadata),
        package_files::updated_at.eq(now),
    );
    match find_file(conn, version_id, &new.name)? {
        Some(old) => {
            let file = per_backend!(conn, |c| diesel::update(package_files::table.find(old.id))
                .set(changes)
                .returning(PackageFile::as_returning())
                .get_result(c))?;
            let replaced = (old.blob_sha256 != new.blob_sha256).then_some(old.blob_sha256);
            Ok((file, replaced))
        }
        None => {
            let file = per_backend!(conn, |c| diesel::insert_into(package_files::table)
                .values((
                    package_files::uuid.eq(&new.uuid),
                    package_files::version_id.eq(version_id),
                    package_files::name.eq(&new.name),
                    changes,
                    package_files::created_at.eq(now),
                ))
                .returning(PackageFile::as_returning())
                .get_result(c))?;
            Ok((file, None))
        }
    }
}

/// Adds `count` downloads of the version's files (counted in memory, written in batches).
pub fn add_version_downloads(
    conn: &mut AnyConnection,
    version_id: i64,
    count: i64,
) -> DbResult<()> {
    diesel::update(package_versions::table.find(version_id))
        .set(package_versions::download_count.eq(package_versions::download_count + count))
        .execute(conn)?;
    Ok(())
}

/// What a package listing selects.
#[derive(Debug, Clone, Default)]
pub struct PackageFilter {
    /// Only this type.
    pub package_type: Option<String>,
    /// Only names containing this (case-insensitive).
    pub search: Option<String>,
}

/// One page of packages (oldest first), each with its owner group's uuid.
pub fn list_packages(
    conn: &mut AnyConnection,
    filter: &PackageFilter,
    offset: i64,
    limit: i64,
) -> DbResult<Page<(Package, Option<String>)>> {
    let filtered = || {
        let mut query = packages::table.left_join(namespaces::table).into_boxed();
        if let Some(package_type) = &filter.package_type {
            query = query.filter(packages::package_type.eq(package_type.clone()));
        }
        if let Some(term) = &filter.search {
            query = query.filter(
                lower(packages::name)
                    .like(contains_pattern(term))
                    .escape('\\'),
            );
        }
        query
    };
    let total = filtered().count().get_result(conn)?;
    let items = filtered()
        .order((packages::created_at.asc(), packages::id.asc()))
        .offset(offset)
        .limit(limit)
        .select((Package::as_select(), namespaces::uuid.nullable()))
        .load(conn)?;
    Ok(Page { items, total })
}

/// Every package of one type that a group owns, by normalised name.
pub fn list_owner_packages(
    conn: &mut AnyConnection,
    owner_group_id: i64,
    package_type: &str,
) -> DbResult<Vec<Package>> {
    Ok(packages::table
        .filter(packages::owner_group_id.eq(owner_group_id))
        .filter(packages::package_type.eq(package_type))
        .order(packages::normalized_name.asc())
        .select(Package::as_select())
        .load(conn)?)
}

/// One page of a package's versions, oldest first.
pub fn list_versions(
    conn: &mut AnyConnection,
    package_id: i64,
    offset: i64,
    limit: i64,
) -> DbResult<Page<PackageVersion>> {
    let total = package_versions::table
        .filter(package_versions::package_id.eq(package_id))
        .count()
        .get_result(conn)?;
    let items = package_versions::table
        .filter(package_versions::package_id.eq(package_id))
        .order((
            package_versions::created_at.asc(),
            package_versions::id.asc(),
        ))
        .offset(offset)
        .limit(limit)
        .select(PackageVersion::as_select())
        .load(conn)?;
    Ok(Page { items, total })
}

/// The files of these versions, oldest first.
pub fn list_files_of_versions(
    conn: &mut AnyConnection,
    version_ids: &[i64],
) -> DbResult<Vec<PackageFile>> {
    Ok(package_files::table
        .filter(package_files::version_id.eq_any(version_ids))
        .order((package_files::created_at.asc(), package_files::id.asc()))
        .select(PackageFile::as_select())
        .load(conn)?)
}

/// One page of the files of every version of a package, oldest first.
pub fn list_package_files(
    conn: &mut AnyConnection,
    package_id: i64,
    offset: i64,
    limit: i64,
) -> DbResult<Page<PackageFile>> {
    let filtered = || {
        package_files::table
            .inner_join(package_versions::table)
            .filter(package_versions::package_id.eq(package_id))
    };
    let total = filtered().count().get_result(conn)?;
    let items = filtered()
        .order((package_files::created_at.asc(), package_files::id.asc()))
        .offset(offset)
        .limit(limit)
        .select(PackageFile::as_select())
        .load(conn)?;
    Ok(Page { items, total })
}

/// Every file of a package with its version, oldest first (index pages).
pub fn list_package_files_with_versions(
    conn: &mut AnyConnection,
    package_id: i64,
) -> DbResult<Vec<(PackageVersion, PackageFile)>> {
    Ok(package_files::table
        .inner_join(package_versions::table)
        .filter(package_versions::package_id.eq(package_id))
        .order((package_files::created_at.asc(), package_files::id.asc()))
        .select((PackageVersion::as_select(), PackageFile::as_select()))
        .load(conn)?)
}

/// Which metadata a version listing carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListedMetadata {
    /// The whole document.
    Whole,
    /// The part the format's index serves.
    Index,
}

/// Up to `limit` files named `*{suffix}` of a package's versions after the version `after` (a row id;
/// 0 for the first page), oldest version first: a package index read a page at a time, so that a
/// package with many large documents is never held whole.
pub fn list_version_page(
    conn: &mut AnyConnection,
    package_id: i64,
    suffix: &str,
    after: i64,
    limit: i64,
    metadata: ListedMetadata,
) -> DbResult<Vec<VersionListing>> {
    // The page is chosen without its documents, which are read for its versions alone: ordering a
    // join may copy every candidate row, each with a document of megabytes, into a sorter.
    let page: Vec<(i64, String, NaiveDateTime, String, String, String)> = package_files::table
        .inner_join(package_versions::table)
        .filter(package_versions::package_id.eq(package_id))
        .filter(package_versions::id.gt(after))
        .filter(package_files::name.like(format!("%{suffix}")))
        .order((package_versions::id.asc(), package_files::id.asc()))
        .limit(limit)
        .select((
            package_versions::id,
            package_versions::version,
            package_versions::created_at,
            package_files::name,
            package_files::file_sha1,
            package_files::file_sha512,
        ))
        .load(conn)?;
    let mut version_ids: Vec<i64> = page.iter().map(|row| row.0).collect();
    version_ids.dedup();
    let documents = package_versions::table.filter(package_versions::id.eq_any(&version_ids));
    // The two metadata columns have the same type; only the one asked for is read.
    let mut documents: std::collections::HashMap<i64, Option<String>> = match metadata {
        ListedMetadata::Whole => documents
            .select((package_versions::id, package_versions::metadata))
            .load(conn)?,
        ListedMetadata::Index => documents
            .select((package_versions::id, package_versions::index_metadata))
            .load(conn)?,
    }
    .into_iter()
    .collect();
    // A version deleted between the two reads is left out, not listed without its document.
    let present: std::collections::HashSet<i64> = documents.keys().copied().collect();
    Ok(page
        .into_iter()
        .filter(|row| present.contains(&row.0))
        .map(
            |(version_id, version, created_at, file_name, file_sha1, file_sha512)| {
                VersionListing {
                    version_id,
                    version,
                    created_at,
                    // A version with several files carries its document once.
                    metadata: documents.remove(&version_id).flatten(),
                    file_name,
                    file_sha1,
                    file_sha512,
                }
            },
        )
        .collect())
}

/// The dist-tags of an npm package, by tag.
pub fn list_dist_tags(conn: &mut AnyConnection, package_id: i64) -> DbResult<Vec<NpmDistTag>> {
    Ok(npm_dist_tags::table
        .filter(npm_dist_tags::package_id.eq(package_id))
        .order(npm_dist_tags::tag.asc())
        .select(NpmDistTag::as_select())
        .load(conn)?)
}

/// Points a dist-tag of an npm package at a version, creating the tag when missing.
pub fn set_dist_tag(
    conn: &mut AnyConnection,
    package_id: i64,
    tag: &str,
    version: &str,
    now: NaiveDateTime,
) -> DbResult<()> {
    let updated = diesel::update(
        npm_dist_tags::table
            .filter(npm_dist_tags::package_id.eq(package_id))
            .filter(npm_dist_tags::tag.eq(tag)),
    )
    .set((
        npm_dist_tags::version.eq(version),
        npm_dist_tags::updated_at.eq(now),
    ))
    .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(npm_dist_tags::table)
            .values(&NewNpmDistTag {
                package_id,
                tag: tag.to_owned(),
                version: version.to_owned(),
                created_at: now,
                updated_at: now,
            })
            .execute(conn)?;
    }
    Ok(())
}

/// Removes a dist-tag of an npm package; false when it did not exist.
pub fn delete_dist_tag(conn: &mut AnyConnection, package_id: i64, tag: &str) -> DbResult<bool> {
    let deleted = diesel::delete(
        npm_dist_tags::table
            .filter(npm_dist_tags::package_id.eq(package_id))
            .filter(npm_dist_tags::tag.eq(tag)),
    )
    .execute(conn)?;
    Ok(deleted > 0)
}

/// Deletes a version with its files (by cascade) and the dist-tags pointing at it, then records the
/// newest remaining version as the package's latest.
pub fn delete_version(
    conn: &mut AnyConnection,
    version: &PackageVersion,
    now: NaiveDateTime,
) -> DbResult<()> {
    diesel::delete(
        npm_dist_tags::table
            .filter(npm_dist_tags::package_id.eq(version.package_id))
            .filter(npm_dist_tags::version.eq(&version.version)),
    )
    .execute(conn)?;
    diesel::delete(package_versions::table.find(version.id)).execute(conn)?;
    let newest: Option<String> = package_versions::table
        .filter(package_versions::package_id.eq(version.package_id))
        .order((
            package_versions::created_at.desc(),
            package_versions::id.desc(),
        ))
        .select(package_versions::version)
        .first(conn)
        .optional()?;
    diesel::update(packages::table.find(version.package_id))
        .set((
            packages::latest_version.eq(newest),
            packages::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Deletes a package with its versions, files and dist-tags (by cascade).
pub fn delete_package(conn: &mut AnyConnection, package_id: i64) -> DbResult<()> {
    diesel::delete(packages::table.find(package_id)).execute(conn)?;
    Ok(())
}
