//! Property tests of the OCI parsers: pull paths (image name, tag or digest) and manifests (media type,
//! platform selection, `Accept` headers). Arbitrary input never panics; an accepted reference re-renders
//! to itself (digests lowercased) and parses again to the same reference.

use packyard_test_inputs::{CASES, config, json_value};
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::manifest::{
    DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST, acceptable, accepted,
    default_platform_manifest, media_type,
};
use crate::reference::{Target, parse};

const MEDIA_TYPES: &[&str] = &[
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    OCI_MANIFEST,
    OCI_INDEX,
];

const KEYS: &[&str] = &[
    "mediaType",
    "manifests",
    "config",
    "digest",
    "platform",
    "os",
    "architecture",
    "layers",
];

fn image_name() -> impl Strategy<Value = String> {
    let component = prop_oneof![
        4 => "[a-z0-9]{1,6}((\\.|_|__|-{1,3})[a-z0-9]{1,4}){0,2}",
        1 => "[a-zA-Z0-9._-]{0,6}",
        1 => Just("..".to_owned()),
    ];
    prop::collection::vec(component, 1..4).prop_map(|c| c.join("/"))
}

fn reference_text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-zA-Z0-9_][a-zA-Z0-9._-]{0,20}",
        3 => "[0-9a-fA-F]{64}".prop_map(|hex| format!("sha256:{hex}")),
        1 => "(sha256|sha512|SHA256):[0-9a-fA-F]{60,70}",
        1 => "[a-zA-Z0-9._:@-]{0,12}",
        1 => "[a-z]{129,131}",
    ]
}

/// `<image>/<kind>/<reference>` with each part near valid.
fn pull_path() -> impl Strategy<Value = String> {
    (
        image_name(),
        prop_oneof![4 => Just("manifests"), 4 => Just("blobs"), 1 => Just("tags"), 1 => Just("")],
        reference_text(),
    )
        .prop_map(|(image, kind, reference)| format!("{image}/{kind}/{reference}"))
}

fn check_accepted(path: &str) -> Result<(), TestCaseError> {
    let Ok(reference) = parse(path) else {
        return Ok(());
    };
    prop_assert!(reference.image.len() <= 255);
    prop_assert!(
        !reference
            .image
            .split('/')
            .any(|c| c.is_empty() || c == ".." || c == ".")
    );
    let rendered = reference.cache_path();
    match &reference.target {
        Target::Tag(_) => prop_assert_eq!(&rendered, path),
        Target::ManifestDigest(digest) | Target::Blob(digest) => {
            prop_assert_eq!(&rendered, &path.to_ascii_lowercase());
            prop_assert_eq!(digest.len(), "sha256:".len() + 64);
        }
    }
    prop_assert_eq!(parse(&rendered), Ok(reference.clone()));
    prop_assert_eq!(
        reference.pull_scope(),
        format!("repository:{}:pull", reference.image)
    );
    Ok(())
}

/// A manifest or index: the known fields with values of the right or the wrong shape.
fn manifest_document() -> impl Strategy<Value = Value> {
    let platform = prop_oneof![
        (
            prop_oneof![Just("linux"), Just("windows")],
            prop_oneof![Just("amd64"), Just("arm64")]
        )
            .prop_map(|(os, architecture)| json!({"os": os, "architecture": architecture})),
        json_value(KEYS),
    ];
    let descriptor = (
        prop::option::of(prop::sample::select(MEDIA_TYPES)),
        prop_oneof![Just(json!("sha256:abc")), json_value(KEYS)],
        prop::option::of(platform),
    )
        .prop_map(|(media_type, digest, platform)| {
            let mut descriptor = json!({"digest": digest});
            if let Some(media_type) = media_type {
                descriptor["mediaType"] = json!(media_type);
            }
            if let Some(platform) = platform {
                descriptor["platform"] = platform;
            }
            descriptor
        });
    (
        prop::option::of(prop_oneof![
            prop::sample::select(MEDIA_TYPES).prop_map(|m| json!(m)),
            json_value(KEYS)
        ]),
        prop::option::of(prop_oneof![
            prop::collection::vec(descriptor, 0..4).prop_map(Value::Array),
            json_value(KEYS)
        ]),
        prop::option::of(json_value(KEYS)),
    )
        .prop_map(|(media_type, manifests, config)| {
            let mut document = json!({"schemaVersion": 2});
            for (key, value) in [
                ("mediaType", media_type),
                ("manifests", manifests),
                ("config", config),
            ] {
                if let Some(value) = value {
                    document[key] = value;
                }
            }
            document
        })
}

proptest! {
    #![proptest_config(config(CASES))]

    #[test]
    fn any_text_as_a_pull_path_never_panics(path in any::<String>()) {
        check_accepted(&path)?;
    }

    #[test]
    fn accepted_references_re_render_to_themselves(path in pull_path()) {
        check_accepted(&path)?;
    }

    #[test]
    fn valid_references_are_accepted(
        image in "[a-z0-9]{1,8}(/[a-z0-9]{1,8}(-[a-z0-9]{1,3})?){0,2}",
        tag in "[a-zA-Z0-9_][a-zA-Z0-9._-]{0,20}",
        hex in "[0-9a-f]{64}",
    ) {
        let tag_path = format!("{image}/manifests/{tag}");
        prop_assert_eq!(parse(&tag_path).map(|r| r.target), Ok(Target::Tag(tag.clone())));
        let digest = format!("sha256:{hex}");
        let blob_path = format!("{image}/blobs/{digest}");
        prop_assert_eq!(parse(&blob_path).map(|r| r.target), Ok(Target::Blob(digest)));
    }

    #[test]
    fn any_manifest_never_panics(
        document in manifest_document(),
        content_type in prop_oneof![prop::sample::select(MEDIA_TYPES).prop_map(str::to_owned), "[a-z/.+; =-]{0,30}"],
        headers in prop::collection::vec(prop_oneof![
            prop::sample::select(MEDIA_TYPES).prop_map(str::to_owned),
            "[a-z/*.+;=, ]{0,40}",
            any::<String>(),
        ], 0..3),
    ) {
        let body = serde_json::to_vec(&document).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let accepted = accepted(headers.into_iter());
        prop_assert!(accepted.iter().all(|a| !a.is_empty() && a.trim() == a && !a.contains([',', ';'])));
        if let Some(found) = media_type(&content_type, &body) {
            prop_assert!(!found.is_empty());
            let _ = acceptable(&accepted, &found);
        }
        if let Some(digest) = default_platform_manifest(&body, &accepted) {
            let listed = document["manifests"].as_array().is_some_and(|manifests| {
                manifests.iter().any(|m| m["digest"] == json!(digest))
            });
            prop_assert!(listed, "{} is not in the list", digest);
        }
    }

    #[test]
    fn any_bytes_as_a_manifest_never_panic(body in prop::collection::vec(any::<u8>(), 0..512), content_type in any::<String>()) {
        let _ = media_type(&content_type, &body);
        let _ = default_platform_manifest(&body, &[]);
    }
}
