//! Property tests of the request parameter parsers shared by the APIs: GitLab's parameters (query string
//! and form or JSON body), its pagination, GitFlic's page request, and the credentials a request
//! carries, and `Range` headers. Arbitrary input never panics; what is accepted is within the documented
//! bounds.

use std::collections::HashMap;

use actix_web::test::TestRequest;
use packyard_core::identity::Credential;
use packyard_test_inputs::{CASES, config, json_value};
use proptest::prelude::*;
use serde_json::{Map, Value};

use crate::hosted::PageRequest;
use crate::params::merge_form;
use crate::{Pagination, Params, RangeRequest, credential_from_request};

const NAMES: &[&str] = &[
    "page", "per_page", "name", "scopes", "scopes[]", "flag", "size",
];

/// Parameter maps with known names and values of every shape, numbers as text included.
fn params() -> impl Strategy<Value = Params> {
    let value = prop_oneof![
        3 => json_value(NAMES),
        2 => "[ +-]?[0-9]{1,20} ?".prop_map(Value::String),
        1 => prop_oneof![Just("true"), Just("0"), Just(""), Just(" "), Just("api,read_api, ,")].prop_map(|s| Value::String(s.to_owned())),
    ];
    prop::collection::vec((prop::sample::select(NAMES), value), 0..6)
        .prop_map(|fields| Params(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()))
}

/// Query strings and form bodies: known keys, repeated `[]` keys, stray `%`, `+` and `&`.
fn form_text() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => prop::collection::vec(
            (prop::sample::select(NAMES), "[a-zA-Z0-9%+&=,. -]{0,10}"),
            0..6,
        )
        .prop_map(|pairs| {
            pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&").into_bytes()
        }),
        1 => prop::collection::vec(any::<u8>(), 0..128),
    ]
}

proptest! {
    #![proptest_config(config(CASES))]

    #[test]
    fn parameters_of_any_shape_never_panic(params in params()) {
        for name in NAMES {
            let _ = params.has(name);
            if let Ok(Some(text)) = params.string(name) {
                prop_assert!(matches!(params.0.get(*name), Some(Value::String(_) | Value::Number(_))));
                prop_assert!(!text.is_empty() || params.0.get(*name) == Some(&Value::String(String::new())));
            }
            if let Ok(text) = params.required_string(name) {
                prop_assert!(!text.trim().is_empty());
            }
            let _ = params.integer(name);
            let _ = params.boolean(name);
            if let Ok(Some(items)) = params.string_list(name) {
                prop_assert!(items.iter().all(|item| !item.is_empty() || matches!(params.0.get(*name), Some(Value::Array(_)))));
            }
        }
    }

    #[test]
    fn accepted_pages_are_in_bounds(params in params()) {
        if let Ok(pagination) = Pagination::from_params(&params) {
            prop_assert!(pagination.page >= 1);
            prop_assert!((1..=100).contains(&pagination.per_page));
            prop_assert!(pagination.offset() >= 0);
        }
    }

    #[test]
    fn gitflic_page_requests_are_in_bounds(
        query in prop::collection::hash_map(
            prop_oneof![Just("page".to_owned()), Just("size".to_owned()), "[a-z]{1,4}"],
            prop_oneof![" ?[+-]?[0-9]{1,20} ?", any::<String>()],
            0..3,
        ),
    ) {
        let query: HashMap<String, String> = query;
        if let Ok(request) = PageRequest::from_query(&query) {
            prop_assert!(request.page >= 0);
            prop_assert!((1..=PageRequest::MAX_SIZE).contains(&request.size));
            prop_assert!(request.offset() >= 0);
        } else {
            prop_assert!(query.iter().any(|(k, v)| (k == "page" || k == "size") && v.trim().parse::<i64>().is_err()));
        }
    }

    #[test]
    fn any_form_text_merges_without_panic(text in form_text()) {
        let mut map = Map::new();
        merge_form(&mut map, &text);
        for (key, value) in &map {
            if key.ends_with("[]") {
                prop_assert!(value.is_array());
            } else {
                prop_assert!(value.is_string());
            }
        }
    }

    #[test]
    fn any_credentials_are_read_without_panic(
        authorization in prop_oneof![
            "(Bearer|bearer|token|Basic|basic|Digest)( [ -~]{0,40})?",
            "Basic [A-Za-z0-9+/=]{0,40}",
            "[ -~]{0,40}",
        ],
        query in "[a-z_=&%0-9]{0,30}",
    ) {
        let request = TestRequest::with_uri(&format!("/x?{query}"))
            .insert_header(("Authorization", authorization.as_str()))
            .to_http_request();
        match credential_from_request(&request) {
            Some(Credential::Token(token) | Credential::DeployOrPersonal(token)) => {
                prop_assert!(!token.is_empty());
            }
            None => {}
        }
    }

    #[test]
    fn any_range_is_within_the_body(
        value in prop_oneof![
            any::<String>(),
            " ?(bytes|BYTES|items) ?= ?[0-9]{0,21} ?- ?[0-9]{0,21}(,[0-9]{0,3}-[0-9]{0,3})?",
        ],
        length in prop_oneof![0..4u64, any::<u64>()],
    ) {
        if let RangeRequest::Part { start, end } = RangeRequest::parse(&value, length) {
            prop_assert!(start <= end && end < length, "{} of {}", value, length);
        }
    }

    #[test]
    fn a_first_last_range_is_answered_as_asked(first in 0..2_000u64, last in 0..2_000u64, length in 0..2_000u64) {
        let expected = if last < first {
            RangeRequest::Whole
        } else if first >= length {
            RangeRequest::Unsatisfiable
        } else {
            RangeRequest::Part { start: first, end: last.min(length - 1) }
        };
        let value = format!("bytes={first}-{last}");
        prop_assert_eq!(RangeRequest::parse(&value, length), expected);
    }
}
