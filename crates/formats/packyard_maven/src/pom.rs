//! The coordinates a `.pom` declares, read with a streaming XML reader (never the whole file in memory).

use std::io::BufRead;

use packyard_domain::limits::{self, XML_DEPTH_MAX};
use quick_xml::Reader;
use quick_xml::events::Event;

/// The coordinates of a POM, with the parent's groupId and version as fallbacks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PomCoordinates {
    /// `project/groupId`, else `project/parent/groupId`.
    pub group_id: Option<String>,
    /// `project/artifactId`.
    pub artifact_id: Option<String>,
    /// `project/version`, else `project/parent/version`.
    pub version: Option<String>,
}

/// Where a text value goes.
#[derive(Clone, Copy)]
enum Field {
    GroupId,
    ArtifactId,
    Version,
    ParentGroupId,
    ParentVersion,
}

fn field_at(path: &[String]) -> Option<Field> {
    if path.len() > 3 {
        return None;
    }
    let path: Vec<&str> = path.iter().map(String::as_str).collect();
    match path.as_slice() {
        ["project", "groupId"] => Some(Field::GroupId),
        ["project", "artifactId"] => Some(Field::ArtifactId),
        ["project", "version"] => Some(Field::Version),
        ["project", "parent", "groupId"] => Some(Field::ParentGroupId),
        ["project", "parent", "version"] => Some(Field::ParentVersion),
        _ => None,
    }
}

/// Reads a POM's coordinates. The error says why the document is not a POM.
pub fn read_coordinates(source: impl BufRead) -> Result<PomCoordinates, String> {
    let mut reader = Reader::from_reader(source);
    reader.config_mut().check_end_names = true;
    let mut buf = Vec::new();
    let mut path: Vec<String> = Vec::new();
    let mut values: [Option<String>; 5] = Default::default();
    let mut text = String::new();
    let mut saw_root = false;
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
                    if saw_root || name != "project" {
                        return Err("the root element is not <project>".into());
                    }
                    saw_root = true;
                }
                path.push(name);
                text.clear();
            }
            Event::Empty(start) if path.is_empty() => {
                return Err(if start.local_name().as_ref() == b"project" && !saw_root {
                    "the <project> element is empty".into()
                } else {
                    "the root element is not <project>".into()
                });
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
                if let Some(field) = field_at(&path) {
                    values[field as usize] = Some(text.trim().to_owned());
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
        return Err("the root element is not <project>".into());
    }
    if !path.is_empty() {
        return Err("malformed XML: the document ends inside an element".into());
    }
    let [
        group_id,
        artifact_id,
        version,
        parent_group_id,
        parent_version,
    ] = values;
    Ok(PomCoordinates {
        group_id: group_id.or(parent_group_id),
        artifact_id,
        version: version.or(parent_version),
    })
}

/// Checks a POM's coordinates against the path it was uploaded to. Values with `${…}` properties are not
/// compared (they are resolved only when the model is built).
pub fn check_coordinates(
    pom: &PomCoordinates,
    group_id: &str,
    artifact_id: &str,
    version: &str,
) -> Result<(), String> {
    for (name, declared, expected) in [
        ("groupId", &pom.group_id, group_id),
        ("artifactId", &pom.artifact_id, artifact_id),
        ("version", &pom.version, version),
    ] {
        match declared {
            None => return Err(format!("the pom declares no {name}")),
            Some(value) if value.contains("${") => {}
            Some(value) if value != expected => {
                return Err(format!(
                    "the pom's {name} {value} does not match the path's {expected}"
                ));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_nesting_is_refused_in_linear_time() {
        let depth = 200_000;
        let deep = format!(
            "<project>{}{}</project>",
            "<a>".repeat(depth),
            "</a>".repeat(depth)
        );
        let started = std::time::Instant::now();
        let refused = read_coordinates(deep.as_bytes()).unwrap_err();
        assert_eq!(refused, packyard_domain::limits::too_deep());
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        let shallow = format!(
            "<project>{}{}</project>",
            "<a>".repeat(60),
            "</a>".repeat(60)
        );
        assert_ne!(
            read_coordinates(shallow.as_bytes()).err(),
            Some(packyard_domain::limits::too_deep())
        );
    }

    fn read(text: &str) -> Result<PomCoordinates, String> {
        read_coordinates(text.as_bytes())
    }

    #[test]
    fn reads_coordinates_with_parent_fallback() {
        let pom = read(
            r#"<?xml version="1.0"?>
            <project xmlns="http://maven.apache.org/POM/4.0.0">
              <parent><groupId>org.parent</groupId><artifactId>p</artifactId><version>2.0</version></parent>
              <artifactId>child</artifactId>
              <dependencies><dependency><groupId>x</groupId><version>9</version></dependency></dependencies>
            </project>"#,
        )
        .unwrap();
        assert_eq!(pom.group_id.as_deref(), Some("org.parent"));
        assert_eq!(pom.artifact_id.as_deref(), Some("child"));
        assert_eq!(pom.version.as_deref(), Some("2.0"));
        assert!(check_coordinates(&pom, "org.parent", "child", "2.0").is_ok());
        assert_eq!(
            check_coordinates(&pom, "org.parent", "child", "2.1").unwrap_err(),
            "the pom's version 2.0 does not match the path's 2.1"
        );

        let own = read(
            "<project><groupId>a.b</groupId><artifactId>c&amp;d</artifactId><version>1</version>\
             <parent><groupId>p</groupId><version>0</version></parent></project>",
        )
        .unwrap();
        assert_eq!(own.group_id.as_deref(), Some("a.b"));
        assert_eq!(own.artifact_id.as_deref(), Some("c&d"));
        assert_eq!(own.version.as_deref(), Some("1"));
    }

    #[test]
    fn refuses_what_is_not_a_pom() {
        assert!(read("<project><groupId>a</project>").is_err());
        assert!(read("<settings/>").is_err());
        assert!(read("not xml at all").is_err());
        assert!(read("<project><artifactId>a</artifactId>").is_err());
        let no_group = read("<project><artifactId>a</artifactId></project>").unwrap();
        assert_eq!(
            check_coordinates(&no_group, "g", "a", "1").unwrap_err(),
            "the pom declares no groupId"
        );
    }
}
