//! Consumers of broker messages, each idempotent through the shared consumer log:
//! `pay`/`paid` writes the payment log row ([`pay_paid`]); `pay`/`refund`, written by
//! order-svc for a payment of an order cancelled meanwhile, marks the payment
//! refunded ([`pay_refund`]).

pub mod pay_paid;
pub mod pay_refund;
