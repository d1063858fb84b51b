//! Consumers of broker messages: none yet. `stock`/`deduct` (apply journals to MySQL
//! stock) and `order`/`cancel` (give stock back) arrive with the confirm-order flow.
