//! Adapters from each measured broker to [`crate::target::Target`].

pub mod jetstream;
pub mod mq;
pub mod rabbit;
