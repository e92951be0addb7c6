//! Property tests of the Composer parsers: `composer.json` documents, dist zips, package names and
//! versions. Arbitrary input never panics; an accepted manifest has a valid name and its published
//! metadata has no root-only keys; version normalisation is idempotent.

use std::io::Cursor;

use packyard_test_inputs::{
    ARCHIVE_CASES, CASES, OVERSIZED_CASES, config, damage, entry_name, json_value, oversized,
    zip_bytes,
};
use proptest::prelude::*;
use serde_json::Value;

use crate::manifest::{Manifest, is_valid_package_name, normalize_version, read_zip_manifest};

const KEYS: &[&str] = &[
    "name",
    "version",
    "require",
    "require-dev",
    "autoload",
    "autoload-dev",
    "config",
    "repositories",
    "type",
];

/// Versions as `composer.json` and URLs carry them, and near misses.
fn version_text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[vV]?[0-9]{1,6}(\\.[0-9]{1,3}){0,4}([-._]?(stable|beta|b|rc|RC|alpha|a|patch|pl|p)([.-]?[0-9]{1,2}){0,2})?([.-]?dev)?(\\+[a-z0-9]{0,3})?",
        1 => "[vV]?[0-9]{1,3}(\\.([0-9]{1,3}|x|\\*)){0,4}[.-]dev",
        1 => "[dD][eE][vV]-[a-zA-Z0-9/._é-]{0,10}",
        1 => "[a-z]{0,3}[éü€]-?[a-z0-9]{0,4}",
        1 => any::<String>(),
    ]
}

/// A package name: valid-looking, or a near miss.
fn package_name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-z0-9]{1,5}([_.-]?[a-z0-9]{1,4}){0,2}/[a-z0-9]{1,5}(([_.]|-{1,2})?[a-z0-9]{1,4}){0,2}",
        1 => "[a-zA-Z0-9_./-]{0,16}",
        1 => any::<String>(),
    ]
}

/// A `composer.json`: an object with a name and fields of random shapes, or any JSON at all.
fn composer_json() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => (package_name(), prop::collection::vec((prop::sample::select(KEYS), json_value(KEYS)), 0..6))
            .prop_map(|(name, fields)| {
                let mut object: serde_json::Map<String, Value> =
                    fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
                object.insert("name".into(), Value::String(name));
                serde_json::to_vec(&Value::Object(object)).unwrap_or_default()
            }),
        1 => json_value(KEYS).prop_map(|v| serde_json::to_vec(&v).unwrap_or_default()),
        1 => prop::collection::vec(any::<u8>(), 0..128),
    ]
}

fn check_accepted(manifest: Result<Manifest, impl std::fmt::Debug>) -> Result<(), TestCaseError> {
    if let Ok(manifest) = manifest {
        prop_assert!(is_valid_package_name(&manifest.name));
        prop_assert_eq!(
            manifest.document.get("name"),
            Some(&Value::String(manifest.name.clone()))
        );
        let Value::Object(metadata) = manifest.package_metadata() else {
            return Err(TestCaseError::fail("package metadata is not an object"));
        };
        prop_assert!(!metadata.contains_key("version") && !metadata.contains_key("config"));
        prop_assert_eq!(metadata.get("name"), manifest.document.get("name"));
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(CASES))]

    #[test]
    fn version_normalisation_never_panics_and_is_idempotent(version in version_text()) {
        if let Some(normalized) = normalize_version(&version) {
            prop_assert_eq!(normalize_version(&normalized), Some(normalized.clone()), "{:?}", version);
            prop_assert!(!normalized.contains(char::is_whitespace));
        }
    }

    #[test]
    fn accepted_package_names_are_lowercase_vendor_and_name(name in package_name()) {
        if is_valid_package_name(&name) {
            prop_assert_eq!(name.to_ascii_lowercase(), name.clone());
            prop_assert_eq!(name.matches('/').count(), 1);
            prop_assert!(!name.split('/').any(|part| part.is_empty() || part.starts_with('.') || part.contains("..")));
        }
    }

    #[test]
    fn any_document_as_composer_json_never_panics(bytes in composer_json()) {
        check_accepted(Manifest::parse(&bytes))?;
    }
}

proptest! {
    #![proptest_config(config(ARCHIVE_CASES))]

    #[test]
    fn random_dist_zips_never_panic(
        entries in prop::collection::vec(
            (entry_name(&["composer.json", "src/Demo.php", "README.md"]), composer_json()),
            0..5,
        ),
        deflate in any::<bool>(),
        damage in damage(),
    ) {
        let bytes = damage.apply(zip_bytes(&entries, deflate));
        check_accepted(read_zip_manifest(Cursor::new(bytes)))?;
    }

    #[test]
    fn any_bytes_as_a_dist_zip_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = read_zip_manifest(Cursor::new(bytes));
    }
}

proptest! {
    #![proptest_config(config(OVERSIZED_CASES))]

    #[test]
    fn a_manifest_beyond_the_cap_is_refused(content in oversized(crate::manifest::MAX_MANIFEST)) {
        let package = zip_bytes(&[("composer.json".to_owned(), content)], true);
        let refused = read_zip_manifest(Cursor::new(package)).unwrap_err();
        prop_assert!(refused.0.contains("larger than"), "{}", refused.0);
    }
}
