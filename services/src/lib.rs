//! What the five Shop services share: settings, HTTP contracts and typed clients,
//! and the runtime kit (database and Redis set-up, error body, tracing, health, metrics).

pub mod settings;
