//! Consumers of broker messages: none yet. `order`/`cancel`, `order`/`timeout` and
//! `pay`/`paid` arrive with the confirm-order, timeout and payment flows.
