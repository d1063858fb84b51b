//! What order-svc decides: the checks of a new order ([`checks`]), the confirmation
//! across goods, coupon and user ([`confirm`]), and cancelling with its compensation
//! message ([`cancel`]) for a failed confirmation, an abandoned pre-order
//! ([`abandon`]) or an unpaid order past its timeout.

pub mod abandon;
pub mod cancel;
pub mod checks;
pub mod confirm;
pub mod faults;
pub mod timeline;
