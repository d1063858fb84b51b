//! SQL of pay-svc, as small functions taking a connection or transaction:
//! `trade_pay` ([`payments`]), `trade_pay_log` ([`pay_log`]), and the charges and
//! refunds of payments ([`refunds`]). The local message
//! table and the consumer log are `shop_kit::outbox` and `shop_kit::consumer_log`.

pub mod pay_log;
pub mod payments;
pub mod records;
pub mod refunds;
