//! Typed HTTP clients of the five services.
//!
//! Every call has a connect timeout and a request timeout, runs in a client span whose
//! W3C `traceparent` it carries, carries the current request's `x-request-id` (and, on
//! `/internal/...` routes, the service credential `SHOP_INTERNAL_TOKEN` as a bearer
//! token), and fails with a [`ClientError`]: a service that cannot be
//! reached, times out or answers 5xx is [`ClientError::Unavailable`], which callers
//! answer as 503 `UNAVAILABLE`; a 4xx keeps its error body so callers can map codes.

mod broker;
mod coupon;
mod goods;
mod order;
mod pay;
mod records;
mod user;

pub use broker::BrokerAdminClient;
pub use coupon::CouponClient;
pub use goods::GoodsClient;
pub use order::OrderClient;
pub use pay::PayClient;
pub use user::UserClient;

use std::{sync::Arc, time::Duration};

use axum::response::{IntoResponse, Response};
use reqwest::StatusCode;
use serde::{Serialize, de::DeserializeOwned};
use tracing::Instrument;

use crate::{
    error::{ErrorBody, Unavailable, error_response},
    http::{REQUEST_ID_HEADER, current_request_id, internal::is_internal},
    settings::{Service, Settings},
    telemetry,
};

/// How long establishing a connection may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a whole call may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a call to another service failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Not reachable, timed out, or answered 5xx.
    #[error("{service} is unavailable: {reason}")]
    Unavailable {
        service: &'static str,
        reason: String,
    },
    /// Answered 4xx with an error body.
    #[error("{service} answered {status}: {} ({})", body.code, body.message)]
    Rejected {
        service: &'static str,
        status: u16,
        body: ErrorBody,
    },
    /// Answered something that is not what the contract says.
    #[error("{service} answered unexpectedly: {reason}")]
    Protocol {
        service: &'static str,
        reason: String,
    },
}

impl ClientError {
    /// The error code of a 4xx answer.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Rejected { body, .. } => Some(&body.code),
            _ => None,
        }
    }

    /// Whether the callee answered 404.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ClientError::Rejected { status: 404, .. })
    }
}

/// A failed call is the caller's 503 `UNAVAILABLE` when the callee is unreachable,
/// else a 502 `BAD_GATEWAY` (the callee refused a call we should not have made).
impl IntoResponse for ClientError {
    fn into_response(self) -> Response {
        match self {
            ClientError::Unavailable { service, reason } => {
                tracing::warn!(service, %reason, "downstream unavailable");
                Unavailable::new(service).into_response()
            }
            other => {
                tracing::error!(error = %other, "downstream call failed");
                error_response(
                    StatusCode::BAD_GATEWAY,
                    "BAD_GATEWAY",
                    "a downstream service refused the call; see the service log",
                )
            }
        }
    }
}

/// The HTTP plumbing under every typed client.
#[derive(Clone)]
pub struct ServiceClient {
    service: Service,
    base_url: String,
    http: reqwest::Client,
    /// Sent as `Authorization: Bearer …` on calls to `/internal/...` routes.
    internal_token: Option<Arc<str>>,
}

impl std::fmt::Debug for ServiceClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceClient")
            .field("service", &self.service)
            .field("base_url", &self.base_url)
            .field("internal_token", &self.internal_token.as_ref().map(|_| "…"))
            .finish()
    }
}

impl ServiceClient {
    /// A client of `service` at `base_url` (`http://127.0.0.1:8084`).
    pub fn new(service: Service, base_url: impl Into<String>) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .expect("a plain HTTP client builds");
        ServiceClient {
            service,
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            http,
            internal_token: None,
        }
    }

    /// The same client, sending `token` on its calls to internal routes.
    pub fn with_internal_token(mut self, token: &str) -> Self {
        self.internal_token = Some(token.into());
        self
    }

    /// A client of `service` at the URL `settings` give for it.
    pub fn from_settings(service: Service, settings: &Settings) -> Self {
        let url = match service {
            Service::Order => &settings.order_svc_url,
            Service::Goods => &settings.goods_svc_url,
            Service::Coupon => &settings.coupon_svc_url,
            Service::User => &settings.user_svc_url,
            Service::Pay => &settings.pay_svc_url,
        };
        ServiceClient::new(service, url.clone()).with_internal_token(&settings.internal_token)
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `GET path`, decoding the JSON answer.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let request = self.authorized(self.http.get(format!("{}{path}", self.base_url)), path);
        self.send(request).await
    }

    /// `GET path`, with 404 as `None`.
    pub async fn get_optional<T: DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<Option<T>, ClientError> {
        match self.get(path).await {
            Ok(value) => Ok(Some(value)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `GET path` with the service credential, whatever the route (a public route
    /// answers services more than clients), with 404 as `None`.
    pub async fn get_optional_as_service<T: DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<Option<T>, ClientError> {
        let mut request = self.http.get(format!("{}{path}", self.base_url));
        if let Some(token) = &self.internal_token {
            request = request.bearer_auth(token);
        }
        match self.send(request).await {
            Ok(value) => Ok(Some(value)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `POST path` with a JSON body, decoding the JSON answer.
    pub async fn post<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        let request = self.authorized(self.http.post(format!("{}{path}", self.base_url)), path);
        self.send(request.json(body)).await
    }

    /// `POST path` with a raw JSON body and extra headers (a signed callback),
    /// decoding the JSON answer.
    pub async fn post_signed<T: DeserializeOwned>(
        &self,
        path: &str,
        body: Vec<u8>,
        headers: &[(&str, String)],
    ) -> Result<T, ClientError> {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base_url))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        self.send(request).await
    }

    /// `request` with the service credential when `path` is an internal route's.
    fn authorized(&self, request: reqwest::RequestBuilder, path: &str) -> reqwest::RequestBuilder {
        match &self.internal_token {
            Some(token) if is_internal(path) => request.bearer_auth(token),
            _ => request,
        }
    }

    async fn send<T: DeserializeOwned>(
        &self,
        mut request: reqwest::RequestBuilder,
    ) -> Result<T, ClientError> {
        let service = self.service.binary();
        if let Some(id) = current_request_id() {
            request = request.header(REQUEST_ID_HEADER, id);
        }
        let unavailable = |reason: String| ClientError::Unavailable { service, reason };
        // A request that cannot be built (a malformed base URL) fails as its send would.
        let mut request = request.build().map_err(|e| unavailable(e.to_string()))?;
        let method = request.method().clone();
        let span = tracing::info_span!("call",
            otel.name = %format_args!("{method} {service}"), otel.kind = "client",
            peer.service = service, http.request.method = %method, url.path = request.url().path(),
            http.response.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty);
        telemetry::inject_headers(&span, request.headers_mut());
        let answered = async {
            let response = self.http.execute(request).await?;
            let status = response.status();
            Ok::<_, reqwest::Error>((status, response.bytes().await?))
        }
        .instrument(span.clone())
        .await;
        let (status, bytes) = answered.map_err(|e| {
            span.record("otel.status_code", "error");
            unavailable(e.to_string())
        })?;
        span.record("http.response.status_code", status.as_u16());
        if status.is_server_error() {
            span.record("otel.status_code", "error");
            return Err(unavailable(format!("answered {status}")));
        }
        let protocol = |reason: String| ClientError::Protocol { service, reason };
        if !status.is_success() {
            let body: ErrorBody = serde_json::from_slice(&bytes)
                .map_err(|e| protocol(format!("{status} without an error body: {e}")))?;
            return Err(ClientError::Rejected {
                service,
                status: status.as_u16(),
                body,
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| protocol(format!("undecodable body: {e}")))
    }
}
