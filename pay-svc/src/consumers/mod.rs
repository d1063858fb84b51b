//! Consumers of broker messages: none yet. `pay`/`paid` (payment log) arrives with
//! the payment flow.
