//! Consumers of broker messages, each idempotent through the shared consumer log:
//! `order`/`cancel` gives back what the order deducted.

pub mod order_cancel;
