//! Client of order-svc.

use super::{ClientError, ServiceClient};
use crate::{
    contracts::{
        order::{ConfirmOrder, OrderView},
        timeline::Timeline,
    },
    ids::Id,
    settings::{Service, Settings},
};

/// Typed client of order-svc.
#[derive(Debug, Clone)]
pub struct OrderClient(ServiceClient);

impl OrderClient {
    pub fn new(base_url: impl Into<String>) -> Self {
        OrderClient(ServiceClient::new(Service::Order, base_url))
    }

    pub fn from_settings(settings: &Settings) -> Self {
        OrderClient(ServiceClient::from_settings(Service::Order, settings))
    }

    /// Confirms an order (`POST /orders`).
    pub async fn confirm_order(&self, body: &ConfirmOrder) -> Result<OrderView, ClientError> {
        self.0.post("/orders", body).await
    }

    /// The order, or `None` when order-svc does not know it. Asked with the service
    /// credential (when the client has one), so that the answer names the order's
    /// trace ([`OrderView::trace_context`]).
    pub async fn get_order(&self, order_id: Id) -> Result<Option<OrderView>, ClientError> {
        self.0
            .get_optional_as_service(&format!("/orders/{order_id}"))
            .await
    }

    /// The order's timeline, or `None` when order-svc does not know the order.
    pub async fn timeline(&self, order_id: Id) -> Result<Option<Timeline>, ClientError> {
        self.0
            .get_optional(&format!("/orders/{order_id}/timeline"))
            .await
    }
}
