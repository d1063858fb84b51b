//! coupon-svc: coupons and their use.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{ids::Id, money::Money};

/// `POST /coupons`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreateCoupon {
    /// The owner; must exist at user-svc (else 404 `USER_NOT_FOUND`).
    pub user_id: Id,
    /// What the coupon takes off an order, more than zero.
    #[schema(schema_with = crate::money::positive_schema)]
    pub value: Money,
}

/// A coupon as `GET /coupons/{coupon_id}` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CouponView {
    pub coupon_id: Id,
    pub user_id: Id,
    pub value: Money,
    pub used: bool,
    /// The order that used it.
    pub order_id: Option<Id>,
    pub used_at: Option<DateTime<Utc>>,
}

/// `POST /internal/coupons/{coupon_id}/use` (called by order-svc): use the coupon for
/// an order, idempotent by order id; refused (409 `ORDER_CANCELLED`) after the order's
/// cancel reached coupon-svc.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UseCoupon {
    pub order_id: Id,
    /// The ordering user, who must own the coupon (`COUPON_NOT_OWNED`).
    pub user_id: Id,
}
