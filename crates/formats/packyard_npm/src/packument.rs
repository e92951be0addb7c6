//! The registry's package documents ("packuments"): the full one (`application/json`) and the
//! abbreviated one npm asks for when it installs (`application/vnd.npm.install-v1+json`).

use std::collections::BTreeMap;
use std::fmt::Write as _;

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

/// What packyard itself says of a version in the documents, beside its published fields.
#[derive(Debug, Clone)]
pub struct VersionDist {
    /// The version.
    pub version: String,
    /// Where npm downloads its tarball.
    pub tarball_url: String,
    /// The tarball's sha1, hex.
    pub sha1: String,
    /// The tarball's sha512, hex.
    pub sha512: String,
}

/// A package's own fields in the documents.
#[derive(Debug, Clone)]
pub struct PackageHead {
    /// `name` or `@scope/name`.
    pub name: String,
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

/// A JSON string literal.
fn quoted(text: &str) -> String {
    Value::from(text).to_string()
}

/// Whether a version document makes npm run code at install time.
fn runs_install_scripts(manifest: &Map<String, Value>) -> bool {
    manifest
        .get("scripts")
        .and_then(Value::as_object)
        .is_some_and(|scripts| INSTALL_SCRIPTS.iter().any(|s| scripts.contains_key(*s)))
}

impl VersionDist {
    fn dist(&self) -> Value {
        let mut dist = json!({"tarball": self.tarball_url, "shasum": self.sha1});
        if let Some(integrity) = integrity_of(&self.sha512) {
            dist["integrity"] = json!(integrity);
        }
        dist
    }

    /// This version's entry in the full document, `"1.0.0":{…}`: the published fields (without the
    /// publisher's internal `_` fields), its identity, and `dist` pointing back at this registry.
    /// It is appended to `out`; the document is moved, not copied (a readme may be megabytes).
    pub fn write_full_entry(&self, name: &str, mut manifest: Map<String, Value>, out: &mut String) {
        let install_script = runs_install_scripts(&manifest);
        manifest.retain(|key, _| !key.starts_with('_') || key.as_str() == "_hasShrinkwrap");
        manifest.insert("name".into(), json!(name));
        manifest.insert("version".into(), json!(self.version));
        manifest.insert("_id".into(), json!(format!("{name}@{}", self.version)));
        manifest.insert("dist".into(), self.dist());
        if install_script {
            manifest.insert("hasInstallScript".into(), json!(true));
        }
        out.push_str(&quoted(&self.version));
        out.push(':');
        // Written straight into `out`, which cannot fail.
        let _ = write!(out, "{}", Value::Object(manifest));
    }

    /// This version's entry in the abbreviated document, spliced from its stored [`install_fields`]
    /// without parsing them: the documents npm install reads stay cheap however large the readmes.
    pub fn abbreviated_entry(&self, name: &str, install_fields: &str) -> String {
        let mut entry = format!(
            "{}:{{\"name\":{},\"version\":{},\"dist\":{}",
            quoted(&self.version),
            quoted(name),
            quoted(&self.version),
            self.dist()
        );
        // `install_fields` is an object this module wrote: its members go in as they are.
        let members = install_fields
            .trim()
            .strip_prefix('{')
            .and_then(|rest| rest.strip_suffix('}'))
            .unwrap_or_default();
        if !members.trim().is_empty() {
            entry.push(',');
            entry.push_str(members);
        }
        entry.push('}');
        entry
    }
}

/// The fields of a published version document that the abbreviated document keeps, as a JSON object,
/// without those packyard writes itself (name, version, dist): stored when the version is published,
/// so that `npm install`'s documents are served without reading the whole version documents.
pub fn install_fields(manifest: &Map<String, Value>) -> String {
    let mut kept: Map<String, Value> = manifest
        .iter()
        .filter(|(key, _)| {
            INSTALL_FIELDS.contains(&key.as_str())
                && !matches!(key.as_str(), "name" | "version" | "dist")
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if runs_install_scripts(manifest) {
        kept.insert("hasInstallScript".into(), json!(true));
    }
    Value::Object(kept).to_string()
}

/// Where the abbreviated document's version entries end: the document is written in pieces.
pub const ABBREVIATED_CLOSING: &str = "}}";

impl PackageHead {
    /// The abbreviated document up to its version entries.
    pub fn abbreviated_opening(&self) -> String {
        format!(
            "{{\"name\":{},\"modified\":{},\"dist-tags\":{},\"versions\":{{",
            quoted(&self.name),
            quoted(&npm_time(self.modified)),
            json!(self.dist_tags)
        )
    }

    /// The full document up to its version entries, with the latest version's descriptive fields at
    /// the top, as `npm view` reads them.
    pub fn full_opening(&self, latest: Option<&Map<String, Value>>) -> String {
        let mut doc = json!({
            "_id": self.name,
            "_rev": self.revision,
            "name": self.name,
            "dist-tags": self.dist_tags,
        });
        for key in [
            "description",
            "readme",
            "license",
            "homepage",
            "repository",
            "keywords",
        ] {
            if let Some(value) = latest.and_then(|latest| latest.get(key)) {
                doc[key] = value.clone();
            }
        }
        let mut opening = doc.to_string();
        opening.pop();
        opening.push_str(",\"versions\":{");
        opening
    }

    /// The full document after its version entries: the publication times.
    pub fn full_closing(&self, published: &[(String, NaiveDateTime)]) -> String {
        let mut time = Map::new();
        time.insert("created".into(), json!(npm_time(self.created)));
        time.insert("modified".into(), json!(npm_time(self.modified)));
        for (version, at) in published {
            time.insert(version.clone(), json!(npm_time(*at)));
        }
        format!("}},\"time\":{}}}", Value::Object(time))
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

    fn manifest() -> Map<String, Value> {
        json!({
            "name": "@acme/widget",
            "version": "1.0.0",
            "description": "A widget",
            "dependencies": {"left-pad": "^1.0.0"},
            "scripts": {"postinstall": "node setup.js", "test": "true"},
            "readme": "long text",
            "_npmUser": {"name": "me"},
            "dist": {"tarball": "http://elsewhere/x.tgz"},
        })
        .as_object()
        .unwrap()
        .clone()
    }

    fn head() -> PackageHead {
        PackageHead {
            name: "@acme/widget".into(),
            dist_tags: BTreeMap::from([("latest".into(), "1.0.0".into())]),
            created: at(5),
            modified: at(7),
            revision: "1-abc".into(),
        }
    }

    fn dist(version: &str) -> VersionDist {
        VersionDist {
            version: version.into(),
            tarball_url: format!(
                "http://h/company/acme/package/-/npm/@acme/widget/-/widget-{version}.tgz"
            ),
            sha1: "ab".repeat(20),
            sha512: "00".repeat(64),
        }
    }

    /// A document written in pieces, as the route streams it, read back as npm reads it.
    fn assembled(opening: String, entries: &[String], closing: &str) -> Value {
        let text = format!("{opening}{}{closing}", entries.join(","));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
    }

    #[test]
    fn full_documents_point_dist_back_here() {
        let head = head();
        let mut entry = String::new();
        dist("1.0.0").write_full_entry(&head.name, manifest(), &mut entry);
        let doc = assembled(
            head.full_opening(Some(&manifest())),
            &[entry],
            &head.full_closing(&[("1.0.0".into(), at(5))]),
        );
        let version = &doc["versions"]["1.0.0"];
        assert_eq!(doc["name"], "@acme/widget");
        assert_eq!(doc["_rev"], "1-abc");
        assert_eq!(doc["dist-tags"]["latest"], "1.0.0");
        assert_eq!(doc["description"], "A widget");
        assert_eq!(doc["readme"], "long text");
        assert_eq!(doc["time"]["1.0.0"], "2026-11-23T14:00:05.250Z");
        assert_eq!(doc["time"]["modified"], "2026-11-23T14:00:07.250Z");
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
        let head = head();
        let stored = install_fields(&manifest());
        assert!(!stored.contains("long text"), "{stored}");
        let entries = [
            dist("1.0.0").abbreviated_entry(&head.name, &stored),
            dist("2.0.0").abbreviated_entry(&head.name, &install_fields(&Map::new())),
        ];
        let doc = assembled(head.abbreviated_opening(), &entries, ABBREVIATED_CLOSING);
        assert_eq!(doc["modified"], "2026-11-23T14:00:07.250Z");
        assert_eq!(doc["dist-tags"]["latest"], "1.0.0");
        assert!(doc.get("time").is_none());
        let version = doc["versions"]["1.0.0"].as_object().unwrap();
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
        assert_eq!(version["dependencies"]["left-pad"], "^1.0.0");
        assert_eq!(version["name"], "@acme/widget");
        assert_eq!(
            version["dist"]["tarball"],
            "http://h/company/acme/package/-/npm/@acme/widget/-/widget-1.0.0.tgz"
        );
        let bare = doc["versions"]["2.0.0"].as_object().unwrap();
        assert_eq!(bare.len(), 3, "{bare:?}");
        assert_eq!(bare["version"], "2.0.0");
    }

    #[test]
    fn names_and_versions_that_need_escaping_stay_valid_json() {
        let head = PackageHead {
            name: "quote\"d".into(),
            ..head()
        };
        let mut odd = dist("1.0.0-\"x\"");
        odd.tarball_url = "http://h/\\/x.tgz".into();
        let entry = odd.abbreviated_entry(&head.name, &install_fields(&manifest()));
        let doc = assembled(head.abbreviated_opening(), &[entry], ABBREVIATED_CLOSING);
        assert_eq!(doc["name"], "quote\"d");
        assert_eq!(
            doc["versions"]["1.0.0-\"x\""]["dist"]["tarball"],
            "http://h/\\/x.tgz"
        );
    }
}
