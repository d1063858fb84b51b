//! Client of coupon-svc.

use super::{ClientError, ServiceClient};
use crate::{
    contracts::coupon::{CouponView, CreateCoupon, UseCoupon},
    ids::Id,
    settings::{Service, Settings},
};

/// Typed client of coupon-svc.
#[derive(Debug, Clone)]
pub struct CouponClient(pub(super) ServiceClient);

impl CouponClient {
    pub fn new(base_url: impl Into<String>) -> Self {
        CouponClient(ServiceClient::new(Service::Coupon, base_url))
    }

    /// The same client, sending the service credential on internal calls.
    pub fn with_internal_token(self, token: &str) -> Self {
        CouponClient(self.0.with_internal_token(token))
    }

    pub fn from_settings(settings: &Settings) -> Self {
        CouponClient(ServiceClient::from_settings(Service::Coupon, settings))
    }

    pub async fn create_coupon(&self, body: &CreateCoupon) -> Result<CouponView, ClientError> {
        self.0.post("/coupons", body).await
    }

    /// Uses the coupon for an order (idempotent by order id).
    pub async fn use_coupon(
        &self,
        coupon_id: Id,
        body: &UseCoupon,
    ) -> Result<CouponView, ClientError> {
        let path = format!("/internal/coupons/{coupon_id}/use");
        self.0.post(&path, body).await
    }

    /// The coupon, or `None` when coupon-svc does not know it.
    pub async fn get_coupon(&self, coupon_id: Id) -> Result<Option<CouponView>, ClientError> {
        self.0.get_optional(&format!("/coupons/{coupon_id}")).await
    }
}
