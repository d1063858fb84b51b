//! `Json<T>`: the JSON extractor and response of every service.
//!
//! Unlike axum's own, its rejections answer with the error body of docs/api.md
//! ("Conventions"): 400 `INVALID_REQUEST` naming the field for malformed JSON, a
//! missing field or a wrong type. It does not insist on a `Content-Type` header, so a
//! bare `curl -d` works.

use axum::{
    body::Bytes,
    extract::{FromRequest, Request},
    response::{IntoResponse, Response},
};
use serde::{Serialize, de::DeserializeOwned};

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
    fn malformed_json_names_no_field() {
        let err = parse::<Body>(br#"{"name": "#).unwrap_err();
        assert_eq!(err.field, None);
        assert!(err.message.contains("malformed JSON"), "{}", err.message);
    }
}
