//! Client of goods-svc.

use super::{ClientError, ServiceClient};
use crate::{
    contracts::goods::{CreateGoods, GoodsView, Reservation, ReserveStock, StockLogView},
    ids::Id,
    settings::{Service, Settings},
};

/// Typed client of goods-svc.
#[derive(Debug, Clone)]
pub struct GoodsClient(pub(super) ServiceClient);

impl GoodsClient {
    pub fn new(base_url: impl Into<String>) -> Self {
        GoodsClient(ServiceClient::new(Service::Goods, base_url))
    }

    /// The same client, sending the service credential on internal calls.
    pub fn with_internal_token(self, token: &str) -> Self {
        GoodsClient(self.0.with_internal_token(token))
    }

    pub fn from_settings(settings: &Settings) -> Self {
        GoodsClient(ServiceClient::from_settings(Service::Goods, settings))
    }

    pub async fn create_goods(&self, body: &CreateGoods) -> Result<GoodsView, ClientError> {
        self.0.post("/goods", body).await
    }

    /// The goods, or `None` when goods-svc does not know them.
    pub async fn get_goods(&self, goods_id: Id) -> Result<Option<GoodsView>, ClientError> {
        self.0.get_optional(&format!("/goods/{goods_id}")).await
    }

    /// Reserves stock for an order (idempotent by order id).
    pub async fn reserve_stock(&self, body: &ReserveStock) -> Result<Reservation, ClientError> {
        self.0.post("/internal/stock/reservations", body).await
    }

    pub async fn stock_logs(&self, goods_id: Id) -> Result<Vec<StockLogView>, ClientError> {
        self.0.get(&format!("/goods/{goods_id}/stock-logs")).await
    }
}
