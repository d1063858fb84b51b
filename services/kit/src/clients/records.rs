//! `GET /internal/orders/{order_id}/records` of goods-svc, coupon-svc, user-svc and
//! pay-svc: what each holds about an order, for order-svc's timeline.

use super::{ClientError, CouponClient, GoodsClient, PayClient, ServiceClient, UserClient};
use crate::{
    contracts::timeline::{MessageKey, OrderRecords, RecordsQuery},
    ids::Id,
};

impl ServiceClient {
    /// The service's records of `order_id`, with the consumer-log entries of the
    /// messages keyed by the order id or by one of `keys`.
    pub async fn order_records(
        &self,
        order_id: Id,
        keys: &[MessageKey],
    ) -> Result<OrderRecords, ClientError> {
        let keys: Vec<&str> = keys.iter().map(|k| k.key.as_str()).collect();
        let path = if keys.is_empty() {
            format!("/internal/orders/{order_id}/records")
        } else {
            format!(
                "/internal/orders/{order_id}/records?keys={}",
                RecordsQuery::text(&keys)
            )
        };
        self.get(&path).await
    }
}

macro_rules! records_of {
    ($client:ty) => {
        impl $client {
            /// What this service holds about `order_id` (see
            /// [`ServiceClient::order_records`]).
            pub async fn order_records(
                &self,
                order_id: Id,
                keys: &[MessageKey],
            ) -> Result<OrderRecords, ClientError> {
                self.0.order_records(order_id, keys).await
            }
        }
    };
}

records_of!(GoodsClient);
records_of!(CouponClient);
records_of!(UserClient);
records_of!(PayClient);
