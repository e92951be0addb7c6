//! Property tests of the npm parsers: package names and versions, publish documents (read whole, scanned
//! for their attachment, and measured), and package tarballs. Arbitrary input never panics; an accepted
//! name re-renders to itself; the attachment decoded out of any document is the one it holds; a
//! document's measure never exceeds its size.

use std::io::Cursor;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use packyard_domain::FileDigests;
use packyard_test_inputs::{
    ARCHIVE_CASES, CASES, OVERSIZED_CASES, config, damage, entry_name, json_key, json_value,
    oversized, tar_gz_bytes,
};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

use crate::attachment::{decode_attachment, measure_document};
use crate::manifest::read_tarball_manifest;
use crate::name::{MAX_NAME, NpmName, is_valid_tag, is_valid_version};
use crate::publish::{PackageUpdate, Publication};

const KEYS: &[&str] = &[
    "name",
    "version",
    "versions",
    "dist-tags",
    "_attachments",
    "data",
    "length",
    "deprecated",
    "dist",
    "shasum",
    "integrity",
    "readme",
];

fn name_text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "(@[a-z0-9][a-z0-9._~-]{0,8}(/|%2f|%2F))?[a-z0-9][a-zA-Z0-9._~-]{0,12}",
        1 => "(%40|@)?[a-zA-Z0-9._~%/@-]{0,16}",
        1 => any::<String>(),
    ]
}

fn version_text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}(-[a-z0-9.]{1,6})?(\\+[a-z0-9]{1,4})?",
        1 => "[a-z0-9.+_~/-]{0,10}",
    ]
}

/// A publish document: the name, one or more version documents, dist-tags and attachments, each part
/// sometimes off, with random fields of random shape beside them.
fn publish_document() -> impl Strategy<Value = Value> {
    (
        name_text(),
        prop::collection::vec((version_text(), prop::option::of(name_text()), json_value(KEYS)), 0..3),
        prop::collection::vec(("[a-z]{1,6}", version_text()), 0..3),
        prop::collection::vec(("[a-z0-9.-]{1,12}\\.tgz", prop::collection::vec(any::<u8>(), 0..48), any::<bool>()), 0..3),
        prop::collection::vec((json_key(KEYS), json_value(KEYS)), 0..3),
    )
        .prop_map(|(name, versions, tags, attachments, extra)| {
            let mut document: Map<String, Value> = extra.into_iter().collect();
            document.insert("name".into(), json!(name));
            let versions: Map<String, Value> = versions
                .into_iter()
                .map(|(version, declared, noise)| {
                    let manifest = json!({"name": declared.unwrap_or_else(|| name.clone()), "version": version, "noise": noise});
                    (version, manifest)
                })
                .collect();
            document.insert("versions".into(), Value::Object(versions));
            document.insert("dist-tags".into(), Value::Object(tags.into_iter().map(|(tag, version)| (tag, json!(version))).collect()));
            let attachments: Map<String, Value> = attachments
                .into_iter()
                .map(|(file, data, with_length)| {
                    let mut attachment = json!({"content_type": "application/octet-stream", "data": STANDARD.encode(&data)});
                    if with_length {
                        attachment["length"] = json!(data.len());
                    }
                    (file, attachment)
                })
                .collect();
            if !attachments.is_empty() {
                document.insert("_attachments".into(), Value::Object(attachments));
            }
            Value::Object(document)
        })
}

fn decode(document: &[u8]) -> Option<Vec<u8>> {
    let mut bytes = Vec::new();
    decode_attachment(document, |chunk| {
        bytes.extend_from_slice(&chunk);
        true
    })
    .ok()?;
    Some(bytes)
}

proptest! {
    #![proptest_config(config(CASES))]

    #[test]
    fn accepted_names_re_render_to_themselves(text in name_text()) {
        if let Some(name) = NpmName::parse(&text) {
            prop_assert_eq!(NpmName::parse(&name.full()), Some(name.clone()));
            prop_assert!(name.full().len() <= MAX_NAME);
            prop_assert!(!name.bare.contains('/') && !name.bare.starts_with('.'));
            let normalized = name.normalized();
            prop_assert_eq!(NpmName::parse(&normalized).map(|n| n.normalized()), Some(normalized));
            if let Some(scope) = &name.scope {
                prop_assert_eq!(NpmName::scoped(scope, &name.bare), Some(name.clone()));
            }
        }
    }

    #[test]
    fn tarball_names_give_back_their_version(name in name_text(), version in version_text(), other in any::<String>()) {
        if let Some(name) = NpmName::parse(&name) {
            let _ = name.version_of_tarball(&other);
            if is_valid_version(&version) {
                let tarball = name.tarball_name(&version);
                prop_assert_eq!(name.version_of_tarball(&tarball), Some(version.as_str()));
            }
        }
        prop_assert!(!(is_valid_version(&version) && is_valid_tag(&version)));
    }

    #[test]
    fn any_bytes_as_a_document_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = PackageUpdate::read(bytes.as_slice());
        let _ = Publication::read(bytes.as_slice());
        let _ = decode(&bytes);
        if let Ok(size) = measure_document(bytes.as_slice()) {
            prop_assert!(size.without_attachments <= bytes.len() as u64);
            prop_assert!(size.largest_version <= bytes.len() as u64);
        }
    }

    #[test]
    fn publish_documents_are_read_consistently(document in publish_document(), pretty in any::<bool>()) {
        let bytes = if pretty { serde_json::to_vec_pretty(&document) } else { serde_json::to_vec(&document) }
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        if let Ok(publication) = Publication::read(bytes.as_slice()) {
            prop_assert_eq!(publication.manifest.get("version"), Some(&json!(publication.version)));
            prop_assert_eq!(publication.manifest.get("name"), Some(&json!(publication.name)));
            prop_assert!(publication.dist_tags.values().all(|v| *v == publication.version));
            let data = document["_attachments"][&publication.file_name]["data"].as_str().unwrap_or_default();
            let expected = STANDARD.decode(data).map_err(|e| TestCaseError::fail(e.to_string()))?;
            // The scanner finds the same attachment the document names.
            prop_assert_eq!(decode(&bytes), Some(expected.clone()));
            let digests = FileDigests { sha256: String::new(), sha1: String::new(), md5: String::new(), sha512: String::new(), size: expected.len() as i64 };
            let _ = publication.check_dist(&digests);
        }
        let _ = PackageUpdate::read(bytes.as_slice());
        let size = measure_document(bytes.as_slice()).map_err(|e| TestCaseError::fail(e.0))?;
        prop_assert!(size.largest_version <= size.without_attachments);
        if document.get("_attachments").is_none() {
            prop_assert_eq!(size.without_attachments, bytes.len() as u64 - u64::from(pretty && bytes.ends_with(b"\n")));
        } else {
            prop_assert!(size.without_attachments < bytes.len() as u64);
        }
    }

    #[test]
    fn the_first_attachment_is_decoded_wherever_it_is(
        data in prop::collection::vec(any::<u8>(), 0..256),
        before in prop::collection::vec((json_key(KEYS), json_value(KEYS)), 0..4),
        after in prop::collection::vec((json_key(KEYS), json_value(KEYS)), 0..4),
        escaped_slash in any::<bool>(),
    ) {
        let encoded = STANDARD.encode(&data);
        let attachment = json!({"demo-1.0.0.tgz": {"length": data.len(), "data": encoded}});
        let fields = |fields: Vec<(String, Value)>| -> Vec<String> {
            fields
                .into_iter()
                .filter(|(k, _)| k != "_attachments")
                .map(|(k, v)| format!("{}:{}", json!(k), v))
                .collect()
        };
        let mut parts = fields(before);
        parts.push(format!("\"_attachments\" : {attachment}"));
        parts.extend(fields(after));
        let mut text = format!("{{ {} }}", parts.join(",\n "));
        if escaped_slash {
            text = text.replace(&encoded, &encoded.replace('/', "\\/"));
        }
        prop_assert_eq!(decode(text.as_bytes()), Some(data));
    }
}

proptest! {
    #![proptest_config(config(ARCHIVE_CASES))]

    #[test]
    fn random_tarballs_never_panic(
        entries in prop::collection::vec(
            (
                entry_name(&["package/package.json", "package.json", "package/index.js"]),
                prop_oneof![
                    json_value(KEYS).prop_map(|v| serde_json::to_vec(&v).unwrap_or_default()),
                    (name_text(), version_text()).prop_map(|(n, v)| json!({"name": n, "version": v}).to_string().into_bytes()),
                    prop::collection::vec(any::<u8>(), 0..64),
                ],
            ),
            0..5,
        ),
        damage in damage(),
    ) {
        let bytes = damage.apply(tar_gz_bytes(&entries));
        if let Ok(manifest) = read_tarball_manifest(Cursor::new(bytes)) {
            prop_assert_eq!(manifest.0.get("name").and_then(Value::as_str), Some(manifest.name()));
            prop_assert_eq!(manifest.0.get("version").and_then(Value::as_str), Some(manifest.version()));
        }
    }

    #[test]
    fn any_bytes_as_a_tarball_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = read_tarball_manifest(Cursor::new(bytes));
    }
}

proptest! {
    #![proptest_config(config(OVERSIZED_CASES))]

    #[test]
    fn a_manifest_beyond_the_cap_is_refused(content in oversized(crate::manifest::MAX_MANIFEST)) {
        let tarball = tar_gz_bytes(&[("package/package.json".to_owned(), content)]);
        let refused = read_tarball_manifest(Cursor::new(tarball)).unwrap_err();
        prop_assert!(refused.0.contains("larger than"), "{}", refused.0);
    }
}
