//! `Json<T>`: the JSON extractor and response of every service.
//!
//! Unlike axum's own, its rejections answer with the error body of docs/api.md
//! ("Conventions"): 400 `INVALID_REQUEST` naming the field for malformed JSON, a
//! missing field or a wrong type, and naming `content-type` for a body declared as
//! anything but JSON. A request without a `Content-Type` header is read as JSON.

use axum::{
    body::Bytes,
    extract::{FromRequest, Request},
    http::{HeaderMap, header::CONTENT_TYPE},
    response::{IntoResponse, Response},
};
use serde::{Deserializer, Serialize, de, de::DeserializeOwned};

use crate::error::InvalidRequest;

/// JSON body in (with the rejections of docs/api.md, "Conventions"), JSON body out.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = InvalidRequest;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        check_content_type(req.headers())?;
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|rejection| InvalidRequest::body(rejection.body_text()))?;
        parse(&bytes).map(Json)
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// Refuses a body whose `Content-Type` is not JSON (`application/json` or
/// `application/…+json`, any parameters); no header at all is read as JSON.
pub fn check_content_type(headers: &HeaderMap) -> Result<(), InvalidRequest> {
    let Some(value) = headers.get(CONTENT_TYPE) else {
        return Ok(());
    };
    let essence = value
        .to_str()
        .ok()
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    let json = essence.as_deref().is_some_and(|media| {
        media == "application/json"
            || media
                .strip_prefix("application/")
                .is_some_and(|sub| sub.ends_with("+json"))
    });
    if json {
        Ok(())
    } else {
        Err(InvalidRequest::field(
            "content-type",
            "must be application/json",
        ))
    }
}

/// For `#[serde(deserialize_with = "…")]` on an integer field of a request: a JSON
/// integer, or a number with a zero fraction (`3.0`, `1e3`), which JSON Schema counts as
/// an integer too; refused when it does not fit `T`.
pub fn whole_number<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i128>,
{
    struct Whole;
    impl de::Visitor<'_> for Whole {
        type Value = i128;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a whole number")
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<i128, E> {
            Ok(v.into())
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<i128, E> {
            Ok(v.into())
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<i128, E> {
            // Within ±2^64 every f64 with a zero fraction converts exactly.
            if v.is_finite() && v.fract() == 0.0 && v.abs() < 18_446_744_073_709_551_616.0 {
                Ok(v as i128)
            } else {
                Err(E::invalid_type(de::Unexpected::Float(v), &self))
            }
        }
    }
    let value = deserializer.deserialize_any(Whole)?;
    T::try_from(value).map_err(|_| {
        de::Error::invalid_value(
            de::Unexpected::Other(&format!("integer {value}")),
            &"a whole number in range",
        )
    })
}

/// Parses a JSON body, naming the field at fault when it fails.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, InvalidRequest> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(InvalidRequest::body("empty body, expected a JSON object"));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(describe)?;
    de.end()
        .map_err(|e| InvalidRequest::body(format!("malformed JSON: {e}")))?;
    Ok(value)
}

fn describe(error: serde_path_to_error::Error<serde_json::Error>) -> InvalidRequest {
    let path = error.path().to_string();
    let inner = error.into_inner();
    if !inner.is_data() {
        return InvalidRequest::body(format!("malformed JSON: {inner}"));
    }
    let text = strip_location(&inner.to_string());
    // serde reports a missing field at its parent: name the field itself.
    if let Some(missing) = text
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next())
    {
        let field = if path == "." {
            missing.to_owned()
        } else {
            format!("{path}.{missing}")
        };
        return InvalidRequest::field(field, "is required");
    }
    if path == "." {
        return InvalidRequest::body(text);
    }
    InvalidRequest::field(path, text)
}

/// `invalid type: …, expected … at line 1 column 9` → without the location.
fn strip_location(text: &str) -> String {
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_owned(),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        stock: i64,
    }

    #[test]
    fn a_missing_field_is_named() {
        let err = parse::<Body>(br#"{"stock": 1}"#).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("name"));
    }

    #[test]
    fn whole_numbers_may_have_a_zero_fraction() {
        #[derive(Debug, Deserialize)]
        struct Count {
            #[serde(deserialize_with = "whole_number")]
            n: u32,
        }
        let n = |json: &str| parse::<Count>(json.as_bytes()).map(|c| c.n);
        assert_eq!(n(r#"{"n": 7}"#).unwrap(), 7);
        assert_eq!(n(r#"{"n": 7.0}"#).unwrap(), 7);
        assert_eq!(n(r#"{"n": 4294967295}"#).unwrap(), u32::MAX);
        assert_eq!(
            n(r#"{"n": 4294967296}"#).unwrap_err().field.as_deref(),
            Some("n")
        );
        assert!(n(r#"{"n": 7.5}"#).is_err());
        assert!(n(r#"{"n": -1}"#).is_err());
        assert!(n(r#"{"n": "7"}"#).is_err());
    }

    #[test]
    fn a_wrong_type_is_named() {
        let err = parse::<Body>(br#"{"name": "x", "stock": "many"}"#).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("stock"));
        assert!(
            err.message.starts_with("stock: invalid type"),
            "{}",
            err.message
        );
    }

    #[test]
    fn a_body_declared_as_something_else_is_refused() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(CONTENT_TYPE, value.parse().unwrap());
            check_content_type(&headers)
        };
        assert!(check_content_type(&HeaderMap::new()).is_ok());
        assert!(with("application/json").is_ok());
        assert!(with("Application/JSON; charset=utf-8").is_ok());
        assert!(with("application/merge-patch+json").is_ok());
        let err = with("text/plain").unwrap_err();
        assert_eq!(err.field.as_deref(), Some("content-type"));
        assert!(with("application/x-www-form-urlencoded").is_err());
    }

    #[test]
    fn malformed_json_names_no_field() {
        let err = parse::<Body>(br#"{"name": "#).unwrap_err();
        assert_eq!(err.field, None);
        assert!(err.message.contains("malformed JSON"), "{}", err.message);
    }
}
