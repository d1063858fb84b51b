//! Client of the broker's admin HTTP API (`MQ_ADMIN_ADDR`): messages by key and
//! their delivery to each consumer group, for the order timeline.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{CONNECT_TIMEOUT, ClientError};

const SERVICE: &str = "mq-broker";

/// Typed client of the broker's admin API.
#[derive(Debug, Clone)]
pub struct BrokerAdminClient {
    base_url: String,
    http: reqwest::Client,
}

impl BrokerAdminClient {
    /// A client of the admin API at `addr` (`127.0.0.1:9877` or a URL).
    pub fn new(addr: &str) -> Self {
        let base_url = if addr.starts_with("http://") || addr.starts_with("https://") {
            addr.trim_end_matches('/').to_owned()
        } else {
            format!("http://{addr}")
        };
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(Duration::from_secs(3))
            .build()
            .expect("a plain HTTP client builds");
        BrokerAdminClient { base_url, http }
    }

    /// Messages of `topic` carrying `key`, oldest first (the broker's JSON).
    pub async fn messages_by_key(&self, topic: &str, key: &str) -> Result<Vec<Value>, ClientError> {
        let url = format!("{}/messages", self.base_url);
        let url = reqwest::Url::parse_with_params(&url, &[("topic", topic), ("key", key)])
            .map_err(|e| ClientError::Protocol {
                service: SERVICE,
                reason: format!("bad admin address: {e}"),
            })?;
        self.get(self.http.get(url)).await
    }

    /// How the message `id` went to each consumer group of its topic.
    pub async fn deliveries(&self, id: &str) -> Result<Value, ClientError> {
        let url = format!("{}/messages/{id}/deliveries", self.base_url);
        // Ids are hex; anything else would not name a message.
        if !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(ClientError::Protocol {
                service: SERVICE,
                reason: format!("not a message id: {id:?}"),
            });
        }
        self.get(self.http.get(url)).await
    }

    async fn get<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, ClientError> {
        let unavailable = |reason: String| ClientError::Unavailable {
            service: SERVICE,
            reason,
        };
        let response = request
            .send()
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        let status = response.status();
        if !status.is_success() {
            return Err(unavailable(format!("answered {status}")));
        }
        response.json().await.map_err(|e| ClientError::Protocol {
            service: SERVICE,
            reason: e.to_string(),
        })
    }
}
