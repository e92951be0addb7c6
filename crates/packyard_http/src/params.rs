//! Request parameters as Grape reads them: the query string merged with a JSON or form body.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::StreamExt;
use packyard_core::CoreError;
use serde_json::{Map, Value};

use crate::{ApiError, MAX_PARAMS_BODY};

/// Parameters from the query string and a JSON object or urlencoded form body (the body wins).
#[derive(Debug, Clone, Default)]
pub struct Params(pub Map<String, Value>);

impl Params {
    /// True when the parameter was given (even as null).
    pub fn has(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    /// A string parameter; numbers are accepted as their text.
    pub fn string(&self, name: &str) -> Result<Option<String>, CoreError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(_) => Err(invalid(name)),
        }
    }

    /// A required, non-blank string parameter.
    pub fn required_string(&self, name: &str) -> Result<String, CoreError> {
        match self.string(name)? {
            None => Err(CoreError::BadParameter(format!("{name} is missing"))),
            Some(s) if s.trim().is_empty() => {
                Err(CoreError::BadParameter(format!("{name} is empty")))
            }
            Some(s) => Ok(s),
        }
    }

    /// An integer parameter, given as a number or as decimal text. A number with a zero fraction
    /// (`10.0`) is an integer, as JSON Schema counts them.
    pub fn integer(&self, name: &str) -> Result<Option<i64>, CoreError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .or_else(|| n.as_f64().and_then(whole_number))
                .map(Some)
                .ok_or_else(|| invalid(name)),
            Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| invalid(name)),
            Some(_) => Err(invalid(name)),
        }
    }

    /// A boolean parameter, given as a JSON boolean or as `true`/`false`/`1`/`0` text.
    pub fn boolean(&self, name: &str) -> Result<Option<bool>, CoreError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) => match s.as_str() {
                "true" | "1" => Ok(Some(true)),
                "false" | "0" => Ok(Some(false)),
                _ => Err(invalid(name)),
            },
            Some(_) => Err(invalid(name)),
        }
    }

    /// A list of strings: a JSON array, or comma-separated text (`scopes[]` forms repeat the key).
    pub fn string_list(&self, name: &str) -> Result<Option<Vec<String>>, CoreError> {
        match self
            .0
            .get(name)
            .or_else(|| self.0.get(&format!("{name}[]")))
        {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(str::to_owned).ok_or_else(|| invalid(name)))
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(Value::String(s)) => Ok(Some(
                s.split(',')
                    .map(|p| p.trim().to_owned())
                    .filter(|p| !p.is_empty())
                    .collect(),
            )),
            Some(_) => Err(invalid(name)),
        }
    }
}

/// A float that is a whole number within `i64`.
fn whole_number(value: f64) -> Option<i64> {
    // `i64::MAX as f64` rounds up to 2^63, which is out of range.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    (value.fract() == 0.0 && (-LIMIT..LIMIT).contains(&value)).then_some(value as i64)
}

fn invalid(name: &str) -> CoreError {
    CoreError::BadParameter(format!("{name} is invalid"))
}

pub(crate) fn merge_form(target: &mut Map<String, Value>, text: &[u8]) {
    for (key, value) in url::form_urlencoded::parse(text) {
        let key = key.into_owned();
        let value = Value::String(value.into_owned());
        match target.get_mut(&key) {
            Some(Value::Array(items)) if key.ends_with("[]") => items.push(value),
            _ if key.ends_with("[]") => {
                target.insert(key, Value::Array(vec![value]));
            }
            _ => {
                target.insert(key, value);
            }
        }
    }
}

impl FromRequest for Params {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let mut map = Map::new();
        merge_form(&mut map, req.query_string().as_bytes());
        let content_type = req
            .headers()
            .get(actix_web::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let mut payload = payload.take();
        Box::pin(async move {
            let mut body = web::BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(|e| {
                    ApiError(CoreError::BadParameter(format!(
                        "body could not be read: {e}"
                    )))
                })?;
                if body.len() + chunk.len() > MAX_PARAMS_BODY {
                    return Err(ApiError(CoreError::TooLarge(format!(
                        "body is larger than {MAX_PARAMS_BODY} bytes"
                    ))));
                }
                body.extend_from_slice(&chunk);
            }
            if body.iter().all(u8::is_ascii_whitespace) {
                return Ok(Params(map));
            }
            if content_type.starts_with("application/x-www-form-urlencoded") {
                merge_form(&mut map, &body);
                return Ok(Params(map));
            }
            match serde_json::from_slice::<Value>(&body) {
                Ok(Value::Object(object)) => {
                    map.extend(object);
                    Ok(Params(map))
                }
                Ok(_) => Err(ApiError(CoreError::BadParameter(
                    "body must be a JSON object".into(),
                ))),
                Err(e) => Err(ApiError(CoreError::BadParameter(format!(
                    "body is not valid JSON: {e}"
                )))),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn params(value: Value) -> Params {
        match value {
            Value::Object(map) => Params(map),
            _ => Params::default(),
        }
    }

    #[test]
    fn integers_may_be_written_as_whole_floats() {
        let p = params(json!({
            "whole": 10.0, "text": "7", "fraction": 10.5, "huge": 1e19, "negative": -3.0
        }));
        assert_eq!(p.integer("whole").unwrap(), Some(10));
        assert_eq!(p.integer("text").unwrap(), Some(7));
        assert_eq!(p.integer("negative").unwrap(), Some(-3));
        assert_eq!(
            p.integer("fraction").unwrap_err().to_string(),
            "fraction is invalid"
        );
        assert_eq!(
            p.integer("huge").unwrap_err().to_string(),
            "huge is invalid"
        );
    }
}
