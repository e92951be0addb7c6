//! Paths of a hosted Maven repository: artifact files, `maven-metadata.xml` at the artifact and the
//! SNAPSHOT-version level, and checksum sidecars of both. Validation (no traversal, no encoded separators)
//! is [`RepositoryPath`]'s.

use packyard_domain::{FileDigests, RepositoryPath};

/// The metadata file name at every level.
pub const METADATA: &str = "maven-metadata.xml";

/// A checksum sidecar's algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sidecar {
    /// `.md5`
    Md5,
    /// `.sha1`
    Sha1,
    /// `.sha256`
    Sha256,
    /// `.sha512`
    Sha512,
}

impl Sidecar {
    const ALL: [(Sidecar, &'static str); 4] = [
        (Sidecar::Md5, ".md5"),
        (Sidecar::Sha1, ".sha1"),
        (Sidecar::Sha256, ".sha256"),
        (Sidecar::Sha512, ".sha512"),
    ];

    /// The algorithm's name as messages show it.
    pub fn name(self) -> &'static str {
        match self {
            Sidecar::Md5 => "md5",
            Sidecar::Sha1 => "sha1",
            Sidecar::Sha256 => "sha256",
            Sidecar::Sha512 => "sha512",
        }
    }

    /// This algorithm's digest among a file's digests.
    pub fn of(self, digests: &FileDigests) -> &str {
        match self {
            Sidecar::Md5 => &digests.md5,
            Sidecar::Sha1 => &digests.sha1,
            Sidecar::Sha256 => &digests.sha256,
            Sidecar::Sha512 => &digests.sha512,
        }
    }

    fn strip(file_name: &str) -> Option<(&str, Sidecar)> {
        Self::ALL.iter().find_map(|(sidecar, extension)| {
            file_name
                .strip_suffix(extension)
                .filter(|base| !base.is_empty())
                .map(|base| (base, *sidecar))
        })
    }
}

/// A groupId and artifactId.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// `org.example`.
    pub group_id: String,
    /// `app`.
    pub artifact_id: String,
}

/// What a hosted repository path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayoutPath {
    /// `g/a/maven-metadata.xml` (`version` is `None`) or `g/a/X-SNAPSHOT/maven-metadata.xml`. A path that
    /// could also be group-level metadata (`g/maven-metadata.xml`) is read as artifact-level.
    Metadata {
        /// The artifact.
        artifact: Artifact,
        /// The SNAPSHOT version, for SNAPSHOT-level metadata.
        version: Option<String>,
        /// The sidecar asked for, if any.
        sidecar: Option<Sidecar>,
    },
    /// `g/a/v/a-v[-classifier].ext`, or a timestamped file under `g/a/X-SNAPSHOT/`.
    File {
        /// The artifact.
        artifact: Artifact,
        /// The version directory (`1.0`, `1.1-SNAPSHOT`).
        version: String,
        /// The file name, without the sidecar extension.
        file_name: String,
        /// The sidecar asked for, if any.
        sidecar: Option<Sidecar>,
    },
}

/// Why a path is not a hosted Maven path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayoutError {
    /// Not a valid path at all (empty, traversal, encoded separators): answered 400.
    Invalid(String),
    /// A valid path that names nothing a repository holds: answered 400 on upload, 404 on download.
    NotInLayout(String),
}

/// Whether a version is a SNAPSHOT version.
pub fn is_snapshot(version: &str) -> bool {
    version.ends_with("-SNAPSHOT")
}

/// A file name split against its artifact and version directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileParts {
    /// The version the name carries: `1.0`, `1.1-SNAPSHOT` or `1.1-20261123.101010-2`.
    pub value: String,
    /// `20261123.101010` and 2 for a timestamped SNAPSHOT file.
    pub snapshot: Option<(String, u32)>,
    /// The classifier, if any.
    pub classifier: Option<String>,
    /// The extension (`jar`, `pom`, `jar.asc`).
    pub extension: String,
}

fn timestamp_and_build(rest: &str) -> Option<(String, u32, &str)> {
    let timestamp = rest.get(..15)?;
    let (date, time) = timestamp.split_once('.')?;
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(date, 8) || !digits(time, 6) {
        return None;
    }
    let rest = rest.get(15..)?.strip_prefix('-')?;
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let build = rest[..end].parse().ok()?;
    Some((timestamp.to_owned(), build, &rest[end..]))
}

/// Splits `a-v[-classifier].ext` (or the timestamped form in a SNAPSHOT directory).
pub fn split_file_name(artifact_id: &str, version: &str, file_name: &str) -> Option<FileParts> {
    let after_artifact = file_name.strip_prefix(artifact_id)?.strip_prefix('-')?;
    let (value, snapshot, rest) = match version.strip_suffix("-SNAPSHOT") {
        Some(base) => {
            let after_base = after_artifact.strip_prefix(base)?.strip_prefix('-')?;
            if let Some(rest) = after_base.strip_prefix("SNAPSHOT") {
                (version.to_owned(), None, rest)
            } else {
                let (timestamp, build, rest) = timestamp_and_build(after_base)?;
                (
                    format!("{base}-{timestamp}-{build}"),
                    Some((timestamp, build)),
                    rest,
                )
            }
        }
        None => (
            version.to_owned(),
            None,
            after_artifact.strip_prefix(version)?,
        ),
    };
    let (classifier, extension) = if let Some(extension) = rest.strip_prefix('.') {
        (None, extension)
    } else {
        let (classifier, extension) = rest.strip_prefix('-')?.split_once('.')?;
        if classifier.is_empty() {
            return None;
        }
        (Some(classifier.to_owned()), extension)
    };
    if extension.is_empty() {
        return None;
    }
    Some(FileParts {
        value,
        snapshot,
        classifier,
        extension: extension.to_owned(),
    })
}

/// Parses a path below a hosted repository's root.
pub fn parse_layout(raw: &str) -> Result<LayoutPath, LayoutError> {
    let path = RepositoryPath::parse(raw).map_err(|e| LayoutError::Invalid(e.to_string()))?;
    let segments: Vec<&str> = path.as_str().split('/').collect();
    let (last, dirs) = segments
        .split_last()
        .ok_or_else(|| LayoutError::Invalid("path is missing".into()))?;
    let (file_name, sidecar) = match Sidecar::strip(last) {
        Some((base, sidecar)) => (base, Some(sidecar)),
        None => (*last, None),
    };
    let not_in_layout = || {
        LayoutError::NotInLayout(format!(
            "{} is not a path of the Maven repository layout",
            path.as_str()
        ))
    };
    let artifact = |group: &[&str], artifact_id: &str| Artifact {
        group_id: group.join("."),
        artifact_id: artifact_id.to_owned(),
    };
    if file_name == METADATA {
        return match dirs {
            [group @ .., artifact_id, version] if !group.is_empty() && is_snapshot(version) => {
                Ok(LayoutPath::Metadata {
                    artifact: artifact(group, artifact_id),
                    version: Some((*version).to_owned()),
                    sidecar,
                })
            }
            [group @ .., artifact_id] if !group.is_empty() => Ok(LayoutPath::Metadata {
                artifact: artifact(group, artifact_id),
                version: None,
                sidecar,
            }),
            _ => Err(not_in_layout()),
        };
    }
    let [group @ .., artifact_id, version] = dirs else {
        return Err(not_in_layout());
    };
    if group.is_empty() || split_file_name(artifact_id, version, file_name).is_none() {
        return Err(not_in_layout());
    }
    Ok(LayoutPath::File {
        artifact: artifact(group, artifact_id),
        version: (*version).to_owned(),
        file_name: file_name.to_owned(),
        sidecar,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(raw: &str) -> (String, String, String, String, Option<Sidecar>) {
        match parse_layout(raw).unwrap() {
            LayoutPath::File {
                artifact,
                version,
                file_name,
                sidecar,
            } => (
                artifact.group_id,
                artifact.artifact_id,
                version,
                file_name,
                sidecar,
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn parses_files_metadata_and_sidecars() {
        assert_eq!(
            file("org/example/app/1.0/app-1.0.jar"),
            (
                "org.example".into(),
                "app".into(),
                "1.0".into(),
                "app-1.0.jar".into(),
                None
            )
        );
        assert_eq!(
            file("aopalliance/aopalliance/debian/aopalliance-debian-sources.jar.sha512").4,
            Some(Sidecar::Sha512)
        );
        assert_eq!(
            file("org/example/app/1.1-SNAPSHOT/app-1.1-20261123.101010-12-tests.jar.md5").3,
            "app-1.1-20261123.101010-12-tests.jar"
        );
        assert_eq!(
            parse_layout("org/example/app/maven-metadata.xml.sha1").unwrap(),
            LayoutPath::Metadata {
                artifact: Artifact {
                    group_id: "org.example".into(),
                    artifact_id: "app".into()
                },
                version: None,
                sidecar: Some(Sidecar::Sha1),
            }
        );
        assert!(matches!(
            parse_layout("org/example/app/1.1-SNAPSHOT/maven-metadata.xml").unwrap(),
            LayoutPath::Metadata { version: Some(v), sidecar: None, .. } if v == "1.1-SNAPSHOT"
        ));
    }

    #[test]
    fn refuses_paths_outside_the_layout() {
        for raw in [
            "org/example/app/1.0/../app-1.0.jar",
            "org/%2e%2e/app/1.0/app-1.0.jar",
            "",
        ] {
            assert!(
                matches!(parse_layout(raw), Err(LayoutError::Invalid(_))),
                "{raw}"
            );
        }
        for raw in [
            "app/1.0/app-1.0.jar",
            "org/example/app/1.0/other-1.0.jar",
            "org/example/app/1.0/app-1.1.jar",
            "org/example/app/1.0/app-1.0",
            "org/example/app/1.0/app-1.0-.jar",
            "org/example/app/1.1-SNAPSHOT/app-1.1-2026.jar",
            "maven-metadata.xml",
            "org/maven-metadata.xml",
        ] {
            assert!(
                matches!(parse_layout(raw), Err(LayoutError::NotInLayout(_))),
                "{raw}"
            );
        }
    }

    #[test]
    fn splits_file_names() {
        let parts = split_file_name(
            "app",
            "1.1-SNAPSHOT",
            "app-1.1-20261123.101010-2-sources.jar",
        )
        .unwrap();
        assert_eq!(parts.value, "1.1-20261123.101010-2");
        assert_eq!(parts.snapshot, Some(("20261123.101010".into(), 2)));
        assert_eq!(parts.classifier.as_deref(), Some("sources"));
        assert_eq!(parts.extension, "jar");
        let plain = split_file_name("app", "1.0", "app-1.0.jar.asc").unwrap();
        assert_eq!(plain.extension, "jar.asc");
        assert_eq!(plain.classifier, None);
        let unique = split_file_name("app", "1.1-SNAPSHOT", "app-1.1-SNAPSHOT.pom").unwrap();
        assert_eq!(unique.value, "1.1-SNAPSHOT");
        assert_eq!(unique.snapshot, None);
    }
}
