//! Validated order-svc values: none yet (the confirm-order request comes with its
//! flow; the order as read is `services::contracts::order::OrderView`).
