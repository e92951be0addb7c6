//! Core metadata (`METADATA` in a wheel, `PKG-INFO` in an sdist): reading it out of a distribution
//! and parsing its email-header format.

use std::io::Read;

use packyard_core::archive::{Zip, ZipReadError};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// Largest metadata document read out of a distribution.
pub const MAX_METADATA: u64 = 4 * 1024 * 1024;
/// Entries of an sdist looked at before giving up on finding `PKG-INFO`.
const MAX_SDIST_ENTRIES: usize = 100_000;

/// Why a distribution was refused; the message is shown to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataError(pub String);

impl std::fmt::Display for MetadataError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn fail(message: impl Into<String>) -> MetadataError {
    MetadataError(message.into())
}

/// Parsed core metadata: every header with its values in order, the description body, and the text
/// it was parsed from (served as is to resolvers under PEP 658).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CoreMetadata {
    headers: Vec<(String, String)>,
    /// The body after the headers (the long description), if any.
    pub description: Option<String>,
    text: String,
}

impl CoreMetadata {
    /// Parses the email-header format: `Key: value` lines, continuation lines starting with
    /// whitespace, an empty line before the body. `Metadata-Version`, `Name` and `Version` are required.
    pub fn parse(text: &str) -> Result<Self, MetadataError> {
        let mut headers: Vec<(String, String)> = Vec::new();
        let mut lines = text.split('\n');
        let mut description = None;
        while let Some(line) = lines.next() {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.is_empty() {
                let rest: Vec<&str> = lines.collect();
                let body = rest.join("\n");
                description = (!body.trim().is_empty()).then_some(body);
                break;
            }
            if line.starts_with([' ', '\t']) {
                let Some((_, value)) = headers.last_mut() else {
                    return Err(fail("metadata starts with a continuation line"));
                };
                value.push('\n');
                value.push_str(line.trim());
                continue;
            }
            let Some((key, value)) = line.split_once(':') else {
                return Err(fail(format!("metadata line is not a header: {line:?}")));
            };
            if key.is_empty() || key.contains(char::is_whitespace) {
                return Err(fail(format!("metadata header name is invalid: {key:?}")));
            }
            headers.push((key.to_owned(), value.trim().to_owned()));
        }
        let metadata = Self {
            headers,
            description,
            text: text.to_owned(),
        };
        for required in ["Metadata-Version", "Name", "Version"] {
            if metadata.get(required).is_none_or(str::is_empty) {
                return Err(fail(format!("metadata has no {required}")));
            }
        }
        Ok(metadata)
    }

    /// The first value of a header (names compare case-insensitively).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a header, in order.
    pub fn get_all(&self, key: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The document exactly as it was read.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The sha256 (hex) of [`Self::text`]: what an index declares for the served metadata file.
    pub fn sha256(&self) -> String {
        hex::encode(Sha256::digest(self.text.as_bytes()))
    }

    /// `Name`.
    pub fn name(&self) -> &str {
        self.get("Name").unwrap_or_default()
    }

    /// `Version`.
    pub fn version(&self) -> &str {
        self.get("Version").unwrap_or_default()
    }

    /// `Requires-Python`, when given.
    pub fn requires_python(&self) -> Option<&str> {
        self.get("Requires-Python").filter(|v| !v.is_empty())
    }

    /// The fields kept with a version, as JSON (names as the JSON API spells them).
    pub fn to_json(&self) -> Value {
        let mut object = Map::new();
        for (key, name) in [
            ("Metadata-Version", "metadata_version"),
            ("Name", "name"),
            ("Version", "version"),
            ("Summary", "summary"),
            ("Home-page", "home_page"),
            ("Author", "author"),
            ("Author-email", "author_email"),
            ("License", "license"),
            ("License-Expression", "license_expression"),
            ("Requires-Python", "requires_python"),
            ("Description-Content-Type", "description_content_type"),
        ] {
            if let Some(value) = self.get(key) {
                object.insert(name.to_owned(), json!(value));
            }
        }
        for (key, name) in [
            ("Requires-Dist", "requires_dist"),
            ("Classifier", "classifiers"),
            ("Project-URL", "project_urls"),
            ("Provides-Extra", "provides_extra"),
        ] {
            let values = self.get_all(key);
            if !values.is_empty() {
                object.insert(name.to_owned(), json!(values));
            }
        }
        Value::Object(object)
    }
}

fn read_capped(reader: impl Read, what: &str) -> Result<String, MetadataError> {
    let mut bytes = Vec::new();
    reader
        .take(MAX_METADATA + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(format!("{what} could not be read: {e}")))?;
    if bytes.len() as u64 > MAX_METADATA {
        return Err(fail(format!("{what} is larger than {MAX_METADATA} bytes")));
    }
    String::from_utf8(bytes).map_err(|_| fail(format!("{what} is not UTF-8")))
}

/// The `METADATA` of a wheel: the one `*.dist-info/METADATA` at the top of the zip.
pub fn read_wheel_metadata(file: impl Read + std::io::Seek) -> Result<CoreMetadata, MetadataError> {
    let not_a_zip = |e: String| format!("the wheel is not a zip: {e}");
    let archive = Zip::open(file).map_err(|e| fail(e.explained(not_a_zip)))?;
    let candidates = archive
        .pick(|name| {
            name.split_once('/').is_some_and(|(dir, rest)| {
                dir.ends_with(".dist-info") && dir.len() > ".dist-info".len() && rest == "METADATA"
            })
        })
        .map_err(|e| fail(not_a_zip(e)))?;
    let [metadata] = candidates.as_slice() else {
        return Err(fail(if candidates.is_empty() {
            "the wheel has no .dist-info/METADATA".to_owned()
        } else {
            "the wheel has more than one .dist-info/METADATA".to_owned()
        }));
    };
    let name = &metadata.name;
    let bytes = archive.read(metadata, MAX_METADATA).map_err(|e| match e {
        ZipReadError::TooLarge => fail(format!("{name} is larger than {MAX_METADATA} bytes")),
        ZipReadError::Unreadable(e) => fail(format!("{name} could not be read: {e}")),
    })?;
    let text = String::from_utf8(bytes).map_err(|_| fail(format!("{name} is not UTF-8")))?;
    CoreMetadata::parse(&text)
}

/// The `PKG-INFO` of an sdist: the one in its top-level folder of the gzipped tar.
pub fn read_sdist_metadata(file: impl Read) -> Result<CoreMetadata, MetadataError> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let entries = archive
        .entries()
        .map_err(|e| fail(format!("the sdist is not a gzipped tar: {e}")))?;
    for entry in entries.take(MAX_SDIST_ENTRIES) {
        let entry = entry.map_err(|e| fail(format!("the sdist is not a gzipped tar: {e}")))?;
        let path = entry
            .path()
            .map_err(|e| fail(format!("the sdist has an invalid path: {e}")))?
            .into_owned();
        let parts: Vec<_> = path.components().collect();
        let is_pkg_info = parts.len() == 2
            && matches!(parts[0], std::path::Component::Normal(_))
            && parts[1].as_os_str() == "PKG-INFO";
        if is_pkg_info {
            return CoreMetadata::parse(&read_capped(entry, "PKG-INFO")?);
        }
    }
    Err(fail("the sdist has no PKG-INFO in its top-level folder"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const METADATA: &str = "Metadata-Version: 2.1\nName: Demo.Pkg\nVersion: 1.0\n\
        Summary: A demo\nRequires-Python: >=3.8\nRequires-Dist: attrs>=1\nRequires-Dist: idna\n\
        Classifier: A\n  continued\n\nLong description\n";

    #[test]
    fn parses_headers_continuations_and_the_body() {
        let metadata = CoreMetadata::parse(METADATA).unwrap();
        assert_eq!(metadata.name(), "Demo.Pkg");
        assert_eq!(metadata.version(), "1.0");
        assert_eq!(metadata.requires_python(), Some(">=3.8"));
        assert_eq!(metadata.get_all("requires-dist"), ["attrs>=1", "idna"]);
        assert_eq!(metadata.get("Classifier"), Some("A\ncontinued"));
        assert_eq!(metadata.description.as_deref(), Some("Long description\n"));
        let json = metadata.to_json();
        assert_eq!(json["requires_dist"], json!(["attrs>=1", "idna"]));
        assert_eq!(json["summary"], "A demo");
        assert_eq!(metadata.text(), METADATA);
        assert_eq!(
            metadata.sha256(),
            "48927fe521699b191e8e06a6c72b5a326f69afb26f48974ebe287c7c1e396f75"
        );
    }

    #[test]
    fn refuses_metadata_without_required_fields_or_with_garbage() {
        assert!(CoreMetadata::parse("Metadata-Version: 2.1\nName: x\n").is_err());
        assert!(CoreMetadata::parse("not a header\n").is_err());
        assert!(CoreMetadata::parse(" continuation\n").is_err());
    }

    fn wheel(entries: &[(&str, &str)]) -> std::io::Cursor<Vec<u8>> {
        let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, text) in entries {
            writer
                .start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            std::io::Write::write_all(&mut writer, text.as_bytes()).unwrap();
        }
        let mut cursor = writer.finish().unwrap();
        cursor.set_position(0);
        cursor
    }

    #[test]
    fn reads_a_wheel_metadata() {
        let file = wheel(&[
            ("demo/__init__.py", ""),
            ("demo_pkg-1.0.dist-info/METADATA", METADATA),
        ]);
        assert_eq!(read_wheel_metadata(file).unwrap().name(), "Demo.Pkg");
        let empty = wheel(&[("demo/__init__.py", "")]);
        assert_eq!(
            read_wheel_metadata(empty).unwrap_err().0,
            "the wheel has no .dist-info/METADATA"
        );
        assert!(read_wheel_metadata(std::io::Cursor::new(b"not a zip".to_vec())).is_err());
    }

    fn sdist(entries: &[(&str, &str)]) -> Vec<u8> {
        let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        let mut builder = tar::Builder::new(encoder);
        for (path, text) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_size(text.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder
                .append_data(&mut header, path, text.as_bytes())
                .unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap()
    }

    #[test]
    fn reads_an_sdist_pkg_info() {
        let file = sdist(&[
            ("demo_pkg-1.0/setup.py", ""),
            ("demo_pkg-1.0/src/PKG-INFO", "garbage"),
            ("demo_pkg-1.0/PKG-INFO", METADATA),
        ]);
        assert_eq!(read_sdist_metadata(&file[..]).unwrap().version(), "1.0");
        let without = sdist(&[("demo_pkg-1.0/setup.py", "")]);
        assert!(read_sdist_metadata(&without[..]).is_err());
        assert!(read_sdist_metadata(&b"plain text"[..]).is_err());
    }
}
