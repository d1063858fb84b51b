//! Consumers of broker messages, each idempotent through the shared consumer log:
//! `order`/`cancel` sets the order's coupon unused again.

pub mod order_cancel;
