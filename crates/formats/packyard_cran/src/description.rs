//! `DESCRIPTION` and `PACKAGES`: the DCF format, package names and versions, reading the
//! `DESCRIPTION` out of a source tarball, and rendering the repository index.

use std::cmp::Ordering;
use std::collections::HashSet;
use std::io::Read;

use packyard_core::archive::{Zip, ZipReadError};
use serde_json::{Map, Value};

/// Largest `DESCRIPTION` read out of a package.
pub const MAX_DESCRIPTION: u64 = 1024 * 1024;
/// Entries of a tarball looked at before giving up on finding `<pkg>/DESCRIPTION`.
const MAX_ENTRIES: usize = 100_000;

/// The fields a `PACKAGES` stanza carries, in the order `tools::write_PACKAGES` writes them, then
/// the two CRAN adds (`MD5sum` is the file's, not the DESCRIPTION's).
const INDEX_FIELDS: [&str; 15] = [
    "Package",
    "Version",
    "Priority",
    "Depends",
    "Imports",
    "LinkingTo",
    "Suggests",
    "Enhances",
    "License",
    "License_is_FOSS",
    "License_restricts_use",
    "OS_type",
    "Archs",
    "NeedsCompilation",
    "Built",
];

/// Why a package was refused; the message is shown to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescriptionError(pub String);

impl std::fmt::Display for DescriptionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn fail(message: impl Into<String>) -> DescriptionError {
    DescriptionError(message.into())
}

/// Whether `name` is a valid R package name: ASCII letters, digits and `.`, at least two characters,
/// starting with a letter and not ending with `.` (R's `valid_package_name_regexp`).
pub fn is_valid_package_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    bytes.len() >= 2
        && bytes[0].is_ascii_alphabetic()
        && bytes[bytes.len() - 1] != b'.'
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'.')
}

/// Whether `version` is a valid R package version: at least two non-negative integers separated by
/// `.` or `-` (R's `valid_package_version_regexp`).
pub fn is_valid_version(version: &str) -> bool {
    let parts: Vec<&str> = version.split(['.', '-']).collect();
    parts.len() >= 2
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 18 && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Compares two valid versions as R's `package_version` does: component by component, numerically;
/// a version that is a prefix of the other is the older.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let parts = |v: &str| -> Vec<u64> {
        v.split(['.', '-'])
            .map(|p| p.parse().unwrap_or(0))
            .collect()
    };
    parts(a).cmp(&parts(b))
}

/// The name and version a source tarball's file name gives: `<pkg>_<version>.tar.gz`.
pub fn parse_source_file_name(file_name: &str) -> Option<(&str, &str)> {
    let stem = file_name.strip_suffix(".tar.gz")?;
    let (name, version) = stem.split_once('_')?;
    (is_valid_package_name(name) && is_valid_version(version)).then_some((name, version))
}

/// A parsed `DESCRIPTION`: its fields in order. Continuation lines are joined with `\n` and their
/// leading whitespace is dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Description {
    fields: Vec<(String, String)>,
}

impl Description {
    /// Parses one DCF record: `Field: value` lines and continuation lines that start with whitespace.
    /// Blank lines around the record are allowed; a second record is not. `Package` and `Version`
    /// are required and must be valid.
    pub fn parse(text: &str) -> Result<Self, DescriptionError> {
        let mut fields: Vec<(String, String)> = Vec::new();
        let mut seen: HashSet<&str> = HashSet::new();
        let mut ended = false;
        for line in text.split('\n') {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.trim().is_empty() {
                ended = !fields.is_empty();
                continue;
            }
            if ended {
                return Err(fail("DESCRIPTION has more than one record"));
            }
            if line.starts_with([' ', '\t']) {
                let Some((_, value)) = fields.last_mut() else {
                    return Err(fail("DESCRIPTION starts with a continuation line"));
                };
                value.push('\n');
                value.push_str(line.trim());
                continue;
            }
            let Some((key, value)) = line.split_once(':') else {
                return Err(fail(format!("DESCRIPTION line is not a field: {line:?}")));
            };
            if key.is_empty() || key.contains(char::is_whitespace) {
                return Err(fail(format!("DESCRIPTION field name is invalid: {key:?}")));
            }
            // One set lookup per field: a scan of the fields before it would be quadratic.
            if !seen.insert(key) {
                return Err(fail(format!("DESCRIPTION has {key} twice")));
            }
            fields.push((key.to_owned(), value.trim().to_owned()));
        }
        let description = Self { fields };
        let package = description.get("Package").unwrap_or_default();
        if package.is_empty() {
            return Err(fail("DESCRIPTION has no Package"));
        }
        if !is_valid_package_name(package) {
            return Err(fail(format!(
                "DESCRIPTION's Package {package:?} is not a valid package name"
            )));
        }
        let version = description.get("Version").unwrap_or_default();
        if version.is_empty() {
            return Err(fail("DESCRIPTION has no Version"));
        }
        if !is_valid_version(version) {
            return Err(fail(format!(
                "DESCRIPTION's Version {version:?} is not a valid package version"
            )));
        }
        Ok(description)
    }

    /// A field's value (names are case-sensitive, as in R).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// `Package`.
    pub fn package(&self) -> &str {
        self.get("Package").unwrap_or_default()
    }

    /// `Version`.
    pub fn version(&self) -> &str {
        self.get("Version").unwrap_or_default()
    }

    /// Every field, as a JSON object (kept as the version's metadata).
    pub fn to_json(&self) -> Value {
        Value::Object(
            self.fields
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect::<Map<_, _>>(),
        )
    }
}

/// Decodes a DESCRIPTION: UTF-8, or else Latin-1 (R's other common encoding).
fn decode(bytes: Vec<u8>) -> String {
    match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(error) => error.into_bytes().iter().map(|&b| char::from(b)).collect(),
    }
}

/// What kind of package an archive is expected to hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind<'a> {
    /// A source package (`R CMD build`): no `Built` field.
    Source,
    /// A binary package (`R CMD INSTALL --build`) for an R version `x.y` and an OS type (`windows`
    /// or `unix`, the last part of its `Built` field).
    Binary {
        /// `x.y`.
        r_version: &'a str,
        /// `windows` or `unix`.
        os_type: &'a str,
    },
}

/// Parses `<folder>/DESCRIPTION` and checks it against the folder and the kind of package.
fn check_description(
    folder: &str,
    bytes: Vec<u8>,
    kind: Kind<'_>,
) -> Result<Description, DescriptionError> {
    let description = Description::parse(&decode(bytes))?;
    if description.package() != folder {
        return Err(fail(format!(
            "DESCRIPTION's Package {:?} is not the archive's folder {folder:?}",
            description.package()
        )));
    }
    match (kind, description.get("Built")) {
        (Kind::Source, None) => {}
        (Kind::Source, Some(_)) => {
            return Err(fail(
                "DESCRIPTION has a Built field: this is a binary package, not a source package",
            ));
        }
        (Kind::Binary { .. }, None) => {
            return Err(fail(
                "DESCRIPTION has no Built field: this is a source package, not a binary package",
            ));
        }
        (Kind::Binary { r_version, os_type }, Some(built)) => {
            // `R 4.2.2; ; 2026-11-23 10:00:00 UTC; windows`
            let parts: Vec<&str> = built.split(';').map(str::trim).collect();
            let built_r = parts
                .first()
                .and_then(|r| r.strip_prefix("R "))
                .map(str::trim)
                .unwrap_or_default();
            let major_minor: Vec<&str> = built_r.split('.').take(2).collect();
            if major_minor.join(".") != r_version {
                return Err(fail(format!(
                    "DESCRIPTION's Built {built:?} is not for R {r_version}"
                )));
            }
            if parts.len() < 4 || parts[3] != os_type {
                return Err(fail(format!(
                    "DESCRIPTION's Built {built:?} is not for OS type {os_type}"
                )));
            }
        }
    }
    Ok(description)
}

/// Whether a path inside an archive is `<folder>/DESCRIPTION`; gives the folder.
fn description_folder(path: &std::path::Path) -> Option<String> {
    let parts: Vec<_> = path
        .components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect();
    (parts.len() == 2 && parts[1].as_os_str() == "DESCRIPTION")
        .then(|| parts[0].as_os_str().to_string_lossy().into_owned())
}

/// Reads and parses `<pkg>/DESCRIPTION` out of a gzipped tarball (a source package, or a macOS
/// binary) whose top-level folder is the package's name, and checks it is of the expected kind.
pub fn read_tarball_description(
    reader: impl Read,
    kind: Kind<'_>,
) -> Result<Description, DescriptionError> {
    let gz = flate2::read::GzDecoder::new(reader);
    let mut archive = tar::Archive::new(gz);
    let entries = archive
        .entries()
        .map_err(|e| fail(format!("the package is not a gzipped tarball: {e}")))?;
    for (index, entry) in entries.enumerate() {
        if index >= MAX_ENTRIES {
            break;
        }
        let entry = entry.map_err(|e| fail(format!("the tarball could not be read: {e}")))?;
        let path = entry
            .path()
            .map_err(|e| fail(format!("the tarball has an unreadable path: {e}")))?
            .into_owned();
        let Some(folder) = description_folder(&path) else {
            continue;
        };
        if entry.size() > MAX_DESCRIPTION {
            return Err(fail(format!(
                "{folder}/DESCRIPTION is larger than {MAX_DESCRIPTION} bytes"
            )));
        }
        let mut bytes = Vec::new();
        entry
            .take(MAX_DESCRIPTION)
            .read_to_end(&mut bytes)
            .map_err(|e| fail(format!("{folder}/DESCRIPTION could not be read: {e}")))?;
        return check_description(&folder, bytes, kind);
    }
    Err(fail("the tarball has no <package>/DESCRIPTION"))
}

/// [`read_tarball_description`] of a source package.
pub fn read_source_description(reader: impl Read) -> Result<Description, DescriptionError> {
    read_tarball_description(reader, Kind::Source)
}

/// Reads and parses `<pkg>/DESCRIPTION` out of a Windows binary package (a zip).
pub fn read_zip_description(
    reader: impl Read + std::io::Seek,
    kind: Kind<'_>,
) -> Result<Description, DescriptionError> {
    let not_a_zip_text = |e: &str| format!("the package is not a zip archive: {e}");
    let not_a_zip = |e: String| fail(not_a_zip_text(&e));
    let archive = Zip::open(reader).map_err(|e| fail(e.explained(|e| not_a_zip_text(&e))))?;
    // The first DESCRIPTION one folder down, as before: later ones are not looked at.
    let mut found = false;
    let picked = archive
        .pick(|name| {
            let wanted = !found
                && name.ends_with("DESCRIPTION")
                && description_folder(std::path::Path::new(name)).is_some();
            found |= wanted;
            wanted
        })
        .map_err(not_a_zip)?;
    let description = picked
        .first()
        .ok_or_else(|| fail("the zip has no <package>/DESCRIPTION"))?;
    let name = &description.name;
    let folder = description_folder(std::path::Path::new(name)).unwrap_or_default();
    let bytes = archive
        .read(description, MAX_DESCRIPTION)
        .map_err(|e| match e {
            ZipReadError::TooLarge => {
                fail(format!("{name} is larger than {MAX_DESCRIPTION} bytes"))
            }
            ZipReadError::Unreadable(e) => fail(format!("{name} could not be read: {e}")),
        })?;
    check_description(&folder, bytes, kind)
}

/// The name and version a binary package's file name gives: `<pkg>_<version>.zip` or `.tgz`.
pub fn parse_binary_file_name<'a>(
    file_name: &'a str,
    extension: &str,
) -> Option<(&'a str, &'a str)> {
    let stem = file_name.strip_suffix(extension)?;
    let (name, version) = stem.split_once('_')?;
    (is_valid_package_name(name) && is_valid_version(version)).then_some((name, version))
}

/// One package of a `PACKAGES` index: its DESCRIPTION fields and the file's md5.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    /// The DESCRIPTION's fields (a JSON object of strings, as [`Description::to_json`] makes it).
    pub fields: Map<String, Value>,
    /// md5 hex of the tarball.
    pub md5: String,
}

/// Renders a `PACKAGES` file: one DCF stanza per entry, separated by blank lines. Multi-line values
/// continue on lines indented with 8 spaces, as `write_PACKAGES` writes them.
pub fn render_packages(entries: &[IndexEntry]) -> String {
    let mut out = String::new();
    for entry in entries {
        if !out.is_empty() {
            out.push('\n');
        }
        for field in INDEX_FIELDS {
            if field == "NeedsCompilation" {
                out.push_str(&format!("MD5sum: {}\n", entry.md5));
            }
            let Some(value) = entry.fields.get(field).and_then(Value::as_str) else {
                continue;
            };
            if value.is_empty() {
                continue;
            }
            out.push_str(field);
            out.push_str(": ");
            out.push_str(&value.replace('\n', "\n        "));
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    const DESCRIPTION: &str = "Package: hello.pkg\nType: Package\nTitle: Says hello\nVersion: 1.0-2\n\
Depends: R (>= 3.5),\n    utils\nImports: stats\nLicense: MIT\nNeedsCompilation: no\n";

    fn tarball(entries: &[(&str, &str)]) -> Vec<u8> {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut builder = tar::Builder::new(gz);
        for (path, content) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_size(content.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder
                .append_data(&mut header, path, content.as_bytes())
                .unwrap();
        }
        let mut gz = builder.into_inner().unwrap();
        gz.flush().unwrap();
        gz.finish().unwrap()
    }

    #[test]
    fn names_and_versions() {
        assert!(is_valid_package_name("data.table"));
        assert!(is_valid_package_name("R6"));
        assert!(!is_valid_package_name("a"));
        assert!(!is_valid_package_name("1pkg"));
        assert!(!is_valid_package_name("pkg."));
        assert!(!is_valid_package_name("my_pkg"));
        assert!(is_valid_version("1.0"));
        assert!(is_valid_version("1.0-2"));
        assert!(!is_valid_version("1"));
        assert!(!is_valid_version("1.0a"));
        assert!(!is_valid_version("1..0"));
        assert_eq!(compare_versions("1.10", "1.9"), Ordering::Greater);
        assert_eq!(compare_versions("1.0-1", "1.0.1"), Ordering::Equal);
        assert_eq!(compare_versions("1.0", "1.0.0"), Ordering::Less);
        assert_eq!(
            parse_source_file_name("hello.pkg_1.0-2.tar.gz"),
            Some(("hello.pkg", "1.0-2"))
        );
        assert_eq!(parse_source_file_name("hello.pkg_1.0.zip"), None);
        assert_eq!(parse_source_file_name("hello_pkg_1.0.tar.gz"), None);
    }

    #[test]
    fn a_record_as_large_as_the_cap_is_parsed_with_one_lookup_per_field() {
        // 1 MiB of short fields: checking each against all before it took minutes.
        let mut text = String::from("Package: big\nVersion: 1.0\n");
        let mut count = 0;
        while text.len() < MAX_DESCRIPTION as usize - 32 {
            text.push_str(&format!("F{count}: x\n"));
            count += 1;
        }
        let description = Description::parse(&text).unwrap();
        assert_eq!(description.get(&format!("F{}", count - 1)), Some("x"));
        text.push_str("F0: again\n");
        assert_eq!(
            Description::parse(&text).unwrap_err().0,
            "DESCRIPTION has F0 twice"
        );
    }

    #[test]
    fn parses_dcf() {
        let d = Description::parse(DESCRIPTION).unwrap();
        assert_eq!(d.package(), "hello.pkg");
        assert_eq!(d.version(), "1.0-2");
        assert_eq!(d.get("Depends"), Some("R (>= 3.5),\nutils"));
        assert_eq!(d.to_json()["License"], "MIT");
        for (text, message) in [
            ("Title: x\n", "DESCRIPTION has no Package"),
            ("Package: hello\n", "DESCRIPTION has no Version"),
            (
                "Package: hello\nVersion: one\n",
                "DESCRIPTION's Version \"one\" is not a valid package version",
            ),
            (
                "  x\nPackage: a\n",
                "DESCRIPTION starts with a continuation line",
            ),
            (
                "Package hello\n",
                "DESCRIPTION line is not a field: \"Package hello\"",
            ),
            (
                "Package: ab\nVersion: 1.0\n\nPackage: cd\n",
                "DESCRIPTION has more than one record",
            ),
        ] {
            assert_eq!(Description::parse(text).unwrap_err().0, message, "{text}");
        }
    }

    #[test]
    fn reads_the_description_out_of_a_tarball() {
        let bytes = tarball(&[
            ("hello.pkg/NAMESPACE", "export(hello)\n"),
            ("hello.pkg/inst/DESCRIPTION", "not this one"),
            ("hello.pkg/DESCRIPTION", DESCRIPTION),
        ]);
        let d = read_source_description(&bytes[..]).unwrap();
        assert_eq!(d.version(), "1.0-2");

        let missing = tarball(&[("hello.pkg/NAMESPACE", "")]);
        assert_eq!(
            read_source_description(&missing[..]).unwrap_err().0,
            "the tarball has no <package>/DESCRIPTION"
        );
        let other = tarball(&[("other/DESCRIPTION", DESCRIPTION)]);
        assert!(
            read_source_description(&other[..])
                .unwrap_err()
                .0
                .contains("not the archive's folder")
        );
        let binary = format!("{DESCRIPTION}Built: R 4.2.2; ; 2026-11-23; unix\n");
        let built = tarball(&[("hello.pkg/DESCRIPTION", &binary)]);
        assert!(
            read_source_description(&built[..])
                .unwrap_err()
                .0
                .contains("binary package")
        );
        assert!(
            read_source_description(&b"not gzip"[..])
                .unwrap_err()
                .0
                .starts_with("the package is not a gzipped tarball")
                || read_source_description(&b"not gzip"[..])
                    .unwrap_err()
                    .0
                    .starts_with("the tarball could not be read")
        );
    }

    fn zip(entries: &[(&str, &str)]) -> Vec<u8> {
        let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (path, content) in entries {
            writer
                .start_file(*path, zip::write::SimpleFileOptions::default())
                .unwrap();
            writer.write_all(content.as_bytes()).unwrap();
        }
        writer.finish().unwrap().into_inner()
    }

    #[test]
    fn reads_binary_descriptions() {
        let windows = Kind::Binary {
            r_version: "4.2",
            os_type: "windows",
        };
        let built = format!("{DESCRIPTION}Built: R 4.2.2; ; 2026-11-23 10:00:00 UTC; windows\n");
        let bytes = zip(&[
            ("hello.pkg/NAMESPACE", ""),
            ("hello.pkg/DESCRIPTION", &built),
        ]);
        let d = read_zip_description(std::io::Cursor::new(bytes), windows).unwrap();
        assert_eq!(
            d.get("Built"),
            Some("R 4.2.2; ; 2026-11-23 10:00:00 UTC; windows")
        );

        let other_r = Kind::Binary {
            r_version: "4.3",
            os_type: "windows",
        };
        let bytes = zip(&[("hello.pkg/DESCRIPTION", &built)]);
        assert!(
            read_zip_description(std::io::Cursor::new(bytes.clone()), other_r)
                .unwrap_err()
                .0
                .contains("is not for R 4.3")
        );
        let unix = Kind::Binary {
            r_version: "4.2",
            os_type: "unix",
        };
        let tgz = tarball(&[("hello.pkg/DESCRIPTION", &built)]);
        assert!(
            read_tarball_description(&tgz[..], unix)
                .unwrap_err()
                .0
                .contains("is not for OS type unix")
        );
        let source = zip(&[("hello.pkg/DESCRIPTION", DESCRIPTION)]);
        assert!(
            read_zip_description(std::io::Cursor::new(source), windows)
                .unwrap_err()
                .0
                .contains("this is a source package")
        );
        let empty = zip(&[("hello.pkg/NAMESPACE", "")]);
        assert_eq!(
            read_zip_description(std::io::Cursor::new(empty), windows)
                .unwrap_err()
                .0,
            "the zip has no <package>/DESCRIPTION"
        );
        assert!(
            read_zip_description(std::io::Cursor::new(b"no zip".to_vec()), windows)
                .unwrap_err()
                .0
                .starts_with("the package is not a zip archive")
        );
        assert_eq!(
            parse_binary_file_name("hello.pkg_1.0-2.zip", ".zip"),
            Some(("hello.pkg", "1.0-2"))
        );
        assert_eq!(parse_binary_file_name("hello.pkg_1.0-2.zip", ".tgz"), None);
    }

    #[test]
    fn renders_packages() {
        let d = Description::parse(DESCRIPTION).unwrap();
        let Value::Object(fields) = d.to_json() else {
            unreachable!()
        };
        let entry = IndexEntry {
            fields,
            md5: "0123".into(),
        };
        let text = render_packages(&[entry.clone(), entry]);
        let stanza = "Package: hello.pkg\nVersion: 1.0-2\nDepends: R (>= 3.5),\n        utils\n\
Imports: stats\nLicense: MIT\nMD5sum: 0123\nNeedsCompilation: no\n";
        assert_eq!(text, format!("{stanza}\n{stanza}"));
    }
}
