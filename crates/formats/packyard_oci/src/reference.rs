//! What a pull path names: `<image>/manifests/<tag or digest>` or `<image>/blobs/<digest>`, validated
//! with the distribution spec's grammar.

use packyard_core::pull::sha256_hex;

/// What the path asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A manifest by tag.
    Tag(String),
    /// A manifest by digest (`sha256:<hex>`).
    ManifestDigest(String),
    /// A blob by digest (`sha256:<hex>`).
    Blob(String),
}

/// A parsed pull path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The image name, possibly with several segments (`library/alpine`).
    pub image: String,
    /// The manifest or blob.
    pub target: Target,
}

/// Why a path is refused, as an OCI error code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathError {
    /// `NAME_INVALID`, `TAG_INVALID`, `DIGEST_INVALID` or `UNSUPPORTED`.
    pub code: &'static str,
    /// What is wrong.
    pub message: String,
}

fn error(code: &'static str, message: impl Into<String>) -> PathError {
    PathError {
        code,
        message: message.into(),
    }
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn valid_name_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let separator = &component[start..i];
        let allowed = matches!(separator, "." | "_" | "__") || separator.bytes().all(|b| b == b'-');
        if !allowed {
            return false;
        }
    }
    true
}

/// `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`
fn valid_tag(tag: &str) -> bool {
    let bytes = tag.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 128
        && (bytes[0].is_ascii_alphanumeric() || bytes[0] == b'_')
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn digest(text: &str) -> Result<String, PathError> {
    if sha256_hex(text).is_some() {
        return Ok(text.to_ascii_lowercase());
    }
    if text.contains(':') {
        Err(error(
            "DIGEST_INVALID",
            format!("unsupported or malformed digest {text:?} (sha256 only)"),
        ))
    } else {
        Err(error("DIGEST_INVALID", format!("{text:?} is not a digest")))
    }
}

/// Parses `<image>/manifests/<reference>` or `<image>/blobs/<digest>`.
pub fn parse(path: &str) -> Result<Reference, PathError> {
    let (image, kind, last) = path
        .rsplit_once('/')
        .and_then(|(rest, last)| {
            let (image, kind) = rest.rsplit_once('/')?;
            Some((image, kind, last))
        })
        .ok_or_else(|| {
            error(
                "UNSUPPORTED",
                "expected <image>/manifests/<reference> or <image>/blobs/<digest>",
            )
        })?;
    if image.len() > 255 || !image.split('/').all(valid_name_component) {
        return Err(error(
            "NAME_INVALID",
            format!("invalid image name {image:?}"),
        ));
    }
    let target = match kind {
        "manifests" if last.contains(':') => Target::ManifestDigest(digest(last)?),
        "manifests" if valid_tag(last) => Target::Tag(last.to_owned()),
        "manifests" => return Err(error("TAG_INVALID", format!("invalid tag {last:?}"))),
        "blobs" => Target::Blob(digest(last)?),
        _ => {
            return Err(error(
                "UNSUPPORTED",
                format!("{kind:?} is not served: only manifests and blobs pull through"),
            ));
        }
    };
    Ok(Reference {
        image: image.to_owned(),
        target,
    })
}

impl Reference {
    /// The cache path: `<image>/manifests/<reference>` or `<image>/blobs/<digest>`.
    pub fn cache_path(&self) -> String {
        match &self.target {
            Target::Tag(tag) => format!("{}/manifests/{tag}", self.image),
            Target::ManifestDigest(digest) => format!("{}/manifests/{digest}", self.image),
            Target::Blob(digest) => format!("{}/blobs/{digest}", self.image),
        }
    }

    /// The scope a registry token for this image covers.
    pub fn pull_scope(&self) -> String {
        format!("repository:{}:pull", self.image)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]

    use super::*;

    const DIGEST: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parses_manifests_by_tag_and_digest_and_blobs() {
        let tag = parse("library/alpine/manifests/3.20").unwrap();
        assert_eq!(tag.image, "library/alpine");
        assert_eq!(tag.target, Target::Tag("3.20".into()));
        assert_eq!(tag.cache_path(), "library/alpine/manifests/3.20");
        assert_eq!(tag.pull_scope(), "repository:library/alpine:pull");
        let by_digest = parse(&format!("a/b/c/d/manifests/{DIGEST}")).unwrap();
        assert_eq!(by_digest.image, "a/b/c/d");
        assert_eq!(by_digest.target, Target::ManifestDigest(DIGEST.into()));
        let blob = parse(&format!("alpine/blobs/{DIGEST}")).unwrap();
        assert_eq!(blob.target, Target::Blob(DIGEST.into()));
    }

    #[test]
    fn refuses_what_the_grammar_does_not_allow() {
        assert_eq!(
            parse("Alpine/manifests/latest").unwrap_err().code,
            "NAME_INVALID"
        );
        assert_eq!(
            parse("a//b/manifests/latest").unwrap_err().code,
            "NAME_INVALID"
        );
        assert_eq!(
            parse("a-/manifests/latest").unwrap_err().code,
            "NAME_INVALID"
        );
        assert_eq!(parse("a/manifests/-x").unwrap_err().code, "TAG_INVALID");
        assert_eq!(parse("a/blobs/latest").unwrap_err().code, "DIGEST_INVALID");
        assert_eq!(
            parse("a/blobs/sha512:abc").unwrap_err().code,
            "DIGEST_INVALID"
        );
        assert_eq!(
            parse("a/manifests/sha256:xyz").unwrap_err().code,
            "DIGEST_INVALID"
        );
        assert_eq!(parse("a/tags/list").unwrap_err().code, "UNSUPPORTED");
        assert_eq!(parse("latest").unwrap_err().code, "UNSUPPORTED");
        assert!(parse("my_org/some__thing/x.y/a--b/manifests/v1.0_rc-1").is_ok());
    }
}
