//! Upstream URL rules: http or https only, normalised before it is validated and stored.

use thiserror::Error;
use url::Url;

/// Longest upstream URL (GitLab's limit).
pub const MAX_URL_LEN: usize = 255;

/// Why an upstream URL was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum UpstreamUrlError {
    /// Blank.
    #[error("can't be blank")]
    Blank,
    /// Longer than [`MAX_URL_LEN`].
    #[error("is too long (maximum is 255 characters)")]
    TooLong,
    /// Not an absolute http(s) URL with a host.
    #[error("is blocked: Only allowed schemes are http, https")]
    Scheme,
    /// Unparseable.
    #[error("must be a valid URL")]
    Malformed,
}

/// Normalises an upstream URL as GitLab does before validating it: surrounding whitespace stripped, host
/// lowercased, default port dropped, trailing slashes and a trailing `.git` removed. Userinfo is kept.
pub fn normalize_upstream_url(raw: &str) -> Result<Url, UpstreamUrlError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(UpstreamUrlError::Blank);
    }
    let mut url = Url::parse(trimmed).map_err(|_| UpstreamUrlError::Malformed)?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(UpstreamUrlError::Scheme);
    }
    // `Url` lowercases the host and drops the scheme's default port by itself.
    let mut path = url.path().trim_end_matches('/').to_owned();
    if let Some(stripped) = path.strip_suffix(".git") {
        path = stripped.trim_end_matches('/').to_owned();
    }
    url.set_path(&path);
    url.set_fragment(None);
    let mut text = url.to_string();
    if url.path() == "/" && url.query().is_none() {
        text.pop();
    }
    if text.len() > MAX_URL_LEN {
        return Err(UpstreamUrlError::TooLong);
    }
    Url::parse(&text).map_err(|_| UpstreamUrlError::Malformed)
}

/// The same URL with the other of http/https, for the "same URL and credentials" rule.
pub fn upstream_url_twin(url: &str) -> String {
    if let Some(rest) = url.strip_prefix("https://") {
        format!("http://{rest}")
    } else if let Some(rest) = url.strip_prefix("http://") {
        format!("https://{rest}")
    } else {
        url.to_owned()
    }
}

/// The stored form of a normalised URL: no trailing slash on a bare host.
pub fn stored_url(url: &Url) -> String {
    url.as_str().trim_end_matches('/').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(raw: &str) -> String {
        stored_url(&normalize_upstream_url(raw).unwrap())
    }

    #[test]
    fn normalises_like_gitlab() {
        assert_eq!(
            norm("  HTTPS://Repo.Example.COM:443/maven2.git/ "),
            "https://repo.example.com/maven2"
        );
        assert_eq!(norm("http://example.com:80/a//"), "http://example.com/a");
        assert_eq!(norm("http://example.com:8081/"), "http://example.com:8081");
        assert_eq!(
            norm("https://user:pw@example.com/r"),
            "https://user:pw@example.com/r"
        );
    }

    #[test]
    fn refuses_other_schemes_and_junk() {
        assert_eq!(
            normalize_upstream_url("ftp://example.com"),
            Err(UpstreamUrlError::Scheme)
        );
        assert_eq!(
            normalize_upstream_url("file:///etc/passwd"),
            Err(UpstreamUrlError::Scheme)
        );
        assert_eq!(
            normalize_upstream_url("not a url"),
            Err(UpstreamUrlError::Malformed)
        );
        assert_eq!(normalize_upstream_url("   "), Err(UpstreamUrlError::Blank));
        let long = format!("https://example.com/{}", "a".repeat(300));
        assert_eq!(
            normalize_upstream_url(&long),
            Err(UpstreamUrlError::TooLong)
        );
    }

    #[test]
    fn twins_swap_scheme() {
        assert_eq!(upstream_url_twin("https://a/b"), "http://a/b");
        assert_eq!(upstream_url_twin("http://a/b"), "https://a/b");
    }
}
