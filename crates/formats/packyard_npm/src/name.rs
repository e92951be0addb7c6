//! npm package names (`name`, `@scope/name`) and versions as URLs and tarballs carry them.

/// Longest package name npm accepts, scope included.
pub const MAX_NAME: usize = 214;
/// Longest version accepted.
pub const MAX_VERSION: usize = 256;

/// A package name: an optional scope and the name within it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NpmName {
    /// The scope without its `@`, if any.
    pub scope: Option<String>,
    /// The name without its scope.
    pub bare: String,
}

fn is_valid_part(part: &str) -> bool {
    !part.is_empty()
        && !part.starts_with('.')
        && !part.starts_with('_')
        && part
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

impl NpmName {
    /// Parses `name`, `@scope/name`, or the forms a URL carries (`@scope%2fname`, `%40scope%2fname`).
    pub fn parse(text: &str) -> Option<Self> {
        let text = text
            .replace("%2f", "/")
            .replace("%2F", "/")
            .replace("%40", "@");
        if text.len() > MAX_NAME {
            return None;
        }
        let (scope, bare) = match text.strip_prefix('@') {
            Some(scoped) => {
                let (scope, bare) = scoped.split_once('/')?;
                (Some(scope.to_owned()), bare.to_owned())
            }
            None => (None, text),
        };
        if scope.as_deref().is_some_and(|s| !is_valid_part(s)) || !is_valid_part(&bare) {
            return None;
        }
        Some(Self { scope, bare })
    }

    /// A scoped name from GitFlic's separate scope and name (the scope with or without its `@`).
    pub fn scoped(scope: &str, bare: &str) -> Option<Self> {
        Self::parse(&format!("@{}/{bare}", scope.trim_start_matches('@')))
    }

    /// `name` or `@scope/name`.
    pub fn full(&self) -> String {
        match &self.scope {
            Some(scope) => format!("@{scope}/{}", self.bare),
            None => self.bare.clone(),
        }
    }

    /// The name lookups compare: npm names are lowercase, so case never makes two packages.
    pub fn normalized(&self) -> String {
        self.full().to_lowercase()
    }

    /// The tarball's file name npm uses: `name-1.0.0.tgz`, without the scope.
    pub fn tarball_name(&self, version: &str) -> String {
        format!("{}-{version}.tgz", self.bare)
    }

    /// The version a tarball file name of this package names, if it is one.
    pub fn version_of_tarball<'a>(&self, file_name: &'a str) -> Option<&'a str> {
        file_name
            .strip_prefix(self.bare.as_str())?
            .strip_prefix('-')?
            .strip_suffix(".tgz")
            .filter(|v| is_valid_version(v))
    }
}

/// A version as npm publishes it (semver: digits, letters, `.`, `-`, `+`), starting with a digit.
pub fn is_valid_version(version: &str) -> bool {
    version.len() <= MAX_VERSION
        && version.starts_with(|c: char| c.is_ascii_digit())
        && !version.contains("..")
        && version
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'+'))
}

/// A dist-tag name: not empty, not a version (npm refuses tags that parse as versions), URL-safe.
pub fn is_valid_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= 128
        && !is_valid_version(tag)
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'~'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_in_every_url_form() {
        let scoped = NpmName {
            scope: Some("acme".into()),
            bare: "widget".into(),
        };
        for text in ["@acme/widget", "@acme%2fwidget", "%40acme%2Fwidget"] {
            assert_eq!(NpmName::parse(text), Some(scoped.clone()), "{text}");
        }
        assert_eq!(NpmName::scoped("@acme", "widget"), Some(scoped.clone()));
        assert_eq!(NpmName::scoped("acme", "widget"), Some(scoped.clone()));
        assert_eq!(scoped.full(), "@acme/widget");
        assert_eq!(scoped.tarball_name("1.0.0"), "widget-1.0.0.tgz");
        assert_eq!(NpmName::parse("left-pad").unwrap().full(), "left-pad");
    }

    #[test]
    fn bad_names_are_refused() {
        for text in [
            "", "@acme", "@/x", ".hidden", "_private", "a/b", "@a/b/c", "sp ace", "../x",
        ] {
            assert_eq!(NpmName::parse(text), None, "{text}");
        }
        assert_eq!(NpmName::parse(&"a".repeat(MAX_NAME + 1)), None);
    }

    #[test]
    fn tarball_names_give_their_version() {
        let name = NpmName::parse("@acme/widget").unwrap();
        assert_eq!(
            name.version_of_tarball("widget-1.2.3-beta.1.tgz"),
            Some("1.2.3-beta.1")
        );
        assert_eq!(name.version_of_tarball("other-1.2.3.tgz"), None);
        assert_eq!(name.version_of_tarball("widget-1.2.3.tar.gz"), None);
    }

    #[test]
    fn versions_and_tags() {
        assert!(is_valid_version("1.0.0"));
        assert!(is_valid_version("1.0.0-rc.1+build.5"));
        assert!(!is_valid_version("v1"));
        assert!(!is_valid_version("1..0"));
        assert!(!is_valid_version("1.0/0"));
        assert!(is_valid_tag("beta"));
        assert!(!is_valid_tag("1.0.0"));
        assert!(!is_valid_tag("a/b"));
    }
}
