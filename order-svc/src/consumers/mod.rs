//! Consumers of broker messages, one module per topic/tag: `order`/`cancel` (the
//! order's own part of the compensation) and `order`/`timeout` (the payment timeout).

pub mod order_cancel;
pub mod order_timeout;
