//! `maven-metadata.xml`, generated from the stored versions and files (clients' own copies are never the
//! truth): the artifact level lists versions, the SNAPSHOT level names the newest timestamped files.

use std::collections::BTreeMap;
use std::fmt::Write;

use packyard_core::rows::{PackageFile, PackageVersion};
use quick_xml::escape::escape;

use crate::layout::{Artifact, is_snapshot, split_file_name};

/// Maven's `yyyyMMddHHmmss`.
const UPDATED: &str = "%Y%m%d%H%M%S";

const HEADER: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

fn element(out: &mut String, indent: usize, name: &str, value: &str) {
    let _ = writeln!(
        out,
        "{:indent$}<{name}>{}</{name}>",
        "",
        escape(value),
        indent = indent
    );
}

/// Artifact-level metadata. `files` are every file of the package with its version, in any order.
/// Versions are listed in the order they were first published; `latest` is the newest, `release` the
/// newest that is not a SNAPSHOT, `lastUpdated` the time of the newest file.
pub fn artifact_metadata(artifact: &Artifact, files: &[(PackageVersion, PackageFile)]) -> String {
    let mut versions: Vec<&PackageVersion> = Vec::new();
    for (version, _) in files {
        if !versions.iter().any(|v| v.id == version.id) {
            versions.push(version);
        }
    }
    versions.sort_by_key(|v| (v.created_at, v.id));
    let last_updated = files.iter().map(|(_, f)| f.updated_at).max();
    let mut out = String::from(HEADER);
    out.push_str("<metadata>\n");
    element(&mut out, 2, "groupId", &artifact.group_id);
    element(&mut out, 2, "artifactId", &artifact.artifact_id);
    out.push_str("  <versioning>\n");
    if let Some(latest) = versions.last() {
        element(&mut out, 4, "latest", &latest.version);
    }
    if let Some(release) = versions.iter().rev().find(|v| !is_snapshot(&v.version)) {
        element(&mut out, 4, "release", &release.version);
    }
    out.push_str("    <versions>\n");
    for version in &versions {
        element(&mut out, 6, "version", &version.version);
    }
    out.push_str("    </versions>\n");
    if let Some(at) = last_updated {
        element(&mut out, 4, "lastUpdated", &at.format(UPDATED).to_string());
    }
    out.push_str("  </versioning>\n</metadata>\n");
    out
}

/// SNAPSHOT-level metadata of `version` from its files: the newest timestamp and build number, and per
/// classifier and extension the newest file.
pub fn snapshot_metadata(artifact: &Artifact, version: &str, files: &[PackageFile]) -> String {
    // Key: (extension, classifier); value: ((timestamp, build), value, updated).
    type Newest = ((String, u32), String, String);
    let mut newest: BTreeMap<(String, String), Newest> = BTreeMap::new();
    let mut snapshot: Option<(String, u32)> = None;
    for file in files {
        let Some(parts) = split_file_name(&artifact.artifact_id, version, &file.name) else {
            continue;
        };
        let rank = parts.snapshot.clone().unwrap_or_default();
        if parts.snapshot.is_some() && snapshot.as_ref().is_none_or(|s| rank > *s) {
            snapshot = Some(rank.clone());
        }
        let key = (parts.extension, parts.classifier.unwrap_or_default());
        let updated = file.updated_at.format(UPDATED).to_string();
        if newest.get(&key).is_none_or(|(r, _, _)| rank >= *r) {
            newest.insert(key, (rank, parts.value, updated));
        }
    }
    let last_updated = files.iter().map(|f| f.updated_at).max();
    let mut out = String::from(HEADER);
    out.push_str("<metadata modelVersion=\"1.1.0\">\n");
    element(&mut out, 2, "groupId", &artifact.group_id);
    element(&mut out, 2, "artifactId", &artifact.artifact_id);
    element(&mut out, 2, "version", version);
    out.push_str("  <versioning>\n");
    if let Some((timestamp, build)) = snapshot {
        out.push_str("    <snapshot>\n");
        element(&mut out, 6, "timestamp", &timestamp);
        element(&mut out, 6, "buildNumber", &build.to_string());
        out.push_str("    </snapshot>\n");
    }
    if let Some(at) = last_updated {
        element(&mut out, 4, "lastUpdated", &at.format(UPDATED).to_string());
    }
    out.push_str("    <snapshotVersions>\n");
    for ((extension, classifier), (_, value, updated)) in &newest {
        out.push_str("      <snapshotVersion>\n");
        if !classifier.is_empty() {
            element(&mut out, 8, "classifier", classifier);
        }
        element(&mut out, 8, "extension", extension);
        element(&mut out, 8, "value", value);
        element(&mut out, 8, "updated", updated);
        out.push_str("      </snapshotVersion>\n");
    }
    out.push_str("    </snapshotVersions>\n  </versioning>\n</metadata>\n");
    out
}
