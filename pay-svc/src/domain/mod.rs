//! pay-svc's rules: creating a payment from order-svc's view of the order
//! ([`create`]), applying a verified callback with its `paid` message ([`callback`]),
//! sending those messages right after the commit ([`paid_sender`]), and the fault
//! points of `SHOP_FAULTS=on` ([`faults`]).

pub mod callback;
pub mod create;
pub mod faults;
pub mod paid_sender;
