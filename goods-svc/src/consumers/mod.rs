//! Consumers of broker messages, each idempotent through the shared consumer log:
//! `stock`/`deduct` applies a committed journal to MySQL stock; `order`/`cancel`
//! undoes the order's reservation whatever state it is in.

pub mod order_cancel;
pub mod stock_deduct;
