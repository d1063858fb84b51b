//! Consumers of broker messages, each idempotent through the shared consumer log:
//! `order`/`cancel` gives back what the order deducted; `pay`/`paid` adds the
//! payment's points and `pay`/`refund` takes them back.

pub mod order_cancel;
pub mod pay_paid;
pub mod pay_refund;
