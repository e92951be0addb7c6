//! Parameter rules that Grape declares on GitLab's endpoints: integer route ids, non-blank optional
//! strings, nullable texts, scopes and dates.

use chrono::{NaiveDate, NaiveDateTime};
use packyard_core::CoreError;
use packyard_domain::Scope;
use packyard_http::Params;

/// A route id declared `type: Integer`: anything else is `400 {"error":"id is invalid"}`.
pub(crate) fn route_id(raw: &str) -> Result<i64, CoreError> {
    raw.parse()
        .map_err(|_| CoreError::BadParameter("id is invalid".into()))
}

/// An optional string that may not be blank or null when given (Grape's `allow_blank: false`).
pub(crate) fn optional_nonblank(params: &Params, name: &str) -> Result<Option<String>, CoreError> {
    refuse_blank(params, name)?;
    params.string(name)
}

/// A required `position` declared `type: Integer, values: 1..20`: a value that is not an integer fails
/// the same way as one out of range (Grape's wording).
pub(crate) fn position(params: &Params) -> Result<i64, CoreError> {
    match params.integer("position") {
        Ok(Some(position)) => Ok(position),
        Ok(None) => Err(CoreError::BadParameter("position is missing".into())),
        Err(_) => Err(CoreError::BadParameter(
            "position does not have a valid value".into(),
        )),
    }
}

/// An optional boolean that may not be blank when given (Grape's `allow_blank: false`).
pub(crate) fn optional_nonblank_boolean(
    params: &Params,
    name: &str,
) -> Result<Option<bool>, CoreError> {
    refuse_blank(params, name)?;
    params.boolean(name)
}

/// An optional integer that may not be blank when given (Grape's `allow_blank: false`).
pub(crate) fn optional_nonblank_integer(
    params: &Params,
    name: &str,
) -> Result<Option<i64>, CoreError> {
    refuse_blank(params, name)?;
    params.integer(name)
}

/// `{name} is empty` when the parameter is given as null or blank text.
fn refuse_blank(params: &Params, name: &str) -> Result<(), CoreError> {
    let blank = match params.0.get(name) {
        Some(serde_json::Value::Null) => true,
        Some(serde_json::Value::String(text)) => text.trim().is_empty(),
        _ => false,
    };
    if blank {
        Err(CoreError::BadParameter(format!("{name} is empty")))
    } else {
        Ok(())
    }
}

/// An optional text that may be cleared: absent is `None`, null is `Some(None)`.
pub(crate) fn nullable(params: &Params, name: &str) -> Result<Option<Option<String>>, CoreError> {
    if params.has(name) {
        params.string(name).map(Some)
    } else {
        Ok(None)
    }
}

/// A required integer.
pub(crate) fn required_integer(params: &Params, name: &str) -> Result<i64, CoreError> {
    params
        .integer(name)?
        .ok_or_else(|| CoreError::BadParameter(format!("{name} is missing")))
}

/// Required token scopes, each one GitLab knows.
pub(crate) fn scopes(params: &Params) -> Result<Vec<Scope>, CoreError> {
    let names = params
        .string_list("scopes")?
        .ok_or_else(|| CoreError::BadParameter("scopes is missing".into()))?;
    if names.is_empty() {
        return Err(CoreError::BadParameter("scopes is empty".into()));
    }
    names
        .iter()
        .map(|name| {
            Scope::parse(name)
                .ok_or_else(|| CoreError::BadParameter("scopes does not have a valid value".into()))
        })
        .collect()
}

/// An optional expiry given as a date (`2030-01-31`, midnight UTC) or an RFC 3339 time.
pub(crate) fn expiry(params: &Params) -> Result<Option<NaiveDateTime>, CoreError> {
    let Some(text) = params
        .string("expires_at")?
        .filter(|t| !t.trim().is_empty())
    else {
        return Ok(None);
    };
    let text = text.trim();
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(date.and_hms_opt(0, 0, 0));
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|at| Some(at.naive_utc()))
        .map_err(|_| CoreError::BadParameter("expires_at is invalid".into()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn params(value: serde_json::Value) -> Params {
        match value {
            serde_json::Value::Object(map) => Params(map),
            _ => Params::default(),
        }
    }

    #[test]
    fn grape_rules() {
        assert_eq!(route_id("12").unwrap(), 12);
        assert_eq!(route_id("x").unwrap_err().to_string(), "id is invalid");
        let p = params(json!({"name": " ", "description": null, "url": "https://a"}));
        assert_eq!(
            optional_nonblank(&p, "name").unwrap_err().to_string(),
            "name is empty"
        );
        assert_eq!(
            optional_nonblank(&p, "url").unwrap().as_deref(),
            Some("https://a")
        );
        assert_eq!(optional_nonblank(&p, "other").unwrap(), None);
        assert_eq!(nullable(&p, "description").unwrap(), Some(None));
        assert_eq!(nullable(&p, "other").unwrap(), None);
        assert_eq!(
            required_integer(&p, "position").unwrap_err().to_string(),
            "position is missing"
        );
        let p = params(json!({"enabled": null, "cadence": " ", "keep": "7", "on": false}));
        assert_eq!(
            optional_nonblank_boolean(&p, "enabled")
                .unwrap_err()
                .to_string(),
            "enabled is empty"
        );
        assert_eq!(
            optional_nonblank_integer(&p, "cadence")
                .unwrap_err()
                .to_string(),
            "cadence is empty"
        );
        assert_eq!(optional_nonblank_integer(&p, "keep").unwrap(), Some(7));
        assert_eq!(optional_nonblank_boolean(&p, "on").unwrap(), Some(false));
        assert_eq!(optional_nonblank_boolean(&p, "other").unwrap(), None);
    }

    #[test]
    fn scopes_and_expiry() {
        let p =
            params(json!({"scopes": ["api", "read_virtual_registry"], "expires_at": "2030-01-31"}));
        assert_eq!(
            scopes(&p).unwrap(),
            vec![Scope::Api, Scope::ReadVirtualRegistry]
        );
        assert_eq!(
            expiry(&p).unwrap().unwrap().to_string(),
            "2030-01-31 00:00:00"
        );
        let bad = params(json!({"scopes": ["sudo"], "expires_at": "tomorrow"}));
        assert_eq!(
            scopes(&bad).unwrap_err().to_string(),
            "scopes does not have a valid value"
        );
        assert_eq!(
            expiry(&bad).unwrap_err().to_string(),
            "expires_at is invalid"
        );
        assert_eq!(
            scopes(&Params::default()).unwrap_err().to_string(),
            "scopes is missing"
        );
    }
}
