//! Property tests of the NuGet parsers: `.nuspec` documents, `.nupkg` zips, ids and versions.
//! Arbitrary input never panics; an accepted manifest has a valid id and a normalised version; version
//! normalisation is idempotent and the version order is a total order; nesting beyond the cap is refused.

use std::cmp::Ordering;
use std::io::Cursor;

use packyard_domain::limits::METADATA_DOCUMENT_MAX;
use packyard_domain::limits::{XML_DEPTH_MAX, too_deep};
use packyard_test_inputs::{
    ARCHIVE_CASES, CASES, OVERSIZED_CASES, config, damage, entry_name, nested_xml, oversized,
    xml_document, zip_bytes,
};
use proptest::prelude::*;

use crate::nuspec::{read_nupkg_nuspec, read_nuspec};
use crate::version::{compare, is_valid_id, normalize_version};

const NUSPEC_NAMES: &[&str] = &[
    "package",
    "metadata",
    "id",
    "version",
    "description",
    "authors",
    "tags",
    "dependencies",
    "group",
    "dependency",
    "targetFramework",
];

/// Versions as clients write them, and some they should not.
fn version_text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[0-9]{1,4}(\\.[0-9]{1,4}){0,4}(-[a-zA-Z0-9.-]{0,8})?(\\+[a-z0-9.]{0,4})?",
        1 => " ?v?[0-9]{1,25}(\\.[0-9x]{0,3}){0,5}[-+. ]?",
        1 => any::<String>(),
    ]
}

/// A nuspec that is valid but for what the generators put in its fields.
fn nuspec_document() -> impl Strategy<Value = String> {
    (
        prop_oneof!["[A-Za-z0-9_][A-Za-z0-9._-]{0,20}", any::<String>()],
        version_text(),
        xml_document("dependencies", NUSPEC_NAMES),
    )
        .prop_map(|(id, version, dependencies)| {
            let dependencies = dependencies
                .trim_start_matches('\u{feff}')
                .trim_start_matches("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
            format!(
                "<package><metadata><id>{}</id><version>{}</version>{dependencies}</metadata></package>",
                quick_xml::escape::escape(id.as_str()),
                quick_xml::escape::escape(version.as_str()),
            )
        })
}

fn check_accepted_nuspec(text: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(nuspec) = read_nuspec(text) {
        prop_assert!(is_valid_id(&nuspec.id), "{:?}", nuspec.id);
        prop_assert_eq!(
            normalize_version(&nuspec.version),
            Some(nuspec.normalized_version.clone())
        );
        for group in &nuspec.dependency_groups {
            prop_assert!(group.dependencies.iter().all(|d| !d.id.is_empty()));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(CASES))]

    #[test]
    fn any_bytes_as_a_nuspec_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check_accepted_nuspec(&bytes)?;
    }

    #[test]
    fn random_xml_as_a_nuspec_never_panics(document in xml_document("package", NUSPEC_NAMES)) {
        check_accepted_nuspec(document.as_bytes())?;
    }

    #[test]
    fn near_valid_nuspecs_are_accepted_only_when_valid(document in nuspec_document()) {
        check_accepted_nuspec(document.as_bytes())?;
    }

    #[test]
    fn version_normalisation_is_idempotent(version in version_text()) {
        if let Some(normalized) = normalize_version(&version) {
            prop_assert_eq!(normalize_version(&normalized), Some(normalized.clone()));
            prop_assert_eq!(normalized.to_ascii_lowercase(), normalized.clone());
            prop_assert!(!normalized.contains(['+', ' ', '/']));
        }
    }

    #[test]
    fn versions_sort_consistently(versions in prop::collection::vec(version_text(), 3..12)) {
        let mut normalized: Vec<String> = versions.iter().filter_map(|v| normalize_version(v)).collect();
        for a in &normalized {
            prop_assert_eq!(compare(a, a), Ordering::Equal);
            for b in &normalized {
                prop_assert_eq!(compare(a, b), compare(b, a).reverse(), "{} {}", a, b);
                for c in &normalized {
                    if compare(a, b).is_le() && compare(b, c).is_le() {
                        prop_assert!(compare(a, c).is_le(), "{} <= {} <= {}", a, b, c);
                    }
                }
            }
        }
        normalized.sort_by(|a, b| compare(a, b));
        prop_assert!(normalized.windows(2).all(|w| compare(&w[0], &w[1]).is_le()));
    }

    #[test]
    fn any_text_as_an_id_is_accepted_only_when_safe(id in any::<String>()) {
        if is_valid_id(&id) {
            prop_assert!(id.len() <= 100 && !id.contains("..") && !id.contains('/'));
        }
    }

    #[test]
    fn nesting_beyond_the_cap_is_refused(
        names in prop::collection::vec(prop::sample::select(NUSPEC_NAMES), XML_DEPTH_MAX..XML_DEPTH_MAX * 4),
    ) {
        let names: Vec<String> = names.into_iter().map(str::to_owned).collect();
        // Refused: for being too deep, or earlier, for what an element on the way lacks (a
        // <dependency> without an id).
        let refused = read_nuspec(nested_xml("package", &names).as_bytes());
        prop_assert!(refused.is_err());
        if let Err(message) = refused {
            prop_assert!(message == too_deep() || message.contains("has no"), "{}", message);
        }
    }
}

proptest! {
    #![proptest_config(config(ARCHIVE_CASES))]

    #[test]
    fn random_packages_never_panic(
        entries in prop::collection::vec(
            (
                entry_name(&["Demo.nuspec", "demo.NUSPEC", "lib/net8.0/demo.dll", "[Content_Types].xml"]),
                prop_oneof![
                    nuspec_document().prop_map(String::into_bytes),
                    prop::collection::vec(any::<u8>(), 0..64),
                ],
            ),
            0..5,
        ),
        deflate in any::<bool>(),
        damage in damage(),
    ) {
        let bytes = damage.apply(zip_bytes(&entries, deflate));
        if let Ok((nuspec, text)) = read_nupkg_nuspec(Cursor::new(bytes)) {
            prop_assert_eq!(read_nuspec(text.as_bytes()), Ok(nuspec));
        }
    }

    #[test]
    fn any_bytes_as_a_package_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = read_nupkg_nuspec(Cursor::new(bytes));
    }
}

proptest! {
    #![proptest_config(config(OVERSIZED_CASES))]

    #[test]
    fn a_nuspec_beyond_the_cap_is_refused(content in oversized(METADATA_DOCUMENT_MAX)) {
        let package = zip_bytes(&[("demo.nuspec".to_owned(), content)], true);
        let refused = read_nupkg_nuspec(Cursor::new(package)).map(|_| ()).unwrap_err();
        prop_assert!(refused.contains("larger than"), "{}", refused);
    }
}
