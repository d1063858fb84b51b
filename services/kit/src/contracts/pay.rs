//! pay-svc: payments, the signed payment-platform callback, and the `pay` messages
//! (docs/architecture.md, "Payment").
//!
//! Messages on topic [`PAY_TOPIC`], key = pay id:
//! - `pay`/`paid` ([`PaymentPaid`]): written by pay-svc in the callback's transaction;
//!   consumed by order-svc (pay status `paid`, or the refund decision), user-svc
//!   (points) and pay-svc (payment log).
//! - `pay`/`refund` ([`PaymentRefund`]): written by order-svc when a payment arrives
//!   for an order already cancelled; consumed by pay-svc (payment `refunded`) and
//!   user-svc (the points of that payment taken back).
//!
//! The callback signature is here too, so that pay-svc checks it and `shop pay` makes
//! it with the same code.

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use utoipa::ToSchema;

use crate::{ids::Id, money::Money};

/// Where a payment is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PaymentStatus {
    Unpaid,
    Paid,
    Failed,
    Refunded,
}

/// A payment as `GET /payments/{pay_id}` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PaymentView {
    pub pay_id: Id,
    pub order_id: Id,
    pub amount: Money,
    pub status: PaymentStatus,
    /// Every refund of the payment's charges, oldest first.
    #[serde(default)]
    pub refunds: Vec<RefundView>,
}

/// Why money was given back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RefundReason {
    /// The payment arrived for an order already cancelled.
    OrderCancelled,
    /// The platform charged a settled payment again (another transaction number).
    DuplicateCharge,
}

impl RefundReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RefundReason::OrderCancelled => "order_cancelled",
            RefundReason::DuplicateCharge => "duplicate_charge",
        }
    }

    pub fn parse(text: &str) -> Option<RefundReason> {
        match text {
            "order_cancelled" => Some(RefundReason::OrderCancelled),
            "duplicate_charge" => Some(RefundReason::DuplicateCharge),
            _ => None,
        }
    }
}

/// Where a refund is: recorded and being asked of the platform, done, or refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RefundStatus {
    Pending,
    Succeeded,
    Failed,
}

/// One refund of a payment (`GET /payments/{pay_id}`, `refunds`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RefundView {
    pub refund_id: Id,
    /// The platform transaction (charge) refunded.
    pub trade_no: String,
    pub amount: Money,
    pub reason: RefundReason,
    pub status: RefundStatus,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// `POST /payments`: pay a confirmed, unpaid order. The amount comes from order-svc.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreatePayment {
    /// The order to pay.
    pub order_id: Id,
}

/// What the payment platform reports in a callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CallbackStatus {
    Paid,
    Failed,
}

/// `POST /payments/callback`, signed: header [`SIGNATURE_HEADER`] holds the hex
/// HMAC-SHA256 of the raw body with `PAY_CALLBACK_SECRET`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PayCallback {
    pub pay_id: Id,
    pub status: CallbackStatus,
    /// The platform's transaction number, at most 128 characters.
    #[serde(default)]
    #[schema(max_length = 128)]
    pub trade_no: Option<String>,
}

/// The answer to an accepted callback: `{"result":"ok"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CallbackAnswer {
    pub result: String,
}

impl CallbackAnswer {
    pub fn ok() -> Self {
        CallbackAnswer {
            result: "ok".into(),
        }
    }
}

/// The header carrying the callback's signature.
pub const SIGNATURE_HEADER: &str = "x-pay-signature";

/// The hex HMAC-SHA256 of `body` with `secret`: the callback's signature.
pub fn callback_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Whether `signature` (hex) is the HMAC-SHA256 of `body` with `secret`; the
/// comparison takes the same time wherever the first difference is.
pub fn signature_is_valid(secret: &str, body: &[u8], signature: &str) -> bool {
    let Ok(given) = hex::decode(signature) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

/// Topic of payment messages.
pub const PAY_TOPIC: &str = "pay";
/// Tag of the message a paid callback writes.
pub const PAID_TAG: &str = "paid";
/// Tag of the message order-svc writes for a payment of a cancelled order.
pub const REFUND_TAG: &str = "refund";

/// Body of `pay`/`paid` (key = pay id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PaymentPaid {
    pub pay_id: Id,
    pub order_id: Id,
    pub user_id: Id,
    pub amount: Money,
    pub trade_no: Option<String>,
}

/// Body of `pay`/`refund` (key = pay id): the order was cancelled before its
/// payment arrived, so the payment is given back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PaymentRefund {
    pub pay_id: Id,
    pub order_id: Id,
    pub user_id: Id,
    pub amount: Money,
    /// Why, for people (`order cancelled: pay_timeout`).
    pub reason: String,
}

/// Points a payment of `amount` earns: one per whole currency unit.
pub fn points_for(amount: Money) -> u64 {
    use rust_decimal::prelude::ToPrimitive;
    amount.decimal().trunc().to_u64().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_for_its_body_and_secret() {
        let body = br#"{"pay_id":"1","status":"paid","trade_no":"T1"}"#;
        let signature = callback_signature("s3cret", body);
        assert_eq!(signature.len(), 64);
        assert!(signature_is_valid("s3cret", body, &signature));
        assert!(signature_is_valid(
            "s3cret",
            body,
            &signature.to_uppercase()
        ));
        assert!(!signature_is_valid("other", body, &signature));
        assert!(!signature_is_valid("s3cret", b"{}", &signature));
        assert!(!signature_is_valid("s3cret", body, "not hex"));
        assert!(!signature_is_valid("s3cret", body, &signature[..62]));
    }

    #[test]
    fn points_are_whole_currency_units() {
        let money = |s: &str| s.parse::<Money>().unwrap();
        assert_eq!(points_for(money("4850.99")), 4850);
        assert_eq!(points_for(money("0.99")), 0);
        assert_eq!(points_for(money("10")), 10);
    }
}
