//! Cache entry ids as clients see them: base64 of `"<upstream_id> <relative_path>"`.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};

use crate::UpstreamId;

/// An opaque cache entry id: base64 of `"<upstream_id> <relative_path>"` (the path without its leading `/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheEntryId {
    /// The upstream the entry belongs to.
    pub upstream_id: UpstreamId,
    /// The relative path, without a leading `/`.
    pub relative_path: String,
}

impl CacheEntryId {
    /// Encodes the id with the standard base64 alphabet, as GitLab's docs show it.
    pub fn encode(&self) -> String {
        STANDARD.encode(format!("{} {}", self.upstream_id, self.relative_path))
    }

    /// Decodes an id given in the standard or url-safe alphabet; `None` when it is not one of ours.
    pub fn decode(id: &str) -> Option<Self> {
        let bytes = STANDARD.decode(id).or_else(|_| URL_SAFE.decode(id)).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let (upstream, path) = text.split_once(' ')?;
        let upstream_id = UpstreamId(upstream.parse().ok()?);
        let relative_path = path.trim_start_matches('/').to_owned();
        if relative_path.is_empty() {
            return None;
        }
        Some(Self {
            upstream_id,
            relative_path,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_documented_example() {
        let id = CacheEntryId::decode(
            "MTUgZm9vL2Jhci9teXBrZy8xLjAtU05BUFNIT1QvbXlwa2ctMS4wLVNOQVBTSE9ULmphcg==",
        )
        .unwrap();
        assert_eq!(id.upstream_id, UpstreamId(15));
        assert_eq!(
            id.relative_path,
            "foo/bar/mypkg/1.0-SNAPSHOT/mypkg-1.0-SNAPSHOT.jar"
        );
        assert_eq!(
            id.encode(),
            "MTUgZm9vL2Jhci9teXBrZy8xLjAtU05BUFNIT1QvbXlwa2ctMS4wLVNOQVBTSE9ULmphcg=="
        );
    }

    #[test]
    fn accepts_url_safe_alphabet_and_rejects_garbage() {
        let id = CacheEntryId {
            upstream_id: UpstreamId(3),
            relative_path: "a/b?>/c.jar".into(),
        };
        let url_safe = URL_SAFE.encode(format!("3 {}", id.relative_path));
        assert_eq!(CacheEntryId::decode(&url_safe), Some(id));
        assert_eq!(CacheEntryId::decode("!!!"), None);
        assert_eq!(CacheEntryId::decode(&STANDARD.encode("x a/b")), None);
        assert_eq!(CacheEntryId::decode(&STANDARD.encode("3 ")), None);
    }
}
