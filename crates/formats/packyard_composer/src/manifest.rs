//! `composer.json` inside a dist zip: package names, version normalisation as Composer's
//! `VersionParser::normalize` does it, and the metadata a repository publishes for a version.

use std::io::{Read, Seek};

use packyard_core::archive::{Zip, ZipReadError};
use serde_json::{Map, Value};

/// Largest `composer.json` read out of a zip.
pub const MAX_MANIFEST: u64 = 4 * 1024 * 1024;
/// Keys of a root `composer.json` that mean nothing in a repository's package metadata.
const ROOT_ONLY_KEYS: [&str; 7] = [
    "repositories",
    "config",
    "minimum-stability",
    "prefer-stable",
    "archive",
    "non-feature-branches",
    "version",
];

/// Why a package was refused; the message is shown to the client.
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

/// Whether `part` is ASCII lowercase letters and digits runs joined by the given separators.
fn is_valid_part(part: &str, separators: &[&str]) -> bool {
    let bytes = part.as_bytes();
    if bytes.is_empty() {
        return false;
    }
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && alnum(bytes[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == bytes.len() {
            return true;
        }
        let sep_start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        if i == bytes.len() || !separators.contains(&&part[sep_start..i]) {
            return false;
        }
    }
    true
}

/// Whether `name` is a valid Composer package name, `vendor/name` in lowercase, as Composer's
/// schema has it: `^[a-z0-9]([_.-]?[a-z0-9]+)*/[a-z0-9](([_.]|-{1,2})?[a-z0-9]+)*$`.
pub fn is_valid_package_name(name: &str) -> bool {
    let Some((vendor, package)) = name.split_once('/') else {
        return false;
    };
    is_valid_part(vendor, &["_", ".", "-"]) && is_valid_part(package, &["_", ".", "-", "--"])
}

fn digits(s: &str) -> usize {
    s.bytes().take_while(u8::is_ascii_digit).count()
}

fn expand_stability(stability: &str) -> &str {
    match stability {
        "a" => "alpha",
        "b" => "beta",
        "p" | "pl" => "patch",
        "rc" => "RC",
        other => other,
    }
}

/// `(numbers)(modifier)`: up to four dot-separated numbers, the first with at most five digits.
fn split_numbers(version: &str) -> Option<(Vec<&str>, &str)> {
    let first = digits(version);
    if first == 0 || first > 5 {
        return None;
    }
    let mut parts = vec![&version[..first]];
    let mut rest = &version[first..];
    while parts.len() < 4 {
        let Some(after) = rest.strip_prefix('.') else {
            break;
        };
        let n = digits(after);
        if n == 0 {
            break;
        }
        parts.push(&after[..n]);
        rest = &after[n..];
    }
    Some((parts, rest))
}

/// The modifier `[._-]?(?:(stability)((?:[.-]?\d+)*+)?)?([.-]?dev)?$`: stability, its number, dev.
fn parse_modifier(modifier: &str) -> Option<(Option<&'static str>, String, bool)> {
    const STABILITIES: [&str; 9] = [
        "stable", "beta", "b", "rc", "alpha", "a", "patch", "pl", "p",
    ];
    let stripped = modifier.strip_prefix(['.', '_', '-']);
    for start in [stripped, Some(modifier)].into_iter().flatten() {
        let candidates = std::iter::once(None).chain(STABILITIES.iter().map(Some));
        for stability in candidates {
            let Some(mut rest) = (match stability {
                Some(word) => start.strip_prefix(word),
                None => Some(start),
            }) else {
                continue;
            };
            let mut number = String::new();
            if stability.is_some() {
                loop {
                    let after = rest.strip_prefix(['.', '-']).unwrap_or(rest);
                    let n = digits(after);
                    if n == 0 {
                        break;
                    }
                    number.push_str(&rest[..rest.len() - after.len() + n]);
                    rest = &after[n..];
                }
            }
            let dev = match rest.strip_prefix(['.', '-']).unwrap_or(rest) {
                "dev" => true,
                _ if rest.is_empty() => false,
                _ => continue,
            };
            return Some((stability.copied(), number, dev));
        }
    }
    None
}

/// `1.x-dev` style branch versions: `1.9999999.9999999.9999999-dev`.
fn normalize_branch(version: &str) -> Option<String> {
    let base = version
        .strip_suffix("-dev")
        .or_else(|| version.strip_suffix(".dev"))?;
    let base = base.strip_prefix('v').unwrap_or(base);
    let parts: Vec<&str> = base.split('.').collect();
    if parts.len() > 4
        || parts
            .iter()
            .any(|p| !(p == &"x" || p == &"*" || (!p.is_empty() && digits(p) == p.len())))
        || digits(parts[0]) == 0
    {
        return None;
    }
    let mut out: Vec<&str> = parts
        .iter()
        .map(|p| if digits(p) == p.len() { *p } else { "9999999" })
        .collect();
    out.resize(4, "9999999");
    Some(format!("{}-dev", out.join(".")))
}

/// Normalises a version as Composer does (`1.2` → `1.2.0.0`, `v2.0.0-rc1` → `2.0.0.0-RC1`,
/// `dev-main` stays, `1.x-dev` → `1.9999999.9999999.9999999-dev`); `None` when Composer would refuse
/// it. Date versions are not accepted.
pub fn normalize_version(version: &str) -> Option<String> {
    let version = version.trim();
    if version.is_empty() || version.contains(char::is_whitespace) {
        return None;
    }
    // `get`, not indexing: the fourth byte may fall inside a multi-byte character.
    if let Some(branch) = version
        .get(..4)
        .filter(|prefix| prefix.eq_ignore_ascii_case("dev-"))
        .and_then(|_| version.get(4..))
        .filter(|branch| !branch.is_empty())
    {
        return Some(format!("dev-{branch}"));
    }
    let version = match version.split_once('+') {
        Some((base, build)) if !base.is_empty() && !build.is_empty() => base,
        Some(_) => return None,
        None => version,
    };
    let lower = version.to_ascii_lowercase();
    let stripped = lower.strip_prefix('v').unwrap_or(&lower);
    if let Some((parts, modifier)) = split_numbers(stripped)
        && let Some((stability, number, dev)) = parse_modifier(modifier)
    {
        let mut normalized = parts.join(".");
        for _ in parts.len()..4 {
            normalized.push_str(".0");
        }
        if let Some(stability) = stability {
            if stability == "stable" {
                return Some(normalized);
            }
            normalized.push('-');
            normalized.push_str(expand_stability(stability));
            normalized.push_str(number.trim_start_matches(['.', '-']));
        }
        if dev {
            normalized.push_str("-dev");
        }
        return Some(normalized);
    }
    normalize_branch(&lower)
}

/// Whether a normalised version is a development version (listed in `~dev.json`).
pub fn is_dev_version(normalized: &str) -> bool {
    normalized.starts_with("dev-") || normalized.ends_with("-dev")
}

/// A package's `composer.json`, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// `vendor/name`.
    pub name: String,
    /// The whole document.
    pub document: Map<String, Value>,
}

impl Manifest {
    /// Parses and checks `composer.json`: a JSON object with a valid `name`.
    pub fn parse(bytes: &[u8]) -> Result<Self, ManifestError> {
        let value: Value = serde_json::from_slice(bytes)
            .map_err(|e| fail(format!("composer.json is not valid JSON: {e}")))?;
        let Value::Object(document) = value else {
            return Err(fail("composer.json is not a JSON object"));
        };
        let name = match document.get("name") {
            Some(Value::String(name)) => name.clone(),
            Some(_) => return Err(fail("composer.json's name is not a string")),
            None => return Err(fail("composer.json has no name")),
        };
        if !is_valid_package_name(&name) {
            return Err(fail(format!(
                "composer.json's name {name:?} is not a valid package name: use lowercase \
                 vendor/name of letters, digits, '_', '.' and '-'"
            )));
        }
        for key in ["require", "require-dev", "autoload", "autoload-dev"] {
            if document.get(key).is_some_and(|v| !v.is_object()) {
                return Err(fail(format!("composer.json's {key} is not an object")));
            }
        }
        Ok(Self { name, document })
    }

    /// The metadata a repository publishes for the version: the document without root-only keys.
    pub fn package_metadata(&self) -> Value {
        let mut metadata = self.document.clone();
        for key in ROOT_ONLY_KEYS {
            metadata.remove(key);
        }
        Value::Object(metadata)
    }
}

/// Reads `composer.json` out of a dist zip: at the root, or inside the single top-level folder.
pub fn read_zip_manifest<R: Read + Seek>(reader: R) -> Result<Manifest, ManifestError> {
    let archive = Zip::open(reader)
        .map_err(|e| fail(e.explained(|_| "the package is not a zip archive".into())))?;
    // Whether every entry sits in one and the same top-level folder, learnt while the directory goes by.
    let mut top: Option<String> = None;
    let mut single_top = true;
    let candidates = archive
        .pick(|name| {
            match name.split_once('/') {
                Some((folder, _)) if top.as_deref().is_none_or(|top| top == folder) => {
                    top.get_or_insert_with(|| folder.to_owned());
                }
                _ => single_top = false,
            }
            name == "composer.json"
                || name
                    .split_once('/')
                    .is_some_and(|(_, rest)| rest == "composer.json")
        })
        .map_err(|e| fail(format!("the zip's entry names could not be read: {e}")))?;
    let at_root = candidates.iter().find(|c| c.name == "composer.json");
    let in_top = || {
        let top = top.as_deref().filter(|_| single_top)?;
        candidates
            .iter()
            .find(|c| c.name.strip_prefix(top) == Some("/composer.json"))
    };
    let Some(manifest) = at_root.or_else(in_top) else {
        return Err(fail(
            "the zip has no composer.json at its root or in its single top-level folder",
        ));
    };
    let bytes = archive.read(manifest, MAX_MANIFEST).map_err(|e| match e {
        ZipReadError::TooLarge => {
            fail(format!("composer.json is larger than {MAX_MANIFEST} bytes"))
        }
        ZipReadError::Unreadable(e) => fail(format!("composer.json could not be read: {e}")),
    })?;
    Manifest::parse(&bytes)
}

#[cfg(test)]
mod tests {
    use std::io::{Cursor, Write};

    use super::*;

    #[test]
    fn package_names_follow_composer_rules() {
        for good in [
            "acme/demo",
            "acme-corp/demo.lib",
            "a1/b_c",
            "acme/foo--bar",
            "v/n",
        ] {
            assert!(is_valid_package_name(good), "{good}");
        }
        for bad in [
            "Acme/demo",
            "acme",
            "acme/",
            "/demo",
            "acme/demo/x",
            "acme--x/demo",
            "acme/-demo",
            "acme/demo-",
            "acme/de mo",
            "../demo",
            "acme/foo---bar",
        ] {
            assert!(!is_valid_package_name(bad), "{bad}");
        }
    }

    #[test]
    fn a_multi_byte_character_at_the_dev_prefix_is_no_panic() {
        for version in ["aaaü", "deü-x", "dev\u{e9}x", "\u{20ac}\u{20ac}"] {
            assert_eq!(normalize_version(version), None, "{version}");
        }
        assert_eq!(normalize_version("dev-ü").as_deref(), Some("dev-ü"));
    }

    #[test]
    fn versions_normalise_as_composer_does() {
        for (given, normalized) in [
            ("1", "1.0.0.0"),
            ("1.2.3", "1.2.3.0"),
            ("v1.2.3", "1.2.3.0"),
            ("1.2.3.4", "1.2.3.4"),
            ("2.0.0-rc1", "2.0.0.0-RC1"),
            ("2.0.0-RC.2", "2.0.0.0-RC2"),
            ("1.0.0-beta", "1.0.0.0-beta"),
            ("1.0.0b2", "1.0.0.0-beta2"),
            ("1.0.0-alpha.1", "1.0.0.0-alpha1"),
            ("1.0-pl3", "1.0.0.0-patch3"),
            ("1.0.0-stable", "1.0.0.0"),
            ("1.0-dev", "1.0.0.0-dev"),
            ("1.0.0+build.5", "1.0.0.0"),
            ("dev-main", "dev-main"),
            ("1.x-dev", "1.9999999.9999999.9999999-dev"),
            ("2.1.x-dev", "2.1.9999999.9999999-dev"),
        ] {
            assert_eq!(
                normalize_version(given).as_deref(),
                Some(normalized),
                "{given}"
            );
        }
        for bad in [
            "",
            "latest",
            "1.2.3.4.5",
            "123456",
            "1.0-foo",
            "1 0",
            "x.1",
            "1.0+",
        ] {
            assert_eq!(normalize_version(bad), None, "{bad}");
        }
        assert!(is_dev_version("dev-main"));
        assert!(is_dev_version("1.0.0.0-dev"));
        assert!(!is_dev_version("1.0.0.0-RC1"));
    }

    fn zip(entries: &[(&str, &str)]) -> Vec<u8> {
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (path, text) in entries {
            writer
                .start_file(*path, zip::write::SimpleFileOptions::default())
                .unwrap();
            writer.write_all(text.as_bytes()).unwrap();
        }
        writer.finish().unwrap().into_inner()
    }

    const MANIFEST: &str = r#"{"name":"acme/demo","version":"9.9","type":"library",
        "require":{"php":">=8.0"},"autoload":{"psr-4":{"Acme\\Demo\\":"src/"}},
        "config":{"secure-http":false}}"#;

    #[test]
    fn the_manifest_is_found_at_the_root_or_in_one_top_level_folder() {
        let root = read_zip_manifest(Cursor::new(zip(&[
            ("composer.json", MANIFEST),
            ("src/Hello.php", "<?php"),
        ])))
        .unwrap();
        assert_eq!(root.name, "acme/demo");
        let nested = read_zip_manifest(Cursor::new(zip(&[
            ("demo-1.0/composer.json", MANIFEST),
            ("demo-1.0/src/Hello.php", "<?php"),
        ])))
        .unwrap();
        assert_eq!(nested, root);
        let metadata = root.package_metadata();
        assert_eq!(metadata["type"], "library");
        assert_eq!(metadata["require"]["php"], ">=8.0");
        assert!(metadata.get("config").is_none() && metadata.get("version").is_none());
    }

    #[test]
    fn malformed_packages_say_why() {
        let cases: [(Vec<u8>, &str); 7] = [
            (b"not a zip".to_vec(), "not a zip archive"),
            (zip(&[("src/Hello.php", "<?php")]), "no composer.json"),
            (
                zip(&[("a/composer.json", MANIFEST), ("b/x.php", "")]),
                "no composer.json",
            ),
            (zip(&[("composer.json", "{")]), "not valid JSON"),
            (zip(&[("composer.json", "[]")]), "not a JSON object"),
            (
                zip(&[("composer.json", "{\"type\":\"library\"}")]),
                "has no name",
            ),
            (
                zip(&[("composer.json", "{\"name\":\"Acme/Demo\"}")]),
                "not a valid package name",
            ),
        ];
        for (bytes, message) in cases {
            let error = read_zip_manifest(Cursor::new(bytes)).unwrap_err();
            assert!(error.0.contains(message), "{error} should say {message}");
        }
    }
}
