//! Property tests of the parsers of untrusted input this crate owns: repository paths, PyPI and
//! generic names, upstream URLs and cache entry ids. Arbitrary input never panics; what is accepted
//! satisfies the rule it was accepted under.

use packyard_test_inputs::{CASES, config};
use proptest::prelude::*;

use crate::path::MAX_PATH_LEN;
use crate::{
    AccessLevel, CacheEntryId, Format, PackageType, RepositoryPath, RepositoryPathError, Scope,
    UploadType, UpstreamId, is_valid_generic_name, is_valid_generic_version, is_valid_pypi_name,
    is_valid_pypi_version, normalize_pypi_name, normalize_upstream_url, stored_url,
};

/// Segments a client may send, valid or not: dots, percent signs, backslashes, spaces, non-ASCII.
fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-zA-Z0-9._-]{1,12}",
        1 => Just(".".to_owned()),
        1 => Just("..".to_owned()),
        1 => Just(String::new()),
        1 => "[a-z%2eEfF5cC0\\\\ \u{0}\u{FFFD}é]{1,6}",
    ]
}

/// A path of such segments, with or without a leading slash.
fn near_valid_path() -> impl Strategy<Value = String> {
    (any::<bool>(), prop::collection::vec(segment(), 1..8)).prop_map(|(slash, segments)| {
        let joined = segments.join("/");
        if slash { format!("/{joined}") } else { joined }
    })
}

fn check_accepted_path(raw: &str) -> Result<(), TestCaseError> {
    let Ok(path) = RepositoryPath::parse(raw) else {
        return Ok(());
    };
    let text = path.as_str();
    prop_assert!(!text.is_empty() && text.len() <= MAX_PATH_LEN);
    for segment in text.split('/') {
        prop_assert!(
            !segment.is_empty() && segment != "." && segment != "..",
            "{text:?}"
        );
    }
    prop_assert!(!text.contains('\\') && !text.chars().any(char::is_control));
    prop_assert!(!text.to_ascii_lowercase().contains("%2e"));
    prop_assert_eq!(RepositoryPath::parse(text), Ok(path.clone()));
    prop_assert_eq!(Some(path.file_name()), text.rsplit('/').next());
    Ok(())
}

proptest! {
    #![proptest_config(config(CASES))]

    #[test]
    fn any_path_is_accepted_only_without_traversal(raw in any::<String>()) {
        check_accepted_path(&raw)?;
    }

    #[test]
    fn near_valid_paths_are_accepted_only_without_traversal(raw in near_valid_path()) {
        check_accepted_path(&raw)?;
        let traversal = raw
            .trim_start_matches('/')
            .split('/')
            .any(|s| s == ".." || s == "." || s.is_empty());
        if traversal {
            prop_assert!(RepositoryPath::parse(&raw).is_err(), "{raw:?}");
        }
    }

    #[test]
    fn paths_beyond_the_cap_are_refused(raw in "[a-z/]{1025,1100}") {
        let long = format!("x{raw}");
        prop_assert!(RepositoryPath::parse(&long).is_err());
    }

    #[test]
    fn pypi_normalisation_is_idempotent(name in any::<String>()) {
        let normalized = normalize_pypi_name(&name);
        prop_assert_eq!(normalize_pypi_name(&normalized), normalized.clone());
        prop_assert!(!normalized.contains("--") && !normalized.contains(['_', '.']));
    }

    #[test]
    fn a_valid_pypi_name_normalises_to_a_valid_name(name in "[A-Za-z0-9][A-Za-z0-9._-]{0,30}[A-Za-z0-9]") {
        prop_assert!(is_valid_pypi_name(&name));
        let normalized = normalize_pypi_name(&name);
        prop_assert!(is_valid_pypi_name(&normalized), "{normalized:?}");
        prop_assert_eq!(normalized.to_ascii_lowercase(), normalized.clone());
    }

    #[test]
    fn accepted_names_and_versions_are_single_safe_segments(
        text in prop_oneof![any::<String>(), "[a-zA-Z0-9._+!/%-]{1,12}"],
    ) {
        for accepted in [
            is_valid_generic_name(&text),
            is_valid_generic_version(&text),
            is_valid_pypi_name(&text),
            is_valid_pypi_version(&text),
        ] {
            if accepted {
                prop_assert!(text.len() <= 255);
                prop_assert_eq!(
                    RepositoryPath::parse(&text).map(|p| p.as_str().to_owned()),
                    Ok(text.clone())
                );
            }
        }
    }

    #[test]
    fn upstream_url_normalisation_is_idempotent(
        raw in prop_oneof![
            any::<String>(),
            "(https?|ftp|HTTP)://[a-zA-Z0-9.:@\\[\\]-]{0,20}(/[a-zA-Z0-9.%?#=-]{0,10}){0,4}/?(\\.git)?/? ?",
        ]
    ) {
        if let Ok(url) = normalize_upstream_url(&raw) {
            prop_assert!(matches!(url.scheme(), "http" | "https"));
            let stored = stored_url(&url);
            prop_assert!(stored.len() <= 255);
            let again = normalize_upstream_url(&stored);
            prop_assert_eq!(again.as_ref().map(stored_url), Ok(stored), "{:?}", raw);
        }
    }

    #[test]
    fn cache_entry_ids_decode_what_they_encode(
        id in any::<String>(),
        upstream in any::<i64>(),
        path in "[a-z0-9._/-]{0,40}",
    ) {
        let _ = CacheEntryId::decode(&id);
        let entry = CacheEntryId { upstream_id: UpstreamId(upstream), relative_path: path.clone() };
        let decoded = CacheEntryId::decode(&entry.encode());
        if path.is_empty() || path.starts_with('/') {
            prop_assert!(decoded.is_none_or(|d| d.relative_path == path.trim_start_matches('/')));
        } else {
            prop_assert_eq!(decoded, Some(entry));
        }
    }

    #[test]
    fn refusals_name_the_right_reason(raw in any::<String>()) {
        match RepositoryPath::parse(&raw) {
            Err(RepositoryPathError::Empty) => prop_assert!(raw.is_empty() || raw == "/"),
            Err(RepositoryPathError::TooLong) => prop_assert!(raw.len() > MAX_PATH_LEN),
            _ => {}
        }
    }

    #[test]
    fn named_values_parse_only_their_names(
        text in prop_oneof![
            any::<String>(),
            "(?i)(generic|maven|npm|pypi|nuget|composer|container|opm|cran|api|read_api|MANUALLY|API|TRANSPORT)",
        ],
        level in any::<i32>(),
    ) {
        if let Some(package_type) = PackageType::parse(&text) {
            prop_assert!(package_type.as_str().eq_ignore_ascii_case(&text));
        }
        if let Some(format) = Format::parse(&text) {
            prop_assert_eq!(format.as_str(), text.as_str());
        }
        if let Some(scope) = Scope::parse(&text) {
            prop_assert_eq!(scope.as_str(), text.as_str());
        }
        if let Some(upload_type) = UploadType::parse(&text) {
            prop_assert_eq!(upload_type.as_str(), text.as_str());
        }
        if let Some(access) = AccessLevel::from_i32(level) {
            prop_assert_eq!(access.as_i32(), level);
        }
    }
}
