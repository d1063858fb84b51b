//! Consumers of broker messages, one module per topic/tag: `order`/`cancel` (the
//! order's own part of the compensation), `order`/`timeout` (the payment timeout) and
//! `pay`/`paid` (the payment arrived: paid, or refunded for a cancelled order).

pub mod order_cancel;
pub mod order_timeout;
pub mod pay_paid;
