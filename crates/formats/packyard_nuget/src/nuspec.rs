//! The `.nuspec` manifest at the root of a `.nupkg` (a zip), read with a streaming XML reader.

use std::io::{BufRead, BufReader, Read, Seek};

use packyard_domain::limits::{self, XML_DEPTH_MAX};
use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};
use serde::{Deserialize, Serialize};

use crate::version::{is_valid_id, normalize_version};
use packyard_core::archive::{Zip, ZipReadError};

/// The most bytes of `.nuspec` read out of a package.
const MAX_NUSPEC: u64 = limits::METADATA_DOCUMENT_MAX;

/// A dependency of a package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dependency {
    /// The dependency's id.
    pub id: String,
    /// Its version range as written (empty when any version does).
    pub range: String,
}

/// The dependencies for one target framework (empty: any framework).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DependencyGroup {
    /// The target framework, as written.
    pub target_framework: String,
    /// Its dependencies.
    pub dependencies: Vec<Dependency>,
}

/// What a `.nuspec` declares that the protocol serves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Nuspec {
    /// `metadata/id`, as written.
    pub id: String,
    /// `metadata/version`, as written.
    pub version: String,
    /// `metadata/version`, normalized.
    pub normalized_version: String,
    /// `metadata/description`.
    pub description: String,
    /// `metadata/authors`.
    pub authors: String,
    /// `metadata/tags`, split on spaces and commas.
    pub tags: Vec<String>,
    /// `metadata/dependencies`.
    pub dependency_groups: Vec<DependencyGroup>,
}

fn attribute(start: &BytesStart<'_>, name: &str) -> Result<Option<String>, String> {
    for attribute in start.attributes() {
        let attribute = attribute.map_err(|e| format!("malformed XML: {e}"))?;
        if attribute.key.local_name().as_ref() == name.as_bytes() {
            let value = attribute
                .unescape_value()
                .map_err(|e| format!("malformed XML: {e}"))?;
            return Ok(Some(value.trim().to_owned()));
        }
    }
    Ok(None)
}

/// Records a `<group>` or `<dependency>` element found under `metadata/dependencies`.
fn dependency_element(
    path: &[String],
    start: &BytesStart<'_>,
    groups: &mut Vec<DependencyGroup>,
) -> Result<(), String> {
    let name = String::from_utf8_lossy(start.local_name().as_ref()).into_owned();
    let at: Vec<&str> = path.iter().map(String::as_str).collect();
    match (at.as_slice(), name.as_str()) {
        (["package", "metadata", "dependencies"], "group") => {
            groups.push(DependencyGroup {
                target_framework: attribute(start, "targetFramework")?.unwrap_or_default(),
                dependencies: Vec::new(),
            });
        }
        (["package", "metadata", "dependencies"], "dependency")
        | (["package", "metadata", "dependencies", "group"], "dependency") => {
            let id = attribute(start, "id")?
                .filter(|id| !id.is_empty())
                .ok_or("a <dependency> has no id")?;
            let dependency = Dependency {
                id,
                range: attribute(start, "version")?.unwrap_or_default(),
            };
            let flat = at.len() == 3;
            match groups.last_mut() {
                Some(group) if !flat => group.dependencies.push(dependency),
                _ => {
                    if !groups
                        .first()
                        .is_some_and(|g| g.target_framework.is_empty())
                    {
                        groups.insert(
                            0,
                            DependencyGroup {
                                target_framework: String::new(),
                                dependencies: Vec::new(),
                            },
                        );
                    }
                    groups[0].dependencies.push(dependency);
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// Reads a `.nuspec`. The error says why it is not a usable manifest.
pub fn read_nuspec(source: impl BufRead) -> Result<Nuspec, String> {
    let mut reader = Reader::from_reader(source);
    reader.config_mut().check_end_names = true;
    let mut buf = Vec::new();
    let mut path: Vec<String> = Vec::new();
    let mut text = String::new();
    let mut saw_root = false;
    let mut nuspec = Nuspec::default();
    let (mut id, mut version) = (None::<String>, None::<String>);
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
                    if saw_root || name != "package" {
                        return Err("the root element is not <package>".into());
                    }
                    saw_root = true;
                }
                dependency_element(&path, &start, &mut nuspec.dependency_groups)?;
                path.push(name);
                text.clear();
            }
            Event::Empty(start) => {
                if path.is_empty() {
                    return Err("the root element is not a non-empty <package>".into());
                }
                dependency_element(&path, &start, &mut nuspec.dependency_groups)?;
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
                let at: Vec<&str> = path.iter().map(String::as_str).collect();
                let value = text.trim().to_owned();
                match at.as_slice() {
                    ["package", "metadata", "id"] => id = Some(value),
                    ["package", "metadata", "version"] => version = Some(value),
                    ["package", "metadata", "description"] => nuspec.description = value,
                    ["package", "metadata", "authors"] => nuspec.authors = value,
                    ["package", "metadata", "tags"] => {
                        nuspec.tags = value
                            .split([' ', ','])
                            .filter(|t| !t.is_empty())
                            .map(str::to_owned)
                            .collect();
                    }
                    _ => {}
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
        return Err("the root element is not <package>".into());
    }
    if !path.is_empty() {
        return Err("malformed XML: the document ends inside an element".into());
    }
    let id = id
        .filter(|id| !id.is_empty())
        .ok_or("the .nuspec has no <metadata><id>")?;
    if !is_valid_id(&id) {
        return Err(format!(
            "{id:?} is not a valid package id: use ASCII letters, digits, '.', '_' and '-'"
        ));
    }
    let version = version
        .filter(|v| !v.is_empty())
        .ok_or("the .nuspec has no <metadata><version>")?;
    nuspec.normalized_version =
        normalize_version(&version).ok_or_else(|| format!("{version:?} is not a valid version"))?;
    nuspec.id = id;
    nuspec.version = version;
    Ok(nuspec)
}

/// Reads the `.nuspec` at the root of a `.nupkg`, returning it parsed and as text.
pub fn read_nupkg_nuspec(source: impl Read + Seek) -> Result<(Nuspec, String), String> {
    let archive =
        Zip::open(source).map_err(|e| e.explained(|e| format!("the package is not a zip: {e}")))?;
    let nuspecs = archive
        .pick(|name| {
            !name.contains('/')
                && name
                    .rsplit_once('.')
                    .is_some_and(|(_, extension)| extension.eq_ignore_ascii_case("nuspec"))
        })
        .map_err(|e| format!("the package is not a zip: {e}"))?;
    let nuspec = match nuspecs.as_slice() {
        [nuspec] => nuspec,
        [] => return Err("the package has no .nuspec at its root".into()),
        _ => return Err("the package has more than one .nuspec at its root".into()),
    };
    let bytes = archive.read(nuspec, MAX_NUSPEC).map_err(|e| match e {
        ZipReadError::TooLarge => format!("the .nuspec is larger than {MAX_NUSPEC} bytes"),
        ZipReadError::Unreadable(e) => format!("the .nuspec could not be read: {e}"),
    })?;
    let nuspec = read_nuspec(BufReader::new(bytes.as_slice()))?;
    let text = String::from_utf8(bytes).map_err(|_| "the .nuspec is not UTF-8".to_owned())?;
    Ok((nuspec, text))
}

#[cfg(test)]
mod tests {
    use std::io::{Cursor, Write};

    use super::*;

    #[test]
    fn deep_nesting_is_refused_in_linear_time() {
        let depth = 200_000;
        let deep = format!(
            "<package>{}{}</package>",
            "<a>".repeat(depth),
            "</a>".repeat(depth)
        );
        let started = std::time::Instant::now();
        let refused = read_nuspec(deep.as_bytes()).unwrap_err();
        assert_eq!(refused, packyard_domain::limits::too_deep());
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        let shallow = format!(
            "<package>{}{}</package>",
            "<a>".repeat(60),
            "</a>".repeat(60)
        );
        assert_ne!(
            read_nuspec(shallow.as_bytes()).err(),
            Some(packyard_domain::limits::too_deep())
        );
    }

    const NUSPEC: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<package xmlns="http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd">
  <metadata>
    <id>Packyard.Demo</id>
    <version>01.2.0.0+meta</version>
    <authors>Someone &amp; co</authors>
    <description>A demo</description>
    <tags>a, b c</tags>
    <dependencies>
      <group targetFramework="net45">
        <dependency id="Other" version="[1.0,2.0)" />
      </group>
      <group targetFramework="netstandard2.0" />
    </dependencies>
  </metadata>
</package>"#;

    #[test]
    fn reads_a_nuspec() {
        let nuspec = read_nuspec(NUSPEC.as_bytes()).unwrap();
        assert_eq!(nuspec.id, "Packyard.Demo");
        assert_eq!(nuspec.version, "01.2.0.0+meta");
        assert_eq!(nuspec.normalized_version, "1.2.0");
        assert_eq!(nuspec.authors, "Someone & co");
        assert_eq!(nuspec.tags, ["a", "b", "c"]);
        assert_eq!(nuspec.dependency_groups.len(), 2);
        assert_eq!(nuspec.dependency_groups[0].target_framework, "net45");
        assert_eq!(nuspec.dependency_groups[0].dependencies[0].id, "Other");
        assert_eq!(
            nuspec.dependency_groups[0].dependencies[0].range,
            "[1.0,2.0)"
        );
    }

    #[test]
    fn reads_flat_dependencies() {
        let text = r#"<package><metadata><id>A</id><version>1.0</version><dependencies><dependency id="B" version="1.0"/></dependencies></metadata></package>"#;
        let nuspec = read_nuspec(text.as_bytes()).unwrap();
        assert_eq!(nuspec.dependency_groups[0].target_framework, "");
        assert_eq!(nuspec.dependency_groups[0].dependencies[0].id, "B");
    }

    #[test]
    fn refuses_bad_manifests() {
        let bad = [
            ("<nope/>", "root element"),
            (
                "<package><metadata><version>1.0</version></metadata></package>",
                "no <metadata><id>",
            ),
            (
                "<package><metadata><id>A</id></metadata></package>",
                "no <metadata><version>",
            ),
            (
                "<package><metadata><id>../A</id><version>1</version></metadata></package>",
                "not a valid package id",
            ),
            (
                "<package><metadata><id>A</id><version>one</version></metadata></package>",
                "not a valid version",
            ),
            ("<package><metadata><id>A</id>", "malformed XML"),
        ];
        for (text, why) in bad {
            let error = read_nuspec(text.as_bytes()).unwrap_err();
            assert!(error.contains(why), "{text}: {error}");
        }
    }

    #[test]
    fn reads_the_nuspec_of_a_nupkg() {
        let mut bytes = Cursor::new(Vec::new());
        let mut zip = zip::ZipWriter::new(&mut bytes);
        let options = zip::write::SimpleFileOptions::default();
        zip.start_file("Packyard.Demo.nuspec", options).unwrap();
        zip.write_all(NUSPEC.as_bytes()).unwrap();
        zip.start_file("lib/net45/a.txt", options).unwrap();
        zip.write_all(b"x").unwrap();
        zip.finish().unwrap();
        let (nuspec, text) = read_nupkg_nuspec(Cursor::new(bytes.into_inner())).unwrap();
        assert_eq!(nuspec.id, "Packyard.Demo");
        assert_eq!(text, NUSPEC);
        assert!(
            read_nupkg_nuspec(Cursor::new(b"not a zip".to_vec()))
                .unwrap_err()
                .contains("not a zip")
        );
    }

    #[test]
    fn a_package_with_too_many_entries_is_refused_before_its_directory_is_read() {
        let mut bytes = Cursor::new(Vec::new());
        let mut zip = zip::ZipWriter::new(&mut bytes);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        zip.start_file("Packyard.Demo.nuspec", options).unwrap();
        zip.write_all(NUSPEC.as_bytes()).unwrap();
        for entry in 0..65_535 {
            zip.start_file(format!("{entry}"), options).unwrap();
        }
        zip.finish().unwrap();
        assert_eq!(
            read_nupkg_nuspec(Cursor::new(bytes.into_inner())).unwrap_err(),
            "the archive has more than 65535 entries"
        );
    }
}
