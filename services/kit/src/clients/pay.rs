//! Client of pay-svc, including the signed callback the payment platform sends
//! (`shop pay` uses it to try the flow by hand).

use super::{ClientError, ServiceClient};
use crate::{
    contracts::pay::{
        CallbackAnswer, CallbackStatus, CreatePayment, PayCallback, PaymentView, SIGNATURE_HEADER,
        callback_signature,
    },
    ids::Id,
    settings::{Service, Settings},
};

/// Typed client of pay-svc.
#[derive(Debug, Clone)]
pub struct PayClient(pub(super) ServiceClient);

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

    /// Creates (or finds) the payment of `order_id`.
    pub async fn create_payment(&self, order_id: Id) -> Result<PaymentView, ClientError> {
        let body = CreatePayment { order_id };
        self.0.post("/payments", &body).await
    }

    /// Sends the callback the payment platform would send, signed with `secret`.
    pub async fn callback(
        &self,
        secret: &str,
        pay_id: Id,
        status: CallbackStatus,
        trade_no: Option<String>,
    ) -> Result<CallbackAnswer, ClientError> {
        let callback = PayCallback {
            pay_id,
            status,
            trade_no,
        };
        let body = serde_json::to_vec(&callback).expect("a callback serializes");
        let signature = callback_signature(secret, &body);
        self.0
            .post_signed("/payments/callback", body, &[(SIGNATURE_HEADER, signature)])
            .await
    }
}
