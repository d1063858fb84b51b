//! order-svc (skeleton; built out by the services foundation).
