//! The registry's package documents ("packuments"): the full one (`application/json`) and the
//! abbreviated one npm asks for when it installs (`application/vnd.npm.install-v1+json`).

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use chrono::NaiveDateTime;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

/// The media type of the abbreviated document.
pub const ABBREVIATED: &str = "application/vnd.npm.install-v1+json";

/// The fields of a version the abbreviated document keeps: what installing needs.
pub(crate) const INSTALL_FIELDS: &[&str] = &[
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

/// A stored version document, read without building it: its top-level fields are slices of its text,
/// so a readme of megabytes is neither parsed into a tree nor copied when it is served.
pub struct StoredDocument {
    text: Bytes,
}

/// A stored document's top-level fields, by name.
type Fields<'a> = BTreeMap<String, &'a RawValue>;

impl StoredDocument {
    /// The document as stored; none reads as an empty one.
    pub fn new(text: Option<String>) -> Self {
        Self {
            text: text.map(Bytes::from).unwrap_or_default(),
        }
    }

    /// Its top-level fields; none when it is not a JSON object.
    fn fields(&self) -> Fields<'_> {
        std::str::from_utf8(&self.text)
            .ok()
            .and_then(|text| serde_json::from_str(text).ok())
            .unwrap_or_default()
    }

    /// Writes a document's pieces, slicing values out of this one.
    fn pieces(&self) -> Pieces<'_> {
        Pieces {
            source: &self.text,
            done: Vec::new(),
            buffer: String::new(),
            opened: false,
        }
    }
}

/// Values at least this long are sent as slices of the stored text; shorter ones are copied into the
/// piece being written, so that a document is a few pieces, not one per field.
const SLICED_FROM: usize = 16 * 1024;

/// A JSON text written in pieces: what packyard writes is gathered into a buffer, large values of the
/// stored document are slices of it.
struct Pieces<'a> {
    source: &'a Bytes,
    done: Vec<Bytes>,
    buffer: String,
    /// The text written last opened an object: its first field takes no comma.
    opened: bool,
}

impl Pieces<'_> {
    fn text(&mut self, text: &str) {
        self.buffer.push_str(text);
        self.opened = text.ends_with('{');
    }

    /// `"key":value`, preceded by a comma unless it opens an object.
    fn field(&mut self, key: &str, value: &RawValue) {
        if !std::mem::take(&mut self.opened) {
            self.buffer.push(',');
        }
        self.buffer.push_str(&quoted(key));
        self.buffer.push(':');
        let value = value.get();
        if value.len() < SLICED_FROM {
            self.buffer.push_str(value);
        } else {
            self.flush();
            self.done.push(self.source.slice_ref(value.as_bytes()));
        }
    }

    fn flush(&mut self) {
        if !self.buffer.is_empty() {
            self.done.push(std::mem::take(&mut self.buffer).into());
        }
    }

    /// The pieces, in order.
    pub fn finish(mut self) -> Vec<Bytes> {
        self.flush();
        self.done
    }
}

/// A value packyard writes, as raw JSON.
fn raw(value: Value) -> Box<RawValue> {
    // Serialising a `Value` cannot fail.
    serde_json::value::to_raw_value(&value).unwrap_or_else(|_| RawValue::NULL.to_owned())
}

/// Whether a version document makes npm run code at install time.
fn runs_install_scripts(scripts: Option<&Value>) -> bool {
    scripts
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
    /// publisher's internal `_` fields), its identity, and `dist` pointing back at this registry. The
    /// published fields are slices of the stored document (a readme may be megabytes).
    pub fn full_entry(&self, name: &str, stored: &StoredDocument) -> Vec<Bytes> {
        let mut published = stored.fields();
        let scripts: Option<Value> = published
            .get("scripts")
            .and_then(|scripts| serde_json::from_str(scripts.get()).ok());
        let install_script = runs_install_scripts(scripts.as_ref());
        // What packyard writes itself replaces the published fields; the publisher's `_` fields go.
        published.retain(|key, _| {
            let internal = key.starts_with('_') && key != "_hasShrinkwrap";
            let replaced = matches!(key.as_str(), "name" | "version" | "dist")
                || install_script && key == "hasInstallScript";
            !internal && !replaced
        });
        let mut own = vec![
            ("name", raw(json!(name))),
            ("version", raw(json!(self.version))),
            ("_id", raw(json!(format!("{name}@{}", self.version)))),
            ("dist", raw(self.dist())),
        ];
        if install_script {
            own.push(("hasInstallScript", raw(json!(true))));
        }
        let mut out = stored.pieces();
        out.text(&quoted(&self.version));
        out.text(":{");
        for (key, value) in &own {
            out.field(key, value);
        }
        for (key, value) in published {
            out.field(&key, value);
        }
        out.text("}");
        out.finish()
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
    if runs_install_scripts(manifest.get("scripts")) {
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
    /// the top, as `npm view` reads them (sliced out of its stored document).
    pub fn full_opening(&self, latest: &StoredDocument) -> Vec<Bytes> {
        let fields = latest.fields();
        let mut out = latest.pieces();
        out.text("{");
        out.field("_id", &raw(json!(self.name)));
        out.field("_rev", &raw(json!(self.revision)));
        out.field("name", &raw(json!(self.name)));
        out.field("dist-tags", &raw(json!(self.dist_tags)));
        for key in [
            "description",
            "readme",
            "license",
            "homepage",
            "repository",
            "keywords",
        ] {
            if let Some(value) = fields.get(key) {
                out.field(key, value);
            }
        }
        out.text(",\"versions\":{");
        out.finish()
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

    fn joined(pieces: Vec<Bytes>) -> String {
        String::from_utf8(pieces.concat()).unwrap()
    }

    #[test]
    fn full_documents_point_dist_back_here() {
        let head = head();
        let stored = StoredDocument::new(Some(Value::Object(manifest()).to_string()));
        let entry = dist("1.0.0").full_entry(&head.name, &stored);
        let doc = assembled(
            joined(head.full_opening(&stored)),
            &[joined(entry)],
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
    fn large_fields_are_sent_as_slices_of_the_stored_document() {
        let readme = "r".repeat(SLICED_FROM * 4);
        let mut published = manifest();
        published.insert("readme".into(), json!(readme));
        let text = Value::Object(published).to_string();
        let stored = StoredDocument::new(Some(text));
        let entry = dist("1.0.0").full_entry("@acme/widget", &stored);
        let quoted_readme = quoted(&readme);
        let slice = entry
            .iter()
            .find(|piece| piece.len() == quoted_readme.len())
            .expect("the readme is a piece of its own");
        assert!(
            stored.text.as_ptr_range().contains(&slice.as_ptr()),
            "the readme is sliced out of the stored text, not copied"
        );
        let doc: Value = serde_json::from_str(&format!("{{{}}}", joined(entry))).unwrap();
        assert_eq!(doc["1.0.0"]["readme"], json!(readme));
        assert_eq!(doc["1.0.0"]["description"], "A widget");
    }

    #[test]
    fn documents_that_are_not_objects_read_as_empty_ones() {
        for stored in [None, Some("not json".to_owned()), Some("[1,2]".to_owned())] {
            let entry = dist("1.0.0").full_entry("demo", &StoredDocument::new(stored));
            let doc: Value = serde_json::from_str(&format!("{{{}}}", joined(entry))).unwrap();
            assert_eq!(doc["1.0.0"]["name"], "demo");
            assert_eq!(doc["1.0.0"].as_object().unwrap().len(), 4);
        }
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
