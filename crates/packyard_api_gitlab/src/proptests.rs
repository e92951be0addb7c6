//! Property tests of GitLab's parameter rules (route ids, non-blank and nullable values, positions,
//! scopes and expiry dates). Arbitrary parameters never panic; what is accepted obeys the rule.

use packyard_http::Params;
use packyard_test_inputs::{CASES, config, json_value};
use proptest::prelude::*;
use serde_json::Value;

use crate::extract::{
    expiry, nullable, optional_nonblank, optional_nonblank_boolean, optional_nonblank_integer,
    position, required_integer, route_id, scopes,
};

const NAMES: &[&str] = &[
    "name",
    "position",
    "scopes",
    "scopes[]",
    "expires_at",
    "cache_validity_hours",
];

fn params() -> impl Strategy<Value = Params> {
    let value = prop_oneof![
        3 => json_value(NAMES),
        1 => "[ +-]?[0-9]{1,20} ?".prop_map(Value::String),
        1 => "(api|read_api|read_virtual_registry|sudo)(, ?(api|write_package_registry|)){0,3}".prop_map(Value::String),
        1 => " ?[0-9]{1,5}-[0-9]{1,2}-[0-9]{1,2}(T[0-9]{2}:[0-9]{2}:[0-9]{2}(Z|[+-][0-9]{2}:[0-9]{2}))? ?".prop_map(Value::String),
        1 => prop_oneof![Just(""), Just("  "), Just("true"), Just("1")].prop_map(|s| Value::String(s.to_owned())),
    ];
    prop::collection::vec((prop::sample::select(NAMES), value), 0..6)
        .prop_map(|fields| Params(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()))
}

proptest! {
    #![proptest_config(config(CASES))]

    #[test]
    fn route_ids_are_integers(raw in prop_oneof![any::<String>(), "[+-]?[0-9]{1,20}"], id in any::<i64>()) {
        if let Ok(parsed) = route_id(&raw) {
            prop_assert_eq!(raw.trim_start_matches('+').parse::<i64>().ok(), Some(parsed));
        }
        prop_assert_eq!(route_id(&id.to_string()).ok(), Some(id));
    }

    #[test]
    fn any_parameters_follow_the_rules(params in params()) {
        for name in NAMES {
            if let Ok(Some(text)) = optional_nonblank(&params, name) {
                prop_assert!(!text.trim().is_empty());
            }
            if optional_nonblank_boolean(&params, name).is_ok() || optional_nonblank_integer(&params, name).is_ok() {
                let blank = matches!(params.0.get(*name), Some(Value::Null))
                    || params.0.get(*name).and_then(Value::as_str).is_some_and(|t| t.trim().is_empty());
                prop_assert!(!blank);
            }
            if let Ok(Some(_)) = nullable(&params, name) {
                prop_assert!(params.has(name));
            }
            if required_integer(&params, name).is_ok() {
                prop_assert!(params.has(name));
            }
        }
        let _ = position(&params);
        if let Ok(scopes) = scopes(&params) {
            prop_assert!(!scopes.is_empty());
        }
        if let Ok(Some(_)) = expiry(&params) {
            prop_assert!(params.has("expires_at"));
        }
    }
}
