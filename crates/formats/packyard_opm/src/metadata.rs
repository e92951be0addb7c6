//! `opm-metadata.xml` read out of an `.ospx` zip, package names, versions and their order.

use std::cmp::Ordering;
use std::io::{BufRead, Read, Seek};

use packyard_core::archive::{Zip, ZipOpenError, ZipReadError};
use packyard_domain::limits::{self, XML_DEPTH_MAX};
use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};
use serde_json::{Value, json};

/// The metadata file at the root of an `.ospx`.
pub const METADATA_FILE: &str = "opm-metadata.xml";

/// A `<depends-on>` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    pub name: String,
    pub version: String,
    pub version_max: String,
}

/// What the server keeps of `opm-metadata.xml`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    pub name: String,
    pub version: String,
    pub description: String,
    pub author: String,
    pub engine_version: String,
    pub dependencies: Vec<Dependency>,
}

impl Metadata {
    /// The version metadata JSON kept with the version.
    pub fn version_metadata(&self) -> Value {
        json!({
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "author": self.author,
            "engineVersion": self.engine_version,
            "dependsOn": self.dependencies.iter().map(|d| json!({
                "name": d.name, "version": d.version, "versionMax": d.version_max,
            })).collect::<Vec<_>>(),
        })
    }
}

/// Package names as opm builds file names from them: letters, digits, `-`, `_` and `.`, not
/// starting with a dot.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 200
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Versions: ASCII letters, digits, `.`, `-` and `+`, starting with a digit.
pub fn is_valid_version(version: &str) -> bool {
    version.len() <= 100
        && version.starts_with(|c: char| c.is_ascii_digit())
        && version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'))
}

/// Compares versions dot by dot: each part by its leading number (of any length), then by the rest as
/// text, a missing part counting as `0`. Every part has one sort key, so the order is total and a sort
/// or a maximum never depends on the order versions come in.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    fn key(part: &str) -> (usize, &str, &str) {
        let digits = part.len() - part.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let (number, rest) = part.split_at(digits);
        let number = number.trim_start_matches('0');
        (number.len(), number, rest)
    }
    let mut left = a.split('.');
    let mut right = b.split('.');
    loop {
        match (left.next(), right.next()) {
            (None, None) => return Ordering::Equal,
            (l, r) => {
                let ordering = key(l.unwrap_or("0")).cmp(&key(r.unwrap_or("0")));
                if ordering != Ordering::Equal {
                    return ordering;
                }
            }
        }
    }
}

fn attribute(start: &BytesStart<'_>, key: &str) -> Result<String, String> {
    for attribute in start.attributes() {
        let attribute = attribute.map_err(|e| format!("malformed XML: {e}"))?;
        if attribute.key.local_name().as_ref() == key.as_bytes() {
            return attribute
                .unescape_value()
                .map(|v| v.trim().to_owned())
                .map_err(|e| format!("malformed XML: {e}"));
        }
    }
    Ok(String::new())
}

fn depends_on(path: &[String], start: &BytesStart<'_>) -> Result<Option<Dependency>, String> {
    if path.len() != 1 || start.local_name().as_ref() != b"depends-on" {
        return Ok(None);
    }
    let name = attribute(start, "name")?;
    if name.is_empty() {
        return Err("a <depends-on> has no name".into());
    }
    Ok(Some(Dependency {
        name,
        version: attribute(start, "version")?,
        version_max: attribute(start, "version-max")?,
    }))
}

/// Reads `opm-metadata.xml`. The error says why it is not usable.
pub fn parse_metadata(source: impl BufRead) -> Result<Metadata, String> {
    let mut reader = Reader::from_reader(source);
    reader.config_mut().check_end_names = true;
    let mut buf = Vec::new();
    let mut path: Vec<String> = Vec::new();
    let mut text = String::new();
    let mut saw_root = false;
    let mut metadata = Metadata::default();
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| format!("malformed XML at byte {}: {e}", reader.error_position()))?;
        match event {
            Event::Start(start) => {
                if path.len() >= XML_DEPTH_MAX {
                    return Err(limits::too_deep());
                }
                let name = String::from_utf8_lossy(start.local_name().as_ref()).into_owned();
                if path.is_empty() {
                    if saw_root || name != "opm-metadata" {
                        return Err("the root element is not <opm-metadata>".into());
                    }
                    saw_root = true;
                }
                if let Some(dependency) = depends_on(&path, &start)? {
                    metadata.dependencies.push(dependency);
                }
                path.push(name);
                text.clear();
            }
            Event::Empty(start) => {
                if path.is_empty() {
                    return Err("the root element is not a non-empty <opm-metadata>".into());
                }
                if let Some(dependency) = depends_on(&path, &start)? {
                    metadata.dependencies.push(dependency);
                }
            }
            Event::Text(t) => {
                text.push_str(&t.decode().map_err(|e| format!("malformed XML: {e}"))?);
            }
            Event::CData(t) => {
                text.push_str(&t.decode().map_err(|e| format!("malformed XML: {e}"))?);
            }
            Event::GeneralRef(r) => {
                if let Some(c) = r
                    .resolve_char_ref()
                    .map_err(|e| format!("malformed XML: {e}"))?
                {
                    text.push(c);
                } else {
                    let name = r.decode().map_err(|e| format!("malformed XML: {e}"))?;
                    let resolved = quick_xml::escape::resolve_predefined_entity(&name)
                        .ok_or_else(|| format!("malformed XML: unknown entity &{name};"))?;
                    text.push_str(resolved);
                }
            }
            Event::End(_) => {
                let value = text.trim().to_owned();
                if path.len() == 2 {
                    match path[1].as_str() {
                        "name" => metadata.name = value,
                        "version" => metadata.version = value,
                        "description" => metadata.description = value,
                        "author" => metadata.author = value,
                        "engine-version" => metadata.engine_version = value,
                        _ => {}
                    }
                }
                path.pop();
                text.clear();
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if !saw_root {
        return Err("the root element is not <opm-metadata>".into());
    }
    if !path.is_empty() {
        return Err("malformed XML: the document ends inside an element".into());
    }
    check_metadata(metadata, "opm-metadata.xml")
}

/// The metadata of a `packagedef` script: the string arguments of `.Имя(…)`, `.Версия(…)` and
/// `.ЗависитОт(…)` (OneScript is case-insensitive; the English `Name`, `Version`, `DependsOn` too).
pub fn parse_packagedef(script: &str) -> Result<Metadata, String> {
    let chars: Vec<char> = script.chars().collect();
    let mut metadata = Metadata::default();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '.' {
            i += 1;
            continue;
        }
        let mut j = i + 1;
        while j < chars.len() && (chars[j].is_alphanumeric() || chars[j] == '_') {
            j += 1;
        }
        let method: String = chars[i + 1..j].iter().collect::<String>().to_lowercase();
        while j < chars.len() && chars[j].is_whitespace() {
            j += 1;
        }
        if j >= chars.len() || chars[j] != '(' {
            i = j.max(i + 1);
            continue;
        }
        // The call's string literals, up to its closing parenthesis.
        let mut arguments = Vec::new();
        j += 1;
        while j < chars.len() && chars[j] != ')' {
            if chars[j] == '"' {
                let mut literal = String::new();
                j += 1;
                while j < chars.len() {
                    if chars[j] == '"' {
                        if chars.get(j + 1) == Some(&'"') {
                            literal.push('"');
                            j += 2;
                            continue;
                        }
                        break;
                    }
                    literal.push(chars[j]);
                    j += 1;
                }
                arguments.push(literal.trim().to_owned());
            }
            j += 1;
        }
        let first = arguments.first().cloned().unwrap_or_default();
        match method.as_str() {
            "имя" | "name" => metadata.name = first,
            "версия" | "version" => metadata.version = first,
            "описание" | "description" => metadata.description = first,
            "автор" | "author" => metadata.author = first,
            "версиядвижка" | "engineversion" => metadata.engine_version = first,
            "зависитот" | "dependson" if !first.is_empty() => {
                metadata.dependencies.push(Dependency {
                    name: first,
                    version: arguments.get(1).cloned().unwrap_or_default(),
                    version_max: arguments.get(2).cloned().unwrap_or_default(),
                });
            }
            _ => {}
        }
        i = j;
    }
    check_metadata(metadata, "packagedef")
}

fn check_metadata(metadata: Metadata, source: &str) -> Result<Metadata, String> {
    if metadata.name.is_empty() {
        return Err(format!("{source} has no name"));
    }
    if !is_valid_name(&metadata.name) {
        return Err(format!(
            "{source}'s name {:?} is not a valid package name",
            metadata.name
        ));
    }
    if metadata.version.is_empty() {
        return Err(format!("{source} has no version"));
    }
    if !is_valid_version(&metadata.version) {
        return Err(format!(
            "{source}'s version {:?} is not a valid version",
            metadata.version
        ));
    }
    Ok(metadata)
}

/// The entry of the archive with this name, read whole; `None` when there is none.
fn read_entry<R: Read + Seek>(archive: &Zip<R>, name: &str) -> Option<Result<Vec<u8>, String>> {
    let picked = archive.pick(|entry| entry == name);
    let member = match picked {
        Ok(picked) => picked.into_iter().next()?,
        Err(e) => return Some(Err(format!("the package is not a zip archive: {e}"))),
    };
    // Metadata is small: refuse absurd files instead of reading them.
    let max = limits::METADATA_DOCUMENT_MAX;
    Some(archive.read(&member, max).map_err(|e| match e {
        ZipReadError::TooLarge => format!("{name} is larger than {max} bytes"),
        ZipReadError::Unreadable(e) => format!("{name} cannot be read: {e}"),
    }))
}

fn read_packagedef(bytes: &[u8]) -> Result<Metadata, String> {
    let text = std::str::from_utf8(bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes))
        .map_err(|_| "packagedef is not UTF-8".to_owned())?;
    parse_packagedef(text)
}

/// Reads `opm-metadata.xml` at the root of an `.ospx` zip or, without one, its `packagedef` (at the
/// root or in `content.zip`).
pub fn read_ospx<R: Read + Seek>(reader: R) -> Result<Metadata, String> {
    let archive = Zip::open(reader)
        .map_err(|e| e.explained(|_| "the package is not a zip archive".into()))?;
    if let Some(bytes) = read_entry(&archive, METADATA_FILE) {
        return parse_metadata(bytes?.as_slice()).map_err(|e| format!("{METADATA_FILE}: {e}"));
    }
    if let Some(bytes) = read_entry(&archive, "packagedef") {
        return read_packagedef(&bytes?);
    }
    let missing = || format!("the .ospx has no {METADATA_FILE} (nor a packagedef)");
    let content = read_entry(&archive, "content.zip").ok_or_else(missing)?;
    let content = content.map_err(|_| missing())?;
    // The inner archive has the same bounds as the package's own.
    let content = Zip::open(std::io::Cursor::new(content)).map_err(|e| match e {
        ZipOpenError::Bounds(bound) => format!("content.zip: {bound}"),
        ZipOpenError::NotAZip(_) => missing(),
    })?;
    let bytes = read_entry(&content, "packagedef").ok_or_else(missing)??;
    read_packagedef(&bytes)
}

#[cfg(test)]
mod tests {
    use std::io::{Cursor, Write};

    use super::*;

    #[test]
    fn deep_nesting_is_refused_in_linear_time() {
        let depth = 200_000;
        let deep = format!(
            "<opm-metadata>{}{}</opm-metadata>",
            "<a>".repeat(depth),
            "</a>".repeat(depth)
        );
        let started = std::time::Instant::now();
        let refused = parse_metadata(deep.as_bytes()).unwrap_err();
        assert_eq!(refused, packyard_domain::limits::too_deep());
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        let shallow = format!(
            "<opm-metadata>{}{}</opm-metadata>",
            "<a>".repeat(60),
            "</a>".repeat(60)
        );
        assert_ne!(
            parse_metadata(shallow.as_bytes()).err(),
            Some(packyard_domain::limits::too_deep())
        );
    }

    const XML: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<opm-metadata xmlns="http://oscript.io/schemas/opm-metadata/1.0">
  <name>json-lib</name>
  <version>1.2.10</version>
  <engine-version>1.8.0</engine-version>
  <author>Someone &amp; Co</author>
  <description>JSON for OneScript</description>
  <depends-on name="logos" version="0.6.0" version-max="1.0.0" dev="false"/>
  <depends-on name="asserts" version="1.0"/>
  <executable name="json">src/cmd.os</executable>
</opm-metadata>"#;

    fn ospx(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, bytes) in entries {
            writer
                .start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            writer.write_all(bytes).unwrap();
        }
        writer.finish().unwrap().into_inner()
    }

    #[test]
    fn reads_the_metadata() {
        let metadata = parse_metadata(XML.as_bytes()).unwrap();
        assert_eq!(metadata.name, "json-lib");
        assert_eq!(metadata.version, "1.2.10");
        assert_eq!(metadata.engine_version, "1.8.0");
        assert_eq!(metadata.author, "Someone & Co");
        assert_eq!(metadata.description, "JSON for OneScript");
        assert_eq!(
            metadata.dependencies,
            [
                Dependency {
                    name: "logos".into(),
                    version: "0.6.0".into(),
                    version_max: "1.0.0".into()
                },
                Dependency {
                    name: "asserts".into(),
                    version: "1.0".into(),
                    version_max: String::new()
                },
            ]
        );
        assert_eq!(
            metadata.version_metadata()["dependsOn"][0]["versionMax"],
            "1.0.0"
        );
    }

    #[test]
    fn reads_the_metadata_out_of_an_ospx() {
        let bytes = ospx(&[(METADATA_FILE, XML.as_bytes()), ("content.zip", b"PK")]);
        let metadata = read_ospx(Cursor::new(bytes)).unwrap();
        assert_eq!(
            (metadata.name.as_str(), metadata.version.as_str()),
            ("json-lib", "1.2.10")
        );
    }

    #[test]
    fn refuses_unusable_packages() {
        assert_eq!(
            read_ospx(Cursor::new(b"not a zip".to_vec())).unwrap_err(),
            "the package is not a zip archive"
        );
        let no_metadata = ospx(&[("content.zip", b"PK")]);
        assert_eq!(
            read_ospx(Cursor::new(no_metadata)).unwrap_err(),
            "the .ospx has no opm-metadata.xml (nor a packagedef)"
        );
        let cases = [
            ("<opm-metadata><name>x</name>", "malformed XML"),
            (
                "<package><name>x</name></package>",
                "root element is not <opm-metadata>",
            ),
            (
                "<opm-metadata><version>1.0</version></opm-metadata>",
                "has no name",
            ),
            (
                "<opm-metadata><name>x</name></opm-metadata>",
                "has no version",
            ),
            (
                "<opm-metadata><name>a/b</name><version>1</version></opm-metadata>",
                "is not a valid package name",
            ),
            (
                "<opm-metadata><name>a</name><version>latest</version></opm-metadata>",
                "is not a valid version",
            ),
            (
                "<opm-metadata><name>a</name><version>1</version><depends-on/></opm-metadata>",
                "<depends-on> has no name",
            ),
        ];
        for (xml, message) in cases {
            let error = parse_metadata(xml.as_bytes()).unwrap_err();
            assert!(error.contains(message), "{xml}: {error}");
        }
    }

    #[test]
    fn falls_back_to_packagedef() {
        let script = concat!(
            "// packagedef\nОписание.Имя(\"my-lib\")\n    .Версия(\"2.1.0\")\n",
            "    .Автор(\"A \"\"B\"\"\")\n    .ЗависитОт(\"logos\", \"0.6.0\")\n",
            "    .ВерсияСреды(\"1.8.0\");",
        );
        let metadata = parse_packagedef(script).unwrap();
        assert_eq!(metadata.name, "my-lib");
        assert_eq!(metadata.version, "2.1.0");
        assert_eq!(metadata.author, "A \"B\"");
        assert_eq!(metadata.dependencies[0].name, "logos");
        assert_eq!(metadata.dependencies[0].version, "0.6.0");
        let english = parse_packagedef("Description.Name(\"x\").Version(\"1.0\");").unwrap();
        assert_eq!(
            (english.name.as_str(), english.version.as_str()),
            ("x", "1.0")
        );
        assert!(
            parse_packagedef("Описание.Имя(\"x\");")
                .unwrap_err()
                .contains("no version")
        );

        let content = ospx(&[("packagedef", script.as_bytes())]);
        let nested = ospx(&[("content.zip", &content)]);
        assert_eq!(read_ospx(Cursor::new(nested)).unwrap().name, "my-lib");
        let root = ospx(&[("packagedef", script.as_bytes())]);
        assert_eq!(read_ospx(Cursor::new(root)).unwrap().version, "2.1.0");
    }

    #[test]
    fn the_inner_content_zip_is_bounded_like_the_package() {
        // An end record that declares a 20 MiB central directory.
        let mut content = vec![0x50, 0x4b, 0x05, 0x06, 0, 0, 0, 0, 1, 0, 1, 0];
        content.extend((20u32 << 20).to_le_bytes());
        content.extend([0u8; 6]);
        let package = ospx(&[("content.zip", &content)]);
        assert_eq!(
            read_ospx(Cursor::new(package)).unwrap_err(),
            "content.zip: the archive's central directory is larger than 16777216 bytes"
        );
    }

    #[test]
    fn compares_versions_numerically() {
        assert_eq!(compare_versions("1.10.0", "1.9.0"), Ordering::Greater);
        assert_eq!(compare_versions("1.0", "1.0.0"), Ordering::Equal);
        assert_eq!(compare_versions("2.0.0", "10.0.0"), Ordering::Less);
        // A number and a part that only starts with one compare by the number first: before, "01-" <
        // "1" < "1000.0" < "01-" made a cycle.
        assert_eq!(compare_versions("01-", "1"), Ordering::Greater);
        assert_eq!(
            compare_versions("000000000001000.0", "01-"),
            Ordering::Greater
        );
        assert_eq!(compare_versions("1.2-rc", "1.10"), Ordering::Less);
        assert_eq!(compare_versions("1.0-beta", "1.0"), Ordering::Greater);
        assert_eq!(
            compare_versions("1.99999999999999999999999", "1.100000000000000000000000"),
            Ordering::Less
        );
        assert!(is_valid_version("1.0.0-beta"));
        assert!(!is_valid_version("../1"));
        assert!(is_valid_name("json-lib_2.x"));
        assert!(!is_valid_name(".hidden"));
    }
}
