//! Client of pay-svc.

use super::{ClientError, ServiceClient};
use crate::{
    contracts::pay::PaymentView,
    ids::Id,
    settings::{Service, Settings},
};

/// Typed client of pay-svc.
#[derive(Debug, Clone)]
pub struct PayClient(ServiceClient);

impl PayClient {
    pub fn new(base_url: impl Into<String>) -> Self {
        PayClient(ServiceClient::new(Service::Pay, base_url))
    }

    pub fn from_settings(settings: &Settings) -> Self {
        PayClient(ServiceClient::from_settings(Service::Pay, settings))
    }

    /// The payment, or `None` when pay-svc does not know it.
    pub async fn get_payment(&self, pay_id: Id) -> Result<Option<PaymentView>, ClientError> {
        self.0.get_optional(&format!("/payments/{pay_id}")).await
    }
}
