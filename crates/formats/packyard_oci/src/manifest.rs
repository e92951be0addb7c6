//! Manifest media types, what a manifest document is, and the Accept negotiation with clients.

use serde::Deserialize;

/// Docker image manifest, schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// What packyard asks upstreams for: every manifest type it can serve (GitLab sends the same list).
pub const UPSTREAM_ACCEPT: &str = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json";

/// Largest manifest accepted (the limit distribution registries use).
pub const MAX_MANIFEST_SIZE: usize = 4 * 1024 * 1024;

/// True for an index or manifest list, which names per-platform manifests.
pub fn is_list(media_type: &str) -> bool {
    media_type == DOCKER_MANIFEST_LIST || media_type == OCI_INDEX
}

#[derive(Debug, Deserialize)]
struct Document {
    #[serde(rename = "mediaType")]
    media_type: Option<String>,
    manifests: Option<Vec<Descriptor>>,
    config: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct Descriptor {
    #[serde(rename = "mediaType")]
    media_type: Option<String>,
    digest: String,
    platform: Option<Platform>,
}

#[derive(Debug, Deserialize)]
struct Platform {
    architecture: String,
    os: String,
}

/// The media type of a manifest: the upstream's `Content-Type` when it names a manifest type, else the
/// document's `mediaType`, else its shape (OCI allows leaving `mediaType` out). `None`: not a manifest.
pub fn media_type(content_type: &str, body: &[u8]) -> Option<String> {
    let declared = content_type.split(';').next().unwrap_or("").trim();
    if [
        DOCKER_MANIFEST,
        DOCKER_MANIFEST_LIST,
        OCI_MANIFEST,
        OCI_INDEX,
    ]
    .contains(&declared)
    {
        return Some(declared.to_owned());
    }
    let document: Document = serde_json::from_slice(body).ok()?;
    match (document.media_type, document.manifests, document.config) {
        (Some(media_type), _, _) => Some(media_type),
        (None, Some(_), _) => Some(OCI_INDEX.to_owned()),
        (None, None, Some(_)) => Some(OCI_MANIFEST.to_owned()),
        (None, None, None) => None,
    }
}

/// The media types a client's `Accept` headers name; empty means "anything".
pub fn accepted(headers: impl Iterator<Item = String>) -> Vec<String> {
    headers
        .flat_map(|value| {
            value
                .split(',')
                .map(|part| part.split(';').next().unwrap_or("").trim().to_owned())
                .collect::<Vec<_>>()
        })
        .filter(|media_type| !media_type.is_empty())
        .collect()
}

/// True when the client takes `media_type`.
pub fn acceptable(accepted: &[String], media_type: &str) -> bool {
    accepted.is_empty()
        || accepted
            .iter()
            .any(|a| a == media_type || a == "*/*" || a == "application/*")
}

/// For a client that cannot take lists: the digest of the list's linux/amd64 manifest (what distribution
/// registries serve such clients), if it has one the client accepts.
pub fn default_platform_manifest(list: &[u8], accepted: &[String]) -> Option<String> {
    let document: Document = serde_json::from_slice(list).ok()?;
    document
        .manifests?
        .into_iter()
        .find(|m| {
            m.platform
                .as_ref()
                .is_some_and(|p| p.os == "linux" && p.architecture == "amd64")
                && m.media_type
                    .as_deref()
                    .is_none_or(|media_type| acceptable(accepted, media_type))
        })
        .map(|m| m.digest)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]

    use super::*;

    #[test]
    fn media_types_come_from_the_header_the_document_or_its_shape() {
        assert_eq!(media_type(OCI_INDEX, b"{}").unwrap(), OCI_INDEX);
        assert_eq!(
            media_type(
                "application/json",
                format!(r#"{{"mediaType":"{DOCKER_MANIFEST}"}}"#).as_bytes()
            )
            .unwrap(),
            DOCKER_MANIFEST
        );
        assert_eq!(
            media_type("application/octet-stream", br#"{"manifests":[]}"#).unwrap(),
            OCI_INDEX
        );
        assert_eq!(media_type("", br#"{"config":{}}"#).unwrap(), OCI_MANIFEST);
        assert_eq!(media_type("application/json", b"not json"), None);
    }

    #[test]
    fn negotiation_follows_the_accept_headers() {
        let accepted = accepted(
            [
                format!("{DOCKER_MANIFEST}; q=0.9, {OCI_MANIFEST}"),
                DOCKER_MANIFEST_LIST.to_owned(),
            ]
            .into_iter(),
        );
        assert_eq!(
            accepted,
            [DOCKER_MANIFEST, OCI_MANIFEST, DOCKER_MANIFEST_LIST]
        );
        assert!(acceptable(&accepted, OCI_MANIFEST));
        assert!(!acceptable(&accepted, OCI_INDEX));
        assert!(acceptable(&[], OCI_INDEX));
        assert!(acceptable(&["*/*".to_owned()], OCI_INDEX));
    }

    #[test]
    fn lists_fall_back_to_linux_amd64() {
        let list = format!(
            r#"{{"manifests":[
                {{"mediaType":"{OCI_MANIFEST}","digest":"sha256:arm","platform":{{"architecture":"arm64","os":"linux"}}}},
                {{"mediaType":"{OCI_MANIFEST}","digest":"sha256:amd","platform":{{"architecture":"amd64","os":"linux"}}}}]}}"#
        );
        assert_eq!(
            default_platform_manifest(list.as_bytes(), &[OCI_MANIFEST.to_owned()]).as_deref(),
            Some("sha256:amd")
        );
        assert_eq!(
            default_platform_manifest(list.as_bytes(), &[DOCKER_MANIFEST.to_owned()]),
            None
        );
    }
}
