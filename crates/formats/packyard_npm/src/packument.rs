//! The registry's package documents ("packuments"): the full one (`application/json`) and the
//! abbreviated one npm asks for when it installs (`application/vnd.npm.install-v1+json`).

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::NaiveDateTime;
use serde_json::{Map, Value, json};

/// The media type of the abbreviated document.
pub const ABBREVIATED: &str = "application/vnd.npm.install-v1+json";

/// The fields of a version the abbreviated document keeps: what installing needs.
const INSTALL_FIELDS: &[&str] = &[
    "name",
    "version",
    "dependencies",
    "optionalDependencies",
    "devDependencies",
    "bundleDependencies",
    "bundledDependencies",
    "peerDependencies",
    "peerDependenciesMeta",
    "acceptDependencies",
    "bin",
    "directories",
    "dist",
    "engines",
    "cpu",
    "os",
    "libc",
    "funding",
    "license",
    "deprecated",
    "_hasShrinkwrap",
    "hasInstallScript",
];

/// Lifecycle scripts that make npm run code at install time.
const INSTALL_SCRIPTS: &[&str] = &["preinstall", "install", "postinstall"];

/// One version as the documents show it.
#[derive(Debug, Clone)]
pub struct PackumentVersion {
    /// The version.
    pub version: String,
    /// Its version document as published (`package.json` fields).
    pub manifest: Map<String, Value>,
    /// Where npm downloads its tarball.
    pub tarball_url: String,
    /// The tarball's sha1, hex.
    pub sha1: String,
    /// The tarball's sha512, hex.
    pub sha512: String,
    /// When it was published.
    pub published: NaiveDateTime,
}

/// A package as the documents show it.
#[derive(Debug, Clone)]
pub struct Packument {
    /// `name` or `@scope/name`.
    pub name: String,
    /// Its versions, oldest first.
    pub versions: Vec<PackumentVersion>,
    /// Its dist-tags.
    pub dist_tags: BTreeMap<String, String>,
    /// When it was created.
    pub created: NaiveDateTime,
    /// When it last changed.
    pub modified: NaiveDateTime,
    /// The revision npm sends back when it unpublishes (`_rev`); packyard does not check it.
    pub revision: String,
}

/// npm's timestamps: ISO 8601 in UTC with milliseconds.
pub fn npm_time(at: NaiveDateTime) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// `sha512-<base64>` from a hex sha512, as `dist.integrity` carries it.
pub fn integrity_of(sha512_hex: &str) -> Option<String> {
    hex::decode(sha512_hex)
        .ok()
        .map(|bytes| format!("sha512-{}", STANDARD.encode(bytes)))
}

impl PackumentVersion {
    /// The version document: the published fields (without the publisher's internal `_` fields), its
    /// identity, and `dist` pointing back at this registry.
    fn document(&self, name: &str) -> Map<String, Value> {
        let mut doc: Map<String, Value> = self
            .manifest
            .iter()
            .filter(|(key, _)| !key.starts_with('_') || key.as_str() == "_hasShrinkwrap")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        doc.insert("name".into(), json!(name));
        doc.insert("version".into(), json!(self.version));
        doc.insert("_id".into(), json!(format!("{name}@{}", self.version)));
        let mut dist = json!({"tarball": self.tarball_url, "shasum": self.sha1});
        if let Some(integrity) = integrity_of(&self.sha512) {
            dist["integrity"] = json!(integrity);
        }
        doc.insert("dist".into(), dist);
        let runs_scripts = doc
            .get("scripts")
            .and_then(Value::as_object)
            .is_some_and(|scripts| INSTALL_SCRIPTS.iter().any(|s| scripts.contains_key(*s)));
        if runs_scripts {
            doc.insert("hasInstallScript".into(), json!(true));
        }
        doc
    }
}

impl Packument {
    /// The full document.
    pub fn full(&self) -> Value {
        let mut versions = Map::new();
        let mut time = Map::new();
        time.insert("created".into(), json!(npm_time(self.created)));
        time.insert("modified".into(), json!(npm_time(self.modified)));
        for version in &self.versions {
            versions.insert(
                version.version.clone(),
                Value::Object(version.document(&self.name)),
            );
            time.insert(version.version.clone(), json!(npm_time(version.published)));
        }
        let latest = self
            .dist_tags
            .get("latest")
            .and_then(|v| self.versions.iter().find(|pv| &pv.version == v));
        let mut doc = json!({
            "_id": self.name,
            "_rev": self.revision,
            "name": self.name,
            "dist-tags": self.dist_tags,
            "versions": versions,
            "time": time,
        });
        // The registry shows the latest version's descriptive fields at the top, as npm view reads them.
        if let Some(latest) = latest {
            for key in [
                "description",
                "readme",
                "license",
                "homepage",
                "repository",
                "keywords",
            ] {
                if let Some(value) = latest.manifest.get(key) {
                    doc[key] = value.clone();
                }
            }
        }
        doc
    }

    /// The abbreviated document: for each version only what installing needs.
    pub fn abbreviated(&self) -> Value {
        let versions: Map<String, Value> = self
            .versions
            .iter()
            .map(|version| {
                let doc = version.document(&self.name);
                let kept: Map<String, Value> = doc
                    .into_iter()
                    .filter(|(key, _)| INSTALL_FIELDS.contains(&key.as_str()))
                    .collect();
                (version.version.clone(), Value::Object(kept))
            })
            .collect();
        json!({
            "name": self.name,
            "modified": npm_time(self.modified),
            "dist-tags": self.dist_tags,
            "versions": versions,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: u32) -> NaiveDateTime {
        chrono::NaiveDate::from_ymd_opt(2026, 11, 23)
            .unwrap()
            .and_hms_milli_opt(14, 0, seconds, 250)
            .unwrap()
    }

    fn packument() -> Packument {
        let manifest = json!({
            "name": "@acme/widget",
            "version": "1.0.0",
            "description": "A widget",
            "dependencies": {"left-pad": "^1.0.0"},
            "scripts": {"postinstall": "node setup.js", "test": "true"},
            "readme": "long text",
            "_npmUser": {"name": "me"},
            "dist": {"tarball": "http://elsewhere/x.tgz"},
        });
        Packument {
            name: "@acme/widget".into(),
            versions: vec![PackumentVersion {
                version: "1.0.0".into(),
                manifest: manifest.as_object().unwrap().clone(),
                tarball_url: "http://h/company/acme/package/-/npm/@acme/widget/-/widget-1.0.0.tgz"
                    .into(),
                sha1: "ab".repeat(20),
                sha512: "00".repeat(64),
                published: at(5),
            }],
            dist_tags: BTreeMap::from([("latest".into(), "1.0.0".into())]),
            created: at(5),
            modified: at(7),
            revision: "1-abc".into(),
        }
    }

    #[test]
    fn full_documents_point_dist_back_here() {
        let doc = packument().full();
        let version = &doc["versions"]["1.0.0"];
        assert_eq!(doc["name"], "@acme/widget");
        assert_eq!(doc["_rev"], "1-abc");
        assert_eq!(doc["dist-tags"]["latest"], "1.0.0");
        assert_eq!(doc["description"], "A widget");
        assert_eq!(doc["time"]["1.0.0"], "2026-11-23T14:00:05.250Z");
        assert_eq!(version["_id"], "@acme/widget@1.0.0");
        assert_eq!(
            version["dist"]["tarball"],
            "http://h/company/acme/package/-/npm/@acme/widget/-/widget-1.0.0.tgz"
        );
        assert_eq!(version["dist"]["shasum"], "ab".repeat(20));
        assert!(
            version["dist"]["integrity"]
                .as_str()
                .unwrap()
                .starts_with("sha512-AAAA")
        );
        assert_eq!(version["hasInstallScript"], true);
        assert!(version.get("_npmUser").is_none());
        assert_eq!(version["readme"], "long text");
    }

    #[test]
    fn abbreviated_documents_keep_what_installing_needs() {
        let doc = packument().abbreviated();
        let version = doc["versions"]["1.0.0"].as_object().unwrap();
        assert_eq!(doc["modified"], "2026-11-23T14:00:07.250Z");
        assert!(doc.get("time").is_none());
        let mut keys: Vec<&str> = version.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "dependencies",
                "dist",
                "hasInstallScript",
                "name",
                "version"
            ]
        );
    }
}
