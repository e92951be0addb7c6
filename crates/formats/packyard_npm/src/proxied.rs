//! Packuments of upstream registries, as a virtual registry serves them: stored as the upstream sent
//! them, and rewritten when served so every tarball URL points at the virtual registry (built from the
//! request then, never stored, so a change of host breaks nothing), full or abbreviated.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};

use crate::packument::INSTALL_FIELDS;

/// The largest upstream packument a virtual registry reads: every version's document is in it, so
/// popular packages run to tens of megabytes. It is held in memory while it is served.
pub const PACKUMENT_MAX: u64 = 64 * 1024 * 1024;

/// Why an upstream's packument was refused.
#[derive(Debug)]
pub struct PackumentError(pub String);

impl std::fmt::Display for PackumentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the upstream's package document is invalid: {}", self.0)
    }
}

/// A tarball a packument names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TarballSource {
    /// Where the upstream serves it.
    pub url: String,
    /// Its sha512 in hex, from `dist.integrity`, when the packument declares one.
    pub sha512_hex: Option<String>,
    /// Its sha1 in hex, from `dist.shasum` (old packages declare nothing else).
    pub sha1_hex: Option<String>,
}

/// An upstream's packument.
#[derive(Debug, Clone)]
pub struct UpstreamPackument(Map<String, Value>);

/// The file name of a tarball URL: its last path segment.
fn file_name_of(url: &str) -> &str {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    path.rsplit('/').next().unwrap_or(path)
}

/// The hex sha512 of an SRI `integrity` value (`sha512-<base64>`, possibly beside other algorithms).
pub fn sha512_of_integrity(integrity: &str) -> Option<String> {
    integrity.split_whitespace().find_map(|part| {
        let encoded = part.strip_prefix("sha512-")?;
        let encoded = encoded.split('?').next().unwrap_or(encoded);
        let bytes = STANDARD.decode(encoded).ok()?;
        (bytes.len() == 64).then(|| hex::encode(bytes))
    })
}

impl UpstreamPackument {
    /// Reads a packument: a JSON object whose `versions`, when present, is an object.
    pub fn parse(body: &[u8]) -> Result<Self, PackumentError> {
        let value: Value =
            serde_json::from_slice(body).map_err(|e| PackumentError(e.to_string()))?;
        let Value::Object(document) = value else {
            return Err(PackumentError("not a JSON object".into()));
        };
        if document.get("versions").is_some_and(|v| !v.is_object()) {
            return Err(PackumentError("versions is not an object".into()));
        }
        Ok(Self(document))
    }

    fn versions(&self) -> impl Iterator<Item = &Map<String, Value>> {
        self.0
            .get("versions")
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(|versions| versions.values())
            .filter_map(Value::as_object)
    }

    /// The tarball of this file name, as some version's `dist.tarball` names it.
    pub fn tarball(&self, file_name: &str) -> Option<TarballSource> {
        self.versions().find_map(|version| {
            let dist = version.get("dist")?.as_object()?;
            let url = dist.get("tarball")?.as_str()?;
            (file_name_of(url) == file_name).then(|| TarballSource {
                url: url.to_owned(),
                sha512_hex: dist
                    .get("integrity")
                    .and_then(Value::as_str)
                    .and_then(sha512_of_integrity),
                sha1_hex: dist
                    .get("shasum")
                    .and_then(Value::as_str)
                    .filter(|h| h.len() == 40 && h.bytes().all(|b| b.is_ascii_hexdigit()))
                    .map(str::to_ascii_lowercase),
            })
        })
    }

    /// Points every version's `dist.tarball` at `tarballs` (up to the file name, ending in `/-/`).
    pub fn rewrite_tarballs(&mut self, tarballs: &str) {
        let versions = self.0.get_mut("versions").and_then(Value::as_object_mut);
        for version in versions.into_iter().flat_map(|v| v.values_mut()) {
            let dist = version
                .as_object_mut()
                .and_then(|v| v.get_mut("dist"))
                .and_then(Value::as_object_mut);
            if let Some(dist) = dist
                && let Some(url) = dist.get("tarball").and_then(Value::as_str)
            {
                let rewritten = format!("{tarballs}{}", file_name_of(url));
                dist.insert("tarball".into(), Value::String(rewritten));
            }
        }
    }

    /// The full document.
    pub fn to_full(&self) -> Vec<u8> {
        serde_json::to_vec(&self.0).unwrap_or_default()
    }

    /// The abbreviated document `npm install` asks for: the name, `modified`, dist-tags, and of each
    /// version what installing needs.
    pub fn to_abbreviated(&self) -> Vec<u8> {
        let mut document = Map::new();
        for key in ["name", "dist-tags"] {
            if let Some(value) = self.0.get(key) {
                document.insert(key.into(), value.clone());
            }
        }
        let modified = self
            .0
            .get("modified")
            .or_else(|| self.0.get("time").and_then(|t| t.get("modified")));
        if let Some(modified) = modified {
            document.insert("modified".into(), modified.clone());
        }
        let mut versions = Map::new();
        if let Some(all) = self.0.get("versions").and_then(Value::as_object) {
            for (number, version) in all {
                let Some(fields) = version.as_object() else {
                    continue;
                };
                let mut kept: Map<String, Value> = fields
                    .iter()
                    .filter(|(key, _)| INSTALL_FIELDS.contains(&key.as_str()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                let scripts = fields.get("scripts").and_then(Value::as_object);
                if scripts.is_some_and(|s| {
                    ["preinstall", "install", "postinstall"]
                        .iter()
                        .any(|k| s.contains_key(*k))
                }) {
                    kept.insert("hasInstallScript".into(), Value::Bool(true));
                }
                versions.insert(number.clone(), Value::Object(kept));
            }
        }
        document.insert("versions".into(), Value::Object(versions));
        serde_json::to_vec(&document).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

    use serde_json::json;

    use super::*;

    fn document() -> Value {
        let integrity = format!("sha512-{}", STANDARD.encode([7u8; 64]));
        json!({
            "_id": "@acme/left-pad",
            "name": "@acme/left-pad",
            "dist-tags": {"latest": "1.1.0"},
            "time": {"modified": "2026-01-02T00:00:00.000Z"},
            "readme": "long text",
            "versions": {
                "1.0.0": {
                    "name": "@acme/left-pad", "version": "1.0.0",
                    "dependencies": {"a": "^1"},
                    "readme": "long text",
                    "scripts": {"postinstall": "node x.js"},
                    "dist": {
                        "tarball": "http://up.example/@acme/left-pad/-/left-pad-1.0.0.tgz",
                        "integrity": integrity,
                        "shasum": "abc"
                    }
                },
                "1.1.0": {
                    "name": "@acme/left-pad", "version": "1.1.0",
                    "dist": {"tarball": "https://cdn.example/files/left-pad-1.1.0.tgz?x=1"}
                }
            }
        })
    }

    fn packument() -> UpstreamPackument {
        UpstreamPackument::parse(document().to_string().as_bytes()).unwrap()
    }

    #[test]
    fn finds_tarballs_by_file_name_with_their_integrity() {
        let packument = packument();
        assert_eq!(
            packument.tarball("left-pad-1.0.0.tgz"),
            Some(TarballSource {
                url: "http://up.example/@acme/left-pad/-/left-pad-1.0.0.tgz".into(),
                sha512_hex: Some(hex::encode([7u8; 64])),
                sha1_hex: None,
            })
        );
        assert_eq!(
            packument.tarball("left-pad-1.1.0.tgz").unwrap().sha512_hex,
            None
        );
        assert_eq!(packument.tarball("left-pad-2.0.0.tgz"), None);
    }

    #[test]
    fn rewrites_tarball_urls_and_keeps_the_rest() {
        let mut packument = packument();
        packument.rewrite_tarballs("https://packyard.example/npm/7/@acme/left-pad/-/");
        let full: Value = serde_json::from_slice(&packument.to_full()).unwrap();
        assert_eq!(
            full["versions"]["1.0.0"]["dist"]["tarball"],
            "https://packyard.example/npm/7/@acme/left-pad/-/left-pad-1.0.0.tgz"
        );
        assert_eq!(
            full["versions"]["1.1.0"]["dist"]["tarball"],
            "https://packyard.example/npm/7/@acme/left-pad/-/left-pad-1.1.0.tgz"
        );
        assert_eq!(full["readme"], "long text");
        assert_eq!(full["versions"]["1.0.0"]["dist"]["shasum"], "abc");
    }

    #[test]
    fn abbreviates_to_what_installing_needs() {
        let abbreviated: Value = serde_json::from_slice(&packument().to_abbreviated()).unwrap();
        assert_eq!(abbreviated["name"], "@acme/left-pad");
        assert_eq!(abbreviated["modified"], "2026-01-02T00:00:00.000Z");
        assert_eq!(abbreviated["dist-tags"]["latest"], "1.1.0");
        let version = &abbreviated["versions"]["1.0.0"];
        assert_eq!(version["dependencies"]["a"], "^1");
        assert_eq!(version["hasInstallScript"], true);
        assert!(version.get("readme").is_none());
        assert!(version.get("scripts").is_none());
        assert!(abbreviated.get("readme").is_none());
    }

    #[test]
    fn refuses_what_is_not_a_packument() {
        for bad in [&b"[]"[..], b"{\"versions\": []}", b"not json"] {
            assert!(UpstreamPackument::parse(bad).is_err());
        }
        assert_eq!(
            sha512_of_integrity("sha1-abc sha512-!!"),
            None,
            "a malformed digest is no digest"
        );
    }
}
