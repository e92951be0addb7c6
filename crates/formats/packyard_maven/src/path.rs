//! Classification of Maven repository paths.

use packyard_core::pull::{ChecksumAlgorithm, PathClass};
use packyard_domain::{RepositoryPath, RepositoryPathError};

/// A Maven request path, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MavenPath {
    /// A file served from the cache: an artifact or a `maven-metadata.xml`.
    File {
        /// The path.
        path: RepositoryPath,
        /// Artifact or metadata.
        class: PathClass,
    },
    /// A `.sha1` or `.md5` of another file, answered from that file's stored digests.
    Checksum {
        /// The file the checksum is of.
        base: RepositoryPath,
        /// Which digest.
        algorithm: ChecksumAlgorithm,
        /// What the base file is.
        base_class: PathClass,
    },
}

fn class_of(path: &RepositoryPath) -> PathClass {
    // Only files named exactly maven-metadata.xml are metadata (snapshot-level ones included).
    if path.file_name() == "maven-metadata.xml" {
        PathClass::Metadata
    } else {
        PathClass::Artifact
    }
}

/// Validates and classifies a request path. `.sha256` and `.sha512` are ordinary files.
pub fn classify(raw: &str) -> Result<MavenPath, RepositoryPathError> {
    let path = RepositoryPath::parse(raw)?;
    for (extension, algorithm) in [
        (".sha1", ChecksumAlgorithm::Sha1),
        (".md5", ChecksumAlgorithm::Md5),
    ] {
        if let Some(base) = path.as_str().strip_suffix(extension) {
            let base = RepositoryPath::parse(base)?;
            let base_class = class_of(&base);
            return Ok(MavenPath::Checksum {
                base,
                algorithm,
                base_class,
            });
        }
    }
    let class = class_of(&path);
    Ok(MavenPath::File { path, class })
}

/// A content type for a file whose upstream sent none.
pub fn content_type_for(file_name: &str) -> &'static str {
    match file_name.rsplit('.').next() {
        Some("pom" | "xml") => "text/xml",
        Some("jar" | "war" | "ear") => "application/java-archive",
        Some("module" | "json") => "application/json",
        Some("sha1" | "md5" | "sha256" | "sha512" | "asc") => "text/plain",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_artifacts_metadata_and_checksums() {
        let jar = classify("org/example/app/1.0/app-1.0.jar").unwrap();
        assert!(matches!(
            jar,
            MavenPath::File {
                class: PathClass::Artifact,
                ..
            }
        ));
        let metadata = classify("org/example/app/maven-metadata.xml").unwrap();
        assert!(matches!(
            metadata,
            MavenPath::File {
                class: PathClass::Metadata,
                ..
            }
        ));
        match classify("org/example/app/maven-metadata.xml.sha1").unwrap() {
            MavenPath::Checksum {
                base,
                algorithm,
                base_class,
            } => {
                assert_eq!(base.as_str(), "org/example/app/maven-metadata.xml");
                assert_eq!(algorithm, ChecksumAlgorithm::Sha1);
                assert_eq!(base_class, PathClass::Metadata);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            classify("a/b/1.0/b-1.0.jar.md5").unwrap(),
            MavenPath::Checksum {
                algorithm: ChecksumAlgorithm::Md5,
                base_class: PathClass::Artifact,
                ..
            }
        ));
        assert!(matches!(
            classify("a/b/1.0/b-1.0.jar.sha256").unwrap(),
            MavenPath::File {
                class: PathClass::Artifact,
                ..
            }
        ));
        assert!(classify("a/../b.jar").is_err());
        assert!(classify(".sha1").is_err());
    }
}
