//! Property tests of the CRAN parsers: `DESCRIPTION` records, source tarballs and binary zips, file
//! names, versions and the `PACKAGES` index. Arbitrary input never panics; an accepted record has a
//! valid name and version and reads back the same out of the index; the version order is a total order.

use std::cmp::Ordering;
use std::io::Cursor;

use packyard_test_inputs::{
    ARCHIVE_CASES, CASES, Damage, OVERSIZED_CASES, config, damage, entry_name, oversized,
    tar_gz_bytes, zip_bytes,
};
use proptest::prelude::*;
use serde_json::Value;

use crate::description::{
    Description, IndexEntry, Kind, compare_versions, is_valid_package_name, is_valid_version,
    parse_binary_file_name, parse_source_file_name, read_source_description,
    read_tarball_description, read_zip_description, render_packages,
};

fn package_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-zA-Z][a-zA-Z0-9.]{0,8}[a-zA-Z0-9]",
        1 => "[a-zA-Z0-9._ -]{0,8}",
    ]
}

fn version_text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[0-9]{1,3}([.-][0-9]{1,3}){1,3}",
        1 => "[0-9]{17,20}[.-][0-9]{1,20}",
        1 => "[0-9a.-]{0,8}",
    ]
}

/// One DCF line: a field, a continuation, a blank line, or something that is neither.
fn dcf_line() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => ("[A-Z][a-zA-Z/@]{0,10}", "[ -~é]{0,20}").prop_map(|(k, v)| format!("{k}: {v}")),
        2 => "[ \t]{1,3}[ -~]{1,12}",
        1 => Just(String::new()),
        1 => Just("\r".to_owned()),
        1 => Just("Built: R 4.2.2; ; 2026-11-23 10:00:00 UTC; unix".to_owned()),
        1 => "[ -~]{0,12}",
        1 => ":[ -~]{0,4}",
    ]
}

/// A `DESCRIPTION`: mostly a valid record with random extra lines mixed in.
fn description_text() -> impl Strategy<Value = String> {
    (
        package_name(),
        version_text(),
        prop::collection::vec(dcf_line(), 0..10),
        0usize..12,
        prop_oneof![Just("\n"), Just("\r\n")],
    )
        .prop_map(|(name, version, mut lines, at, newline)| {
            let at = at.min(lines.len());
            lines.insert(at, format!("Version: {version}"));
            lines.insert(at / 2, format!("Package: {name}"));
            lines.join(newline)
        })
}

fn check_accepted(description: &Description) -> Result<(), TestCaseError> {
    prop_assert!(is_valid_package_name(description.package()));
    prop_assert!(is_valid_version(description.version()));
    // What the index publishes reads back as the record said it.
    let Value::Object(fields) = description.to_json() else {
        return Err(TestCaseError::fail("to_json is not an object"));
    };
    let index = render_packages(&[IndexEntry {
        fields: fields.clone(),
        md5: "0".repeat(32),
    }]);
    let reread = Description::parse(&index).map_err(|e| TestCaseError::fail(e.0))?;
    let Value::Object(reread) = reread.to_json() else {
        return Err(TestCaseError::fail("to_json is not an object"));
    };
    for (key, value) in reread.iter().filter(|(k, _)| *k != "MD5sum") {
        prop_assert_eq!(Some(value), fields.get(key), "{}", key);
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(CASES))]

    #[test]
    fn any_text_as_a_description_never_panics(text in any::<String>()) {
        if let Ok(description) = Description::parse(&text) {
            check_accepted(&description)?;
        }
    }

    #[test]
    fn near_valid_descriptions_are_accepted_only_when_valid(text in description_text()) {
        if let Ok(description) = Description::parse(&text) {
            check_accepted(&description)?;
        }
    }

    #[test]
    fn accepted_file_names_are_name_underscore_version(
        name in package_name(),
        version in version_text(),
        noise in "[a-z_.]{0,4}",
        extension in prop::sample::select(&[".tar.gz", ".zip", ".tgz"][..]),
    ) {
        let file_name = format!("{name}_{version}{noise}{extension}");
        let parsed = if extension == ".tar.gz" {
            parse_source_file_name(&file_name)
        } else {
            parse_binary_file_name(&file_name, extension)
        };
        if let Some((name, version)) = parsed {
            prop_assert!(is_valid_package_name(name) && is_valid_version(version));
            prop_assert_eq!(format!("{name}_{version}{extension}"), file_name);
        }
    }

    #[test]
    fn versions_sort_consistently(versions in prop::collection::vec(version_text(), 3..10)) {
        let versions: Vec<&String> = versions.iter().filter(|v| is_valid_version(v)).collect();
        for a in &versions {
            prop_assert_eq!(compare_versions(a, a), Ordering::Equal);
            for b in &versions {
                prop_assert_eq!(compare_versions(a, b), compare_versions(b, a).reverse());
                for c in &versions {
                    if compare_versions(a, b).is_le() && compare_versions(b, c).is_le() {
                        prop_assert!(compare_versions(a, c).is_le());
                    }
                }
            }
        }
    }
}

/// Archive entries: a `DESCRIPTION` (near-valid, or raw bytes that may be Latin-1) where a reader looks
/// for it, or elsewhere, or noise.
fn archive_entries() -> impl Strategy<Value = Vec<(String, Vec<u8>)>> {
    let content = prop_oneof![
        3 => description_text().prop_map(String::into_bytes),
        1 => prop::collection::vec(any::<u8>(), 0..64),
    ];
    prop::collection::vec(
        (
            entry_name(&["DESCRIPTION", "R/hello.R", "NAMESPACE"]),
            content,
        ),
        0..5,
    )
}

fn check_archive(
    read: Result<Description, crate::description::DescriptionError>,
) -> Result<(), TestCaseError> {
    if let Ok(description) = read {
        check_accepted(&description)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(ARCHIVE_CASES))]

    #[test]
    fn random_source_tarballs_never_panic(entries in archive_entries(), damage in damage()) {
        let bytes = damage.apply(tar_gz_bytes(&entries));
        let read = read_source_description(Cursor::new(&bytes));
        if let (Ok(description), Damage::None) = (&read, &damage) {
            // The folder the record was found in is the package it names.
            let folder = format!("{}/DESCRIPTION", description.package());
            prop_assert!(entries.iter().any(|(name, _)| name.trim_start_matches("./") == folder.trim_start_matches("./")));
        }
        check_archive(read)?;
        check_archive(read_tarball_description(Cursor::new(&bytes), Kind::Binary { r_version: "4.2", os_type: "unix" }))?;
    }

    #[test]
    fn random_binary_zips_never_panic(entries in archive_entries(), deflate in any::<bool>(), damage in damage()) {
        let bytes = damage.apply(zip_bytes(&entries, deflate));
        check_archive(read_zip_description(Cursor::new(&bytes), Kind::Source))?;
        check_archive(read_zip_description(Cursor::new(&bytes), Kind::Binary { r_version: "4.2", os_type: "windows" }))?;
    }

    #[test]
    fn any_bytes_as_a_package_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = read_source_description(Cursor::new(&bytes));
        let _ = read_zip_description(Cursor::new(&bytes), Kind::Source);
    }
}

proptest! {
    #![proptest_config(config(OVERSIZED_CASES))]

    #[test]
    fn a_description_beyond_the_cap_is_refused(content in oversized(crate::description::MAX_DESCRIPTION)) {
        let entries = [("hello/DESCRIPTION".to_owned(), content)];
        let refused = read_source_description(Cursor::new(tar_gz_bytes(&entries))).unwrap_err();
        prop_assert!(refused.0.contains("larger than"), "{}", refused.0);
        let refused = read_zip_description(Cursor::new(zip_bytes(&entries, true)), Kind::Source).unwrap_err();
        prop_assert!(refused.0.contains("larger than"), "{}", refused.0);
    }
}
