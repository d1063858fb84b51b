//! Service-to-service authentication: every `/internal/...` route answers 401
//! `UNAUTHENTICATED` unless the request carries `Authorization: Bearer <token>` with
//! the system's `SHOP_INTERNAL_TOKEN`. [`crate::server::Server`] puts this middleware
//! around the whole router, so that every service's internal routes are covered by
//! their path, whichever service declares them; the typed clients
//! ([`crate::clients`]) send the token on their internal calls.
//!
//! The comparison is over SHA-256 digests of the two tokens with
//! [`subtle::ConstantTimeEq`], so that neither the position of the first difference
//! nor the token's length shows in the time an answer takes.

use std::sync::Arc;

use axum::{
    extract::{Request, State},
    http::{StatusCode, header::AUTHORIZATION},
    middleware::Next,
    response::Response,
};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::error_response;

/// The path prefix of the routes only other services may call.
pub const INTERNAL_PREFIX: &str = "/internal/";

/// The name of the OpenAPI security scheme of the internal routes.
pub const SECURITY_SCHEME: &str = "internal_token";

/// Whether `path` is an internal route's.
pub fn is_internal(path: &str) -> bool {
    path.starts_with(INTERNAL_PREFIX)
}

/// The credential internal routes require (its digest: the token itself is not kept).
#[derive(Clone)]
pub struct InternalToken(Arc<[u8; 32]>);

impl std::fmt::Debug for InternalToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InternalToken(…)")
    }
}

impl InternalToken {
    pub fn new(token: &str) -> Self {
        InternalToken(Arc::new(digest(token)))
    }

    /// Whether `given` is the token, in time independent of where they differ.
    pub fn matches(&self, given: &str) -> bool {
        digest(given).ct_eq(self.0.as_ref()).into()
    }

    /// Whether the `Authorization` header value is `Bearer <the token>`.
    pub fn authorizes(&self, header: Option<&str>) -> bool {
        let Some(value) = header else { return false };
        let Some((scheme, token)) = value.trim().split_once(' ') else {
            return false;
        };
        scheme.eq_ignore_ascii_case("bearer") && self.matches(token.trim())
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The middleware: internal routes without the credential answer 401; everything
/// else passes untouched.
pub async fn require_internal_token(
    State(token): State<InternalToken>,
    request: Request,
    next: Next,
) -> Response {
    if !is_internal(request.uri().path()) {
        return next.run(request).await;
    }
    let header = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if token.authorizes(header) {
        return next.run(request).await;
    }
    tracing::warn!(
        path = request.uri().path(),
        with_header = header.is_some(),
        "internal endpoint called without a valid service credential: refused"
    );
    error_response(
        StatusCode::UNAUTHORIZED,
        "UNAUTHENTICATED",
        "internal endpoint: send Authorization: Bearer <SHOP_INTERNAL_TOKEN>",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_bearer_token_itself_authorizes() {
        let token = InternalToken::new("s3cret");
        assert!(token.authorizes(Some("Bearer s3cret")));
        assert!(token.authorizes(Some("bearer s3cret")));
        assert!(!token.authorizes(None));
        assert!(!token.authorizes(Some("Bearer")));
        assert!(!token.authorizes(Some("Bearer s3cre")));
        assert!(!token.authorizes(Some("Bearer s3cret2")));
        assert!(!token.authorizes(Some("Basic s3cret")));
        assert!(!token.authorizes(Some("s3cret")));
        assert!(!token.authorizes(Some("Bearer ")));
    }

    #[test]
    fn internal_routes_are_known_by_their_prefix() {
        assert!(is_internal("/internal/users/1/deduct"));
        assert!(!is_internal("/users/1"));
        assert!(!is_internal("/internalx/users"));
    }
}
