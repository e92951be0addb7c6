//! Property tests of the PyPI parsers: core metadata (`METADATA`, `PKG-INFO`), wheels and sdists,
//! distribution file names and `Accept` headers. Arbitrary input never panics; accepted metadata has a
//! name and a version; a file name splits back into the name and version it was built from.

use std::io::Cursor;

use packyard_domain::normalize_pypi_name;
use packyard_test_inputs::{
    ARCHIVE_CASES, CASES, OVERSIZED_CASES, config, damage, entry_name, oversized, tar_gz_bytes,
    zip_bytes,
};
use proptest::prelude::*;

use crate::filename::{DistributionKind, DistributionName};
use crate::index::{encode_segment, escape_html, negotiate};
use crate::metadata::{CoreMetadata, read_sdist_metadata, read_wheel_metadata};

/// Header lines, continuations, blank lines and lines that are neither.
fn metadata_text() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        4 => (
            prop_oneof![
                Just("Metadata-Version".to_owned()), Just("Name".to_owned()), Just("version".to_owned()),
                Just("Requires-Dist".to_owned()), Just("Classifier".to_owned()), "[A-Za-z-]{1,12}",
            ],
            "[ -~é]{0,20}",
        ).prop_map(|(k, v)| format!("{k}: {v}")),
        2 => "[ \t]{1,2}[ -~]{0,12}",
        1 => Just(String::new()),
        1 => Just("\r".to_owned()),
        1 => "[ -~]{0,12}",
    ];
    prop::collection::vec(line, 0..14).prop_map(|lines| {
        format!(
            "Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n{}",
            lines.join("\n")
        )
    })
}

fn check_accepted(
    metadata: Result<CoreMetadata, crate::metadata::MetadataError>,
) -> Result<(), TestCaseError> {
    if let Ok(metadata) = metadata {
        prop_assert!(!metadata.name().is_empty() && !metadata.version().is_empty());
        let json = metadata.to_json();
        prop_assert_eq!(json["name"].as_str(), Some(metadata.name()));
        prop_assert_eq!(json["version"].as_str(), Some(metadata.version()));
    }
    Ok(())
}

fn name_part() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9._]{0,10}"
}

proptest! {
    #![proptest_config(config(CASES))]

    #[test]
    fn any_text_as_metadata_never_panics(text in any::<String>()) {
        check_accepted(CoreMetadata::parse(&text))?;
    }

    #[test]
    fn near_valid_metadata_keeps_its_first_values(text in metadata_text()) {
        let metadata = CoreMetadata::parse(&text);
        check_accepted(metadata.clone())?;
        if let Ok(metadata) = metadata {
            prop_assert_eq!(metadata.name(), "demo");
        }
    }

    #[test]
    fn any_file_name_never_panics(file_name in any::<String>(), project in any::<String>(), version in any::<String>()) {
        if let Some(distribution) = DistributionName::parse(&file_name) {
            prop_assert!(!distribution.name.is_empty() && !distribution.version.is_empty());
            let _ = distribution.matches(&project, &version);
        }
    }

    #[test]
    fn wheel_names_split_back(
        name in name_part(),
        version in "[0-9]{1,3}(\\.[0-9]{1,3}){0,2}(rc[0-9])?",
        build in prop::option::of("[0-9][a-z0-9]{0,3}"),
        tags in ("(py3|cp311)", "(none|abi3)", "(any|linux_x86_64)"),
    ) {
        let build = build.map(|b| format!("-{b}")).unwrap_or_default();
        let file_name = format!("{name}-{version}{build}-{}-{}-{}.whl", tags.0, tags.1, tags.2);
        let distribution = DistributionName::parse(&file_name);
        prop_assert_eq!(
            distribution.as_ref().map(|d| (d.kind, d.name.as_str(), d.version.as_str())),
            Some((DistributionKind::Wheel, name.as_str(), version.as_str()))
        );
        prop_assert!(distribution.is_some_and(|d| d.matches(&normalize_pypi_name(&name), &version)));
    }

    #[test]
    fn sdist_names_split_back(name in "[A-Za-z0-9][A-Za-z0-9._-]{0,10}", version in "[0-9]{1,3}(\\.[0-9]{1,3}){0,2}") {
        let file_name = format!("{name}-{version}.tar.gz");
        let distribution = DistributionName::parse(&file_name);
        prop_assert_eq!(
            distribution.as_ref().map(|d| (d.kind, d.name.as_str(), d.version.as_str())),
            Some((DistributionKind::Sdist, name.as_str(), version.as_str()))
        );
    }

    #[test]
    fn any_accept_header_is_negotiated(accept in prop_oneof![
        any::<String>(),
        "(text/html|application/vnd\\.pypi\\.simple\\.v1\\+json|\\*/\\*|text/\\*|x/y)(;q=(0|1|0\\.[0-9]|NaN|-1|inf))?(, ?(text/html|\\*/\\*)(;q=0\\.[0-9])?){0,3}",
    ]) {
        let _ = negotiate(Some(&accept));
    }

    #[test]
    fn escaped_text_has_no_markup_and_encoded_segments_no_separators(text in any::<String>()) {
        let escaped = escape_html(&text);
        prop_assert!(!escaped.contains(['<', '>', '"', '\'']));
        let encoded = encode_segment(&text);
        prop_assert!(encoded.is_ascii() && !encoded.contains(['/', '?', '#', '\\']));
    }
}

fn metadata_entries(
    names: &'static [&'static str],
) -> impl Strategy<Value = Vec<(String, Vec<u8>)>> {
    let content = prop_oneof![
        3 => metadata_text().prop_map(String::into_bytes),
        1 => prop::collection::vec(any::<u8>(), 0..64),
    ];
    prop::collection::vec((entry_name(names), content), 0..5)
}

proptest! {
    #![proptest_config(config(ARCHIVE_CASES))]

    #[test]
    fn random_wheels_never_panic(
        entries in metadata_entries(&["demo-1.0.dist-info/METADATA", ".dist-info/METADATA", "METADATA", "demo/__init__.py"]),
        deflate in any::<bool>(),
        damage in damage(),
    ) {
        let bytes = damage.apply(zip_bytes(&entries, deflate));
        check_accepted(read_wheel_metadata(Cursor::new(bytes)))?;
    }

    #[test]
    fn random_sdists_never_panic(
        entries in metadata_entries(&["PKG-INFO", "demo-1.0/PKG-INFO", "setup.py"]),
        damage in damage(),
    ) {
        let bytes = damage.apply(tar_gz_bytes(&entries));
        check_accepted(read_sdist_metadata(Cursor::new(bytes)))?;
    }

    #[test]
    fn any_bytes_as_a_distribution_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = read_wheel_metadata(Cursor::new(&bytes));
        let _ = read_sdist_metadata(Cursor::new(&bytes));
    }
}

proptest! {
    #![proptest_config(config(OVERSIZED_CASES))]

    #[test]
    fn metadata_beyond_the_cap_is_refused(content in oversized(crate::metadata::MAX_METADATA)) {
        let wheel = zip_bytes(&[("demo-1.0.dist-info/METADATA".to_owned(), content.clone())], true);
        let refused = read_wheel_metadata(Cursor::new(wheel)).unwrap_err();
        prop_assert!(refused.0.contains("larger than"), "{}", refused.0);
        let sdist = tar_gz_bytes(&[("demo-1.0/PKG-INFO".to_owned(), content)]);
        let refused = read_sdist_metadata(Cursor::new(sdist)).unwrap_err();
        prop_assert!(refused.0.contains("larger than"), "{}", refused.0);
    }
}
