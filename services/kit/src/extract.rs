//! `Path` and `Query`: axum's extractors, with the rejections of docs/api.md
//! ("Conventions"): 400 `INVALID_REQUEST` naming the parameter (a path parameter that
//! is not UTF-8 once percent-decoded, a repeated or undecodable query parameter)
//! instead of axum's plain-text answers.

use axum::{
    extract::{
        FromRequestParts,
        path::ErrorKind,
        rejection::{PathRejection, QueryRejection},
    },
    http::request::Parts,
};
use serde::de::DeserializeOwned;

use crate::error::InvalidRequest;

/// The path parameters, as axum's `Path`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = InvalidRequest;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| Path(value))
            .map_err(path_rejection)
    }
}

fn path_rejection(rejection: PathRejection) -> InvalidRequest {
    let text = rejection.body_text();
    if let PathRejection::FailedToDeserializePathParams(error) = &rejection {
        match error.kind() {
            ErrorKind::InvalidUtf8InPathParam { key }
            | ErrorKind::ParseErrorAtKey { key, .. }
            | ErrorKind::DeserializeError { key, .. } => {
                return InvalidRequest::field(key.clone(), "is not valid (not UTF-8 text?)");
            }
            _ => {}
        }
    }
    InvalidRequest::body(format!("path: {text}"))
}

/// The query string, as axum's `Query`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = InvalidRequest;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| Query(value))
            .map_err(query_rejection)
    }
}

fn query_rejection(rejection: QueryRejection) -> InvalidRequest {
    let text = rejection.body_text();
    // serde names the field between backticks: "duplicate field `limit`".
    let field = text
        .split('`')
        .nth(1)
        .filter(|name| !name.is_empty() && name.len() <= 64);
    match field {
        Some(field) => InvalidRequest::field(field, text.clone()),
        None => InvalidRequest::body(format!("query: {text}")),
    }
}
