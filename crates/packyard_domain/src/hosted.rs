//! Hosted packages: package types, owner levels and upload types as GitFlic names them, and the name
//! rules of the formats packyard hosts.

use serde::{Deserialize, Serialize};

/// The type of a hosted package (GitFlic's `type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PackageType {
    /// Generic files.
    Generic,
    /// Maven artifacts.
    Maven,
    /// npm packages.
    Npm,
    /// Python distributions.
    Pypi,
    /// NuGet packages.
    Nuget,
    /// Composer packages.
    Composer,
    /// Container images.
    Container,
    /// OneScript packages.
    Opm,
    /// R packages.
    Cran,
}

impl PackageType {
    /// Every type, in GitFlic's order.
    pub const ALL: [PackageType; 9] = [
        PackageType::Generic,
        PackageType::Maven,
        PackageType::Npm,
        PackageType::Pypi,
        PackageType::Nuget,
        PackageType::Composer,
        PackageType::Container,
        PackageType::Opm,
        PackageType::Cran,
    ];

    /// The name stored and shown (`generic`, `pypi` …), also the URL segment of its content routes.
    pub fn as_str(self) -> &'static str {
        match self {
            PackageType::Generic => "generic",
            PackageType::Maven => "maven",
            PackageType::Npm => "npm",
            PackageType::Pypi => "pypi",
            PackageType::Nuget => "nuget",
            PackageType::Composer => "composer",
            PackageType::Container => "container",
            PackageType::Opm => "opm",
            PackageType::Cran => "cran",
        }
    }

    /// Parses the stored name (case-insensitive).
    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(value))
    }
}

/// Who owns a hosted package (GitFlic's `ownerType`; packyard has no projects).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OwnerType {
    /// The service itself: published through `/registry/package/...` by administrators.
    Global,
    /// A top-level group (GitFlic's company), published through `/company/<group>/package/-/...`.
    Company,
}

impl OwnerType {
    /// GitFlic's name.
    pub fn as_str(self) -> &'static str {
        match self {
            OwnerType::Global => "GLOBAL",
            OwnerType::Company => "COMPANY",
        }
    }
}

/// How a version or file arrived (GitFlic's `packageUploadType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UploadType {
    /// Through a user interface (packyard has none; kept for GitFlic's vocabulary).
    Manually,
    /// Through the REST API (`PUT /registry/package/...`).
    Api,
    /// Through a package manager's own protocol.
    Transport,
}

impl UploadType {
    /// GitFlic's name, also the stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            UploadType::Manually => "MANUALLY",
            UploadType::Api => "API",
            UploadType::Transport => "TRANSPORT",
        }
    }

    /// Parses the stored text.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "MANUALLY" => Some(UploadType::Manually),
            "API" => Some(UploadType::Api),
            "TRANSPORT" => Some(UploadType::Transport),
            _ => None,
        }
    }
}

/// A generic package name or file name as GitLab accepts them: `[A-Za-z0-9._+-]+`, and not `.` or `..`.
pub fn is_valid_generic_name(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 255
        && value != "."
        && value != ".."
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'+'))
}

/// A generic package version as GitLab accepts it: word characters, `+`, `.` and `-`, no `..`.
pub fn is_valid_generic_version(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 255
        && !value.contains("..")
        && value != "."
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'.' | b'-'))
}

/// A PyPI project name normalised as PEP 503 says: lowercase, every run of `-`, `_` and `.` one `-`.
pub fn normalize_pypi_name(name: &str) -> String {
    let mut normalized = String::with_capacity(name.len());
    let mut in_separator_run = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_separator_run {
                normalized.push('-');
            }
            in_separator_run = true;
        } else {
            normalized.extend(c.to_lowercase());
            in_separator_run = false;
        }
    }
    normalized
}

/// A valid PyPI project name: ASCII letters and digits, with `.`, `_` and `-` inside.
pub fn is_valid_pypi_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && name.len() <= 255
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A PyPI version as it may appear in a file name and a URL: PEP 440 characters only.
pub fn is_valid_pypi_version(version: &str) -> bool {
    !version.is_empty()
        && version.len() <= 128
        && version
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && version
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'+' | b'!'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_pypi_names_as_pep_503() {
        for (name, expected) in [
            ("Friendly-Bard", "friendly-bard"),
            ("FRIENDLY-BARD", "friendly-bard"),
            ("friendly.bard", "friendly-bard"),
            ("friendly_bard", "friendly-bard"),
            ("friendly--bard", "friendly-bard"),
            ("FrIeNdLy-._.-bArD", "friendly-bard"),
        ] {
            assert_eq!(normalize_pypi_name(name), expected);
        }
        assert!(is_valid_pypi_name("Friendly.Bard_2"));
        assert!(!is_valid_pypi_name("-bard"));
        assert!(!is_valid_pypi_name("bard/.."));
    }

    #[test]
    fn generic_names_follow_gitlab() {
        assert!(is_valid_generic_name("my-tool_1.0+x.tar.gz"));
        for bad in ["", ".", "..", "a/b", "a b", "a%2fb", "é"] {
            assert!(!is_valid_generic_name(bad), "{bad}");
        }
        assert!(is_valid_generic_version("1.2.3-rc_1+build.5"));
        for bad in ["", "1..2", "..", ".", "1/2", "1 2"] {
            assert!(!is_valid_generic_version(bad), "{bad}");
        }
    }

    #[test]
    fn types_round_trip() {
        for t in PackageType::ALL {
            assert_eq!(PackageType::parse(t.as_str()), Some(t));
        }
        assert_eq!(PackageType::parse("PyPI"), Some(PackageType::Pypi));
        assert_eq!(UploadType::parse("TRANSPORT"), Some(UploadType::Transport));
    }
}
