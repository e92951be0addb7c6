//! Property tests of the opm parsers: `opm-metadata.xml`, `packagedef` scripts, `.ospx` zips (with a
//! `content.zip` inside), names and versions. Arbitrary input never panics; accepted metadata has a
//! valid name and version; the version order is a total order; nesting beyond the cap is refused.

use std::cmp::Ordering;
use std::io::Cursor;

use packyard_domain::limits::METADATA_DOCUMENT_MAX;
use packyard_domain::limits::{XML_DEPTH_MAX, too_deep};
use packyard_test_inputs::{
    ARCHIVE_CASES, CASES, OVERSIZED_CASES, config, damage, entry_name, nested_xml, oversized,
    xml_document, zip_bytes,
};
use proptest::prelude::*;

use crate::metadata::{
    Metadata, compare_versions, is_valid_name, is_valid_version, parse_metadata, parse_packagedef,
    read_ospx,
};

const METADATA_NAMES: &[&str] = &[
    "opm-metadata",
    "name",
    "version",
    "description",
    "author",
    "engine-version",
    "depends-on",
    "version-max",
];

const METHODS: &[&str] = &[
    "Имя",
    "Версия",
    "ЗависитОт",
    "Name",
    "VERSION",
    "DependsOn",
    "Описание",
    "ВерсияДвижка",
    "Other",
];

/// A `packagedef` of method calls with string arguments, now and then malformed (unclosed quotes or
/// parentheses, doubled quotes, no call at all).
fn packagedef_script() -> impl Strategy<Value = String> {
    let argument = prop_oneof![
        4 => "[a-zA-Z0-9._ -]{0,10}".prop_map(|a| format!("\"{a}\"")),
        1 => Just("\"a\"\"b\"".to_owned()),
        1 => Just("\"unclosed".to_owned()),
        1 => Just("Переменная".to_owned()),
    ];
    let call = (
        prop::sample::select(METHODS),
        "[ \t\n]{0,2}",
        prop::collection::vec(argument, 0..4),
        prop_oneof![5 => Just(")"), 1 => Just("")],
        "[ ;\n]{0,2}",
    )
        .prop_map(|(method, space, arguments, close, tail)| {
            format!(".{method}{space}({}{close}{tail}", arguments.join(", "))
        });
    (
        "[a-zA-Z ]{0,10}",
        prop::collection::vec(call, 0..8),
        prop_oneof![4 => Just(""), 1 => Just("."), 1 => Just(".Имя")],
    )
        .prop_map(|(head, calls, tail)| format!("{head}{}{tail}", calls.concat()))
}

fn version_text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[0-9]{1,3}(\\.[0-9]{1,3}){0,3}",
        2 => "[0-9][0-9a-z.+-]{0,8}",
        1 => "[0-9]{15,25}\\.[0-9a]{1,3}",
    ]
}

fn check_accepted(metadata: Result<Metadata, String>) -> Result<(), TestCaseError> {
    if let Ok(metadata) = metadata {
        prop_assert!(is_valid_name(&metadata.name), "{:?}", metadata.name);
        prop_assert!(
            is_valid_version(&metadata.version),
            "{:?}",
            metadata.version
        );
        prop_assert!(metadata.dependencies.iter().all(|d| !d.name.is_empty()));
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(CASES))]

    #[test]
    fn any_bytes_as_metadata_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check_accepted(parse_metadata(bytes.as_slice()))?;
    }

    #[test]
    fn random_xml_as_metadata_never_panics(document in xml_document("opm-metadata", METADATA_NAMES)) {
        check_accepted(parse_metadata(document.as_bytes()))?;
    }

    #[test]
    fn any_text_as_a_packagedef_never_panics(script in any::<String>()) {
        check_accepted(parse_packagedef(&script))?;
    }

    #[test]
    fn near_valid_packagedefs_are_accepted_only_when_valid(script in packagedef_script()) {
        check_accepted(parse_packagedef(&script))?;
    }

    #[test]
    fn a_packagedef_gives_back_its_name_and_version(name in "[a-zA-Z][a-zA-Z0-9_-]{0,12}", version in "[0-9]{1,3}(\\.[0-9]{1,3}){0,3}") {
        let script = format!("Описание.Имя(\"{name}\")\n  .Версия( \"{version}\" )\n  .ЗависитОт(\"dep\", \"1.0\");");
        let metadata = parse_packagedef(&script);
        prop_assert_eq!(metadata.as_ref().map(|m| (m.name.as_str(), m.version.as_str())), Ok((name.as_str(), version.as_str())));
    }

    #[test]
    fn versions_sort_consistently(versions in prop::collection::vec(version_text(), 3..10)) {
        for a in &versions {
            prop_assert_eq!(compare_versions(a, a), Ordering::Equal);
            for b in &versions {
                prop_assert_eq!(compare_versions(a, b), compare_versions(b, a).reverse());
                for c in &versions {
                    if compare_versions(a, b).is_le() && compare_versions(b, c).is_le() {
                        prop_assert!(compare_versions(a, c).is_le(), "{} <= {} <= {}", a, b, c);
                    }
                }
            }
        }
    }

    #[test]
    fn nesting_beyond_the_cap_is_refused(
        // Not `depends-on`: one without a name is refused for that before the depth counts.
        names in prop::collection::vec(prop::sample::select(&METADATA_NAMES[..5]), XML_DEPTH_MAX..XML_DEPTH_MAX * 4),
    ) {
        let names: Vec<String> = names.into_iter().map(str::to_owned).collect();
        prop_assert_eq!(parse_metadata(nested_xml("opm-metadata", &names).as_bytes()), Err(too_deep()));
    }
}

/// An entry of an `.ospx`: metadata, a packagedef, a `content.zip` with a packagedef, or noise.
fn ospx_entry() -> impl Strategy<Value = (String, Vec<u8>)> {
    let content = prop_oneof![
        xml_document("opm-metadata", METADATA_NAMES).prop_map(String::into_bytes),
        packagedef_script().prop_map(String::into_bytes),
        (packagedef_script(), any::<bool>()).prop_map(|(script, deflate)| {
            zip_bytes(&[("packagedef".to_owned(), script.into_bytes())], deflate)
        }),
        prop::collection::vec(any::<u8>(), 0..64),
    ];
    (
        entry_name(&["opm-metadata.xml", "packagedef", "content.zip"]),
        content,
    )
}

proptest! {
    #![proptest_config(config(ARCHIVE_CASES))]

    #[test]
    fn random_packages_never_panic(
        entries in prop::collection::vec(ospx_entry(), 0..4),
        deflate in any::<bool>(),
        damage in damage(),
    ) {
        let bytes = damage.apply(zip_bytes(&entries, deflate));
        check_accepted(read_ospx(Cursor::new(bytes)))?;
    }

    #[test]
    fn any_bytes_as_a_package_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = read_ospx(Cursor::new(bytes));
    }
}

proptest! {
    #![proptest_config(config(OVERSIZED_CASES))]

    #[test]
    fn metadata_beyond_the_cap_is_refused(
        content in oversized(METADATA_DOCUMENT_MAX),
        name in prop::sample::select(&["opm-metadata.xml", "packagedef"][..]),
    ) {
        let package = zip_bytes(&[(name.to_owned(), content)], true);
        let refused = read_ospx(Cursor::new(package)).unwrap_err();
        prop_assert!(refused.contains("larger than"), "{}", refused);
    }
}
