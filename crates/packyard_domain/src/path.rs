//! Repository paths requested by clients, validated once so nothing below has to worry about traversal.

use thiserror::Error;

/// Longest relative path a cache entry may have (GitLab's limit).
pub const MAX_PATH_LEN: usize = 1024;

/// Why a path was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum RepositoryPathError {
    /// The path is empty.
    #[error("path is missing")]
    Empty,
    /// The path is longer than [`MAX_PATH_LEN`].
    #[error("path is too long")]
    TooLong,
    /// The path has a `..` or `.` segment, an empty segment, a backslash, a control character or an encoded form of those.
    #[error("path is invalid")]
    Invalid,
    /// The path's percent-encoded bytes are not UTF-8 (the router decodes them to U+FFFD).
    #[error("path is not valid UTF-8")]
    NotUtf8,
}

/// A relative repository path such as `org/example/app/1.0/app-1.0.jar`: no leading slash, no empty, `.`
/// or `..` segments, no backslashes, control characters or percent-encoded separators.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RepositoryPath(String);

impl RepositoryPath {
    /// Validates a decoded request path.
    pub fn parse(path: &str) -> Result<Self, RepositoryPathError> {
        let path = path.strip_prefix('/').unwrap_or(path);
        if path.is_empty() {
            return Err(RepositoryPathError::Empty);
        }
        if path.len() > MAX_PATH_LEN {
            return Err(RepositoryPathError::TooLong);
        }
        let lower = path.to_ascii_lowercase();
        let bad_char = path.chars().any(|c| c.is_control() || c == '\\');
        let encoded = ["%2e", "%2f", "%5c", "%00"]
            .iter()
            .any(|e| lower.contains(e));
        let bad_segment = path
            .split('/')
            .any(|segment| segment.is_empty() || segment == "." || segment == "..");
        if bad_char || encoded || bad_segment {
            return Err(RepositoryPathError::Invalid);
        }
        if path.contains(char::REPLACEMENT_CHARACTER) {
            return Err(RepositoryPathError::NotUtf8);
        }
        Ok(Self(path.to_owned()))
    }

    /// The path, without a leading slash.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The last segment.
    pub fn file_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }
}

impl std::fmt::Display for RepositoryPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_maven_paths() {
        let path = RepositoryPath::parse("/org/example/app/1.0/app-1.0.jar").unwrap();
        assert_eq!(path.as_str(), "org/example/app/1.0/app-1.0.jar");
        assert_eq!(path.file_name(), "app-1.0.jar");
    }

    #[test]
    fn refuses_what_invalid_utf8_decodes_to() {
        assert_eq!(
            RepositoryPath::parse("org/x/\u{FFFD}.jar"),
            Err(RepositoryPathError::NotUtf8)
        );
    }

    #[test]
    fn refuses_traversal_and_malformed_paths() {
        for bad in [
            "../etc/passwd",
            "a/../../b",
            "a/./b",
            "a//b",
            "a/b/",
            "a\\..\\b",
            "a/%2e%2e/b",
            "a%2Fb",
            "a/\u{0}b",
        ] {
            assert_eq!(
                RepositoryPath::parse(bad),
                Err(RepositoryPathError::Invalid),
                "{bad}"
            );
        }
        assert_eq!(RepositoryPath::parse(""), Err(RepositoryPathError::Empty));
        assert_eq!(
            RepositoryPath::parse(&"a".repeat(1025)),
            Err(RepositoryPathError::TooLong)
        );
    }
}
