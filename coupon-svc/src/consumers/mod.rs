//! Consumers of broker messages: none yet. `order`/`cancel` (coupon unused again)
//! arrives with the confirm-order flow.
