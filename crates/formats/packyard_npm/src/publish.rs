//! The JSON body of `npm publish`: the package name, one version document, its dist-tags and the
//! tarball as a base64 attachment (read here without its data, which [`crate::attachment`] decodes).

use std::collections::BTreeMap;
use std::io::Read;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use packyard_domain::FileDigests;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::{Map, Value};

/// Why a publish body was refused; the message is shown to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishError(pub String);

impl std::fmt::Display for PublishError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn fail(message: impl Into<String>) -> PublishError {
    PublishError(message.into())
}

#[derive(Deserialize)]
struct Attachment {
    /// Skipped without being kept: [`crate::attachment`] decodes it out of the spooled document.
    #[serde(default)]
    data: Option<IgnoredAny>,
    #[serde(default)]
    length: Option<u64>,
}

#[derive(Deserialize)]
struct Document {
    name: String,
    #[serde(default)]
    versions: Map<String, Value>,
    #[serde(default, rename = "dist-tags")]
    dist_tags: BTreeMap<String, String>,
    #[serde(default, rename = "_attachments")]
    attachments: BTreeMap<String, Attachment>,
}

/// What a `PUT` of a package document asks for.
#[derive(Debug)]
pub enum PackageUpdate {
    /// `npm publish`: a new version with its tarball.
    Publish(Publication),
    /// The whole document sent back without attachments (`npm deprecate`, and `npm unpublish` of one
    /// version): the versions it keeps, each with its deprecation message (`None` for none), and its
    /// dist-tags.
    Document {
        /// The package name the body names.
        name: String,
        /// Version → deprecation message.
        messages: BTreeMap<String, Option<String>>,
        /// The dist-tags.
        dist_tags: BTreeMap<String, String>,
    },
}

impl PackageUpdate {
    /// Reads the body of a `PUT /{name}`.
    pub fn read(reader: impl Read) -> Result<Self, PublishError> {
        let document: Document = serde_json::from_reader(reader)
            .map_err(|e| fail(format!("the publish document is not valid: {e}")))?;
        if !document.attachments.is_empty() {
            return Publication::from_document(document).map(PackageUpdate::Publish);
        }
        if document.versions.is_empty() {
            return Err(fail(
                "the document has no _attachments and no versions: nothing to publish or deprecate",
            ));
        }
        let messages = document
            .versions
            .iter()
            .map(|(version, manifest)| {
                let message = manifest
                    .get("deprecated")
                    .and_then(Value::as_str)
                    .filter(|m| !m.is_empty())
                    .map(str::to_owned);
                (version.clone(), message)
            })
            .collect();
        Ok(PackageUpdate::Document {
            name: document.name,
            messages,
            dist_tags: document.dist_tags,
        })
    }
}

/// A checked publish body: one version with its tarball.
#[derive(Debug)]
pub struct Publication {
    /// The package name the body names.
    pub name: String,
    /// The version published.
    pub version: String,
    /// Its version document (`package.json` fields and `dist`).
    pub manifest: Map<String, Value>,
    /// Tags to point at it.
    pub dist_tags: BTreeMap<String, String>,
    /// The attachment's file name.
    pub file_name: String,
    /// The tarball's length the client declared.
    length: Option<u64>,
}

impl Publication {
    /// Reads a publish body. It must carry exactly one version and one attachment.
    pub fn read(reader: impl Read) -> Result<Self, PublishError> {
        let document: Document = serde_json::from_reader(reader)
            .map_err(|e| fail(format!("the publish document is not valid: {e}")))?;
        Self::from_document(document)
    }

    fn from_document(document: Document) -> Result<Self, PublishError> {
        if document.attachments.is_empty() {
            return Err(fail("the document has no _attachments: nothing to publish"));
        }
        if document.versions.len() != 1 || document.attachments.len() != 1 {
            return Err(fail(
                "a publish document carries exactly one version and one attachment",
            ));
        }
        let Some((version, Value::Object(manifest))) = document.versions.into_iter().next() else {
            return Err(fail("the version document is not a JSON object"));
        };
        let Some((file_name, attachment)) = document.attachments.into_iter().next() else {
            return Err(fail("the attachment is missing"));
        };
        if attachment.data.is_none() {
            return Err(fail(format!("the attachment {file_name} has no data")));
        }
        if manifest.get("version").and_then(Value::as_str) != Some(version.as_str()) {
            return Err(fail(format!(
                "the version document of {version} declares another version"
            )));
        }
        if manifest.get("name").and_then(Value::as_str) != Some(document.name.as_str()) {
            return Err(fail(format!(
                "the version document of {version} declares another package name"
            )));
        }
        for (tag, tagged) in &document.dist_tags {
            if tagged != &version {
                return Err(fail(format!(
                    "dist-tag {tag} points at {tagged}, which this document does not publish"
                )));
            }
        }
        Ok(Self {
            name: document.name,
            version,
            manifest,
            dist_tags: document.dist_tags,
            file_name,
            length: attachment.length,
        })
    }

    /// Checks the tarball's digests against what the version's `dist` declares (`integrity` and
    /// `shasum`); a missing declaration passes.
    pub fn check_dist(&self, digests: &FileDigests) -> Result<(), PublishError> {
        if let Some(length) = self.length
            && i64::try_from(length).ok() != Some(digests.size)
        {
            return Err(fail(format!(
                "the attachment's length {length} does not match its data ({} bytes)",
                digests.size
            )));
        }
        let dist = self.manifest.get("dist");
        if let Some(shasum) = dist.and_then(|d| d.get("shasum")).and_then(Value::as_str)
            && !shasum.eq_ignore_ascii_case(&digests.sha1)
        {
            return Err(fail(format!(
                "the tarball's sha1 {} does not match dist.shasum {shasum}",
                digests.sha1
            )));
        }
        let integrity = dist
            .and_then(|d| d.get("integrity"))
            .and_then(Value::as_str);
        let sha512s: Vec<&str> = integrity
            .map(|text| {
                text.split_whitespace()
                    .filter_map(|entry| entry.strip_prefix("sha512-"))
                    .map(|b64| b64.split('?').next().unwrap_or(b64))
                    .collect()
            })
            .unwrap_or_default();
        if !sha512s.is_empty() {
            let actual = hex::decode(&digests.sha512)
                .map(|bytes| STANDARD.encode(bytes))
                .unwrap_or_default();
            if !sha512s.contains(&actual.as_str()) {
                return Err(fail(format!(
                    "the tarball's integrity sha512-{actual} does not match dist.integrity"
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(data: &str, shasum: &str) -> String {
        json!({
            "_id": "demo",
            "name": "demo",
            "dist-tags": {"latest": "1.0.0"},
            "versions": {"1.0.0": {"name": "demo", "version": "1.0.0", "dist": {"shasum": shasum}}},
            "_attachments": {"demo-1.0.0.tgz": {"content_type": "application/octet-stream", "data": data, "length": 5}},
        })
        .to_string()
    }

    #[test]
    fn reads_one_version_and_its_tarball() {
        let publication = Publication::read(body("aGVsbG8=", "x").as_bytes()).unwrap();
        assert_eq!(publication.name, "demo");
        assert_eq!(publication.version, "1.0.0");
        assert_eq!(publication.file_name, "demo-1.0.0.tgz");
        let mut bytes = Vec::new();
        crate::attachment::decode_attachment(body("aGVsbG8=", "x").as_bytes(), |chunk| {
            bytes.extend_from_slice(&chunk);
            true
        })
        .unwrap();
        assert_eq!(bytes, b"hello");
    }

    #[test]
    fn refuses_malformed_documents() {
        assert!(Publication::read(&b"{"[..]).is_err());
        let no_attachment = json!({"name": "demo", "versions": {}}).to_string();
        assert!(
            Publication::read(no_attachment.as_bytes())
                .unwrap_err()
                .0
                .contains("_attachments")
        );
        let mut no_data: Value = serde_json::from_str(&body("aGVsbG8=", "x")).unwrap();
        no_data["_attachments"]["demo-1.0.0.tgz"]
            .as_object_mut()
            .unwrap()
            .remove("data");
        assert!(
            Publication::read(no_data.to_string().as_bytes())
                .unwrap_err()
                .0
                .contains("has no data")
        );
    }

    #[test]
    fn documents_without_attachments_deprecate() {
        let document = json!({
            "name": "demo",
            "versions": {
                "1.0.0": {"name": "demo", "version": "1.0.0", "deprecated": "use 2"},
                "2.0.0": {"name": "demo", "version": "2.0.0", "deprecated": ""},
            },
        })
        .to_string();
        let PackageUpdate::Document { name, messages, .. } =
            PackageUpdate::read(document.as_bytes()).unwrap()
        else {
            panic!("a deprecation");
        };
        assert_eq!(name, "demo");
        assert_eq!(messages["1.0.0"].as_deref(), Some("use 2"));
        assert_eq!(messages["2.0.0"], None);
        assert!(matches!(
            PackageUpdate::read(body("aGVsbG8=", "x").as_bytes()).unwrap(),
            PackageUpdate::Publish(_)
        ));
        let empty = json!({"name": "demo"}).to_string();
        assert!(PackageUpdate::read(empty.as_bytes()).is_err());
    }

    #[test]
    fn checks_declared_digests() {
        let publication = Publication::read(body("aGVsbG8=", "0bad").as_bytes()).unwrap();
        let digests = FileDigests {
            sha256: String::new(),
            sha1: "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d".into(),
            md5: String::new(),
            sha512: String::new(),
            size: 5,
        };
        assert!(
            publication
                .check_dist(&digests)
                .unwrap_err()
                .0
                .contains("dist.shasum")
        );
    }
}
