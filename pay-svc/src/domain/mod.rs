//! Validated pay-svc values: none yet (the payment request and the callback come with
//! the payment flow; a payment as read is `services::contracts::pay::PaymentView`).
