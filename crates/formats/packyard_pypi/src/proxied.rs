//! Project pages of upstream indexes, as a virtual registry serves them: read from PEP 503 HTML or
//! PEP 691 JSON (whichever the upstream answered, stored as it came), with each file's absolute upstream
//! URL, `#sha256=`, `data-requires-python`, yank and core metadata kept, then written out with file URLs
//! that point at the virtual registry.

use serde_json::Value;
use url::Url;

use crate::filename::DistributionName;
use crate::index::{IndexFile, JSON_TYPE};

/// The largest upstream project page a virtual registry reads (held in memory while it is served).
pub const PAGE_MAX: u64 = 32 * 1024 * 1024;

/// What a virtual registry asks upstream indexes for: JSON when they speak it, else HTML.
pub const UPSTREAM_ACCEPT: &str = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.1";

/// One file of an upstream's project page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamFile {
    /// File name.
    pub filename: String,
    /// Absolute URL on the upstream, without its fragment.
    pub url: Url,
    /// sha256 hex, when the page declares one.
    pub sha256: Option<String>,
    /// `Requires-Python`.
    pub requires_python: Option<String>,
    /// Yanked, with its reason (possibly empty).
    pub yanked: Option<String>,
    /// sha256 hex of the core metadata at `url` + `.metadata`, when declared with a hash.
    pub core_metadata_sha256: Option<String>,
    /// Size in bytes (JSON pages).
    pub size: Option<i64>,
    /// Upload time (JSON pages).
    pub upload_time: Option<String>,
}

/// Why an upstream's page was refused.
#[derive(Debug)]
pub struct PageError(pub String);

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the upstream's project page is invalid: {}", self.0)
    }
}

fn sha256_hex(value: &str) -> Option<String> {
    let hex = value.trim().to_ascii_lowercase();
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hex)
}

/// A `sha256=<hex>` fragment or attribute value.
fn hash_of(value: &str) -> Option<String> {
    value.strip_prefix("sha256=").and_then(sha256_hex)
}

/// Splits a URL from its `#sha256=` fragment.
fn file_url(page: &Url, href: &str) -> Result<(Url, Option<String>), PageError> {
    let mut url = page
        .join(href)
        .map_err(|e| PageError(format!("file URL {href:?}: {e}")))?;
    let sha256 = url.fragment().and_then(hash_of);
    url.set_fragment(None);
    Ok((url, sha256))
}

/// Decodes the character references HTML attribute values and text carry.
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('&') {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let Some(end) = tail.find(';').filter(|end| *end <= 10) else {
            out.push('&');
            rest = &tail[1..];
            continue;
        };
        let entity = &tail[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &tail[end + 1..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The attributes of a start tag's inside (after its name), names lowercased.
fn attributes(tag: &str) -> Vec<(String, Option<String>)> {
    let mut found = Vec::new();
    let bytes = tag.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b'/') {
            i += 1;
        }
        let start = i;
        while i < bytes.len() && !bytes[i].is_ascii_whitespace() && !matches!(bytes[i], b'=' | b'/')
        {
            i += 1;
        }
        if start == i {
            break;
        }
        let name = tag[start..i].to_ascii_lowercase();
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i < bytes.len() && bytes[i] == b'=' {
            i += 1;
            while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            let value = if i < bytes.len() && matches!(bytes[i], b'"' | b'\'') {
                let quote = bytes[i];
                let begin = i + 1;
                let end = tag[begin..]
                    .bytes()
                    .position(|b| b == quote)
                    .map_or(tag.len(), |p| begin + p);
                i = (end + 1).min(tag.len());
                &tag[begin..end]
            } else {
                let begin = i;
                while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
                &tag[begin..i]
            };
            found.push((name, Some(unescape(value))));
        } else {
            found.push((name, None));
        }
    }
    found
}

/// Reads a PEP 503 page: every `<a>` with an `href` is a file.
pub fn parse_html(page: &Url, html: &str) -> Result<Vec<UpstreamFile>, PageError> {
    let lower = html.to_ascii_lowercase();
    let mut files = Vec::new();
    let mut at = 0;
    while let Some(found) = lower[at..].find("<a") {
        let start = at + found + 2;
        at = start;
        if !lower[start..].starts_with(|c: char| c.is_ascii_whitespace()) {
            continue;
        }
        let Some(close) = lower[start..].find('>') else {
            break;
        };
        let tag = &html[start..start + close];
        let text_start = start + close + 1;
        let text_end = lower[text_start..]
            .find("</a")
            .map_or(html.len(), |p| text_start + p);
        at = text_end;
        let attributes = attributes(tag);
        let value = |name: &str| {
            attributes
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone().unwrap_or_default())
        };
        let Some(href) = value("href") else {
            continue;
        };
        let (url, sha256) = file_url(page, &href)?;
        let text = unescape(html[text_start..text_end].trim());
        let filename = if text.is_empty() {
            url.path_segments()
                .and_then(|mut s| s.next_back())
                .unwrap_or_default()
                .to_owned()
        } else {
            text
        };
        let core_metadata =
            value("data-core-metadata").or_else(|| value("data-dist-info-metadata"));
        files.push(UpstreamFile {
            filename,
            url,
            sha256,
            requires_python: value("data-requires-python").filter(|r| !r.is_empty()),
            yanked: value("data-yanked"),
            core_metadata_sha256: core_metadata.as_deref().and_then(hash_of),
            size: None,
            upload_time: None,
        });
    }
    Ok(files)
}

/// Reads a PEP 691 page.
pub fn parse_json(page: &Url, body: &[u8]) -> Result<Vec<UpstreamFile>, PageError> {
    let document: Value = serde_json::from_slice(body).map_err(|e| PageError(e.to_string()))?;
    let listed = document
        .get("files")
        .and_then(Value::as_array)
        .ok_or_else(|| PageError("files is missing".into()))?;
    let mut files = Vec::new();
    for file in listed {
        let text = |key: &str| file.get(key).and_then(Value::as_str);
        let (Some(filename), Some(href)) = (text("filename"), text("url")) else {
            return Err(PageError("a file without filename or url".into()));
        };
        let (url, fragment_hash) = file_url(page, href)?;
        let sha256 = file
            .get("hashes")
            .and_then(|h| h.get("sha256"))
            .and_then(Value::as_str)
            .and_then(sha256_hex)
            .or(fragment_hash);
        let yanked = match file.get("yanked") {
            Some(Value::Bool(true)) => Some(String::new()),
            Some(Value::String(reason)) => Some(reason.clone()),
            _ => None,
        };
        let core_metadata = file
            .get("core-metadata")
            .or_else(|| file.get("data-dist-info-metadata"))
            .and_then(|m| m.get("sha256"))
            .and_then(Value::as_str)
            .and_then(sha256_hex);
        files.push(UpstreamFile {
            filename: filename.to_owned(),
            url,
            sha256,
            requires_python: text("requires-python")
                .filter(|r| !r.is_empty())
                .map(str::to_owned),
            yanked,
            core_metadata_sha256: core_metadata,
            size: file.get("size").and_then(Value::as_i64),
            upload_time: text("upload-time").map(str::to_owned),
        });
    }
    Ok(files)
}

/// Reads a page by the content type it was served with.
pub fn parse_page(
    page: &Url,
    content_type: &str,
    body: &[u8],
) -> Result<Vec<UpstreamFile>, PageError> {
    if content_type.trim().starts_with(JSON_TYPE) {
        parse_json(page, body)
    } else {
        let html = std::str::from_utf8(body).map_err(|_| PageError("not UTF-8".into()))?;
        parse_html(page, html)
    }
}

/// The versions of a page's files, in the order they first appear (the file names say them).
pub fn versions_of(files: &[UpstreamFile]) -> Vec<String> {
    let mut versions: Vec<String> = Vec::new();
    for file in files {
        if let Some(name) = DistributionName::parse(&file.filename)
            && !versions.contains(&name.version)
        {
            versions.push(name.version);
        }
    }
    versions
}

/// The files as the virtual registry lists them, each at `file_url(file name)`.
pub fn index_files(files: &[UpstreamFile], file_url: impl Fn(&str) -> String) -> Vec<IndexFile> {
    files
        .iter()
        .map(|file| IndexFile {
            filename: file.filename.clone(),
            url: file_url(&file.filename),
            sha256: file.sha256.clone().unwrap_or_default(),
            requires_python: file.requires_python.clone(),
            size: file.size,
            upload_time: file.upload_time.clone(),
            core_metadata_sha256: file.core_metadata_sha256.clone(),
            yanked: file.yanked.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

    use super::*;

    fn page() -> Url {
        Url::parse("http://127.0.0.1:8080/simple/demo/").unwrap()
    }

    #[test]
    fn reads_html_pages_with_every_attribute() {
        let hash = "ab".repeat(32);
        let html = format!(
            "<html><body><h1>Links</h1>\n\
             <a href=\"../../packages/demo-1.0.tar.gz#sha256={hash}\" data-requires-python=\"&gt;=3.8\">demo-1.0.tar.gz</a><br>\n\
             <A HREF='https://files.example/demo-1.1-py3-none-any.whl#sha256={hash}' data-yanked=\"broken\" \
             data-dist-info-metadata=\"sha256={hash}\">demo-1.1-py3-none-any.whl</A>\n\
             <a href=\"demo-0.9.tar.gz\" data-yanked>demo-0.9.tar.gz</a>\n</body></html>"
        );
        let files = parse_html(&page(), &html).unwrap();
        assert_eq!(files.len(), 3);
        assert_eq!(
            files[0].url.as_str(),
            "http://127.0.0.1:8080/packages/demo-1.0.tar.gz"
        );
        assert_eq!(files[0].sha256.as_deref(), Some(hash.as_str()));
        assert_eq!(files[0].requires_python.as_deref(), Some(">=3.8"));
        assert_eq!(files[0].yanked, None);
        assert_eq!(files[1].filename, "demo-1.1-py3-none-any.whl");
        assert_eq!(files[1].yanked.as_deref(), Some("broken"));
        assert_eq!(
            files[1].core_metadata_sha256.as_deref(),
            Some(hash.as_str())
        );
        assert_eq!(files[2].yanked.as_deref(), Some(""));
        assert_eq!(files[2].sha256, None);
        assert_eq!(versions_of(&files), vec!["1.0", "1.1", "0.9"]);
    }

    #[test]
    fn reads_json_pages() {
        let hash = "cd".repeat(32);
        let body = serde_json::json!({
            "meta": {"api-version": "1.1"},
            "name": "demo",
            "files": [{
                "filename": "demo-1.0.tar.gz",
                "url": "https://files.example/demo-1.0.tar.gz",
                "hashes": {"sha256": hash},
                "requires-python": ">=3.9",
                "yanked": true,
                "size": 42,
                "core-metadata": {"sha256": hash}
            }]
        });
        let files = parse_page(&page(), JSON_TYPE, body.to_string().as_bytes()).unwrap();
        assert_eq!(files[0].sha256.as_deref(), Some(hash.as_str()));
        assert_eq!(files[0].yanked.as_deref(), Some(""));
        assert_eq!(files[0].size, Some(42));
        assert_eq!(
            files[0].core_metadata_sha256.as_deref(),
            Some(hash.as_str())
        );
        assert!(parse_page(&page(), JSON_TYPE, b"{}").is_err());
    }

    #[test]
    fn unescapes_character_references() {
        assert_eq!(
            unescape("a&amp;b&lt;&#62;&#x3d;&bogus; &"),
            "a&b<>=&bogus; &"
        );
    }
}
