//! pay-svc: payments.

use serde::{Deserialize, Serialize};
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
}
