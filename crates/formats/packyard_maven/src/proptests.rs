//! Property tests of the Maven parsers: request paths (the pull-through classification and the hosted
//! layout), file names and POMs. Arbitrary input never panics; an accepted path has no traversal and
//! splits back into what it was built from; a POM's coordinates read back as written; nesting beyond
//! the cap is refused.

use packyard_domain::limits::{XML_DEPTH_MAX, too_deep};
use packyard_test_inputs::{CASES, config, nested_xml, xml_document};
use proptest::prelude::*;
use quick_xml::escape::escape;

use crate::layout::{LayoutPath, Sidecar, parse_layout, split_file_name};
use crate::path::{MavenPath, classify};
use crate::pom::{check_coordinates, read_coordinates};

const POM_NAMES: &[&str] = &[
    "project",
    "parent",
    "groupId",
    "artifactId",
    "version",
    "dependencies",
    "dependency",
];

const SIDECARS: [(Sidecar, &str); 4] = [
    (Sidecar::Md5, ".md5"),
    (Sidecar::Sha1, ".sha1"),
    (Sidecar::Sha256, ".sha256"),
    (Sidecar::Sha512, ".sha512"),
];

/// A file of the layout and what it was built from: group segments, artifact, version, classifier,
/// extension, and the sidecar asked for.
#[derive(Debug, Clone)]
struct LayoutFile {
    group: Vec<String>,
    artifact: String,
    version: String,
    classifier: Option<String>,
    extension: String,
    sidecar: Option<usize>,
}

impl LayoutFile {
    fn file_name(&self) -> String {
        let classifier = self
            .classifier
            .as_ref()
            .map(|c| format!("-{c}"))
            .unwrap_or_default();
        format!(
            "{}-{}{classifier}.{}",
            self.artifact, self.version, self.extension
        )
    }

    fn path(&self) -> String {
        let sidecar = self.sidecar.map_or("", |i| SIDECARS[i].1);
        format!(
            "{}/{}/{}/{}{sidecar}",
            self.group.join("/"),
            self.artifact,
            self.version,
            self.file_name()
        )
    }
}

fn layout_file() -> impl Strategy<Value = LayoutFile> {
    (
        prop::collection::vec("[a-z][a-z0-9_]{0,8}", 1..4),
        "[a-z][a-z0-9_]{0,10}",
        ("[0-9]{1,3}(\\.[0-9]{1,3}){0,2}", any::<bool>()),
        prop::option::of("[a-z][a-z0-9]{0,8}"),
        prop_oneof![Just("jar"), Just("pom"), Just("jar.asc"), Just("module")],
        prop::option::of(0..SIDECARS.len()),
    )
        .prop_map(
            |(group, artifact, (version, snapshot), classifier, extension, sidecar)| LayoutFile {
                group,
                artifact,
                version: if snapshot {
                    format!("{version}-SNAPSHOT")
                } else {
                    version
                },
                classifier,
                extension: extension.to_owned(),
                sidecar,
            },
        )
}

/// Paths shaped like the layout with any segment replaced by something odd.
fn near_layout_path() -> impl Strategy<Value = String> {
    let segment = prop_oneof![
        6 => "[a-zA-Z0-9._-]{1,12}",
        1 => Just("..".to_owned()),
        1 => Just("maven-metadata.xml".to_owned()),
        1 => Just("1.0-SNAPSHOT".to_owned()),
        1 => Just("a-1.0-SNAPSHOT-20261123.101010-7.jar.sha1".to_owned()),
        1 => "[a-z%2e./\\\\é\u{0}-]{0,8}",
    ];
    prop::collection::vec(segment, 0..7).prop_map(|segments| segments.join("/"))
}

fn check_accepted_layout(raw: &str) -> Result<(), TestCaseError> {
    let Ok(layout) = parse_layout(raw) else {
        return Ok(());
    };
    let trimmed = raw.trim_start_matches('/');
    prop_assert!(
        !trimmed
            .split('/')
            .any(|s| s == ".." || s == "." || s.is_empty())
    );
    match layout {
        LayoutPath::Metadata { artifact, .. } => {
            prop_assert!(!artifact.group_id.is_empty());
            prop_assert!(!artifact.artifact_id.contains('/'));
        }
        LayoutPath::File {
            artifact,
            version,
            file_name,
            sidecar,
        } => {
            prop_assert!(!artifact.group_id.is_empty());
            prop_assert!(split_file_name(&artifact.artifact_id, &version, &file_name).is_some());
            let sidecar = sidecar
                .and_then(|s| SIDECARS.iter().find(|(x, _)| *x == s))
                .map_or("", |(_, extension)| extension);
            let tail = format!("/{}/{version}/{file_name}{sidecar}", artifact.artifact_id);
            prop_assert!(
                trimmed.ends_with(&tail),
                "{trimmed:?} does not end with {tail:?}"
            );
        }
    }
    Ok(())
}

fn check_classified(raw: &str) -> Result<(), TestCaseError> {
    match classify(raw) {
        Ok(MavenPath::File { path, .. }) => {
            prop_assert_eq!(path.as_str(), raw.strip_prefix('/').unwrap_or(raw));
        }
        Ok(MavenPath::Checksum { base, .. }) => {
            let raw = raw.strip_prefix('/').unwrap_or(raw);
            prop_assert!(raw.starts_with(base.as_str()));
            let extension = &raw[base.as_str().len()..];
            prop_assert!(extension == ".sha1" || extension == ".md5", "{extension:?}");
        }
        Err(_) => {}
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(CASES))]

    #[test]
    fn any_text_as_a_path_never_panics(raw in any::<String>()) {
        check_classified(&raw)?;
        check_accepted_layout(&raw)?;
    }

    #[test]
    fn near_layout_paths_are_accepted_only_when_they_split(raw in near_layout_path()) {
        check_classified(&raw)?;
        check_accepted_layout(&raw)?;
    }

    #[test]
    fn layout_files_split_back_into_their_parts(file in layout_file()) {
        let path = file.path();
        check_accepted_layout(&path)?;
        let Ok(LayoutPath::File { artifact, version, file_name, sidecar }) = parse_layout(&path) else {
            return Err(TestCaseError::fail(format!("{path:?} is refused")));
        };
        prop_assert_eq!(artifact.group_id, file.group.join("."));
        prop_assert_eq!(&artifact.artifact_id, &file.artifact);
        prop_assert_eq!(&version, &file.version);
        prop_assert_eq!(&file_name, &file.file_name());
        prop_assert_eq!(sidecar, file.sidecar.map(|i| SIDECARS[i].0));
        let parts = split_file_name(&file.artifact, &file.version, &file_name);
        prop_assert_eq!(parts.map(|p| (p.classifier, p.extension)), Some((file.classifier.clone(), file.extension.clone())));
    }

    #[test]
    fn file_names_never_panic(artifact in "[a-z-]{0,6}", version in "[0-9.a-zA-Z-]{0,20}", name in any::<String>()) {
        let _ = split_file_name(&artifact, &version, &name);
        let near = format!("{artifact}-{version}{name}");
        let _ = split_file_name(&artifact, &version, &near);
    }

    #[test]
    fn any_bytes_as_a_pom_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(pom) = read_coordinates(bytes.as_slice()) {
            let _ = check_coordinates(&pom, "g", "a", "1");
        }
    }

    #[test]
    fn random_xml_as_a_pom_never_panics(document in xml_document("project", POM_NAMES)) {
        if let Ok(pom) = read_coordinates(document.as_bytes()) {
            for value in [&pom.group_id, &pom.artifact_id, &pom.version].into_iter().flatten() {
                prop_assert_eq!(value.trim(), value.as_str());
            }
            let _ = check_coordinates(&pom, "g", "a", "1");
        }
    }

    #[test]
    fn coordinates_read_back_as_written(
        group in "[ -~]{0,20}",
        artifact in "[ -~é]{0,20}",
        version in "[ -~]{0,20}",
        noise in xml_document("dependencies", POM_NAMES),
    ) {
        let noise = noise.trim_start_matches("\u{feff}").trim_start_matches("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let pom = format!(
            "<project><groupId>{}</groupId><artifactId>{}</artifactId><version>{}</version></project>",
            escape(group.as_str()), escape(artifact.as_str()), escape(version.as_str()),
        );
        let read = read_coordinates(pom.as_bytes());
        prop_assert_eq!(
            read.map(|p| (p.group_id, p.artifact_id, p.version)),
            Ok((Some(group.trim().to_owned()), Some(artifact.trim().to_owned()), Some(version.trim().to_owned())))
        );
        // Whatever else the document holds, a well-formed one never loses its own coordinates.
        let with_noise = pom.replace("</project>", &format!("<dependencies>{noise}</dependencies></project>"));
        if let Ok(pom) = read_coordinates(with_noise.as_bytes()) {
            prop_assert_eq!(pom.artifact_id, Some(artifact.trim().to_owned()));
        }
    }

    #[test]
    fn nesting_beyond_the_cap_is_refused(
        names in prop::collection::vec(prop::sample::select(POM_NAMES), XML_DEPTH_MAX..XML_DEPTH_MAX * 4),
    ) {
        let names: Vec<String> = names.into_iter().map(str::to_owned).collect();
        prop_assert_eq!(read_coordinates(nested_xml("project", &names).as_bytes()), Err(too_deep()));
        let shallow = &names[..XML_DEPTH_MAX - 1];
        prop_assert_ne!(read_coordinates(nested_xml("project", shallow).as_bytes()).err(), Some(too_deep()));
    }
}
