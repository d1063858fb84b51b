//! Consumers of broker messages: none yet. `order`/`cancel` (refund) and `pay`/`paid`
//! (points) arrive with the confirm-order and payment flows.
