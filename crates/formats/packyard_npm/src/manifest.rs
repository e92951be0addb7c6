//! The manifest of a package tarball: `package/package.json` inside the `.tgz` npm packs.

use std::io::Read;

use serde_json::{Map, Value};

/// Largest `package.json` read out of a tarball.
pub const MAX_MANIFEST: u64 = 4 * 1024 * 1024;
/// Entries of a tarball looked at before giving up on finding `package/package.json`.
const MAX_ENTRIES: usize = 100_000;

/// Why a tarball was refused; the message is shown to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError(pub String);

impl std::fmt::Display for ManifestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn fail(message: impl Into<String>) -> ManifestError {
    ManifestError(message.into())
}

/// A tarball's `package.json`: an object with a string `name` and `version`.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest(pub Map<String, Value>);

impl Manifest {
    /// Checks that a document is an object with a string `name` and `version`.
    pub fn from_value(value: Value) -> Result<Self, ManifestError> {
        let Value::Object(fields) = value else {
            return Err(fail("package.json is not a JSON object"));
        };
        for key in ["name", "version"] {
            if !fields.get(key).is_some_and(Value::is_string) {
                return Err(fail(format!("package.json has no \"{key}\"")));
            }
        }
        Ok(Self(fields))
    }

    /// The package name it declares.
    pub fn name(&self) -> &str {
        self.0
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// The version it declares.
    pub fn version(&self) -> &str {
        self.0
            .get("version")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
}

/// Reads `package/package.json` out of a gzip-compressed tarball.
pub fn read_tarball_manifest(reader: impl Read) -> Result<Manifest, ManifestError> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(reader));
    let entries = archive
        .entries()
        .map_err(|e| fail(format!("the tarball could not be read: {e}")))?;
    for entry in entries.take(MAX_ENTRIES) {
        let entry = entry.map_err(|e| fail(format!("the tarball could not be read: {e}")))?;
        let path = entry
            .path()
            .map_err(|e| fail(format!("the tarball could not be read: {e}")))?
            .to_string_lossy()
            .trim_start_matches("./")
            .to_owned();
        if path != "package/package.json" {
            continue;
        }
        let mut text = Vec::new();
        entry
            .take(MAX_MANIFEST + 1)
            .read_to_end(&mut text)
            .map_err(|e| fail(format!("the tarball could not be read: {e}")))?;
        if text.len() as u64 > MAX_MANIFEST {
            return Err(fail(format!(
                "package/package.json is larger than {MAX_MANIFEST} bytes"
            )));
        }
        let value: Value = serde_json::from_slice(&text)
            .map_err(|e| fail(format!("package/package.json is not valid JSON: {e}")))?;
        return Manifest::from_value(value);
    }
    Err(fail("the tarball has no package/package.json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tarball(entries: &[(&str, &str)]) -> Vec<u8> {
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
    fn reads_the_manifest() {
        let bytes = tarball(&[
            ("package/index.js", "module.exports = 1;\n"),
            (
                "package/package.json",
                r#"{"name":"@acme/widget","version":"1.0.0"}"#,
            ),
        ]);
        let manifest = read_tarball_manifest(bytes.as_slice()).unwrap();
        assert_eq!(manifest.name(), "@acme/widget");
        assert_eq!(manifest.version(), "1.0.0");
    }

    #[test]
    fn refuses_what_is_not_a_package() {
        let missing = tarball(&[("package/index.js", "1")]);
        assert!(
            read_tarball_manifest(missing.as_slice())
                .unwrap_err()
                .0
                .contains("no package/package.json")
        );
        let malformed = tarball(&[("package/package.json", "{nope")]);
        assert!(
            read_tarball_manifest(malformed.as_slice())
                .unwrap_err()
                .0
                .contains("not valid JSON")
        );
        let nameless = tarball(&[("package/package.json", r#"{"version":"1.0.0"}"#)]);
        assert!(
            read_tarball_manifest(nameless.as_slice())
                .unwrap_err()
                .0
                .contains("\"name\"")
        );
        assert!(read_tarball_manifest(&b"not gzip"[..]).is_err());
    }
}
